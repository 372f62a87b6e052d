//! Sentence embeddings as sentence-transformers computes them (`SentenceTransformer` with a
//! `Transformer`, a `Pooling` and optionally a `Normalize` module): tokenise with the folder's
//! `tokenizer.json` (truncated to `max_seq_length`, padded to the batch's longest), run the BERT
//! encoder, pool over the attention mask (mean or first token), L2-normalise when the folder's
//! `modules.json` says so.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::Deserialize;
use tokenizers::{PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::{BertConfig, BertModel, json_field, read_json_object};
use crate::PretrainedError;
use crate::error::config_error;

/// How token states become one sentence vector (sentence-transformers' `Pooling` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Average of the states of the real (unpadded) tokens (`pooling_mode_mean_tokens`).
    Mean,
    /// The state of the first token, `[CLS]` (`pooling_mode_cls_token`; no pooler layer).
    Cls,
}

/// A tokenised batch: ids and attention mask `[batch, len]`, padded to the longest sequence.
#[derive(Debug, Clone)]
pub struct TokenBatch {
    /// Token ids, padded with the pad id.
    pub ids: Tensor<2, Int>,
    /// 1 for tokens, 0 for padding.
    pub mask: Tensor<2, Int>,
    /// Unpadded length of each sequence (after truncation).
    pub lengths: Vec<usize>,
}

/// A sentence encoder loaded from a sentence-transformers (or plain transformers BERT) folder;
/// see the [module documentation](super) for an example.
#[derive(Debug)]
pub struct SentenceEncoder {
    model: BertModel,
    tokenizer: Tokenizer,
    tokenizer_path: PathBuf,
    pooling: Pooling,
    normalize: bool,
    max_length: usize,
    lowercase: bool,
    device: Device,
}

/// What a sentence-transformers folder's own files say, apart from the transformer's.
#[derive(Debug, Clone, PartialEq)]
struct Layout {
    /// Folder with `config.json`, `model.safetensors` and `tokenizer.json`.
    transformer_dir: PathBuf,
    pooling: Pooling,
    normalize: bool,
    max_seq_length: Option<usize>,
    lowercase: bool,
}

/// One entry of `modules.json`.
#[derive(Debug, Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

const TRANSFORMER: &str = "sentence_transformers.models.Transformer";
const POOLING: &str = "sentence_transformers.models.Pooling";
const NORMALIZE: &str = "sentence_transformers.models.Normalize";

impl Layout {
    /// Reads `modules.json`, the pooling config and `sentence_bert_config.json` where present.
    /// A folder without `modules.json` is a plain transformers model: CLS pooling, no
    /// normalisation.
    fn read(dir: &Path) -> Result<Self, PretrainedError> {
        let mut layout = Self {
            transformer_dir: dir.to_path_buf(),
            pooling: Pooling::Cls,
            normalize: false,
            max_seq_length: None,
            lowercase: false,
        };
        let mut pooling_dir = dir.join("1_Pooling");
        let modules_path = dir.join("modules.json");
        if modules_path.exists() {
            let text = crate::error::read_text(&modules_path)?;
            let modules: Vec<ModuleEntry> = serde_json::from_str(&text).map_err(|e| {
                config_error(
                    &modules_path,
                    format!("not a list of modules with `type` and `path`: {e}"),
                )
            })?;
            for module in modules {
                match module.kind.as_str() {
                    TRANSFORMER => layout.transformer_dir = dir.join(&module.path),
                    POOLING => pooling_dir = dir.join(&module.path),
                    NORMALIZE => layout.normalize = true,
                    other => {
                        return Err(config_error(
                            &modules_path,
                            format!(
                                "field `type`: module {other:?} is not supported (only \
                                 Transformer, Pooling and Normalize)"
                            ),
                        ));
                    }
                }
            }
        }

        let pooling_path = pooling_dir.join("config.json");
        if pooling_path.exists() {
            layout.pooling = read_pooling(&pooling_path)?;
        }

        let st_config_path = layout.transformer_dir.join("sentence_bert_config.json");
        if st_config_path.exists() {
            let json = read_json_object(&st_config_path)?;
            layout.max_seq_length = json_field(&json, "max_seq_length", &st_config_path)?;
            layout.lowercase =
                json_field(&json, "do_lower_case", &st_config_path)?.unwrap_or(false);
        }
        Ok(layout)
    }
}

