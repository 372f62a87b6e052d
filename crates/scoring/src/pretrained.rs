//! Pretrained scorers that need no training run: CLIP score (Hessel et al. 2021) with a Hugging
//! Face CLIP folder, and ImageReward (Xu et al. 2023) from its official checkpoint. They score
//! `(prompt, image file)` pairs in batches that mix prompts (each distinct prompt encoded once
//! per batch), serve `rewardlab score`/`rank --model`, and are evaluation baselines
//! ([`crate::baselines`]).
//!
//! * `clip-score`: `w * max(cos(image_embeds, text_embeds), 0)` with `w = 2.5`, CLIPScore as
//!   Hessel et al. define it (their `w` stretches the cosines, which CLIP keeps in roughly
//!   [0, 0.4], towards [0, 1]). The prompt is encoded as it is, without the paper's "A photo
//!   depicts" caption prefix: a generation prompt is not a caption. It is the score of the
//!   overall head and of the alignment head; the other heads get none.
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

use std::path::{Path, PathBuf};

use annotations::{Criterion, PerCriterion};
use burn::prelude::*;
use pretrained::PretrainedError;
use pretrained::blip::{BlipTokenizer, BlipVitConfig, MedConfig};
use pretrained::clip::{ClipModel, normalize};
use pretrained::clip_tokenizer::{ClipTokenizer, default_bpe_path};
use pretrained::imagereward::{ImageReward, ImageRewardConfig};
use pretrained::preprocess::{ClipImageProcessor, ResizeTo, load_image};

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
}

impl PretrainedScorerKind {
    pub const ALL: [PretrainedScorerKind; 2] = [
        PretrainedScorerKind::ClipScore,
        PretrainedScorerKind::ImageReward,
    ];

    /// The name it is reported and selected under (`--baseline NAME`).
    pub fn name(self) -> &'static str {
        match self {
            PretrainedScorerKind::ClipScore => "clip-score",
            PretrainedScorerKind::ImageReward => "imagereward",
        }
    }

    /// The heads it scores, in criterion order.
    pub fn heads(self) -> &'static [Criterion] {
        match self {
            PretrainedScorerKind::ClipScore => &[Criterion::Overall, Criterion::Alignment],
            PretrainedScorerKind::ImageReward => &[Criterion::Overall],
        }
    }
}

/// CLIP score with a CLIP model ready to run.
pub struct ClipScore {
    model: ClipModel,
    processor: ClipImageProcessor,
    tokenizer: ClipTokenizer,
    device: Device,
    batch_size: usize,
}

impl std::fmt::Debug for ClipScore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipScore")
            .field("processor", &self.processor)
            .field("tokenizer", &self.tokenizer)
            .field("batch_size", &self.batch_size)
            .finish()
    }
}

