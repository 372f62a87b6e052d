//! ImageReward, THUDM's text-to-image reward model (THUDM/ImageReward, `ImageReward/
//! ImageReward.py`, v1.0), loaded from its official checkpoint: the BLIP backbone of
//! [`crate::blip`] reads the prompt while cross-attending to the image, the text encoder's
//! `[CLS]` state is the feature, and an affine head maps it to a reward, normalised with the
//! constants the official code hard-codes.
//!
//! ```no_run
//! # fn main() -> Result<(), pretrained::PretrainedError> {
//! use pretrained::imagereward::ImageReward;
//! let device = burn::tensor::Device::default();
//! // ImageReward.pt with med_config.json and bert-base-uncased's vocab.txt beside it.
//! let model = ImageReward::from_checkpoint("ImageReward/ImageReward.pt", &device)?;
//! let rewards = model.score_paths("a red bicycle", &["a.png", "b.png"])?;
//! let (ranks, rewards) = model.inference_rank_paths("a red bicycle", &["a.png", "b.png"])?;
//! # Ok(()) }
//! ```
//!
//! The module tree ([`ImageRewardModel`]) mirrors the checkpoint's keys (`blip.visual_encoder.
//! ..`, `blip.text_encoder..`, `mlp.layers.{0,2,4,6,7}`); the backbone's layers are public so
//! that a caller can freeze the first ones and cache their outputs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::store::{ModuleStore, PytorchStore};
use image::DynamicImage;
use serde::{Deserialize, Serialize};

use crate::PretrainedError;
use crate::blip::{
    BlipTokenizer, BlipVisionTransformer, BlipVitConfig, IMAGEREWARD_MAX_LENGTH, MED_KEY_REMAP,
    MedConfig, MedTextEncoder, TokenizedPrompt,
};
use crate::flop::encoder_layers_flop;
use crate::load::{load_pytorch, load_safetensors, safetensors_shapes};
use crate::preprocess::{
    CropOffset, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, PilFilter, PreparedImage, Rescale, center_crop,
    load_image, resize, shortest_edge_size, stack_prepared, to_chw, to_rgb,
};

#[cfg(test)]
mod parity_tests;

/// `ImageReward.__init__`'s `self.mean`: the raw head output's mean over the training data.
pub const REWARD_MEAN: f64 = 0.16717362830052426;

/// `ImageReward.__init__`'s `self.std`.
pub const REWARD_STD: f64 = 1.0333394966054072;

/// Checkpoint keys that the official state dict holds but scoring never reads: the text
/// encoder's `position_ids` buffer and BLIP's contrastive projections. Loading ignores exactly
/// these (regexes over the keys as written); any other key without a place in the model is an
/// error.
pub const EXPECTED_UNUSED_KEYS: &[&str] = &[
    r"^blip\.text_encoder\.embeddings\.position_ids$",
    r"^blip\.vision_proj\.(weight|bias)$",
    r"^blip\.text_proj\.(weight|bias)$",
];

/// Widths of the head's linear layers after the feature (`ImageReward.py`'s `MLP`:
/// `Linear(input_size, 1024), Dropout(0.2), Linear(1024, 128), Dropout(0.2), Linear(128, 64),
/// Dropout(0.1), Linear(64, 16), Linear(16, 1)`).
const HEAD_WIDTHS: [usize; 5] = [1024, 128, 64, 16, 1];

/// The image encoder's sizes beside a checkpoint, when they cannot be read off its tensors.
pub const VIT_CONFIG_FILE: &str = "vit_config.json";

/// Positions of the linear layers in the official `nn.Sequential` (the others are dropouts).
const HEAD_LINEAR_POSITIONS: [usize; 5] = [0, 2, 4, 6, 7];

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
            let text =
                std::fs::read_to_string(&vit_path).map_err(|source| PretrainedError::Io {
                    path: vit_path.clone(),
                    source,
                })?;
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

fn is_safetensors(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "safetensors")
}

fn sibling(path: &Path, name: &str) -> PathBuf {
    path.parent().unwrap_or(Path::new("")).join(name)
}

/// ImageReward's modules, named as in the official state dict.
#[derive(Module, Debug)]
pub struct ImageRewardModel {
    /// The BLIP backbone (`blip.` in the checkpoint).
    pub blip: Blip,
    /// The reward head (`mlp.` in the checkpoint).
    pub mlp: RewardMlp,
    /// Subtracted from the head's output.
    pub reward_mean: f64,
    /// Divides the head's output after the mean is subtracted.
    pub reward_std: f64,
}

