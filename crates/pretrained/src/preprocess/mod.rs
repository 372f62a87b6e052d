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
//! One job per file: [`resample`] (Pillow's resize), [`convert`] (colour conversion, crop,
//! tensor layout), [`clip`] (the CLIP processor and its config); decoding ([`load_image`]) here.

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
pub mod resample;
#[cfg(test)]
mod tests;

pub use clip::*;
pub use convert::*;
pub use resample::*;

/// The most pixels an image may have: Pillow's limit (`Image.MAX_IMAGE_PIXELS` twice, where it
/// raises `DecompressionBombError`), so that rewardlab refuses what the reference code refuses.
/// A few kilobytes of PNG or JPEG can declare 30,000 x 30,000 pixels and gigabytes of memory.
pub const MAX_IMAGE_PIXELS: u64 = 2 * 89_478_485;

/// Reads an image file's dimensions from its header and refuses one over [`MAX_IMAGE_PIXELS`]
/// before anything is decoded; returns the width and height.
pub fn check_pixels(path: impl AsRef<Path>) -> Result<(u32, u32), PretrainedError> {
    let path = path.as_ref();
    let image_error = |message: String| PretrainedError::Image {
        path: path.to_path_buf(),
        message,
    };
    let (w, h) = image::ImageReader::open(path)
        .map_err(|source| PretrainedError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .with_guessed_format()
        .map_err(|e| image_error(e.to_string()))?
        .into_dimensions()
        .map_err(|e| image_error(e.to_string()))?;
    let pixels = u64::from(w) * u64::from(h);
    if pixels > MAX_IMAGE_PIXELS {
        return Err(image_error(format!(
            "{w} x {h} = {pixels} pixels, over the limit of {MAX_IMAGE_PIXELS} (Pillow's); \
             refused before decoding (a decompression bomb, or not an image to score)"
        )));
    }
    Ok((w, h))
}

/// Decodes an image file (PNG, JPEG, WebP), with errors naming the file.
///
/// The format is told by the file's first bytes (its extension when they say nothing). JPEG
/// files are decoded by libjpeg-turbo's decoder with Pillow's settings, grayscale ones as L
/// (CMYK ones, which Pillow keeps as CMYK, by the `image` crate); the other formats by the
/// `image` crate, whose PNG and WebP pixels are Pillow's. No EXIF rotation, as `Image.open`.
///
/// # Errors
///
/// When the file cannot be read or decoded, a JPEG whose data ends early included.
pub fn load_image(path: impl AsRef<Path>) -> Result<DynamicImage, PretrainedError> {
    let path = path.as_ref();
    let io_error = |source| PretrainedError::Io {
        path: path.to_path_buf(),
        source,
    };
    let image_error = |message| PretrainedError::Image {
        path: path.to_path_buf(),
        message,
    };
    check_pixels(path)?;
    let reader = image::ImageReader::open(path).map_err(io_error)?;
    let reader = reader.with_guessed_format().map_err(io_error)?;
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut reader.into_inner(), &mut bytes).map_err(io_error)?;
        if let Some(image) = crate::jpeg::decode(&bytes).map_err(image_error)? {
            return Ok(image);
        }
        return image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
            .map_err(|e| image_error(e.to_string()));
    }
    reader.decode().map_err(|e| image_error(e.to_string()))
}
