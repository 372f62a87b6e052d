//! Errors of tabular I/O, each naming the file (and column) it concerns.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A dataset file that does not match the folder's manifest, or could not be written whole.
    #[error(transparent)]
    Integrity(#[from] integrity::IntegrityError),
    #[error("{path}: {source}")]
    Polars {
        path: PathBuf,
        #[source]
        source: polars::error::PolarsError,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no column `{column}` (columns are: {available})")]
    MissingColumn {
        path: PathBuf,
        column: String,
        available: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(transparent)]
    Annotations(#[from] annotations::AnnotationError),
}

impl TableError {
    pub(crate) fn polars(
        path: &std::path::Path,
    ) -> impl FnOnce(polars::error::PolarsError) -> Self + '_ {
        move |source| Self::Polars {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
