//! CLIP's vision transformer, following transformers' `modeling_clip.py`
//! (`CLIPVisionEmbeddings`, `CLIPVisionTransformer`): a bias-free convolution cuts the image
//! into patches, a learned class embedding is prepended, learned position embeddings are added,
//! then `pre_layrnorm` (the checkpoint's spelling), the layers, and `post_layernorm` on the class
//! token.
//!
//! As for the text tower, the forward pass is also offered in steps
//! ([`ClipVisionTransformer::embed`], [`ClipVisionTransformer::advance`],
//! [`ClipVisionTransformer::pool`]) so that frozen leading layers can run once and be cached.

use burn::{
    module::Param,
    nn::{
        Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig,
        conv::{Conv2d, Conv2dConfig},
    },
    prelude::*,
};

use super::{
    check_complete, check_range, config::ClipVisionConfig, encoder::ClipEncoder, input_error,
};
use crate::PretrainedError;

/// Patch, class and position embeddings (`vision_model.embeddings`).
#[derive(Module, Debug)]
pub struct ClipVisionEmbeddings {
    /// The class token's embedding `[D]`.
    pub class_embedding: Param<Tensor<1>>,
    /// Patchify-and-project convolution, kernel = stride = patch size, no bias.
    pub patch_embedding: Conv2d,
    /// One vector per token (class token first) `[1 + grid², D]`.
    pub position_embedding: Embedding,
    /// Side of the square input the position table was made for.
    pub image_size: usize,
}

/// The vision tower (`CLIPVisionTransformer`, the checkpoint's `vision_model`).
#[derive(Module, Debug)]
pub struct ClipVisionTransformer {
    /// Embeddings.
    pub embeddings: ClipVisionEmbeddings,
    /// Norm applied to the embeddings before the layers (transformers' spelling).
    pub pre_layrnorm: LayerNorm,
    /// The transformer layers.
    pub encoder: ClipEncoder,
    /// Norm applied to the class token's final state.
    pub post_layernorm: LayerNorm,
}

/// The vision tower's hidden states after some of its layers.
#[derive(Debug, Clone)]
pub struct VisionHiddenState {
    /// Hidden states `[B, 1 + grid², D]` after `layers_done` layers.
    pub hidden: Tensor<3>,
    /// How many layers have run.
    pub layers_done: usize,
}

impl VisionHiddenState {
    /// The same state cut off from the autodiff graph (for caching the frozen layers' output).
    pub fn detach(self) -> Self {
        Self {
            hidden: self.hidden.detach(),
            ..self
        }
    }
}

/// The vision tower's outputs.
#[derive(Debug, Clone)]
pub struct VisionOutput {
    /// Every token after the last layer (no final norm, as in transformers) `[B, T, D]`.
    pub last_hidden_state: Tensor<3>,
    /// `post_layernorm` of the class token `[B, D]`.
    pub pooler_output: Tensor<2>,
}

impl ClipVisionConfig {
    /// Builds a randomly initialised vision tower of these sizes.
    pub fn init(&self, device: &Device) -> ClipVisionTransformer {
        let norm = || {
            LayerNormConfig::new(self.hidden_size)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        ClipVisionTransformer {
            embeddings: ClipVisionEmbeddings {
                class_embedding: Param::from_tensor(Tensor::random(
                    [self.hidden_size],
                    burn::tensor::Distribution::Normal(0.0, 1.0),
                    device,
                )),
                patch_embedding: Conv2dConfig::new(
                    [self.num_channels, self.hidden_size],
                    [self.patch_size, self.patch_size],
                )
                .with_stride([self.patch_size, self.patch_size])
                .with_bias(false)
                .init(device),
                position_embedding: EmbeddingConfig::new(self.num_positions(), self.hidden_size)
                    .init(device),
                image_size: self.image_size,
            },
            pre_layrnorm: norm(),
            encoder: super::encoder::clip_encoder!(self, device),
            post_layernorm: norm(),
        }
    }
}

impl ClipVisionEmbeddings {
    /// `pixel_values [B, C, S, S]` -> class token then patches, plus position embeddings
    /// `[B, 1 + grid², D]` (before `pre_layrnorm`).
    ///
    /// # Errors
    ///
    /// When the batch is empty or the images are not `C x S x S` for the model's channels and
    /// image size (transformers refuses other sizes too unless asked to interpolate).
    pub fn forward(&self, pixel_values: Tensor<4>) -> Result<Tensor<3>, PretrainedError> {
        let [batch, channels, height, width] = pixel_values.dims();
        let [_, expected_channels, _, _] = self.patch_embedding.weight.dims();
        let size = self.image_size;
        if batch == 0 || channels != expected_channels || height != size || width != size {
            return Err(input_error(format!(
                "pixel_values have shape [{batch}, {channels}, {height}, {width}], the model takes \
                 [B > 0, {expected_channels}, {size}, {size}]"
            )));
        }
        let patches = self.patch_embedding.forward(pixel_values);
        let [_, width_d, grid_h, grid_w] = patches.dims();
        let patches = patches
            .reshape([batch, width_d, grid_h * grid_w])
            .swap_dims(1, 2);
        let class = self
            .class_embedding
            .val()
            .reshape([1, 1, width_d])
            .expand([batch, 1, width_d]);
        let tokens = Tensor::cat(vec![class, patches], 1);
        let positions = self.position_embedding.weight.val();
        let [num_positions, _] = positions.dims();
        if num_positions != 1 + grid_h * grid_w {
            // Only reachable with a hand-built module whose table and image size disagree.
            return Err(input_error(format!(
                "{} patches plus the class token do not match {num_positions} position embeddings",
                grid_h * grid_w
            )));
        }
        Ok(tokens + positions.unsqueeze::<3>())
    }
}

impl ClipVisionTransformer {
    /// Number of transformer layers.
    pub fn num_layers(&self) -> usize {
        self.encoder.layers.len()
    }