/// The parts of BLIP's `BLIP_Pretrain` that ImageReward scores with.
#[derive(Module, Debug)]
pub struct Blip {
    /// The image encoder (`visual_encoder`).
    pub visual_encoder: BlipVisionTransformer,
    /// The text encoder (`text_encoder`), cross-attending to the image tokens.
    pub text_encoder: MedTextEncoder,
}

impl ImageRewardModel {
    /// `image_embeds = self.blip.visual_encoder(image)`: `[batch, 3, size, size]` to
    /// `[batch, tokens, vision width]`.
    pub fn image_embeds(&self, pixels: Tensor<4>) -> Tensor<3> {
        self.blip.visual_encoder.forward(pixels)
    }

    /// `text_output.last_hidden_state[:, 0, :]`: the text encoder's state at `[CLS]` after
    /// reading the prompt (`[batch, length]` ids and 0/1 mask) while attending to the image
    /// tokens; `[batch, hidden]`.
    pub fn features(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
        image_embeds: Tensor<3>,
    ) -> Tensor<2> {
        let hidden = self
            .blip
            .text_encoder
            .forward(input_ids, attention_mask, image_embeds);
        hidden.narrow(1, 0, 1).squeeze_dim::<2>(1)
    }

    /// The head's output before normalisation, `[batch, 1]`.
    pub fn raw_rewards(&self, features: Tensor<2>) -> Tensor<2> {
        self.mlp.forward(features)
    }

    /// `rewards = (self.mlp(txt_features) - self.mean) / self.std`, `[batch]`. The constants are
    /// applied in the tensor's precision, as PyTorch applies a Python float to a float32 tensor.
    pub fn rewards(&self, features: Tensor<2>) -> Tensor<1> {
        self.raw_rewards(features)
            .sub_scalar(self.reward_mean)
            .div_scalar(self.reward_std)
            .flatten::<1>(0, 1)
    }
}

/// `ImageReward.py`'s `MLP`: five linear layers at the official `nn.Sequential` positions 0, 2,
/// 4, 6 and 7. The positions between hold dropouts (the identity at inference) and are `None`
/// here; the ReLUs between the layers are commented out in the official code, so the head is
/// one affine map.
#[derive(Module, Debug)]
pub struct RewardMlp {
    /// `layers.{0,2,4,6,7}` are `Some`.
    pub layers: Vec<Option<Linear>>,
}

impl RewardMlp {
    /// The head for features `input` wide (the text encoder's width).
    pub fn init(input: usize, device: &Device) -> Self {
        let mut layers: Vec<Option<Linear>> =
            (0..=HEAD_LINEAR_POSITIONS[4]).map(|_| None).collect();
        let mut width = input;
        for (position, out) in HEAD_LINEAR_POSITIONS.into_iter().zip(HEAD_WIDTHS) {
            layers[position] = Some(LinearConfig::new(width, out).init(device));
            width = out;
        }
        Self { layers }
    }

    /// `self.layers(input)`: `[batch, input]` to `[batch, 1]`.
    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        self.layers
            .iter()
            .flatten()
            .fold(features, |x, layer| layer.forward(x))
    }
}

/// The official `inference_rank`'s ranks: `rank[i]` is 1 for the highest reward, 2 for the next,
/// and so on (`_, rank = torch.sort(rewards, descending=True); _, indices = torch.sort(rank);
/// indices + 1`). Equal rewards keep their input order.
pub fn ranks_of(rewards: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rewards.len()).collect();
    order.sort_by(|&a, &b| rewards[b].total_cmp(&rewards[a]));
    let mut ranks = vec![0; rewards.len()];
    for (position, &index) in order.iter().enumerate() {
        ranks[index] = position + 1;
    }
    ranks
}

/// ImageReward's image preprocessing (`ImageReward.py`'s `_transform(224)`, the CLIP
/// transform): torchvision `Resize(size, BICUBIC)` on the image in its own mode (Pillow's
/// bicubic; the shorter side becomes `size`, the longer `int(size * long / short)`),
/// `CenterCrop(size)` (offsets `int(round((side - size) / 2))`, half to even), `convert('RGB')`
/// after both (grey replicated, alpha dropped), `ToTensor` (`/255` in float32) and `Normalize`
/// with CLIP's mean and std.
pub fn prepare_image(image: &DynamicImage, size: u32) -> PreparedImage {
    let (width, height) = shortest_edge_size(image.width(), image.height(), size);
    let resized = resize(image, width, height, PilFilter::Bicubic);
    let resized_size = (resized.width(), resized.height());
    // Cropping commutes with the mode conversion, which only maps each pixel.
    let (pixels, crop_offsets) =
        center_crop(&to_rgb(&resized), size, size, CropOffset::Torchvision);
    let pixel_values = to_chw(
        &pixels,
        Rescale::DivideBy255,
        OPENAI_CLIP_MEAN,
        OPENAI_CLIP_STD,
    );
    PreparedImage {
        resized_size,
        crop_offsets,
        pixels,
        pixel_values,
    }
}

