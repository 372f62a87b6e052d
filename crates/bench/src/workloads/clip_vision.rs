//! The CLIP vision workload: a randomly initialised vision tower with its projection.

use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Distribution, Tensor};
use pretrained::clip::{ClipConfig, ClipVisionTransformer};
use pretrained::flop::encoder_layers_flop;

use super::readback_error;
use crate::BenchError;

/// The CLIP vision workload: the tower, its projection, and a fixed random batch.
#[derive(Debug)]
pub struct ClipVisionWorkload {
    tower: ClipVisionTransformer,
    projection: Linear,
    pixels: Tensor<4>,
}

impl ClipVisionWorkload {
    /// Images per step in the comparison.
    pub const BATCH: usize = 16;

    /// A randomly initialised vision tower and projection of `config`'s sizes (ViT-B/32 in the
    /// comparison: [`ClipConfig::vit_base_patch32`]) and `batch` images of standard normal
    /// noise.
    ///
    /// # Errors
    ///
    /// [`BenchError::Size`] for an empty batch or a config that does not validate.
    pub fn new(config: &ClipConfig, batch: usize, device: &Device) -> Result<Self, BenchError> {
        config.validate().map_err(BenchError::Size)?;
        if batch == 0 {
            return Err(BenchError::Size("CLIP batch of 0 images".into()));
        }
        let vision = &config.vision_config;
        let size = vision.image_size;
        Ok(Self {
            tower: vision.init(device),
            projection: LinearConfig::new(vision.hidden_size, config.projection_dim)
                .with_bias(false)
                .init(device),
            pixels: Tensor::random(
                [batch, vision.num_channels, size, size],
                Distribution::Normal(0.0, 1.0),
                device,
            ),
        })
    }

    /// Images per step.
    pub fn batch(&self) -> usize {
        self.pixels.dims()[0]
    }

    /// Floating-point operations of one image: the patch embedding (a product of each patch's
    /// pixels with the embedding matrix), [`encoder_layers_flop`] over the patches and the class
    /// token, and the projection.
    pub fn flop_per_image(config: &ClipConfig) -> f64 {
        let v = &config.vision_config;
        let patches = (v.image_size / v.patch_size).pow(2);
        let pixels_per_patch = v.num_channels * v.patch_size * v.patch_size;
        2.0 * (patches * pixels_per_patch * v.hidden_size) as f64
            + encoder_layers_flop(
                patches + 1,
                v.hidden_size,
                v.intermediate_size,
                v.num_hidden_layers,
            )
            + 2.0 * (v.hidden_size * config.projection_dim) as f64
    }

    /// One forward: the projected image features `[batch, projection_dim]`
    /// (`image_embeds` of `CLIPVisionModelWithProjection`, not normalised).
    ///
    /// # Errors
    ///
    /// As [`ClipVisionTransformer::forward`] (not reachable with the workload's own input).
    pub fn forward(&self) -> Result<Tensor<2>, BenchError> {
        let out = self.tower.forward(self.pixels.clone())?;
        Ok(self.projection.forward(out.pooler_output))
    }

    /// One timed step: [`Self::forward`], read back to the host.
    ///
    /// # Errors
    ///
    /// As [`Self::forward`], and [`BenchError::Readback`].
    pub fn step(&self) -> Result<(), BenchError> {
        self.forward()?
            .into_data()
            .try_to_vec::<f32>()
            .map_err(readback_error)?;
        Ok(())
    }
}
