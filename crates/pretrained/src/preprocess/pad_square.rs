//! OpenCLIP's evaluation transform with `resize_longest_max=True`, the one HPSv2 scores with
//! (`image_transform(..., is_train=False, resize_longest_max=True)` as `preprocess_val`):
//! `ToTensor`, then `ResizeMaxSize` (the longest side to the model's size, by torchvision's
//! bicubic resize of the float tensor, with antialiasing, then zero padding to a centred square),
//! then `Normalize` with OpenAI's mean and std. Nothing is cropped, so the whole image is seen.
//!
//! The resize is torch's `_upsample_bicubic2d_aa` in single precision: Keys' cubic with
//! a = -0.5 widened by the downscale factor, weights normalised to sum 1, the width pass before
//! the height pass, no rounding or clamping between them (unlike Pillow's 8-bit passes).
//!
//! Two departures, both where the official code cannot score at all: an RGBA image is made RGB
//! by dropping alpha (OpenCLIP keeps a fourth channel, which its 3-channel patch embedding
//! refuses), and an image whose longest side is already the model's size is still padded to a
//! square (OpenCLIP returns it unpadded, which its position embedding then refuses).

use super::*;

/// HPSv2's `preprocess_val`: the longest side resized to `size`, padded to a square.
#[derive(Debug, Clone, PartialEq)]
pub struct PadToSquare {
    /// Side of the square the model sees.
    pub size: u32,
    /// Normalisation mean (RGB).
    pub mean: [f32; 3],
    /// Normalisation standard deviation (RGB).
    pub std: [f32; 3],
}

impl PadToSquare {
    /// OpenCLIP's transform at `size` with OpenAI's mean and std, as HPSv2 builds it.
    pub fn new(size: u32) -> Self {
        Self {
            size,
            mean: OPENAI_CLIP_MEAN,
            std: OPENAI_CLIP_STD,
        }
    }

    /// The model's input for one image: `[3, size, size]`, channel-first.
    pub fn prepare(&self, image: &DynamicImage) -> Vec<f32> {
        let rgb = to_rgb(image);
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        // ToTensor: float32(v) / 255, channel-first.
        let mut planes: Vec<Vec<f32>> = (0..3)
            .map(|c| {
                rgb.pixels()
                    .map(|p| f32::from(p[c]) / 255.0)
                    .collect::<Vec<f32>>()
            })
            .collect();
        let side = self.size as usize;
        let (mut out_w, mut out_h) = (w, h);
        let scale = f64::from(self.size) / w.max(h) as f64;
        if scale != 1.0 {
            // Python's round(): halves to even.
            out_h = (h as f64 * scale).round_ties_even() as usize;
            out_w = (w as f64 * scale).round_ties_even() as usize;
            for plane in &mut planes {
                *plane = resize_plane(plane, w, h, out_w, out_h);
            }
        }
        let (left, top) = ((side - out_w.min(side)) / 2, (side - out_h.min(side)) / 2);
        let mut out = vec![0f32; 3 * side * side];
        for (c, plane) in planes.iter().enumerate() {
            let base = c * side * side;
            // Padding is 0 before normalisation, as `F.pad(fill=0)` writes it.
            for v in &mut out[base..base + side * side] {
                *v = (0.0 - self.mean[c]) / self.std[c];
            }
            for y in 0..out_h.min(side) {
                for x in 0..out_w.min(side) {
                    let v = plane[y * out_w + x];
                    out[base + (top + y) * side + left + x] = (v - self.mean[c]) / self.std[c];
                }
            }
        }
        out
    }

    /// The model's input for a batch: `[B, 3, size, size]`.
    ///
    /// # Errors
    ///
    /// When the batch is empty.
    pub fn preprocess(
        &self,
        images: &[DynamicImage],
        device: &Device,
    ) -> Result<Tensor<4>, PretrainedError> {
        if images.is_empty() {
            return Err(PretrainedError::Input {
                message: "no images to preprocess".into(),
            });
        }
        let side = self.size as usize;
        let values: Vec<f32> = images.iter().flat_map(|i| self.prepare(i)).collect();
        Ok(Tensor::from_data(
            TensorData::new(values, [images.len(), 3, side, side]),
            device,
        ))
    }

