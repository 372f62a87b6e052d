//! Configuration of the reward model: sizes of the encoders, the fusion variant, which heads
//! exist, how Likert heads are trained and how per-head losses are weighted.
//!
//! A [`ModelConfig`] is everything needed to rebuild a model before loading its weights, so it
//! is saved as JSON next to every weights file.

use std::{fmt, str::FromStr};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Criterion, ModelError};

/// How image and text features are combined before the heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FusionKind {
    /// Text tokens cross-attend to image patch tokens (as ImageReward's BLIP text encoder does),
    /// then the text tokens are mean-pooled over the attention mask.
    CrossAttention,
    /// `[pooled_image, pooled_text, pooled_image * pooled_text]` through a linear layer: cheaper,
    /// but the text only sees the image after both were pooled.
    Concat,
}

/// Non-linearity between the image stem's convolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StemActivation {
    Gelu,
    /// As in ResNet stems; on the CPU much cheaper than GELU's `erf` over the stem's large
    /// feature maps (a fifth of a training step's time at the default size).
    Relu,
}

/// How the alignment head reads the fused features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlignmentReadout {
    /// One score from the pooled fused vector, like every other head.
    Pooled,
    /// A score per prompt token (each token after it has looked at the image), averaged over the
    /// prompt's tokens: alignment as the share of the prompt the image satisfies, the way TIFA
    /// checks a prompt element by element. Needs cross-attention fusion (falls back to `pooled`
    /// with `concat`).
    Tokens,
}

/// How Likert heads turn a scalar score into a rating distribution and a loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LikertLoss {
    /// Cumulative-link (ordered logit) model with learned, ordered cut-points per head.
    Ordinal,
    /// Squared error against the rating rescaled to `[0, 1]`.
    Mse,
}

macro_rules! name_enum {
    ($ty:ident, $kind:literal, $($variant:ident => $name:literal),+) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The snake_case name used in config files.
            pub fn name(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
        impl FromStr for $ty {
            type Err = ModelError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
                $ty::ALL.iter().copied().find(|v| v.name() == wanted).ok_or_else(|| {
                    ModelError::UnknownName {
                        kind: $kind,
                        value: s.to_string(),
                        expected: $ty::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", "),
                    }
                })
            }
        }
    };
}

name_enum!(FusionKind, "fusion", CrossAttention => "cross_attention", Concat => "concat");
name_enum!(LikertLoss, "likert loss", Ordinal => "ordinal", Mse => "mse");
name_enum!(StemActivation, "stem activation", Gelu => "gelu", Relu => "relu");
name_enum!(AlignmentReadout, "alignment readout", Pooled => "pooled", Tokens => "tokens");

/// The integer rating scale of the Likert heads, inclusive on both ends (1..=7 for ImageReward
/// style ratings, 1..=5 for TIFA-style ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LikertScale {
    /// Lowest rating.
    pub min: i32,
    /// Highest rating.
    pub max: i32,
}

impl LikertScale {
    /// A scale from `min` to `max` inclusive.
    pub fn new(min: i32, max: i32) -> Self {
        Self { min, max }
    }

    /// Number of rating levels `K = max - min + 1`.
    pub fn levels(&self) -> usize {
        (self.max - self.min + 1).max(0) as usize
    }

    /// `max - min` as a float, the width used to normalise ratings.
    pub fn span(&self) -> f64 {
        f64::from(self.max - self.min)
    }
}

impl Default for LikertScale {
    fn default() -> Self {
        Self { min: 1, max: 7 }
    }
}