/// ImageReward ready to score: the model, its tokenizer and the image preprocessing.
#[derive(Debug)]
pub struct ImageReward {
    model: ImageRewardModel,
    tokenizer: BlipTokenizer,
    config: ImageRewardConfig,
    device: Device,
    batch_size: usize,
}

impl ImageReward {
    /// Loads a checkpoint (`ImageReward.pt` or a `.safetensors` copy of its state dict) with
    /// what sits beside it: `med_config.json` (as the official download has it), and the
    /// tokenizer, `tokenizer.json` or else bert-base-uncased's `vocab.txt`. The image encoder's
    /// sizes come from the tensors ([`ImageRewardConfig::beside`]).
    pub fn from_checkpoint(
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<Self, PretrainedError> {
        let path = path.as_ref();
        let config = ImageRewardConfig::beside(path)?;
        let tokenizer_path = ["tokenizer.json", "vocab.txt"]
            .into_iter()
            .map(|name| sibling(path, name))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| PretrainedError::Tokenizer {
                path: sibling(path, "tokenizer.json"),
                message: "neither tokenizer.json nor vocab.txt is beside the checkpoint (put \
                          bert-base-uncased's there, or use ImageReward::from_checkpoint_with)"
                    .into(),
            })?;
        let tokenizer = BlipTokenizer::from_file(&tokenizer_path, config.max_length)?;
        Self::from_checkpoint_with(path, config, tokenizer, device)
    }

    /// Loads a checkpoint with a given config and tokenizer. Loading is strict: a tensor that is
    /// missing, unexpected (beyond [`EXPECTED_UNUSED_KEYS`]) or misshaped is an error naming it.
    pub fn from_checkpoint_with(
        path: impl AsRef<Path>,
        config: ImageRewardConfig,
        tokenizer: BlipTokenizer,
        device: &Device,
    ) -> Result<Self, PretrainedError> {
        let path = path.as_ref();
        config
            .validate()
            .map_err(|message| PretrainedError::Config {
                path: path.to_path_buf(),
                message,
            })?;
        if tokenizer.vocab_size() > config.med.vocab_size {
            return Err(PretrainedError::Tokenizer {
                path: tokenizer.source().to_path_buf(),
                message: format!(
                    "{} token ids, but the text encoder embeds only {}",
                    tokenizer.vocab_size(),
                    config.med.vocab_size
                ),
            });
        }
        if tokenizer.max_length() != config.max_length {
            return Err(PretrainedError::Tokenizer {
                path: tokenizer.source().to_path_buf(),
                message: format!(
                    "pads to {} tokens, the config to {}",
                    tokenizer.max_length(),
                    config.max_length
                ),
            });
        }
        let module = config.init(device);
        let model = if is_safetensors(path) {
            load_safetensors(module, path, MED_KEY_REMAP, EXPECTED_UNUSED_KEYS)?
        } else {
            load_pytorch(module, path, MED_KEY_REMAP, EXPECTED_UNUSED_KEYS)?
        };
        Ok(Self {
            model,
            tokenizer,
            config,
            device: device.clone(),
            batch_size: 32,
        })
    }

    /// Scores at most `batch_size` images per forward pass (32 by default).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The modules.
    pub fn model(&self) -> &ImageRewardModel {
        &self.model
    }

    /// The modules, the tokenizer and the config, to train or cache from.
    pub fn into_parts(self) -> (ImageRewardModel, BlipTokenizer, ImageRewardConfig) {
        (self.model, self.tokenizer, self.config)
    }

