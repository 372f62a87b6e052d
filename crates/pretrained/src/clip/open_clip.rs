//! OpenCLIP checkpoints (the state dict of `open_clip`'s `CLIP`, as HPSv2's
//! `HPS_v2_compressed.pt` and `HPS_v2.1_compressed.pt` hold it under `state_dict`) loaded into
//! the transformers-layout [`ClipModel`]: OpenCLIP's model config (`ViT-H-14.json` and its like),
//! and the key map from OpenCLIP's names onto transformers'.
//!
//! The two layouts compute the same function: OpenCLIP's residual block is transformers' encoder
//! layer with the attention's input projections fused (`attn.in_proj_weight`, `[3 * width,
//! width]`, rows in q, k, v order, split here), and its projections are matrices used as
//! `x @ proj` (`text_projection`, `visual.proj`, `[width, embed]`), the transpose of a `Linear`
//! weight. OpenCLIP pools the text at the largest token id, which is the first end-of-text token
//! of a tokenized prompt (49407 is the vocabulary's last id), where transformers' model pools.

use std::path::Path;

use burn::prelude::*;
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ModuleStore, PytorchStore, SafetensorsStore, bridge};
use serde::Deserialize;

use super::config::{Activation, ClipConfig, ClipTextConfig, ClipVisionConfig};
use super::{ClipModel, Towers};
use crate::{PretrainedError, load};

/// OpenCLIP's model config (`open_clip/model_configs/*.json`): the sizes a checkpoint's tensors
/// do not all tell (the number of attention heads is in none of them).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenClipConfig {
    /// Width of the joint space.
    pub embed_dim: usize,
    /// The image tower.
    pub vision_cfg: OpenClipVisionConfig,
    /// The text tower.
    pub text_cfg: OpenClipTextConfig,
    /// OpenAI's `x * sigmoid(1.702 x)` instead of the exact GELU (the `-quickgelu` configs).
    #[serde(default)]
    pub quick_gelu: bool,
}

/// `vision_cfg` of an OpenCLIP config: a plain ViT (no timm tower, no attentional pooling).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenClipVisionConfig {
    /// Side of the square input image.
    pub image_size: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Width of the residual stream.
    pub width: usize,
    /// Width of one attention head (heads = width / head_width).
    #[serde(default = "default_head_width")]
    pub head_width: usize,
    /// Side of a square patch.
    pub patch_size: usize,
    /// Feed-forward width over residual width.
    #[serde(default = "default_mlp_ratio")]
    pub mlp_ratio: f64,
    /// Patches dropped in training; nothing at inference.
    #[serde(default)]
    pub patch_dropout: f64,
}

/// `text_cfg` of an OpenCLIP config: OpenCLIP's own text transformer (no Hugging Face tower).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenClipTextConfig {
    /// Tokens per prompt.
    #[serde(default = "default_context_length")]
    pub context_length: usize,
    /// Token vocabulary size.
    #[serde(default = "default_vocab_size")]
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub width: usize,
    /// Attention heads.
    pub heads: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Feed-forward width over residual width.
    #[serde(default = "default_mlp_ratio")]
    pub mlp_ratio: f64,
}

fn default_head_width() -> usize {
    64
}
fn default_mlp_ratio() -> f64 {
    4.0
}
fn default_context_length() -> usize {
    77
}
fn default_vocab_size() -> usize {
    49408
}

impl OpenClipConfig {
    /// `ViT-H-14.json`: LAION's ViT-H/14, the backbone of HPSv2 and HPSv2.1.
    pub fn vit_h_14() -> Self {
        Self {
            embed_dim: 1024,
            vision_cfg: OpenClipVisionConfig {
                image_size: 224,
                layers: 32,
                width: 1280,
                head_width: 80,
                patch_size: 14,
                mlp_ratio: 4.0,
                patch_dropout: 0.0,
            },
            text_cfg: OpenClipTextConfig {
                context_length: 77,
                vocab_size: 49408,
                width: 1024,
                heads: 16,
                layers: 24,
                mlp_ratio: 4.0,
            },
            quick_gelu: false,
        }
    }

