//! CLIP's configuration as a checkpoint's `config.json` states it, following transformers'
//! `configuration_clip.py` (`CLIPTextConfig`, `CLIPVisionConfig`, `CLIPConfig`): every field has
//! transformers' default, so a config that omits a field means what it means to transformers, and
//! the published sizes are named presets.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::PretrainedError;

/// The feed-forward activation, by its transformers name (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Activation {
    /// `x * sigmoid(1.702 x)`: OpenAI's approximation, used by every original CLIP checkpoint.
    #[serde(rename = "quick_gelu")]
    QuickGelu,
    /// The exact (erf) GELU.
    #[serde(rename = "gelu")]
    Gelu,
    /// The tanh approximation of GELU (`gelu_new` and `gelu_pytorch_tanh` compute the same).
    #[serde(rename = "gelu_new", alias = "gelu_pytorch_tanh")]
    GeluTanh,
    /// `max(x, 0)`.
    #[serde(rename = "relu")]
    Relu,
}

/// The text transformer's sizes (`CLIPTextConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ClipTextConfig {
    /// Token vocabulary size (49,408 for OpenAI's BPE).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Context length: the number of position embeddings.
    pub max_position_embeddings: usize,
    /// Feed-forward activation.
    pub hidden_act: Activation,
    /// Epsilon of every LayerNorm.
    pub layer_norm_eps: f64,
    /// End-of-text token id. The value 2 marks a legacy config: the pooled token is then found as
    /// the largest id of each row, as OpenAI's code does (see `ClipTextTransformer::pool`).
    pub eos_token_id: i64,
    /// Start-of-text token id.
    pub bos_token_id: i64,
    /// Padding id the config records (transformers' default 1 matches no tokenizer; only the
    /// tokenizer's padding matters, and the attention mask hides it).
    pub pad_token_id: i64,
}

impl Default for ClipTextConfig {
    fn default() -> Self {
        // transformers' `CLIPTextConfig.__init__` defaults (the ViT-B text tower).
        Self {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 77,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
            eos_token_id: 49407,
            bos_token_id: 49406,
            pad_token_id: 1,
        }
    }
}

/// The vision transformer's sizes (`CLIPVisionConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ClipVisionConfig {
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Input channels (3 for RGB).
    pub num_channels: usize,
    /// Side of the square input image in pixels.
    pub image_size: usize,
    /// Side of a square patch in pixels.
    pub patch_size: usize,
    /// Feed-forward activation.
    pub hidden_act: Activation,
    /// Epsilon of every LayerNorm.
    pub layer_norm_eps: f64,
}

impl Default for ClipVisionConfig {
    fn default() -> Self {
        // transformers' `CLIPVisionConfig.__init__` defaults (ViT-B/32).
        Self {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
        }
    }
}

impl ClipVisionConfig {
    /// Patches along one side of the image.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Tokens the vision transformer sees: one per patch plus the class token.
    pub fn num_positions(&self) -> usize {
        self.grid_size() * self.grid_size() + 1
    }
}

/// The whole CLIP model's config (`CLIPConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ClipConfig {
    /// The text tower.
    pub text_config: ClipTextConfig,
    /// The vision tower.
    pub vision_config: ClipVisionConfig,
    /// Width of the joint embedding space both projections map into.
    pub projection_dim: usize,
    /// Initial value of the (log) temperature; a checkpoint's `logit_scale` overrides it.
    pub logit_scale_init_value: f64,
}

impl Default for ClipConfig {
    fn default() -> Self {
        Self {
            text_config: ClipTextConfig::default(),
            vision_config: ClipVisionConfig::default(),
            projection_dim: 512,
            logit_scale_init_value: 2.6592,
        }
    }
}

impl ClipConfig {
    /// OpenAI's ViT-B/32 (`openai/clip-vit-base-patch32`): 151M parameters.
    pub fn vit_base_patch32() -> Self {
        Self::default()
    }

    /// OpenAI's ViT-B/16 (`openai/clip-vit-base-patch16`): ViT-B/32 with 16-pixel patches.
    pub fn vit_base_patch16() -> Self {
        let mut config = Self::default();
        config.vision_config.patch_size = 16;
        config
    }

