//! The pretrained baselines on the tiny fixtures: CLIP score against a direct computation through
//! `pretrained`, ImageReward's mixed-prompt batches against the official rewards of
//! `shared/fixtures/tiny-imagereward/reference.json`, and the registry's and the dataset's
//! errors. Tests needing the shared folder skip, saying why, when it is absent.

use std::path::{Path, PathBuf};

use eval::{Baseline, BaselineContext, ImageRef, Registry};
use pretrained::clip::ClipModel;
use pretrained::clip_tokenizer::ClipTokenizer;
use pretrained::preprocess::ClipImageProcessor;
use serde_json::Value;

use super::*;
use crate::baselines::{PretrainedBaseline, PretrainedPaths, register};

fn shared(relative: &str) -> Option<PathBuf> {
    paths::shared_or_skip!(relative)
}

fn tiny_clip() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pretrained/tiny-clip")
}

fn tiny_pickscore() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pretrained/tiny-pickscore")
}

/// The tiny CLIP (which has no tokenizer.json) with OpenAI's merges file beside it, in a fresh
/// folder named `name`; `None` when the shared merges file is absent.
fn tiny_clip_folder(name: &str) -> Option<PathBuf> {
    fixture_folder(&tiny_clip(), name)
}

/// A tiny CLIP-layout fixture's model files with OpenAI's merges file beside them, in a fresh
/// folder named `name`; `None` when the shared merges file is absent.
fn fixture_folder(fixture: &Path, name: &str) -> Option<PathBuf> {
    let bpe = shared("data/clip-bpe/bpe_simple_vocab_16e6.txt.gz")?;
    let dir = std::env::temp_dir().join(format!("rewardlab-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ] {
        std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
    std::fs::copy(bpe, dir.join(CLIP_BPE_FILE)).unwrap();
    Some(dir)
}

/// The tiny ImageReward with `med_config.json`, `vocab.txt` and [`VIT_CONFIG_FILE`] beside it
/// (its 40-wide image encoder is not one of BLIP's), in a fresh folder; returns the checkpoint.
fn tiny_imagereward(fixture: &Path) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rewardlab-tiny-ir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["ImageReward.pt", "med_config.json", "vocab.txt"] {
        std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture.join("fixture_config.json")).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join(VIT_CONFIG_FILE),
        config["model"]["vit"].to_string(),
    )
    .unwrap();
    dir.join("ImageReward.pt")
}

/// Loading a model draws its lazy initial weights from burn's one process-wide generator; holding
/// training's init lock keeps a concurrent `train` test's seeded initialisation reproducible.
fn init_guard() -> std::sync::MutexGuard<'static, ()> {
    train::run::INIT_LOCK
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn refs<'a>(items: &'a [(String, PathBuf)], ids: &'a [String]) -> Vec<ImageRef<'a>> {
    items
        .iter()
        .zip(ids)
        .map(|((prompt, image), id)| ImageRef {
            generation_id: id,
            prompt,
            image: Some(image.clone()),
        })
        .collect()
}

