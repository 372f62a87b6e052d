//! One float32 matrix product timed alone, in GFLOP/s.

use burn::tensor::{Device, Distribution, Tensor};

use super::readback_error;
use crate::BenchError;

/// The matrix products timed alone, `(name, m, k, n)`: the feed-forward up-projection
/// `[tokens, width] x [width, 4 * width]` of MiniLM at 64 x 35 tokens and of CLIP ViT-B/32 at
/// 16 images of 50 tokens, the largest products of the two encoder workloads.
pub const MATMUL_SHAPES: [(&str, usize, usize, usize); 2] = [
    ("minilm_ffn", 64 * 35, 384, 1536),
    ("clip_vit_b32_ffn", 16 * 50, 768, 3072),
];

/// Matrix products per timed sample of [`MatmulWorkload`] (one takes milliseconds), as in the
/// Python script.
pub const MATMUL_STEPS_PER_SAMPLE: usize = 10;

/// One float32 matrix product `[m, k] x [k, n]` of standard normal matrices.
#[derive(Debug)]
pub struct MatmulWorkload {
    pub(super) a: Tensor<2>,
    pub(super) b: Tensor<2>,
}

impl MatmulWorkload {
    /// The product's operands on `device`.
    ///
    /// # Errors
    ///
    /// [`BenchError::Size`] when a size is 0.
    pub fn new(m: usize, k: usize, n: usize, device: &Device) -> Result<Self, BenchError> {
        if m == 0 || k == 0 || n == 0 {
            return Err(BenchError::Size(format!("matrix product {m} x {k} x {n}")));
        }
        let normal =
            |rows, cols| Tensor::random([rows, cols], Distribution::Normal(0.0, 1.0), device);
        Ok(Self {
            a: normal(m, k),
            b: normal(k, n),
        })
    }

    /// Floating-point operations of one product (a multiply and an add per term).
    pub fn flop(&self) -> f64 {
        let [m, k] = self.a.dims();
        let n = self.b.dims()[1];
        2.0 * (m * k * n) as f64
    }

    /// The product.
    pub fn forward(&self) -> Tensor<2> {
        self.a.clone().matmul(self.b.clone())
    }

    /// One product, its first element read back (the backend computes all of it).
    ///
    /// # Errors
    ///
    /// [`BenchError::Readback`] when the element cannot be read.
    pub fn step(&self) -> Result<(), BenchError> {
        self.forward()
            .slice([0..1, 0..1])
            .into_data()
            .try_to_vec::<f32>()
            .map_err(readback_error)?;
        Ok(())
    }
}
