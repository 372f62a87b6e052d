//! `BertConfig`, read from a Hugging Face `config.json` with transformers' defaults
//! (`transformers/models/bert/configuration_bert.py`), and the small JSON helpers that make every
//! config error name its file and field.

use std::path::Path;

use burn::tensor::Device;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::BertModel;
use crate::PretrainedError;

/// The activation of the feed-forward block, as `hidden_act` names it in `config.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HiddenAct {
    /// `"gelu"`: the exact GELU, `x * Φ(x)` with the error function (transformers' `GELUActivation`).
    Gelu,
    /// `"gelu_new"`, `"gelu_pytorch_tanh"`: GELU's tanh approximation.
    GeluTanh,
    /// `"relu"`.
    Relu,
    /// `"silu"`, `"swish"`.
    Silu,
}

impl HiddenAct {
    /// The activation a `hidden_act` string names, or `None` for one this crate does not have.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "gelu" => Self::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => Self::GeluTanh,
            "relu" => Self::Relu,
            "silu" | "swish" => Self::Silu,
            _ => return None,
        })
    }
}

/// The architecture of a BERT-family encoder (`BertModel` in transformers).
///
/// [`BertConfig::default`] is transformers' default (the size of `bert-base-uncased`); fields
/// that `config.json` leaves out keep it. The last two fields are not in `config.json`: they
/// choose how this crate builds the model.
#[derive(Debug, Clone, PartialEq)]
pub struct BertConfig {
    /// Size of the WordPiece vocabulary (`vocab_size`).
    pub vocab_size: usize,
    /// Width of every hidden state (`hidden_size`).
    pub hidden_size: usize,
    /// Number of encoder layers (`num_hidden_layers`).
    pub num_hidden_layers: usize,
    /// Attention heads per layer (`num_attention_heads`); must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward block (`intermediate_size`).
    pub intermediate_size: usize,
    /// Activation of the feed-forward block (`hidden_act`).
    pub hidden_act: HiddenAct,
    /// Longest input the position embeddings cover (`max_position_embeddings`).
    pub max_position_embeddings: usize,
    /// Number of segment (token type) embeddings (`type_vocab_size`).
    pub type_vocab_size: usize,
    /// Epsilon of every layer norm (`layer_norm_eps`).
    pub layer_norm_eps: f64,
    /// Id of the padding token (`pad_token_id`; may be null).
    pub pad_token_id: Option<u32>,
    /// Whether the model has the pooler (`dense` + tanh on the first token) that `BertModel`
    /// builds by default. Sentence-transformers never uses it, so it is off unless asked for.
    pub add_pooling_layer: bool,
    /// What the attention scores of padded keys are shifted by: transformers uses the float
    /// type's minimum (`torch.finfo(dtype).min`, the default here); BLIP's MED text encoder was
    /// trained with `-10000`.
    pub attention_mask_value: f32,
}

impl Default for BertConfig {
    fn default() -> Self {
        Self {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: HiddenAct::Gelu,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            pad_token_id: Some(0),
            add_pooling_layer: false,
            attention_mask_value: f32::MIN,
        }
    }
}

impl BertConfig {
    /// Reads a `config.json`.
    ///
    /// # Errors
    ///
    /// [`PretrainedError::Io`] when the file cannot be read, [`PretrainedError::Config`] naming
    /// the field when a value has the wrong type or describes a model this crate cannot build
    /// (another `hidden_act`, relative position embeddings, heads that do not divide the width).
    pub fn from_file(path: &Path) -> Result<Self, PretrainedError> {
        Self::from_json(&read_json_object(path)?, path)
    }

