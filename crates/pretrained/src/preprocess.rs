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

/// Pillow's resampling filters that go through `ImagingResample` (PIL's `Resampling` codes in
/// parentheses). `NEAREST` (0) takes another code path in Pillow and is not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PilFilter {
    /// Lanczos, a = 3 (1).
    Lanczos,
    /// Triangle (2).
    Bilinear,
    /// Keys cubic, a = -0.5 (3): what CLIP and BLIP use.
    Bicubic,
    /// Box (4).
    Box,
    /// Hamming-windowed sinc (5).
    Hamming,
}

impl PilFilter {
    /// The filter for PIL's integer code (`resample` in a `preprocessor_config.json`).
    pub fn from_pil_code(code: i64) -> Option<Self> {
        Some(match code {
            1 => Self::Lanczos,
            2 => Self::Bilinear,
            3 => Self::Bicubic,
            4 => Self::Box,
            5 => Self::Hamming,
            _ => return None,
        })
    }

    /// Half-width of the filter at scale 1.
    fn support(self) -> f64 {
        match self {
            Self::Box => 0.5,
            Self::Bilinear | Self::Hamming => 1.0,
            Self::Bicubic => 2.0,
            Self::Lanczos => 3.0,
        }
    }

    /// The filter's kernel, as `Resample.c` evaluates it (in double precision).
    fn weight(self, x: f64) -> f64 {
        match self {
            Self::Box => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Self::Bilinear => {
                let x = x.abs();
                if x < 1.0 { 1.0 - x } else { 0.0 }
            }
            Self::Hamming => {
                let x = x.abs();
                if x == 0.0 {
                    1.0
                } else if x >= 1.0 {
                    0.0
                } else {
                    let x = x * std::f64::consts::PI;
                    // Pillow writes the window's constants as float literals (`0.54f`).
                    x.sin() / x * (f64::from(0.54f32) + f64::from(0.46f32) * x.cos())
                }
            }
            Self::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Self::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * std::f64::consts::PI;
        x.sin() / x
    }
}

/// Fixed-point precision of Pillow's 8-bit resampling: 32 bits less 8 for the value and 2 for
/// the overshoot of negative lobes.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// One pass's coefficients: for each output index, the first input index, the number of taps,
/// and `ksize` fixed-point weights.
struct Coefficients {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
}

/// `precompute_coeffs` + `normalize_coeffs_8bpc` of `Resample.c` for the whole input range.
fn coefficients(in_size: usize, out_size: usize, filter: PilFilter) -> Coefficients {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let inv_filterscale = 1.0 / filterscale;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        // C's `(int)` truncates toward zero; both ends are then clamped to the image.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let taps = xmax.saturating_sub(xmin);
        let mut total = 0.0;
        for (x, w) in k.iter_mut().enumerate().take(taps) {
            *w = filter.weight(((x + xmin) as f64 - center + 0.5) * inv_filterscale);
            total += *w;
        }
        for (x, w) in k.iter().enumerate().take(taps) {
            let w = if total != 0.0 { w / total } else { *w };
            // `(int)(±0.5 + w * (1 << PRECISION_BITS))`: round half away from zero.
            let fixed = w * f64::from(1u32 << PRECISION_BITS);
            weights[xx * ksize + x] = if w < 0.0 {
                (fixed - 0.5) as i32
            } else {
                (fixed + 0.5) as i32
            };
        }
        bounds.push((xmin, taps));
    }
    Coefficients {
        ksize,
        bounds,
        weights,
    }
}