/// The pooling mode of a sentence-transformers `Pooling` config: exactly one of the supported
/// modes may be on.
fn read_pooling(path: &Path) -> Result<Pooling, PretrainedError> {
    let json = read_json_object(path)?;
    let mut modes = Vec::new();
    for (field, mode) in [
        ("pooling_mode_mean_tokens", Some(Pooling::Mean)),
        ("pooling_mode_cls_token", Some(Pooling::Cls)),
        ("pooling_mode_max_tokens", None),
        ("pooling_mode_mean_sqrt_len_tokens", None),
        ("pooling_mode_weightedmean_tokens", None),
        ("pooling_mode_lasttoken", None),
    ] {
        if json_field::<bool>(&json, field, path)?.unwrap_or(false) {
            let mode = mode.ok_or_else(|| {
                config_error(
                    path,
                    format!("field `{field}`: this pooling is not supported"),
                )
            })?;
            modes.push((field, mode));
        }
    }
    match modes.as_slice() {
        [(_, mode)] => Ok(*mode),
        [] => Err(config_error(
            path,
            "no pooling mode is on (expected `pooling_mode_mean_tokens` or \
             `pooling_mode_cls_token`)"
                .to_string(),
        )),
        _ => Err(config_error(
            path,
            "fields `pooling_mode_mean_tokens` and `pooling_mode_cls_token` are both on: \
             concatenated poolings are not supported"
                .to_string(),
        )),
    }
}

