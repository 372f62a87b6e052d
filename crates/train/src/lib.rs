//! Training and evaluation of rewardlab's multi-head reward models with burn-train.
//!
//! ```no_run
//! # fn main() -> Result<(), train::TrainError> {
//! let world = synth::generate(&synth::WorldConfig::small(120, 0));
//! let dir = std::path::Path::new("world");
//! world.write_files(dir).unwrap();
//! let ds = world.dataset(dir);
//! let config = train::TrainConfig::smoke();
//! let opts = train::TrainOptions {
//!     out: "runs/smoke".into(),
//!     ground_truth: Some(train::GroundTruthTable::from_truth(&world.truth)),
//!     print: true,
//!     ..Default::default()
//! };
//! let report = train::train(&ds, &config, &opts, &burn::prelude::Device::default())?;
//! println!("{}", train::heldout_table(&report.heldout));
//! # Ok(()) }
//! ```
//!
//! * [`config`]: `TrainConfig`, read from TOML (`experiments/default.toml` is compiled in);
//! * [`data`]: prompt split, images decoded once, tokenizer, batches of whole prompt groups;
//! * [`embed`], [`embed_cache`]: a pretrained encoder's frozen layers run once, in memory or
//!   into an embedding cache on disk;
//! * [`substitutes`]: one-word substitutes mined from the training prompts (substituted matching
//!   negatives) and the word swaps of mirrored prompts;
//! * [`step`]: burn-train's `TrainStep`/`InferenceStep` on the reward model;
//! * [`epoch_metrics`]: per-head losses, pairwise accuracy, Spearman per Likert head;
//! * [`progress`]: one line per epoch and `metrics.csv`;
//! * [`run`]: the run folder, checkpoints, resume, early stopping, `summary.json`;
//! * [`heldout`]: held-out figures next to the oracle ceilings.
//!
//! Scoring images with a finished run, and the pretrained scorers, are the `scoring` crate's.
//!
//! The crate reads a [`annotations::Dataset`] handed to it; it has no Parquet or data-frame code
//! (the CLI reads dataset folders with the `tables` crate).

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod embed;
pub mod embed_cache;
pub mod epoch_metrics;
pub mod error;
pub mod heldout;
mod learner;
pub mod progress;
pub mod run;
pub mod step;
pub mod substitutes;

pub use config::{
    DataConfig, EncoderSection, LrSchedule, MatchingNegatives, OptimConfig, StopMetric, TiesRule,
    TokenizerSection, TrainConfig,
};
pub use error::TrainError;
pub use heldout::{GroundTruthTable, Heldout, LikertFigures, OverallFigures, heldout_table};
pub use progress::EpochRecord;
pub use run::{TrainOptions, TrainReport, last_checkpoint, run_config, train};

#[cfg(test)]
mod tests;