/// Pillow's `clip8`: drop the fixed-point fraction (arithmetic shift, so flooring) and clamp.
fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes interleaved 8-bit pixels (`channels` per pixel, rows of `width` pixels) exactly as
/// Pillow's `Image.resize(size, filter)` resizes an 8-bit image of that many bands (no
/// premultiplication: see [`resize`] for images with alpha).
///
/// # Errors
///
/// When `data.len()` is not `width * height * channels`.
pub fn resize_interleaved(
    data: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    new_width: usize,
    new_height: usize,
    filter: PilFilter,
) -> Result<Vec<u8>, PretrainedError> {
    if data.len() != width * height * channels {
        return Err(PretrainedError::Input {
            message: format!(
                "{} bytes are not {width} x {height} pixels of {channels} channels",
                data.len()
            ),
        });
    }
    if new_width == 0 || new_height == 0 || width == 0 || height == 0 {
        return Ok(vec![0; new_width * new_height * channels]);
    }
    let half = 1i64 << (PRECISION_BITS - 1);
    let vertical = coefficients(height, new_height, filter);
    // Rows the vertical pass reads: the horizontal pass need not produce the others.
    let first_row = vertical.bounds[0].0;
    let last_row = vertical.bounds[new_height - 1].0 + vertical.bounds[new_height - 1].1;

    let (mut current, mut current_width, row_offset) = if new_width != width {
        let horizontal = coefficients(width, new_width, filter);
        let rows = last_row - first_row;
        let mut out = vec![0u8; rows * new_width * channels];
        for y in 0..rows {
            let line = &data[(y + first_row) * width * channels..][..width * channels];
            let out_line = &mut out[y * new_width * channels..][..new_width * channels];
            for xx in 0..new_width {
                let (xmin, taps) = horizontal.bounds[xx];
                let k = &horizontal.weights[xx * horizontal.ksize..][..taps];
                for c in 0..channels {
                    let mut acc = half;
                    for (x, &w) in k.iter().enumerate() {
                        acc += i64::from(line[(xmin + x) * channels + c]) * i64::from(w);
                    }
                    out_line[xx * channels + c] = clip8(acc);
                }
            }
        }
        (out, new_width, first_row)
    } else {
        (data.to_vec(), width, 0)
    };

    if new_height != height {
        let stride = current_width * channels;
        let mut out = vec![0u8; new_height * stride];
        for yy in 0..new_height {
            let (ymin, taps) = vertical.bounds[yy];
            let ymin = ymin - row_offset;
            let k = &vertical.weights[yy * vertical.ksize..][..taps];
            let out_line = &mut out[yy * stride..][..stride];
            for (i, value) in out_line.iter_mut().enumerate() {
                let mut acc = half;
                for (y, &w) in k.iter().enumerate() {
                    acc += i64::from(current[(ymin + y) * stride + i]) * i64::from(w);
                }
                *value = clip8(acc);
            }
        }
        current = out;
        current_width = new_width;
    }
    debug_assert_eq!(current.len(), current_width * new_height * channels);
    Ok(current)
}

/// Resizes one typed 8-bit image with [`resize_interleaved`].
fn resize_buffer<P: Pixel<Subpixel = u8>>(
    image: &ImageBuffer<P, Vec<u8>>,
    width: u32,
    height: u32,
    filter: PilFilter,
) -> ImageBuffer<P, Vec<u8>> {
    let data = resize_interleaved(
        image.as_raw(),
        image.width() as usize,
        image.height() as usize,
        usize::from(P::CHANNEL_COUNT),
        width as usize,
        height as usize,
        filter,
    )
    .expect("an ImageBuffer holds width * height * channels bytes");
    ImageBuffer::from_raw(width, height, data).expect("resize_interleaved returns w*h*channels")
}

/// Pillow's premultiplication (`rgbA2rgba` in `Convert.c`): `MULDIV255(c, a)`.
fn premultiply(c: u8, alpha: u8) -> u8 {
    let t = u32::from(c) * u32::from(alpha) + 128;
    (((t >> 8) + t) >> 8) as u8
}

/// Pillow's unpremultiplication (`rgba2rgbA`): `CLIP8(255 * c / a)`, untouched at alpha 0 or
/// 255.
fn unpremultiply(c: u8, alpha: u8) -> u8 {
    if alpha == 0 || alpha == 255 {
        c
    } else {
        (255 * u32::from(c) / u32::from(alpha)).min(255) as u8
    }
}

/// Applies `f` to the colour channels of interleaved pixels whose last channel is alpha.
fn map_colour(data: &mut [u8], channels: usize, f: fn(u8, u8) -> u8) {
    for pixel in data.chunks_exact_mut(channels) {
        let (colour, alpha) = pixel.split_at_mut(channels - 1);
        for c in colour {
            *c = f(*c, alpha[0]);
        }
    }
}

/// Pillow's `Image.resize((width, height), filter)` on an image in its own mode: L, LA, RGB and
/// RGBA at 8 bits; LA and RGBA are premultiplied by alpha before and divided after, as Pillow
/// does (`RGBA` -> `RGBa` -> resize -> `RGBA`). Other modes are first brought to 8 bits as
/// [`to_rgb`] does (16-bit channels keep their high byte, like Pillow's 16-bit PNG decoding),
/// keeping alpha when there is one.
pub fn resize(image: &DynamicImage, width: u32, height: u32, filter: PilFilter) -> DynamicImage {
    if image.width() == width && image.height() == height {
        return image.clone();
    }
    match image {
        DynamicImage::ImageLuma8(gray) => {
            DynamicImage::ImageLuma8(resize_buffer(gray, width, height, filter))
        }
        DynamicImage::ImageRgb8(rgb) => {
            DynamicImage::ImageRgb8(resize_buffer(rgb, width, height, filter))
        }
        DynamicImage::ImageLumaA8(gray) => {
            let mut pre: GrayAlphaImage = gray.clone();
            map_colour(&mut pre, 2, premultiply);
            let mut out = resize_buffer(&pre, width, height, filter);
            map_colour(&mut out, 2, unpremultiply);
            DynamicImage::ImageLumaA8(out)
        }
        DynamicImage::ImageRgba8(rgba) => {
            let mut pre: RgbaImage = rgba.clone();
            map_colour(&mut pre, 4, premultiply);
            let mut out = resize_buffer(&pre, width, height, filter);
            map_colour(&mut out, 4, unpremultiply);
            DynamicImage::ImageRgba8(out)
        }
        other if other.color().has_alpha() => resize(
            &DynamicImage::ImageRgba8(to_rgba_high_byte(other)),
            width,
            height,
            filter,
        ),
        other => DynamicImage::ImageRgb8(resize_buffer(&to_rgb(other), width, height, filter)),
    }
}