impl SentenceEncoder {
    /// Loads the model in `dir`: `config.json`, `model.safetensors` and `tokenizer.json`, with
    /// sentence-transformers' `modules.json`, pooling config and `sentence_bert_config.json`
    /// when present (otherwise CLS pooling, no normalisation, and the tokenizer's own truncation
    /// length or `max_position_embeddings`).
    ///
    /// # Errors
    ///
    /// A [`PretrainedError`] naming the file (and the field, for configs) that is missing,
    /// malformed or describes something unsupported, or every tensor that does not fit.
    pub fn from_folder(dir: &Path, device: &Device) -> Result<Self, PretrainedError> {
        let layout = Layout::read(dir)?;
        let transformer_dir = &layout.transformer_dir;
        let config_path = transformer_dir.join("config.json");
        let config = BertConfig::from_file(&config_path)?;

        let tokenizer_path = transformer_dir.join("tokenizer.json");
        let tokenizer_error = |message: String| PretrainedError::Tokenizer {
            path: tokenizer_path.clone(),
            message,
        };
        if !tokenizer_path.exists() {
            return Err(PretrainedError::Io {
                path: tokenizer_path.clone(),
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| tokenizer_error(e.to_string()))?;

        let max_length = match layout.max_seq_length {
            Some(length) => length,
            None => tokenizer
                .get_truncation()
                .map_or(config.max_position_embeddings, |t| t.max_length),
        };
        if max_length > config.max_position_embeddings || max_length < 2 {
            return Err(config_error(
                &transformer_dir.join("sentence_bert_config.json"),
                format!(
                    "field `max_seq_length`: {max_length} is outside 2..={} \
                     (`max_position_embeddings` of config.json)",
                    config.max_position_embeddings
                ),
            ));
        }
        // The tokenizer file's own padding (often to a fixed 128) gives the pad token; the
        // strategy becomes the batch's longest, as sentence-transformers pads.
        let (pad_id, pad_token, pad_type_id) = match tokenizer.get_padding() {
            Some(padding) => (
                padding.pad_id,
                padding.pad_token.clone(),
                padding.pad_type_id,
            ),
            None => {
                let id = config.pad_token_id.ok_or_else(|| {
                    tokenizer_error(
                        "no padding in tokenizer.json and `pad_token_id` is null in config.json"
                            .to_string(),
                    )
                })?;
                let token = tokenizer.id_to_token(id).ok_or_else(|| {
                    tokenizer_error(format!("`pad_token_id` {id} is not in the vocabulary"))
                })?;
                (id, token, 0)
            }
        };
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id,
            pad_type_id,
            pad_token,
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| tokenizer_error(e.to_string()))?;

        let model = config
            .init(device)
            .load_safetensors(&transformer_dir.join("model.safetensors"))?;
        Ok(Self {
            model,
            tokenizer,
            tokenizer_path,
            pooling: layout.pooling,
            normalize: layout.normalize,
            max_length,
            lowercase: layout.lowercase,
            device: device.clone(),
        })
    }

    /// Tokenises `texts` into one batch, truncated to [`max_length`](Self::max_length) and
    /// padded to the longest.
    ///
    /// # Errors
    ///
    /// [`PretrainedError::Tokenizer`] when the tokenizer fails on a text.
    pub fn tokenize(&self, texts: &[&str]) -> Result<TokenBatch, PretrainedError> {
        let lowered: Vec<String>;
        let inputs: Vec<&str> = if self.lowercase {
            lowered = texts.iter().map(|t| t.to_lowercase()).collect();
            lowered.iter().map(String::as_str).collect()
        } else {
            texts.to_vec()
        };
        let encodings =
            self.tokenizer
                .encode_batch(inputs, true)
                .map_err(|e| PretrainedError::Tokenizer {
                    path: self.tokenizer_path.clone(),
                    message: e.to_string(),
                })?;
        let len = encodings.first().map_or(0, |e| e.len());
        let mut ids = Vec::with_capacity(texts.len() * len);
        let mut mask = Vec::with_capacity(texts.len() * len);
        let mut lengths = Vec::with_capacity(texts.len());
        for encoding in &encodings {
            ids.extend(encoding.get_ids().iter().map(|&id| i64::from(id)));
            mask.extend(encoding.get_attention_mask().iter().map(|&m| i64::from(m)));
            lengths.push(
                encoding
                    .get_attention_mask()
                    .iter()
                    .filter(|&&m| m == 1)
                    .count(),
            );
        }
        let shape = [texts.len(), len];
        Ok(TokenBatch {
            ids: Tensor::from_data(TensorData::new(ids, shape), &self.device),
            mask: Tensor::from_data(TensorData::new(mask, shape), &self.device),
            lengths,
        })
    }

    /// Pools a last hidden state `[batch, len, dim]` over `mask` `[batch, len]` and normalises
    /// it when the model does: the step after the encoder, for callers that run the layers
    /// themselves.
    pub fn pool(&self, last_hidden: Tensor<3>, mask: Tensor<2, Int>) -> Tensor<2> {
        let [batch, len, dim] = last_hidden.dims();
        let pooled = match self.pooling {
            Pooling::Cls => last_hidden.narrow(1, 0, 1).reshape([batch, dim]),
            Pooling::Mean => {
                let mask = mask.float().reshape([batch, len, 1]);
                // sentence-transformers clamps the token count at 1e-9.
                let count = mask.clone().sum_dim(1).clamp_min(1e-9);
                (last_hidden * mask)
                    .sum_dim(1)
                    .div(count)
                    .reshape([batch, dim])
            }
        };
        if self.normalize {
            // torch.nn.functional.normalize: x / max(|x|, 1e-12).
            let norm = pooled.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
            pooled / norm
        } else {
            pooled
        }
    }

    /// Embeds `texts` as one padded batch: `[texts.len(), embedding_dim()]`.
    ///
    /// # Errors
    ///
    /// [`PretrainedError::Tokenizer`] when the tokenizer fails on a text.
    pub fn encode(&self, texts: &[&str]) -> Result<Tensor<2>, PretrainedError> {
        if texts.is_empty() {
            return Ok(Tensor::zeros([0, self.embedding_dim()], &self.device));
        }
        let batch = self.tokenize(texts)?;
        let hidden = self.model.forward(batch.ids, batch.mask.clone());
        Ok(self.pool(hidden, batch.mask))
    }

    /// Width of the sentence embeddings.
    pub fn embedding_dim(&self) -> usize {
        self.model.hidden_size()
    }

    /// The BERT encoder.
    pub fn model(&self) -> &BertModel {
        &self.model
    }

    /// The pooling mode.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Whether embeddings are L2-normalised.
    pub fn normalizes(&self) -> bool {
        self.normalize
    }

    /// The longest input in tokens (special tokens included); longer texts are truncated.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

#[cfg(test)]
mod tests;
