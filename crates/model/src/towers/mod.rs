//! The reward model's two towers: the small encoders trained from scratch, or pretrained ones
//! (CLIP's vision and text towers, a BERT-family text encoder) cut in two at a freeze ratio.
//!
//! A pretrained tower of `n` layers with `k = int(freeze * n)` frozen layers (ImageReward's
//! `fix_rate`) is split into:
//!
//! * a [`FrozenEncoder`]: embeddings and layers `0..k`, never trained, run once per image and
//!   prompt (or read back from an embedding cache);
//! * a trainable top inside the [`RewardModel`](crate::RewardModel): layers `k..n`, the final
//!   norm and a projection to `d_model`, after which fusion and heads are the same as for the
//!   scratch encoders.
//!
//! So the model's image input is either pixels (scratch) or the frozen layers' hidden states
//! ([`ImageInput`]), and likewise for prompts ([`TextInput`]).
//!
//! One job per file: this module holds the kinds, the cut's spec and the towers with their
//! inputs; [`tops`] the trainable tops, [`frozen`] the frozen encoder, [`load`] loading a
//! checkpoint cut in two.

use std::path::{Path, PathBuf};

use burn::{
    nn::{LayerNorm, Linear, LinearConfig},
    prelude::*,
};
use pretrained::{
    PretrainedError,
    bert::{BertConfig, BertLayer, BertModel, Pooling, SentenceEncoder},
    blip::{BlipTokenizer, BlipVisionTransformer, MedTextEncoder, VitBlock},
    clip::{
        ClipConfig, ClipEncoderLayer, ClipModel, ClipTextTransformer, ClipVisionTransformer,
        frozen_layer_count,
    },
    clip_tokenizer::ClipTokenizer,
    imagereward::{ImageReward, ImageRewardConfig, prepare_image},
    preprocess::{ClipImageProcessor, ResizeTo, stack_prepared},
};
use serde::{Deserialize, Serialize};

use crate::{
    ImageEncoder, ImageFeatures, ModelConfig, ModelError, TextEncoder, TextFeatures,
    text_encoder::masked_mean_tokens,
};

/// Which pretrained checkpoint the towers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PretrainedKind {
    /// A Hugging Face CLIP folder: both towers.
    Clip,
    /// A Hugging Face BERT-family folder: the text tower; images keep the scratch encoder.
    Bert,
    /// ImageReward's BLIP backbone (an `ImageReward.pt` or its safetensors copy): the ViT encodes
    /// the images, and its text encoder reads the prompt while cross-attending to them, which
    /// is the fusion; the overall head starts as ImageReward's head.
    Blip,
}

impl PretrainedKind {
    /// The name used in config files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Clip => "clip",
            Self::Bert => "bert",
            Self::Blip => "blip",
        }
    }
}

/// Everything needed to rebuild the pretrained towers of a saved model: the checkpoint's own
/// config (so the model's shapes do not depend on the folder still being there) and where the
/// cut is. Scoring new images still needs the checkpoint folder for the frozen layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainedSpec {
    pub kind: PretrainedKind,
    /// The checkpoint folder (CLIP, BERT) or file (BLIP), as given.
    pub path: PathBuf,
    /// The checkpoint's `config.json`, verbatim (BLIP: the [`ImageRewardConfig`] it was read as).
    pub checkpoint_config: serde_json::Value,
    /// The freeze ratio the cut was computed from.
    pub freeze: f64,
    /// Frozen layers of the image tower (`None`: the images use the scratch encoder).
    pub image_frozen: Option<usize>,
    /// Frozen layers of the text tower.
    pub text_frozen: usize,
    /// The checkpoint pools its sentence vector by `[CLS]` rather than the mean (BERT folders
    /// whose sentence-transformers pooling says so).
    #[serde(default)]
    pub cls_pooling: bool,
}

fn config_error(spec: &PretrainedSpec, message: impl std::fmt::Display) -> ModelError {
    ModelError::InvalidConfig(format!(
        "pretrained {} config of {}: {message}",
        spec.kind.name(),
        spec.path.display()
    ))
}

