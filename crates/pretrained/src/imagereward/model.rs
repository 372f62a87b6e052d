//! ImageReward's module tree, named as the official state dict names its keys: the BLIP
//! backbone (`blip.`) and the reward head (`mlp.`).

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use crate::blip::{BlipVisionTransformer, MedTextEncoder};

/// Widths of the head's linear layers after the feature (`ImageReward.py`'s `MLP`:
/// `Linear(input_size, 1024), Dropout(0.2), Linear(1024, 128), Dropout(0.2), Linear(128, 64),
/// Dropout(0.1), Linear(64, 16), Linear(16, 1)`).
pub(super) const HEAD_WIDTHS: [usize; 5] = [1024, 128, 64, 16, 1];

/// Positions of the linear layers in the official `nn.Sequential` (the others are dropouts).
pub(super) const HEAD_LINEAR_POSITIONS: [usize; 5] = [0, 2, 4, 6, 7];

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
