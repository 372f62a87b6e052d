//! BLIP's text encoder: the "mixture of encoder-decoder" BERT of BLIP's `models/med.py`
//! (salesforce/BLIP, copied by THUDM/ImageReward as `models/BLIP/med.py`), in the mode that
//! ImageReward scores with (`mode='multimodal'`): every layer self-attends over the prompt, then
//! cross-attends to all the image tokens, then applies its feed-forward layer.
//!
//! The module tree mirrors the checkpoint's keys under `blip.text_encoder.`: `embeddings.
//! {word_embeddings, position_embeddings, LayerNorm}` (no token-type embeddings) and
//! `encoder.layer.{i}.{attention, crossattention}.{self.{query,key,value}, output.{dense,
//! LayerNorm}}`, `encoder.layer.{i}.{intermediate.dense, output.{dense, LayerNorm}}`. Rust
//! demands two names: `self` is the field `self_` and `LayerNorm` is `layer_norm`
//! ([`MED_KEY_REMAP`] maps the checkpoint's names onto them). There is no pooler.
//!
//! The layers are public and can be run one range at a time ([`MedTextEncoder::forward_layers`]),
//! so that a caller can freeze the first layers and cache their output.

use std::ops::Range;
use std::path::Path;

use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use super::check_range;
use crate::PretrainedError;

/// `(pattern, replacement)` regexes from checkpoint keys to this module tree's paths, for
/// [`crate::load`]: the two names Rust cannot use as field names.
pub const MED_KEY_REMAP: &[(&str, &str)] =
    &[(r"\.LayerNorm\.", ".layer_norm."), (r"\.self\.", ".self_.")];

/// The sizes of the MED text encoder, as BLIP's `med_config.json` (a transformers `BertConfig`
/// plus `encoder_width` and `add_cross_attention`) states them. Fields the file omits take
/// `BertConfig`'s defaults; fields that do not change the computation are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MedConfig {
    /// Rows of the word embedding table (30,524: bert-base-uncased's 30,522 plus `[DEC]` and
    /// `[ENC]`).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Number of layers.
    pub num_hidden_layers: usize,
    /// Attention heads per self- and cross-attention.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// The feed-forward activation; only `gelu` (exact, erf) is what BLIP uses and supported.
    pub hidden_act: String,
    /// Rows of the position embedding table.
    pub max_position_embeddings: usize,
    /// Epsilon of every LayerNorm (1e-12).
    pub layer_norm_eps: f64,
    /// Width of the image tokens the cross-attention reads. The official ImageReward code
    /// overwrites the file's value with the vision transformer's width (`BLIP_Pretrain.__init__`:
    /// `encoder_config.encoder_width = vision_width`), and so does [`MedConfig::init`].
    pub encoder_width: usize,
    /// Whether the layers have cross-attention: scoring needs it.
    pub add_cross_attention: bool,
    /// Only `absolute` (learned position embeddings) is what BLIP uses and supported.
    pub position_embedding_type: String,
}

impl Default for MedConfig {
    fn default() -> Self {
        // transformers' `BertConfig.__init__` defaults, with BLIP's `encoder_width`.
        Self {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            max_position_embeddings: 512,
            layer_norm_eps: 1e-12,
            encoder_width: 768,
            add_cross_attention: false,
            position_embedding_type: "absolute".into(),
        }
    }
}

impl MedConfig {
    /// BLIP's and ImageReward's `med_config.json`: BERT-base with cross-attention and the two
    /// added tokens.
    pub fn bert_base() -> Self {
        Self {
            vocab_size: 30524,
            add_cross_attention: true,
            ..Self::default()
        }
    }

