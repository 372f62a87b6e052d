//! Image files decoded once, the same way everywhere.
//!
//! `validate` checks a dataset's images with [`decode`], and training, embedding and scoring
//! decode them with it too (through `pretrained::preprocess::load_image`), so that an image
//! `validate` passes is one the trainer can read and the other way round. Two decoders had
//! disagreed: the `image` crate's JPEG decoder refused files that libjpeg-turbo (Pillow's
//! decoder, which rewardlab uses for the pixels) reads, such as a file whose scan ends early
//! but past the last row, or one with a `DNL` marker.
//!
//! - [`check_pixels`]: the header's size against Pillow's limit, before anything is decoded.
//! - [`decode`]: the pixels: JPEG by libjpeg-turbo with Pillow's settings ([`jpeg`]), PNG and
//!   WebP by the `image` crate, whose pixels are Pillow's.

use std::path::{Path, PathBuf};

use image::DynamicImage;

mod jpeg;

/// The most pixels an image may have: Pillow's limit (`Image.MAX_IMAGE_PIXELS` twice, where it
/// raises `DecompressionBombError`), so that rewardlab refuses what the reference code refuses.
/// A few kilobytes of PNG or JPEG can declare 30,000 x 30,000 pixels and gigabytes of memory.
pub const MAX_IMAGE_PIXELS: u64 = 2 * 89_478_485;

/// Why an image file could not be read; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageFileError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("image {path}: empty image file (0 bytes)")]
    Empty { path: PathBuf },
    /// The header declares more pixels than [`MAX_IMAGE_PIXELS`].
    #[error(
        "image {path}: {width} x {height} = {} pixels, over the limit of {MAX_IMAGE_PIXELS} \
         (Pillow's); refused before decoding (a decompression bomb, or not an image to score)",
        u64::from(*width) * u64::from(*height)
    )]
    TooManyPixels {
        path: PathBuf,
        width: u32,
        height: u32,
    },
    /// The bytes are not an image the decoders can read.
    #[error("image {path}: {message}")]
    Undecodable { path: PathBuf, message: String },
}

impl ImageFileError {
    /// What is wrong with the file, without its path (for messages that name it already).
    pub fn reason(&self) -> String {
        match self {
            Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                "missing image file".to_owned()
            }
            Self::Io { source, .. } => format!("cannot read image file: {source}"),
            Self::Empty { .. } => "empty image file (0 bytes)".to_owned(),
            Self::TooManyPixels { width, height, .. } => format!(
                "{width} x {height} = {} pixels, over the limit of {MAX_IMAGE_PIXELS} (Pillow's); \
                 refused before decoding (a decompression bomb, or not an image to score)",
                u64::from(*width) * u64::from(*height)
            ),
            Self::Undecodable { message, .. } => format!("undecodable image: {message}"),
        }
    }
}

/// Reads an image file's dimensions from its header and refuses one over [`MAX_IMAGE_PIXELS`]
/// before anything is decoded; returns the width and height.
///
/// # Errors
///
/// When the file cannot be read, is empty, has no header the decoders know, or is too large.
pub fn check_pixels(path: impl AsRef<Path>) -> Result<(u32, u32), ImageFileError> {
    let path = path.as_ref();
    let io_error = |source| ImageFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    if std::fs::metadata(path).map_err(io_error)?.len() == 0 {
        return Err(ImageFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    let (width, height) = image::ImageReader::open(path)
        .map_err(io_error)?
        .with_guessed_format()
        .map_err(io_error)?
        .into_dimensions()
        .map_err(|e| undecodable(path, e.to_string()))?;
    if u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS {
        return Err(ImageFileError::TooManyPixels {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    Ok((width, height))
}

/// Decodes an image file (PNG, JPEG, WebP) after [`check_pixels`].
///
/// The format is told by the file's first bytes (its extension when they say nothing). JPEG
/// files are decoded by libjpeg-turbo's decoder with Pillow's settings, grayscale ones as L
/// (CMYK ones, which Pillow keeps as CMYK, by the `image` crate); the other formats by the
/// `image` crate, whose PNG and WebP pixels are Pillow's. No EXIF rotation, as `Image.open`.
///
/// # Errors
///
/// When the file cannot be read or decoded, a JPEG whose data ends early included.
pub fn decode(path: impl AsRef<Path>) -> Result<DynamicImage, ImageFileError> {
    let path = path.as_ref();
    let io_error = |source| ImageFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    check_pixels(path)?;
    let reader = image::ImageReader::open(path)
        .map_err(io_error)?
        .with_guessed_format()
        .map_err(io_error)?;
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut reader.into_inner(), &mut bytes).map_err(io_error)?;
        if let Some(image) = jpeg::decode(&bytes).map_err(|m| undecodable(path, m))? {
            return Ok(image);
        }
        return image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
            .map_err(|e| undecodable(path, e.to_string()));
    }
    reader
        .decode()
        .map_err(|e| undecodable(path, e.to_string()))
}

fn undecodable(path: &Path, message: String) -> ImageFileError {
    ImageFileError::Undecodable {
        path: path.to_path_buf(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_names_the_file_and_says_what_is_wrong() {
        let dir = std::env::temp_dir().join(format!("imagefile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            ("absent.png", None, "missing image file"),
            ("empty.png", Some(&b""[..]), "empty image file (0 bytes)"),
            (
                "text.png",
                Some(&b"not an image at all"[..]),
                "undecodable image",
            ),
        ];
        for (name, bytes, reason) in cases {
            let path = dir.join(name);
            if let Some(bytes) = bytes {
                std::fs::write(&path, bytes).unwrap();
            }
            let err = decode(&path).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
            assert!(err.reason().starts_with(reason), "{name}: {}", err.reason());
            assert!(!err.reason().contains(name), "{}", err.reason());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn png_and_jpeg_decode_in_their_modes() {
        let dir = std::env::temp_dir().join(format!("imagefile-ok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rgb =
            image::RgbImage::from_fn(12, 8, |x, y| image::Rgb([x as u8 * 20, y as u8 * 30, 7]));
        let image = DynamicImage::ImageRgb8(rgb);
        image.save(dir.join("a.png")).unwrap();
        image.save(dir.join("a.jpg")).unwrap();
        image.to_luma8().save(dir.join("gray.jpg")).unwrap();
        assert_eq!(decode(dir.join("a.png")).unwrap(), image);
        assert_eq!(check_pixels(dir.join("a.jpg")).unwrap(), (12, 8));
        assert!(matches!(
            decode(dir.join("a.jpg")).unwrap(),
            DynamicImage::ImageRgb8(_)
        ));
        assert!(matches!(
            decode(dir.join("gray.jpg")).unwrap(),
            DynamicImage::ImageLuma8(_)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