    /// OpenAI's ViT-L/14 (`openai/clip-vit-large-patch14`): 428M parameters.
    pub fn vit_large_patch14() -> Self {
        Self {
            text_config: ClipTextConfig {
                hidden_size: 768,
                intermediate_size: 3072,
                num_attention_heads: 12,
                ..ClipTextConfig::default()
            },
            vision_config: ClipVisionConfig {
                hidden_size: 1024,
                intermediate_size: 4096,
                num_hidden_layers: 24,
                num_attention_heads: 16,
                patch_size: 14,
                ..ClipVisionConfig::default()
            },
            projection_dim: 768,
            logit_scale_init_value: 2.6592,
        }
    }

    /// OpenCLIP's ViT-H/14 as LAION trained it (`laion/CLIP-ViT-H-14-laion2B-s32B-b79K`), the
    /// backbone of PickScore (`yuvalkirstain/PickScore_v1`) and of HPSv2: 986M parameters, the
    /// exact GELU in both towers (OpenCLIP's `nn.GELU`, not OpenAI's quick_gelu), 1024-wide text
    /// and joint space.
    pub fn vit_huge_patch14() -> Self {
        Self {
            text_config: ClipTextConfig {
                hidden_size: 1024,
                intermediate_size: 4096,
                num_hidden_layers: 24,
                num_attention_heads: 16,
                hidden_act: Activation::Gelu,
                ..ClipTextConfig::default()
            },
            vision_config: ClipVisionConfig {
                hidden_size: 1280,
                intermediate_size: 5120,
                num_hidden_layers: 32,
                num_attention_heads: 16,
                patch_size: 14,
                hidden_act: Activation::Gelu,
                ..ClipVisionConfig::default()
            },
            projection_dim: 1024,
            logit_scale_init_value: 2.6592,
        }
    }

    /// Parses a checkpoint's `config.json` text; `path` only names the file in errors.
    ///
    /// Old configs also carry `text_config_dict` / `vision_config_dict`; as in transformers'
    /// `CLIPConfig.__init__`, their entries override `text_config` / `vision_config`.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, PretrainedError> {
        let error = |message: String| crate::error::config_error(path, message);
        let mut value: Value = serde_json::from_str(text).map_err(|e| error(e.to_string()))?;
        let Some(object) = value.as_object_mut() else {
            return Err(error("the config is not a JSON object".into()));
        };
        for part in ["text_config", "vision_config"] {
            if let Some(Value::Object(overrides)) = object.remove(&format!("{part}_dict")) {
                let base = object
                    .entry(part)
                    .or_insert_with(|| Value::Object(Default::default()));
                if base.is_null() {
                    *base = Value::Object(Default::default());
                }
                if let Value::Object(base) = base {
                    base.extend(overrides);
                }
            }
            // transformers treats `"text_config": null` as "all defaults".
            if object.get(part).is_some_and(Value::is_null) {
                object.remove(part);
            }
        }
        let config: Self = serde_json::from_value(value).map_err(|e| error(e.to_string()))?;
        config.validate().map_err(error)?;
        Ok(config)
    }

    /// Reads and parses a `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, PretrainedError> {
        crate::error::read_config(path.as_ref(), Self::from_json_str)
    }

    /// Checks the sizes that the model's shapes depend on, so that building it cannot fail.
    pub fn validate(&self) -> Result<(), String> {
        let t = &self.text_config;
        let v = &self.vision_config;
        let positive = [
            ("text_config.vocab_size", t.vocab_size),
            ("text_config.hidden_size", t.hidden_size),
            ("text_config.intermediate_size", t.intermediate_size),
            ("text_config.num_attention_heads", t.num_attention_heads),
            (
                "text_config.max_position_embeddings",
                t.max_position_embeddings,
            ),
            ("vision_config.hidden_size", v.hidden_size),
            ("vision_config.intermediate_size", v.intermediate_size),
            ("vision_config.num_attention_heads", v.num_attention_heads),
            ("vision_config.num_channels", v.num_channels),
            ("vision_config.patch_size", v.patch_size),
            ("projection_dim", self.projection_dim),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, n)| *n == 0) {
            return Err(format!("{name} must be positive"));
        }
        if !t.hidden_size.is_multiple_of(t.num_attention_heads) {
            return Err(format!(
                "text_config.hidden_size {} is not a multiple of num_attention_heads {}",
                t.hidden_size, t.num_attention_heads
            ));
        }
        if !v.hidden_size.is_multiple_of(v.num_attention_heads) {
            return Err(format!(
                "vision_config.hidden_size {} is not a multiple of num_attention_heads {}",
                v.hidden_size, v.num_attention_heads
            ));
        }
        if v.image_size < v.patch_size {
            return Err(format!(
                "vision_config.image_size {} is smaller than patch_size {}",
                v.image_size, v.patch_size
            ));
        }
        Ok(())
    }
}