    /// Parses an OpenCLIP model config; `path` only names the file in errors. Options this port
    /// does not implement (a timm or Hugging Face tower, attentional pooling, layer scale) are
    /// unknown fields, and so errors, rather than ignored.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, PretrainedError> {
        let error = |message: String| crate::error::config_error(path, message);
        let config: Self = serde_json::from_str(text).map_err(|e| error(e.to_string()))?;
        config.to_clip_config().validate().map_err(error)?;
        let v = &config.vision_cfg;
        if v.head_width == 0 || !v.width.is_multiple_of(v.head_width) {
            return Err(error(format!(
                "vision_cfg.width {} is not a multiple of head_width {}",
                v.width, v.head_width
            )));
        }
        Ok(config)
    }

    /// Reads and parses an OpenCLIP model config file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, PretrainedError> {
        crate::error::read_config(path.as_ref(), Self::from_json_str)
    }

    /// The same model in transformers' terms.
    pub fn to_clip_config(&self) -> ClipConfig {
        let activation = if self.quick_gelu {
            Activation::QuickGelu
        } else {
            Activation::Gelu
        };
        let (t, v) = (&self.text_cfg, &self.vision_cfg);
        ClipConfig {
            text_config: ClipTextConfig {
                vocab_size: t.vocab_size,
                hidden_size: t.width,
                intermediate_size: (t.width as f64 * t.mlp_ratio) as usize,
                num_hidden_layers: t.layers,
                num_attention_heads: t.heads,
                max_position_embeddings: t.context_length,
                hidden_act: activation,
                ..ClipTextConfig::default()
            },
            vision_config: ClipVisionConfig {
                hidden_size: v.width,
                intermediate_size: (v.width as f64 * v.mlp_ratio) as usize,
                num_hidden_layers: v.layers,
                num_attention_heads: v.width / v.head_width.max(1),
                image_size: v.image_size,
                patch_size: v.patch_size,
                hidden_act: activation,
                ..ClipVisionConfig::default()
            },
            projection_dim: self.embed_dim,
            ..ClipConfig::default()
        }
    }
}

/// OpenCLIP's key names onto transformers', in order (after the fused and transposed tensors
/// have been given the names `attn.q_proj`, `attn.k_proj`, `attn.v_proj`).
const KEY_MAP: &[(&str, &str)] = &[
    (
        r"^visual\.transformer\.resblocks\.(\d+)\.",
        "vision_model.encoder.layers.$1.",
    ),
    (
        r"^transformer\.resblocks\.(\d+)\.",
        "text_model.encoder.layers.$1.",
    ),
    (r"\.ln_1\.", ".layer_norm1."),
    (r"\.ln_2\.", ".layer_norm2."),
    (r"\.attn\.", ".self_attn."),
    (r"\.mlp\.c_fc\.", ".mlp.fc1."),
    (r"\.mlp\.c_proj\.", ".mlp.fc2."),
    (
        r"^token_embedding\.weight$",
        "text_model.embeddings.token_embedding.weight",
    ),
    (
        r"^positional_embedding$",
        "text_model.embeddings.position_embedding.weight",
    ),
    (r"^ln_final\.", "text_model.final_layer_norm."),
    (r"^text_projection$", "text_projection.weight"),
    (
        r"^visual\.class_embedding$",
        "vision_model.embeddings.class_embedding",
    ),
    (
        r"^visual\.positional_embedding$",
        "vision_model.embeddings.position_embedding.weight",
    ),
    (
        r"^visual\.conv1\.weight$",
        "vision_model.embeddings.patch_embedding.weight",
    ),
    (r"^visual\.ln_pre\.", "vision_model.pre_layrnorm."),
    (r"^visual\.ln_post\.", "vision_model.post_layernorm."),
    (r"^visual\.proj$", "visual_projection.weight"),
];

