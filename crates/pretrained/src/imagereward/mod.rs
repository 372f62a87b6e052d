//! ImageReward, THUDM's text-to-image reward model (THUDM/ImageReward, `ImageReward/
//! ImageReward.py`, v1.0), loaded from its official checkpoint: the BLIP backbone of
//! [`crate::blip`] reads the prompt while cross-attending to the image, the text encoder's
//! `[CLS]` state is the feature, and an affine head maps it to a reward, normalised with the
//! constants the official code hard-codes.
//!
//! ```no_run
//! # fn main() -> Result<(), pretrained::PretrainedError> {
//! use pretrained::imagereward::ImageReward;
//! let device = burn::tensor::Device::default();
//! // ImageReward.pt with med_config.json and bert-base-uncased's vocab.txt beside it.
//! let model = ImageReward::from_checkpoint("ImageReward/ImageReward.pt", &device)?;
//! let rewards = model.score_paths("a red bicycle", &["a.png", "b.png"])?;
//! let (ranks, rewards) = model.inference_rank_paths("a red bicycle", &["a.png", "b.png"])?;
//! # Ok(()) }
//! ```
//!
//! The module tree ([`ImageRewardModel`]) mirrors the checkpoint's keys (`blip.visual_encoder.
//! ..`, `blip.text_encoder..`, `mlp.layers.{0,2,4,6,7}`); the backbone's layers are public so
//! that a caller can freeze the first ones and cache their outputs.

use std::path::Path;

use burn::prelude::*;
use image::DynamicImage;

use crate::PretrainedError;
use crate::blip::{BlipTokenizer, MED_KEY_REMAP, TokenizedPrompt};
use crate::load::{load_pytorch, load_safetensors};
use crate::preprocess::{
    CropOffset, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, PilFilter, PreparedImage, Rescale, center_crop,
    load_image, resize, shortest_edge_size, stack_prepared, to_chw, to_rgb,
};

mod config;
mod model;
#[cfg(test)]
mod parity_tests;

pub use config::{ImageRewardConfig, VIT_CONFIG_FILE, checkpoint_shapes, vit_config_from_shapes};
use config::{is_safetensors, sibling};
pub use model::{Blip, ImageRewardModel, RewardMlp};

/// `ImageReward.__init__`'s `self.mean`: the raw head output's mean over the training data.
pub const REWARD_MEAN: f64 = 0.16717362830052426;

/// `ImageReward.__init__`'s `self.std`.
pub const REWARD_STD: f64 = 1.0333394966054072;

/// Checkpoint keys that the official state dict holds but scoring never reads: the text
/// encoder's `position_ids` buffer and BLIP's contrastive projections. Loading ignores exactly
/// these (regexes over the keys as written); any other key without a place in the model is an
/// error.
pub const EXPECTED_UNUSED_KEYS: &[&str] = &[
    r"^blip\.text_encoder\.embeddings\.position_ids$",
    r"^blip\.vision_proj\.(weight|bias)$",
    r"^blip\.text_proj\.(weight|bias)$",
];

/// The official `inference_rank`'s ranks: `rank[i]` is 1 for the highest reward, 2 for the next,
/// and so on (`_, rank = torch.sort(rewards, descending=True); _, indices = torch.sort(rank);
/// indices + 1`). Equal rewards keep their input order.
pub fn ranks_of(rewards: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rewards.len()).collect();
    order.sort_by(|&a, &b| rewards[b].total_cmp(&rewards[a]));
    let mut ranks = vec![0; rewards.len()];
    for (position, &index) in order.iter().enumerate() {
        ranks[index] = position + 1;
    }
    ranks
}

/// ImageReward's image preprocessing (`ImageReward.py`'s `_transform(224)`, the CLIP
/// transform): torchvision `Resize(size, BICUBIC)` on the image in its own mode (Pillow's
/// bicubic; the shorter side becomes `size`, the longer `int(size * long / short)`),
/// `CenterCrop(size)` (offsets `int(round((side - size) / 2))`, half to even), `convert('RGB')`
/// after both (grey replicated, alpha dropped), `ToTensor` (`/255` in float32) and `Normalize`
/// with CLIP's mean and std.
pub fn prepare_image(image: &DynamicImage, size: u32) -> PreparedImage {
    let (width, height) = shortest_edge_size(image.width(), image.height(), size);
    let resized = resize(image, width, height, PilFilter::Bicubic);
    let resized_size = (resized.width(), resized.height());
    // Cropping commutes with the mode conversion, which only maps each pixel.
    let (pixels, crop_offsets) =
        center_crop(&to_rgb(&resized), size, size, CropOffset::Torchvision);
    let pixel_values = to_chw(
        &pixels,
        Rescale::DivideBy255,
        OPENAI_CLIP_MEAN,
        OPENAI_CLIP_STD,
    );
    PreparedImage {
        resized_size,
        crop_offsets,
        pixels,
        pixel_values,
    }
}

