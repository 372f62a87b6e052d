//! The one error type of the benchmarks: each names what failed and, where a setting fixes it,
//! the flag or variable to set.

use std::path::PathBuf;

/// Errors of the benchmarks.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The MiniLM checkpoint folder is not where it was looked for.
    #[error(
        "{}: no such model folder (all-MiniLM-L6-v2 is looked for under $REWARDLAB_SHARED/models; \
         set REWARDLAB_SHARED to the shared folder)",
        path.display()
    )]
    ModelMissing {
        /// The folder looked for.
        path: PathBuf,
    },
    /// The shared folder is not set, or does not hold what a benchmark reads.
    #[error(transparent)]
    Shared(#[from] paths::MissingShared),
    /// Loading or running a pretrained model failed.
    #[error(transparent)]
    Pretrained(#[from] pretrained::PretrainedError),
    /// A size that makes no workload (zero items, too long a sequence, ...), or an option out of
    /// range.
    #[error("invalid benchmark size: {0}")]
    Size(String),
    /// The thread pool of the requested size could not be built.
    #[error("cannot start a pool of {threads} threads: {message}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// rayon's message.
        message: String,
    },
    /// The backend failed to hand a result back.
    #[error("reading a result back from the device: {0}")]
    Readback(String),
    /// A file or folder of the benchmark could not be read, written or removed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A reference side (PyTorch, pandas, the official ImageReward code) could not run or gave
    /// no usable answer.
    #[error("{side}: {message}")]
    Reference {
        /// Which side.
        side: &'static str,
        /// What went wrong, with the script's path.
        message: String,
    },
    /// Training the benchmarked run failed.
    #[error(transparent)]
    Train(#[from] train::TrainError),
    /// Reading or writing a dataset failed.
    #[error(transparent)]
    Table(#[from] tables::TableError),
    /// The analysis failed.
    #[error(transparent)]
    Analysis(#[from] analysis::AnalysisError),
    /// Writing the synthetic world failed.
    #[error(transparent)]
    Synth(#[from] synth::SynthError),
    /// Making or finding the default world failed.
    #[error(transparent)]
    World(#[from] experiments::StudyError),
}

impl BenchError {
    /// A closure for `map_err` that names `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