impl ClipModel {
    /// Loads an OpenCLIP checkpoint of the model `config` describes: a PyTorch file (`.pt`,
    /// `.pth`, `.bin`) holding the state dict at its top level or under `state_dict` (as HPSv2's
    /// do), or a SafeTensors file. A `module.` prefix (a checkpoint saved from
    /// `DistributedDataParallel`) is dropped; half-precision weights are widened.
    ///
    /// # Errors
    ///
    /// When the file cannot be read, or its tensors do not fit `config` (each missing,
    /// unexpected or misshaped tensor named by its key in the file).
    pub fn from_open_clip_checkpoint(
        path: &Path,
        config: &OpenClipConfig,
        device: &Device,
    ) -> Result<Self, PretrainedError> {
        let weights_error = |details: String| PretrainedError::Weights {
            path: path.to_path_buf(),
            details,
        };
        let tensors = read_open_clip_tensors(path)?;
        let mut scale = None;
        let mut kept = Vec::with_capacity(tensors.len() + 2 * config.text_cfg.layers);
        for mut tensor in tensors {
            if let Some(rest) = tensor.name.strip_prefix("module.") {
                tensor.name = rest.to_string();
            }
            let name = tensor.name.clone();
            let data = || {
                bridge::to_data(&tensor).map_err(|e| {
                    weights_error(format!("  unreadable: checkpoint key `{name}`: {e}"))
                })
            };
            if name == "logit_scale" {
                scale = Some(scalar(data()?, &name).map_err(weights_error)?);
            } else if let Some(block) = name.strip_suffix(".attn.in_proj_weight") {
                kept.extend(split_qkv(data()?, block, "weight").map_err(weights_error)?);
            } else if let Some(block) = name.strip_suffix(".attn.in_proj_bias") {
                kept.extend(split_qkv(data()?, block, "bias").map_err(weights_error)?);
            } else if name == "text_projection" || name == "visual.proj" {
                kept.push(transposed(data()?, &name).map_err(weights_error)?);
            } else {
                kept.push(tensor);
            }
        }
        let scale = scale.ok_or_else(|| {
            weights_error("  missing: no checkpoint key `logit_scale`".to_string())
        })?;
        let model = config.to_clip_config().init(device);
        let towers = load::load_tensors(
            Towers {
                text_model: model.text_model,
                vision_model: model.vision_model,
                visual_projection: model.visual_projection,
                text_projection: model.text_projection,
            },
            path,
            kept,
            KEY_MAP,
            // OpenAI's JIT models and some early OpenCLIP ones saved the causal mask.
            &[r"^attn_mask$"],
        )?;
        Ok(Self {
            text_model: towers.text_model,
            vision_model: towers.vision_model,
            visual_projection: towers.visual_projection,
            text_projection: towers.text_projection,
            logit_scale: burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![scale], [1]),
                device,
            )),
        })
    }
}

/// Every tensor of an OpenCLIP checkpoint, named as in the file.
fn read_open_clip_tensors(path: &Path) -> Result<Vec<PackTensor>, PretrainedError> {
    let io_or = |details: String| PretrainedError::Weights {
        path: path.to_path_buf(),
        details,
    };
    if path.extension().is_some_and(|e| e == "safetensors") {
        let mut store = SafetensorsStore::from_file(path);
        return match store.get_all_tensors() {
            Ok(tensors) => Ok(tensors.values().cloned().collect()),
            Err(burn::store::SafetensorsStoreError::Io(source)) => Err(PretrainedError::Io {
                path: path.to_path_buf(),
                source,
            }),
            Err(e) => Err(io_or(format!("  not a readable SafeTensors file: {e}"))),
        };
    }
    let read = |top: Option<&str>| {
        let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
        if let Some(key) = top {
            store = store.with_top_level_key(key);
        }
        store
            .get_all_tensors()
            .map(|tensors| tensors.values().cloned().collect::<Vec<_>>())
    };
    match read(Some("state_dict")) {
        Ok(tensors) if !tensors.is_empty() => Ok(tensors),
        _ => match read(None) {
            Ok(tensors) => Ok(tensors),
            Err(burn::store::PytorchStoreError::Io(source)) => Err(PretrainedError::Io {
                path: path.to_path_buf(),
                source,
            }),
            Err(e) => Err(io_or(format!("  not a readable PyTorch checkpoint: {e}"))),
        },
    }
}

/// A one-element tensor's value.
fn scalar(data: TensorData, key: &str) -> Result<f32, String> {
    let shape = data.shape().to_vec();
    let values = data
        .try_into_vec_as::<f32>()
        .map_err(|e| format!("  unreadable: checkpoint key `{key}`: {e:?}"))?;
    match values[..] {
        [value] => Ok(value),
        _ => Err(format!(
            "  misshaped: checkpoint key `{key}` has shape {shape:?}, the model expects a scalar"
        )),
    }
}

/// A float tensor's values as f32 (half precision widens exactly) with its shape.
fn f32_values(data: TensorData, key: &str) -> Result<(Vec<f32>, Vec<usize>), String> {
    let shape = data.shape().to_vec();
    let values = data
        .try_into_vec_as::<f32>()
        .map_err(|e| format!("  unreadable: checkpoint key `{key}`: {e:?}"))?;
    Ok((values, shape))
}

