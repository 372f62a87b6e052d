//! Why an audit could not be made; each names the file, image or head at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// An image could not be read (the message names the file).
    #[error(transparent)]
    Image(#[from] imagefile::ImageFileError),
    /// A perturbation failed on an image.
    #[error("{}: {perturbation}: {reason}", path.display())]
    Perturb {
        path: PathBuf,
        perturbation: &'static str,
        reason: String,
    },
    /// A perturbed image could not be written.
    #[error("writing {}: {message}", path.display())]
    Write { path: PathBuf, message: String },
    /// A generation without an image file (an annotation-only dataset).
    #[error(
        "generation {generation} has no image on disk{}; the audit perturbs images, so it needs \
         a dataset with its images",
        path.as_ref().map(|p| format!(" ({})", p.display())).unwrap_or_default()
    )]
    NoImage {
        generation: String,
        path: Option<PathBuf>,
    },
    /// The scorer has no such head.
    #[error("{scorer} has no {head} head; it has {has}")]
    MissingHead {
        scorer: String,
        head: String,
        has: String,
    },
    /// Nothing to audit.
    #[error("{0}")]
    Empty(String),
    #[error(transparent)]
    Scoring(#[from] scoring::ScoringError),
}

pub type Result<T> = std::result::Result<T, AuditError>;
