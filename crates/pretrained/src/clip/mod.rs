//! CLIP (Radford et al. 2021) as transformers implements it in `modeling_clip.py` (`CLIPModel`):
//! a text transformer and a vision transformer, each followed by a bias-free projection into a
//! joint space, compared by cosine similarity scaled by `exp(logit_scale)`.
//!
//! The module tree mirrors the Hugging Face checkpoint's keys (`text_model.encoder.layers.0.
//! self_attn.q_proj.weight`, `vision_model.pre_layrnorm.bias`, `visual_projection.weight`,
//! `logit_scale`), so a `model.safetensors` loads without a key map:
//!
//! ```no_run
//! # fn main() -> Result<(), pretrained::PretrainedError> {
//! use burn::prelude::*;
//! use pretrained::clip::ClipModel;
//! let device = Device::default();
//! let clip = ClipModel::from_folder("clip-vit-base-patch32", &device)?;
//! # Ok(()) }
//! ```
//!
//! Both towers can also run in two parts (the first layers once, frozen and cached; the rest
//! later), through their `embed`, `advance` and `pool` methods.

pub mod config;
pub mod encoder;
pub mod open_clip;
#[cfg(test)]
mod open_clip_parity_tests;
#[cfg(test)]
mod parity_tests;
pub mod text_model;
pub mod vision_model;

use std::path::{Path, PathBuf};

use burn::{
    module::Param,
    nn::{Linear, LinearConfig},
    prelude::*,
    store::{ModuleStore, SafetensorsStore, SafetensorsStoreError, bridge},
};

pub use config::{Activation, ClipConfig, ClipTextConfig, ClipVisionConfig, frozen_layer_count};
pub use encoder::{ClipAttention, ClipEncoder, ClipEncoderLayer, ClipMlp};
pub use open_clip::OpenClipConfig;
pub use text_model::{ClipTextEmbeddings, ClipTextTransformer, TextHiddenState, TextOutput};
pub use vision_model::{
    ClipVisionEmbeddings, ClipVisionTransformer, VisionHiddenState, VisionOutput,
};

use crate::{PretrainedError, clip_tokenizer::ClipTokenizer, load, preprocess::ClipImageProcessor};

/// The whole CLIP model (`CLIPModel`).
#[derive(Module, Debug)]
pub struct ClipModel {
    /// The text tower.
    pub text_model: ClipTextTransformer,
    /// The vision tower.
    pub vision_model: ClipVisionTransformer,
    /// Vision width -> joint space, no bias.
    pub visual_projection: Linear,
    /// Text width -> joint space, no bias.
    pub text_projection: Linear,
    /// Log of the similarity scale `[1]` (the checkpoint stores a 0-d tensor).
    pub logit_scale: Param<Tensor<1>>,
}

/// What [`ClipModel::forward`] returns, as transformers' `CLIPOutput` names it.
#[derive(Debug, Clone)]
pub struct ClipOutput {
    /// Scaled cosine similarities `[images, texts]`.
    pub logits_per_image: Tensor<2>,
    /// Its transpose `[texts, images]`.
    pub logits_per_text: Tensor<2>,
    /// Projected and L2-normalised text features `[texts, P]`.
    pub text_embeds: Tensor<2>,
    /// Projected and L2-normalised image features `[images, P]`.
    pub image_embeds: Tensor<2>,
    /// The text tower's outputs.
    pub text_output: TextOutput,
    /// The vision tower's outputs.
    pub vision_output: VisionOutput,
}

/// A checkpoint folder's contents: the model and whatever else the folder describes.
#[derive(Debug)]
pub struct ClipCheckpoint {
    /// The parsed `config.json`.
    pub config: ClipConfig,
    /// The model with the folder's weights.
    pub model: ClipModel,
    /// The image preprocessing of `preprocessor_config.json`, when the folder has one.
    pub processor: Option<ClipImageProcessor>,
    /// The tokenizer of `tokenizer.json`, when the folder has one.
    pub tokenizer: Option<ClipTokenizer>,
}

