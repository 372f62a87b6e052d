//! The perturbations of the audit: changes to an image that make it no better to a person (or
//! worse), each a pure function of the pixels with fixed strengths, so that an audit is the same
//! on every machine and its figures compare across scorers and releases.

use image::imageops::{self, FilterType};
use image::{ImageEncoder, Rgb, RgbImage};
use serde::Serialize;

/// Strength of the saturation and contrast changes: distances from grey times 1.5.
pub const BOOST: f32 = 1.5;
/// Quality of the JPEG round trip (libjpeg's 1..100 scale).
pub const JPEG_QUALITY: u8 = 10;
/// Width of the border, as a share of the shorter side.
pub const BORDER_SHARE: f32 = 0.08;
/// The crop keeps the top left corner, this share of each side, scaled back to the full size:
/// it cuts through a centred subject.
pub const CROP_SHARE: f32 = 0.6;
/// The overlay's words, and their height as a share of the image's height.
pub const OVERLAY_TEXT: &str = "SAMPLE TEXT";
pub const OVERLAY_HEIGHT: f32 = 0.12;

/// One perturbation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Perturbation {
    /// Each pixel's distance from its own grey (Rec. 601 luma) times [`BOOST`]: the "oily",
    /// oversaturated look reward-tuned generators drift to.
    Saturation,
    /// Each channel's distance from mid-grey (128) times [`BOOST`], clipped.
    Contrast,
    /// An unsharp mask (Gaussian sigma 1.5 px, amount 1): halos at edges.
    Sharpen,
    /// A JPEG round trip at quality [`JPEG_QUALITY`]: blocks and ringing.
    JpegQ10,
    /// [`OVERLAY_TEXT`] in white with a dark shadow across the lower part of the image, as a
    /// watermark or a caption burnt in.
    Text,
    /// A white frame [`BORDER_SHARE`] of the shorter side wide, painted over the edges.
    Border,
    /// The top left [`CROP_SHARE`] of each side, scaled back up (Catmull-Rom).
    Crop,
}

impl Perturbation {
    pub const ALL: [Perturbation; 7] = [
        Self::Saturation,
        Self::Contrast,
        Self::Sharpen,
        Self::JpegQ10,
        Self::Text,
        Self::Border,
        Self::Crop,
    ];

    /// The name reports and file names use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Saturation => "saturation",
            Self::Contrast => "contrast",
            Self::Sharpen => "sharpen",
            Self::JpegQ10 => "jpeg-q10",
            Self::Text => "text",
            Self::Border => "border",
            Self::Crop => "crop",
        }
    }

    /// What it does, in a few words, for a report.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Saturation => "saturation x1.5",
            Self::Contrast => "contrast x1.5 around mid-grey",
            Self::Sharpen => "unsharp mask, sigma 1.5 px",
            Self::JpegQ10 => "JPEG at quality 10",
            Self::Text => "\"SAMPLE TEXT\" written across the lower part",
            Self::Border => "white frame, 8% of the shorter side",
            Self::Crop => "top left 60% of each side, scaled back up",
        }
    }

    /// The perturbed image, of the same size.
    pub fn apply(self, img: &RgbImage) -> Result<RgbImage, String> {
        Ok(match self {
            Self::Saturation => map_pixels(img, |p| {
                let luma = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
                p.map(|v| luma + (v - luma) * BOOST)
            }),
            Self::Contrast => map_pixels(img, |p| p.map(|v| 128.0 + (v - 128.0) * BOOST)),
            Self::Sharpen => imageops::unsharpen(img, 1.5, 0),
            Self::JpegQ10 => jpeg_round_trip(img)?,
            Self::Text => overlay_text(img)?,
            Self::Border => border(img),
            Self::Crop => crop(img),
        })
    }
}

impl std::str::FromStr for Perturbation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown perturbation `{s}`; choose from {}",
                    names.join(", ")
                )
            })
    }
}

fn map_pixels(img: &RgbImage, f: impl Fn([f32; 3]) -> [f32; 3]) -> RgbImage {
    let mut out = img.clone();
    for px in out.pixels_mut() {
        let v = f(px.0.map(f32::from));
        px.0 = v.map(|v| v.round().clamp(0.0, 255.0) as u8);
    }
    out
}

fn jpeg_round_trip(img: &RgbImage) -> Result<RgbImage, String> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| format!("encoding JPEG: {e}"))?;
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .map(|i| i.to_rgb8())
        .map_err(|e| format!("decoding the JPEG just written: {e}"))
}

