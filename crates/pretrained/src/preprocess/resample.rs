//! Pillow's `Image.resize` (`libImaging/Resample.c`), byte for byte: the filters, the
//! fixed-point coefficients, the two separable passes, alpha premultiplied around them.

use super::*;

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
    pub(super) fn weight(self, x: f64) -> f64 {
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
pub(super) fn premultiply(c: u8, alpha: u8) -> u8 {
    let t = u32::from(c) * u32::from(alpha) + 128;
    (((t >> 8) + t) >> 8) as u8
}

/// Pillow's unpremultiplication (`rgba2rgbA`): `CLIP8(255 * c / a)`, untouched at alpha 0 or
/// 255.
pub(super) fn unpremultiply(c: u8, alpha: u8) -> u8 {
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
