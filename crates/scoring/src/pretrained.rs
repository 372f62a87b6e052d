//! Pretrained scorers that need no training run: CLIP score (Hessel et al. 2021) and PickScore
//! (Kirstain et al. 2023) with a Hugging Face CLIP folder, ImageReward (Xu et al. 2023) and HPSv2
//! (Wu et al. 2023) from their official checkpoints. One file per model family: [`clip`] (CLIP
//! score and PickScore), [`imagereward`], [`hpsv2`]. They score
//! `(prompt, image file)` pairs in batches that mix prompts (each distinct prompt encoded once
//! per batch), serve `rewardlab score`/`rank --model`, and are evaluation baselines
//! ([`crate::baselines`]).
//!
//! * `clip-score`: `w * max(cos(image_embeds, text_embeds), 0)` with `w = 2.5`, CLIPScore as
//!   Hessel et al. define it (their `w` stretches the cosines, which CLIP keeps in roughly
//!   [0, 0.4], towards [0, 1]). The prompt is encoded as it is, without the paper's "A photo
//!   depicts" caption prefix: a generation prompt is not a caption. It is the score of the
//!   overall head and of the alignment head; the other heads get none.
//! * `pickscore`: `exp(logit_scale) * cos(image_embeds, text_embeds)`, as PickScore's README
//!   computes it (the learned scale kept: PickScore_v1's is 100, so scores lie near 20). It is
//!   the overall head's score.
//! * `hpsv2`: the cosine of image and prompt features (HPSv2 keeps no scale), as `hpsv2.score`
//!   computes it, for HPSv2 and HPSv2.1 alike. It is the overall head's score.
//! * `imagereward`: the official reward, `(mlp(features) - mean) / std`, as the overall score;
//!   the other heads get none.
//!
//! ```no_run
//! # fn main() -> Result<(), scoring::ScoringError> {
//! use scoring::{PretrainedScorer, PretrainedScorerKind};
//! let device = burn::prelude::Device::default();
//! let checkpoint = std::path::Path::new("ImageReward/ImageReward.pt");
//! let scorer =
//!     PretrainedScorer::load(PretrainedScorerKind::ImageReward, checkpoint, 16, &device)?;
//! let items = vec![
//!     ("a red bicycle".to_string(), "a.png".into()),
//!     ("a red bicycle".to_string(), "b.png".into()),
//! ];
//! let rewards = scorer.score_values(&items)?;
//! # Ok(()) }
//! ```

mod clip;
mod hpsv2;
mod imagereward;

use std::path::{Path, PathBuf};

use annotations::{Criterion, PerCriterion};
use burn::prelude::*;
use pretrained::PretrainedError;
use pretrained::clip::{ClipModel, normalize};
use pretrained::clip_tokenizer::TokenBatch;

pub use self::clip::{ClipScore, PickScore};
pub use self::hpsv2::{Hpsv2Score, OPEN_CLIP_CONFIG_FILE};
pub use self::imagereward::ImageRewardScore;
use crate::error::{Result, ScoringError};
use crate::{HeadScore, ImageScore, ImageScorer};

/// CLIPScore's `w` (Hessel et al. 2021, section 3).
pub const CLIP_SCORE_WEIGHT: f64 = 2.5;

/// Images per forward pass unless the caller says otherwise.
pub const DEFAULT_BATCH: usize = 16;

pub use pretrained::clip_tokenizer::CLIP_BPE_FILE;

/// Beside an ImageReward checkpoint whose image encoder is not BLIP's ViT-B or ViT-L (a small
/// test model): the encoder's sizes as a [`BlipVitConfig`] in JSON, since its number of heads is
/// in no tensor. The official v1.0 checkpoint needs none.
pub const VIT_CONFIG_FILE: &str = "vit_config.json";

/// The pretrained scorers there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PretrainedScorerKind {
    /// CLIP score with a Hugging Face CLIP folder.
    ClipScore,
    /// ImageReward from `ImageReward.pt` (or a `.safetensors` copy of its state dict).
    ImageReward,
    /// PickScore with its Hugging Face CLIP folder (`yuvalkirstain/PickScore_v1`).
    PickScore,
    /// HPSv2 or HPSv2.1 from its OpenCLIP checkpoint (`HPS_v2_compressed.pt`).
    Hpsv2,
}

impl PretrainedScorerKind {
    pub const ALL: [PretrainedScorerKind; 4] = [
        PretrainedScorerKind::ClipScore,
        PretrainedScorerKind::ImageReward,
        PretrainedScorerKind::PickScore,
        PretrainedScorerKind::Hpsv2,
    ];

    /// The name it is reported and selected under (`--baseline NAME`).
    pub fn name(self) -> &'static str {
        match self {
            PretrainedScorerKind::ClipScore => "clip-score",
            PretrainedScorerKind::ImageReward => "imagereward",
            PretrainedScorerKind::PickScore => "pickscore",
            PretrainedScorerKind::Hpsv2 => "hpsv2",
        }
    }

    /// The heads it scores, in criterion order.
    pub fn heads(self) -> &'static [Criterion] {
        match self {
            PretrainedScorerKind::ClipScore => &[Criterion::Overall, Criterion::Alignment],
            PretrainedScorerKind::ImageReward
            | PretrainedScorerKind::PickScore
            | PretrainedScorerKind::Hpsv2 => &[Criterion::Overall],
        }
    }
}

