//! CLIP's text transformer, following transformers' `modeling_clip.py` (`CLIPTextEmbeddings`,
//! `CLIPTextTransformer`): token plus learned position embeddings, causal self-attention layers
//! that also honour a padding mask, a final LayerNorm, and the pooled output taken at the
//! end-of-text token.
//!
//! The forward pass is also offered in steps ([`ClipTextTransformer::embed`],
//! [`ClipTextTransformer::advance`], [`ClipTextTransformer::pool`]) so that a caller can run the
//! first layers once, keep their output (frozen layers need no gradient), and run the rest later.

use burn::{
    nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig},
    prelude::*,
};

use super::{
    check_complete, check_range, config::ClipTextConfig, encoder::ClipEncoder, input_error,
};
use crate::PretrainedError;

/// Token and position embeddings (`text_model.embeddings`).
#[derive(Module, Debug)]
pub struct ClipTextEmbeddings {
    /// One vector per vocabulary entry `[vocab, D]`.
    pub token_embedding: Embedding,
    /// One vector per position `[max_position_embeddings, D]`.
    pub position_embedding: Embedding,
}

/// The text tower (`CLIPTextTransformer`, the checkpoint's `text_model`).
#[derive(Module, Debug)]
pub struct ClipTextTransformer {
    /// Embeddings.
    pub embeddings: ClipTextEmbeddings,
    /// The transformer layers.
    pub encoder: ClipEncoder,
    /// Norm applied to every output position.
    pub final_layer_norm: LayerNorm,
    /// The config's `eos_token_id` (2 selects the legacy pooling rule).
    pub eos_token_id: i64,
}

/// The text tower's hidden states after some of its layers: what to keep between the frozen
/// and the trained part of the network.
#[derive(Debug, Clone)]
pub struct TextHiddenState {
    /// Hidden states `[B, L, D]` after `layers_done` layers.
    pub hidden: Tensor<3>,
    /// True where a query may not attend to a key `[B, 1, L, L]`: later tokens (causal) and
    /// padding.
    pub blocked: Tensor<4, Bool>,
    /// Per row, the position whose final hidden state is the pooled output.
    pub pooled_positions: Vec<usize>,
    /// How many layers have run.
    pub layers_done: usize,
}

impl TextHiddenState {
    /// The same state cut off from the autodiff graph (for caching the frozen layers' output).
    pub fn detach(self) -> Self {
        Self {
            hidden: self.hidden.detach(),
            ..self
        }
    }
}

/// The text tower's outputs.
#[derive(Debug, Clone)]
pub struct TextOutput {
    /// Every position after the final LayerNorm `[B, L, D]`.
    pub last_hidden_state: Tensor<3>,
    /// The end-of-text position's hidden state `[B, D]`.
    pub pooler_output: Tensor<2>,
}

impl ClipTextConfig {
    /// Builds a randomly initialised text tower of these sizes.
    pub fn init(&self, device: &Device) -> ClipTextTransformer {
        ClipTextTransformer {
            embeddings: ClipTextEmbeddings {
                token_embedding: EmbeddingConfig::new(self.vocab_size, self.hidden_size)
                    .init(device),
                position_embedding: EmbeddingConfig::new(
                    self.max_position_embeddings,
                    self.hidden_size,
                )
                .init(device),
            },
            encoder: super::encoder::clip_encoder!(self, device),
            final_layer_norm: LayerNormConfig::new(self.hidden_size)
                .with_epsilon(self.layer_norm_eps)
                .init(device),
            eos_token_id: self.eos_token_id,
        }
    }
}

impl ClipTextEmbeddings {
    /// `input_ids [B, L]` -> token plus position embeddings `[B, L, D]`.
    ///
    /// # Errors
    ///
    /// When the batch is empty, a row is longer than the position table, or an id is outside
    /// the vocabulary.
    pub fn forward(&self, input_ids: Tensor<2, Int>) -> Result<Tensor<3>, PretrainedError> {
        let [batch, len] = input_ids.dims();
        let [vocab, _] = self.token_embedding.weight.dims();
        let [max_len, _] = self.position_embedding.weight.dims();
        if batch == 0 || len == 0 {
            return Err(input_error(format!(
                "input_ids must be non-empty, got shape [{batch}, {len}]"
            )));
        }
        if len > max_len {
            return Err(input_error(format!(
                "input_ids have {len} positions, the model has {max_len}"
            )));
        }
        let ids = int_values(&input_ids)?;
        if let Some(bad) = ids.iter().find(|&&id| id < 0 || id >= vocab as i64) {
            return Err(input_error(format!(
                "token id {bad} is outside the vocabulary of {vocab}"
            )));
        }
        let positions = Tensor::<1, Int>::arange(0..len as i64, &input_ids.device())
            .unsqueeze::<2>()
            .expand([batch, len]);
        Ok(self.token_embedding.forward(input_ids) + self.position_embedding.forward(positions))
    }
}

