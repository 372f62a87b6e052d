//! Plain columns to Parquet, for result tables (the per-prompt table of `rewardlab eval`):
//! callers hand over named vectors and never touch polars, which stays inside this crate.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use crate::TableError;

/// One column's values; `None` is a null.
#[derive(Clone, Debug, PartialEq)]
pub enum PlainColumn {
    Text(Vec<Option<String>>),
    Float(Vec<Option<f64>>),
    Int(Vec<Option<i64>>),
}

impl PlainColumn {
    fn len(&self) -> usize {
        match self {
            PlainColumn::Text(v) => v.len(),
            PlainColumn::Float(v) => v.len(),
            PlainColumn::Int(v) => v.len(),
        }
    }
}

/// Writes named columns of equal length as one Parquet file.
pub fn write_parquet_columns(
    path: &Path,
    columns: Vec<(String, PlainColumn)>,
) -> Result<(), TableError> {
    if let Some((first, rest)) = columns.split_first()
        && let Some((name, c)) = rest.iter().find(|(_, c)| c.len() != first.1.len())
    {
        return Err(TableError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "column `{name}` has {} values, `{}` has {}",
                c.len(),
                first.0,
                first.1.len()
            ),
        });
    }
    let cols: Vec<Column> = columns
        .into_iter()
        .map(|(name, values)| match values {
            PlainColumn::Text(v) => Column::new(name.into(), v),
            PlainColumn::Float(v) => Column::new(name.into(), v),
            PlainColumn::Int(v) => Column::new(name.into(), v),
        })
        .collect();
    let mut df = DataFrame::new_infer_height(cols).map_err(TableError::polars(path))?;
    let file = File::create(path).map_err(TableError::io(path))?;
    ParquetWriter::new(file)
        .finish(&mut df)
        .map_err(TableError::polars(path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_round_trip_with_nulls() {
        let path =
            std::env::temp_dir().join(format!("rewardlab-plain-{}.parquet", std::process::id()));
        write_parquet_columns(
            &path,
            vec![
                ("id".into(), PlainColumn::Text(vec![Some("a".into()), None])),
                ("x".into(), PlainColumn::Float(vec![Some(0.5), None])),
                ("n".into(), PlainColumn::Int(vec![Some(3), Some(4)])),
            ],
        )
        .unwrap();
        let df = ParquetReader::new(File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert_eq!(df.shape(), (2, 3));
        assert_eq!(df.column("x").unwrap().f64().unwrap().get(0), Some(0.5));
        assert_eq!(df.column("id").unwrap().null_count(), 1);
        let err = write_parquet_columns(
            &path,
            vec![
                ("a".into(), PlainColumn::Int(vec![Some(1)])),
                ("b".into(), PlainColumn::Int(vec![])),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("column `b` has 0 values"), "{err}");
        std::fs::remove_file(&path).unwrap();
    }
}