/// Pillow's `convert("RGB")`: grey is replicated, alpha is dropped (not composited). 16-bit
/// channels keep their high byte, as Pillow reads 16-bit PNGs; float channels are scaled by 255
/// and rounded.
pub fn to_rgb(image: &DynamicImage) -> RgbImage {
    match image {
        DynamicImage::ImageRgb8(rgb) => rgb.clone(),
        DynamicImage::ImageLuma8(gray) => gray_to_rgb(gray),
        DynamicImage::ImageLumaA8(gray) => {
            let luma: GrayImage = ImageBuffer::from_fn(gray.width(), gray.height(), |x, y| {
                image::Luma([gray.get_pixel(x, y)[0]])
            });
            gray_to_rgb(&luma)
        }
        DynamicImage::ImageRgba8(rgba) => {
            ImageBuffer::from_fn(rgba.width(), rgba.height(), |x, y| {
                let p = rgba.get_pixel(x, y);
                image::Rgb([p[0], p[1], p[2]])
            })
        }
        other => {
            let rgba = to_rgba_high_byte(other);
            ImageBuffer::from_fn(rgba.width(), rgba.height(), |x, y| {
                let p = rgba.get_pixel(x, y);
                image::Rgb([p[0], p[1], p[2]])
            })
        }
    }
}

/// transformers' `convert_to_rgb` (5.x): an image with alpha is composited onto opaque white
/// with Pillow's `Image.alpha_composite`, then its alpha dropped; others as [`to_rgb`].
/// (transformers 4.x dropped alpha without compositing, which is [`to_rgb`].)
pub fn to_rgb_over_white(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return to_rgb(image);
    }
    let rgba = match image {
        DynamicImage::ImageRgba8(rgba) => rgba.clone(),
        DynamicImage::ImageLumaA8(gray) => {
            ImageBuffer::from_fn(gray.width(), gray.height(), |x, y| {
                let p = gray.get_pixel(x, y);
                image::Rgba([p[0], p[0], p[0], p[1]])
            })
        }
        other => to_rgba_high_byte(other),
    };
    ImageBuffer::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y);
        let [r, g, b] = alpha_composite([255, 255, 255, 255], p.0);
        image::Rgb([r, g, b])
    })
}

/// Pillow's `ImagingAlphaComposite` for one pixel: `src` over `dst`, in its integer arithmetic
/// (7 extra bits of precision, divisions by 255 done with shifts); returns the colour.
fn alpha_composite(dst: [u8; 4], src: [u8; 4]) -> [u8; 3] {
    const BITS: u32 = 7;
    let div255 = |a: u32| ((a >> 8) + a) >> 8;
    if src[3] == 0 {
        return [dst[0], dst[1], dst[2]];
    }
    let (sa, da) = (u32::from(src[3]), u32::from(dst[3]));
    let blend = da * (255 - sa);
    let outa255 = sa * 255 + blend;
    let coef1 = sa * 255 * 255 * (1 << BITS) / outa255;
    let coef2 = 255 * (1 << BITS) - coef1;
    let channel = |c: usize| {
        let t = u32::from(src[c]) * coef1 + u32::from(dst[c]) * coef2;
        (div255(t + (0x80 << BITS)) >> BITS) as u8
    };
    [channel(0), channel(1), channel(2)]
}

fn gray_to_rgb(gray: &GrayImage) -> RgbImage {
    ImageBuffer::from_fn(gray.width(), gray.height(), |x, y| {
        let v = gray.get_pixel(x, y)[0];
        image::Rgb([v, v, v])
    })
}

/// Any image as 8-bit RGBA, taking the high byte of 16-bit channels (the image crate would
/// round instead).
fn to_rgba_high_byte(image: &DynamicImage) -> RgbaImage {
    match image {
        DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_)
        | DynamicImage::ImageRgb16(_)
        | DynamicImage::ImageRgba16(_) => {
            let wide = image.to_rgba16();
            ImageBuffer::from_fn(wide.width(), wide.height(), |x, y| {
                let p = wide.get_pixel(x, y);
                image::Rgba(p.0.map(|v| (v >> 8) as u8))
            })
        }
        other => other.to_rgba8(),
    }
}

