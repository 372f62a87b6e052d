//! Errors of a study, each naming what a user has to fix: the study file and the key of a bad
//! setting, the cell whose folder holds another config, the file that cannot be read.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// A file or folder that cannot be read or written. The I/O error is part of the message and
    /// not chained as a source, so that `{:#}` chains do not print it twice.
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    /// A cell folder another process is writing, or a file that does not match its manifest.
    #[error(transparent)]
    Integrity(#[from] integrity::IntegrityError),
    /// The study file is not valid TOML, or `[ablation]` holds an unknown or mistyped key.
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    /// A setting of the study that is well-formed TOML but wrong (no seeds, labels that do not
    /// match the values, an unknown metric, ...). `key` is the dotted key it concerns.
    #[error("{}: `{key}`: {message}", path.display())]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// The base training config (inline or the `base` file) is not a valid training config.
    #[error("{}: the base training config: {message}", path.display())]
    Base { path: PathBuf, message: String },
    /// An axis names a config key that does not exist, or gives it a value of the wrong type.
    #[error("{}: axis `{key}` = {value}: {message}", path.display())]
    AxisKey {
        path: PathBuf,
        key: String,
        value: String,
        message: String,
    },
    /// A cell folder holds a run of another config (the study file changed since).
    #[error(
        "cell {cell}: {} holds a run of another config (the study changed since it ran); \
         delete that folder to retrain the cell, or write the study to another --out",
        dir.display()
    )]
    ConfigChanged { cell: String, dir: PathBuf },
    #[error("cell {cell}: training: {source}")]
    Train {
        cell: String,
        #[source]
        source: train::TrainError,
    },
    #[error("cell {cell}: scoring: {source}")]
    Scoring {
        cell: String,
        #[source]
        source: scoring::ScoringError,
    },
    #[error("cell {cell}: evaluation: {source}")]
    Eval {
        cell: String,
        #[source]
        source: eval::EvalError,
    },
    /// A dataset or world that cannot be read or generated.
    #[error("dataset {}: {message}", path.display())]
    Dataset { path: PathBuf, message: String },
    #[error("aggregation: {0}")]
    Polars(#[from] polars::error::PolarsError),
    #[error("plot {name}: {message}")]
    Plot { name: String, message: String },
    #[error("no finished cell to aggregate in {}", dir.display())]
    NothingToAggregate { dir: PathBuf },
}

pub type Result<T, E = StudyError> = std::result::Result<T, E>;

impl StudyError {
    /// An I/O error at `path`, for `map_err`.
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StudyError + '_ {
        move |e| StudyError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}
