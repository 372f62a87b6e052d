//! Parity of the OpenCLIP port with the `hpsv2` package (1.2.0, its own OpenCLIP copy, PyTorch
//! 2.14) on `tests/fixtures/hpsv2`: the tokenizer's ids for tricky strings, the pad-to-square
//! transform of the 8 captioned images, and the tiny checkpoint's weights loaded through the key
//! map (its features must give the reference's cosines; the score itself is checked end to end in
//! the `scoring` crate). Tests needing the shared data skip with a printed reason where it is
//! absent.

use std::path::PathBuf;

use serde_json::Value;

use super::{ClipModel, OpenClipConfig, normalize};
use crate::open_clip_tokenizer::OpenClipTokenizer;
use crate::preprocess::{PadToSquare, load_image};
use crate::test_util::{fixtures_dir, shared_path};
use burn::prelude::*;

fn fixture() -> PathBuf {
    fixtures_dir().join("hpsv2")
}

fn reference() -> Value {
    let path = fixture().join("reference.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {} is part of the repository: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn flat(value: &Value) -> Vec<f64> {
    match value {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("not a number: {other}"),
    }
}

#[test]
fn tokenizer_ids_match_hpsv2s_on_tricky_strings() {
    let Some(bpe) = shared_path("data/clip-bpe/bpe_simple_vocab_16e6.txt.gz") else {
        return;
    };
    let reference = reference();
    let tokenizer = OpenClipTokenizer::from_bpe_file(bpe).unwrap();
    let strings: Vec<&str> = reference["tokenizer"]["strings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let batch = tokenizer.encode_batch(&strings).unwrap();
    for (i, text) in strings.iter().enumerate() {
        let want: Vec<i64> = reference["tokenizer"]["ids"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(batch.row(i), &want[..], "{text:?}");
    }
}

#[test]
fn the_pad_to_square_transform_matches_hpsv2s_preprocess_val() {
    let Some(images) = shared_path("data/captioned-images") else {
        return;
    };
    let reference = reference();
    let transform = PadToSquare::new(32);
    let want = flat(&reference["pixel_values"]["values"]);
    let per_image = 3 * 32 * 32;
    let mut worst = 0f64;
    for (i, name) in reference["images"].as_array().unwrap().iter().enumerate() {
        let image = load_image(images.join(name.as_str().unwrap())).unwrap();
        let got = transform.prepare(&image);
        let expected = &want[i * per_image..(i + 1) * per_image];
        for (g, w) in got.iter().zip(expected) {
            worst = worst.max((f64::from(*g) - w).abs());
        }
    }
    // Both sides run the same float32 arithmetic; the rest is summation order.
    assert!(worst < 1e-4, "worst pixel difference {worst}");
    eprintln!("pad-to-square vs hpsv2's preprocess_val: worst pixel difference {worst:.2e}");
}

#[test]
fn the_tiny_checkpoint_loads_through_the_key_map_and_gives_hpsv2s_cosines() {
    let (Some(images), Some(bpe)) = (
        shared_path("data/captioned-images"),
        shared_path("data/clip-bpe/bpe_simple_vocab_16e6.txt.gz"),
    ) else {
        return;
    };
    let reference = reference();
    let device = Device::flex();
    let config = OpenClipConfig::from_file(fixture().join("open_clip_config.json")).unwrap();
    let model =
        ClipModel::from_open_clip_checkpoint(&fixture().join("tiny_hpsv2.pt"), &config, &device)
            .unwrap();
    let tokenizer = OpenClipTokenizer::from_bpe_file(bpe).unwrap();
    let prompts: Vec<&str> = reference["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let files: Vec<PathBuf> = reference["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| images.join(f.as_str().unwrap()))
        .collect();
    let pixels = PadToSquare::new(32)
        .preprocess_files(&files, &device)
        .unwrap();
    let (ids, mask) = tokenizer
        .encode_batch(&prompts)
        .unwrap()
        .to_tensors(&device);
    let text = normalize(model.get_text_features(ids, Some(mask)).unwrap());
    let image = normalize(model.get_image_features(pixels).unwrap());
    // [prompt, image], as the reference lays its scores out.
    let cos = text.matmul(image.transpose());
    let got: Vec<f32> = cos.into_data().try_to_vec::<f32>().unwrap();
    let want = flat(&reference["scores"]["values"]);
    let worst = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (f64::from(*g) - w).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-5, "worst score difference {worst}");
}

#[test]
fn a_checkpoint_that_does_not_fit_the_config_names_the_key_in_the_file() {
    let config = OpenClipConfig::from_json_str(
        r#"{"embed_dim": 20, "vision_cfg": {"image_size": 32, "layers": 2, "width": 40,
            "head_width": 8, "patch_size": 8},
            "text_cfg": {"width": 12, "heads": 3, "layers": 3}}"#,
        std::path::Path::new("config.json"),
    )
    .unwrap();
    let error = ClipModel::from_open_clip_checkpoint(
        &fixture().join("tiny_hpsv2.pt"),
        &config,
        &Device::flex(),
    )
    .unwrap_err()
    .to_string();
    // The config has a third text layer that the file lacks: its parameters are named missing.
    assert!(error.contains("tiny_hpsv2.pt"), "{error}");
    assert!(
        error.contains("text_model.encoder.layers.2.self_attn.q_proj.weight"),
        "{error}"
    );
}
