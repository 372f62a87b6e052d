//! The pre-norm transformer layers that CLIP's text and vision towers share, following
//! transformers' `modeling_clip.py` (`CLIPAttention`, `CLIPMLP`, `CLIPEncoderLayer`,
//! `CLIPEncoder`). Field names are the checkpoint's (`self_attn.q_proj`, `layer_norm1`,
//! `mlp.fc1`, ...), so the module tree is the key map.

use std::ops::Range;

use burn::{
    nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig},
    prelude::*,
    tensor::activation::{gelu, gelu_approximate, relu, softmax},
};

use super::config::Activation;

/// Applies a feed-forward activation.
pub fn activate<const D: usize>(activation: Activation, x: Tensor<D>) -> Tensor<D> {
    match activation {
        // OpenAI's `QuickGELU`: x * sigmoid(1.702 x), one vectorised pass on flex (kernels).
        Activation::QuickGelu => crate::kernels::quick_gelu(x),
        Activation::Gelu => gelu(x),
        Activation::GeluTanh => gelu_approximate(x),
        Activation::Relu => relu(x),
    }
}

/// Multi-head self-attention with separate, biased q/k/v/out projections (`CLIPAttention`).
#[derive(Module, Debug)]
pub struct ClipAttention {
    /// Query projection.
    pub q_proj: Linear,
    /// Key projection.
    pub k_proj: Linear,
    /// Value projection.
    pub v_proj: Linear,
    /// Output projection.
    pub out_proj: Linear,
    /// Number of heads.
    pub num_heads: usize,
}

impl ClipAttention {
    /// A randomly initialised attention block of width `hidden` with `num_heads` heads.
    pub fn new(hidden: usize, num_heads: usize, device: &Device) -> Self {
        let linear = || LinearConfig::new(hidden, hidden).init(device);
        Self {
            q_proj: linear(),
            k_proj: linear(),
            v_proj: linear(),
            out_proj: linear(),
            num_heads,
        }
    }

    /// `x [B, L, D]`, `blocked [B, 1, L, L]` (true where a query may not see a key) -> `[B, L, D]`.
    pub fn forward(&self, x: Tensor<3>, blocked: Option<Tensor<4, Bool>>) -> Tensor<3> {
        let [batch, len, width] = x.dims();
        let heads = self.num_heads;
        let head_dim = width / heads;
        let split = |t: Tensor<3>| t.reshape([batch, len, heads, head_dim]).swap_dims(1, 2);
        // transformers scales the queries before the product (`q_proj(x) * scale`); the order
        // matters only at the last bit, but it is the reference's.
        let q = split(self.q_proj.forward(x.clone()) * (head_dim as f64).powf(-0.5));
        let k = split(self.k_proj.forward(x.clone()));
        let v = split(self.v_proj.forward(x));
        let mut scores = q.matmul(k.swap_dims(2, 3));
        if let Some(blocked) = blocked {
            // transformers adds the dtype's minimum to blocked scores; filling with it gives the
            // same softmax (exp underflows to 0) and, unlike adding the causal and padding masks,
            // never reaches -inf, so even a row with every key blocked stays finite.
            scores = scores.mask_fill(blocked.expand([batch, heads, len, len]), f32::MIN);
        }
        let weights = softmax(scores, 3);
        let context = weights
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, len, width]);
        self.out_proj.forward(context)
    }
}

/// The feed-forward block `fc2(act(fc1(x)))` (`CLIPMLP`).
#[derive(Module, Debug)]
pub struct ClipMlp {
    /// Widening projection.
    pub fc1: Linear,
    /// Narrowing projection.
    pub fc2: Linear,
    /// Activation between them.
    #[module(skip)]
    pub activation: Activation,
}

impl ClipMlp {
    /// `[.., D] -> [.., D]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.fc2
            .forward(activate(self.activation, self.fc1.forward(x)))
    }
}

/// One pre-norm transformer layer (`CLIPEncoderLayer`).
#[derive(Module, Debug)]
pub struct ClipEncoderLayer {
    /// Self-attention.
    pub self_attn: ClipAttention,
    /// Norm before the attention.
    pub layer_norm1: LayerNorm,
    /// Feed-forward block.
    pub mlp: ClipMlp,
    /// Norm before the feed-forward block.
    pub layer_norm2: LayerNorm,
}

