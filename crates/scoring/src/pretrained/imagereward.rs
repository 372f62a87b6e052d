//! ImageReward's reward over batches that mix prompts, from the official checkpoint.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use pretrained::PretrainedError;
use pretrained::blip::{BlipTokenizer, BlipVitConfig, MedConfig};
use pretrained::imagereward::{ImageReward, ImageRewardConfig};
use pretrained::preprocess::load_image;

use super::{DEFAULT_BATCH, VIT_CONFIG_FILE, distinct_prompts, values};
use crate::error::{Result, ScoringError};

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