impl PretrainedSpec {
    fn clip_config(&self) -> Result<ClipConfig, ModelError> {
        ClipConfig::from_json_str(
            &self.checkpoint_config.to_string(),
            &self.path.join("config.json"),
        )
        .map_err(|e| config_error(self, e))
    }

    /// The sizes of a BLIP / ImageReward backbone.
    pub fn imagereward_config(&self) -> Result<ImageRewardConfig, ModelError> {
        serde_json::from_value(self.checkpoint_config.clone()).map_err(|e| config_error(self, e))
    }

    fn bert_config(&self) -> Result<BertConfig, ModelError> {
        let serde_json::Value::Object(map) = &self.checkpoint_config else {
            return Err(config_error(self, "config.json is not a JSON object"));
        };
        BertConfig::from_json(map, &self.path.join("config.json"))
            .map_err(|e| config_error(self, e))
    }
}

pub mod frozen;
pub mod load;
pub mod tops;

pub use frozen::*;
pub use load::*;
pub use tops::*;

/// The image tower of a [`RewardModel`](crate::RewardModel).
#[derive(Module, Debug)]
pub enum ImageTower {
    Scratch(ImageEncoder),
    Clip(ClipVisionTop),
    Blip(BlipVisionTop),
}

/// The text tower of a [`RewardModel`](crate::RewardModel).
#[derive(Module, Debug)]
pub enum TextTower {
    Scratch(TextEncoder),
    Clip(ClipTextTop),
    Bert(BertTop),
    /// BLIP's text encoder: it reads token ids and fuses them with the image tokens itself
    /// ([`RewardModel::forward_inputs`](crate::RewardModel::forward_inputs)).
    Blip(MedTextEncoder),
}

/// Images as the model reads them.
#[derive(Debug, Clone)]
pub enum ImageInput {
    /// `[B, 3, S, S]` pixels in `[-1, 1]`, for the scratch image encoder.
    Pixels(Tensor<4>),
    /// `[B, T, D]` hidden states after a pretrained tower's frozen layers.
    Hidden(Tensor<3>),
}

