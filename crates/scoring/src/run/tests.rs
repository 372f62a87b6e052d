//! A trained run scores new images as its own held-out evaluation scored them: the scratch model
//! (every head, ratings on the scale), a CLIP run through its checkpoint's frozen layers, and a
//! BERT text tower. A folder without a finished run is an error. Tests needing the shared
//! folder skip, saying why, when it is absent.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use annotations::Dataset;
use train::{GroundTruthTable, TrainConfig, TrainOptions, TrainReport};

use super::*;
use crate::image_scores;

struct TestWorld {
    ds: Dataset,
    truth: GroundTruthTable,
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rewardlab-scoring-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The world the tests share (written once per test process).
fn world() -> &'static TestWorld {
    static W: OnceLock<TestWorld> = OnceLock::new();
    W.get_or_init(|| {
        let dir = tmp("world");
        let world = synth::generate(&synth::WorldConfig::small(100, 3));
        world.write_files(&dir).unwrap();
        TestWorld {
            ds: world.dataset(&dir),
            truth: GroundTruthTable::from_truth(&world.truth),
        }
    })
}

fn train_run(config: &TrainConfig, name: &str) -> (PathBuf, TrainReport) {
    let w = world();
    let out = tmp(name);
    let opts = TrainOptions {
        out: out.clone(),
        ground_truth: Some(w.truth.clone()),
        ..Default::default()
    };
    let report = train::train(&w.ds, config, &opts, &Device::flex()).unwrap();
    (out, report)
}

/// `../shared` beside the checkout (or `$REWARDLAB_SHARED`), when present.
fn shared_dir() -> Option<PathBuf> {
    let dir = paths::test_shared_dir!();
    dir.is_dir().then_some(dir)
}

fn pretrained_config(kind: Option<model::PretrainedKind>, path: &Path, freeze: f64) -> TrainConfig {
    let mut config = TrainConfig::smoke();
    config.encoder.kind = kind;
    config.encoder.path = Some(path.to_path_buf());
    config.encoder.freeze = freeze;
    config.optim.epochs = 2;
    config
}

/// The tiny CLIP (it has no tokenizer.json) with OpenAI's merges file from the shared folder
/// beside it, copied once into a temporary folder: the binary finds merges beside the model or
/// through `$REWARDLAB_SHARED`, never in the build tree. Call only where the shared folder is.
fn tiny_clip() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let src =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pretrained/tiny-clip");
        let dir = tmp("tiny-clip");
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "config.json",
            "model.safetensors",
            "preprocessor_config.json",
        ] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        let bpe = paths::test_shared_dir!().join(pretrained::clip_tokenizer::BPE_IN_SHARED);
        let beside = dir.join(pretrained::clip_tokenizer::CLIP_BPE_FILE);
        std::fs::copy(bpe, beside).unwrap();
        dir
    })
    .clone()
}

/// The overall score `heldout_scores.csv` gives generation `id`, if it was held out.
fn heldout_overall(run: &Path, id: &str) -> Option<f64> {
    let csv = std::fs::read_to_string(run.join("heldout_scores.csv")).unwrap();
    let line = csv.lines().find(|l| l.starts_with(&format!("{id},")))?;
    Some(line.split(',').nth(2).unwrap().parse().unwrap())
}

/// Scores the first image of prompt `p` and checks it against the held-out evaluation's score.
fn scores_as_heldout(run: &Path, p: usize) {
    let scorer = RunScorer::load(run, &Device::flex()).unwrap();
    let ds = &world().ds;
    let ix = ds.index();
    let g = &ix.generations[ix.prompts[p].generations[0]];
    let path = ds.image_path(g.image.as_ref().unwrap());
    let scored = scorer
        .score_files(&[(ix.prompts[p].text.clone(), path)])
        .unwrap();
    let overall = scored[0].heads[annotations::Criterion::Overall]
        .as_ref()
        .unwrap()
        .score;
    assert!(overall.is_finite());
    if let Some(want) = heldout_overall(run, &g.id) {
        assert!((want - overall).abs() < 1e-4, "{want} vs {overall}");
    }
}