/// Weights of each head's loss in the total training loss (`[model.loss_weights]` of a training
/// config).
#[derive(Config, Debug, PartialEq)]
pub struct LossWeights {
    /// Weight of the pairwise (Bradley-Terry) loss of the overall head.
    #[config(default = 1.0)]
    pub overall: f64,
    /// Weight of the alignment head's Likert loss.
    #[config(default = 1.0)]
    pub alignment: f64,
    /// Weight of the fidelity head's Likert loss.
    #[config(default = 1.0)]
    pub fidelity: f64,
    /// Weight of the harmlessness head's Likert loss.
    #[config(default = 1.0)]
    pub harmlessness: f64,
    /// Weight of the image-text matching loss on the alignment head (see
    /// [`matching_loss`](crate::losses::matching_loss)); 0 turns it off.
    #[config(default = 0.0)]
    pub matching: f64,
}

impl Default for LossWeights {
    fn default() -> Self {
        Self::new()
    }
}

impl LossWeights {
    /// The weight of `criterion`'s loss.
    pub fn get(&self, criterion: Criterion) -> f64 {
        match criterion {
            Criterion::Overall => self.overall,
            Criterion::Alignment => self.alignment,
            Criterion::Fidelity => self.fidelity,
            Criterion::Harmlessness => self.harmlessness,
        }
    }
}

