//! Image encoder trained from scratch: a strided convolution stem cuts a small RGB image into a
//! grid of patch tokens, learned position embeddings say where each patch is, and a few
//! transformer layers let patches exchange information. Optionally (`text_film`) the prompt
//! modulates every stem stage (FiLM, Perez et al. 2018), so the convolutions can pick out the
//! colours and shapes the prompt names before fusion compares words with patches.
//!
//! This replaces ImageReward's pretrained ViT, which would not fit the project's compute or its
//! 64x64 images; the interface (patch tokens plus a pooled vector) is the same, so the fusion
//! module does not care which one it gets.

use burn::{
    module::Param,
    nn::{
        Gelu, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig, PaddingConfig2d,
        conv::{Conv2d, Conv2dConfig},
        transformer::{TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput},
    },
    prelude::*,
};

use crate::ModelConfig;

/// Output of the [`ImageEncoder`].
#[derive(Debug, Clone)]
pub struct ImageFeatures {
    /// Image tokens `[B, P, d]`: the `patch_grid^2` patches, then each context stage's coarser
    /// grid ([`ModelConfig::image_tokens`] in all).
    pub tokens: Tensor<3>,
    /// Mean of the image tokens (every grid) `[B, d]`.
    pub pooled: Tensor<2>,
}

/// Convolution stem + position embeddings + transformer layers over image patches.
#[derive(Module, Debug)]
pub struct ImageEncoder {
    /// Every stem convolution in order: per stage one stride-2 convolution, then
    /// `stem_depth - 1` stride-1 ones.
    stem: Vec<Conv2d>,
    /// Convolutions per stage.
    stem_depth: usize,
    /// Per stage, the pooled prompt -> `[scale, shift]` of that stage's channels (empty without
    /// `text_film`).
    film: Vec<Linear>,
    /// Stride-2 `d -> d` convolutions after the stem, each giving a coarser token grid.
    context: Vec<Conv2d>,
    act: Gelu,
    relu: bool,
    /// `[1, P, d]`, broadcast over the batch.
    pos: Param<Tensor<3>>,
    layers: TransformerEncoder,
    norm: LayerNorm,
}

/// Transformer settings shared by the image and text encoders.
pub(crate) fn transformer_config(
    config: &ModelConfig,
    n_layers: usize,
) -> TransformerEncoderConfig {
    // Pre-norm: from-scratch training on small data is markedly more stable than post-norm.
    TransformerEncoderConfig::new(config.d_model, config.d_ff, config.n_heads, n_layers)
        .with_dropout(config.dropout)
        .with_norm_first(true)
}

/// Small random position embeddings, as in ViT/BERT, so they start as a mild perturbation.
pub(crate) fn position_embedding(len: usize, d: usize, device: &Device) -> Param<Tensor<3>> {
    Initializer::Normal {
        mean: 0.0,
        std: 0.02,
    }
    .init([1, len, d], device)
}

impl ImageEncoder {
    /// Builds the encoder described by `config` (which should be validated).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let n = config.stem_convs().max(1);
        let depth = config.stem_depth.max(1);
        let d = config.d_model;
        let mut stem = Vec::with_capacity(n * depth);
        let mut film = Vec::new();
        let mut c_in = 3;
        let conv = |c_in: usize, c_out: usize, stride: usize| {
            Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        for i in 0..n {
            // Channels double at every halving, ending at d_model, the way a small CNN widens.
            let c_out = if i + 1 == n {
                d
            } else {
                ((d >> (n - 1 - i)) * config.stem_widen.max(1)).clamp(8, d.max(8))
            };
            stem.push(conv(c_in, c_out, 2));
            for _ in 1..depth {
                stem.push(conv(c_out, c_out, 1));
            }
            if config.text_film {
                // Zero-initialised, so training starts from the unconditioned encoder.
                film.push(
                    LinearConfig::new(d, 2 * c_out)
                        .with_initializer(Initializer::Zeros)
                        .init(device),
                );
            }
            c_in = c_out;
        }
        Self {
            stem,
            stem_depth: depth,
            film,
            context: (0..config.context_stages).map(|_| conv(d, d, 2)).collect(),
            act: Gelu::new(),
            relu: config.stem_activation == crate::StemActivation::Relu,
            pos: position_embedding(config.image_tokens(), d, device),
            layers: transformer_config(config, config.image_layers).init(device),
            norm: LayerNormConfig::new(d).init(device),
        }
    }