impl ClipTextTransformer {
    /// Number of transformer layers.
    pub fn num_layers(&self) -> usize {
        self.encoder.layers.len()
    }

    /// Embeds `input_ids [B, L]` and prepares the attention mask: the state before layer 0.
    ///
    /// `attention_mask [B, L]` holds 1 for real tokens and 0 for padding; `None` means no
    /// padding. Keys at padded positions are hidden from every query, on top of the causal mask.
    ///
    /// # Errors
    ///
    /// As for [`ClipTextEmbeddings::forward`], and when the mask's shape differs from the ids'.
    pub fn embed(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<Tensor<2, Int>>,
    ) -> Result<TextHiddenState, PretrainedError> {
        let [batch, len] = input_ids.dims();
        let device = input_ids.device();
        // Validates the ids (shape, vocabulary) before anything indexes by them.
        let ids = int_values(&input_ids)?;
        let hidden = self.embeddings.forward(input_ids)?;
        let keep = match &attention_mask {
            Some(mask) => {
                if mask.dims() != [batch, len] {
                    return Err(input_error(format!(
                        "attention_mask has shape {:?}, input_ids [{batch}, {len}]",
                        mask.dims()
                    )));
                }
                int_values(mask)?.iter().map(|&m| m != 0).collect()
            }
            None => vec![true; batch * len],
        };
        let pooled_positions = ids
            .chunks(len)
            .map(|row| self.pooled_position(row))
            .collect();

        // Blocked when the key comes after the query (`_create_4d_causal_attention_mask`) or is
        // padding (`_prepare_4d_attention_mask`).
        let mut blocked = Vec::with_capacity(batch * len * len);
        for row in keep.chunks(len) {
            for query in 0..len {
                blocked.extend((0..len).map(|key| key > query || !row[key]));
            }
        }
        let blocked =
            Tensor::<4, Bool>::from_data(TensorData::new(blocked, [batch, 1, len, len]), &device);
        Ok(TextHiddenState {
            hidden,
            blocked,
            pooled_positions,
            layers_done: 0,
        })
    }

    /// The position whose hidden state is pooled, as transformers' `CLIPTextTransformer.forward`
    /// picks it: with the legacy `eos_token_id == 2`, the first position of the row's largest id
    /// (`input_ids.argmax(-1)`: OpenAI's end-of-text token has the largest id); otherwise the
    /// first position holding `eos_token_id` (position 0 when there is none, like torch's argmax
    /// of an all-zero row).
    fn pooled_position(&self, row: &[i64]) -> usize {
        if self.eos_token_id == 2 {
            let max = row.iter().copied().max().unwrap_or(0);
            row.iter().position(|&id| id == max).unwrap_or(0)
        } else {
            row.iter()
                .position(|&id| id == self.eos_token_id)
                .unwrap_or(0)
        }
    }

    /// Runs the layers from `state.layers_done` up to (not including) layer `until`.
    ///
    /// # Errors
    ///
    /// When `until` is before the layers already run or past the last layer.
    pub fn advance(
        &self,
        state: TextHiddenState,
        until: usize,
    ) -> Result<TextHiddenState, PretrainedError> {
        check_range(state.layers_done, until, self.num_layers())?;
        let hidden = self.encoder.forward_range(
            state.hidden,
            Some(state.blocked.clone()),
            state.layers_done..until,
        );
        Ok(TextHiddenState {
            hidden,
            layers_done: until,
            ..state
        })
    }

    /// Applies the final LayerNorm and takes the pooled position of each row.
    ///
    /// # Errors
    ///
    /// When not every layer has run.
    pub fn pool(&self, state: TextHiddenState) -> Result<TextOutput, PretrainedError> {
        check_complete(state.layers_done, self.num_layers())?;
        let last_hidden_state = self.final_layer_norm.forward(state.hidden);
        let [batch, _, width] = last_hidden_state.dims();
        let device = last_hidden_state.device();
        let index = Tensor::<1, Int>::from_data(
            TensorData::new(
                state
                    .pooled_positions
                    .iter()
                    .map(|&p| p as i64)
                    .collect::<Vec<_>>(),
                [batch],
            ),
            &device,
        )
        .reshape([batch, 1, 1])
        .expand([batch, 1, width]);
        let pooler_output = last_hidden_state
            .clone()
            .gather(1, index)
            .reshape([batch, width]);
        Ok(TextOutput {
            last_hidden_state,
            pooler_output,
        })
    }

    /// The whole text tower: `input_ids [B, L]`, optional `attention_mask [B, L]`.
    ///
    /// # Errors
    ///
    /// As for [`Self::embed`].
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<Tensor<2, Int>>,
    ) -> Result<TextOutput, PretrainedError> {
        let state = self.embed(input_ids, attention_mask)?;
        let state = self.advance(state, self.num_layers())?;
        self.pool(state)
    }
}

