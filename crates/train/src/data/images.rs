//! Images decoded once, at the model's size, on all cores.

use super::*;

/// Decodes one image file into RGB u8 pixels of `size` x `size` (resized if needed).
pub fn load_image(path: &Path, size: usize) -> Result<Vec<u8>> {
    pretrained::preprocess::check_pixels(path)?;
    let img = image::open(path).map_err(|e| TrainError::Image {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(to_pixels(img, size))
}

/// RGB u8 pixels (HWC) of a decoded image at `size` x `size`.
pub fn to_pixels(img: image::DynamicImage, size: usize) -> Vec<u8> {
    let rgb = img.to_rgb8();
    let s = size as u32;
    if rgb.width() == s && rgb.height() == s {
        rgb.into_raw()
    } else {
        image::imageops::resize(&rgb, s, s, image::imageops::FilterType::Triangle).into_raw()
    }
}

/// Decodes many images on the available cores (rayon's pool), in order.
pub fn load_images(paths: &[std::path::PathBuf], size: usize) -> Result<Vec<Vec<u8>>> {
    use rayon::prelude::*;
    paths.par_iter().map(|p| load_image(p, size)).collect()
}