    /// The config the model was built from.
    pub fn config(&self) -> &ImageRewardConfig {
        &self.config
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &BlipTokenizer {
        &self.tokenizer
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// `tokenizer(prompt, padding='max_length', truncation=True, max_length=35)`.
    pub fn tokenize(&self, prompt: &str) -> Result<TokenizedPrompt, PretrainedError> {
        self.tokenizer.encode(prompt)
    }

    /// The prompt as `[batch, length]` id and mask tensors, repeated for each image.
    fn prompt_tensors(
        &self,
        prompt: &str,
        batch: usize,
    ) -> Result<(Tensor<2, Int>, Tensor<2, Int>), PretrainedError> {
        let tokens = self.tokenize(prompt)?;
        let length = tokens.input_ids.len();
        let tensor = |values: &[u32]| {
            let values: Vec<i64> = values.iter().map(|&v| i64::from(v)).collect();
            Tensor::<2, Int>::from_data(TensorData::new(values, [1, length]), &self.device)
                .repeat_dim(0, batch)
        };
        Ok((tensor(&tokens.input_ids), tensor(&tokens.attention_mask)))
    }

    /// Features (`last_hidden_state[:, 0, :]`) of the prompt with each image of a batch of
    /// preprocessed pixels `[batch, 3, size, size]`: `[batch, hidden]`.
    pub fn features(&self, prompt: &str, pixels: Tensor<4>) -> Result<Tensor<2>, PretrainedError> {
        let [batch, channels, height, width] = pixels.dims();
        let size = self.config.vit.image_size;
        if channels != 3 || height != size || width != size {
            return Err(PretrainedError::Input {
                message: format!(
                    "pixels of shape [{batch}, {channels}, {height}, {width}], the image encoder \
                     takes [batch, 3, {size}, {size}]"
                ),
            });
        }
        if batch == 0 {
            return Err(PretrainedError::Input {
                message: "an empty batch of images".into(),
            });
        }
        let (ids, mask) = self.prompt_tensors(prompt, batch)?;
        let image_embeds = self.model.image_embeds(pixels);
        Ok(self.model.features(ids, mask, image_embeds))
    }

    /// Rewards of the prompt with each image of a batch of preprocessed pixels, in one forward
    /// pass (the official `score` runs one image per call; the numbers are the same).
    pub fn score_pixels(
        &self,
        prompt: &str,
        pixels: Tensor<4>,
    ) -> Result<Vec<f32>, PretrainedError> {
        let features = self.features(prompt, pixels)?;
        tensor_values(self.model.rewards(features))
    }

    /// [`prepare_image`] at the model's image size, for a batch: `[batch, 3, size, size]`.
    pub fn preprocess(&self, images: &[DynamicImage]) -> Result<Tensor<4>, PretrainedError> {
        let size = image_side(self.config.vit.image_size)?;
        let prepared: Vec<PreparedImage> = images
            .iter()
            .map(|image| prepare_image(image, size))
            .collect();
        stack_prepared(&prepared, &self.device)
    }

    /// `ImageReward.score(prompt, image)` for each image, batched: at most the batch size (see
    /// [`Self::with_batch_size`]) of images go through the model in one forward pass. An empty
    /// list gives an empty result.
    pub fn score(
        &self,
        prompt: &str,
        images: &[DynamicImage],
    ) -> Result<Vec<f32>, PretrainedError> {
        let mut rewards = Vec::with_capacity(images.len());
        for chunk in images.chunks(self.batch_size) {
            rewards.extend(self.score_pixels(prompt, self.preprocess(chunk)?)?);
        }
        Ok(rewards)
    }

    /// [`Self::score`] on image files (PNG, JPEG, WebP), decoded in their own mode as Pillow
    /// opens them.
    pub fn score_paths<P: AsRef<Path>>(
        &self,
        prompt: &str,
        paths: &[P],
    ) -> Result<Vec<f32>, PretrainedError> {
        let mut rewards = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(self.batch_size) {
            let images = chunk
                .iter()
                .map(load_image)
                .collect::<Result<Vec<_>, _>>()?;
            rewards.extend(self.score(prompt, &images)?);
        }
        Ok(rewards)
    }

    /// `ImageReward.inference_rank(prompt, images)`: each image's rank (1 = highest reward,
    /// see [`ranks_of`]) and its reward.
    pub fn inference_rank(
        &self,
        prompt: &str,
        images: &[DynamicImage],
    ) -> Result<(Vec<usize>, Vec<f32>), PretrainedError> {
        let rewards = self.score(prompt, images)?;
        Ok((ranks_of(&rewards), rewards))
    }

    /// [`Self::inference_rank`] on image files.
    pub fn inference_rank_paths<P: AsRef<Path>>(
        &self,
        prompt: &str,
        paths: &[P],
    ) -> Result<(Vec<usize>, Vec<f32>), PretrainedError> {
        let rewards = self.score_paths(prompt, paths)?;
        Ok((ranks_of(&rewards), rewards))
    }
}

/// The model's image size as a pixel count.
fn image_side(size: usize) -> Result<u32, PretrainedError> {
    u32::try_from(size).map_err(|_| PretrainedError::Input {
        message: format!("image size {size} does not fit in 32 bits"),
    })
}

/// A float tensor's values as `f32`.
fn tensor_values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, PretrainedError> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| PretrainedError::Input {
            message: format!("cannot read the model's output: {e:?}"),
        })
}
