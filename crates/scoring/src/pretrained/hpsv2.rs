//! HPSv2 and HPSv2.1 (Wu et al. 2023): an OpenCLIP ViT-H/14 fine-tuned on HPDv2, scored as
//! `hpsv2.score` does: the cosine of the normalised image and prompt features (no logit scale),
//! images through OpenCLIP's pad-to-square transform, prompts through OpenCLIP's tokenizer.
//! Both versions are one architecture; the checkpoint (`HPS_v2_compressed.pt`,
//! `HPS_v2.1_compressed.pt`, weights under `state_dict`) says which.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use pretrained::clip::{ClipModel, OpenClipConfig};
use pretrained::clip_tokenizer::default_bpe_path;
use pretrained::open_clip_tokenizer::OpenClipTokenizer;
use pretrained::preprocess::PadToSquare;

use super::{CLIP_BPE_FILE, DEFAULT_BATCH, paired_cosines};
use crate::error::{Result, ScoringError};

/// Beside an HPSv2 checkpoint whose model is not ViT-H-14 (a small test model): its OpenCLIP
/// model config (the format of OpenCLIP's `model_configs/*.json`), since the number of attention
/// heads is in no tensor. The released checkpoints need none.
pub const OPEN_CLIP_CONFIG_FILE: &str = "open_clip_config.json";

/// HPSv2 ready to run.
pub struct Hpsv2Score {
    model: ClipModel,
    transform: PadToSquare,
    tokenizer: OpenClipTokenizer,
    device: Device,
    batch_size: usize,
}

impl std::fmt::Debug for Hpsv2Score {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hpsv2Score")
            .field("transform", &self.transform)
            .field("tokenizer", &self.tokenizer)
            .field("batch_size", &self.batch_size)
            .finish()
    }
}

impl Hpsv2Score {
    /// Loads an HPSv2 checkpoint (see [`ClipModel::from_open_clip_checkpoint`]) as ViT-H-14, or
    /// as [`OPEN_CLIP_CONFIG_FILE`] beside it says. The tokenizer is built from
    /// `bpe_simple_vocab_16e6.txt.gz` beside the checkpoint, else from the shared folder's copy
    /// ([`default_bpe_path`]); OpenCLIP's own package ships the same file.
    pub fn load(checkpoint: &Path, device: &Device) -> Result<Self> {
        let load_error = |error| ScoringError::Load {
            scorer: "hpsv2",
            error,
        };
        let config_path = checkpoint.with_file_name(OPEN_CLIP_CONFIG_FILE);
        let config = if config_path.is_file() {
            OpenClipConfig::from_file(&config_path).map_err(load_error)?
        } else {
            OpenClipConfig::vit_h_14()
        };
        let beside = checkpoint.with_file_name(CLIP_BPE_FILE);
        let bpe = if beside.is_file() {
            beside
        } else {
            default_bpe_path().map_err(|e| ScoringError::NoTokenizer {
                scorer: "hpsv2",
                dir: checkpoint
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
                shared: e.to_string(),
            })?
        };
        let tokenizer = OpenClipTokenizer::from_bpe_file(&bpe).map_err(load_error)?;
        let context = config.text_cfg.context_length;
        let tokenizer = if context < tokenizer.context_length() {
            tokenizer.with_context_length(context).map_err(load_error)?
        } else {
            tokenizer
        };
        let model = ClipModel::from_open_clip_checkpoint(checkpoint, &config, device)
            .map_err(load_error)?;
        Ok(Self {
            model,
            transform: PadToSquare::new(config.vision_cfg.image_size as u32),
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

    /// HPS, the cosine of each image with its prompt, one per item, in order.
    pub fn score_values(&self, items: &[(String, PathBuf)]) -> Result<Vec<f64>> {
        paired_cosines(
            "hpsv2",
            &self.model,
            items,
            self.batch_size,
            &self.device,
            |paths| self.transform.preprocess_files(paths, &self.device),
            |prompts| self.tokenizer.encode_batch(prompts),
        )
    }
}
