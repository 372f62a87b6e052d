//! CLIP score and PickScore: both a Hugging Face CLIP folder's cosine of image and prompt, the
//! first clipped and stretched as Hessel et al. define CLIPScore, the second scaled by the
//! model's learned `exp(logit_scale)` as PickScore's README computes it.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use pretrained::clip::ClipModel;
use pretrained::clip_tokenizer::{ClipTokenizer, default_bpe_path};
use pretrained::preprocess::{ClipImageProcessor, ResizeTo};

use super::{CLIP_BPE_FILE, CLIP_SCORE_WEIGHT, DEFAULT_BATCH, paired_cosines, values};
use crate::error::{Result, ScoringError};

/// CLIP score with a CLIP model ready to run.
pub struct ClipScore {
    /// The scorer its errors name (`clip-score`, `pickscore`).
    scorer: &'static str,
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
        Self::load_as("clip-score", dir, device)
    }

    /// [`ClipScore::load`], with errors naming `scorer`.
    fn load_as(scorer: &'static str, dir: &Path, device: &Device) -> Result<Self> {
        let load_error = |error| ScoringError::Load { scorer, error };
        let checkpoint = ClipModel::from_folder(dir, device).map_err(load_error)?;
        let tokenizer = match checkpoint.tokenizer {
            Some(t) => t,
            None => {
                let beside = dir.join(CLIP_BPE_FILE);
                if !beside.is_file() {
                    // Said before anything is built: the error names both places.
                    default_bpe_path().map_err(|e| ScoringError::NoTokenizer {
                        scorer,
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
            scorer,
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
        paired_cosines(
            self.scorer,
            &self.model,
            items,
            self.batch_size,
            &self.device,
            |paths| self.processor.preprocess_files(paths, &self.device),
            |prompts| self.tokenizer.encode_batch(prompts),
        )
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

/// PickScore: a CLIP folder whose learned `logit_scale` stays in the score.
#[derive(Debug)]
pub struct PickScore {
    clip: ClipScore,
    scale: f64,
}

impl PickScore {
    /// Loads PickScore's Hugging Face folder as [`ClipScore::load`] loads a CLIP folder.
    /// `yuvalkirstain/PickScore_v1` holds `config.json` and `model.safetensors`; its processor
    /// is `laion/CLIP-ViT-H-14-laion2B-s32B-b79K`'s, whose `preprocessor_config.json` and
    /// `tokenizer.json` can go beside them (without them: CLIP's preprocessing at the model's
    /// image size and OpenAI's BPE, which is what they state).
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let clip = ClipScore::load_as("pickscore", dir, device)?;
        let scale = values(clip.model.scale())
            .map_err(|error| ScoringError::Load {
                scorer: "pickscore",
                error,
            })?
            .first()
            .copied()
            .unwrap_or(1.0);
        Ok(Self { clip, scale })
    }

    /// Scores at most `batch_size` images per forward pass (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.clip = self.clip.with_batch_size(batch_size);
        self
    }

    /// `exp(logit_scale)`, the factor between a cosine and a score.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// PickScores, `exp(logit_scale) * cos`, one per item, in order.
    pub fn score_values(&self, items: &[(String, PathBuf)]) -> Result<Vec<f64>> {
        Ok(self
            .clip
            .cosines(items)?
            .into_iter()
            .map(|c| self.scale * c)
            .collect())
    }
}
