//! Fusion of image and text features into one vector per (image, prompt) pair, which the heads
//! score.
//!
//! Two variants, chosen by [`FusionKind`]: BLIP-style cross-attention (every prompt token looks
//! at the image patches, so the model can check each word against the picture, which is what
//! makes ImageReward judge alignment well) and a cheap concatenation baseline.

use burn::{
    nn::{
        Dropout, DropoutConfig, Gelu, LayerNorm, LayerNormConfig, Linear, LinearConfig,
        attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig},
        transformer::{PositionWiseFeedForward, PositionWiseFeedForwardConfig},
    },
    prelude::*,
};

use crate::{
    FusionKind, ModelConfig,
    image_encoder::ImageFeatures,
    text_encoder::{TextFeatures, masked_mean_tokens},
};

/// What the fusion hands to the heads.
#[derive(Debug, Clone)]
pub struct Fused {
    /// One vector per (image, prompt) pair `[B, d]`.
    pub joint: Tensor<2>,
    /// With cross-attention: every prompt token after it has looked at the image `[B, L, d]`,
    /// and 1 where the position is a real token `[B, L]`.
    pub tokens: Option<(Tensor<3>, Tensor<2>)>,
}

/// One cross-attention block: text tokens attend to image patches, then a feed-forward layer,
/// each with a pre-norm residual.
#[derive(Module, Debug)]
pub struct CrossAttentionBlock {
    norm_text: LayerNorm,
    norm_image: LayerNorm,
    attn: MultiHeadAttention,
    norm_ff: LayerNorm,
    ff: PositionWiseFeedForward,
    dropout: Dropout,
}

impl CrossAttentionBlock {
    fn new(config: &ModelConfig, device: &Device) -> Self {
        let d = config.d_model;
        Self {
            norm_text: LayerNormConfig::new(d).init(device),
            norm_image: LayerNormConfig::new(d).init(device),
            attn: MultiHeadAttentionConfig::new(d, config.n_heads)
                .with_dropout(config.dropout)
                .init(device),
            norm_ff: LayerNormConfig::new(d).init(device),
            ff: PositionWiseFeedForwardConfig::new(d, config.d_ff)
                .with_dropout(config.dropout)
                .init(device),
            dropout: DropoutConfig::new(config.dropout).init(),
        }
    }

    /// `text [B, L, d]`, `image [B, P, d]` -> `[B, L, d]`.
    fn forward(&self, text: Tensor<3>, image: Tensor<3>) -> Tensor<3> {
        let q = self.norm_text.forward(text.clone());
        let kv = self.norm_image.forward(image);
        // Image patches are never padding, so no mask: every text token sees every patch.
        let ctx = self.attn.forward(MhaInput::new(q, kv.clone(), kv)).context;
        let x = text + self.dropout.forward(ctx);
        let ff = self.ff.forward(self.norm_ff.forward(x.clone()));
        x + self.dropout.forward(ff)
    }
}

/// Cross-attention fusion: blocks of [`CrossAttentionBlock`], then a masked mean over text tokens.
#[derive(Module, Debug)]
pub struct CrossAttentionFusion {
    blocks: Vec<CrossAttentionBlock>,
    norm: LayerNorm,
    /// Mixes the attended text with the image's mean- and max-pooled patches, so that image-wide
    /// qualities (noise, blur) and small local ones (a motif in a corner) reach the heads even
    /// when no prompt token attends to them.
    proj: Linear,
    act: Gelu,
}

/// Concatenation fusion: `[img, txt, img * txt] -> Linear -> GELU`.
#[derive(Module, Debug)]
pub struct ConcatFusion {
    proj: Linear,
    act: Gelu,
}

/// The fusion module; exactly one of the two variants is present, as the config says.
#[derive(Module, Debug)]
pub struct Fusion {
    cross: Option<CrossAttentionFusion>,
    concat: Option<ConcatFusion>,
}

impl Fusion {
    /// Builds the fusion described by `config` (which should be validated).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let d = config.d_model;
        match config.fusion {
            FusionKind::CrossAttention => Self {
                cross: Some(CrossAttentionFusion {
                    blocks: (0..config.fusion_layers.max(1))
                        .map(|_| CrossAttentionBlock::new(config, device))
                        .collect(),
                    norm: LayerNormConfig::new(d).init(device),
                    proj: LinearConfig::new(3 * d, d).init(device),
                    act: Gelu::new(),
                }),
                concat: None,
            },
            FusionKind::Concat => Self {
                cross: None,
                concat: Some(ConcatFusion {
                    proj: LinearConfig::new(3 * d, d).init(device),
                    act: Gelu::new(),
                }),
            },
        }
    }

    /// Which variant this module is.
    pub fn kind(&self) -> FusionKind {
        if self.cross.is_some() {
            FusionKind::CrossAttention
        } else {
            FusionKind::Concat
        }
    }

    /// Fuses the features of B (image, text) pairs.
    pub fn forward(&self, image: &ImageFeatures, text: &TextFeatures) -> Fused {
        if let Some(cross) = &self.cross {
            let mut x = text.tokens.clone();
            for block in &cross.blocks {
                x = block.forward(x, image.tokens.clone());
            }
            let x = cross.norm.forward(x);
            let keep = text.pad_mask.clone().bool_not().float();
            let attended = masked_mean_tokens(x.clone(), keep.clone());
            let max_patch = image.tokens.clone().max_dim(1).squeeze_dim::<2>(1);
            let joint = Tensor::cat(vec![attended, image.pooled.clone(), max_patch], 1);
            Fused {
                joint: cross.act.forward(cross.proj.forward(joint)),
                tokens: Some((x, keep)),
            }
        } else if let Some(concat) = &self.concat {
            let (i, t) = (image.pooled.clone(), text.pooled.clone());
            let joint = Tensor::cat(vec![i.clone(), t.clone(), i * t], 1);
            Fused {
                joint: concat.act.forward(concat.proj.forward(joint)),
                tokens: None,
            }
        } else {
            unreachable!("Fusion::new always builds one variant")
        }
    }
}