/// The size (width, height) that resizes the shorter side to `size` and keeps the aspect
/// ratio, as transformers' `get_resize_output_image_size(default_to_square=False)` computes
/// it: the longer side is `int(size * long / short)` (Python float division, truncated).
/// torchvision's `Resize(size)` gives the same: `int(size * long / short)`.
pub fn shortest_edge_size(width: u32, height: u32, size: u32) -> (u32, u32) {
    let (short, long) = if width <= height {
        (width, height)
    } else {
        (height, width)
    };
    if short == 0 {
        return (width, height);
    }
    let new_long = (f64::from(size) * f64::from(long) / f64::from(short)) as u32;
    if width <= height {
        (size, new_long)
    } else {
        (new_long, size)
    }
}

/// How a centre crop places its window; the two references round differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CropOffset {
    /// transformers' `center_crop`: `(size - crop) // 2` (floor); a crop larger than the image
    /// pads it with zeros, `ceil((crop - size) / 2)` before.
    Transformers,
    /// torchvision's `CenterCrop` (BLIP, ImageReward): `int(round((size - crop) / 2))`, round
    /// half to even; a crop larger than the image pads it with zeros, `(crop - size) // 2`
    /// before.
    Torchvision,
}

impl CropOffset {
    /// Where the crop window starts along one side: negative when the crop is larger than the
    /// image (the image then starts `-offset` pixels into the window).
    pub fn offset(self, size: u32, crop: u32) -> i64 {
        let d = i64::from(size) - i64::from(crop);
        match self {
            // Floor division; for d < 0 that is -ceil(-d / 2), transformers' padding.
            Self::Transformers => d.div_euclid(2),
            Self::Torchvision => {
                if d < 0 {
                    -((-d) / 2)
                } else if d % 4 == 1 {
                    // d / 2 = k + 0.5 with k even: round half to even goes down.
                    d / 2
                } else {
                    // d % 4 == 3 rounds up to the even k + 1; even d are exact.
                    (d + 1) / 2
                }
            }
        }
    }
}

/// Cuts a `crop_width x crop_height` window out of `image`, centred by `rule`; pixels outside
/// the image are 0. Returns the window and its (left, top) offsets in the image.
pub fn center_crop(
    image: &RgbImage,
    crop_width: u32,
    crop_height: u32,
    rule: CropOffset,
) -> (RgbImage, (i64, i64)) {
    let left = rule.offset(image.width(), crop_width);
    let top = rule.offset(image.height(), crop_height);
    let out = ImageBuffer::from_fn(crop_width, crop_height, |x, y| {
        let (sx, sy) = (i64::from(x) + left, i64::from(y) + top);
        if sx >= 0 && sy >= 0 && sx < i64::from(image.width()) && sy < i64::from(image.height()) {
            *image.get_pixel(sx as u32, sy as u32)
        } else {
            image::Rgb([0, 0, 0])
        }
    });
    (out, (left, top))
}

/// How 8-bit values become floats before normalisation; the references differ in the last bit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rescale {
    /// transformers' `rescale`: `float32(float64(v) * factor)` (`rescale_factor`, 1/255).
    Multiply(f64),
    /// torchvision's `ToTensor`: `float32(v) / 255` in single precision.
    DivideBy255,
}

/// RGB pixels as a normalised channel-first `[3, H, W]` vector: `(rescale(v) - mean) / std` in
/// single precision, as both transformers' `normalize` and torchvision's `Normalize` compute it.
pub fn to_chw(image: &RgbImage, rescale: Rescale, mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut out = vec![0f32; 3 * w * h];
    for (x, y, pixel) in image.enumerate_pixels() {
        for c in 0..3 {
            let v = pixel[c];
            let scaled = match rescale {
                Rescale::Multiply(factor) => (f64::from(v) * factor) as f32,
                Rescale::DivideBy255 => f32::from(v) / 255.0,
            };
            out[c * w * h + y as usize * w + x as usize] = (scaled - mean[c]) / std[c];
        }
    }
    out
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

/// The resize step of a [`ClipImageProcessor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeTo {
    /// Shorter side to this many pixels, aspect ratio kept (`{"shortest_edge": n}`, or a bare
    /// integer `size` in older configs).
    ShortestEdge(u32),
    /// Exactly this size (`{"height": h, "width": w}`).
    Exact {
        /// Output width.
        width: u32,
        /// Output height.
        height: u32,
    },
}

/// transformers' `CLIPImageProcessor`, configured from a `preprocessor_config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipImageProcessor {
    /// Convert to RGB first (`do_convert_rgb`), compositing alpha onto white.
    pub do_convert_rgb: bool,
    /// Resize (`do_resize`, `size`).
    pub resize: Option<ResizeTo>,
    /// Resampling filter (`resample`, a PIL code).
    pub resample: PilFilter,
    /// Centre crop to (width, height) (`do_center_crop`, `crop_size`).
    pub center_crop: Option<(u32, u32)>,
    /// Rescale factor (`do_rescale`, `rescale_factor`).
    pub rescale_factor: Option<f64>,
    /// Mean and std (`do_normalize`, `image_mean`, `image_std`).
    pub normalize: Option<([f32; 3], [f32; 3])>,
}