#[test]
fn clip_score_is_the_clipped_scaled_cosine_of_the_models_features() {
    let _guard = init_guard();
    let (Some(images), Some(folder)) = (
        shared("data/captioned-images"),
        tiny_clip_folder("clip-score-cosines"),
    ) else {
        return;
    };
    let device = Device::flex();
    let captions: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(images.join("captions.json")).unwrap())
            .unwrap();
    // Every image with two of the captions: both prompts in every batch, and 16 items.
    let mut items = Vec::new();
    for c in &captions {
        for p in [&captions[0], &captions[1]] {
            items.push((
                p["caption"].as_str().unwrap().to_string(),
                images.join(c["image"].as_str().unwrap()),
            ));
        }
    }
    let scorer = ClipScore::load(&folder, &device).unwrap();
    let cosines = scorer.with_batch_size(5).cosines(&items).unwrap();
    let scores = ClipScore::load(&folder, &device)
        .unwrap()
        .with_batch_size(1)
        .score_values(&items)
        .unwrap();

    // The same through the model's public API, one pair at a time.
    let checkpoint = ClipModel::from_folder(tiny_clip(), &device).unwrap();
    let tokenizer = ClipTokenizer::from_bpe_file(folder.join(CLIP_BPE_FILE)).unwrap();
    let processor: ClipImageProcessor = checkpoint.processor.unwrap();
    let model = checkpoint.model;
    let mut positive = 0;
    for (i, (prompt, image)) in items.iter().enumerate() {
        let (ids, mask) = tokenizer
            .encode_batch(&[prompt.as_str()])
            .unwrap()
            .to_tensors(&device);
        let text = model.get_text_features(ids, Some(mask)).unwrap();
        let pixels = processor.preprocess_files(&[image], &device).unwrap();
        let img = model.get_image_features(pixels).unwrap();
        // logits_per_image is exp(logit_scale) * cos.
        let logit = values(model.logits_per_image(img, text)).unwrap()[0];
        let scale = values(model.scale()).unwrap()[0];
        let want = logit / scale;
        assert!(
            (cosines[i] - want).abs() < 1e-5,
            "item {i}: cos {} vs {want}",
            cosines[i]
        );
        let want_score = 2.5 * want.max(0.0);
        assert!((scores[i] - want_score).abs() < 1e-5, "item {i}");
        positive += usize::from(want > 0.0);
    }
    // The fixture's random model gives positive cosines here (the clipped branch, max(cos, 0) at
    // a negative cosine, is the same expression checked item by item above).
    assert!(0 < positive, "{cosines:?}");
    assert!(scores.iter().all(|&s| s >= 0.0));
    std::fs::remove_dir_all(&folder).unwrap();
}

#[test]
fn imagereward_batches_mixing_prompts_give_the_official_rewards() {
    let _guard = init_guard();
    let (Some(fixture), Some(data)) = (shared("fixtures/tiny-imagereward"), shared("data")) else {
        return;
    };
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("reference.json")).unwrap())
            .unwrap();
    let prompts: Vec<&str> = reference["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["prompt"].as_str().unwrap())
        .collect();
    let files: Vec<PathBuf> = reference["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| data.join(i["file"].as_str().unwrap()))
        .collect();
    // Image-major, so that every batch of 5 mixes prompts.
    let mut items = Vec::new();
    let mut want = Vec::new();
    for (i, file) in files.iter().enumerate() {
        for (p, prompt) in prompts.iter().enumerate() {
            items.push((prompt.to_string(), file.clone()));
            want.push(reference["reward"]["values"][p][i].as_f64().unwrap());
        }
    }
    let checkpoint = tiny_imagereward(&fixture);
    let scorer = PretrainedScorer::load(
        PretrainedScorerKind::ImageReward,
        &checkpoint,
        5,
        &Device::flex(),
    )
    .unwrap();
    let got = scorer.score_values(&items).unwrap();
    let worst = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    println!("imagereward, mixed batches of 5: max |reward - official| {worst:.2e}");
    // Exact to float rounding, the JPEG included (decoded as Pillow decodes it).
    assert!(worst < 1e-6, "{got:?}\n{want:?}");

    // The official per-prompt path of the library agrees too.
    let PretrainedScorer::ImageReward(ir) = &scorer else {
        unreachable!()
    };
    let per_prompt = ir.model().score_paths(prompts[1], &files).unwrap();
    for (i, r) in per_prompt.iter().enumerate() {
        assert!((f64::from(*r) - got[i * prompts.len() + 1]).abs() < 1e-6);
    }

    // The rows of score_files carry the overall head only.
    let rows = scorer.score_files(&items[..2]).unwrap();
    assert_eq!(rows[0].heads.iter().count(), 1);
    assert_eq!(
        rows[1].heads[annotations::Criterion::Overall]
            .as_ref()
            .unwrap()
            .score,
        got[1]
    );

    // Without vit_config.json the tiny checkpoint cannot be sized, and the error says where the
    // sizes go.
    let err = ImageRewardScore::load(&fixture.join("ImageReward.pt"), &Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("number of heads") && err.contains(VIT_CONFIG_FILE),
        "{err}"
    );
    std::fs::remove_dir_all(checkpoint.parent().unwrap()).unwrap();
}

/// PickScore on the tiny random model with PickScore's layout, against the scores that
/// PickScore's README code gave (`tests/fixtures/pretrained/tiny-pickscore/reference.json`):
/// every caption with every image, in batches that mix prompts.
#[test]
fn pickscore_matches_its_readme_computation_on_a_tiny_model() {
    let _guard = init_guard();
    let (Some(images), Some(folder)) = (
        shared("data/captioned-images"),
        fixture_folder(&tiny_pickscore(), "pickscore-parity"),
    ) else {
        return;
    };
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(tiny_pickscore().join("reference.json")).unwrap(),
    )
    .unwrap();
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
    let mut items = Vec::new();
    let mut want = Vec::new();
    for (i, prompt) in prompts.iter().enumerate() {
        for (j, file) in files.iter().enumerate() {
            items.push((prompt.to_string(), file.clone()));
            want.push(reference["scores"]["values"][i][j].as_f64().unwrap());
        }
    }
    let scorer =
        PretrainedScorer::load(PretrainedScorerKind::PickScore, &folder, 7, &Device::flex())
            .unwrap();
    let PretrainedScorer::PickScore(pick) = &scorer else {
        panic!("not a PickScore scorer");
    };
    let scale = reference["logit_scale"][0]
        .as_f64()
        .or(reference["logit_scale"].as_f64())
        .unwrap()
        .exp();
    assert!(
        (pick.scale() - scale).abs() < 1e-6 * scale,
        "{} vs {scale}",
        pick.scale()
    );
    let got = scorer.score_values(&items).unwrap();
    // A score is a float32 cosine times about 90: its cosine is held to 1e-5.
    let worst = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-5 * scale, "worst difference {worst}");
    assert_eq!(scorer.kind().heads(), &[Criterion::Overall]);
}