    /// Parses a `med_config.json` text; `path` only names the file in errors.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, PretrainedError> {
        let error = |message: String| crate::error::config_error(path, message);
        let config: Self = serde_json::from_str(text).map_err(|e| error(e.to_string()))?;
        config.validate().map_err(error)?;
        Ok(config)
    }

    /// Reads and parses a `med_config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, PretrainedError> {
        crate::error::read_config(path.as_ref(), Self::from_json_str)
    }

    /// Checks the sizes that the module's shapes depend on and the options this implementation
    /// computes, so that building it cannot fail.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, n)| *n == 0) {
            return Err(format!("{name} must be positive"));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.hidden_act != "gelu" {
            return Err(format!(
                "hidden_act `{}` is not supported (BLIP's text encoder uses `gelu`)",
                self.hidden_act
            ));
        }
        if self.position_embedding_type != "absolute" {
            return Err(format!(
                "position_embedding_type `{}` is not supported (BLIP uses `absolute`)",
                self.position_embedding_type
            ));
        }
        if !self.add_cross_attention {
            return Err(
                "add_cross_attention is false: ImageReward's text encoder cross-attends to the image"
                    .into(),
            );
        }
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            return Err("layer_norm_eps must be positive".into());
        }
        Ok(())
    }

    /// Builds the encoder with lazily initialised parameters, cross-attending to image tokens
    /// of width `encoder_width` (the vision transformer's width, which replaces the file's
    /// `encoder_width` as in the official code). The config must pass [`Self::validate`].
    pub fn init(&self, encoder_width: usize, device: &Device) -> MedTextEncoder {
        let d = self.hidden_size;
        let norm = || {
            LayerNormConfig::new(d)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        let attention = |context_width: usize| MedAttention {
            self_: MedSelfAttention {
                query: LinearConfig::new(d, d).init(device),
                key: LinearConfig::new(context_width, d).init(device),
                value: LinearConfig::new(context_width, d).init(device),
                num_heads: self.num_attention_heads,
            },
            output: MedSelfOutput {
                dense: LinearConfig::new(d, d).init(device),
                layer_norm: norm(),
            },
        };
        let layer = (0..self.num_hidden_layers)
            .map(|_| MedLayer {
                attention: attention(d),
                crossattention: attention(encoder_width),
                intermediate: MedIntermediate {
                    dense: LinearConfig::new(d, self.intermediate_size).init(device),
                },
                output: MedOutput {
                    dense: LinearConfig::new(self.intermediate_size, d).init(device),
                    layer_norm: norm(),
                },
            })
            .collect();
        MedTextEncoder {
            embeddings: MedEmbeddings {
                word_embeddings: EmbeddingConfig::new(self.vocab_size, d).init(device),
                position_embeddings: EmbeddingConfig::new(self.max_position_embeddings, d)
                    .init(device),
                layer_norm: norm(),
            },
            encoder: MedEncoder { layer },
        }
    }
}

/// `med.py`'s `BertModel` built with `add_pooling_layer=False`.
#[derive(Module, Debug)]
pub struct MedTextEncoder {
    /// Word and position embeddings.
    pub embeddings: MedEmbeddings,
    /// The layers.
    pub encoder: MedEncoder,
}

/// `med.py`'s `BertEncoder`: the layer list (`encoder.layer.{i}` in the checkpoint).
#[derive(Module, Debug)]
pub struct MedEncoder {
    /// The layers, in order.
    pub layer: Vec<MedLayer>,
}

impl MedTextEncoder {
    /// `last_hidden_state` of `BertModel.forward(input_ids, attention_mask,
    /// encoder_hidden_states=image_embeds, encoder_attention_mask=ones, mode='multimodal')`.
    ///
    /// `input_ids` and `attention_mask` (1 = token, 0 = padding) are `[batch, length]` with
    /// `length <= max_position_embeddings`; `image_embeds` is `[batch, tokens, encoder_width]`.
    /// Returns `[batch, length, hidden_size]`.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
        image_embeds: Tensor<3>,
    ) -> Tensor<3> {
        let mask = extended_attention_mask(attention_mask);
        let hidden = self.embeddings.forward(input_ids);
        self.run_layers(hidden, &mask, &image_embeds, 0..self.encoder.layer.len())
    }

    /// Runs layers `range` (indices into `encoder.layer`) on their input; `mask` comes from
    /// [`extended_attention_mask`]. `forward_layers(embeddings.forward(ids), .., 0..k)` then
    /// `forward_layers(.., k..layers)` is [`Self::forward`].
    ///
    /// # Errors
    ///
    /// [`PretrainedError::Input`] when `range` reaches past the last layer.
    pub fn forward_layers(
        &self,
        hidden: Tensor<3>,
        mask: &Tensor<4>,
        image_embeds: &Tensor<3>,
        range: Range<usize>,
    ) -> Result<Tensor<3>, PretrainedError> {
        check_range(&range, self.encoder.layer.len(), "text encoder layers")?;
        Ok(self.run_layers(hidden, mask, image_embeds, range))
    }

    fn run_layers(
        &self,
        hidden: Tensor<3>,
        mask: &Tensor<4>,
        image_embeds: &Tensor<3>,
        range: Range<usize>,
    ) -> Tensor<3> {
        self.encoder.layer[range]
            .iter()
            .fold(hidden, |hidden, layer| {
                layer.forward(hidden, mask, image_embeds)
            })
    }

    /// Width of the hidden states.
    pub fn width(&self) -> usize {
        self.embeddings.word_embeddings.weight.lazy_shape()[1]
    }

    /// Number of position embeddings: the longest input.
    pub fn max_length(&self) -> usize {
        self.embeddings.position_embeddings.weight.lazy_shape()[0]
    }

    /// Rows of the word embedding table: every token id must be below it.
    pub fn vocab_size(&self) -> usize {
        self.embeddings.word_embeddings.weight.lazy_shape()[0]
    }
}

