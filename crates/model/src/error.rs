//! The crate's error type: everything that can go wrong when a configuration, a weights file or
//! a tokenizer file comes from outside the program.

use std::path::PathBuf;

/// Errors of the `model` crate.
///
/// Shape mismatches between tensors handed to `forward` are programming errors and panic inside
/// burn, as everywhere in burn; anything read from disk or parsed from text reports one of these.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file that does not match its folder's manifest, or could not be written whole.
    #[error(transparent)]
    Integrity(#[from] integrity::IntegrityError),
    /// A [`ModelConfig`](crate::ModelConfig) that cannot describe a working model.
    #[error("invalid model config: {0}")]
    InvalidConfig(String),
    /// A name that is not one of the enum's spellings (criterion, fusion, Likert loss, ...).
    #[error("unknown {kind} {value:?}; expected one of: {expected}")]
    UnknownName {
        /// What was being parsed, e.g. "criterion".
        kind: &'static str,
        /// The text that failed to parse.
        value: String,
        /// The accepted spellings, comma separated.
        expected: String,
    },
    /// A pretrained checkpoint that cannot be loaded or run (reported by the `pretrained`
    /// crate, boxed to keep this error small).
    #[error(transparent)]
    Pretrained(Box<pretrained::PretrainedError>),
    /// Reading or writing a file failed at the operating-system level.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A config JSON file that cannot be parsed.
    #[error("config file {path}: {message}")]
    ConfigFile {
        /// The file involved.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A safetensors file that cannot be written, read, or does not fit the model.
    #[error("weights file {path}: {message}")]
    Weights {
        /// The file involved.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Training, loading, saving or running the tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}