    /// Decodes image files and runs the transform on them.
    ///
    /// # Errors
    ///
    /// When a file cannot be read or decoded (the error names it), or there are none.
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

/// One channel, `w x h`, resized to `out_w x out_h`: the width pass, then the height pass, each
/// skipped when its size does not change (as torch skips it).
fn resize_plane(plane: &[f32], w: usize, h: usize, out_w: usize, out_h: usize) -> Vec<f32> {
    let mut horizontal = plane.to_vec();
    if out_w != w {
        let taps = aa_bicubic_taps(w, out_w);
        horizontal = vec![0f32; out_w * h];
        for y in 0..h {
            let row = &plane[y * w..(y + 1) * w];
            for (x, (start, weights)) in taps.iter().enumerate() {
                horizontal[y * out_w + x] = dot(&row[*start..], weights, 1);
            }
        }
    }
    if out_h == h {
        return horizontal;
    }
    let taps = aa_bicubic_taps(h, out_h);
    let mut out = vec![0f32; out_w * out_h];
    for (y, (start, weights)) in taps.iter().enumerate() {
        for x in 0..out_w {
            out[y * out_w + x] = dot(&horizontal[start * out_w + x..], weights, out_w);
        }
    }
    out
}

/// `sum_j weights[j] * values[j * stride]`, accumulated in order in single precision.
fn dot(values: &[f32], weights: &[f32], stride: usize) -> f32 {
    let mut acc = values[0] * weights[0];
    for (j, w) in weights.iter().enumerate().skip(1) {
        acc += values[j * stride] * w;
    }
    acc
}

/// For each output index along an axis, the first input index it reads and its weights: torch's
/// `_compute_weights_aa` with the bicubic `aa_filter`.
fn aa_bicubic_taps(input: usize, output: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = input as f32 / output as f32;
    let (support, invscale) = if scale >= 1.0 {
        (2.0 * scale, 1.0 / scale)
    } else {
        (2.0, 1.0)
    };
    (0..output)
        .map(|i| {
            let center = (f64::from(scale) * (i as f64 + 0.5)) as f32;
            let xmin = ((f64::from(center - support) + 0.5) as i64).max(0) as usize;
            let xmax = ((f64::from(center + support) + 0.5) as i64).min(input as i64) as usize;
            let mut weights: Vec<f32> = (xmin..xmax.max(xmin))
                .map(|j| cubic((j as f32 - center + 0.5) * invscale))
                .collect();
            let total: f32 = weights.iter().sum();
            if total != 0.0 {
                for w in &mut weights {
                    *w /= total;
                }
            }
            if weights.is_empty() {
                weights.push(0.0);
            }
            (xmin.min(input - 1), weights)
        })
        .collect()
}

/// Keys' cubic convolution kernel with a = -0.5, as torch writes it.
fn cubic(x: f32) -> f32 {
    const A: f32 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_and_an_unchanged_axis_is_copied() {
        for (input, output) in [(640, 224), (100, 224), (225, 224), (3, 224)] {
            for (start, weights) in aa_bicubic_taps(input, output) {
                let sum: f32 = weights.iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "{input}->{output}: {sum}");
                assert!(start + weights.len() <= input);
            }
        }
        let plane: Vec<f32> = (0..12).map(|v| v as f32).collect();
        assert_eq!(resize_plane(&plane, 4, 3, 4, 3), plane);
    }

    #[test]
    fn a_wide_image_is_resized_to_the_side_and_padded_top_and_bottom() {
        // 8x4, uniform grey: resized to 4x2 it stays that grey, in rows 1..3 of a 4x4 square.
        let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(8, 4, image::Rgb([51, 51, 51])));
        let t = PadToSquare::new(4);
        let out = t.prepare(&image);
        let grey = (0.2 - t.mean[0]) / t.std[0];
        let pad = -t.mean[0] / t.std[0];
        let red: Vec<f32> = out[..16].to_vec();
        for (i, v) in red.iter().enumerate() {
            let want = if (4..12).contains(&i) { grey } else { pad };
            assert!((v - want).abs() < 1e-5, "pixel {i}: {v} vs {want}");
        }
    }
}