impl Default for ClipImageProcessor {
    /// transformers' defaults, which are OpenAI's: shortest edge 224, bicubic, crop 224,
    /// 1/255, OpenAI's mean and std.
    fn default() -> Self {
        Self {
            do_convert_rgb: true,
            resize: Some(ResizeTo::ShortestEdge(224)),
            resample: PilFilter::Bicubic,
            center_crop: Some((224, 224)),
            rescale_factor: Some(1.0 / 255.0),
            normalize: Some((OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)),
        }
    }
}

/// The raw `preprocessor_config.json` fields this processor reads (transformers' defaults when
/// absent).
#[derive(Deserialize)]
struct RawProcessorConfig {
    #[serde(default = "yes")]
    do_convert_rgb: bool,
    #[serde(default = "yes")]
    do_resize: bool,
    size: Option<Value>,
    #[serde(default = "bicubic_code")]
    resample: i64,
    #[serde(default = "yes")]
    do_center_crop: bool,
    crop_size: Option<Value>,
    #[serde(default = "yes")]
    do_rescale: bool,
    #[serde(default = "one_over_255")]
    rescale_factor: f64,
    #[serde(default = "yes")]
    do_normalize: bool,
    image_mean: Option<Vec<f32>>,
    image_std: Option<Vec<f32>>,
}

fn yes() -> bool {
    true
}
fn bicubic_code() -> i64 {
    3
}
fn one_over_255() -> f64 {
    1.0 / 255.0
}

/// What [`ClipImageProcessor::prepare`] did to one image.
#[derive(Debug, Clone)]
pub struct PreparedImage {
    /// Size (width, height) after the resize.
    pub resized_size: (u32, u32),
    /// (left, top) of the crop window in the resized image.
    pub crop_offsets: (i64, i64),
    /// The RGB pixels that are normalised.
    pub pixels: RgbImage,
    /// Normalised values `[3, H, W]`, channel-first.
    pub pixel_values: Vec<f32>,
}

impl ClipImageProcessor {
    /// Parses a `preprocessor_config.json` text; `path` only names the file in errors.
    ///
    /// `size` may be `{"shortest_edge": n}`, `{"height": h, "width": w}` or a bare integer
    /// (shortest edge); `crop_size` `{"height": h, "width": w}` or an integer (square), as
    /// transformers' `get_size_dict` reads them.
    ///
    /// # Errors
    ///
    /// When the JSON does not parse or a field has a value transformers would refuse.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, PretrainedError> {
        let error = |message: String| PretrainedError::Config {
            path: path.to_path_buf(),
            message,
        };
        let raw: RawProcessorConfig =
            serde_json::from_str(text).map_err(|e| error(e.to_string()))?;
        let resample = PilFilter::from_pil_code(raw.resample).ok_or_else(|| {
            error(format!(
                "resample {} is not a Pillow filter this crate implements (1-5)",
                raw.resample
            ))
        })?;
        let resize = if raw.do_resize {
            Some(match raw.size {
                None => ResizeTo::ShortestEdge(224),
                Some(value) => {
                    parse_size(&value, false).map_err(|m| error(format!("size: {m}")))?
                }
            })
        } else {
            None
        };
        let center_crop = if raw.do_center_crop {
            Some(match raw.crop_size {
                None => (224, 224),
                Some(value) => {
                    match parse_size(&value, true).map_err(|m| error(format!("crop_size: {m}")))? {
                        ResizeTo::Exact { width, height } => (width, height),
                        ResizeTo::ShortestEdge(_) => {
                            return Err(error("crop_size needs a height and a width".into()));
                        }
                    }
                }
            })
        } else {
            None
        };
        let three = |name: &str, values: Option<Vec<f32>>, default: [f32; 3]| match values {
            None => Ok(default),
            Some(v) => <[f32; 3]>::try_from(v.as_slice())
                .map_err(|_| error(format!("{name} must have 3 values, has {}", v.len()))),
        };
        let normalize = if raw.do_normalize {
            let mean = three("image_mean", raw.image_mean, OPENAI_CLIP_MEAN)?;
            let std = three("image_std", raw.image_std, OPENAI_CLIP_STD)?;
            if std.contains(&0.0) {
                return Err(error("image_std has a zero".into()));
            }
            Some((mean, std))
        } else {
            None
        };
        Ok(Self {
            do_convert_rgb: raw.do_convert_rgb,
            resize,
            resample,
            center_crop,
            rescale_factor: raw.do_rescale.then_some(raw.rescale_factor),
            normalize,
        })
    }

    /// Reads a `preprocessor_config.json`.
    ///
    /// # Errors
    ///
    /// As for [`Self::from_json_str`], and when the file cannot be read.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, PretrainedError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PretrainedError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text, path)
    }

    /// Runs the pipeline on one image: convert to RGB, resize, centre crop, rescale, normalise.
    ///
    /// Without `do_convert_rgb` the image is still brought to RGB (the model takes three
    /// channels), after the resize instead of before: for RGBA input that is the
    /// premultiplied resize Pillow would do on the image in its own mode.
    pub fn prepare(&self, image: &DynamicImage) -> PreparedImage {
        let image = if self.do_convert_rgb {
            DynamicImage::ImageRgb8(to_rgb_over_white(image))
        } else {
            image.clone()
        };
        let image = match self.resize {
            None => image,
            Some(ResizeTo::ShortestEdge(size)) => {
                let (w, h) = shortest_edge_size(image.width(), image.height(), size);
                resize(&image, w, h, self.resample)
            }
            Some(ResizeTo::Exact { width, height }) => resize(&image, width, height, self.resample),
        };
        let resized_size = (image.width(), image.height());
        let rgb = to_rgb(&image);
        let (pixels, crop_offsets) = match self.center_crop {
            Some((w, h)) => center_crop(&rgb, w, h, CropOffset::Transformers),
            None => (rgb, (0, 0)),
        };
        let rescale = Rescale::Multiply(self.rescale_factor.unwrap_or(1.0));
        let (mean, std) = self.normalize.unwrap_or(([0.0; 3], [1.0; 3]));
        let pixel_values = to_chw(&pixels, rescale, mean, std);
        PreparedImage {
            resized_size,
            crop_offsets,
            pixels,
            pixel_values,
        }
    }

    /// The pipeline on a batch of images: `pixel_values [B, 3, H, W]`.
    ///
    /// # Errors
    ///
    /// When the batch is empty, or the images come out in different sizes (possible only
    /// without a centre crop).
    pub fn preprocess(
        &self,
        images: &[DynamicImage],
        device: &Device,
    ) -> Result<Tensor<4>, PretrainedError> {
        let prepared: Vec<PreparedImage> = images.iter().map(|image| self.prepare(image)).collect();
        stack_prepared(&prepared, device)
    }

    /// Decodes image files and runs the pipeline on them: `pixel_values [B, 3, H, W]`.
    ///
    /// # Errors
    ///
    /// When a file cannot be read or decoded (the error names it), and as for
    /// [`Self::preprocess`].
    pub fn preprocess_files<P: AsRef<Path>>(
        &self,
        paths: &[P],
        device: &Device,
    ) -> Result<Tensor<4>, PretrainedError> {
        let images = paths
            .iter()
            .map(load_image)
            .collect::<Result<Vec<_>, _>>()?;
        self.preprocess(&images, device)
    }
}