fn overlay_text(img: &RgbImage) -> Result<RgbImage, String> {
    let mut out = img.clone();
    let height = ((img.height() as f32 * OVERLAY_HEIGHT).round() as u32).max(6);
    let x = (img.width() / 20) as i32;
    let y = (img.height() as f32 * 0.72) as i32;
    // A shadow one pixel in per 20 of height keeps the text legible on light backgrounds.
    let shadow = (height / 20).max(1) as i32;
    plot::stamp_text(
        &mut out,
        OVERLAY_TEXT,
        (x + shadow, y + shadow),
        height,
        [20, 20, 20],
    )
    .and_then(|()| plot::stamp_text(&mut out, OVERLAY_TEXT, (x, y), height, [255, 255, 255]))
    .map_err(|e| e.to_string())?;
    Ok(out)
}

fn border(img: &RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    let b = ((w.min(h) as f32 * BORDER_SHARE).round() as u32).max(1);
    let mut out = img.clone();
    for (x, y, px) in out.enumerate_pixels_mut() {
        if x < b || y < b || x + b >= w || y + b >= h {
            *px = Rgb([255, 255, 255]);
        }
    }
    out
}

fn crop(img: &RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    let cw = ((w as f32 * CROP_SHARE).round() as u32).max(1);
    let ch = ((h as f32 * CROP_SHARE).round() as u32).max(1);
    let part = imageops::crop_imm(img, 0, 0, cw, ch).to_image();
    imageops::resize(&part, w, h, FilterType::CatmullRom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene() -> RgbImage {
        // A red disc on a grey-blue gradient, centred: the shape of the synthetic world's images.
        RgbImage::from_fn(64, 48, |x, y| {
            let (dx, dy) = (x as f32 - 32.0, y as f32 - 24.0);
            if dx * dx + dy * dy < 100.0 {
                Rgb([200, 40, 40])
            } else {
                Rgb([90, 110, (100 + x) as u8])
            }
        })
    }

    fn spread(img: &RgbImage) -> f32 {
        let px: Vec<f32> = img.pixels().flat_map(|p| p.0.map(f32::from)).collect();
        let mean = px.iter().sum::<f32>() / px.len() as f32;
        (px.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / px.len() as f32).sqrt()
    }

    #[test]
    fn every_perturbation_keeps_the_size_and_changes_the_pixels() {
        let img = scene();
        for p in Perturbation::ALL {
            let out = p.apply(&img).unwrap();
            assert_eq!(out.dimensions(), img.dimensions(), "{}", p.name());
            let changed = out
                .pixels()
                .zip(img.pixels())
                .filter(|(a, b)| a != b)
                .count();
            assert!(changed > 30, "{}: {changed} pixels changed", p.name());
            assert_eq!(p.name().parse::<Perturbation>(), Ok(p));
        }
    }

    #[test]
    fn each_perturbation_does_what_its_name_says() {
        let img = scene();
        // Contrast widens the spread of values; saturation moves the disc away from its grey.
        assert!(spread(&Perturbation::Contrast.apply(&img).unwrap()) > 1.3 * spread(&img));
        let red = Perturbation::Saturation.apply(&img).unwrap();
        // (200, 40, 40) has luma 87.84: 87.84 + 1.5 * (200 - 87.84) clips at 255.
        assert_eq!(red.get_pixel(32, 24).0, [255, 16, 16]);
        // The border is white at the edge and leaves the centre alone.
        let framed = Perturbation::Border.apply(&img).unwrap();
        assert_eq!(framed.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(framed.get_pixel(32, 24), img.get_pixel(32, 24));
        // The crop's bottom right shows what was at 60% of each side: the disc's lower right
        // part leaves the frame, and its centre moves to the bottom right.
        let cropped = Perturbation::Crop.apply(&img).unwrap();
        assert_eq!(cropped.get_pixel(53, 40).0, [200, 40, 40]);
        assert_ne!(cropped.get_pixel(32, 24).0, [200, 40, 40]);
        // Text lights pixels in the lower part only.
        let text = Perturbation::Text.apply(&img).unwrap();
        let changed_above = (0..64)
            .flat_map(|x| (0..30).map(move |y| (x, y)))
            .filter(|&(x, y)| text.get_pixel(x, y) != img.get_pixel(x, y))
            .count();
        assert_eq!(changed_above, 0);
        assert!(
            "blur"
                .parse::<Perturbation>()
                .unwrap_err()
                .contains("jpeg-q10")
        );
    }
}
