//! The pipelines against Pillow's and transformers' outputs, and their errors.

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
    let batch = stack_prepared(&[prepared.clone(), prepared], &Device::flex()).unwrap();
    assert_eq!(batch.dims(), [2, 3, 20, 20]);
    assert!(stack_prepared(&[], &Device::flex()).is_err());
}

#[test]
fn unreadable_images_name_the_file() {
    let dir = std::env::temp_dir().join(format!("pretrained-preprocess-{}", std::process::id()));
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
