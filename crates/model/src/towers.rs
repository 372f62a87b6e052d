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

/// Layers `k..n` of CLIP's vision tower, its `post_layernorm` (applied to every token, not only
/// the class token, because the fusion reads all of them) and a projection to `d_model`.
#[derive(Module, Debug)]
pub struct ClipVisionTop {
    pub layers: Vec<ClipEncoderLayer>,
    pub post_layernorm: LayerNorm,
    pub proj: Linear,
}

impl ClipVisionTop {
    /// `hidden` `[B, T, D]` after the frozen layers -> tokens and the class token, in `d_model`.
    pub fn forward(&self, hidden: Tensor<3>) -> ImageFeatures {
        let x = self
            .layers
            .iter()
            .fold(hidden, |x, layer| layer.forward(x, None));
        let tokens = self.proj.forward(self.post_layernorm.forward(x));
        let [b, _, d] = tokens.dims();
        let pooled = tokens.clone().narrow(1, 0, 1).reshape([b, d]);
        ImageFeatures { tokens, pooled }
    }
}

/// Blocks `k..n` of BLIP's ViT and its final norm: the image tokens BLIP's text encoder
/// cross-attends to (no projection: the text encoder reads the ViT's width).
#[derive(Module, Debug)]
pub struct BlipVisionTop {
    pub blocks: Vec<VitBlock>,
    pub norm: LayerNorm,
}

impl BlipVisionTop {
    /// `hidden` `[B, T, W]` after the frozen blocks -> every token and the class token.
    pub fn forward(&self, hidden: Tensor<3>) -> ImageFeatures {
        let x = self.blocks.iter().fold(hidden, |x, block| block.forward(x));
        let tokens = self.norm.forward(x);
        let [b, _, d] = tokens.dims();
        let pooled = tokens.clone().narrow(1, 0, 1).reshape([b, d]);
        ImageFeatures { tokens, pooled }
    }
}

/// BLIP's text encoder with its first `k` layers (and embeddings) frozen in place: they cannot be
/// cached, since every layer cross-attends to the image tokens that the trainable ViT top makes.
fn freeze_med(mut med: MedTextEncoder, k: usize) -> MedTextEncoder {
    med.embeddings = med.embeddings.no_grad();
    med.encoder.layer = med
        .encoder
        .layer
        .into_iter()
        .enumerate()
        .map(|(i, layer)| if i < k { layer.no_grad() } else { layer })
        .collect();
    med
}

/// Layers `k..n` of CLIP's text tower, its final norm and a projection to `d_model`; pooled at
/// the end-of-text token as CLIP pools (the last real token of each row).
#[derive(Module, Debug)]
pub struct ClipTextTop {
    pub layers: Vec<ClipEncoderLayer>,
    pub final_layer_norm: LayerNorm,
    pub proj: Linear,
}

/// `[T, 1, L, L]`: true where a query may not see a key (later positions, padding), as
/// `ClipTextTransformer::embed` builds it.
fn causal_padding_block(mask: &Tensor<2, Int>) -> Tensor<4, Bool> {
    let [t, l] = mask.dims();
    let device = mask.device();
    let causal: Vec<bool> = (0..l).flat_map(|q| (0..l).map(move |k| k > q)).collect();
    let causal = Tensor::<2, Bool>::from_data(TensorData::new(causal, [l, l]), &device)
        .reshape([1, 1, l, l])
        .expand([t, 1, l, l]);
    let pad = mask
        .clone()
        .equal_elem(0)
        .reshape([t, 1, 1, l])
        .expand([t, 1, l, l]);
    causal.bool_or(pad)
}

