//! Parity of the CLIP port with its references, on the fixtures in `tests/fixtures/pretrained`
//! (made with transformers 5.24, Pillow 13 and PyTorch 2.15; see the generators there):
//! tokenizer ids, Pillow's bicubic resize and transformers' CLIP preprocessing, and a tiny random
//! `CLIPModel`'s features, logits and layer trace. Tests that need the shared data (OpenAI's BPE
//! merges, the captioned images) skip with a printed reason where it is absent.

use std::path::PathBuf;

use burn::prelude::*;
use image::{DynamicImage, RgbImage, RgbaImage};
use serde_json::Value;

use super::ClipModel;
use crate::{
    clip_tokenizer::{ClipTokenizer, END_OF_TEXT, HF_PAD_ID, START_OF_TEXT},
    preprocess::{ClipImageProcessor, PilFilter, load_image, resize, to_rgb_over_white},
    test_util::{fixtures_dir, shared_path},
};

fn read_json(relative: &str) -> Value {
    let path = fixtures_dir().join("pretrained").join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {} is part of the repository: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Every number of a nested JSON array, in row-major order.
fn flat(value: &Value) -> Vec<f64> {
    match value {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("not a number: {other}"),
    }
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
}

fn max_abs_diff(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "lengths differ");
    got.iter()
        .zip(want)
        .map(|(g, w)| (f64::from(*g) - w).abs())
        .fold(0.0, f64::max)
}

fn tokenizer() -> Option<ClipTokenizer> {
    let bpe = shared_path("data/clip-bpe/bpe_simple_vocab_16e6.txt.gz")?;
    Some(ClipTokenizer::from_bpe_file(bpe).unwrap())
}

fn rgb_from_json(rows: &Value) -> RgbImage {
    let rows = rows.as_array().unwrap();
    let height = rows.len() as u32;
    let width = rows[0].as_array().unwrap().len() as u32;
    let data = flat(&Value::Array(rows.clone()))
        .into_iter()
        .map(|v| v as u8)
        .collect();
    RgbImage::from_raw(width, height, data).unwrap()
}

#[test]
fn tokenizer_matches_transformers_on_every_reference_string() {
    let Some(tokenizer) = tokenizer() else { return };
    let reference = read_json("clip-tokenizer/reference.json");
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 25);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = flat(&case["ids"]).into_iter().map(|v| v as u32).collect();
        let got = tokenizer.encode_unpadded(text).unwrap();
        assert_eq!(got, want, "{text:?}");
        if case["truncated"].as_bool().unwrap() {
            assert_eq!(got.len(), 77);
            assert_eq!(got[76], END_OF_TEXT);
        }
    }
    println!(
        "tokenizer: {} reference strings, all ids equal",
        cases.len()
    );
}

#[test]
fn tokenizer_pads_like_openai_or_transformers() {
    let Some(tokenizer) = tokenizer() else { return };
    // The golden ids of shared/data/README.md: OpenAI's clip.tokenize pads with 0.
    let batch = tokenizer.encode_batch(&["Hello World!", ""]).unwrap();
    assert_eq!((batch.batch, batch.len), (2, 77));
    let mut golden = vec![START_OF_TEXT as i64, 3306, 1002, 256, END_OF_TEXT as i64];
    golden.resize(77, 0);
    assert_eq!(batch.row(0), &golden[..]);
    assert_eq!(&batch.attention_mask[..6], &[1, 1, 1, 1, 1, 0]);
    assert_eq!(
        &batch.row(1)[..3],
        &[START_OF_TEXT as i64, END_OF_TEXT as i64, 0]
    );
    let hf = tokenizer.with_pad_id(HF_PAD_ID).unwrap();
    let batch = hf.encode_batch(&["Hello World!"]).unwrap();
    assert!(batch.row(0)[5..].iter().all(|&id| id == END_OF_TEXT as i64));
    assert_eq!(batch.attention_mask.iter().sum::<i64>(), 5);
    assert_eq!(
        hf.decode(&[START_OF_TEXT, 3306, 1002, 256, END_OF_TEXT])
            .unwrap(),
        "hello world !"
    );
}

