//! BERT-family text encoders (BERT, MiniLM, the sentence-transformers models built on them),
//! following transformers' `BertModel` (`transformers/models/bert/modeling_bert.py`) in
//! inference mode: embeddings (word + position + token type, layer norm), post-norm encoder
//! layers (self-attention, intermediate, output) and the optional pooler.
//!
//! The module tree mirrors the checkpoint's keys (`embeddings.word_embeddings.weight`,
//! `encoder.layer.3.attention.output.dense.bias`, ...), so loading needs only [`BERT_REMAP`]:
//! `LayerNorm` is spelled `layer_norm`, and `attention.self` (a keyword in Rust) is
//! `attention.self_attention`.
//!
//! The layers can be run in pieces ([`BertModel::embed`], [`BertModel::forward_layers`]) so that
//! a caller can freeze the lower layers and cache their output. Dropout is left out: these
//! modules compute what the reference computes in `eval()` mode.
//!
//! [`SentenceEncoder`] wraps a model with its tokenizer and the sentence-transformers pooling:
//!
//! ```no_run
//! # fn main() -> Result<(), pretrained::PretrainedError> {
//! let device = burn::tensor::Device::default();
//! let encoder = pretrained::bert::SentenceEncoder::from_folder("all-MiniLM-L6-v2".as_ref(), &device)?;
//! let embeddings = encoder.encode(&["a cat on a mat", "a red bicycle"])?; // [2, 384], unit rows
//! # Ok(()) }
//! ```

mod config;
mod sentence;
#[cfg(test)]
mod tests;

use std::ops::Range;
use std::path::Path;

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu_approximate, relu, silu, softmax};
use burn::tensor::{Device, Int, Tensor};

pub use config::{BertConfig, HiddenAct};
pub(crate) use config::{json_field, read_json_object};
pub use sentence::{Pooling, SentenceEncoder, TokenBatch};

use crate::PretrainedError;
use crate::load::load_safetensors;

/// Key remapping from a transformers BERT checkpoint to [`BertModel`]'s module paths.
pub const BERT_REMAP: &[(&str, &str)] = &[
    (r"\.LayerNorm\.", ".layer_norm."),
    (r"\.attention\.self\.", ".attention.self_attention."),
];

/// Checkpoint buffers that are not weights: the position and token-type id ranges that
/// transformers registers (and, depending on its version, saves).
pub const BERT_BUFFERS: &[&str] = &[r"^embeddings\.(position_ids|token_type_ids)$"];

/// Word, position and token-type embeddings, summed and layer-normalised (`BertEmbeddings`).
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    /// One vector per vocabulary entry.
    pub word_embeddings: Embedding,
    /// One vector per absolute position.
    pub position_embeddings: Embedding,
    /// One vector per segment.
    pub token_type_embeddings: Embedding,
    /// Normalises the sum.
    pub layer_norm: LayerNorm,
}

impl BertEmbeddings {
    /// Embeds `ids` `[batch, len]` (with `token_types` of the same shape, zeros when `None`) at
    /// positions `0..len`.
    ///
    /// # Panics
    ///
    /// If `len` exceeds `max_position_embeddings` (inputs are truncated before this).
    pub fn forward(&self, ids: Tensor<2, Int>, token_types: Option<Tensor<2, Int>>) -> Tensor<3> {
        let [batch, len] = ids.dims();
        let [max_len, _] = self.position_embeddings.weight.dims();
        assert!(
            len <= max_len,
            "BERT input of {len} tokens exceeds max_position_embeddings = {max_len}"
        );
        let device = ids.device();
        let token_types =
            token_types.unwrap_or_else(|| Tensor::<2, Int>::zeros([batch, len], &device));
        let positions = Tensor::<1, Int>::arange(0..len as i64, &device).unsqueeze::<2>();
        let sum = self.word_embeddings.forward(ids)
            + self.token_type_embeddings.forward(token_types)
            + self.position_embeddings.forward(positions);
        self.layer_norm.forward(sum)
    }
}

/// Multi-head scaled dot-product self-attention (`BertSelfAttention`).
#[derive(Module, Debug)]
pub struct BertSelfAttention {
    /// Query projection.
    pub query: Linear,
    /// Key projection.
    pub key: Linear,
    /// Value projection.
    pub value: Linear,
    /// Number of heads.
    pub num_heads: usize,
}

