//! Typed errors of the analysis: a query that polars rejects, a file that cannot be written, a
//! plot that cannot be drawn, an option that makes no sense. Each names what it was doing.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AnalysisError {
    /// A polars query failed; `context` says which statistic or table.
    #[error("{context}: {source}")]
    Polars {
        context: String,
        #[source]
        source: polars::prelude::PolarsError,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("plot {name}: {message}")]
    Plot { name: String, message: String },
    #[error(transparent)]
    Eval(#[from] eval::EvalError),
    #[error("invalid option: {0}")]
    Options(String),
    #[error("the dataset has no judgments to analyse")]
    Empty,
}

pub type Result<T> = std::result::Result<T, AnalysisError>;

/// Adds the statistic's name to a polars error.
pub(crate) trait Context<T> {
    fn ctx(self, what: &str) -> Result<T>;
}

impl<T> Context<T> for polars::prelude::PolarsResult<T> {
    fn ctx(self, what: &str) -> Result<T> {
        self.map_err(|source| AnalysisError::Polars {
            context: what.to_string(),
            source,
        })
    }
}

impl AnalysisError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| AnalysisError::Io { path, source }
    }
}