/// The additive self-attention mask `[batch, 1, 1, length]` of a `[batch, length]` 0/1 mask:
/// `(1.0 - mask) * -10000.0`, as `med.py`'s `get_extended_attention_mask` computes it (not
/// `-inf`, and not the dtype's minimum).
///
/// The cross-attention needs none: ImageReward passes an all-ones `encoder_attention_mask`,
/// whose inverted form adds zero.
pub fn extended_attention_mask(attention_mask: Tensor<2, Int>) -> Tensor<4> {
    let [batch, length] = attention_mask.dims();
    attention_mask
        .float()
        .neg()
        .add_scalar(1.0)
        .mul_scalar(-10000.0)
        .reshape([batch, 1, 1, length])
}

/// `med.py`'s `BertEmbeddings` with absolute positions and no token types.
#[derive(Module, Debug)]
pub struct MedEmbeddings {
    /// Token embeddings.
    pub word_embeddings: Embedding,
    /// Learned absolute position embeddings.
    pub position_embeddings: Embedding,
    /// `LayerNorm` in the checkpoint.
    pub layer_norm: LayerNorm,
}

impl MedEmbeddings {
    /// `LayerNorm(word_embeddings(ids) + position_embeddings(0..length))` (dropout is the
    /// identity at inference); `length` must not exceed the position table.
    pub fn forward(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        let [_, length] = input_ids.dims();
        let words = self.word_embeddings.forward(input_ids);
        // `position_ids = self.position_ids[:, 0:seq_length]`: the first `length` rows.
        let positions = self
            .position_embeddings
            .weight
            .val()
            .narrow(0, 0, length)
            .unsqueeze_dim::<3>(0);
        self.layer_norm.forward(words + positions)
    }
}

/// `med.py`'s `BertLayer` in `mode='multimodal'`.
#[derive(Module, Debug)]
pub struct MedLayer {
    /// Self-attention over the text.
    pub attention: MedAttention,
    /// Cross-attention from the text to the image tokens.
    pub crossattention: MedAttention,
    /// First half of the feed-forward layer.
    pub intermediate: MedIntermediate,
    /// Second half of the feed-forward layer, with the residual and LayerNorm.
    pub output: MedOutput,
}

impl MedLayer {
    /// Self-attention, cross-attention, feed-forward.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        mask: &Tensor<4>,
        image_embeds: &Tensor<3>,
    ) -> Tensor<3> {
        let attended = self.self_attention(hidden, mask);
        let crossed = self.cross_attention(attended, image_embeds);
        self.feed_forward(crossed)
    }

    /// The output of `self.attention` (after its residual and LayerNorm).
    pub fn self_attention(&self, hidden: Tensor<3>, mask: &Tensor<4>) -> Tensor<3> {
        self.attention.forward(hidden.clone(), hidden, Some(mask))
    }

    /// The output of `self.crossattention` on the self-attention's output.
    pub fn cross_attention(&self, attended: Tensor<3>, image_embeds: &Tensor<3>) -> Tensor<3> {
        self.crossattention
            .forward(attended, image_embeds.clone(), None)
    }

    /// `feed_forward_chunk`: `output(intermediate(x), x)`.
    pub fn feed_forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.output.forward(self.intermediate.forward(x.clone()), x)
    }
}