/// A loaded pretrained scorer of either kind.
// Both variants are a few kilobytes of module handles (the weights live in tensors), and a
// program holds one or two scorers: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum PretrainedScorer {
    ClipScore(ClipScore),
    ImageReward(ImageRewardScore),
    PickScore(PickScore),
    Hpsv2(Hpsv2Score),
}

impl PretrainedScorer {
    /// Loads `path` (a CLIP or PickScore folder, an ImageReward or HPSv2 checkpoint) onto `device`,
    /// scoring `batch_size` images per forward pass.
    pub fn load(
        kind: PretrainedScorerKind,
        path: &Path,
        batch_size: usize,
        device: &Device,
    ) -> Result<Self> {
        Ok(match kind {
            PretrainedScorerKind::ClipScore => {
                Self::ClipScore(ClipScore::load(path, device)?.with_batch_size(batch_size))
            }
            PretrainedScorerKind::ImageReward => {
                Self::ImageReward(ImageRewardScore::load(path, device)?.with_batch_size(batch_size))
            }
            PretrainedScorerKind::PickScore => {
                Self::PickScore(PickScore::load(path, device)?.with_batch_size(batch_size))
            }
            PretrainedScorerKind::Hpsv2 => {
                Self::Hpsv2(Hpsv2Score::load(path, device)?.with_batch_size(batch_size))
            }
        })
    }

    pub fn kind(&self) -> PretrainedScorerKind {
        match self {
            Self::ClipScore(_) => PretrainedScorerKind::ClipScore,
            Self::ImageReward(_) => PretrainedScorerKind::ImageReward,
            Self::PickScore(_) => PretrainedScorerKind::PickScore,
            Self::Hpsv2(_) => PretrainedScorerKind::Hpsv2,
        }
    }

    /// One score per `(prompt, image file)` item, in order.
    pub fn score_values(&self, items: &[(String, PathBuf)]) -> Result<Vec<f64>> {
        match self {
            Self::ClipScore(s) => s.score_values(items),
            Self::ImageReward(s) => s.score_values(items),
            Self::PickScore(s) => s.score_values(items),
            Self::Hpsv2(s) => s.score_values(items),
        }
    }

    /// The scores as [`crate::RunScorer::score_files`] gives a run's: every head this scorer
    /// fills ([`PretrainedScorerKind::heads`]), no predicted ratings.
    pub fn score_files(&self, items: &[(String, PathBuf)]) -> Result<Vec<ImageScore>> {
        let heads = self.kind().heads();
        Ok(items
            .iter()
            .zip(self.score_values(items)?)
            .map(|((prompt, image), score)| ImageScore {
                prompt: prompt.clone(),
                image: image.clone(),
                heads: PerCriterion::from_fn(|c| {
                    heads.contains(&c).then_some(HeadScore {
                        score,
                        rating: None,
                    })
                }),
            })
            .collect())
    }
}

impl ImageScorer for PretrainedScorer {
    fn name(&self) -> &str {
        self.kind().name()
    }

    fn heads(&self) -> Vec<Criterion> {
        self.kind().heads().to_vec()
    }

    fn score_files(&self, items: &[(String, PathBuf)]) -> Result<Vec<ImageScore>> {
        PretrainedScorer::score_files(self, items)
    }
}

/// The distinct prompts of a batch, in first-seen order, and each item's row among them.
fn distinct_prompts(items: &[(String, PathBuf)]) -> (Vec<&str>, Vec<i64>) {
    let mut distinct: Vec<&str> = Vec::new();
    let rows = items
        .iter()
        .map(|(prompt, _)| {
            let row = distinct
                .iter()
                .position(|d| d == prompt)
                .unwrap_or_else(|| {
                    distinct.push(prompt);
                    distinct.len() - 1
                });
            row as i64
        })
        .collect();
    (distinct, rows)
}

/// The cosine of each item's image with its prompt in a CLIP model's joint space, in batches of
/// `batch_size` that mix prompts (each distinct prompt encoded once per batch): `pixels` makes a
/// batch's image files the model's input, `tokens` a batch's distinct prompts its ids and mask.
/// Errors name `scorer`.
fn paired_cosines(
    scorer: &'static str,
    model: &ClipModel,
    items: &[(String, PathBuf)],
    batch_size: usize,
    device: &Device,
    pixels: impl Fn(&[&PathBuf]) -> Result<Tensor<4>, PretrainedError>,
    tokens: impl Fn(&[&str]) -> Result<TokenBatch, PretrainedError>,
) -> Result<Vec<f64>> {
    let score_error = |error| ScoringError::Score { scorer, error };
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(batch_size.max(1)) {
        let paths: Vec<&PathBuf> = chunk.iter().map(|(_, p)| p).collect();
        let pixels = pixels(&paths).map_err(score_error)?;
        let (distinct, rows) = distinct_prompts(chunk);
        let (ids, mask) = tokens(&distinct).map_err(score_error)?.to_tensors(device);
        let text = normalize(
            model
                .get_text_features(ids, Some(mask))
                .map_err(score_error)?,
        );
        let image = normalize(model.get_image_features(pixels).map_err(score_error)?);
        let index = Tensor::<1, Int>::from_data(TensorData::new(rows, [chunk.len()]), device);
        let cos = (image * text.select(0, index)).sum_dim(1);
        out.extend(values(cos).map_err(score_error)?);
    }
    Ok(out)
}

/// A float tensor's values as `f64`.
fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f64>, PretrainedError> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map(|v| v.into_iter().map(f64::from).collect())
        .map_err(|e| PretrainedError::Input {
            message: format!("cannot read the model's output: {e:?}"),
        })
}

#[cfg(test)]
mod tests;
