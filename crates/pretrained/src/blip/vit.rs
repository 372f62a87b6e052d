//! BLIP's image encoder: the timm-style Vision Transformer of BLIP's `models/vit.py`
//! (salesforce/BLIP, used unchanged by THUDM/ImageReward's `models/BLIP/vit.py`).
//!
//! The module tree mirrors the checkpoint's keys under `blip.visual_encoder.`: `cls_token`,
//! `pos_embed`, `patch_embed.proj`, `blocks.{i}.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1,
//! mlp.fc2}` and the final `norm`, so loading needs no remap. The blocks are public and can be
//! run one range at a time ([`BlipVisionTransformer::embed`], [`BlipVisionTransformer::forward_blocks`],
//! [`BlipVisionTransformer::final_norm`]), so that a caller can freeze the first blocks and cache
//! their output.

use std::ops::Range;

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use super::check_range;
use crate::PretrainedError;

/// The sizes of a BLIP vision transformer (the arguments of `vit.py`'s `VisionTransformer`).
///
/// None of the sizes but `num_heads` can differ from the checkpoint without the strict loader
/// naming the misshaped tensors; `num_heads` is not recorded in any tensor and must be right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlipVitConfig {
    /// Side of the square input image in pixels (224).
    pub image_size: usize,
    /// Side of a square patch in pixels (16).
    pub patch_size: usize,
    /// Width of the residual stream (1024 for ViT-L).
    pub embed_dim: usize,
    /// Number of transformer blocks (24 for ViT-L).
    pub depth: usize,
    /// Attention heads per block (16 for ViT-L).
    pub num_heads: usize,
    /// Width of the feed-forward layer over `embed_dim` (4.0).
    #[serde(default = "default_mlp_ratio")]
    pub mlp_ratio: f64,
    /// Whether `attn.qkv` has a bias (true in BLIP).
    #[serde(default = "default_qkv_bias")]
    pub qkv_bias: bool,
    /// Epsilon of every LayerNorm: `vit.py` builds them as `partial(nn.LayerNorm, eps=1e-6)`.
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
}

fn default_mlp_ratio() -> f64 {
    4.0
}

fn default_qkv_bias() -> bool {
    true
}

fn default_layer_norm_eps() -> f64 {
    1e-6
}

impl BlipVitConfig {
    /// ViT-L/16 at 224 pixels: what BLIP's `create_vit('large', 224)` builds, and the image
    /// encoder of ImageReward-v1.0.
    pub fn vit_large_patch16_224() -> Self {
        Self {
            image_size: 224,
            patch_size: 16,
            embed_dim: 1024,
            depth: 24,
            num_heads: 16,
            mlp_ratio: 4.0,
            qkv_bias: true,
            layer_norm_eps: 1e-6,
        }
    }

    /// ViT-B/16 at 224 pixels: `create_vit('base', 224)`.
    pub fn vit_base_patch16_224() -> Self {
        Self {
            embed_dim: 768,
            depth: 12,
            num_heads: 12,
            ..Self::vit_large_patch16_224()
        }
    }

    /// Patches per side.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Tokens the encoder outputs: one per patch, plus the class token.
    pub fn num_tokens(&self) -> usize {
        self.grid_size() * self.grid_size() + 1
    }

    /// Width of the feed-forward layer: timm's `int(embed_dim * mlp_ratio)`.
    pub fn mlp_hidden(&self) -> usize {
        (self.embed_dim as f64 * self.mlp_ratio) as usize
    }

