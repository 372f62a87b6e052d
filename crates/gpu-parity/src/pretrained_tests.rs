//! The pretrained encoders on the device under test against the CPU: MiniLM's sentence
//! embeddings (real weights), and the CLIP score, PickScore, HPSv2 and ImageReward of the tiny
//! models made by the reference code, on real images.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use pretrained::bert::SentenceEncoder;
use scoring::pretrained::{ClipScore, Hpsv2Score, ImageRewardScore, PickScore};

use crate::fixtures::{tiny_imagereward, tmp};
use crate::{device_under_test, largest_difference, values};

fn shared(relative: &str) -> Option<PathBuf> {
    paths::shared_or_skip!(relative)
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// Three real images, each with its caption and with another image's caption.
fn items(images: &Path) -> Vec<(String, PathBuf)> {
    let files = ["astronaut.png", "coffee.png", "rocket.jpg"];
    let captions = [
        "an astronaut",
        "a cup of coffee",
        "a rocket on its launch pad",
    ];
    let mut items = Vec::new();
    for (i, file) in files.iter().enumerate() {
        for caption in [captions[i], captions[(i + 1) % 3]] {
            items.push((caption.to_string(), images.join(file)));
        }
    }
    items
}

/// Scores `items` with the scorer `score` loads on each device, and requires the same scores
/// within 1e-5.
fn compare_scores(
    model: &str,
    what: &str,
    gpu: &Device,
    items: &[(String, PathBuf)],
    score: impl Fn(&Device, &[(String, PathBuf)]) -> Vec<f64>,
) {
    let as_f32 = |scores: Vec<f64>| scores.into_iter().map(|s| s as f32).collect::<Vec<_>>();
    let want = as_f32(score(&Device::flex(), items));
    let got = as_f32(score(gpu, items));
    let worst = largest_difference(&want, &got);
    println!(
        "{model} on {}: {what} within {worst:.1e}",
        device::describe(gpu)
    );
    assert!(worst < 1e-5, "{worst}");
}

#[test]
fn minilm_embeddings_match_the_cpu() {
    let Some(gpu) = device_under_test() else {
        return;
    };
    let Some(dir) = shared("models/all-MiniLM-L6-v2") else {
        return;
    };
    let texts = [
        "a red cube on a table",
        "two dogs playing in the snow at dusk",
        "x",
    ];
    let embed = |device: &Device| {
        let encoder = SentenceEncoder::from_folder(&dir, device).unwrap();
        values(encoder.encode(&texts).unwrap())
    };
    let (want, got) = (embed(&Device::flex()), embed(&gpu));
    assert_eq!(want.len(), 3 * 384);
    let worst = largest_difference(&want, &got);
    println!(
        "MiniLM on {}: embeddings within {worst:.1e}",
        device::describe(&gpu)
    );
    assert!(worst < 1e-5, "{worst}");
}

#[test]
fn clip_score_of_the_tiny_clip_matches_the_cpu() {
    let Some(gpu) = device_under_test() else {
        return;
    };
    let (Some(bpe), Some(images)) = (
        shared("data/clip-bpe/bpe_simple_vocab_16e6.txt.gz"),
        shared("data/captioned-images"),
    ) else {
        return;
    };
    let dir = tmp("tiny-clip");
    let tiny = fixtures().join("pretrained/tiny-clip");
    for file in [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ] {
        std::fs::copy(tiny.join(file), dir.join(file)).unwrap();
    }
    std::fs::copy(bpe, dir.join("bpe_simple_vocab_16e6.txt.gz")).unwrap();
    compare_scores(
        "tiny CLIP",
        "CLIP scores",
        &gpu,
        &items(&images),
        |device, items| {
            let scorer = ClipScore::load(&dir, device).unwrap().with_batch_size(4);
            scorer.score_values(items).unwrap()
        },
    );
}

#[test]
fn pickscore_and_hpsv2_of_their_tiny_models_match_the_cpu() {
    let Some(gpu) = device_under_test() else {
        return;
    };
    let (Some(bpe), Some(images)) = (
        shared("data/clip-bpe/bpe_simple_vocab_16e6.txt.gz"),
        shared("data/captioned-images"),
    ) else {
        return;
    };
    let pick = tmp("tiny-pickscore");
    let tiny = fixtures().join("pretrained/tiny-pickscore");
    for file in [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ] {
        std::fs::copy(tiny.join(file), pick.join(file)).unwrap();
    }
    std::fs::copy(&bpe, pick.join("bpe_simple_vocab_16e6.txt.gz")).unwrap();
    // PickScore's scores are about 90 times a cosine: the cosines are compared.
    compare_scores(
        "tiny PickScore",
        "cosines (scores / exp(logit_scale))",
        &gpu,
        &items(&images),
        |device, items| {
            let scorer = PickScore::load(&pick, device).unwrap().with_batch_size(4);
            let scale = scorer.scale();
            let scores = scorer.score_values(items).unwrap();
            scores.into_iter().map(|s| s / scale).collect()
        },
    );

    let hps = tmp("tiny-hpsv2");
    for file in ["tiny_hpsv2.pt", "open_clip_config.json"] {
        std::fs::copy(fixtures().join("hpsv2").join(file), hps.join(file)).unwrap();
    }
    std::fs::copy(&bpe, hps.join("bpe_simple_vocab_16e6.txt.gz")).unwrap();
    compare_scores(
        "tiny HPSv2",
        "scores",
        &gpu,
        &items(&images),
        |device, items| {
            let scorer = Hpsv2Score::load(&hps.join("tiny_hpsv2.pt"), device)
                .unwrap()
                .with_batch_size(4);
            scorer.score_values(items).unwrap()
        },
    );
}

#[test]
fn imagereward_of_the_tiny_imagereward_matches_the_cpu() {
    let Some(gpu) = device_under_test() else {
        return;
    };
    let (Some(checkpoint), Some(images)) = (tiny_imagereward(), shared("data/captioned-images"))
    else {
        return;
    };
    compare_scores(
        "tiny ImageReward",
        "rewards",
        &gpu,
        &items(&images),
        |device, items| {
            let scorer = ImageRewardScore::load(&checkpoint, device)
                .unwrap()
                .with_batch_size(4);
            scorer.score_values(items).unwrap()
        },
    );
}