impl ClipScore {
    /// Loads a Hugging Face CLIP folder (`config.json`, `model.safetensors`, and
    /// `preprocessor_config.json` when present; without it, transformers' CLIP preprocessing at
    /// the model's image size). The tokenizer is the folder's `tokenizer.json`, else one built
    /// from `bpe_simple_vocab_16e6.txt.gz` in the folder, else from the shared folder's copy
    /// ([`default_bpe_path`]).
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let load_error = |error| ScoringError::Load {
            scorer: "clip-score",
            error,
        };
        let checkpoint = ClipModel::from_folder(dir, device).map_err(load_error)?;
        let tokenizer = match checkpoint.tokenizer {
            Some(t) => t,
            None => {
                let beside = dir.join(CLIP_BPE_FILE);
                if !beside.is_file() {
                    // Said before anything is built: the error names both places.
                    default_bpe_path().map_err(|e| ScoringError::NoTokenizer {
                        dir: dir.to_path_buf(),
                        shared: e.to_string(),
                    })?;
                }
                ClipTokenizer::for_folder(dir).map_err(load_error)?
            }
        };
        // A text tower with fewer positions than CLIP's 77 tokens (small test models) reads
        // prompts truncated to what it can embed.
        let positions = checkpoint.config.text_config.max_position_embeddings;
        let tokenizer = if positions < tokenizer.context_length() {
            tokenizer
                .with_context_length(positions)
                .map_err(load_error)?
        } else {
            tokenizer
        };
        let processor = checkpoint.processor.unwrap_or_else(|| {
            let side = checkpoint.config.vision_config.image_size as u32;
            ClipImageProcessor {
                resize: Some(ResizeTo::ShortestEdge(side)),
                center_crop: Some((side, side)),
                ..ClipImageProcessor::default()
            }
        });
        Ok(Self {
            model: checkpoint.model,
            processor,
            tokenizer,
            device: device.clone(),
            batch_size: DEFAULT_BATCH,
        })
    }

    /// Scores at most `batch_size` images per forward pass (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The cosine similarity of each image with its prompt, in CLIP's joint space.
    pub fn cosines(&self, items: &[(String, PathBuf)]) -> Result<Vec<f64>> {
        let score_error = |error| ScoringError::Score {
            scorer: "clip-score",
            error,
        };
        let mut out = Vec::with_capacity(items.len());
        for chunk in items.chunks(self.batch_size) {
            let paths: Vec<&PathBuf> = chunk.iter().map(|(_, p)| p).collect();
            let pixels = self
                .processor
                .preprocess_files(&paths, &self.device)
                .map_err(score_error)?;
            let (distinct, rows) = distinct_prompts(chunk);
            let (ids, mask) = self
                .tokenizer
                .encode_batch(&distinct)
                .map_err(score_error)?
                .to_tensors(&self.device);
            let text = normalize(
                self.model
                    .get_text_features(ids, Some(mask))
                    .map_err(score_error)?,
            );
            let image = normalize(self.model.get_image_features(pixels).map_err(score_error)?);
            let index =
                Tensor::<1, Int>::from_data(TensorData::new(rows, [chunk.len()]), &self.device);
            let cos = (image * text.select(0, index)).sum_dim(1);
            out.extend(values(cos).map_err(score_error)?);
        }
        Ok(out)
    }

    /// CLIP scores, `2.5 * max(cos, 0)`, one per item, in order.
    pub fn score_values(&self, items: &[(String, PathBuf)]) -> Result<Vec<f64>> {
        Ok(self
            .cosines(items)?
            .into_iter()
            .map(|c| CLIP_SCORE_WEIGHT * c.max(0.0))
            .collect())
    }
}

/// ImageReward over batches that mix prompts.
#[derive(Debug)]
pub struct ImageRewardScore {
    inner: ImageReward,
    batch_size: usize,
}

impl ImageRewardScore {
    /// Loads `ImageReward.pt` (or its `.safetensors` copy) with `med_config.json` and the
    /// tokenizer (`tokenizer.json` or bert-base-uncased's `vocab.txt`) beside it; see
    /// [`ImageReward::from_checkpoint`]. With [`VIT_CONFIG_FILE`] beside it too, the image
    /// encoder's sizes are read from that file instead of inferred from the tensors.
    pub fn load(checkpoint: &Path, device: &Device) -> Result<Self> {
        let vit_config = checkpoint.with_file_name(VIT_CONFIG_FILE);
        let inner = if vit_config.is_file() {
            load_with_vit_config(checkpoint, &vit_config, device)
        } else {
            ImageReward::from_checkpoint(checkpoint, device).map_err(|error| match error {
                // The sizes the tensors do not tell: say where to give them.
                PretrainedError::Config { path, message } if path == checkpoint => {
                    PretrainedError::Config {
                        path,
                        message: format!(
                            "{message} (in {VIT_CONFIG_FILE} beside the checkpoint: image_size, \
                             patch_size, embed_dim, depth, num_heads, mlp_ratio, qkv_bias, \
                             layer_norm_eps)"
                        ),
                    }
                }
                other => other,
            })
        }
        .map_err(|error| ScoringError::Load {
            scorer: "imagereward",
            error,
        })?;
        Ok(Self {
            inner,
            batch_size: DEFAULT_BATCH,
        })
    }

    /// Scores at most `batch_size` images per forward pass (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The model, to score one prompt's images the official way.
    pub fn model(&self) -> &ImageReward {
        &self.inner
    }