/// ImageReward ready to score: the model, its tokenizer and the image preprocessing.
#[derive(Debug)]
pub struct ImageReward {
    model: ImageRewardModel,
    tokenizer: BlipTokenizer,
    config: ImageRewardConfig,
    device: Device,
    batch_size: usize,
}

impl ImageReward {
    /// Loads a checkpoint (`ImageReward.pt` or a `.safetensors` copy of its state dict) with
    /// what sits beside it: `med_config.json` (as the official download has it), and the
    /// tokenizer, `tokenizer.json` or else bert-base-uncased's `vocab.txt`. The image encoder's
    /// sizes come from the tensors ([`ImageRewardConfig::beside`]).
    pub fn from_checkpoint(
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<Self, PretrainedError> {
        let path = path.as_ref();
        let config = ImageRewardConfig::beside(path)?;
        let tokenizer_path = ["tokenizer.json", "vocab.txt"]
            .into_iter()
            .map(|name| sibling(path, name))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| PretrainedError::Tokenizer {
                path: sibling(path, "tokenizer.json"),
                message: "neither tokenizer.json nor vocab.txt is beside the checkpoint (put \
                          bert-base-uncased's there, or use ImageReward::from_checkpoint_with)"
                    .into(),
            })?;
        let tokenizer = BlipTokenizer::from_file(&tokenizer_path, config.max_length)?;
        Self::from_checkpoint_with(path, config, tokenizer, device)
    }

    /// Loads a checkpoint with a given config and tokenizer. Loading is strict: a tensor that is
    /// missing, unexpected (beyond [`EXPECTED_UNUSED_KEYS`]) or misshaped is an error naming it.
    pub fn from_checkpoint_with(
        path: impl AsRef<Path>,
        config: ImageRewardConfig,
        tokenizer: BlipTokenizer,
        device: &Device,
    ) -> Result<Self, PretrainedError> {
        let path = path.as_ref();
        config
            .validate()
            .map_err(|message| PretrainedError::Config {
                path: path.to_path_buf(),
                message,
            })?;
        if tokenizer.vocab_size() > config.med.vocab_size {
            return Err(PretrainedError::Tokenizer {
                path: tokenizer.source().to_path_buf(),
                message: format!(
                    "{} token ids, but the text encoder embeds only {}",
                    tokenizer.vocab_size(),
                    config.med.vocab_size
                ),
            });
        }
        if tokenizer.max_length() != config.max_length {
            return Err(PretrainedError::Tokenizer {
                path: tokenizer.source().to_path_buf(),
                message: format!(
                    "pads to {} tokens, the config to {}",
                    tokenizer.max_length(),
                    config.max_length
                ),
            });
        }
        let module = config.init(device);
        let model = if is_safetensors(path) {
            load_safetensors(module, path, MED_KEY_REMAP, EXPECTED_UNUSED_KEYS)?
        } else {
            load_pytorch(module, path, MED_KEY_REMAP, EXPECTED_UNUSED_KEYS)?
        };
        Ok(Self {
            model,
            tokenizer,
            config,
            device: device.clone(),
            batch_size: 32,
        })
    }

    /// Scores at most `batch_size` images per forward pass (32 by default).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The modules.
    pub fn model(&self) -> &ImageRewardModel {
        &self.model
    }

    /// The modules, the tokenizer and the config, to train or cache from.
    pub fn into_parts(self) -> (ImageRewardModel, BlipTokenizer, ImageRewardConfig) {
        (self.model, self.tokenizer, self.config)
    }

