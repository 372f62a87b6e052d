//! Scoring images with a trained run: load the run folder (model config, weights, tokenizer) and
//! score many (prompt, image) pairs in batches, each prompt encoded once per batch.

use std::path::{Path, PathBuf};

use annotations::{Criterion, PerCriterion};
use burn::prelude::*;
use model::{
    FrozenEncoder, ImageInput, ModelConfig, PromptTokenizer, RatingMode, RewardModel,
    TOKENIZER_FILE, TextInput,
};
use train::data::to_pixels;

use crate::error::{Result, ScoringError};
use crate::{HeadScore, ImageScore, ImageScorer};

/// Images per forward pass unless [`RunScorer::with_batch_size`] says otherwise.
pub const SCORE_BATCH: usize = 64;

/// A trained model ready to score.
pub struct RunScorer {
    /// What errors call it: the model of its run folder.
    pub label: String,
    pub model: RewardModel,
    pub config: ModelConfig,
    pub tokenizer: PromptTokenizer,
    /// The frozen layers of a pretrained encoder, reloaded from its checkpoint folder.
    pub frozen: Option<FrozenEncoder>,
    pub device: Device,
    /// Images per forward pass.
    pub batch_size: usize,
    /// How the run's files were checked (see [`integrity::Verified::note`]).
    pub verified: integrity::Verified,
}

impl std::fmt::Debug for RunScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunScorer")
            .field("config", &self.config)
            .field("tokenizer", &self.tokenizer)
            .finish()
    }
}

impl RunScorer {
    /// Loads `run_dir/{model_config.json, model.safetensors, tokenizer.json}` onto `device`,
    /// after checking them against the run's `manifest.json`.
    pub fn load(run_dir: &Path, device: &Device) -> Result<Self> {
        if !run_dir.join(model::WEIGHTS_FILE).exists() {
            return Err(ScoringError::RunFolder {
                path: run_dir.to_path_buf(),
                message: format!("no {} in it (has the run finished?)", model::WEIGHTS_FILE),
            });
        }
        // Every file read below, checked against the run's manifest (a note when it has none).
        let verified = integrity::verify_files(
            run_dir,
            &[model::CONFIG_FILE, model::WEIGHTS_FILE, TOKENIZER_FILE],
        )?;
        let (model, config) = RewardModel::load(run_dir, device)?;
        let tokenizer = PromptTokenizer::load(run_dir.join(TOKENIZER_FILE))?
            .with_max_len(config.max_text_len)?;
        let frozen = match &config.pretrained {
            Some(spec) => Some(FrozenEncoder::load(spec, device)?),
            None => None,
        };
        Ok(Self {
            label: format!("the model of {}", run_dir.display()),
            model,
            config,
            tokenizer,
            frozen,
            device: device.clone(),
            batch_size: SCORE_BATCH,
            verified,
        })
    }

    /// Scores at most `batch_size` images per forward pass (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Scores `(prompt, image file)` pairs, `batch_size` images per forward pass; one entry per
    /// input, in order.
    pub fn score_files(&self, items: &[(String, PathBuf)]) -> Result<Vec<ImageScore>> {
        let mut out = Vec::with_capacity(items.len());
        for chunk in items.chunks(self.batch_size) {
            // Decoded as the pretrained encoders' references decode (JPEG exactly as Pillow).
            let images = chunk
                .iter()
                .map(|(_, p)| pretrained::preprocess::load_image(p).map_err(ScoringError::from))
                .collect::<Result<Vec<_>>>()?;
            let prompts: Vec<&str> = chunk.iter().map(|(t, _)| t.as_str()).collect();
            let heads = self.score_batch(&prompts, images)?;
            for ((prompt, image), heads) in chunk.iter().zip(heads) {
                out.push(ImageScore {
                    prompt: prompt.clone(),
                    image: image.clone(),
                    heads,
                });
            }
        }
        Ok(out)
    }

