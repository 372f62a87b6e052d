//! The crate's error type: everything that can go wrong when a checkpoint folder, a config file,
//! a weights file or a tokenizer comes from outside the program.

use std::path::{Path, PathBuf};

/// Errors of the `pretrained` crate.
#[derive(Debug, thiserror::Error)]
pub enum PretrainedError {
    /// Reading a file failed at the operating-system level.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON config that does not parse or lacks a field.
    #[error("{path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
    /// Weights that do not fit the module: every missing, unexpected or misshaped tensor is named.
    #[error("{path}: weights do not match the model:\n{details}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// One line per problem tensor.
        details: String,
    },
    /// A tokenizer file that cannot be loaded, or text it cannot encode.
    #[error("tokenizer {path}: {message}")]
    Tokenizer {
        /// The tokenizer file (or vocabulary) involved.
        path: PathBuf,
        /// The tokenizers crate's message.
        message: String,
    },
    /// Model input that the model cannot take (a token id outside the vocabulary, an image of
    /// the wrong size, a layer range that does not exist), caught before it reaches a tensor op.
    #[error("invalid input: {message}")]
    Input {
        /// What is wrong, with the sizes involved.
        message: String,
    },
    /// An image that cannot be decoded.
    #[error("image {path}: {message}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
}

impl From<imagefile::ImageFileError> for PretrainedError {
    fn from(e: imagefile::ImageFileError) -> Self {
        use imagefile::ImageFileError as E;
        match e {
            E::Io { path, source } => Self::Io { path, source },
            E::Undecodable { path, message } => Self::Image { path, message },
            E::Empty { ref path } | E::TooManyPixels { ref path, .. } => Self::Image {
                path: path.clone(),
                message: e.reason(),
            },
        }
    }
}

/// A file's text, or [`PretrainedError::Io`] naming it.
pub(crate) fn read_text(path: &Path) -> Result<String, PretrainedError> {
    std::fs::read_to_string(path).map_err(|source| PretrainedError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A file's bytes, or [`PretrainedError::Io`] naming it.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, PretrainedError> {
    std::fs::read(path).map_err(|source| PretrainedError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A `tokenizer.json` read by the tokenizers crate, once the file is known to be JSON: tokenizers
/// panics ("Helper") on a syntax error inside the file's `decoder` object (found by
/// `scripts/fuzz`) instead of returning it.
pub(crate) fn read_tokenizer_json(path: &Path) -> Result<tokenizers::Tokenizer, PretrainedError> {
    let bytes = read_bytes(path)?;
    let error = |message: String| PretrainedError::Tokenizer {
        path: path.to_path_buf(),
        message,
    };
    crate::tokenizer_json::parse(&bytes).map_err(error)
}

/// [`PretrainedError::Config`] for `path`.
pub(crate) fn config_error(path: &Path, message: String) -> PretrainedError {
    PretrainedError::Config {
        path: path.to_path_buf(),
        message,
    }
}

/// Reads a config file and parses its text with `parse` (the config's `from_json_str`), so that
/// both kinds of error name the file.
pub(crate) fn read_config<T>(
    path: &Path,
    parse: impl FnOnce(&str, &Path) -> Result<T, PretrainedError>,
) -> Result<T, PretrainedError> {
    parse(&read_text(path)?, path)
}
