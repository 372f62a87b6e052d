//! Text encoder for prompts: token embeddings plus learned position embeddings, then transformer
//! layers that ignore padding, then a masked mean as the pooled prompt vector.
//!
//! Stands in for BLIP's BERT text encoder at a size that trains from scratch on a few thousand
//! prompts; padding (id 0) must never influence real tokens or the pooled vector, which is why
//! the attention mask is threaded through everything.

use burn::{
    module::Param,
    nn::{
        Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig,
        transformer::{TransformerEncoder, TransformerEncoderInput},
    },
    prelude::*,
};

use crate::{
    ModelConfig,
    image_encoder::{position_embedding, transformer_config},
};

/// Output of the [`TextEncoder`].
#[derive(Debug, Clone)]
pub struct TextFeatures {
    /// Token vectors `[B, L, d]` (padding positions hold meaningless values).
    pub tokens: Tensor<3>,
    /// `true` at padding positions `[B, L]`, the convention of burn's attention `mask_pad`.
    pub pad_mask: Tensor<2, Bool>,
    /// Masked mean of the token vectors `[B, d]`.
    pub pooled: Tensor<2>,
}

/// Token + position embeddings and transformer layers over prompt tokens.
#[derive(Module, Debug)]
pub struct TextEncoder {
    embed: Embedding,
    /// `[1, max_text_len, d]`.
    pos: Param<Tensor<3>>,
    layers: TransformerEncoder,
    norm: LayerNorm,
    max_len: usize,
}

/// Mean over the sequence axis counting only positions where `keep` is 1.
///
/// The denominator is clamped to 1 so a row without any token (an empty prompt encoded without
/// special tokens) pools to zeros rather than NaN.
pub fn masked_mean_tokens(tokens: Tensor<3>, keep: Tensor<2>) -> Tensor<2> {
    let keep = keep.unsqueeze_dim::<3>(2);
    let sum = (tokens * keep.clone()).sum_dim(1);
    let count = keep.sum_dim(1).clamp_min(1.0);
    (sum / count).squeeze_dim::<2>(1)
}

impl TextEncoder {
    /// Builds the encoder described by `config` (which should be validated).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        Self {
            embed: EmbeddingConfig::new(config.vocab_size, config.d_model).init(device),
            pos: position_embedding(config.max_text_len, config.d_model, device),
            layers: transformer_config(config, config.text_layers).init(device),
            norm: LayerNormConfig::new(config.d_model).init(device),
            max_len: config.max_text_len,
        }
    }

    /// Encodes token ids `[B, L]` with their attention mask `[B, L]` (1 = token, 0 = padding).
    ///
    /// Sequences longer than `max_text_len` are cut to it. Ids must be below `vocab_size`.
    pub fn forward(
        &self,
        token_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
    ) -> TextFeatures {
        let [_, len] = token_ids.dims();
        let (token_ids, attention_mask) = if len > self.max_len {
            (
                token_ids.narrow(1, 0, self.max_len),
                attention_mask.narrow(1, 0, self.max_len),
            )
        } else {
            (token_ids, attention_mask)
        };
        let [_, len] = token_ids.dims();
        let keep = attention_mask.greater_elem(0);
        let pad_mask = keep.clone().bool_not();
        let pos = self.pos.val().narrow(1, 0, len);
        let x = self.embed.forward(token_ids) + pos;
        let x = self
            .layers
            .forward(TransformerEncoderInput::new(x).mask_pad(pad_mask.clone()));
        let tokens = self.norm.forward(x);
        let pooled = masked_mean_tokens(tokens.clone(), keep.float());
        TextFeatures {
            tokens,
            pad_mask,
            pooled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(rows: &[&[i64]], device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
        let l = rows[0].len();
        let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        let mask: Vec<i64> = flat.iter().map(|&i| i64::from(i != 0)).collect();
        (
            Tensor::from_data(TensorData::new(flat, [rows.len(), l]), device),
            Tensor::from_data(TensorData::new(mask, [rows.len(), l]), device),
        )
    }

    #[test]
    fn shapes_and_padding_is_ignored() {
        let device = Device::flex();
        let cfg = ModelConfig::tiny();
        let enc = TextEncoder::new(&cfg, &device);
        // Same tokens, different amounts of padding content: padding ids must not matter.
        let (a, ma) = ids(&[&[5, 6, 7, 0, 0, 0]], &device);
        let (b, _) = ids(&[&[5, 6, 7, 9, 9, 9]], &device);
        let out_a = enc.forward(a, ma.clone());
        let out_b = enc.forward(b, ma);
        assert_eq!(out_a.tokens.dims(), [1, 6, cfg.d_model]);
        assert_eq!(out_a.pooled.dims(), [1, cfg.d_model]);
        let diff = (out_a.pooled - out_b.pooled)
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(
            diff < 1e-5,
            "pooled vector depends on padded positions: {diff}"
        );
    }

    #[test]
    fn long_and_empty_inputs() {
        let device = Device::flex();
        let cfg = ModelConfig::tiny();
        let enc = TextEncoder::new(&cfg, &device);
        let long: Vec<i64> = (1..=20).collect();
        let (t, m) = ids(&[&long], &device);
        assert_eq!(
            enc.forward(t, m).tokens.dims(),
            [1, cfg.max_text_len, cfg.d_model]
        );
        let (t, m) = ids(&[&[0, 0, 0]], &device);
        let pooled = enc.forward(t, m).pooled;
        assert!(!pooled.is_nan().any().into_scalar::<bool>());
    }
}