/// An Int tensor's values on the host, whatever integer type the backend holds them in.
fn int_values<const D: usize>(tensor: &Tensor<D, Int>) -> Result<Vec<i64>, PretrainedError> {
    tensor
        .to_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .map_err(|e| input_error(format!("cannot read token ids: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clip::config::ClipTextConfig;

    fn tiny() -> ClipTextConfig {
        ClipTextConfig {
            vocab_size: 50,
            hidden_size: 16,
            intermediate_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            max_position_embeddings: 8,
            eos_token_id: 49,
            ..ClipTextConfig::default()
        }
    }

    fn ids(rows: &[&[i64]], device: &Device) -> Tensor<2, Int> {
        let len = rows[0].len();
        let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(TensorData::new(flat, [rows.len(), len]), device)
    }

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    #[test]
    fn pooled_output_ignores_padding_and_its_length() {
        let device = Device::flex();
        let model = tiny().init(&device);
        // The same text with 1 and 3 pad tokens (pad = eos, as transformers pads), and a mask.
        let short = ids(&[&[48, 5, 7, 49, 49]], &device);
        let mask_short = ids(&[&[1, 1, 1, 1, 0]], &device);
        let long = ids(&[&[48, 5, 7, 49, 49, 49, 49]], &device);
        let mask_long = ids(&[&[1, 1, 1, 1, 0, 0, 0]], &device);
        let a = model.forward(short, Some(mask_short)).unwrap();
        let b = model.forward(long, Some(mask_long)).unwrap();
        assert!(max_diff(a.pooler_output.clone(), b.pooler_output.clone()) < 1e-5);
        // Padding with another id (OpenAI pads with 0) gives the same features too.
        let zeros = ids(&[&[48, 5, 7, 49, 0, 0, 0]], &device);
        let c = model.forward(zeros, None).unwrap();
        assert!(max_diff(a.pooler_output, c.pooler_output) < 1e-5);
    }

    #[test]
    fn causal_mask_hides_later_tokens() {
        let device = Device::flex();
        let model = tiny().init(&device);
        let a = model
            .forward(ids(&[&[48, 5, 7, 9, 49]], &device), None)
            .unwrap();
        let b = model
            .forward(ids(&[&[48, 5, 7, 30, 49]], &device), None)
            .unwrap();
        let head = |t: Tensor<3>| t.slice([0..1, 0..3, 0..16]);
        // Positions before the change are untouched; the changed one and after are not.
        assert!(
            max_diff(
                head(a.last_hidden_state.clone()),
                head(b.last_hidden_state.clone())
            ) < 1e-6
        );
        assert!(max_diff(a.pooler_output, b.pooler_output) > 1e-4);
    }

    #[test]
    fn pooling_follows_transformers_eos_rules() {
        let device = Device::flex();
        let mut model = tiny().init(&device);
        // New rule: first position of eos (49), even when padding repeats it.
        assert_eq!(model.pooled_position(&[48, 5, 49, 49]), 2);
        // Legacy configs (eos_token_id 2): first position of the largest id.
        model.eos_token_id = 2;
        assert_eq!(model.pooled_position(&[48, 5, 49, 49]), 2);
        assert_eq!(model.pooled_position(&[48, 5, 7, 3]), 0);
        let state = model.embed(ids(&[&[48, 5, 49, 0]], &device), None).unwrap();
        assert_eq!(state.pooled_positions, vec![2]);
    }

    #[test]
    fn split_forward_equals_the_whole() {
        let device = Device::flex();
        let model = tiny().init(&device);
        let input = ids(&[&[48, 5, 7, 49], &[48, 9, 49, 49]], &device);
        let mask = ids(&[&[1, 1, 1, 1], &[1, 1, 1, 0]], &device);
        let whole = model.forward(input.clone(), Some(mask.clone())).unwrap();
        let state = model.embed(input, Some(mask)).unwrap();
        let frozen = model.advance(state, 1).unwrap().detach();
        assert!(model.pool(frozen.clone()).is_err());
        assert!(model.advance(frozen.clone(), 3).is_err());
        let done = model.advance(frozen, 2).unwrap();
        assert!(model.advance(done.clone(), 1).is_err());
        let split = model.pool(done).unwrap();
        assert!(max_diff(whole.pooler_output, split.pooler_output) < 1e-6);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let device = Device::flex();
        let model = tiny().init(&device);
        assert!(model.forward(ids(&[&[48, 50, 49]], &device), None).is_err());
        assert!(model.forward(ids(&[&[48, -1, 49]], &device), None).is_err());
        assert!(model.forward(ids(&[&[1; 9]], &device), None).is_err());
        let mask = ids(&[&[1, 1]], &device);
        assert!(
            model
                .forward(ids(&[&[48, 5, 49]], &device), Some(mask))
                .is_err()
        );
    }
}
