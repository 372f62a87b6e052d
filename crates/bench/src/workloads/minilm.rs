//! The MiniLM forward workload: all-MiniLM-L6-v2, mean pooling and L2 normalisation.

use std::path::Path;

use burn::tensor::{Device, Int, Tensor, TensorData};
use pretrained::bert::BertModel;
use pretrained::flop::encoder_layers_flop;

use super::{load_bert, readback_error};
use crate::BenchError;

/// The MiniLM forward workload.
#[derive(Debug)]
pub struct MinilmWorkload {
    pub(super) model: BertModel,
    pub(super) ids: Tensor<2, Int>,
    mask: Tensor<2, Int>,
    batch: usize,
}

impl MinilmWorkload {
    /// Sentences per step in the comparison.
    pub const BATCH: usize = 64;
    /// Tokens per sentence in the comparison.
    pub const SEQ_LEN: usize = 35;

    /// Loads the checkpoint in `dir` (a transformers BERT folder: `config.json` and
    /// `model.safetensors`) and builds a `batch x seq_len` input.
    ///
    /// # Errors
    ///
    /// [`BenchError::ModelMissing`] when `dir` does not exist, otherwise as
    /// [`BertConfig::from_file`] and [`BertModel::load_safetensors`], and [`Self::new`].
    pub fn from_folder(
        dir: &Path,
        batch: usize,
        seq_len: usize,
        device: &Device,
    ) -> Result<Self, BenchError> {
        Self::new(load_bert(dir, device)?, batch, seq_len, device)
    }

    /// The workload on a given model: random ids in `1000..vocab` (fewer when the vocabulary is
    /// smaller), `[CLS]` (101) first and `[SEP]` (102) last where the vocabulary has them, and a
    /// full attention mask, as in the Python script.
    ///
    /// # Errors
    ///
    /// [`BenchError::Size`] for an empty batch, fewer than two tokens, or more tokens than the
    /// model's position embeddings.
    pub fn new(
        model: BertModel,
        batch: usize,
        seq_len: usize,
        device: &Device,
    ) -> Result<Self, BenchError> {
        let max_len = model.embeddings.position_embeddings.weight.dims()[0];
        if batch == 0 || seq_len < 2 || seq_len > max_len {
            return Err(BenchError::Size(format!(
                "MiniLM batch {batch} x {seq_len} tokens (needs batch >= 1 and 2..={max_len} \
                 tokens)"
            )));
        }
        let vocab = model.embeddings.word_embeddings.weight.dims()[0] as u64;
        let low = if vocab > 1000 { 1000 } else { 0 };
        let special = |id: u64| if id < vocab { id } else { 0 };
        let mut rng = prng::Rng::new(0);
        let mut ids = Vec::with_capacity(batch * seq_len);
        for _ in 0..batch {
            for j in 0..seq_len {
                let id = match j {
                    0 => special(101),
                    _ if j == seq_len - 1 => special(102),
                    _ => low + rng.next_u64() % (vocab - low),
                };
                ids.push(id as i64);
            }
        }
        let shape = [batch, seq_len];
        Ok(Self {
            model,
            ids: Tensor::from_data(TensorData::new(ids, shape), device),
            mask: Tensor::ones(shape, device),
            batch,
        })
    }

    /// Sentences per step.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Floating-point operations of one sentence's forward ([`encoder_layers_flop`] over the
    /// model's layers at the workload's length).
    pub fn flop_per_sentence(&self) -> f64 {
        let layers = &self.model.encoder.layer;
        let Some(first) = layers.first() else {
            return 0.0;
        };
        let [width, ffn] = first.intermediate.dense.weight.dims();
        encoder_layers_flop(self.ids.dims()[1], width, ffn, layers.len())
    }

    /// One forward: the normalised sentence embeddings `[batch, hidden]`.
    pub fn forward(&self) -> Tensor<2> {
        let hidden = self.model.forward(self.ids.clone(), self.mask.clone());
        let [batch, len, dim] = hidden.dims();
        // sentence-transformers' mean pooling and `F.normalize`, as the Python script writes
        // them out.
        let mask = self.mask.clone().float().reshape([batch, len, 1]);
        let count = mask.clone().sum_dim(1).clamp_min(1e-9);
        let pooled = (hidden * mask).sum_dim(1).div(count).reshape([batch, dim]);
        let norm = pooled.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
        pooled / norm
    }

    /// One timed step: [`Self::forward`], read back to the host.
    ///
    /// # Errors
    ///
    /// [`BenchError::Readback`] when the backend fails.
    pub fn step(&self) -> Result<(), BenchError> {
        self.forward()
            .into_data()
            .try_to_vec::<f32>()
            .map_err(readback_error)?;
        Ok(())
    }
}