    /// Embeds `pixel_values [B, C, S, S]` (already normalised) and applies `pre_layrnorm`: the
    /// state before layer 0.
    ///
    /// # Errors
    ///
    /// As for [`ClipVisionEmbeddings::forward`].
    pub fn embed(&self, pixel_values: Tensor<4>) -> Result<VisionHiddenState, PretrainedError> {
        let hidden = self.embeddings.forward(pixel_values)?;
        Ok(VisionHiddenState {
            hidden: self.pre_layrnorm.forward(hidden),
            layers_done: 0,
        })
    }

    /// Runs the layers from `state.layers_done` up to (not including) layer `until`.
    ///
    /// # Errors
    ///
    /// When `until` is before the layers already run or past the last layer.
    pub fn advance(
        &self,
        state: VisionHiddenState,
        until: usize,
    ) -> Result<VisionHiddenState, PretrainedError> {
        check_range(state.layers_done, until, self.num_layers())?;
        Ok(VisionHiddenState {
            hidden: self
                .encoder
                .forward_range(state.hidden, None, state.layers_done..until),
            layers_done: until,
        })
    }

    /// Applies `post_layernorm` to the class token.
    ///
    /// # Errors
    ///
    /// When not every layer has run.
    pub fn pool(&self, state: VisionHiddenState) -> Result<VisionOutput, PretrainedError> {
        check_complete(state.layers_done, self.num_layers())?;
        let [batch, _, width] = state.hidden.dims();
        let class = state.hidden.clone().slice([0..batch, 0..1, 0..width]);
        Ok(VisionOutput {
            pooler_output: self.post_layernorm.forward(class.reshape([batch, width])),
            last_hidden_state: state.hidden,
        })
    }

    /// The whole vision tower.
    ///
    /// # Errors
    ///
    /// As for [`Self::embed`].
    pub fn forward(&self, pixel_values: Tensor<4>) -> Result<VisionOutput, PretrainedError> {
        let state = self.embed(pixel_values)?;
        let state = self.advance(state, self.num_layers())?;
        self.pool(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ClipVisionConfig {
        ClipVisionConfig {
            hidden_size: 16,
            intermediate_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            image_size: 8,
            patch_size: 4,
            ..ClipVisionConfig::default()
        }
    }

    #[test]
    fn shapes_follow_the_patch_grid() {
        let device = Device::flex();
        let model = tiny().init(&device);
        let pixels =
            Tensor::<4>::random([2, 3, 8, 8], burn::tensor::Distribution::Default, &device);
        let out = model.forward(pixels).unwrap();
        assert_eq!(out.last_hidden_state.dims(), [2, 5, 16]);
        assert_eq!(out.pooler_output.dims(), [2, 16]);
    }

    #[test]
    fn images_of_other_sizes_are_errors() {
        let device = Device::flex();
        let model = tiny().init(&device);
        for shape in [[1, 3, 8, 9], [1, 1, 8, 8], [0, 3, 8, 8]] {
            let pixels = Tensor::<4>::zeros(shape, &device);
            let message = model.forward(pixels).unwrap_err().to_string();
            assert!(message.contains("pixel_values"), "{message}");
        }
    }

    #[test]
    fn batch_rows_are_independent_and_split_runs_match() {
        let device = Device::flex();
        let model = tiny().init(&device);
        let a = Tensor::<4>::random([1, 3, 8, 8], burn::tensor::Distribution::Default, &device);
        let b = Tensor::<4>::random([1, 3, 8, 8], burn::tensor::Distribution::Default, &device);
        let alone = model.forward(a.clone()).unwrap().pooler_output;
        let both = model
            .forward(Tensor::cat(vec![a.clone(), b], 0))
            .unwrap()
            .pooler_output
            .slice([0..1, 0..16]);
        let diff: f32 = (alone.clone() - both).abs().max().into_scalar();
        assert!(diff < 1e-5, "{diff}");
        let frozen = model.advance(model.embed(a).unwrap(), 1).unwrap().detach();
        let split = model
            .pool(model.advance(frozen, 2).unwrap())
            .unwrap()
            .pooler_output;
        let diff: f32 = (alone - split).abs().max().into_scalar();
        assert!(diff < 1e-6, "{diff}");
    }
}