/// `med.py`'s `BertAttention`: attention, then `BertSelfOutput`.
#[derive(Module, Debug)]
pub struct MedAttention {
    /// The attention proper (`self` in the checkpoint).
    pub self_: MedSelfAttention,
    /// Projection, residual and LayerNorm.
    pub output: MedSelfOutput,
}

impl MedAttention {
    /// `output(self(hidden, context, mask), hidden)`.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        context: Tensor<3>,
        mask: Option<&Tensor<4>>,
    ) -> Tensor<3> {
        let attended = self.self_.forward(hidden.clone(), context, mask);
        self.output.forward(attended, hidden)
    }
}

/// `med.py`'s `BertSelfAttention`: queries from the text, keys and values from `context` (the
/// text itself, or the image tokens in cross-attention).
#[derive(Module, Debug)]
pub struct MedSelfAttention {
    /// Query projection.
    pub query: Linear,
    /// Key projection (from the image width in cross-attention).
    pub key: Linear,
    /// Value projection (from the image width in cross-attention).
    pub value: Linear,
    /// Number of heads.
    pub num_heads: usize,
}

impl MedSelfAttention {
    /// Multi-head attention of `hidden` `[batch, length, width]` over `context`
    /// `[batch, tokens, context_width]`, with an additive mask `[batch, 1, 1, tokens]`.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        context: Tensor<3>,
        mask: Option<&Tensor<4>>,
    ) -> Tensor<3> {
        let [batch, length, width] = hidden.dims();
        let heads = self.num_heads;
        let head_dim = width / heads;
        // `transpose_for_scores`: [batch, n, width] -> [batch, heads, n, head_dim].
        let split = |x: Tensor<3>| {
            let [batch, n, _] = x.dims();
            x.reshape([batch, n, heads, head_dim]).swap_dims(1, 2)
        };
        let query = split(self.query.forward(hidden));
        let key = split(self.key.forward(context.clone()));
        let value = split(self.value.forward(context));
        // `attention_scores = attention_scores / math.sqrt(self.attention_head_size)`
        let mut scores = query
            .matmul(key.swap_dims(2, 3))
            .div_scalar((head_dim as f64).sqrt());
        if let Some(mask) = mask {
            scores = scores + mask.clone();
        }
        let probs = softmax(scores, 3);
        probs
            .matmul(value)
            .swap_dims(1, 2)
            .reshape([batch, length, width])
    }
}

/// `med.py`'s `BertSelfOutput`: `LayerNorm(dense(x) + input)`.
#[derive(Module, Debug)]
pub struct MedSelfOutput {
    /// Output projection.
    pub dense: Linear,
    /// `LayerNorm` in the checkpoint.
    pub layer_norm: LayerNorm,
}

impl MedSelfOutput {
    /// `LayerNorm(dense(x) + input)` (dropout is the identity at inference).
    pub fn forward(&self, x: Tensor<3>, input: Tensor<3>) -> Tensor<3> {
        self.layer_norm.forward(self.dense.forward(x) + input)
    }
}

/// `med.py`'s `BertIntermediate`: `gelu(dense(x))`, GELU exact as transformers' `gelu`.
#[derive(Module, Debug)]
pub struct MedIntermediate {
    /// Expansion to the feed-forward width.
    pub dense: Linear,
}

impl MedIntermediate {
    /// `gelu(dense(x))`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        crate::kernels::gelu(self.dense.forward(x))
    }
}

/// `med.py`'s `BertOutput`: `LayerNorm(dense(x) + input)`.
#[derive(Module, Debug)]
pub struct MedOutput {
    /// Projection back to the residual width.
    pub dense: Linear,
    /// `LayerNorm` in the checkpoint.
    pub layer_norm: LayerNorm,
}

impl MedOutput {
    /// `LayerNorm(dense(x) + input)` (dropout is the identity at inference).
    pub fn forward(&self, x: Tensor<3>, input: Tensor<3>) -> Tensor<3> {
        self.layer_norm.forward(self.dense.forward(x) + input)
    }
}
