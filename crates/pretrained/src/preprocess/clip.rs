//! transformers' `CLIPImageProcessor`: its `preprocessor_config.json`, the prepared image, and
//! the batch tensor.

use super::*;

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
        let error = |message: String| crate::error::config_error(path, message);
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
        crate::error::read_config(path.as_ref(), Self::from_json_str)
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