impl BertSelfAttention {
    /// Attends `hidden` `[batch, len, dim]` to itself; `bias` `[batch, 1, 1, len]` is added to
    /// the scores (see [`BertModel::attention_bias`]).
    pub fn forward(&self, hidden: Tensor<3>, bias: Tensor<4>) -> Tensor<3> {
        let [batch, len, dim] = hidden.dims();
        let head_dim = dim / self.num_heads;
        let split_heads = |x: Tensor<3>| {
            x.reshape([batch, len, self.num_heads, head_dim])
                .swap_dims(1, 2)
        };
        let query = split_heads(self.query.forward(hidden.clone()));
        let key = split_heads(self.key.forward(hidden.clone()));
        let value = split_heads(self.value.forward(hidden));
        let scores = query
            .matmul(key.swap_dims(2, 3))
            .div_scalar((head_dim as f32).sqrt())
            + bias;
        softmax(scores, 3)
            .matmul(value)
            .swap_dims(1, 2)
            .reshape([batch, len, dim])
    }
}

/// A projection, a residual connection and a layer norm: `BertSelfOutput` and `BertOutput`,
/// which are the same computation on different widths.
#[derive(Module, Debug)]
pub struct BertResidual {
    /// Projects back to the hidden width.
    pub dense: Linear,
    /// Normalises the sum with the residual.
    pub layer_norm: LayerNorm,
}

impl BertResidual {
    /// `layer_norm(dense(x) + residual)`.
    pub fn forward(&self, x: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        self.layer_norm.forward(self.dense.forward(x) + residual)
    }
}

/// Self-attention and its output block (`BertAttention`).
#[derive(Module, Debug)]
pub struct BertAttention {
    /// The attention proper (`attention.self` in the checkpoint).
    pub self_attention: BertSelfAttention,
    /// Output projection, residual and norm.
    pub output: BertResidual,
}

/// The widening half of the feed-forward block (`BertIntermediate`).
#[derive(Module, Debug)]
pub struct BertIntermediate {
    /// Widens to `intermediate_size`.
    pub dense: Linear,
    /// The activation after it.
    #[module(skip)]
    pub activation: HiddenAct,
}

impl BertIntermediate {
    /// `activation(dense(x))`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = self.dense.forward(x);
        match self.activation {
            // The flex backend's own GELU is a scalar libm call per element; see kernels.
            HiddenAct::Gelu => crate::kernels::gelu(x),
            HiddenAct::GeluTanh => gelu_approximate(x),
            HiddenAct::Relu => relu(x),
            HiddenAct::Silu => silu(x),
        }
    }
}

/// One encoder layer (`BertLayer`): attention, then the feed-forward block, each post-norm.
#[derive(Module, Debug)]
pub struct BertLayer {
    /// Self-attention block.
    pub attention: BertAttention,
    /// Feed-forward widening.
    pub intermediate: BertIntermediate,
    /// Feed-forward narrowing, residual and norm.
    pub output: BertResidual,
}

impl BertLayer {
    /// Runs the layer on `hidden` `[batch, len, dim]` with the additive attention `bias`.
    pub fn forward(&self, hidden: Tensor<3>, bias: Tensor<4>) -> Tensor<3> {
        let attended = self.attention.self_attention.forward(hidden.clone(), bias);
        let attended = self.attention.output.forward(attended, hidden);
        let widened = self.intermediate.forward(attended.clone());
        self.output.forward(widened, attended)
    }
}

/// The stack of encoder layers (`BertEncoder`; `encoder.layer.N` in the checkpoint).
#[derive(Module, Debug)]
pub struct BertEncoder {
    /// The layers, bottom first.
    pub layer: Vec<BertLayer>,
}

/// `tanh(dense(h[:, 0]))`: BERT's pooler, trained for next-sentence prediction (`BertPooler`).
#[derive(Module, Debug)]
pub struct BertPooler {
    /// Projection of the first token's state.
    pub dense: Linear,
}

/// A BERT encoder (`BertModel`).
#[derive(Module, Debug)]
pub struct BertModel {
    /// Input embeddings.
    pub embeddings: BertEmbeddings,
    /// Encoder layers.
    pub encoder: BertEncoder,
    /// The pooler, when the config asks for it.
    pub pooler: Option<BertPooler>,
    /// Added to the attention scores of padded keys.
    pub attention_mask_value: f32,
}