impl ClipTextTop {
    /// `hidden` `[T, L, D]` after the frozen layers and the prompts' mask `[T, L]`.
    pub fn forward(&self, hidden: Tensor<3>, mask: Tensor<2, Int>) -> TextFeatures {
        let blocked = causal_padding_block(&mask);
        let x = self
            .layers
            .iter()
            .fold(hidden, |x, layer| layer.forward(x, Some(blocked.clone())));
        let tokens = self.proj.forward(self.final_layer_norm.forward(x));
        let [t, _, d] = tokens.dims();
        // The end-of-text token is the last real one: rows are `<start> ... <end> pad...`.
        let last = mask
            .clone()
            .sum_dim(1)
            .sub_scalar(1)
            .clamp_min(0)
            .reshape([t, 1, 1])
            .expand([t, 1, d]);
        let pooled = tokens.clone().gather(1, last).reshape([t, d]);
        TextFeatures {
            tokens,
            pad_mask: mask.equal_elem(0),
            pooled,
        }
    }
}

/// Layers `k..n` of a BERT encoder and a projection to `d_model`, pooled as the checkpoint's
/// sentence-transformers config says (mean over tokens, or `[CLS]`).
#[derive(Module, Debug)]
pub struct BertTop {
    pub layers: Vec<BertLayer>,
    pub proj: Linear,
    /// Pooling by the `[CLS]` token rather than the mean.
    pub cls_pooling: bool,
    /// Additive attention bias at padding (the checkpoint's convention).
    pub mask_value: f32,
}

impl BertTop {
    /// `hidden` `[T, L, D]` after the frozen layers and the prompts' mask `[T, L]`.
    pub fn forward(&self, hidden: Tensor<3>, mask: Tensor<2, Int>) -> TextFeatures {
        let [t, l] = mask.dims();
        let bias = mask
            .clone()
            .float()
            .neg()
            .add_scalar(1.0)
            .mul_scalar(self.mask_value)
            .reshape([t, 1, 1, l]);
        let x = self
            .layers
            .iter()
            .fold(hidden, |x, layer| layer.forward(x, bias.clone()));
        let tokens = self.proj.forward(x);
        let pooled = if self.cls_pooling {
            let d = tokens.dims()[2];
            tokens.clone().narrow(1, 0, 1).reshape([t, d])
        } else {
            masked_mean_tokens(tokens.clone(), mask.clone().float())
        };
        TextFeatures {
            tokens,
            pad_mask: mask.equal_elem(0),
            pooled,
        }
    }
}

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

/// The frozen bottom of a pretrained encoder (embeddings and the first `k` layers of each
/// pretrained tower), with the tokenizer and image preprocessing of its checkpoint.
#[derive(Debug)]
pub struct FrozenEncoder {
    spec: PretrainedSpec,
    device: Device,
    vision: Option<FrozenVision>,
    text: FrozenText,
}

// One value per loaded encoder: the size difference of the variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum FrozenVision {
    Clip(ClipVisionTransformer, ClipImageProcessor),
    /// The ViT's embeddings and first blocks, and the side its images are resized to.
    Blip(BlipVisionTransformer, u32),
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum FrozenText {
    Clip(ClipTextTransformer, ClipTokenizer),
    Bert(BertModel, SentenceEncoder),
    /// BLIP's text layers cannot run before the image tokens exist: only the tokenizer.
    Blip(BlipTokenizer),
}

/// Hidden states of a batch of prompts after the frozen layers, with the tokens they came from.
#[derive(Debug, Clone)]
pub struct FrozenPrompts {
    /// `[T, L, D]`; `None` for BLIP, whose text layers run in the model (they read the image).
    pub hidden: Option<Tensor<3>>,
    /// Token ids `[T, L]` and mask `[T, L]` (1 = token).
    pub ids: Tensor<2, Int>,
    pub mask: Tensor<2, Int>,
}

/// What [`load_pretrained`] returns: the frozen bottom and the trainable tops, with their spec.
#[derive(Debug)]
pub struct PretrainedParts {
    pub spec: PretrainedSpec,
    pub frozen: FrozenEncoder,
    /// CLIP's vision top (`None` for BERT).
    pub image: Option<ImageTower>,
    pub text: TextTower,
    /// BLIP: ImageReward's head, to start the overall head from.
    pub overall: Option<crate::heads::OverallHead>,
}

fn read_config_json(dir: &Path) -> Result<serde_json::Value, ModelError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text)
        .map_err(|e| ModelError::InvalidConfig(format!("{}: not valid JSON: {e}", path.display())))
}

