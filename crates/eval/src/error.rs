//! Errors of evaluation, each naming what a user has to fix: the file, row and field of a bad
//! score, the image that has no score, the baseline that cannot run here.

use std::path::PathBuf;

/// One bad value of a scores file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProblem {
    /// 1-based data row (the header is row 0).
    pub row: usize,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "row {}, field `{}`: {}",
            self.row, self.field, self.message
        )
    }
}

fn list(problems: &[FileProblem]) -> String {
    const SHOWN: usize = 10;
    let mut s: Vec<String> = problems.iter().take(SHOWN).map(|p| p.to_string()).collect();
    if problems.len() > SHOWN {
        s.push(format!("and {} more", problems.len() - SHOWN));
    }
    s.join("; ")
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file that cannot be read. The I/O error is part of the message and not chained as a
    /// source, so that `{:#}` chains do not print it twice.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Bad rows of a scores file (every one found, the first ten in the message).
    #[error("{}: {}", path.display(), list(problems))]
    ScoresFile {
        path: PathBuf,
        problems: Vec<FileProblem>,
    },
    /// Images of the evaluated prompts that a scorer gave no score.
    #[error(
        "{scorer}: no {criterion} score for {count} of the evaluated images (first: {})",
        first.join(", ")
    )]
    MissingScores {
        scorer: String,
        criterion: String,
        count: usize,
        first: Vec<String>,
    },
    /// A score that is NaN or infinite.
    #[error("{scorer}: the score of `{generation}` is {value}, not a finite number")]
    NonFinite {
        scorer: String,
        generation: String,
        value: f64,
    },
    /// Data handed to a metric in a shape it cannot use (lengths that disagree, bad ranks).
    #[error("{0}")]
    Shape(String),
    #[error("unknown baseline `{name}` (available: {available})")]
    UnknownBaseline { name: String, available: String },
    #[error("baseline `{name}` cannot run here: {reason}")]
    BaselineUnavailable { name: String, reason: String },
    #[error("nothing to evaluate: {0}")]
    Empty(String),
}

impl EvalError {
    pub(crate) fn io(path: &std::path::Path, error: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;