    /// `ImageReward.score(prompt, image)` for each item, in order. Unlike
    /// [`ImageReward::score_paths`], one batch may hold several prompts: each row of the text
    /// encoder reads its own prompt while attending to its own image, so the rewards are those
    /// of one prompt at a time.
    pub fn score_values(&self, items: &[(String, PathBuf)]) -> Result<Vec<f64>> {
        let score_error = |error| ScoringError::Score {
            scorer: "imagereward",
            error,
        };
        let device = self.inner.device();
        let mut out = Vec::with_capacity(items.len());
        for chunk in items.chunks(self.batch_size) {
            let images = chunk
                .iter()
                .map(|(_, p)| load_image(p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(score_error)?;
            let pixels = self.inner.preprocess(&images).map_err(score_error)?;
            let (distinct, rows) = distinct_prompts(chunk);
            let mut ids = Vec::new();
            let mut mask = Vec::new();
            let mut length = 0;
            let tokens = distinct
                .iter()
                .map(|p| self.inner.tokenize(p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(score_error)?;
            for &row in &rows {
                let t = &tokens[row as usize];
                length = t.input_ids.len();
                ids.extend(t.input_ids.iter().map(|&v| i64::from(v)));
                mask.extend(t.attention_mask.iter().map(|&v| i64::from(v)));
            }
            let shape = [chunk.len(), length];
            let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, shape), device);
            let mask = Tensor::<2, Int>::from_data(TensorData::new(mask, shape), device);
            let model = self.inner.model();
            let features = model.features(ids, mask, model.image_embeds(pixels));
            out.extend(values(model.rewards(features)).map_err(score_error)?);
        }
        Ok(out)
    }
}

/// [`ImageReward::from_checkpoint`] with the image encoder's sizes from `vit_config`.
fn load_with_vit_config(
    checkpoint: &Path,
    vit_config: &Path,
    device: &Device,
) -> Result<ImageReward, PretrainedError> {
    let text = std::fs::read_to_string(vit_config).map_err(|source| PretrainedError::Io {
        path: vit_config.to_path_buf(),
        source,
    })?;
    let vit: BlipVitConfig = serde_json::from_str(&text).map_err(|e| PretrainedError::Config {
        path: vit_config.to_path_buf(),
        message: e.to_string(),
    })?;
    let med = MedConfig::from_file(checkpoint.with_file_name("med_config.json"))?;
    let config = ImageRewardConfig::new(vit, med);
    // The tokenizer as `from_checkpoint` finds it.
    let tokenizer = ["tokenizer.json", "vocab.txt"]
        .into_iter()
        .map(|name| checkpoint.with_file_name(name))
        .find(|p| p.is_file())
        .ok_or_else(|| PretrainedError::Tokenizer {
            path: checkpoint.with_file_name("vocab.txt"),
            message: "neither tokenizer.json nor vocab.txt is beside the checkpoint (put \
                      bert-base-uncased's vocab.txt there)"
                .into(),
        })?;
    let tokenizer = BlipTokenizer::from_file(&tokenizer, config.max_length)?;
    ImageReward::from_checkpoint_with(checkpoint, config, tokenizer, device)
}

/// A loaded pretrained scorer of either kind.
// Both variants are a few kilobytes of module handles (the weights live in tensors), and a
// program holds one or two scorers: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum PretrainedScorer {
    ClipScore(ClipScore),
    ImageReward(ImageRewardScore),
}

impl PretrainedScorer {
    /// Loads `path` (a CLIP folder or an ImageReward checkpoint) on the default device,
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
        })
    }

    pub fn kind(&self) -> PretrainedScorerKind {
        match self {
            Self::ClipScore(_) => PretrainedScorerKind::ClipScore,
            Self::ImageReward(_) => PretrainedScorerKind::ImageReward,
        }
    }

    /// One score per `(prompt, image file)` item, in order.
    pub fn score_values(&self, items: &[(String, PathBuf)]) -> Result<Vec<f64>> {
        match self {
            Self::ClipScore(s) => s.score_values(items),
            Self::ImageReward(s) => s.score_values(items),
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
