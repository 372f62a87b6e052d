//! What sizes an ImageReward model: [`ImageRewardConfig`], read off a checkpoint's tensors and
//! the `med_config.json` beside it, and its cost in FLOP.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::prelude::Device;
use burn::store::{ModuleStore, PytorchStore};
use serde::{Deserialize, Serialize};

use super::model::{Blip, HEAD_WIDTHS, ImageRewardModel, RewardMlp};
use super::{REWARD_MEAN, REWARD_STD};
use crate::PretrainedError;
use crate::blip::{BlipVitConfig, IMAGEREWARD_MAX_LENGTH, MedConfig};
use crate::flop::encoder_layers_flop;
use crate::load::safetensors_shapes;

/// The image encoder's sizes beside a checkpoint, when they cannot be read off its tensors.
pub const VIT_CONFIG_FILE: &str = "vit_config.json";

/// Everything that sizes an ImageReward model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRewardConfig {
    /// The image encoder.
    pub vit: BlipVitConfig,
    /// The text encoder (its `encoder_width` is replaced by the image encoder's width).
    pub med: MedConfig,
    /// Subtracted from the head's output.
    pub reward_mean: f64,
    /// Divides the head's output after the mean is subtracted.
    pub reward_std: f64,
    /// Prompts are padded or truncated to this many tokens (35).
    pub max_length: usize,
}

impl ImageRewardConfig {
    /// ImageReward-v1.0: ViT-L/16 at 224 pixels (`BLIP_Pretrain(image_size=224, vit='large')`)
    /// and BLIP's BERT-base `med_config.json`.
    pub fn v1() -> Self {
        Self::new(
            BlipVitConfig::vit_large_patch16_224(),
            MedConfig::bert_base(),
        )
    }

    /// A model of the given sizes with ImageReward-v1.0's normalisation and prompt length.
    pub fn new(vit: BlipVitConfig, med: MedConfig) -> Self {
        Self {
            vit,
            med,
            reward_mean: REWARD_MEAN,
            reward_std: REWARD_STD,
            max_length: IMAGEREWARD_MAX_LENGTH,
        }
    }

    /// Floating-point operations (two per multiply-add) of scoring one image with a prompt of
    /// `tokens` tokens: the image encoder (patch embedding and [`encoder_layers_flop`] over the
    /// patches and the class token), the text encoder's layers (self-attention and feed-forward
    /// over the prompt, cross-attention whose keys and values project every image token) and
    /// the head. Norms, softmax and activations are not counted.
    pub fn flop_per_image(&self, tokens: usize) -> f64 {
        let v = &self.vit;
        let patches = (v.image_size / v.patch_size).pow(2);
        let vision = 2.0 * (patches * 3 * v.patch_size * v.patch_size * v.embed_dim) as f64
            + encoder_layers_flop(patches + 1, v.embed_dim, v.mlp_hidden(), v.depth);
        let (t, n) = (tokens as f64, (patches + 1) as f64);
        let (d, e) = (self.med.hidden_size as f64, v.embed_dim as f64);
        let cross = 4.0 * t * d * d + 4.0 * n * e * d + 4.0 * t * n * d;
        let text = encoder_layers_flop(
            tokens,
            self.med.hidden_size,
            self.med.intermediate_size,
            self.med.num_hidden_layers,
        ) + self.med.num_hidden_layers as f64 * cross;
        let mut head = 0.0;
        let mut width = self.med.hidden_size;
        for out in HEAD_WIDTHS {
            head += 2.0 * (width * out) as f64;
            width = out;
        }
        vision + text + head
    }

    /// The config of the checkpoint at `weights` as the official loader builds it: the text
    /// encoder from `med_config.json` beside the file, the image encoder's sizes from the
    /// checkpoint's tensors ([`vit_config_from_shapes`]).
    ///
    /// A checkpoint whose image encoder is not BLIP's ViT-B or ViT-L (the number of heads is in
    /// no tensor) gives its sizes in a `vit_config.json` beside it ([`BlipVitConfig`]'s fields).
    pub fn beside(weights: &Path) -> Result<Self, PretrainedError> {
        let med_path = sibling(weights, "med_config.json");
        let med = MedConfig::from_file(&med_path)?;
        let vit_path = sibling(weights, VIT_CONFIG_FILE);
        let vit = if vit_path.is_file() {
            let text = crate::error::read_text(&vit_path)?;
            serde_json::from_str(&text).map_err(|e| PretrainedError::Config {
                path: vit_path.clone(),
                message: e.to_string(),
            })?
        } else {
            let shapes = checkpoint_shapes(weights)?;
            vit_config_from_shapes(&shapes).map_err(|message| PretrainedError::Config {
                path: weights.to_path_buf(),
                message: format!(
                    "{message} (give the sizes in {VIT_CONFIG_FILE} beside the checkpoint)"
                ),
            })?
        };
        Ok(Self::new(vit, med))
    }

    /// Checks every size, so that building and running the model cannot fail on a shape.
    pub fn validate(&self) -> Result<(), String> {
        self.vit.validate()?;
        self.med.validate()?;
        if self.max_length < 2 || self.max_length > self.med.max_position_embeddings {
            return Err(format!(
                "max_length {} must be at least 2 and at most max_position_embeddings {}",
                self.max_length, self.med.max_position_embeddings
            ));
        }
        if !(self.reward_std.is_finite() && self.reward_std > 0.0 && self.reward_mean.is_finite()) {
            return Err(format!(
                "reward normalisation mean {} / std {} must be finite with a positive std",
                self.reward_mean, self.reward_std
            ));
        }
        Ok(())
    }