fn pretrained_error(e: PretrainedError) -> ModelError {
    ModelError::Pretrained(Box::new(e))
}

/// Where [`load_pretrained`] would cut the checkpoint in `dir`, from its `config.json` alone
/// (cheap: no weights are read), e.g. to check an embedding cache before a run starts.
pub fn cut_spec(
    kind: PretrainedKind,
    dir: &Path,
    freeze: f64,
) -> Result<PretrainedSpec, ModelError> {
    if kind == PretrainedKind::Blip {
        let cfg = ImageRewardConfig::beside(dir).map_err(pretrained_error)?;
        return Ok(PretrainedSpec {
            kind,
            path: dir.to_path_buf(),
            checkpoint_config: serde_json::to_value(&cfg)
                .map_err(|e| ModelError::InvalidConfig(format!("{}: {e}", dir.display())))?,
            freeze,
            image_frozen: Some(frozen_layer_count(cfg.vit.depth, freeze)),
            text_frozen: frozen_layer_count(cfg.med.num_hidden_layers, freeze),
            cls_pooling: false,
        });
    }
    let checkpoint_config = read_config_json(dir)?;
    let mut spec = PretrainedSpec {
        kind,
        path: dir.to_path_buf(),
        checkpoint_config,
        freeze,
        image_frozen: None,
        text_frozen: 0,
        cls_pooling: false,
    };
    match kind {
        PretrainedKind::Clip => {
            let c = spec.clip_config()?;
            spec.image_frozen = Some(frozen_layer_count(
                c.vision_config.num_hidden_layers,
                freeze,
            ));
            spec.text_frozen = frozen_layer_count(c.text_config.num_hidden_layers, freeze);
        }
        PretrainedKind::Bert => {
            spec.text_frozen = frozen_layer_count(spec.bert_config()?.num_hidden_layers, freeze);
        }
        PretrainedKind::Blip => {}
    }
    Ok(spec)
}