#[test]
fn bicubic_resize_and_rgb_conversion_match_pillow_exactly() {
    let reference = read_json("clip-preprocess/reference.json");
    let cases = &reference["pil_bicubic"];
    let input = DynamicImage::ImageRgb8(rgb_from_json(&cases["input"]["pixels"]));
    for key in ["down_5x4", "up_29x17"] {
        let want = rgb_from_json(&cases[key]["pixels"]);
        let got = resize(&input, want.width(), want.height(), PilFilter::Bicubic).to_rgb8();
        assert_eq!(got, want, "{key}");
    }
    let alpha = &reference["alpha_composite"];
    let rows = alpha["input_rgba"].as_array().unwrap();
    let data: Vec<u8> = flat(&alpha["input_rgba"])
        .into_iter()
        .map(|v| v as u8)
        .collect();
    let rgba = RgbaImage::from_raw(
        rows[0].as_array().unwrap().len() as u32,
        rows.len() as u32,
        data,
    )
    .unwrap();
    let got = to_rgb_over_white(&DynamicImage::ImageRgba8(rgba));
    assert_eq!(got, rgb_from_json(&alpha["output_rgb"]));
}

#[test]
fn clip_preprocessing_matches_transformers_on_the_captioned_images() {
    let Some(folder) = shared_path("data/captioned-images") else {
        return;
    };
    let reference = read_json("clip-preprocess/reference.json");
    let positions: Vec<u32> = flat(&reference["grid_positions"])
        .into_iter()
        .map(|v| v as u32)
        .collect();
    let processor = ClipImageProcessor::default();
    for case in reference["images"].as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        let prepared = processor.prepare(&load_image(folder.join(file)).unwrap());
        let size = &case["resized_size"];
        assert_eq!(
            prepared.resized_size,
            (
                size["width"].as_u64().unwrap() as u32,
                size["height"].as_u64().unwrap() as u32
            ),
            "{file}"
        );
        let crop = &case["crop"];
        assert_eq!(
            prepared.crop_offsets,
            (
                crop["left"].as_i64().unwrap(),
                crop["top"].as_i64().unwrap()
            ),
            "{file}"
        );

        let mut grid = Vec::new();
        let mut value_grid = Vec::new();
        let plane = 224 * 224;
        for &y in &positions {
            for &x in &positions {
                grid.extend(prepared.pixels.get_pixel(x, y).0.map(f32::from));
                for c in 0..3 {
                    value_grid.push(prepared.pixel_values[c * plane + (y * 224 + x) as usize]);
                }
            }
        }
        let level_diff = max_abs_diff(&grid, &flat(&case["rgb_grid"]));
        let value_diff = max_abs_diff(&value_grid, &flat(&case["pixel_values_grid"]));
        let sums: Vec<f32> = (0..3)
            .map(|c| {
                prepared
                    .pixels
                    .pixels()
                    .map(|p| f64::from(p[c]))
                    .sum::<f64>() as f32
            })
            .collect();
        let sum_diff = max_abs_diff(&sums, &flat(&case["uint8_sum_per_channel"]));
        println!(
            "{file}: grid max |diff| {level_diff} levels, pixel_values grid {value_diff:.2e}, \
             channel sums differ by up to {sum_diff}"
        );
        // JPEG too: decoded by libjpeg-turbo's code with Pillow's settings (crate::jpeg).
        assert_eq!(level_diff, 0.0, "{file}");
        assert_eq!(sum_diff, 0.0, "{file}");
        assert!(value_diff < 1e-6, "{file}: {value_diff}");
    }
}

fn tiny_clip_dir() -> PathBuf {
    fixtures_dir().join("pretrained/tiny-clip")
}