    /// Whether the stem is conditioned on the prompt (then [`forward`](Self::forward) needs it).
    pub fn conditioned(&self) -> bool {
        !self.film.is_empty()
    }

    fn activate(&self, x: Tensor<4>) -> Tensor<4> {
        if self.relu {
            burn::tensor::activation::relu(x)
        } else {
            self.act.forward(x)
        }
    }

    /// Encodes images `[B, 3, H, W]` (values roughly in `[-1, 1]`, `H = W = image_size`);
    /// `prompt` `[B, d]` is each image's pooled prompt vector, used only by a FiLM-conditioned
    /// stem.
    ///
    /// # Panics
    /// If the image size differs from the configured one (the patch count would not match the
    /// position embeddings), or if the stem is conditioned and `prompt` is `None`.
    pub fn forward(&self, images: Tensor<4>, prompt: Option<Tensor<2>>) -> ImageFeatures {
        let mut x = images;
        let last = self.stem.len() - 1;
        for (i, conv) in self.stem.iter().enumerate() {
            // The stride-1 convolutions of a stage are residual, as in ResNet, so a deeper stem
            // starts close to the shallow one instead of training more slowly.
            let y = conv.forward(x.clone());
            x = if i % self.stem_depth == 0 { y } else { x + y };
            let stage_end = (i + 1) % self.stem_depth == 0;
            if stage_end && let Some(film) = self.film.get(i / self.stem_depth) {
                let p = prompt
                    .clone()
                    .expect("a FiLM-conditioned image encoder needs the prompt vectors");
                let gb = film.forward(p);
                let [b, c2] = gb.dims();
                let c = c2 / 2;
                let gamma = gb.clone().narrow(1, 0, c).reshape([b, c, 1, 1]);
                let beta = gb.narrow(1, c, c).reshape([b, c, 1, 1]);
                x = x.clone() * gamma.add_scalar(1.0) + beta;
            }
            if i != last {
                x = self.activate(x);
            }
        }
        let flat = |x: Tensor<4>| {
            let [b, d, gh, gw] = x.dims();
            x.reshape([b, d, gh * gw]).swap_dims(1, 2)
        };
        let mut grids = vec![flat(x.clone())];
        for conv in &self.context {
            x = conv.forward(self.activate(x));
            grids.push(flat(x.clone()));
        }
        let tokens = Tensor::cat(grids, 1) + self.pos.val();
        let tokens = self.layers.forward(TransformerEncoderInput::new(tokens));
        let tokens = self.norm.forward(tokens);
        let pooled = tokens.clone().mean_dim(1).squeeze_dim::<2>(1);
        ImageFeatures { tokens, pooled }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn shapes_default_and_tiny() {
        let device = Device::flex();
        let context = ModelConfig::tiny()
            .with_patch_grid(8)
            .with_context_stages(2);
        assert_eq!(context.token_grids(), vec![8, 4, 2]);
        for cfg in [ModelConfig::new(), ModelConfig::tiny(), context] {
            let enc = ImageEncoder::new(&cfg, &device);
            let img = Tensor::<4>::random(
                [2, 3, cfg.image_size, cfg.image_size],
                Distribution::Uniform(-1.0, 1.0),
                &device,
            );
            let out = enc.forward(img, None);
            let p = cfg.image_tokens();
            assert_eq!(out.tokens.dims(), [2, p, cfg.d_model]);
            assert_eq!(out.pooled.dims(), [2, cfg.d_model]);
        }
    }
}