    /// Builds the model with lazily initialised parameters (nothing is allocated before the
    /// weights are loaded). The config should pass [`Self::validate`].
    pub fn init(&self, device: &Device) -> ImageRewardModel {
        let visual_encoder = self.vit.init(device);
        // `BLIP_Pretrain.__init__`: `encoder_config.encoder_width = vision_width`.
        let text_encoder = self.med.init(self.vit.embed_dim, device);
        ImageRewardModel {
            blip: Blip {
                visual_encoder,
                text_encoder,
            },
            mlp: RewardMlp::init(self.med.hidden_size, device),
            reward_mean: self.reward_mean,
            reward_std: self.reward_std,
        }
    }
}

/// The image encoder's sizes as a checkpoint's tensors give them: width from `cls_token`, patch
/// size from `patch_embed.proj.weight`, image size from the number of position embeddings,
/// depth from the blocks present, feed-forward ratio from `mlp.fc1`, `qkv_bias` from its
/// presence. The number of heads is in no tensor: BLIP builds only ViT-B (768 wide, 12 heads)
/// and ViT-L (1024 wide, 16 heads), both with 64-wide heads, so it is `width / 64`, and a width
/// that 64 does not divide is an error (build such a config by hand).
pub fn vit_config_from_shapes(
    shapes: &BTreeMap<String, Vec<usize>>,
) -> Result<BlipVitConfig, String> {
    const PREFIX: &str = "blip.visual_encoder.";
    let shape = |name: &str| {
        shapes
            .get(&format!("{PREFIX}{name}"))
            .ok_or_else(|| format!("the checkpoint has no `{PREFIX}{name}`"))
    };
    let embed_dim = match shape("cls_token")?.as_slice() {
        [1, 1, d] => *d,
        other => {
            return Err(format!(
                "`{PREFIX}cls_token` has shape {other:?}, not [1, 1, width]"
            ));
        }
    };
    let patch_size = match shape("patch_embed.proj.weight")?.as_slice() {
        [d, 3, p, q] if *d == embed_dim && p == q => *p,
        other => {
            return Err(format!(
                "`{PREFIX}patch_embed.proj.weight` has shape {other:?}, not [{embed_dim}, 3, p, p]"
            ));
        }
    };
    let tokens = match shape("pos_embed")?.as_slice() {
        [1, t, d] if *d == embed_dim => *t,
        other => {
            return Err(format!(
                "`{PREFIX}pos_embed` has shape {other:?}, not [1, tokens, {embed_dim}]"
            ));
        }
    };
    let grid = (tokens.saturating_sub(1) as f64).sqrt().round() as usize;
    if grid == 0 || grid * grid + 1 != tokens {
        return Err(format!(
            "`{PREFIX}pos_embed` has {tokens} positions, not a square grid of patches plus one"
        ));
    }
    let blocks: BTreeSet<usize> = shapes
        .keys()
        .filter_map(|key| key.strip_prefix(&format!("{PREFIX}blocks.")))
        .filter_map(|rest| rest.split('.').next()?.parse().ok())
        .collect();
    let depth = blocks.len();
    if depth == 0 || blocks.last() != Some(&(depth - 1)) {
        return Err(format!(
            "the checkpoint's `{PREFIX}blocks.{{i}}` are not numbered 0..n: {blocks:?}"
        ));
    }
    let mlp_hidden = match shape("blocks.0.mlp.fc1.weight")?.as_slice() {
        [h, d] if *d == embed_dim => *h,
        other => {
            return Err(format!(
                "`{PREFIX}blocks.0.mlp.fc1.weight` has shape {other:?}, not [hidden, {embed_dim}]"
            ));
        }
    };
    if !embed_dim.is_multiple_of(64) {
        return Err(format!(
            "the vision transformer is {embed_dim} wide, which is not BLIP's ViT-B or ViT-L \
             (64-wide heads): its number of heads is unknown, give the config explicitly"
        ));
    }
    Ok(BlipVitConfig {
        image_size: grid * patch_size,
        patch_size,
        embed_dim,
        depth,
        num_heads: embed_dim / 64,
        mlp_ratio: mlp_hidden as f64 / embed_dim as f64,
        qkv_bias: shapes.contains_key(&format!("{PREFIX}blocks.0.attn.qkv.bias")),
        layer_norm_eps: 1e-6,
    })
}

/// Names and shapes of a checkpoint's tensors, without reading their data: a `.safetensors`
/// file, or else a PyTorch state dict (`.pt`, `.pth`, `.bin`).
pub fn checkpoint_shapes(path: &Path) -> Result<BTreeMap<String, Vec<usize>>, PretrainedError> {
    if is_safetensors(path) {
        return safetensors_shapes(path);
    }
    let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
    let tensors = store.get_all_tensors().map_err(|e| match e {
        burn::store::PytorchStoreError::Io(source) => PretrainedError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => PretrainedError::Weights {
            path: path.to_path_buf(),
            details: format!("  not a readable PyTorch checkpoint: {other}"),
        },
    })?;
    Ok(tensors
        .iter()
        .map(|(name, tensor)| (name.clone(), tensor.shape.to_vec()))
        .collect())
}

pub(super) fn is_safetensors(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "safetensors")
}

pub(super) fn sibling(path: &Path, name: &str) -> PathBuf {
    path.parent().unwrap_or(Path::new("")).join(name)
}