    /// Checks the sizes that the module's shapes depend on, so that building it cannot fail.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("image_size", self.image_size),
            ("patch_size", self.patch_size),
            ("embed_dim", self.embed_dim),
            ("depth", self.depth),
            ("num_heads", self.num_heads),
            (
                "mlp hidden width (embed_dim * mlp_ratio)",
                self.mlp_hidden(),
            ),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, n)| *n == 0) {
            return Err(format!("vision transformer: {name} must be positive"));
        }
        if !self.embed_dim.is_multiple_of(self.num_heads) {
            return Err(format!(
                "vision transformer: embed_dim {} is not a multiple of num_heads {}",
                self.embed_dim, self.num_heads
            ));
        }
        if !self.image_size.is_multiple_of(self.patch_size) {
            return Err(format!(
                "vision transformer: image_size {} is not a multiple of patch_size {}",
                self.image_size, self.patch_size
            ));
        }
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            return Err("vision transformer: layer_norm_eps must be positive".into());
        }
        Ok(())
    }

    /// Builds the encoder with lazily initialised parameters (nothing is allocated until a
    /// parameter is read or loaded). The config must pass [`Self::validate`].
    pub fn init(&self, device: &Device) -> BlipVisionTransformer {
        let d = self.embed_dim;
        let norm = || {
            LayerNormConfig::new(d)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        let blocks = (0..self.depth)
            .map(|_| VitBlock {
                norm1: norm(),
                attn: VitAttention {
                    qkv: LinearConfig::new(d, 3 * d)
                        .with_bias(self.qkv_bias)
                        .init(device),
                    proj: LinearConfig::new(d, d).init(device),
                    num_heads: self.num_heads,
                },
                norm2: norm(),
                mlp: VitMlp {
                    fc1: LinearConfig::new(d, self.mlp_hidden()).init(device),
                    fc2: LinearConfig::new(self.mlp_hidden(), d).init(device),
                },
            })
            .collect();
        BlipVisionTransformer {
            cls_token: Initializer::Zeros.init([1, 1, d], device),
            pos_embed: Initializer::Zeros.init([1, self.num_tokens(), d], device),
            patch_embed: PatchEmbed {
                proj: Conv2dConfig::new([3, d], [self.patch_size, self.patch_size])
                    .with_stride([self.patch_size, self.patch_size])
                    .init(device),
            },
            blocks,
            norm: norm(),
        }
    }
}

/// `vit.py`'s `VisionTransformer` (without the classifier head, which BLIP never builds).
#[derive(Module, Debug)]
pub struct BlipVisionTransformer {
    /// The learned class token, `[1, 1, embed_dim]`.
    pub cls_token: Param<Tensor<3>>,
    /// Learned position embeddings for the class token and every patch, `[1, tokens, embed_dim]`.
    pub pos_embed: Param<Tensor<3>>,
    /// Patch embedding: a strided convolution.
    pub patch_embed: PatchEmbed,
    /// The transformer blocks, in order.
    pub blocks: Vec<VitBlock>,
    /// The final LayerNorm.
    pub norm: LayerNorm,
}

impl BlipVisionTransformer {
    /// The whole encoder: `[batch, 3, size, size]` normalised pixels to `[batch, tokens, width]`
    /// (`VisionTransformer.forward`, what ImageReward calls `image_embeds`).
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<3> {
        let tokens = self.embed(pixels);
        let tokens = self.run_blocks(tokens, 0..self.blocks.len());
        self.final_norm(tokens)
    }

    /// Patch embedding, class token and position embeddings: the input of block 0.
    pub fn embed(&self, pixels: Tensor<4>) -> Tensor<3> {
        let patches = self.patch_embed.forward(pixels);
        let [batch, n, width] = patches.dims();
        // `cls_tokens = self.cls_token.expand(B, -1, -1); x = torch.cat((cls_tokens, x), dim=1)`
        let cls = self.cls_token.val().expand([batch, 1, width]);
        let tokens = Tensor::cat(vec![cls, patches], 1);
        // `x = x + self.pos_embed[:,:x.size(1),:]`
        let pos = self.pos_embed.val().narrow(1, 0, n + 1);
        tokens + pos
    }

    /// Runs blocks `range` (indices into [`Self::blocks`]) on their input tokens:
    /// `forward_blocks(embed(x), 0..k)` then `forward_blocks(.., k..depth)` and [`Self::final_norm`]
    /// is [`Self::forward`].
    ///
    /// # Errors
    ///
    /// [`PretrainedError::Input`] when `range` reaches past the last block.
    pub fn forward_blocks(
        &self,
        tokens: Tensor<3>,
        range: Range<usize>,
    ) -> Result<Tensor<3>, PretrainedError> {
        check_range(&range, self.blocks.len(), "vision transformer blocks")?;
        Ok(self.run_blocks(tokens, range))
    }

