//! Readers for the field's JSON annotation formats. Tabular formats (ImageRewardDB's metadata
//! Parquet and per-split JSON, generic CSV/JSONL/Parquet with a column mapping) are read by the
//! `tables` crate, which has polars.

pub mod hpd;
pub mod hpdv2;
pub mod imagereward_test;
pub mod tifa;

use std::path::Path;

use crate::{AnnotationError, Dataset, DatasetMeta, ReadProblem, Row};

/// The dataset a format's reader made of `path`: `meta` with the source's name for each
/// canonical field it filled (`columns`), the rows and the problems of rows it could not read.
pub(crate) fn dataset(
    mut meta: DatasetMeta,
    columns: &[(&str, &str)],
    path: &Path,
    rows: Vec<Row>,
    problems: Vec<ReadProblem>,
) -> Dataset {
    for (field, source) in columns {
        meta.columns.insert(field.to_string(), source.to_string());
    }
    let mut ds = Dataset::new(meta, path, parent(path), rows);
    ds.read_problems = problems;
    ds
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, AnnotationError> {
    let bytes = std::fs::read(path).map_err(|e| AnnotationError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|source| AnnotationError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// A rank read from JSON: a whole number >= 1, or a read problem for `row`.
pub(crate) fn rank_value(
    v: &serde_json::Value,
    row: usize,
    field: &str,
    problems: &mut Vec<crate::ReadProblem>,
) -> Option<u32> {
    match v.as_u64() {
        Some(n) if n >= 1 && n <= u32::MAX as u64 => Some(n as u32),
        _ if v.is_null() => None,
        _ => {
            problems.push(crate::ReadProblem {
                row,
                field: field.into(),
                message: format!("`{v}` is not a whole positive number"),
            });
            None
        }
    }
}

/// A rating read from JSON: a number, or a read problem for `row`.
pub(crate) fn rating_value(
    v: &serde_json::Value,
    row: usize,
    field: &str,
    problems: &mut Vec<crate::ReadProblem>,
) -> Option<f32> {
    match v.as_f64() {
        Some(x) => Some(x as f32),
        None if v.is_null() => None,
        None => {
            problems.push(crate::ReadProblem {
                row,
                field: field.into(),
                message: format!("`{v}` is not a number"),
            });
            None
        }
    }
}

/// A JSON object's entries in file order (serde_json's own map sorts its keys), so that row
/// numbers in problems point at the right place in the file.
pub(crate) struct Ordered<T>(pub Vec<(String, T)>);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Ordered<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// The folder a source file's relative image paths start from.
pub(crate) fn parent(path: &Path) -> std::path::PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests_support {
    /// A file under the shared folder's `data/`, or `None` (the reason printed) when absent.
    pub fn shared_data(relative: &str) -> Option<std::path::PathBuf> {
        paths::shared_or_skip!(&format!("data/{relative}"))
    }
}