    /// The config the model was built from.
    pub fn config(&self) -> &ImageRewardConfig {
        &self.config
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &BlipTokenizer {
        &self.tokenizer
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// `tokenizer(prompt, padding='max_length', truncation=True, max_length=35)`.
    pub fn tokenize(&self, prompt: &str) -> Result<TokenizedPrompt, PretrainedError> {
        self.tokenizer.encode(prompt)
    }

    /// The prompt as `[batch, length]` id and mask tensors, repeated for each image.
    fn prompt_tensors(
        &self,
        prompt: &str,
        batch: usize,
    ) -> Result<(Tensor<2, Int>, Tensor<2, Int>), PretrainedError> {
        let tokens = self.tokenize(prompt)?;
        let length = tokens.input_ids.len();
        let tensor = |values: &[u32]| {
            let values: Vec<i64> = values.iter().map(|&v| i64::from(v)).collect();
            Tensor::<2, Int>::from_data(TensorData::new(values, [1, length]), &self.device)
                .repeat_dim(0, batch)
        };
        Ok((tensor(&tokens.input_ids), tensor(&tokens.attention_mask)))
    }

    /// Features (`last_hidden_state[:, 0, :]`) of the prompt with each image of a batch of
    /// preprocessed pixels `[batch, 3, size, size]`: `[batch, hidden]`.
    pub fn features(&self, prompt: &str, pixels: Tensor<4>) -> Result<Tensor<2>, PretrainedError> {
        let [batch, channels, height, width] = pixels.dims();
        let size = self.config.vit.image_size;
        if channels != 3 || height != size || width != size {
            return Err(PretrainedError::Input {
                message: format!(
                    "pixels of shape [{batch}, {channels}, {height}, {width}], the image encoder \
                     takes [batch, 3, {size}, {size}]"
                ),
            });
        }
        if batch == 0 {
            return Err(PretrainedError::Input {
                message: "an empty batch of images".into(),
            });
        }
        let (ids, mask) = self.prompt_tensors(prompt, batch)?;
        let image_embeds = self.model.image_embeds(pixels);
        Ok(self.model.features(ids, mask, image_embeds))
    }

    /// Rewards of the prompt with each image of a batch of preprocessed pixels, in one forward
    /// pass (the official `score` runs one image per call; the numbers are the same).
    pub fn score_pixels(
        &self,
        prompt: &str,
        pixels: Tensor<4>,
    ) -> Result<Vec<f32>, PretrainedError> {
        let features = self.features(prompt, pixels)?;
        tensor_values(self.model.rewards(features))
    }

    /// [`prepare_image`] at the model's image size, for a batch: `[batch, 3, size, size]`.
    pub fn preprocess(&self, images: &[DynamicImage]) -> Result<Tensor<4>, PretrainedError> {
        let size = image_side(self.config.vit.image_size)?;
        let prepared: Vec<PreparedImage> = images
            .iter()
            .map(|image| prepare_image(image, size))
            .collect();
        stack_prepared(&prepared, &self.device)
    }

    /// `ImageReward.score(prompt, image)` for each image, batched: at most the batch size (see
    /// [`Self::with_batch_size`]) of images go through the model in one forward pass. An empty
    /// list gives an empty result.
    pub fn score(
        &self,
        prompt: &str,
        images: &[DynamicImage],
    ) -> Result<Vec<f32>, PretrainedError> {
        let mut rewards = Vec::with_capacity(images.len());
        for chunk in images.chunks(self.batch_size) {
            rewards.extend(self.score_pixels(prompt, self.preprocess(chunk)?)?);
        }
        Ok(rewards)
    }

    /// [`Self::score`] on image files (PNG, JPEG, WebP), decoded in their own mode as Pillow
    /// opens them.
    pub fn score_paths<P: AsRef<Path>>(
        &self,
        prompt: &str,
        paths: &[P],
    ) -> Result<Vec<f32>, PretrainedError> {
        let mut rewards = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(self.batch_size) {
            let images = chunk
                .iter()
                .map(load_image)
                .collect::<Result<Vec<_>, _>>()?;
            rewards.extend(self.score(prompt, &images)?);
        }
        Ok(rewards)
    }

    /// `ImageReward.inference_rank(prompt, images)`: each image's rank (1 = highest reward,
    /// see [`ranks_of`]) and its reward.
    pub fn inference_rank(
        &self,
        prompt: &str,
        images: &[DynamicImage],
    ) -> Result<(Vec<usize>, Vec<f32>), PretrainedError> {
        let rewards = self.score(prompt, images)?;
        Ok((ranks_of(&rewards), rewards))
    }

    /// [`Self::inference_rank`] on image files.
    pub fn inference_rank_paths<P: AsRef<Path>>(
        &self,
        prompt: &str,
        paths: &[P],
    ) -> Result<(Vec<usize>, Vec<f32>), PretrainedError> {
        let rewards = self.score_paths(prompt, paths)?;
        Ok((ranks_of(&rewards), rewards))
    }
}

/// The model's image size as a pixel count.
fn image_side(size: usize) -> Result<u32, PretrainedError> {
    u32::try_from(size).map_err(|_| PretrainedError::Input {
        message: format!("image size {size} does not fit in 32 bits"),
    })
}

/// A float tensor's values as `f32`.
fn tensor_values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, PretrainedError> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| PretrainedError::Input {
            message: format!("cannot read the model's output: {e:?}"),
        })
}