#[test]
fn a_folder_without_a_finished_run_is_an_error() {
    let err = RunScorer::load(&tmp("nothing"), &Device::flex()).unwrap_err();
    assert!(err.to_string().contains("has the run finished?"), "{err}");
}

#[test]
fn a_run_scores_every_head_as_its_heldout_evaluation_did() {
    let mut config = TrainConfig::smoke();
    config.optim.epochs = 2;
    let (dir, report) = train_run(&config, "scratch");
    let scorer = RunScorer::load(&dir, &Device::flex()).unwrap();
    assert_eq!(scorer.heads(), Criterion::ALL.to_vec());
    let ds = &world().ds;
    let ix = ds.index();
    let items: Vec<(String, PathBuf)> = ix
        .generations
        .iter()
        .take(70)
        .map(|g| {
            (
                ix.prompts[g.prompt].text.clone(),
                ds.image_path(g.image.as_ref().unwrap()),
            )
        })
        .collect();
    let scores = scorer.score_files(&items).unwrap();
    assert_eq!(scores.len(), items.len());
    for s in &scores {
        assert_eq!(s.heads.iter().count(), 4);
        assert!(
            s.heads[annotations::Criterion::Overall]
                .as_ref()
                .unwrap()
                .rating
                .is_none()
        );
        let r = s.heads[annotations::Criterion::Fidelity]
            .as_ref()
            .unwrap()
            .rating
            .unwrap();
        assert!((1.0..=7.0).contains(&r), "{r}");
    }
    // The images the held-out evaluation scored get the same scores.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * (1.0 + a.abs());
    let mut compared = 0;
    for (g, held) in &report.heldout.scores {
        if let Some(s) = scores.get(*g) {
            let (want, got) = (
                held[annotations::Criterion::Overall].unwrap(),
                s.heads[annotations::Criterion::Overall]
                    .as_ref()
                    .unwrap()
                    .score,
            );
            assert!(close(want, got), "generation {g}: {want} vs {got}");
            compared += 1;
        }
    }
    assert!(compared > 0, "no held-out image among the first 70");
    // The evaluation's view: every head's score, ratings for the Likert heads.
    let view = image_scores(&scores[0]);
    assert_eq!(
        view.score[annotations::Criterion::Overall],
        Some(
            scores[0].heads[annotations::Criterion::Overall]
                .as_ref()
                .unwrap()
                .score
        )
    );
    assert_eq!(view.rating[annotations::Criterion::Overall], None);
    assert!(view.rating[Criterion::Fidelity].is_some());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_clip_run_scores_through_its_frozen_layers() {
    // The tiny CLIP has no tokenizer.json: its tokenizer is built from OpenAI's BPE merges in
    // ../shared/data/clip-bpe.
    if shared_dir().is_none() {
        eprintln!("skipped: ../shared (CLIP's BPE merges) not found; set REWARDLAB_SHARED");
        return;
    }
    let config = pretrained_config(Some(model::PretrainedKind::Clip), &tiny_clip(), 0.5);
    let (dir, _) = train_run(&config, "clip");
    scores_as_heldout(&dir, 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_bert_text_tower_trains_and_scores_as_its_heldout_evaluation_did() {
    let Some(shared) = shared_dir() else {
        eprintln!("skipped: ../shared (all-MiniLM-L6-v2) not found; set REWARDLAB_SHARED");
        return;
    };
    let minilm = shared.join("models/all-MiniLM-L6-v2");
    let config = pretrained_config(Some(model::PretrainedKind::Bert), &minilm, 0.7);
    let (dir, report) = train_run(&config, "bert");
    let spec = report.model_config.pretrained.clone().unwrap();
    // int(0.7 * 6) = 4 frozen layers; the images keep the scratch encoder.
    assert_eq!((spec.image_frozen, spec.text_frozen), (None, 4));
    scores_as_heldout(&dir, 1);
    let _ = std::fs::remove_dir_all(dir);
}