impl ClipConfig {
    /// Builds a randomly initialised model of these sizes (`logit_scale` at
    /// `logit_scale_init_value`).
    pub fn init(&self, device: &Device) -> ClipModel {
        ClipModel {
            text_model: self.text_config.init(device),
            vision_model: self.vision_config.init(device),
            visual_projection: LinearConfig::new(
                self.vision_config.hidden_size,
                self.projection_dim,
            )
            .with_bias(false)
            .init(device),
            text_projection: LinearConfig::new(self.text_config.hidden_size, self.projection_dim)
                .with_bias(false)
                .init(device),
            logit_scale: Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![self.logit_scale_init_value as f32], [1]),
                device,
            )),
        }
    }
}

impl ClipModel {
    /// Loads a Hugging Face CLIP folder: `config.json` and `model.safetensors`, plus
    /// `preprocessor_config.json` and `tokenizer.json` when present.
    ///
    /// # Errors
    ///
    /// When a file cannot be read or parsed, or the weights do not fit the config (every
    /// missing, unexpected or misshaped tensor is named).
    pub fn from_folder(
        dir: impl AsRef<Path>,
        device: &Device,
    ) -> Result<ClipCheckpoint, PretrainedError> {
        let dir = dir.as_ref();
        let config = ClipConfig::from_file(dir.join("config.json"))?;
        let model = config
            .init(device)
            .load_safetensors(&dir.join("model.safetensors"))?;
        let processor_path = dir.join("preprocessor_config.json");
        let processor = processor_path
            .exists()
            .then(|| ClipImageProcessor::from_file(&processor_path))
            .transpose()?;
        let tokenizer_path = dir.join("tokenizer.json");
        let tokenizer = tokenizer_path
            .exists()
            .then(|| ClipTokenizer::from_file(&tokenizer_path))
            .transpose()?;
        Ok(ClipCheckpoint {
            config,
            model,
            processor,
            tokenizer,
        })
    }

    /// Replaces every parameter with a `CLIPModel` checkpoint's, strictly.
    ///
    /// The `position_ids` buffers that older checkpoints saved are skipped (they are
    /// `arange(n)`, which the model computes). `logit_scale` is read on its own because PyTorch
    /// stores it as a 0-d tensor and a burn parameter has at least one dimension.
    ///
    /// # Errors
    ///
    /// As for [`load::load_safetensors`]; a missing or non-scalar `logit_scale` is named too.
    pub fn load_safetensors(self, path: &Path) -> Result<Self, PretrainedError> {
        let Self {
            text_model,
            vision_model,
            visual_projection,
            text_projection,
            logit_scale,
        } = self;
        let device = logit_scale.val().device();
        // Everything but the scalar goes through the strict loader, under the same key names.
        let towers = load::load_safetensors(
            Towers {
                text_model,
                vision_model,
                visual_projection,
                text_projection,
            },
            path,
            &[],
            &[
                r"^logit_scale$",
                r"^(text|vision)_model\.embeddings\.position_ids$",
            ],
        )?;
        let scale = read_scalar(path, "logit_scale")?;
        Ok(Self {
            text_model: towers.text_model,
            vision_model: towers.vision_model,
            visual_projection: towers.visual_projection,
            text_projection: towers.text_projection,
            logit_scale: Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![scale], [1]),
                &device,
            )),
        })
    }

    /// Projected text features `[B, P]` (not normalised, as transformers'
    /// `get_text_features`).
    ///
    /// # Errors
    ///
    /// As for [`ClipTextTransformer::embed`].
    pub fn get_text_features(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<Tensor<2, Int>>,
    ) -> Result<Tensor<2>, PretrainedError> {
        let text = self.text_model.forward(input_ids, attention_mask)?;
        Ok(self.text_projection.forward(text.pooler_output))
    }

    /// Projected image features `[B, P]` (not normalised, as transformers'
    /// `get_image_features`).
    ///
    /// # Errors
    ///
    /// As for [`ClipVisionTransformer::embed`].
    pub fn get_image_features(
        &self,
        pixel_values: Tensor<4>,
    ) -> Result<Tensor<2>, PretrainedError> {
        let vision = self.vision_model.forward(pixel_values)?;
        Ok(self.visual_projection.forward(vision.pooler_output))
    }

    /// `exp(logit_scale)`: the factor between cosine similarity and logit.
    pub fn scale(&self) -> Tensor<1> {
        self.logit_scale.val().exp()
    }

    /// Scaled cosine similarities `[images, texts]` of unnormalised features.
    pub fn logits_per_image(
        &self,
        image_features: Tensor<2>,
        text_features: Tensor<2>,
    ) -> Tensor<2> {
        let similarity = normalize(image_features).matmul(normalize(text_features).transpose());
        similarity * self.scale().unsqueeze::<2>()
    }

    /// Both towers on a batch of images `[I, C, S, S]` and texts `[T, L]`: logits for every
    /// (image, text) pair.
    ///
    /// # Errors
    ///
    /// As for the towers' `embed`.
    pub fn forward(
        &self,
        pixel_values: Tensor<4>,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<Tensor<2, Int>>,
    ) -> Result<ClipOutput, PretrainedError> {
        let vision_output = self.vision_model.forward(pixel_values)?;
        let text_output = self.text_model.forward(input_ids, attention_mask)?;
        let image_embeds = normalize(
            self.visual_projection
                .forward(vision_output.pooler_output.clone()),
        );
        let text_embeds = normalize(
            self.text_projection
                .forward(text_output.pooler_output.clone()),
        );
        // transformers computes logits_per_text = text @ image^T * scale and transposes it.
        let logits_per_text = text_embeds.clone().matmul(image_embeds.clone().transpose())
            * self.scale().unsqueeze::<2>();
        Ok(ClipOutput {
            logits_per_image: logits_per_text.clone().transpose(),
            logits_per_text,
            text_embeds,
            image_embeds,
            text_output,
            vision_output,
        })
    }
}