/// How many of `num_layers` layers a freeze ratio freezes: `int(ratio * num_layers)`, as
/// ImageReward computes it (its `fix_rate` 0.7 freezes 8 of 12 text layers and 16 of 24 vision
/// layers). The first that many layers can then run once, without gradients, and be cached.
pub fn frozen_layer_count(num_layers: usize, ratio: f64) -> usize {
    if ratio.is_nan() || ratio <= 0.0 {
        return 0;
    }
    ((ratio * num_layers as f64) as usize).min(num_layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_published_sizes() {
        let b32 = ClipConfig::vit_base_patch32();
        assert_eq!(b32.vision_config.num_positions(), 50);
        assert_eq!(b32.text_config.hidden_size, 512);
        assert_eq!(b32.projection_dim, 512);
        let b16 = ClipConfig::vit_base_patch16();
        assert_eq!(b16.vision_config.num_positions(), 197);
        let l14 = ClipConfig::vit_large_patch14();
        assert_eq!(l14.vision_config.num_positions(), 257);
        assert_eq!(l14.vision_config.num_hidden_layers, 24);
        assert_eq!(l14.text_config.hidden_size, 768);
        assert_eq!(l14.projection_dim, 768);
        let h14 = ClipConfig::vit_huge_patch14();
        assert_eq!(h14.vision_config.num_positions(), 257);
        assert_eq!(h14.vision_config.num_hidden_layers, 32);
        assert_eq!(h14.text_config.num_hidden_layers, 24);
        assert_eq!(h14.projection_dim, 1024);
        assert_eq!(h14.text_config.hidden_act, Activation::Gelu);
        assert_eq!(h14.vision_config.hidden_act, Activation::Gelu);
        for config in [b32, b16, l14, h14] {
            config.validate().unwrap();
        }
    }

    #[test]
    fn json_fills_transformers_defaults_and_merges_legacy_dicts() {
        let json = r#"{
            "projection_dim": 64,
            "text_config": {"hidden_size": 32, "num_attention_heads": 4, "eos_token_id": 2,
                            "unknown_field": true},
            "text_config_dict": {"num_hidden_layers": 3},
            "vision_config": null,
            "vision_config_dict": {"patch_size": 16, "hidden_act": "gelu"}
        }"#;
        let config = ClipConfig::from_json_str(json, Path::new("config.json")).unwrap();
        assert_eq!(config.projection_dim, 64);
        assert_eq!(config.text_config.hidden_size, 32);
        assert_eq!(config.text_config.num_hidden_layers, 3);
        assert_eq!(config.text_config.eos_token_id, 2);
        assert_eq!(config.text_config.vocab_size, 49408);
        assert_eq!(config.vision_config.patch_size, 16);
        assert_eq!(config.vision_config.hidden_act, Activation::Gelu);
        assert_eq!(config.vision_config.hidden_size, 768);
        assert_eq!(config.logit_scale_init_value, 2.6592);
    }

    #[test]
    fn bad_configs_are_errors_naming_the_problem() {
        let path = Path::new("dir/config.json");
        let act = ClipConfig::from_json_str(r#"{"text_config": {"hidden_act": "swish"}}"#, path);
        let message = act.unwrap_err().to_string();
        assert!(
            message.contains("dir/config.json") && message.contains("swish"),
            "{message}"
        );
        let heads = ClipConfig::from_json_str(
            r#"{"vision_config": {"hidden_size": 10, "num_attention_heads": 3}}"#,
            path,
        );
        assert!(
            heads
                .unwrap_err()
                .to_string()
                .contains("num_attention_heads")
        );
        assert!(ClipConfig::from_json_str("[1]", path).is_err());
    }

    #[test]
    fn freeze_ratio_truncates_like_python_int() {
        assert_eq!(frozen_layer_count(12, 0.7), 8);
        assert_eq!(frozen_layer_count(24, 0.7), 16);
        assert_eq!(frozen_layer_count(12, 0.0), 0);
        assert_eq!(frozen_layer_count(12, 1.5), 12);
    }
}
