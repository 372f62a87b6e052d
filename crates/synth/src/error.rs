//! Typed errors of the synthetic world: writing its files and reading `ground_truth.csv` back.

use std::path::PathBuf;

/// Everything that can go wrong while writing or reading the world's files. Generation itself
/// cannot fail: a configuration out of range is clamped (see [`crate::WorldConfig::normalised`]).
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot encode image: {source}")]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    #[error("{path}: cannot serialise JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}:{line}: {message}")]
    Csv {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("invalid world configuration: {0}")]
    Config(String),
}

impl SynthError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SynthError::Io {
            path: path.into(),
            source,
        }
    }
}
