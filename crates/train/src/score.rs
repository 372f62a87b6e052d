//! Scoring images with a trained run: load the run folder (model config, weights, tokenizer) and
//! score many (prompt, image) pairs in batches, each prompt encoded once per batch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use model::{Criterion, ModelConfig, PromptTokenizer, RatingMode, RewardModel, TOKENIZER_FILE};
use serde::Serialize;

use crate::data::{load_image, to_pixels};
use crate::error::{Result, TrainError};

/// Images per forward pass.
pub const SCORE_BATCH: usize = 64;

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
    /// By head name, in criterion order when iterated (`BTreeMap` of names sorts them otherwise,
    /// so callers wanting criterion order should use [`model::Criterion::ALL`]).
    pub heads: BTreeMap<String, HeadScore>,
}

/// A trained model ready to score.
pub struct Scorer {
    pub model: RewardModel,
    pub config: ModelConfig,
    pub tokenizer: PromptTokenizer,
    pub device: Device,
}

impl std::fmt::Debug for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scorer")
            .field("config", &self.config)
            .field("tokenizer", &self.tokenizer)
            .finish()
    }
}

impl Scorer {
    /// Loads `run_dir/{model_config.json, model.safetensors, tokenizer.json}`.
    pub fn load(run_dir: &Path) -> Result<Self> {
        let device = Device::default();
        if !run_dir.join(model::WEIGHTS_FILE).exists() {
            return Err(TrainError::RunFolder {
                path: run_dir.to_path_buf(),
                message: format!("no {} in it (has the run finished?)", model::WEIGHTS_FILE),
            });
        }
        let (model, config) = RewardModel::load(run_dir, &device)?;
        let tokenizer = PromptTokenizer::load(run_dir.join(TOKENIZER_FILE))?
            .with_max_len(config.max_text_len)?;
        Ok(Self {
            model,
            config,
            tokenizer,
            device,
        })
    }

    /// Scores `(prompt, image file)` pairs, [`SCORE_BATCH`] images per forward pass; one entry
    /// per input, in order.
    pub fn score_files(&self, items: &[(String, PathBuf)]) -> Result<Vec<ImageScore>> {
        let mut out = Vec::with_capacity(items.len());
        for chunk in items.chunks(SCORE_BATCH) {
            let pixels = chunk
                .iter()
                .map(|(_, p)| load_image(p, self.config.image_size))
                .collect::<Result<Vec<_>>>()?;
            let prompts: Vec<&str> = chunk.iter().map(|(t, _)| t.as_str()).collect();
            let heads = self.score_pixels(&prompts, &pixels)?;
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
    ) -> Result<Vec<BTreeMap<String, HeadScore>>> {
        let pixels: Vec<Vec<u8>> = images
            .into_iter()
            .map(|i| to_pixels(i, self.config.image_size))
            .collect();
        let mut out = Vec::with_capacity(pixels.len());
        for (p, px) in prompts.chunks(SCORE_BATCH).zip(pixels.chunks(SCORE_BATCH)) {
            out.extend(self.score_pixels(p, px)?);
        }
        Ok(out)
    }

    /// One forward pass over RGB u8 pixels (HWC, `image_size`²), prompts deduplicated.
    fn score_pixels(
        &self,
        prompts: &[&str],
        pixels: &[Vec<u8>],
    ) -> Result<Vec<BTreeMap<String, HeadScore>>> {
        let n = pixels.len();
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
        let mut data = vec![0f32; n * 3 * plane];
        for (i, px) in pixels.iter().enumerate() {
            for (k, rgb) in px.chunks_exact(3).enumerate().take(plane) {
                for c in 0..3 {
                    data[i * 3 * plane + c * plane + k] = f32::from(rgb[c]) / 127.5 - 1.0;
                }
            }
        }
        let images = Tensor::<4>::from_data(TensorData::new(data, [n, 3, s, s]), &self.device);
        let (ids, mask) = self.tokenizer.encode_tensors(&distinct, &self.device)?;
        let index = Tensor::<1, Int>::from_data(TensorData::new(rows, [n]), &self.device);
        let out = self.model.forward_with_prompts(images, ids, mask, index);
        let read = |t: Tensor<1>| -> Result<Vec<f32>> {
            t.try_into_vec_as::<f32>()
                .map_err(|e| TrainError::Training(e.to_string()))
        };
        let mut result = vec![BTreeMap::new(); n];
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
                result[i].insert(
                    c.name().to_string(),
                    HeadScore {
                        score: f64::from(sv[i]),
                        rating,
                    },
                );
            }
        }
        Ok(result)
    }
}