/// HPSv2 on the tiny checkpoint that the `hpsv2` package made, against `hpsv2.img_score.score`
/// (`tests/fixtures/hpsv2/reference.json`): every caption with every image, in batches of 5 that
/// mix prompts, the sizes read from the OpenCLIP config beside the checkpoint.
#[test]
fn hpsv2_matches_the_hpsv2_packages_scores_on_a_tiny_checkpoint() {
    let _guard = init_guard();
    let (Some(images), Some(bpe)) = (
        shared("data/captioned-images"),
        shared("data/clip-bpe/bpe_simple_vocab_16e6.txt.gz"),
    ) else {
        return;
    };
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hpsv2");
    let dir = std::env::temp_dir().join(format!("rewardlab-hpsv2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["tiny_hpsv2.pt", OPEN_CLIP_CONFIG_FILE] {
        std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
    std::fs::copy(bpe, dir.join(CLIP_BPE_FILE)).unwrap();
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("reference.json")).unwrap())
            .unwrap();
    let mut items = Vec::new();
    let mut want = Vec::new();
    for (i, prompt) in reference["prompts"].as_array().unwrap().iter().enumerate() {
        for (j, image) in reference["images"].as_array().unwrap().iter().enumerate() {
            items.push((
                prompt.as_str().unwrap().to_string(),
                images.join(image.as_str().unwrap()),
            ));
            want.push(reference["scores"]["values"][i][j].as_f64().unwrap());
        }
    }
    let scorer = PretrainedScorer::load(
        PretrainedScorerKind::Hpsv2,
        &dir.join("tiny_hpsv2.pt"),
        5,
        &Device::flex(),
    )
    .unwrap();
    let got = scorer.score_values(&items).unwrap();
    let worst = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-5, "worst difference {worst}");

    // With a config that does not fit it, the checkpoint is refused, naming a tensor whose
    // shape differs.
    let config = std::fs::read_to_string(dir.join(OPEN_CLIP_CONFIG_FILE)).unwrap();
    std::fs::write(
        dir.join(OPEN_CLIP_CONFIG_FILE),
        config.replace("\"embed_dim\": 20", "\"embed_dim\": 16"),
    )
    .unwrap();
    let error = PretrainedScorer::load(
        PretrainedScorerKind::Hpsv2,
        &dir.join("tiny_hpsv2.pt"),
        5,
        &Device::flex(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("cannot load hpsv2")
            && error.contains("misshaped: checkpoint key `visual.proj`"),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn baselines_need_their_flag_and_a_dataset_with_images() {
    let _guard = init_guard();
    let ctx = BaselineContext::default();
    let mut registry = Registry::builtin();
    register(&mut registry, &PretrainedPaths::default(), &Device::flex());
    let err = registry
        .create("clip-score", &ctx)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("--encoder DIR"), "{err}");
    let err = registry
        .create("imagereward", &ctx)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("--checkpoint FILE"), "{err}");
    let err = registry
        .create("pickscore", &ctx)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("--pickscore DIR"), "{err}");
    assert_eq!(registry.defaults(&ctx), vec!["random".to_string()]);

    let missing = Path::new("/nonexistent/ImageReward.pt").to_path_buf();
    register(
        &mut registry,
        &PretrainedPaths {
            clip_score: Some(tiny_clip()),
            imagereward: Some(missing.clone()),
            batch_size: 4,
            ..PretrainedPaths::default()
        },
        &Device::flex(),
    );
    let err = registry
        .create("imagereward", &ctx)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("/nonexistent/ImageReward.pt does not exist"),
        "{err}"
    );
    // Listing what can run loads nothing (the model is loaded on first use).
    assert_eq!(
        registry.defaults(&ctx),
        vec!["random".to_string(), "clip-score".to_string()]
    );

    // The images are checked before the model is loaded: the baseline's model path here does
    // not exist, and the error is about the image.
    let baseline = PretrainedBaseline::new(
        PretrainedScorerKind::ImageReward,
        missing,
        4,
        &Device::flex(),
    );
    let no_path = [ImageRef {
        generation_id: "g1",
        prompt: "p",
        image: None,
    }];
    let err = baseline.score(&no_path).err().unwrap().to_string();
    assert!(
        err.contains("imagereward") && err.contains("generation `g1` has no image path"),
        "{err}"
    );
    let absent = [ImageRef {
        generation_id: "g2",
        prompt: "p",
        image: Some(PathBuf::from("/nonexistent/g2.webp")),
    }];
    let err = baseline.score(&absent).err().unwrap().to_string();
    assert!(
        err.contains("generation `g2`") && err.contains("/nonexistent/g2.webp, is not on disk"),
        "{err}"
    );
}