/// The reference's ids, mask and pixels as tensors.
fn reference_inputs(
    reference: &Value,
    device: &Device,
) -> (Tensor<2, Int>, Tensor<2, Int>, Tensor<4>) {
    let text = &reference["text_inputs"];
    let rows = text["input_ids"].as_array().unwrap().len();
    let ints = |v: &Value| -> Tensor<2, Int> {
        let data: Vec<i64> = flat(v).into_iter().map(|x| x as i64).collect();
        let len = data.len() / rows;
        Tensor::from_data(TensorData::new(data, [rows, len]), device)
    };
    let shape: Vec<usize> = flat(&reference["pixel_values"]["shape"])
        .into_iter()
        .map(|v| v as usize)
        .collect();
    let pixels: Vec<f32> = flat(&reference["pixel_values"]["values"])
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let pixels = Tensor::from_data(
        TensorData::new(pixels, [shape[0], shape[1], shape[2], shape[3]]),
        device,
    );
    (
        ints(&text["input_ids"]),
        ints(&text["attention_mask"]),
        pixels,
    )
}

#[test]
fn tiny_clip_inputs_match_transformers() {
    let (Some(tokenizer), Some(images)) = (tokenizer(), shared_path("data/captioned-images"))
    else {
        return;
    };
    let device = Device::flex();
    let reference = read_json("tiny-clip/reference.json");
    let checkpoint = ClipModel::from_folder(tiny_clip_dir(), &device).unwrap();
    assert!(checkpoint.tokenizer.is_none());
    let processor = checkpoint
        .processor
        .expect("the folder has preprocessor_config.json");

    let captions: Vec<&str> = reference["captions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let batch = tokenizer.encode_batch(&captions).unwrap();
    let want_ids: Vec<i64> = flat(&reference["text_inputs"]["input_ids"])
        .into_iter()
        .map(|v| v as i64)
        .collect();
    let want_mask: Vec<i64> = flat(&reference["text_inputs"]["attention_mask"])
        .into_iter()
        .map(|v| v as i64)
        .collect();
    assert_eq!(batch.input_ids, want_ids);
    assert_eq!(batch.attention_mask, want_mask);

    let files: Vec<PathBuf> = reference["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| images.join(f.as_str().unwrap()))
        .collect();
    let pixels = values(processor.preprocess_files(&files, &device).unwrap());
    let want = flat(&reference["pixel_values"]["values"]);
    let per_image = pixels.len() / files.len();
    for (i, file) in files.iter().enumerate() {
        let range = i * per_image..(i + 1) * per_image;
        let diff = max_abs_diff(&pixels[range.clone()], &want[range]);
        let name = file.file_name().unwrap().to_string_lossy();
        println!("tiny-clip pixel_values {name}: max |diff| {diff:.2e}");
        assert!(diff < 1e-6, "{name}: {diff}");
    }
}

#[test]
fn tiny_clip_features_and_logits_match_transformers() {
    let device = Device::flex();
    let reference = read_json("tiny-clip/reference.json");
    let model = ClipModel::from_folder(tiny_clip_dir(), &device)
        .unwrap()
        .model;
    let (ids, mask, pixels) = reference_inputs(&reference, &device);
    let out = model
        .forward(pixels.clone(), ids.clone(), Some(mask.clone()))
        .unwrap();
    let want = &reference["outputs"];

    let scale = f64::from(model.logit_scale.val().into_scalar::<f32>());
    assert!((scale - want["logit_scale"].as_f64().unwrap()).abs() < 1e-6);
    let text_features = model
        .get_text_features(ids.clone(), Some(mask.clone()))
        .unwrap();
    let image_features = model.get_image_features(pixels.clone()).unwrap();
    let checks: [(&str, Vec<f32>); 8] = [
        (
            "text_pooler_output",
            values(out.text_output.pooler_output.clone()),
        ),
        (
            "vision_pooler_output",
            values(out.vision_output.pooler_output.clone()),
        ),
        ("text_projected", values(text_features.clone())),
        ("image_projected", values(image_features.clone())),
        ("text_embeds", values(out.text_embeds.clone())),
        ("image_embeds", values(out.image_embeds.clone())),
        ("logits_per_image", values(out.logits_per_image.clone())),
        ("logits_per_text", values(out.logits_per_text.clone())),
    ];
    for (name, got) in checks {
        let diff = max_abs_diff(&got, &flat(&want[name]));
        println!("tiny-clip {name}: max |diff| {diff:.2e}");
        assert!(diff < 1e-4, "{name}: {diff}");
    }
    // The same logits from the features through the public helper.
    let logits = values(model.logits_per_image(image_features, text_features));
    assert!(max_abs_diff(&logits, &flat(&want["logits_per_image"])) < 1e-4);

    // Padding with transformers' id instead of OpenAI's 0 changes nothing.
    let repadded = ids
        .clone()
        .mask_fill(mask.clone().equal_elem(0), HF_PAD_ID as i64);
    let features = values(model.get_text_features(repadded, Some(mask)).unwrap());
    assert!(max_abs_diff(&features, &flat(&want["text_projected"])) < 1e-4);
}

#[test]
fn tiny_clip_layer_trace_matches_transformers() {
    let device = Device::flex();
    let reference = read_json("tiny-clip/reference.json");
    let model = ClipModel::from_folder(tiny_clip_dir(), &device)
        .unwrap()
        .model;
    let (ids, mask, pixels) = reference_inputs(&reference, &device);
    let trace = &reference["trace"];
    // Sample 0, positions 0..4, dims 0..8.
    let window = |t: Tensor<3>| values(t.slice([0..1, 0..4, 0..8]));
    let check = |name: &str, got: Tensor<3>, want: &Value| {
        let diff = max_abs_diff(&window(got), &flat(want));
        println!("tiny-clip trace {name}: max |diff| {diff:.2e}");
        assert!(diff < 1e-4, "{name}: {diff}");
    };

    let text = &model.text_model;
    check(
        "text_embeddings",
        text.embeddings.forward(ids.clone()).unwrap(),
        &trace["text_embeddings"],
    );
    let mut state = text.embed(ids, Some(mask)).unwrap();
    for (i, want) in trace["text_hidden_states"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        state = text.advance(state, i).unwrap();
        check(
            &format!("text_hidden_states[{i}]"),
            state.hidden.clone(),
            want,
        );
    }
    let pooled = text.pool(state).unwrap();
    check(
        "text_last_hidden_state",
        pooled.last_hidden_state,
        &trace["text_last_hidden_state"],
    );

    let vision = &model.vision_model;
    check(
        "vision_embeddings",
        vision.embeddings.forward(pixels.clone()).unwrap(),
        &trace["vision_embeddings"],
    );
    let mut state = vision.embed(pixels).unwrap();
    for (i, want) in trace["vision_hidden_states"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        // Caching the frozen part: detached states give the same numbers.
        state = vision.advance(state, i).unwrap().detach();
        check(
            &format!("vision_hidden_states[{i}]"),
            state.hidden.clone(),
            want,
        );
    }
    let pooled = vision.pool(state).unwrap();
    check(
        "vision_last_hidden_state",
        pooled.last_hidden_state,
        &trace["vision_last_hidden_state"],
    );
}

#[test]
fn a_checkpoint_that_does_not_fit_names_the_tensor() {
    let device = Device::flex();
    let dir = tiny_clip_dir();
    let mut config = super::ClipConfig::from_file(dir.join("config.json")).unwrap();
    config.projection_dim += 1;
    let err = config
        .init(&device)
        .load_safetensors(&dir.join("model.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("visual_projection.weight") && err.contains("text_projection.weight"),
        "{err}"
    );
    assert!(err.contains("model.safetensors"), "{err}");
}
