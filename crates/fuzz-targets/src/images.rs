//! Images (PNG, JPEG, WebP): decoded as training, scoring and `validate` decode them, then
//! prepared for CLIP as scoring does.

use pretrained::preprocess::{ClipImageProcessor, load_image};

use crate::scratch;

pub fn image(data: &[u8]) -> bool {
    // The format is told by the first bytes; the extension only when they say nothing.
    let path = scratch::file("image.png", data);
    let checked = annotations::validate::check_image_file(&path);
    let Some(image) = scratch::named(load_image(&path), &path) else {
        return false;
    };
    assert!(
        checked.is_ok(),
        "`validate` refused an image that loads: {checked:?}"
    );
    let prepared = ClipImageProcessor::default().prepare(&image);
    assert_eq!(prepared.pixel_values.len(), 3 * 224 * 224);
    true
}