/// [`ClipModel`] without `logit_scale`: what the strict loader fills.
#[derive(Module, Debug)]
struct Towers {
    text_model: ClipTextTransformer,
    vision_model: ClipVisionTransformer,
    visual_projection: Linear,
    text_projection: Linear,
}

/// Divides each row by its L2 norm (transformers' `_get_vector_norm`: no epsilon).
pub fn normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt();
    x / norm
}

/// Reads a one-element tensor of a SafeTensors file as f32.
fn read_scalar(path: &Path, key: &str) -> Result<f32, PretrainedError> {
    let weights_error = |details: String| PretrainedError::Weights {
        path: path.to_path_buf(),
        details,
    };
    let mut store = SafetensorsStore::from_file(PathBuf::from(path));
    let tensor = store
        .get_tensor(key)
        .map_err(|e| match e {
            SafetensorsStoreError::Io(source) => PretrainedError::Io {
                path: path.to_path_buf(),
                source,
            },
            other => weights_error(format!("  not a readable SafeTensors file: {other}")),
        })?
        .ok_or_else(|| {
            weights_error(format!(
                "  missing: no checkpoint key (after remapping) for parameter `{key}`"
            ))
        })?;
    let data = bridge::to_data(tensor)
        .map_err(|e| weights_error(format!("  unreadable: checkpoint key `{key}`: {e}")))?;
    let shape = data.shape().to_vec();
    let values = data
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| weights_error(format!("  unreadable: checkpoint key `{key}`: {e:?}")))?;
    match values[..] {
        [value] => Ok(value),
        _ => Err(weights_error(format!(
            "  misshaped: checkpoint key `{key}` has shape {shape:?}, the model expects a scalar"
        ))),
    }
}

/// A [`PretrainedError::Input`] with this message.
pub(crate) fn input_error(message: String) -> PretrainedError {
    PretrainedError::Input { message }
}

/// Checks that every one of a tower's `layers` has run (`done` of them), before pooling.
pub(crate) fn check_complete(done: usize, layers: usize) -> Result<(), PretrainedError> {
    if done != layers {
        return Err(input_error(format!(
            "pooling needs all {layers} layers, {done} have run"
        )));
    }
    Ok(())
}

/// Checks that layers `done..until` exist and are in order.
pub(crate) fn check_range(done: usize, until: usize, layers: usize) -> Result<(), PretrainedError> {
    if until < done || until > layers {
        return Err(input_error(format!(
            "cannot run layers {done}..{until} of a model with {layers} layers"
        )));
    }
    Ok(())
}