    /// Scores decoded images (any size; resized to the model's).
    pub fn score_images(
        &self,
        prompts: &[&str],
        images: Vec<image::DynamicImage>,
    ) -> Result<Vec<PerCriterion<HeadScore>>> {
        let mut out = Vec::with_capacity(images.len());
        let mut images = images.into_iter();
        for p in prompts.chunks(self.batch_size) {
            let batch: Vec<_> = images.by_ref().take(p.len()).collect();
            out.extend(self.score_batch(p, batch)?);
        }
        Ok(out)
    }

    /// One forward pass, prompts deduplicated: images go to the scratch encoder as pixels or
    /// through a pretrained encoder's frozen layers.
    fn score_batch(
        &self,
        prompts: &[&str],
        images: Vec<image::DynamicImage>,
    ) -> Result<Vec<PerCriterion<HeadScore>>> {
        let n = images.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let s = self.config.image_size;
        let plane = s * s;
        let mut distinct: Vec<&str> = Vec::new();
        let mut rows = Vec::with_capacity(n);
        for p in prompts {
            let row = match distinct.iter().position(|d| d == p) {
                Some(r) => r,
                None => {
                    distinct.push(p);
                    distinct.len() - 1
                }
            };
            rows.push(row as i64);
        }
        let frozen = self.frozen.as_ref();
        let images = match frozen.filter(|f| f.has_vision()) {
            Some(f) => ImageInput::Hidden(f.image_hidden(&images)?),
            None => {
                let mut data = vec![0f32; n * 3 * plane];
                for (i, img) in images.into_iter().enumerate() {
                    let px = to_pixels(img, s);
                    for (k, rgb) in px.chunks_exact(3).enumerate().take(plane) {
                        for c in 0..3 {
                            data[i * 3 * plane + c * plane + k] = f32::from(rgb[c]) / 127.5 - 1.0;
                        }
                    }
                }
                ImageInput::Pixels(Tensor::<4>::from_data(
                    TensorData::new(data, [n, 3, s, s]),
                    &self.device,
                ))
            }
        };
        let text = match frozen {
            Some(f) => {
                let t = f.text_hidden(&distinct)?;
                match t.hidden {
                    Some(hidden) => TextInput::Hidden {
                        hidden,
                        mask: t.mask,
                    },
                    None => TextInput::Ids {
                        ids: t.ids,
                        mask: t.mask,
                    },
                }
            }
            None => {
                let (ids, mask) = self.tokenizer.encode_tensors(&distinct, &self.device)?;
                TextInput::Ids { ids, mask }
            }
        };
        let index = Tensor::<1, Int>::from_data(TensorData::new(rows, [n]), &self.device);
        let out = self.model.forward_inputs(images, text, index);
        let read = |t: Tensor<1>| -> Result<Vec<f32>> {
            t.try_into_vec_as::<f32>()
                .map_err(|e| ScoringError::Output(e.to_string()))
        };
        let mut result = vec![PerCriterion::default(); n];
        for c in Criterion::ALL {
            let Some(scores) = out.get(c) else { continue };
            let sv = read(scores.clone())?;
            let rv = match self
                .model
                .predict_rating(c, scores.clone(), RatingMode::Expected)
            {
                Some(r) => Some(read(r)?),
                None => None,
            };
            for i in 0..n {
                let rating = rv.as_ref().map(|r| f64::from(r[i]));
                result[i][c] = Some(HeadScore {
                    score: f64::from(sv[i]),
                    rating,
                });
            }
        }
        Ok(result)
    }
}

impl ImageScorer for RunScorer {
    fn name(&self) -> &str {
        &self.label
    }

    fn heads(&self) -> Vec<Criterion> {
        Criterion::ALL
            .into_iter()
            .filter(|h| self.config.heads.contains(h))
            .collect()
    }

    fn score_files(&self, items: &[(String, PathBuf)]) -> Result<Vec<ImageScore>> {
        RunScorer::score_files(self, items)
    }
}

#[cfg(test)]
mod tests;