    fn run_blocks(&self, tokens: Tensor<3>, range: Range<usize>) -> Tensor<3> {
        self.blocks[range]
            .iter()
            .fold(tokens, |tokens, block| block.forward(tokens))
    }

    /// The final LayerNorm over the last block's output.
    pub fn final_norm(&self, tokens: Tensor<3>) -> Tensor<3> {
        self.norm.forward(tokens)
    }

    /// Width of the output tokens.
    pub fn width(&self) -> usize {
        self.cls_token.lazy_shape()[2]
    }
}

/// timm's `PatchEmbed`: a `patch x patch` convolution with stride `patch`, flattened to tokens.
#[derive(Module, Debug)]
pub struct PatchEmbed {
    /// The convolution, `[width, 3, patch, patch]` with bias.
    pub proj: Conv2d,
}

impl PatchEmbed {
    /// `[batch, 3, h, w]` to `[batch, (h/patch)*(w/patch), width]`, patches in row-major order.
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<3> {
        // `x = self.proj(x).flatten(2).transpose(1, 2)`
        self.proj.forward(pixels).flatten::<3>(2, 3).swap_dims(1, 2)
    }
}

/// `vit.py`'s `Block`: pre-norm attention and feed-forward, each added to the residual stream.
#[derive(Module, Debug)]
pub struct VitBlock {
    /// LayerNorm before attention.
    pub norm1: LayerNorm,
    /// Multi-head self-attention.
    pub attn: VitAttention,
    /// LayerNorm before the feed-forward layer.
    pub norm2: LayerNorm,
    /// The feed-forward layer.
    pub mlp: VitMlp,
}

impl VitBlock {
    /// `x = x + attn(norm1(x)); x = x + mlp(norm2(x))` (drop-path is the identity at inference).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(self.norm1.forward(x));
        x.clone() + self.mlp.forward(self.norm2.forward(x))
    }
}

/// `vit.py`'s `Attention`: one fused `qkv` projection, scaled dot-product attention, `proj`.
#[derive(Module, Debug)]
pub struct VitAttention {
    /// Query, key and value projections fused, `[3 * width, width]` in the checkpoint.
    pub qkv: Linear,
    /// Output projection.
    pub proj: Linear,
    /// Number of heads.
    pub num_heads: usize,
}

impl VitAttention {
    /// Self-attention over all tokens (no mask).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, n, width] = x.dims();
        let heads = self.num_heads;
        let head_dim = width / heads;
        // `qkv.reshape(B, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)`: the fused output is
        // laid out as (q | k | v), each split into heads.
        let qkv = self
            .qkv
            .forward(x)
            .reshape([batch, n, 3, heads, head_dim])
            .permute([2, 0, 3, 1, 4]);
        let part = |i: usize| qkv.clone().narrow(0, i, 1).squeeze_dim::<4>(0);
        let (q, k, v) = (part(0), part(1), part(2));
        // `attn = (q @ k.transpose(-2, -1)) * self.scale` with `scale = head_dim ** -0.5`
        let scale = (head_dim as f64).powf(-0.5);
        let attn = softmax(q.matmul(k.swap_dims(2, 3)).mul_scalar(scale), 3);
        // `x = (attn @ v).transpose(1, 2).reshape(B, N, C)`
        let out = attn.matmul(v).swap_dims(1, 2).reshape([batch, n, width]);
        self.proj.forward(out)
    }
}

/// timm's `Mlp`: `fc1`, exact (erf) GELU as `nn.GELU` computes it, `fc2`.
#[derive(Module, Debug)]
pub struct VitMlp {
    /// Expansion.
    pub fc1: Linear,
    /// Projection back to the residual width.
    pub fc2: Linear,
}

impl VitMlp {
    /// `fc2(gelu(fc1(x)))` (dropout is the identity at inference).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        // The vectorised in-place GELU (crate::kernels): burn's calls libm's scalar `erff` per element.
        self.fc2.forward(crate::kernels::gelu(self.fc1.forward(x)))
    }
}
