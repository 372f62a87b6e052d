//! Scoring images with a reward model, and evaluating the scores: the layer between training and
//! the CLI. Every scorer (a trained run, ImageReward, CLIP score, PickScore, HPSv2) is an
//! [`ImageScorer`]; [`AnyScorer`] is the run-or-pretrained choice `score`, `rank`
//! and `eval` make; [`evaluate_split`] is the one evaluation that `rewardlab eval` and the
//! ablation cells both run.
//!
//! ```no_run
//! # fn main() -> Result<(), scoring::ScoringError> {
//! use scoring::{ImageScorer, RunScorer};
//! let device = burn::prelude::Device::default();
//! let scorer = RunScorer::load("runs/default".as_ref(), &device)?;
//! let scores = scorer.score_files(&[("a red circle".into(), "world/images/x.png".into())])?;
//! println!("{:?}", scores[0].heads[annotations::Criterion::Overall]);
//! # Ok(()) }
//! ```
//!
//! * [`run`]: a trained run folder's model;
//! * [`pretrained`]: CLIP score, PickScore, ImageReward and HPSv2 from released weights;
//! * [`baselines`]: the pretrained scorers as the `eval` crate's baselines;
//! * [`choice`]: a run or a pretrained model, as a command line names it;
//! * [`evaluate`]: scoring a split's images, tie thresholds on validation, every figure of the
//!   `eval` crate, and the files an evaluation writes;
//! * [`matrix`]: `eval-matrix`'s model specs, its score cache and its table.

use std::path::PathBuf;

use annotations::{Criterion, PerCriterion};
use eval::{ImageRef, ImageScores};
use serde::Serialize;

pub mod baselines;
pub mod choice;
mod error;
pub mod evaluate;
pub mod matrix;
pub mod pretrained;
pub mod run;

pub use baselines::{PretrainedBaseline, PretrainedPaths, register};
/// The device scorers run on, chosen once by the caller (the CLI's `--device`: the `device`
/// crate).
pub use burn::prelude::Device;
pub use choice::AnyScorer;
pub use error::{Result, ScoringError};
pub use evaluate::{Evaluated, SplitEvaluation, evaluate_split, score_split, write_evaluation};
pub use pretrained::{PretrainedScorer, PretrainedScorerKind};
pub use run::RunScorer;

/// One head's output for one image.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeadScore {
    /// Raw score (higher is better; only comparable within a head).
    pub score: f64,
    /// Predicted rating on the training dataset's scale (Likert heads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<f64>,
}

/// Every head's output for one image.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImageScore {
    pub prompt: String,
    pub image: PathBuf,
    /// Each head's output; in the JSON `rewardlab score --json` prints, an object by head name
    /// in criterion order.
    pub heads: PerCriterion<HeadScore>,
}

/// A model that scores `(prompt, image)` pairs on one or more heads.
pub trait ImageScorer {
    /// What reports and errors call it (`imagereward`, `the model of runs/default`).
    fn name(&self) -> &str;

    /// The heads it fills, in criterion order.
    fn heads(&self) -> Vec<Criterion>;

    /// Every head's score (and predicted rating, where the head has one) of each
    /// `(prompt, image file)`, in order.
    fn score_files(&self, items: &[(String, PathBuf)]) -> Result<Vec<ImageScore>>;

    /// A dataset's images as the evaluation reads them, after checking that every one is on
    /// disk (so that an annotation-only dataset fails before anything is scored).
    fn score_refs(&self, images: &[ImageRef<'_>]) -> Result<Vec<ImageScores>> {
        let items = image_items(self.name(), images)?;
        Ok(self.score_files(&items)?.iter().map(image_scores).collect())
    }
}

/// The `(prompt, image file)` items of a dataset's images; an error names `scorer` and the first
/// generation without an image on disk.
pub fn image_items(scorer: &str, images: &[ImageRef<'_>]) -> Result<Vec<(String, PathBuf)>> {
    images
        .iter()
        .map(|im| match &im.image {
            None => Err(ScoringError::NoImagePath {
                scorer: scorer.to_string(),
                generation: im.generation_id.to_string(),
            }),
            Some(p) if !p.is_file() => Err(ScoringError::MissingImage {
                scorer: scorer.to_string(),
                generation: im.generation_id.to_string(),
                path: p.clone(),
            }),
            Some(p) => Ok((im.prompt.to_string(), p.clone())),
        })
        .collect()
}

/// One image's scores as the evaluation reads them: every head's score and, for Likert heads,
/// its predicted rating.
pub fn image_scores(s: &ImageScore) -> ImageScores {
    ImageScores {
        score: s.heads.as_ref().map(|_, h| h.score),
        rating: PerCriterion::from_fn(|c| s.heads[c].as_ref().and_then(|h| h.rating)),
    }
}