/// Stacks prepared images into `[B, 3, H, W]`.
///
/// # Errors
///
/// When there are none or their sizes differ.
pub fn stack_prepared(
    prepared: &[PreparedImage],
    device: &Device,
) -> Result<Tensor<4>, PretrainedError> {
    let Some(first) = prepared.first() else {
        return Err(PretrainedError::Input {
            message: "no images to preprocess".into(),
        });
    };
    let (w, h) = first.pixels.dimensions();
    if let Some(other) = prepared.iter().find(|p| p.pixels.dimensions() != (w, h)) {
        return Err(PretrainedError::Input {
            message: format!(
                "images come out as {w}x{h} and {}x{}: a batch needs one size (use a centre crop)",
                other.pixels.width(),
                other.pixels.height()
            ),
        });
    }
    let values: Vec<f32> = prepared
        .iter()
        .flat_map(|p| p.pixel_values.iter().copied())
        .collect();
    Ok(Tensor::from_data(
        TensorData::new(values, [prepared.len(), 3, h as usize, w as usize]),
        device,
    ))
}

/// Reads a `size`/`crop_size` value the way transformers' `get_size_dict` does.
fn parse_size(value: &Value, default_to_square: bool) -> Result<ResizeTo, String> {
    let int = |v: &Value| {
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{v} is not a positive integer"))
    };
    match value {
        Value::Number(_) => {
            let n = int(value)?;
            Ok(if default_to_square {
                ResizeTo::Exact {
                    width: n,
                    height: n,
                }
            } else {
                ResizeTo::ShortestEdge(n)
            })
        }
        Value::Object(map) => {
            if let Some(edge) = map.get("shortest_edge") {
                Ok(ResizeTo::ShortestEdge(int(edge)?))
            } else if let (Some(h), Some(w)) = (map.get("height"), map.get("width")) {
                Ok(ResizeTo::Exact {
                    width: int(w)?,
                    height: int(h)?,
                })
            } else {
                Err(format!(
                    "{value} has neither shortest_edge nor height and width"
                ))
            }
        }
        other => Err(format!("{other} is neither an integer nor an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_edge_truncates_like_python_int() {
        assert_eq!(shortest_edge_size(512, 512, 224), (224, 224));
        // 224 * 640 / 427 = 335.74... -> 335
        assert_eq!(shortest_edge_size(640, 427, 224), (335, 224));
        assert_eq!(shortest_edge_size(427, 640, 224), (224, 335));
        // 224 * 300 / 200 = 336 exactly.
        assert_eq!(shortest_edge_size(200, 300, 224), (224, 336));
    }

    #[test]
    fn crop_offsets_follow_each_reference() {
        use CropOffset::*;
        assert_eq!(Transformers.offset(335, 224), 55); // 111 // 2
        assert_eq!(Torchvision.offset(335, 224), 56); // round(55.5) = 56 (even)
        assert_eq!(Torchvision.offset(333, 224), 54); // round(54.5) = 54 (even)
        assert_eq!(Transformers.offset(333, 224), 54);
        assert_eq!(Torchvision.offset(226, 224), 1);
        assert_eq!(Torchvision.offset(225, 224), 0); // round(0.5) = 0
        assert_eq!(Torchvision.offset(227, 224), 2); // round(1.5) = 2
        // Crops larger than the image: transformers pads ceil(d/2) before, torchvision d // 2.
        assert_eq!(Transformers.offset(221, 224), -2);
        assert_eq!(Torchvision.offset(221, 224), -1);
    }

    #[test]
    fn padded_crop_fills_zeros() {
        let image = RgbImage::from_pixel(2, 2, image::Rgb([9, 9, 9]));
        let (out, (left, top)) = center_crop(&image, 3, 3, CropOffset::Transformers);
        assert_eq!((left, top), (-1, -1));
        assert_eq!(out.get_pixel(0, 0)[0], 0);
        assert_eq!(out.get_pixel(1, 1)[0], 9);
        assert_eq!(out.get_pixel(2, 2)[0], 9);
    }

    #[test]
    fn identity_and_flat_images_survive_resizing() {
        let flat = RgbImage::from_pixel(37, 23, image::Rgb([200, 17, 99]));
        for (w, h) in [(11, 7), (80, 50), (37, 9), (5, 23)] {
            let out = resize(
                &DynamicImage::ImageRgb8(flat.clone()),
                w,
                h,
                PilFilter::Bicubic,
            );
            assert_eq!((out.width(), out.height()), (w, h));
            assert!(
                out.to_rgb8().pixels().all(|p| p.0 == [200, 17, 99]),
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn one_dimensional_resize_matches_a_hand_computation() {
        // 4 -> 2 pixels, bicubic: scale 2, support 4, each output sees all 4 inputs with
        // weights cubic((x - center + 0.5) / 2), normalised.
        let data = [0u8, 100, 200, 255];
        let out = resize_interleaved(&data, 4, 1, 1, 2, 1, PilFilter::Bicubic).unwrap();
        assert!(resize_interleaved(&data, 3, 1, 1, 2, 1, PilFilter::Bicubic).is_err());
        let expect = |center: f64| {
            let w: Vec<f64> = (0..4)
                .map(|x| PilFilter::Bicubic.weight((x as f64 - center + 0.5) / 2.0))
                .collect();
            let total: f64 = w.iter().sum();
            let v: f64 = w
                .iter()
                .zip(data)
                .map(|(w, d)| w / total * f64::from(d))
                .sum();
            v.round().clamp(0.0, 255.0) as u8
        };
        let want = [expect(1.0), expect(3.0)];
        for (o, w) in out.iter().zip(want) {
            assert!(o.abs_diff(w) <= 1, "{out:?} vs {want:?}");
        }
        // Height unchanged: the vertical pass is skipped, so one row stays one row.
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn rgba_is_premultiplied_around_the_resize() {
        // A transparent red half next to an opaque blue half: premultiplied resizing keeps red
        // from bleeding into the blue.
        let image = RgbaImage::from_fn(8, 2, |x, _| {
            if x < 4 {
                image::Rgba([255, 0, 0, 0])
            } else {
                image::Rgba([0, 0, 255, 255])
            }
        });
        let out = resize(&DynamicImage::ImageRgba8(image), 4, 1, PilFilter::Bicubic).to_rgba8();
        let edge = out.get_pixel(2, 0);
        assert_eq!(edge[0], 0, "{edge:?}");
        assert_eq!(premultiply(255, 128), 128);
        assert_eq!(unpremultiply(128, 128), 255);
    }

    #[test]
    fn processor_config_reads_both_size_forms() {
        let path = Path::new("preprocessor_config.json");
        let new = ClipImageProcessor::from_json_str(
            r#"{"size": {"shortest_edge": 30}, "crop_size": {"height": 30, "width": 28},
                "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 3}"#,
            path,
        )
        .unwrap();
        assert_eq!(new.resize, Some(ResizeTo::ShortestEdge(30)));
        assert_eq!(new.center_crop, Some((28, 30)));
        let old =
            ClipImageProcessor::from_json_str(r#"{"size": 224, "crop_size": 224}"#, path).unwrap();
        assert_eq!(old, ClipImageProcessor::default());
        for bad in [
            r#"{"resample": 0}"#,
            r#"{"image_mean": [1, 2]}"#,
            r#"{"size": "big"}"#,
        ] {
            let err = ClipImageProcessor::from_json_str(bad, path).unwrap_err();
            assert!(
                err.to_string().contains("preprocessor_config.json"),
                "{err}"
            );
        }
    }

    #[test]
    fn processor_output_is_normalised_chw() {
        let image = RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8 * 8, 128]));
        let processor = ClipImageProcessor {
            resize: Some(ResizeTo::ShortestEdge(20)),
            center_crop: Some((20, 20)),
            ..ClipImageProcessor::default()
        };
        let prepared = processor.prepare(&DynamicImage::ImageRgb8(image));
        assert_eq!(prepared.resized_size, (26, 20));
        assert_eq!(prepared.crop_offsets, (3, 0));
        let p = prepared.pixels.get_pixel(0, 0);
        let want = ((f64::from(p[2]) / 255.0) as f32 - OPENAI_CLIP_MEAN[2]) / OPENAI_CLIP_STD[2];
        assert_eq!(prepared.pixel_values[2 * 400], want);
        let batch = stack_prepared(&[prepared.clone(), prepared], &Device::default()).unwrap();
        assert_eq!(batch.dims(), [2, 3, 20, 20]);
        assert!(stack_prepared(&[], &Device::default()).is_err());
    }

    #[test]
    fn unreadable_images_name_the_file() {
        let dir =
            std::env::temp_dir().join(format!("pretrained-preprocess-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("not-an-image.png");
        std::fs::write(&bad, b"definitely not a png").unwrap();
        let err = load_image(&bad).unwrap_err().to_string();
        assert!(err.contains("not-an-image.png"), "{err}");
        let err = load_image(dir.join("absent.png")).unwrap_err().to_string();
        assert!(err.contains("absent.png"), "{err}");
    }

    #[test]
    fn jpeg_files_decode_in_their_mode_and_refuse_truncation() {
        let dir = std::env::temp_dir().join(format!("pretrained-jpeg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rgb = RgbImage::from_fn(40, 24, |x, y| {
            image::Rgb([(x * 6) as u8, (y * 10) as u8, ((x + y) * 3) as u8])
        });
        let gray = DynamicImage::ImageRgb8(rgb.clone()).to_luma8();
        let encode = |image: &DynamicImage| {
            let mut bytes = Vec::new();
            image
                .write_to(
                    &mut std::io::Cursor::new(&mut bytes),
                    image::ImageFormat::Jpeg,
                )
                .unwrap();
            bytes
        };
        let color = encode(&DynamicImage::ImageRgb8(rgb));
        let luma = encode(&DynamicImage::ImageLuma8(gray));
        // The content tells the format, whatever the extension says.
        std::fs::write(dir.join("color.png"), &color).unwrap();
        std::fs::write(dir.join("gray.jpg"), &luma).unwrap();
        let decoded = load_image(dir.join("color.png")).unwrap();
        assert!(matches!(decoded, DynamicImage::ImageRgb8(_)));
        assert_eq!((decoded.width(), decoded.height()), (40, 24));
        let decoded = load_image(dir.join("gray.jpg")).unwrap();
        assert!(matches!(decoded, DynamicImage::ImageLuma8(_)));
        // Another decoder of the same file agrees within a few levels.
        let other = image::load_from_memory(&luma).unwrap().to_luma8();
        for (a, b) in decoded.to_luma8().pixels().zip(other.pixels()) {
            assert!(a[0].abs_diff(b[0]) <= 3, "{a:?} vs {b:?}");
        }

        // Cut short (Pillow: "image file is truncated"), or garbage after the start marker:
        // typed errors naming the file, no panic.
        std::fs::write(dir.join("cut.jpg"), &color[..color.len() / 2]).unwrap();
        let mut garbage = color[..4].to_vec();
        garbage.extend([0x55; 64]);
        std::fs::write(dir.join("garbage.jpg"), &garbage).unwrap();
        std::fs::write(dir.join("header.jpg"), &color[..20]).unwrap();
        for name in ["cut.jpg", "garbage.jpg", "header.jpg"] {
            let err = load_image(dir.join(name)).unwrap_err();
            assert!(
                matches!(err, PretrainedError::Image { .. }),
                "{name}: {err}"
            );
            let err = err.to_string();
            assert!(err.contains(name), "{err}");
            eprintln!("{err}");
        }
        // Only the end marker missing: the entropy decoder reads on, looking for it, before the
        // last row is out, and Pillow refuses such a file too.
        let end = color.len() - 2;
        assert_eq!(color[end..], [0xFF, 0xD9]);
        std::fs::write(dir.join("no-eoi.jpg"), &color[..end]).unwrap();
        let err = load_image(dir.join("no-eoi.jpg")).unwrap_err().to_string();
        assert!(
            err.contains("no-eoi.jpg") && err.contains("truncated"),
            "{err}"
        );
    }
}