    /// Reads the BERT fields of a JSON object that came from `path` (for configs that embed a
    /// BERT config among fields of their own, such as BLIP's `med_config.json`).
    ///
    /// # Errors
    ///
    /// As for [`from_file`](Self::from_file).
    pub fn from_json(json: &Map<String, Value>, path: &Path) -> Result<Self, PretrainedError> {
        let default = Self::default();
        let get_usize = |name: &str, default: usize| -> Result<usize, PretrainedError> {
            Ok(json_field(json, name, path)?.unwrap_or(default))
        };
        let hidden_act = match json_field::<String>(json, "hidden_act", path)? {
            None => default.hidden_act,
            Some(name) => HiddenAct::from_name(&name).ok_or_else(|| {
                config_error(
                    path,
                    format!(
                        "field `hidden_act`: unsupported activation {name:?} (supported: gelu, \
                         gelu_new, gelu_pytorch_tanh, relu, silu, swish)"
                    ),
                )
            })?,
        };
        if let Some(kind) = json_field::<String>(json, "position_embedding_type", path)?
            && kind != "absolute"
        {
            return Err(config_error(
                path,
                format!(
                    "field `position_embedding_type`: only \"absolute\" position embeddings are \
                     supported, not {kind:?}"
                ),
            ));
        }
        let config = Self {
            vocab_size: get_usize("vocab_size", default.vocab_size)?,
            hidden_size: get_usize("hidden_size", default.hidden_size)?,
            num_hidden_layers: get_usize("num_hidden_layers", default.num_hidden_layers)?,
            num_attention_heads: get_usize("num_attention_heads", default.num_attention_heads)?,
            intermediate_size: get_usize("intermediate_size", default.intermediate_size)?,
            hidden_act,
            max_position_embeddings: get_usize(
                "max_position_embeddings",
                default.max_position_embeddings,
            )?,
            type_vocab_size: get_usize("type_vocab_size", default.type_vocab_size)?,
            layer_norm_eps: json_field(json, "layer_norm_eps", path)?
                .unwrap_or(default.layer_norm_eps),
            // An explicit null means "no padding token", absence means transformers' default.
            pad_token_id: match json.get("pad_token_id") {
                Some(Value::Null) => None,
                _ => json_field(json, "pad_token_id", path)?.or(default.pad_token_id),
            },
            ..default
        };
        for (name, value) in [
            ("vocab_size", config.vocab_size),
            ("hidden_size", config.hidden_size),
            ("num_attention_heads", config.num_attention_heads),
            ("intermediate_size", config.intermediate_size),
            ("max_position_embeddings", config.max_position_embeddings),
            ("type_vocab_size", config.type_vocab_size),
        ] {
            if value == 0 {
                return Err(config_error(
                    path,
                    format!("field `{name}` must be positive"),
                ));
            }
        }
        if !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
        {
            return Err(config_error(
                path,
                format!(
                    "field `num_attention_heads`: {} heads do not divide `hidden_size` {}",
                    config.num_attention_heads, config.hidden_size
                ),
            ));
        }
        Ok(config)
    }

    /// The same config with or without the pooler.
    pub fn with_pooler(self, add_pooling_layer: bool) -> Self {
        Self {
            add_pooling_layer,
            ..self
        }
    }

    /// The same config with another shift for the attention scores of padded keys.
    pub fn with_attention_mask_value(self, attention_mask_value: f32) -> Self {
        Self {
            attention_mask_value,
            ..self
        }
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Builds the model with freshly initialised weights (load a checkpoint into it with
    /// [`BertModel::load_safetensors`]).
    pub fn init(&self, device: &Device) -> BertModel {
        BertModel::new(self, device)
    }
}

use crate::error::config_error;

/// Reads a JSON file whose top level is an object.
pub(crate) fn read_json_object(path: &Path) -> Result<Map<String, Value>, PretrainedError> {
    let text = crate::error::read_text(path)?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(config_error(path, "not a JSON object".to_string())),
        Err(e) => Err(config_error(path, format!("not valid JSON: {e}"))),
    }
}

/// One field of a JSON object: `None` when absent or null, an error naming the field when it
/// has the wrong type.
pub(crate) fn json_field<T: DeserializeOwned>(
    json: &Map<String, Value>,
    name: &str,
    path: &Path,
) -> Result<Option<T>, PretrainedError> {
    match json.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::deserialize(value)
            .map(Some)
            .map_err(|e| config_error(path, format!("field `{name}`: {e}"))),
    }
}
