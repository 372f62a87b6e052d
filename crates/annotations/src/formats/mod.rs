//! Readers for the field's JSON annotation formats. Tabular formats (ImageRewardDB's metadata
//! Parquet and per-split JSON, generic CSV/JSONL/Parquet with a column mapping) are read by the
//! `tables` crate, which has polars.

pub mod hpd;
pub mod imagereward_test;
pub mod tifa;

use std::path::Path;

use crate::AnnotationError;

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, AnnotationError> {
    let bytes = std::fs::read(path).map_err(|e| AnnotationError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|source| AnnotationError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// The folder a source file's relative image paths start from.
pub(crate) fn parent(path: &Path) -> std::path::PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests_support {
    pub use crate::shared::shared_data;
}