/// The fused input projection of `block` (`[3 * width, width]` weight or `[3 * width]` bias)
/// split into `block.attn.{q,k,v}_proj.{param}`.
fn split_qkv(data: TensorData, block: &str, param: &str) -> Result<Vec<PackTensor>, String> {
    let key = format!("{block}.attn.in_proj_{param}");
    let (values, shape) = f32_values(data, &key)?;
    let rows = shape.first().copied().unwrap_or(0);
    if rows == 0 || !rows.is_multiple_of(3) || shape.len() > 2 {
        return Err(format!(
            "  misshaped: checkpoint key `{key}` has shape {shape:?}, the model expects \
             [3 * width{}]",
            if param == "weight" { ", width" } else { "" }
        ));
    }
    let part_rows = rows / 3;
    let part_len = values.len() / 3;
    let mut part_shape = shape.clone();
    part_shape[0] = part_rows;
    Ok(["q", "k", "v"]
        .iter()
        .enumerate()
        .map(|(i, which)| {
            let part = values[i * part_len..(i + 1) * part_len].to_vec();
            bridge::from_data(
                TensorData::new(part, part_shape.clone()),
                format!("{block}.attn.{which}_proj.{param}"),
                None,
            )
        })
        .collect())
}

/// A `[width, embed]` projection matrix as the `[embed, width]` weight of a PyTorch `Linear`.
fn transposed(data: TensorData, key: &str) -> Result<PackTensor, String> {
    let (values, shape) = f32_values(data, key)?;
    let [rows, cols] = shape[..] else {
        return Err(format!(
            "  misshaped: checkpoint key `{key}` has shape {shape:?}, the model expects a matrix"
        ));
    };
    let mut out = vec![0.0f32; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    Ok(bridge::from_data(
        TensorData::new(out, [cols, rows]),
        key.to_string(),
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vit_h_14_is_pickscores_and_hpsv2s_backbone() {
        let config = OpenClipConfig::vit_h_14().to_clip_config();
        assert_eq!(config, ClipConfig::vit_huge_patch14());
    }

    #[test]
    fn configs_with_options_this_port_lacks_are_errors_naming_the_field() {
        let path = Path::new("dir/ViT-x.json");
        let text = r#"{"embed_dim": 8, "vision_cfg": {"image_size": 16, "layers": 1, "width": 8,
            "patch_size": 8, "head_width": 4, "attentional_pool": true},
            "text_cfg": {"width": 8, "heads": 2, "layers": 1}}"#;
        let message = OpenClipConfig::from_json_str(text, path)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("dir/ViT-x.json") && message.contains("attentional_pool"),
            "{message}"
        );
        let heads = r#"{"embed_dim": 8, "vision_cfg": {"image_size": 16, "layers": 1,
            "width": 8, "patch_size": 8, "head_width": 3},
            "text_cfg": {"width": 8, "heads": 2, "layers": 1}}"#;
        let message = OpenClipConfig::from_json_str(heads, path)
            .unwrap_err()
            .to_string();
        assert!(message.contains("head_width"), "{message}");
        let fine = r#"{"embed_dim": 8, "quick_gelu": true, "vision_cfg": {"image_size": 16,
            "layers": 1, "width": 8, "patch_size": 8, "head_width": 4},
            "text_cfg": {"width": 8, "heads": 2, "layers": 1, "context_length": 20}}"#;
        let config = OpenClipConfig::from_json_str(fine, path)
            .unwrap()
            .to_clip_config();
        assert_eq!(config.vision_config.num_attention_heads, 2);
        assert_eq!(config.vision_config.intermediate_size, 32);
        assert_eq!(config.text_config.max_position_embeddings, 20);
        assert_eq!(config.text_config.hidden_act, Activation::QuickGelu);
    }

    #[test]
    fn the_fused_projection_splits_in_q_k_v_order_and_projections_transpose() {
        let weight = TensorData::new((0..24).map(|v| v as f32).collect::<Vec<_>>(), [6, 4]);
        let parts = split_qkv(weight, "transformer.resblocks.3", "weight").unwrap();
        let names: Vec<&str> = parts.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "transformer.resblocks.3.attn.q_proj.weight",
                "transformer.resblocks.3.attn.k_proj.weight",
                "transformer.resblocks.3.attn.v_proj.weight"
            ]
        );
        let k = bridge::to_data(&parts[1]).unwrap();
        assert_eq!(k.shape().to_vec(), vec![2, 4]);
        assert_eq!(
            k.try_to_vec::<f32>().unwrap(),
            (8..16).map(|v| v as f32).collect::<Vec<_>>()
        );
        let bad = TensorData::new(vec![0.0f32; 8], [4, 2]);
        assert!(
            split_qkv(bad, "visual.transformer.resblocks.0", "weight")
                .unwrap_err()
                .contains("visual.transformer.resblocks.0.attn.in_proj_weight")
        );

        let proj = TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]);
        let t = bridge::to_data(&transposed(proj, "visual.proj").unwrap()).unwrap();
        assert_eq!(t.shape().to_vec(), vec![3, 2]);
        assert_eq!(
            t.try_to_vec::<f32>().unwrap(),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
