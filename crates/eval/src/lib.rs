//! Evaluation of reward models for text-to-image generation under the field's protocols, every
//! figure named and defined exactly and given a 95% bootstrap interval over prompts.
//!
//! Papers report "preference accuracy" under different rules: ImageReward pools strict pairs over
//! prompts, HPSv2 averages per prompt, PickScore credits ties, the WMT23 metrics task calibrates
//! ties (acc23). This crate computes all of them, plus rank correlations, best-of-N selection
//! figures, per-criterion rating figures and, on multi-annotator data, the human ceiling:
//!
//! * [`pairwise`]: [`accuracy_pooled`], [`accuracy_per_prompt`], [`tie_aware_accuracy`] with
//!   [`choose_tie_threshold`], [`acc_eq`] with [`tie_calibration`] (acc23);
//! * [`correlation`]: Kendall tau-b and Spearman rho, per prompt and pooled;
//! * [`topk`]: Recall@K, Filter@K, and the best-first order of `rewardlab rank`;
//! * [`annotators`]: accuracy against each annotator and the mean rank, the human ceiling;
//! * [`ratings`]: MAE, exact match, Spearman and Pearson of a Likert head;
//! * [`bootstrap`]: seeded percentile intervals resampling prompts;
//! * [`evaluate`] and [`report`]: everything for a model and its baselines, as `metrics.json`
//!   and markdown; [`baselines`]: the random and oracle scorers behind a registry;
//!   [`scores`]: the `generation_id,score` file of external models.
//!
//! The metrics are pure functions on plain data ([`RankedPrompt`], [`RatedImage`]), so a library
//! user can call them on anything:
//!
//! ```
//! use eval::{RankedPrompt, accuracy_pooled, kendall_per_prompt};
//! // one prompt, three images ranked 1, 2, 2 (a tie) and scored by a model
//! let p = RankedPrompt::single(vec![0.9, 0.1, 0.4], vec![Some(1.0), Some(2.0), Some(2.0)])?;
//! assert_eq!(accuracy_pooled([&p]), Some(1.0)); // 2 strict pairs, both right; the tie is dropped
//! assert!(kendall_per_prompt([&p]).unwrap() > 0.8);
//! # Ok::<(), eval::EvalError>(())
//! ```
//!
//! No burn and no polars in here: the crate builds in seconds, and the CLI does the scoring
//! (`train::Scorer`) and the Parquet output (`tables`).

pub mod annotators;
pub mod baselines;
pub mod bootstrap;
pub mod correlation;
pub mod data;
pub mod error;
pub mod evaluate;
pub mod pairwise;
pub mod prompt;
pub mod ratings;
pub mod report;
pub mod scores;
pub mod topk;

pub use annotators::{Agreement, accuracy_vs_mean_rank, agreement, human_ceiling};
pub use baselines::{Baseline, BaselineContext, ImageRef, Registry};
pub use bootstrap::{Resamples, percentile};
pub use correlation::{
    kendall_per_prompt, kendall_pooled, kendall_tau_b, spearman_per_prompt, spearman_pooled,
};
pub use data::{EvalData, EvalPrompt};
pub use error::{EvalError, FileProblem};
pub use evaluate::{
    EvalLabels, EvalOptions, Evaluation, Figure, PromptRow, ScorerInput, ScorerReport,
    TieThreshold, choose_threshold_on, evaluate, evaluate_scorer, prompt_rows,
};
pub use pairwise::{
    Calibrated, acc_eq, accuracy_per_prompt, accuracy_pooled, choose_tie_threshold, softmax_gap,
    tie_aware_accuracy, tie_calibration,
};
pub use prompt::{JudgedPair, RankedPrompt, Ranking};
pub use ratings::{
    RatedImage, RatedPrompt, rating_exact, rating_level, rating_mae, rating_pearson,
    rating_spearman,
};
pub use scores::{ImageScores, ScoreTable, parse_scores_csv, read_scores_csv, scores_csv};
pub use topk::{best_first, filter_at_k, recall_at_k};

#[cfg(test)]
mod reference_tests;