#[test]
fn clip_score_baseline_scores_both_heads_it_claims() {
    let _guard = init_guard();
    let (Some(images), Some(folder)) = (
        shared("data/captioned-images"),
        tiny_clip_folder("clip-score-baseline"),
    ) else {
        return;
    };
    let items: Vec<(String, PathBuf)> = ["chelsea.png", "rocket.jpg", "horse.png"]
        .iter()
        .map(|f| ("a facial photo of a tabby cat".to_string(), images.join(f)))
        .collect();
    let ids: Vec<String> = (0..items.len()).map(|i| format!("g{i}")).collect();
    let mut registry = Registry::builtin();
    register(
        &mut registry,
        &PretrainedPaths {
            clip_score: Some(folder.clone()),
            batch_size: 2,
            ..PretrainedPaths::default()
        },
        &Device::flex(),
    );
    let baseline = registry
        .create("clip-score", &BaselineContext::default())
        .unwrap();
    let table = baseline.score_table(&refs(&items, &ids)).unwrap();
    let want = ClipScore::load(&folder, &Device::flex())
        .unwrap()
        .score_values(&items)
        .unwrap();
    for (id, w) in ids.iter().zip(want) {
        let s = table[id];
        // Batches of 2 and of 16 may round differently in the last bits.
        for head in [Criterion::Overall, Criterion::Alignment] {
            let got = s.score[head].unwrap();
            assert!((got - w).abs() < 1e-6, "{id} {head}: {got} vs {w}");
        }
        assert_eq!(s.score[Criterion::Fidelity], None);
        assert!(s.rating.is_empty());
    }
    std::fs::remove_dir_all(&folder).unwrap();
}