impl ClipEncoderLayer {
    /// A randomly initialised layer.
    pub fn new(
        hidden: usize,
        intermediate: usize,
        num_heads: usize,
        activation: Activation,
        layer_norm_eps: f64,
        device: &Device,
    ) -> Self {
        let norm = || {
            LayerNormConfig::new(hidden)
                .with_epsilon(layer_norm_eps)
                .init(device)
        };
        Self {
            self_attn: ClipAttention::new(hidden, num_heads, device),
            layer_norm1: norm(),
            mlp: ClipMlp {
                fc1: LinearConfig::new(hidden, intermediate).init(device),
                fc2: LinearConfig::new(intermediate, hidden).init(device),
                activation,
            },
            layer_norm2: norm(),
        }
    }

    /// `[B, L, D] -> [B, L, D]`.
    pub fn forward(&self, x: Tensor<3>, blocked: Option<Tensor<4, Bool>>) -> Tensor<3> {
        let h = x.clone() + self.self_attn.forward(self.layer_norm1.forward(x), blocked);
        h.clone() + self.mlp.forward(self.layer_norm2.forward(h))
    }
}

/// The stack of layers (`CLIPEncoder`).
#[derive(Module, Debug)]
pub struct ClipEncoder {
    /// The layers, in order (`encoder.layers.{i}`).
    pub layers: Vec<ClipEncoderLayer>,
}

/// The randomly initialised encoder a tower config (`ClipTextConfig` or `ClipVisionConfig`, which
/// name their layer sizes alike) describes.
macro_rules! clip_encoder {
    ($config:expr, $device:expr) => {{
        let c = $config;
        $crate::clip::ClipEncoder {
            layers: (0..c.num_hidden_layers)
                .map(|_| {
                    $crate::clip::ClipEncoderLayer::new(
                        c.hidden_size,
                        c.intermediate_size,
                        c.num_attention_heads,
                        c.hidden_act,
                        c.layer_norm_eps,
                        $device,
                    )
                })
                .collect(),
        }
    }};
}
pub(crate) use clip_encoder;

impl ClipEncoder {
    /// Runs the layers in `range` (which the caller has checked against `layers.len()`).
    pub fn forward_range(
        &self,
        mut x: Tensor<3>,
        blocked: Option<Tensor<4, Bool>>,
        range: Range<usize>,
    ) -> Tensor<3> {
        for layer in &self.layers[range] {
            x = layer.forward(x, blocked.clone());
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Tensor<3>, b: Tensor<3>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    #[test]
    fn quick_gelu_is_x_sigmoid_1702x() {
        let device = Device::flex();
        let x = Tensor::<1>::from_floats([-2.0, -0.5, 0.0, 1.0, 3.0], &device);
        let got = activate(Activation::QuickGelu, x)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (g, x) in got.iter().zip([-2.0f32, -0.5, 0.0, 1.0, 3.0]) {
            let want = x / (1.0 + (-1.702 * x).exp());
            assert!((g - want).abs() < 1e-6, "{g} vs {want}");
        }
        let erf_gelu = activate(Activation::Gelu, Tensor::<1>::from_floats([1.0], &device));
        // 0.5 * (1 + erf(1/sqrt 2)) = 0.841344746
        assert!((erf_gelu.into_scalar::<f32>() - 0.841_344_7).abs() < 1e-5);
    }

    #[test]
    fn blocked_keys_do_not_reach_the_output() {
        let device = Device::flex();
        let attn = ClipAttention::new(8, 2, &device);
        let x = Tensor::<3>::random([1, 3, 8], burn::tensor::Distribution::Default, &device);
        // Block key 2 for every query: changing token 2 must not change rows 0 and 1.
        let blocked = Tensor::<4, Bool>::from_data(
            TensorData::new(
                vec![false, false, true, false, false, true, false, false, true],
                [1, 1, 3, 3],
            ),
            &device,
        );
        let y = attn.forward(x.clone(), Some(blocked.clone()));
        let x2 = x.clone().slice_assign(
            [0..1, 2..3, 0..8],
            Tensor::<3>::ones([1, 1, 8], &device) * 5.0,
        );
        let y2 = attn.forward(x2, Some(blocked));
        assert!(
            close(
                y.clone().slice([0..1, 0..2, 0..8]),
                y2.slice([0..1, 0..2, 0..8])
            ) < 1e-6
        );
        // Without the mask the same change does reach them.
        let free = attn.forward(x, None);
        assert!(close(free.slice([0..1, 0..2, 0..8]), y.slice([0..1, 0..2, 0..8])) > 1e-4);
    }
}