/// Loads a pretrained checkpoint folder and cuts it at `freeze`: the frozen bottom runs once per
/// image and prompt, the tops (with the checkpoint's weights, and fresh projections to
/// `d_model`) train inside the reward model.
pub fn load_pretrained(
    kind: PretrainedKind,
    dir: &Path,
    freeze: f64,
    d_model: usize,
    device: &Device,
) -> Result<PretrainedParts, ModelError> {
    let checkpoint_config = match kind {
        PretrainedKind::Blip => serde_json::Value::Null,
        _ => read_config_json(dir)?,
    };
    match kind {
        PretrainedKind::Clip => {
            let ck = ClipModel::from_folder(dir, device).map_err(pretrained_error)?;
            let tokenizer = match ck.tokenizer {
                Some(t) => t,
                None => ClipTokenizer::for_folder(dir).map_err(|e| {
                    ModelError::InvalidConfig(format!(
                        "{} has no tokenizer.json, and none can be built from OpenAI's BPE \
                         merges: {e}",
                        dir.display()
                    ))
                })?,
            };
            let image_size = ck.config.vision_config.image_size as u32;
            let processor = ck.processor.unwrap_or_else(|| ClipImageProcessor {
                resize: Some(ResizeTo::ShortestEdge(image_size)),
                center_crop: Some((image_size, image_size)),
                ..ClipImageProcessor::default()
            });
            let mut vision = ck.model.vision_model;
            let mut text = ck.model.text_model;
            let kv = frozen_layer_count(vision.encoder.layers.len(), freeze);
            let kt = frozen_layer_count(text.encoder.layers.len(), freeze);
            let vision_top = vision.encoder.layers.split_off(kv);
            let text_top = text.encoder.layers.split_off(kt);
            let spec = PretrainedSpec {
                kind,
                path: dir.to_path_buf(),
                checkpoint_config,
                freeze,
                image_frozen: Some(kv),
                text_frozen: kt,
                cls_pooling: false,
            };
            let image = ImageTower::Clip(ClipVisionTop {
                layers: vision_top,
                post_layernorm: vision.post_layernorm.clone(),
                proj: LinearConfig::new(ck.config.vision_config.hidden_size, d_model).init(device),
            });
            let text_tower = TextTower::Clip(ClipTextTop {
                layers: text_top,
                final_layer_norm: text.final_layer_norm.clone(),
                proj: LinearConfig::new(ck.config.text_config.hidden_size, d_model).init(device),
            });
            Ok(PretrainedParts {
                spec: spec.clone(),
                frozen: FrozenEncoder {
                    spec,
                    device: device.clone(),
                    // Frozen: no gradient is ever taken through them, so no graph is recorded.
                    vision: Some(FrozenVision::Clip(vision.no_grad(), processor)),
                    text: FrozenText::Clip(text.no_grad(), tokenizer),
                },
                image: Some(image),
                text: text_tower,
                overall: None,
            })
        }
        PretrainedKind::Blip => {
            let ir = ImageReward::from_checkpoint(dir, device).map_err(pretrained_error)?;
            let (model, tokenizer, cfg) = ir.into_parts();
            let mut vit = model.blip.visual_encoder;
            let kv = frozen_layer_count(vit.blocks.len(), freeze);
            let kt = frozen_layer_count(cfg.med.num_hidden_layers, freeze);
            let top_blocks = vit.blocks.split_off(kv);
            let spec = PretrainedSpec {
                kind,
                path: dir.to_path_buf(),
                checkpoint_config: serde_json::to_value(&cfg)
                    .map_err(|e| ModelError::InvalidConfig(format!("{}: {e}", dir.display())))?,
                freeze,
                image_frozen: Some(kv),
                text_frozen: kt,
                cls_pooling: false,
            };
            let image = ImageTower::Blip(BlipVisionTop {
                blocks: top_blocks,
                norm: vit.norm.clone(),
            });
            let text_tower = TextTower::Blip(freeze_med(model.blip.text_encoder, kt));
            let overall = crate::heads::OverallHead::ImageReward(crate::heads::ImageRewardHead {
                mlp: model.mlp,
                mean: model.reward_mean,
                std: model.reward_std,
            });
            Ok(PretrainedParts {
                spec: spec.clone(),
                frozen: FrozenEncoder {
                    spec,
                    device: device.clone(),
                    vision: Some(FrozenVision::Blip(vit.no_grad(), cfg.vit.image_size as u32)),
                    text: FrozenText::Blip(tokenizer),
                },
                image: Some(image),
                text: text_tower,
                overall: Some(overall),
            })
        }
        PretrainedKind::Bert => {
            let enc = SentenceEncoder::from_folder(dir, device).map_err(pretrained_error)?;
            let mut bert = enc.model().clone();
            let k = frozen_layer_count(bert.encoder.layer.len(), freeze);
            let top = bert.encoder.layer.split_off(k);
            let cls_pooling = enc.pooling() == Pooling::Cls;
            let spec = PretrainedSpec {
                kind,
                path: dir.to_path_buf(),
                checkpoint_config,
                freeze,
                image_frozen: None,
                text_frozen: k,
                cls_pooling,
            };
            let text_tower = TextTower::Bert(BertTop {
                layers: top,
                proj: LinearConfig::new(bert.hidden_size(), d_model).init(device),
                cls_pooling,
                mask_value: bert.attention_mask_value,
            });
            Ok(PretrainedParts {
                spec: spec.clone(),
                frozen: FrozenEncoder {
                    spec,
                    device: device.clone(),
                    vision: None,
                    text: FrozenText::Bert(bert.no_grad(), enc),
                },
                image: None,
                text: text_tower,
                overall: None,
            })
        }
    }
}

impl FrozenEncoder {
    /// Loads the frozen bottom a saved model's spec describes (to score new images with it).
    pub fn load(spec: &PretrainedSpec, device: &Device) -> Result<Self, ModelError> {
        let parts = load_pretrained(spec.kind, &spec.path, spec.freeze, 1, device)?;
        if parts.spec.image_frozen != spec.image_frozen
            || parts.spec.text_frozen != spec.text_frozen
        {
            return Err(config_error(
                spec,
                "the checkpoint now has another number of layers than when the model was trained",
            ));
        }
        Ok(parts.frozen)
    }