impl BertModel {
    fn new(config: &BertConfig, device: &Device) -> Self {
        let d = config.hidden_size;
        let norm = || {
            LayerNormConfig::new(d)
                .with_epsilon(config.layer_norm_eps)
                .init(device)
        };
        let linear = |d_in, d_out| LinearConfig::new(d_in, d_out).init(device);
        let embedding = |n| EmbeddingConfig::new(n, d).init(device);
        let layer = || BertLayer {
            attention: BertAttention {
                self_attention: BertSelfAttention {
                    query: linear(d, d),
                    key: linear(d, d),
                    value: linear(d, d),
                    num_heads: config.num_attention_heads,
                },
                output: BertResidual {
                    dense: linear(d, d),
                    layer_norm: norm(),
                },
            },
            intermediate: BertIntermediate {
                dense: linear(d, config.intermediate_size),
                activation: config.hidden_act,
            },
            output: BertResidual {
                dense: linear(config.intermediate_size, d),
                layer_norm: norm(),
            },
        };
        Self {
            embeddings: BertEmbeddings {
                word_embeddings: embedding(config.vocab_size),
                position_embeddings: embedding(config.max_position_embeddings),
                token_type_embeddings: embedding(config.type_vocab_size),
                layer_norm: norm(),
            },
            encoder: BertEncoder {
                layer: (0..config.num_hidden_layers).map(|_| layer()).collect(),
            },
            pooler: config.add_pooling_layer.then(|| BertPooler {
                dense: linear(d, d),
            }),
            attention_mask_value: config.attention_mask_value,
        }
    }

    /// Loads a transformers checkpoint (`model.safetensors` of a `BertModel`) strictly: every
    /// weight of the model must be in the file and every tensor of the file must be used, except
    /// the id buffers ([`BERT_BUFFERS`]) and, for a model built without one, the pooler.
    ///
    /// # Errors
    ///
    /// As [`load_safetensors`]: an error naming every missing, unexpected or misshaped tensor.
    pub fn load_safetensors(self, path: &Path) -> Result<Self, PretrainedError> {
        let mut ignore = BERT_BUFFERS.to_vec();
        if self.pooler.is_none() {
            ignore.push(r"^pooler\.");
        }
        load_safetensors(self, path, BERT_REMAP, &ignore)
    }

    /// Number of encoder layers.
    pub fn num_layers(&self) -> usize {
        self.encoder.layer.len()
    }

    /// Width of the hidden states.
    pub fn hidden_size(&self) -> usize {
        self.embeddings.word_embeddings.weight.dims()[1]
    }

    /// The additive attention bias `[batch, 1, 1, len]` for a `mask` `[batch, len]` holding 1
    /// for tokens and 0 for padding: 0 where attended, [`attention_mask_value`] where padded
    /// (`get_extended_attention_mask` in transformers).
    ///
    /// [`attention_mask_value`]: Self::attention_mask_value
    pub fn attention_bias(&self, mask: Tensor<2, Int>) -> Tensor<4> {
        let [batch, len] = mask.dims();
        mask.float()
            .neg()
            .add_scalar(1.0)
            .mul_scalar(self.attention_mask_value)
            .reshape([batch, 1, 1, len])
    }

    /// The embedding layer's output `[batch, len, hidden]` for `ids` `[batch, len]`, with
    /// `token_types` zero when `None`.
    pub fn embed(&self, ids: Tensor<2, Int>, token_types: Option<Tensor<2, Int>>) -> Tensor<3> {
        self.embeddings.forward(ids, token_types)
    }

    /// Runs the encoder layers `layers` (a sub-range of `0..num_layers()`) on `hidden`, with
    /// `mask` `[batch, len]` (1 for tokens, 0 for padding). `forward_layers(embed(..), mask,
    /// 0..k)` followed by `forward_layers(.., mask, k..num_layers())` is [`forward`].
    ///
    /// # Panics
    ///
    /// If `layers` reaches past the last layer.
    ///
    /// [`forward`]: Self::forward
    pub fn forward_layers(
        &self,
        hidden: Tensor<3>,
        mask: Tensor<2, Int>,
        layers: Range<usize>,
    ) -> Tensor<3> {
        let bias = self.attention_bias(mask);
        self.encoder.layer[layers]
            .iter()
            .fold(hidden, |hidden, layer| layer.forward(hidden, bias.clone()))
    }

    /// The last hidden state `[batch, len, hidden]` for `ids` and `mask` `[batch, len]`, with
    /// all token types zero (single-segment input).
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2, Int>) -> Tensor<3> {
        let hidden = self.embed(ids, None);
        self.forward_layers(hidden, mask, 0..self.num_layers())
    }

    /// The pooler's output `[batch, hidden]` for a last hidden state, or `None` for a model built
    /// without the pooler.
    pub fn pool(&self, last_hidden: Tensor<3>) -> Option<Tensor<2>> {
        let pooler = self.pooler.as_ref()?;
        let [batch, _, dim] = last_hidden.dims();
        let first = last_hidden.narrow(1, 0, 1).reshape([batch, dim]);
        Some(pooler.dense.forward(first).tanh())
    }
}
