//! Image preprocessing that reproduces the Python reference pipelines byte for byte.
//!
//! - [`resize`]: Pillow's `Image.resize` (its `libImaging/Resample.c`, `ImagingResample`): a
//!   separable convolution, horizontal pass then vertical pass, the filter's support widened by
//!   the downscale factor, coefficients normalised to sum 1 and then turned into 22-bit fixed
//!   point, each pass rounded and clipped to 8 bits; a pass is skipped when its dimension does
//!   not change. RGBA and LA images are premultiplied by alpha around the resize, as Pillow does.
//! - [`ClipImageProcessor`]: transformers' `CLIPImageProcessor` (`image_processing_clip.py`):
//!   convert to RGB (alpha composited onto white, as transformers 5 does), resize the shortest edge (`get_resize_output_image_size`), centre crop
//!   (`image_transforms.center_crop`), rescale by 1/255, normalise with the mean and std.
//! - The pieces ([`shortest_edge_size`], [`center_crop`] with a [`CropOffset`] rule,
//!   [`to_chw`] with a [`Rescale`] rule) are public so that pipelines that differ only in
//!   those rules (BLIP/ImageReward's torchvision `Resize` + `CenterCrop` + `ToTensor`) can be
//!   assembled from them.
//!
//! - [`PadToSquare`]: OpenCLIP's evaluation transform as HPSv2 uses it (the longest side resized
//!   by torch's antialiased bicubic on floats, zero padding to a square, no crop).
//!
//! One job per file: [`resample`] (Pillow's resize), [`convert`] (colour conversion, crop,
//! tensor layout), [`clip`] (the CLIP processor and its config), [`pad_square`] (HPSv2's
//! transform); decoding ([`load_image`]) here.

use std::path::Path;

use burn::prelude::*;
use image::{DynamicImage, GrayAlphaImage, GrayImage, ImageBuffer, Pixel, RgbImage, RgbaImage};
use serde::Deserialize;
use serde_json::Value;

use crate::PretrainedError;

// The decimals exactly as transformers writes them (`OPENAI_CLIP_MEAN`/`_STD`); the f32
// nearest to each is what numpy's `np.array(mean, dtype=np.float32)` holds too.
/// OpenAI's CLIP normalisation mean (RGB).
#[allow(clippy::excessive_precision)]
pub const OPENAI_CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI's CLIP normalisation standard deviation (RGB).
#[allow(clippy::excessive_precision)]
pub const OPENAI_CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

pub mod clip;
pub mod convert;
pub mod pad_square;
pub mod resample;
#[cfg(test)]
mod tests;

pub use clip::*;
pub use convert::*;
pub use pad_square::*;
pub use resample::*;

/// The most pixels an image may have (Pillow's limit), as `validate` checks it too.
pub use imagefile::MAX_IMAGE_PIXELS;

/// Reads an image file's dimensions from its header and refuses one over [`MAX_IMAGE_PIXELS`]
/// before anything is decoded; returns the width and height ([`imagefile::check_pixels`]).
pub fn check_pixels(path: impl AsRef<Path>) -> Result<(u32, u32), PretrainedError> {
    Ok(imagefile::check_pixels(path)?)
}

/// Decodes an image file (PNG, JPEG, WebP), with errors naming the file: JPEG as Pillow does
/// (libjpeg-turbo), the others by the `image` crate ([`imagefile::decode`], which `validate`
/// uses too, so that the two never disagree about a file).
///
/// # Errors
///
/// When the file cannot be read or decoded, a JPEG whose data ends early included.
pub fn load_image(path: impl AsRef<Path>) -> Result<DynamicImage, PretrainedError> {
    Ok(imagefile::decode(path)?)
}