    /// The spec of the cut.
    pub fn spec(&self) -> &PretrainedSpec {
        &self.spec
    }

    /// Whether the images go through the pretrained vision tower.
    pub fn has_vision(&self) -> bool {
        self.vision.is_some()
    }

    /// `(tokens, width)` of an image's hidden state, when the vision tower is pretrained.
    pub fn image_shape(&self) -> Option<(usize, usize)> {
        match self.vision.as_ref()? {
            FrozenVision::Clip(..) => {
                let vision = self.spec.clip_config().ok()?.vision_config;
                Some((vision.num_positions(), vision.hidden_size))
            }
            FrozenVision::Blip(..) => {
                let vit = self.spec.imagereward_config().ok()?.vit;
                Some((vit.num_tokens(), vit.embed_dim))
            }
        }
    }

    /// Hidden states `[B, T, D]` of decoded images after the frozen vision layers.
    pub fn image_hidden(&self, images: &[image::DynamicImage]) -> Result<Tensor<3>, ModelError> {
        let vision = self.vision.as_ref().ok_or_else(|| {
            ModelError::InvalidConfig("this encoder has no pretrained vision tower".into())
        })?;
        let k = self.spec.image_frozen.unwrap_or(0);
        match vision {
            FrozenVision::Clip(vision, processor) => {
                let pixels = processor
                    .preprocess(images, &self.device)
                    .map_err(pretrained_error)?;
                let state = vision.embed(pixels).map_err(pretrained_error)?;
                let state = vision.advance(state, k).map_err(pretrained_error)?;
                Ok(state.hidden)
            }
            FrozenVision::Blip(vit, size) => {
                let prepared: Vec<_> = images.iter().map(|i| prepare_image(i, *size)).collect();
                let pixels = stack_prepared(&prepared, &self.device).map_err(pretrained_error)?;
                vit.forward_blocks(vit.embed(pixels), 0..k)
                    .map_err(pretrained_error)
            }
        }
    }

    /// Tokenizes prompts and runs the frozen text layers: hidden states `[T, L, D]`, padded to
    /// the longest prompt (BERT) or CLIP's context length.
    pub fn text_hidden(&self, texts: &[&str]) -> Result<FrozenPrompts, ModelError> {
        let k = self.spec.text_frozen;
        match &self.text {
            FrozenText::Clip(text, tokenizer) => {
                let batch = tokenizer.encode_batch(texts).map_err(pretrained_error)?;
                let (ids, mask) = batch.to_tensors(&self.device);
                let state = text
                    .embed(ids.clone(), Some(mask.clone()))
                    .map_err(pretrained_error)?;
                let state = text.advance(state, k).map_err(pretrained_error)?;
                Ok(FrozenPrompts {
                    hidden: Some(state.hidden),
                    ids,
                    mask,
                })
            }
            FrozenText::Bert(bert, enc) => {
                let batch = enc.tokenize(texts).map_err(pretrained_error)?;
                let hidden = bert.embed(batch.ids.clone(), None);
                let hidden = bert.forward_layers(hidden, batch.mask.clone(), 0..k);
                Ok(FrozenPrompts {
                    hidden: Some(hidden),
                    ids: batch.ids,
                    mask: batch.mask,
                })
            }
            FrozenText::Blip(tokenizer) => {
                let (mut ids, mut mask) = (Vec::new(), Vec::new());
                for text in texts {
                    let t = tokenizer.encode(text).map_err(pretrained_error)?;
                    ids.extend(t.input_ids.iter().map(|&i| i64::from(i)));
                    mask.extend(t.attention_mask.iter().map(|&m| i64::from(m)));
                }
                let shape = [texts.len(), tokenizer.max_length()];
                Ok(FrozenPrompts {
                    hidden: None,
                    ids: Tensor::from_data(TensorData::new(ids, shape), &self.device),
                    mask: Tensor::from_data(TensorData::new(mask, shape), &self.device),
                })
            }
        }
    }
}
