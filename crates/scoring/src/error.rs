//! The crate's error type: a scorer that cannot load (naming the file or the flag it needs), an
//! image it cannot score (naming the generation and the file), an evaluation that cannot be made
//! or written. Messages carry an underlying pretrained error's text rather than chaining it as a
//! source, so that `{:#}` chains do not print it twice.

use std::path::PathBuf;

use pretrained::PretrainedError;

use crate::pretrained::CLIP_BPE_FILE;

/// Errors of the `scoring` crate.
#[derive(Debug, thiserror::Error)]
pub enum ScoringError {
    /// The model files cannot be used (the error names the file).
    #[error("cannot load {scorer}: {error}")]
    Load {
        scorer: &'static str,
        error: PretrainedError,
    },
    /// A CLIP folder without a tokenizer, and no merges file to build one from.
    #[error(
        "{scorer}: {} has no tokenizer.json and no {CLIP_BPE_FILE} (put OpenAI's {CLIP_BPE_FILE} \
         or the model's tokenizer.json in the folder), and {shared}",
        dir.display()
    )]
    NoTokenizer {
        scorer: &'static str,
        dir: PathBuf,
        shared: String,
    },
    /// A generation without an image path.
    #[error("{scorer} scores images, but generation `{generation}` has no image path")]
    NoImagePath { scorer: String, generation: String },
    /// An image path that is not a file.
    #[error(
        "{scorer} scores images, but the image of generation `{generation}`, {}, is not on disk \
         (an annotation-only dataset cannot be scored)",
        path.display()
    )]
    MissingImage {
        scorer: String,
        generation: String,
        path: PathBuf,
    },
    /// Scoring failed (an image that does not decode, a prompt the tokenizer refuses).
    #[error("{scorer}: {error}")]
    Score {
        scorer: &'static str,
        error: PretrainedError,
    },
    /// A run folder that holds no finished model.
    #[error("run folder {path}: {message}")]
    RunFolder { path: PathBuf, message: String },
    /// A run file that does not match the run's manifest.
    #[error(transparent)]
    Integrity(#[from] integrity::IntegrityError),
    /// A trained model, its tokenizer or its frozen encoder cannot be loaded or run.
    #[error(transparent)]
    Model(#[from] model::ModelError),
    /// An image a trained run cannot read or decode.
    #[error(transparent)]
    Image(#[from] PretrainedError),
    /// A model output that cannot be read back.
    #[error("reading the model's scores: {0}")]
    Output(String),
    /// The evaluation refused its inputs (scores missing for an image, a baseline that cannot run).
    #[error(transparent)]
    Eval(#[from] eval::EvalError),
    /// Writing an evaluation's files failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Results of this crate.
pub type Result<T, E = ScoringError> = std::result::Result<T, E>;