impl ImageInput {
    /// The rows `index` `[M]` of the batch.
    pub fn select(self, index: Tensor<1, Int>) -> Self {
        match self {
            Self::Pixels(x) => Self::Pixels(x.select(0, index)),
            Self::Hidden(x) => Self::Hidden(x.select(0, index)),
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        match self {
            Self::Pixels(x) => x.dims()[0],
            Self::Hidden(x) => x.dims()[0],
        }
    }

    /// Whether the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Prompts as the model reads them; `mask` `[T, L]` is 1 for tokens, 0 for padding.
#[derive(Debug, Clone)]
pub enum TextInput {
    /// Token ids `[T, L]`, for the scratch text encoder.
    Ids {
        ids: Tensor<2, Int>,
        mask: Tensor<2, Int>,
    },
    /// `[T, L, D]` hidden states after a pretrained tower's frozen layers.
    Hidden {
        hidden: Tensor<3>,
        mask: Tensor<2, Int>,
    },
}

impl ImageTower {
    /// Builds the tower `config` describes (pretrained tops with random weights, to be loaded).
    pub(crate) fn new(config: &ModelConfig, device: &Device) -> Result<Self, ModelError> {
        match &config.pretrained {
            Some(spec) if spec.kind == PretrainedKind::Blip => {
                let vit = spec.imagereward_config()?.vit;
                let k = spec.image_frozen.unwrap_or(0);
                if k > vit.depth {
                    return Err(config_error(spec, "more frozen blocks than blocks"));
                }
                let full = vit.init(device);
                Ok(Self::Blip(BlipVisionTop {
                    blocks: full.blocks.into_iter().skip(k).collect(),
                    norm: full.norm,
                }))
            }
            Some(spec) if spec.image_frozen.is_some() => {
                let vision = spec.clip_config()?.vision_config;
                let k = spec.image_frozen.unwrap_or(0);
                if k > vision.num_hidden_layers {
                    return Err(config_error(spec, "more frozen layers than layers"));
                }
                let full = vision.init(device);
                Ok(Self::Clip(ClipVisionTop {
                    layers: full.encoder.layers.into_iter().skip(k).collect(),
                    post_layernorm: full.post_layernorm,
                    proj: LinearConfig::new(vision.hidden_size, config.d_model).init(device),
                }))
            }
            _ => Ok(Self::Scratch(ImageEncoder::new(config, device))),
        }
    }

    /// Whether the tower needs each image's pooled prompt vector (a FiLM-conditioned stem).
    pub fn conditioned(&self) -> bool {
        matches!(self, Self::Scratch(e) if e.conditioned())
    }

    /// Encodes a batch of images.
    ///
    /// # Panics
    /// If the input kind does not match the tower (pixels for the scratch encoder, hidden states
    /// for a pretrained one): a programming error, as a shape mismatch is in burn.
    pub fn forward(&self, images: ImageInput, prompt: Option<Tensor<2>>) -> ImageFeatures {
        match (self, images) {
            (Self::Scratch(e), ImageInput::Pixels(x)) => e.forward(x, prompt),
            (Self::Clip(top), ImageInput::Hidden(h)) => top.forward(h),
            (Self::Blip(top), ImageInput::Hidden(h)) => top.forward(h),
            (Self::Scratch(_), ImageInput::Hidden(_)) => {
                panic!("the scratch image encoder reads pixels, not hidden states")
            }
            (_, ImageInput::Pixels(_)) => panic!(
                "a pretrained image tower reads its frozen layers' hidden states (FrozenEncoder)"
            ),
        }
    }
}

impl TextTower {
    /// Builds the tower `config` describes (pretrained tops with random weights, to be loaded).
    pub(crate) fn new(config: &ModelConfig, device: &Device) -> Result<Self, ModelError> {
        let Some(spec) = &config.pretrained else {
            return Ok(Self::Scratch(TextEncoder::new(config, device)));
        };
        let k = spec.text_frozen;
        match spec.kind {
            PretrainedKind::Clip => {
                let text = spec.clip_config()?.text_config;
                if k > text.num_hidden_layers {
                    return Err(config_error(spec, "more frozen layers than layers"));
                }
                let full = text.init(device);
                Ok(Self::Clip(ClipTextTop {
                    layers: full.encoder.layers.into_iter().skip(k).collect(),
                    final_layer_norm: full.final_layer_norm,
                    proj: LinearConfig::new(text.hidden_size, config.d_model).init(device),
                }))
            }
            PretrainedKind::Blip => {
                let cfg = spec.imagereward_config()?;
                if k > cfg.med.num_hidden_layers {
                    return Err(config_error(spec, "more frozen layers than layers"));
                }
                Ok(Self::Blip(freeze_med(
                    cfg.med.init(cfg.vit.embed_dim, device),
                    k,
                )))
            }
            PretrainedKind::Bert => {
                let bert = spec.bert_config()?;
                if k > bert.num_hidden_layers {
                    return Err(config_error(spec, "more frozen layers than layers"));
                }
                let full = bert.init(device);
                Ok(Self::Bert(BertTop {
                    layers: full.encoder.layer.into_iter().skip(k).collect(),
                    proj: LinearConfig::new(bert.hidden_size, config.d_model).init(device),
                    cls_pooling: spec.cls_pooling,
                    mask_value: full.attention_mask_value,
                }))
            }
        }
    }

    /// Encodes the prompts of a batch.
    ///
    /// # Panics
    /// If the input kind does not match the tower (see [`ImageTower::forward`]).
    pub fn forward(&self, text: TextInput) -> TextFeatures {
        match (self, text) {
            (Self::Scratch(e), TextInput::Ids { ids, mask }) => e.forward(ids, mask),
            (Self::Clip(top), TextInput::Hidden { hidden, mask }) => top.forward(hidden, mask),
            (Self::Bert(top), TextInput::Hidden { hidden, mask }) => top.forward(hidden, mask),
            (Self::Blip(_), _) => {
                panic!("BLIP's text encoder fuses with the image: RewardModel::forward_inputs")
            }
            (Self::Scratch(_), TextInput::Hidden { .. }) => {
                panic!("the scratch text encoder reads token ids, not hidden states")
            }
            (_, TextInput::Ids { .. }) => panic!(
                "a pretrained text tower reads its frozen layers' hidden states (FrozenEncoder)"
            ),
        }
    }
}