/// Overwrites `base` with `over`, recursing into objects, so that keys absent from `over` keep
/// the value they have in `base`.
fn merge_json(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge_json(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Configuration of a [`RewardModel`](crate::RewardModel), and the `[model]` section of a
/// training config (which fills in [`vocab_size`](Self::vocab_size),
/// [`max_text_len`](Self::max_text_len), [`likert_scale`](Self::likert_scale) and
/// [`pretrained`](Self::pretrained) from its tokenizer, dataset and encoder).
///
/// The defaults are the model of `experiments/default.toml` (which writes every one of them
/// out); [`ModelConfig::tiny`] is a much smaller one for tests.
#[derive(Config, Debug, PartialEq)]
pub struct ModelConfig {
    /// Width of every token and pooled vector.
    #[config(default = 64)]
    pub d_model: usize,
    /// Attention heads in every attention layer; must divide `d_model`.
    #[config(default = 4)]
    pub n_heads: usize,
    /// Hidden width of the transformer feed-forward layers.
    #[config(default = 128)]
    pub d_ff: usize,
    /// Side of the (square) input images in pixels.
    #[config(default = 64)]
    pub image_size: usize,
    /// Patches per image side; `image_size / patch_grid` must be a power of two of at least 2,
    /// since the stem is that many stride-2 convolutions.
    #[config(default = 8)]
    pub patch_grid: usize,
    /// Convolutions per resolution in the image stem: the stride-2 one that halves the image,
    /// then `stem_depth - 1` residual stride-1 ones that widen each patch's receptive field
    /// (1 = a plain strided stem).
    #[config(default = 1)]
    pub stem_depth: usize,
    /// Widening of the stem's early stages: stage `i` of `n` has `d_model / 2^(n-1-i)` channels
    /// times this (at most `d_model`; the last stage always has `d_model`). 1 = the plain
    /// doubling-per-halving stem.
    #[config(default = 1)]
    pub stem_widen: usize,
    /// Extra stride-2 convolutions after the stem, each halving the patch grid once more; their
    /// coarser tokens join the patch tokens as keys of the fusion (multi-scale keys). A 4-pixel
    /// patch sees 7 pixels, less than an object; a coarse token sees whole objects, so the
    /// prompt can ask about shapes and counts without self-attention over every patch (on the
    /// default world one stage did not raise alignment: docs/training.md). 0 = the patch grid
    /// alone.
    #[config(default = 0)]
    pub context_stages: usize,
    /// Non-linearity between stem convolutions.
    #[config(default = "StemActivation::Gelu")]
    pub stem_activation: StemActivation,
    /// Condition the image stem on the prompt (FiLM: a per-channel scale and shift computed from
    /// the pooled prompt vector after every stem convolution), so that the image features are
    /// already looking for what the prompt asks for before the fusion compares them.
    #[config(default = false)]
    pub text_film: bool,
    /// Transformer layers over the image patches.
    #[config(default = 1)]
    pub image_layers: usize,
    /// Transformer layers over the text tokens.
    #[config(default = 1)]
    pub text_layers: usize,
    /// Vocabulary size; must be at least the tokenizer's vocabulary size.
    #[config(default = 4096)]
    pub vocab_size: usize,
    /// Longest token sequence; longer inputs are cut to this length.
    #[config(default = 32)]
    pub max_text_len: usize,
    /// How image and text features are combined.
    #[config(default = "FusionKind::CrossAttention")]
    pub fusion: FusionKind,
    /// Cross-attention blocks (only used by [`FusionKind::CrossAttention`]).
    #[config(default = 1)]
    pub fusion_layers: usize,
    /// Which heads exist; must contain `overall`, each criterion at most once.
    #[config(default = "Criterion::ALL.to_vec()")]
    pub heads: Vec<Criterion>,
    /// How the alignment head reads the fused features.
    #[config(default = "AlignmentReadout::Pooled")]
    pub alignment_readout: AlignmentReadout,
    /// Hidden width of each head's MLP.
    #[config(default = 64)]
    pub head_hidden: usize,
    /// Dropout in the transformer layers (only active on an autodiff device). The default 0 keeps
    /// a resumed run exactly on the path of an uninterrupted one (no random masks).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Loss (and rating read-out) of the Likert heads.
    #[config(default = "LikertLoss::Ordinal")]
    pub likert_loss: LikertLoss,
    /// Rating scale of the Likert heads.
    #[config(default = "LikertScale { min: 1, max: 7 }")]
    pub likert_scale: LikertScale,
    /// Weights of the per-head losses in the total loss.
    #[config(default = "LossWeights::new()")]
    pub loss_weights: LossWeights,
    /// Pretrained towers (CLIP or BERT) instead of the scratch encoders, cut at a freeze ratio;
    /// `None`: both towers train from scratch. The image-stem fields above (and `text_film`)
    /// then describe only a scratch tower that remains (BERT keeps the scratch image encoder).
    #[config(default = "None")]
    pub pretrained: Option<crate::towers::PretrainedSpec>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl ModelConfig {
    /// A config from a JSON object that may lack keys: those absent take the defaults, key by key
    /// inside nested objects too (`loss_weights`). Keys that are not fields are ignored here;
    /// callers that want them refused check them against [`ModelConfig::new`]'s keys.
    pub fn over_defaults(value: serde_json::Value) -> Result<Self, serde_json::Error> {
        let mut merged = serde_json::to_value(Self::new())?;
        merge_json(&mut merged, value);
        serde_json::from_value(merged)
    }

    /// A very small model (d=32, one layer everywhere, 32x32 images, 4x4 patches, 64 tokens of
    /// vocabulary, 8 tokens per text, no dropout) for tests and smoke runs.
    pub fn tiny() -> Self {
        Self::new()
            .with_d_model(32)
            .with_n_heads(2)
            .with_d_ff(64)
            .with_image_size(32)
            .with_patch_grid(4)
            .with_image_layers(1)
            .with_text_layers(1)
            .with_vocab_size(64)
            .with_max_text_len(8)
            .with_head_hidden(16)
            .with_dropout(0.0)
    }

    /// Whether the shared encoder is ImageReward's BLIP (its text encoder is the fusion).
    pub fn is_blip(&self) -> bool {
        self.pretrained
            .as_ref()
            .is_some_and(|p| p.kind == crate::PretrainedKind::Blip)
    }

    /// Number of stride-2 convolutions in the image stem.
    pub(crate) fn stem_convs(&self) -> usize {
        (self.image_size / self.patch_grid.max(1)).trailing_zeros() as usize
    }

    /// Side of every token grid the image encoder emits: the patch grid, then one per
    /// [`context_stages`](Self::context_stages) (a stride-2, padding-1 convolution: `ceil(g / 2)`).
    pub fn token_grids(&self) -> Vec<usize> {
        let mut grids = vec![self.patch_grid];
        for _ in 0..self.context_stages {
            let g = *grids.last().expect("starts non-empty");
            grids.push(g.div_ceil(2));
        }
        grids
    }

    /// Image tokens per image: the patches plus every context stage's coarser tokens.
    pub fn image_tokens(&self) -> usize {
        self.token_grids().iter().map(|g| g * g).sum()
    }

    /// Whether the model has a head for `criterion`.
    pub fn has_head(&self, criterion: Criterion) -> bool {
        self.heads.contains(&criterion)
    }

    /// Checks that the configuration describes a model that can be built.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::InvalidConfig(m));
        for (name, v) in [
            ("d_model", self.d_model),
            ("n_heads", self.n_heads),
            ("d_ff", self.d_ff),
            ("image_size", self.image_size),
            ("patch_grid", self.patch_grid),
            ("stem_depth", self.stem_depth),
            ("stem_widen", self.stem_widen),
            ("vocab_size", self.vocab_size),
            ("max_text_len", self.max_text_len),
            ("head_hidden", self.head_hidden),
        ] {
            if v == 0 {
                return bad(format!("{name} must be positive"));
            }
        }
        if !self.d_model.is_multiple_of(self.n_heads) {
            return bad(format!(
                "d_model {} is not a multiple of n_heads {}",
                self.d_model, self.n_heads
            ));
        }
        let ratio = self.image_size / self.patch_grid;
        if !self.image_size.is_multiple_of(self.patch_grid) || ratio < 2 || !ratio.is_power_of_two()
        {
            return bad(format!(
                "image_size {} / patch_grid {} must be a power of two of at least 2",
                self.image_size, self.patch_grid
            ));
        }
        if self.context_stages > 0 && self.patch_grid < 2 << (self.context_stages - 1) {
            return bad(format!(
                "context_stages {} halve the {}x{} patch grid more often than it can be halved",
                self.context_stages, self.patch_grid, self.patch_grid
            ));
        }
        if let Some(spec) = self.pretrained.as_ref().filter(|_| self.is_blip()) {
            let width = spec.imagereward_config()?.med.hidden_size;
            if self.d_model != width {
                return bad(format!(
                    "with a BLIP backbone d_model must be its text encoder's width {width}, not {}",
                    self.d_model
                ));
            }
        }
        if self.fusion == FusionKind::CrossAttention && self.fusion_layers == 0 {
            return bad("cross_attention fusion needs fusion_layers >= 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} is not in [0, 1)", self.dropout));
        }
        if !self.heads.contains(&Criterion::Overall) {
            return bad("heads must contain \"overall\"".into());
        }
        for (i, c) in self.heads.iter().enumerate() {
            if self.heads[..i].contains(c) {
                return bad(format!("head {c} is listed twice"));
            }
        }
        if self.likert_scale.levels() < 2 {
            return bad(format!(
                "likert_scale {}..{} needs at least two levels",
                self.likert_scale.min, self.likert_scale.max
            ));
        }
        for c in Criterion::ALL {
            let w = self.loss_weights.get(c);
            if !w.is_finite() || w < 0.0 {
                return bad(format!(
                    "loss weight of {c} must be finite and >= 0, got {w}"
                ));
            }
        }
        Ok(())
    }

    /// Reads a config written by [`Config::save`], and validates it.
    ///
    /// Fields added to the config after the file was written take their defaults, which always
    /// describe the model as it was before the field existed, so older run folders still load.
    pub fn load_json(path: impl AsRef<std::path::Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file_error = |e: serde_json::Error| ModelError::ConfigFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let file: serde_json::Value = serde_json::from_str(&text).map_err(file_error)?;
        let config = Self::over_defaults(file).map_err(file_error)?;
        config.validate().map_err(|e| ModelError::ConfigFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(config)
    }

    /// Writes the config as pretty JSON.
    pub fn save_json(&self, path: impl AsRef<std::path::Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        integrity::write_atomic_via(path, |tmp: &std::path::Path| {
            self.save(tmp).map_err(|source| ModelError::Io {
                path: path.to_path_buf(),
                source,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_tiny_are_valid() {
        ModelConfig::new().validate().unwrap();
        ModelConfig::tiny().validate().unwrap();
        assert_eq!(ModelConfig::new().stem_convs(), 3);
        assert_eq!(ModelConfig::tiny().stem_convs(), 3);
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let t = ModelConfig::tiny;
        assert!(t().with_n_heads(3).validate().is_err());
        assert!(t().with_patch_grid(5).validate().is_err());
        assert!(t().with_patch_grid(32).validate().is_err());
        // tiny's 4x4 grid halves twice (to 1x1), not three times
        t().with_context_stages(2).validate().unwrap();
        assert!(t().with_context_stages(3).validate().is_err());
        assert!(
            t().with_heads(vec![Criterion::Fidelity])
                .validate()
                .is_err()
        );
        assert!(
            t().with_heads(vec![Criterion::Overall, Criterion::Overall])
                .validate()
                .is_err()
        );
        assert!(
            t().with_likert_scale(LikertScale::new(3, 3))
                .validate()
                .is_err()
        );
        assert!(t().with_dropout(1.0).validate().is_err());
        assert!(
            t().with_loss_weights(LossWeights::new().with_fidelity(-1.0))
                .validate()
                .is_err()
        );
    }

    #[test]
    fn json_round_trip_uses_snake_case_names() {
        let cfg = ModelConfig::tiny()
            .with_fusion(FusionKind::Concat)
            .with_likert_loss(LikertLoss::Mse)
            .with_heads(vec![Criterion::Overall, Criterion::Harmlessness]);
        let json = serde_json::to_string(&cfg).unwrap();
        assert!(json.contains("\"concat\""), "{json}");
        assert!(json.contains("\"harmlessness\""), "{json}");
        let back: ModelConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back.fusion, FusionKind::Concat);
        assert_eq!(back.likert_loss, LikertLoss::Mse);
        assert_eq!(back.heads, cfg.heads);
        assert_eq!(back.d_model, 32);
        assert_eq!(
            "cross-attention".parse::<FusionKind>().unwrap(),
            FusionKind::CrossAttention
        );
        assert!("sum".parse::<FusionKind>().is_err());
        assert_eq!("MSE".parse::<LikertLoss>().unwrap(), LikertLoss::Mse);
    }

    #[test]
    fn a_config_saved_before_a_field_existed_loads_with_its_default() {
        let dir = std::env::temp_dir().join(format!("model-cfg-old-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("old.json");
        let mut json = serde_json::to_value(ModelConfig::tiny().with_d_model(48)).unwrap();
        let obj = json.as_object_mut().unwrap();
        obj.remove("text_film");
        obj.remove("stem_depth");
        obj["loss_weights"]
            .as_object_mut()
            .unwrap()
            .remove("matching");
        std::fs::write(&p, json.to_string()).unwrap();
        let back = ModelConfig::load_json(&p).unwrap();
        assert_eq!(back.d_model, 48);
        assert!(!back.text_film);
        assert_eq!(back.stem_depth, 1);
        assert_eq!(back.loss_weights.matching, 0.0);
    }

    #[test]
    fn bad_config_file_is_an_error_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("model-cfg-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.json");
        std::fs::write(&p, "{ not json").unwrap();
        assert!(matches!(
            ModelConfig::load_json(&p),
            Err(ModelError::ConfigFile { .. })
        ));
        let invalid = ModelConfig::tiny().with_n_heads(5);
        invalid.save_json(&p).unwrap();
        assert!(matches!(
            ModelConfig::load_json(&p),
            Err(ModelError::ConfigFile { .. })
        ));
        assert!(matches!(
            ModelConfig::load_json(dir.join("missing.json")),
            Err(ModelError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).ok();
    }
}
