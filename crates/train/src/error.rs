//! The crate's error type: everything that can go wrong with a config file, a dataset, a run
//! folder or a trained model, reported with the file or the item it concerns, never a panic.

use std::path::{Path, PathBuf};

/// Errors of the `train` crate.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A training config (TOML) that cannot be parsed: unknown keys, wrong types.
    #[error("config {origin}: {message}")]
    ConfigParse { origin: String, message: String },
    /// A config that parses but describes nothing trainable.
    #[error("invalid training config: {0}")]
    InvalidConfig(String),
    /// A config file that parses but describes nothing trainable, naming the file.
    #[error("invalid training config {origin}: {message}")]
    InvalidConfigIn { origin: String, message: String },
    /// The dataset cannot be trained on (no images, no prompts in a split, ...).
    #[error("dataset {name}: {message}")]
    Dataset { name: String, message: String },
    /// An image that cannot be read or decoded.
    #[error("image {path}: {message}")]
    Image { path: PathBuf, message: String },
    /// A run folder that cannot be used as asked (non-empty without --force, nothing to resume).
    #[error("run folder {path}: {message}")]
    RunFolder { path: PathBuf, message: String },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Model, tokenizer or weights problems reported by the `model` crate.
    #[error(transparent)]
    Model(#[from] model::ModelError),
    /// `ground_truth.csv` of a synthetic world that cannot be read.
    #[error("ground truth: {0}")]
    GroundTruth(String),
    /// An embedding cache that cannot be read, or that was made for another encoder or dataset.
    #[error("embedding cache {path}: {message}")]
    Cache { path: PathBuf, message: String },
    /// A pretrained encoder that cannot be loaded (reported by the `pretrained` crate).
    #[error(transparent)]
    Pretrained(#[from] pretrained::PretrainedError),
    /// A file that does not match its folder's manifest, or a folder another process writes.
    #[error(transparent)]
    Integrity(#[from] integrity::IntegrityError),
    /// burn-train stopped with an error.
    #[error("training failed: {0}")]
    Training(String),
}

impl TrainError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Results of this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
