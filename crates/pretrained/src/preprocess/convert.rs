//! The steps between a decoded image and a tensor: Pillow's and transformers' RGB conversions,
//! the shortest-edge size, the centre crop with its offset rule, and the CHW rescale and
//! normalisation.

use super::*;

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
pub(super) fn to_rgba_high_byte(image: &DynamicImage) -> RgbaImage {
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
