//! End-to-end tests of the pretrained scorers in the CLI: `score`/`rank --model
//! imagereward|clip|pickscore|hpsv2` and `eval --model ...`/`--baseline ...`, with the tiny random
//! CLIP and PickScore of `tests/fixtures/pretrained`, the tiny HPSv2 of `tests/fixtures/hpsv2` and
//! the tiny ImageReward of `shared/fixtures/tiny-imagereward`, on real images of `shared/data`.
//! ImageReward's, PickScore's and HPSv2's scores are held to their reference code's
//! (`reference.json`), CLIP score to the library's. Skipped, with the reason printed, when the
//! shared folder is absent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use scoring::{Device, PretrainedScorer, PretrainedScorerKind as PretrainedKind};
use serde_json::Value;

mod common;
use common::{bin, json, ok, run, s, stderr, tmp, world};

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A path under the shared folder, or `None` with the reason printed.
fn shared(relative: &str) -> Option<PathBuf> {
    paths::shared_or_skip!(relative)
}

fn tiny_clip() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pretrained/tiny-clip")
}

/// The tiny CLIP with OpenAI's merges file beside it (the fixture has no tokenizer.json), as a
/// user without one would lay it out; `None` when the shared merges file is absent.
fn tiny_clip_folder(dir: &Path) -> Option<PathBuf> {
    let bpe = shared("data/clip-bpe/bpe_simple_vocab_16e6.txt.gz")?;
    std::fs::create_dir_all(dir).unwrap();
    for file in [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ] {
        std::fs::copy(tiny_clip().join(file), dir.join(file)).unwrap();
    }
    std::fs::copy(bpe, dir.join("bpe_simple_vocab_16e6.txt.gz")).unwrap();
    Some(dir.to_path_buf())
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The tiny PickScore (PickScore's layout at toy sizes) laid out as [`tiny_clip_folder`] lays
/// out the tiny CLIP.
fn tiny_pickscore_folder(dir: &Path) -> Option<PathBuf> {
    let bpe = shared("data/clip-bpe/bpe_simple_vocab_16e6.txt.gz")?;
    std::fs::create_dir_all(dir).unwrap();
    let fixture = fixtures().join("pretrained/tiny-pickscore");
    for file in [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ] {
        std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
    std::fs::copy(bpe, dir.join("bpe_simple_vocab_16e6.txt.gz")).unwrap();
    Some(dir.to_path_buf())
}

/// The tiny HPSv2 checkpoint with its OpenCLIP config and OpenAI's merges file beside it (it is
/// not ViT-H-14, so its sizes are read from the config); returns the checkpoint's path.
fn tiny_hpsv2(dir: &Path) -> Option<PathBuf> {
    let bpe = shared("data/clip-bpe/bpe_simple_vocab_16e6.txt.gz")?;
    std::fs::create_dir_all(dir).unwrap();
    for file in ["tiny_hpsv2.pt", "open_clip_config.json"] {
        std::fs::copy(fixtures().join("hpsv2").join(file), dir.join(file)).unwrap();
    }
    std::fs::copy(bpe, dir.join("bpe_simple_vocab_16e6.txt.gz")).unwrap();
    Some(dir.join("tiny_hpsv2.pt"))
}

/// The tiny ImageReward as a user would lay it out: the checkpoint with `med_config.json` and
/// `vocab.txt` beside it, plus `vit_config.json`, since its 40-wide image encoder is not one of
/// BLIP's (the number of heads is in no tensor). Returns the checkpoint's path in `dir`.
fn tiny_imagereward(fixture: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for file in ["ImageReward.pt", "med_config.json", "vocab.txt"] {
        std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture.join("fixture_config.json")).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("vit_config.json"),
        config["model"]["vit"].to_string(),
    )
    .unwrap();
    dir.join("ImageReward.pt")
}

fn reference(fixture: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture.join("reference.json")).unwrap()).unwrap()
}

/// The official reward of prompt `p` with image `i`.
fn official(reference: &Value, p: usize, i: usize) -> f64 {
    reference["reward"]["values"][p][i].as_f64().unwrap()
}

/// `generation_id -> (score, the other columns)` of a scores file `rewardlab eval` wrote.
fn read_scores(path: &Path) -> HashMap<String, Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("generation_id,prompt_id,score"),
        "{header}"
    );
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let values = fields[2..].iter().map(|v| v.parse().unwrap()).collect();
            (fields[0].to_string(), values)
        })
        .collect()
}

/// Tolerance against the official rewards: exact to float rounding, the fixture's JPEG included
/// (decoded as Pillow decodes it; the pretrained crate's parity tests measure 1.5e-8).
const OFFICIAL_TOLERANCE: f64 = 1e-6;

#[test]
fn score_and_rank_with_imagereward_reproduce_the_official_inference_rank() {
    let (Some(fixture), Some(data)) = (shared("fixtures/tiny-imagereward"), shared("data")) else {
        return;
    };
    let dir = tmp("pretrained-rank");
    let checkpoint = tiny_imagereward(&fixture, &dir.join("model"));
    let r = reference(&fixture);
    let group = &r["inference_rank"][0];
    let p = group["prompt_index"].as_u64().unwrap() as usize;
    let prompt = r["prompts"][p]["prompt"].as_str().unwrap();
    let indices: Vec<usize> = group["image_indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap() as usize)
        .collect();
    let images: Vec<String> = indices
        .iter()
        .map(|&i| s(&data.join(r["images"][i]["file"].as_str().unwrap())).to_string())
        .collect();
    let call = |command: &str, flags: &[&str]| -> Vec<String> {
        [
            command,
            "--model",
            "imagereward",
            "--checkpoint",
            s(&checkpoint),
        ]
        .iter()
        .chain(flags)
        .map(|a| a.to_string())
        .chain(["--prompt".to_string(), prompt.to_string()])
        .chain(images.iter().cloned())
        .collect()
    };

    // Batches of 3 over 4 images: two forward passes.
    let scored = json(&refs(&call("score", &["--json", "--batch-size", "3"])));
    for (k, &i) in indices.iter().enumerate() {
        let row = &scored[k];
        assert_eq!(row["image"].as_str().unwrap(), images[k]);
        assert_eq!(row["heads"].as_object().unwrap().len(), 1, "{row}");
        let got = row["heads"]["overall"]["score"].as_f64().unwrap();
        let want = official(&r, p, i);
        assert!(
            (got - want).abs() < OFFICIAL_TOLERANCE,
            "image {i}: {got} vs official {want}"
        );
    }

    // rank: best first; image k's place is the official rank[k].
    let ranked = json(&refs(&call("rank", &["--json"])));
    let ranked = ranked.as_array().unwrap();
    let official_rank: Vec<u64> = group["rank"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(ranked.len(), images.len());
    for (k, image) in images.iter().enumerate() {
        let place = official_rank[k] as usize;
        assert_eq!(ranked[place - 1]["rank"], place);
        assert_eq!(ranked[place - 1]["image"].as_str().unwrap(), image);
    }
    let table = ok(&refs(&call("rank", &["--top", "2"])));
    assert_eq!(table.lines().count(), 4, "{table}");
    assert!(table.contains("ImageReward's reward"), "{table}");

    // The tiny checkpoint alone cannot be sized: the error says which file gives the sizes.
    let out = run(&[
        "score",
        "--model",
        "imagereward",
        "--checkpoint",
        s(&fixture.join("ImageReward.pt")),
        "--prompt",
        prompt,
        &images[0],
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("number of heads") && err.contains("vit_config.json"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn score_with_clip_gives_the_librarys_clip_score_on_both_heads() {
    let dir = tmp("pretrained-clip");
    let (Some(images), Some(encoder)) = (
        shared("data/captioned-images"),
        tiny_clip_folder(&dir.join("clip")),
    ) else {
        return;
    };
    let prompt = "a facial photo of a tabby cat";
    let files: Vec<PathBuf> = ["chelsea.png", "rocket.jpg", "horse.png", "page.png"]
        .iter()
        .map(|f| images.join(f))
        .collect();
    let mut cmd = vec![
        "score",
        "--model",
        "clip",
        "--encoder",
        s(&encoder),
        "--prompt",
        prompt,
        "--json",
    ];
    cmd.extend(files.iter().map(|f| s(f)));
    let scored = json(&cmd);
    let items: Vec<(String, PathBuf)> = files
        .iter()
        .map(|f| (prompt.to_string(), f.clone()))
        .collect();
    let want = PretrainedScorer::load(PretrainedKind::ClipScore, &encoder, 1, &Device::flex())
        .unwrap()
        .score_values(&items)
        .unwrap();
    for (k, w) in want.iter().enumerate() {
        let heads = &scored[k]["heads"];
        assert_eq!(heads.as_object().unwrap().len(), 2, "{heads}");
        for head in ["overall", "alignment"] {
            let got = heads[head]["score"].as_f64().unwrap();
            assert!((got - w).abs() < 1e-6, "{head} of image {k}: {got} vs {w}");
        }
        assert!(*w >= 0.0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `score --model pickscore` and `score --model hpsv2` on the captioned images give the scores
/// that PickScore's README code and `hpsv2.img_score.score` gave for the tiny models.
#[test]
fn score_with_pickscore_and_hpsv2_reproduces_their_reference_code() {
    let dir = tmp("pretrained-pick-hps");
    let (Some(images), Some(pick), Some(hps)) = (
        shared("data/captioned-images"),
        tiny_pickscore_folder(&dir.join("pickscore")),
        tiny_hpsv2(&dir.join("hpsv2")),
    ) else {
        return;
    };
    for (model, flag, path, reference, tolerance) in [
        (
            "pickscore",
            "--encoder",
            &pick,
            fixtures().join("pretrained/tiny-pickscore/reference.json"),
            // About 90 times a cosine held to 1e-5.
            1e-3,
        ),
        (
            "hpsv2",
            "--checkpoint",
            &hps,
            fixtures().join("hpsv2/reference.json"),
            1e-5,
        ),
    ] {
        let r: Value = serde_json::from_str(&std::fs::read_to_string(reference).unwrap()).unwrap();
        let names: Vec<&str> = r["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let prompt = r["prompts"][2].as_str().unwrap();
        let mut cmd = vec![
            "score".to_string(),
            "--model".into(),
            model.into(),
            flag.into(),
            s(path).into(),
            "--prompt".into(),
            prompt.into(),
            "--json".into(),
        ];
        cmd.extend(names.iter().map(|n| s(&images.join(n)).to_string()));
        let scored = json(&refs(&cmd));
        let mut worst = 0f64;
        for (k, _) in names.iter().enumerate() {
            let heads = &scored[k]["heads"];
            assert_eq!(heads.as_object().unwrap().len(), 1, "{model}: {heads}");
            let got = heads["overall"]["score"].as_f64().unwrap();
            let want = r["scores"]["values"][2][k].as_f64().unwrap();
            worst = worst.max((got - want).abs());
        }
        assert!(worst < tolerance, "{model}: worst difference {worst}");
        println!("score --model {model}: max |score - reference| over 8 images {worst:.2e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The reference grid (every prompt of `reference.json` with every image) as a dataset: the
/// images copied beside a CSV, imported with `import table`, ranked by image number.
fn reference_grid(r: &Value, data: &Path, dir: &Path) -> PathBuf {
    let mut csv = String::from("prompt,id,image,rank\n");
    for (i, image) in r["images"].as_array().unwrap().iter().enumerate() {
        let file = image["file"].as_str().unwrap();
        std::fs::create_dir_all(dir.join(file).parent().unwrap()).unwrap();
        std::fs::copy(data.join(file), dir.join(file)).unwrap();
        for (p, prompt) in r["prompts"].as_array().unwrap().iter().enumerate() {
            let text = prompt["prompt"].as_str().unwrap().replace('"', "\"\"");
            csv.push_str(&format!("\"{text}\",p{p}-i{i},{file},{}\n", i + 1));
        }
    }
    let src = dir.join("grid.csv");
    std::fs::write(&src, csv).unwrap();
    let ds = dir.join("ds");
    ok(&[
        "import",
        "table",
        s(&src),
        s(&ds),
        "--map",
        "prompt=prompt",
        "--map",
        "generation_id=id",
        "--map",
        "image=image",
        "--map",
        "rank=rank",
    ]);
    ds
}

#[test]
fn eval_with_imagereward_scores_the_reference_grid_as_the_official_code() {
    let (Some(fixture), Some(data)) = (shared("fixtures/tiny-imagereward"), shared("data")) else {
        return;
    };
    let dir = tmp("pretrained-grid");
    let checkpoint = tiny_imagereward(&fixture, &dir.join("model"));
    let r = reference(&fixture);
    let ds = reference_grid(&r, &data, &dir);
    let out = dir.join("out");
    // Batches of 5 over 4 prompts x 12 images: most batches mix prompts.
    let m = json(&[
        "eval",
        "--dataset",
        s(&ds),
        "--model",
        "imagereward",
        "--checkpoint",
        s(&checkpoint),
        "--batch-size",
        "5",
        "--resamples",
        "50",
        "--out",
        s(&out),
        "--json",
    ]);
    assert_eq!(m["split"], "all");
    assert!(
        m["scored_by"].as_str().unwrap().starts_with("imagereward"),
        "{}",
        m["scored_by"]
    );
    // With no --baseline, the evaluated model is not its own baseline.
    let baselines: Vec<&String> = m["baselines"].as_object().unwrap().keys().collect();
    assert_eq!(baselines, ["random"]);
    let scores = read_scores(&out.join("scores.csv"));
    assert_eq!(scores.len(), 48);
    let mut worst: f64 = 0.0;
    for p in 0..4 {
        for i in 0..12 {
            let got = scores[&format!("p{p}-i{i}")][0];
            worst = worst.max((got - official(&r, p, i)).abs());
        }
    }
    println!("eval --model imagereward: max |reward - official| over 48 pairs {worst:.2e}");
    assert!(worst < OFFICIAL_TOLERANCE, "{worst}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn eval_compares_with_every_pretrained_baseline_on_the_hpd_gallery() {
    let dir = tmp("pretrained-hpd");
    let (Some(src), Some(fixture), Some(encoder), Some(pick), Some(hps)) = (
        shared("data/hpd-gallery/annotations.json"),
        shared("fixtures/tiny-imagereward"),
        tiny_clip_folder(&dir.join("clip")),
        tiny_pickscore_folder(&dir.join("pickscore")),
        tiny_hpsv2(&dir.join("hpsv2")),
    ) else {
        return;
    };
    let checkpoint = tiny_imagereward(&fixture, &dir.join("model"));
    let ds = dir.join("hpd");
    ok(&["import", "hpd", s(&src), s(&ds)]);
    // Any external scorer: the image number modulo 7.
    let ids = ok(&["validate", s(&ds), "--list-generations"]);
    let mut external = String::from("generation_id,score\n");
    for line in ids.lines().skip(1) {
        let id = line.split(',').next().unwrap();
        external.push_str(&format!("{id},{}\n", id.parse::<u64>().unwrap() % 7));
    }
    let file = dir.join("external.csv");
    std::fs::write(&file, external).unwrap();
    let out = dir.join("out");
    let m = json(&[
        "eval",
        "--dataset",
        s(&ds),
        "--scores",
        s(&file),
        "--baseline",
        "clip-score",
        "--encoder",
        s(&encoder),
        "--baseline",
        "imagereward",
        "--checkpoint",
        s(&checkpoint),
        "--baseline",
        "pickscore",
        "--pickscore",
        s(&pick),
        "--baseline",
        "hpsv2",
        "--hpsv2",
        s(&hps),
        "--batch-size",
        "8",
        "--resamples",
        "50",
        "--out",
        s(&out),
        "--json",
    ]);
    for name in ["clip-score", "imagereward", "pickscore", "hpsv2"] {
        let b = &m["baselines"][name];
        let acc = b["pairwise_accuracy_pooled"]["value"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{name}: {b}");
        println!("tiny random {name} on the HPD gallery: pooled pairwise accuracy {acc:.3}");
    }

    // Each baseline's scores are kept, and they are what the library computes.
    let clip = read_scores(&out.join("scores-clip-score.csv"));
    let reward = read_scores(&out.join("scores-imagereward.csv"));
    let pickscore = read_scores(&out.join("scores-pickscore.csv"));
    let hpsv2 = read_scores(&out.join("scores-hpsv2.csv"));
    assert_eq!(
        [clip.len(), reward.len(), pickscore.len(), hpsv2.len()],
        [75; 4]
    );
    let gallery: Value = serde_json::from_str(&std::fs::read_to_string(&src).unwrap()).unwrap();
    let mut items = Vec::new();
    let mut checked = Vec::new();
    for entry in gallery.as_array().unwrap().iter().take(2) {
        for image in entry["images"].as_array().unwrap().iter().take(3) {
            let file = image["file"].as_str().unwrap();
            let path = src.parent().unwrap().join(file);
            checked.push(path.file_stem().unwrap().to_string_lossy().into_owned());
            items.push((entry["prompt"].as_str().unwrap().to_string(), path));
        }
    }
    for (kind, path, table) in [
        (PretrainedKind::ClipScore, encoder.clone(), &clip),
        (PretrainedKind::ImageReward, checkpoint.clone(), &reward),
        (PretrainedKind::PickScore, pick.clone(), &pickscore),
        (PretrainedKind::Hpsv2, hps.clone(), &hpsv2),
    ] {
        let want = PretrainedScorer::load(kind, &path, 4, &Device::flex())
            .unwrap()
            .score_values(&items)
            .unwrap();
        for (id, w) in checked.iter().zip(want) {
            let row = &table[id];
            // Batches of 8 and of 4 may round differently in the last bits (PickScore's are a
            // cosine times about 90).
            assert!(
                (row[0] - w).abs() < 1e-5 * w.abs().max(1.0),
                "{}: {id}: {row:?} vs {w}",
                kind.name()
            );
            if kind == PretrainedKind::ClipScore {
                assert_eq!(row[1], row[0], "the alignment head has the same score");
            }
        }
    }

    // A kept scores file evaluates back to the baseline's figures.
    let again = json(&[
        "eval",
        "--dataset",
        s(&ds),
        "--scores",
        s(&out.join("scores-imagereward.csv")),
        "--baseline",
        "none",
        "--resamples",
        "50",
        "--out",
        s(&dir.join("again")),
        "--json",
    ]);
    assert_eq!(
        again["pairwise_accuracy_pooled"]["value"],
        m["baselines"]["imagereward"]["pairwise_accuracy_pooled"]["value"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_or_stray_model_flags_are_named() {
    let fail = |args: &[&str], want: &[&str]| {
        let out = run(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        for w in want {
            assert!(err.contains(w), "{args:?}: {err}");
        }
    };
    fail(
        &["score", "--model", "imagereward", "--prompt", "p", "a.png"],
        &["--model imagereward needs --checkpoint FILE"],
    );
    fail(
        &["rank", "--prompt", "p", "a.png"],
        &["--run <RUN>|--model <MODEL>"],
    );
    fail(
        &[
            "score", "--run", "r", "--model", "clip", "--prompt", "p", "a.png",
        ],
        &["cannot be used with"],
    );
    let clip = tiny_clip();
    fail(
        &[
            "score",
            "--model",
            "imagereward",
            "--checkpoint",
            "x.pt",
            "--encoder",
            s(&clip),
            "--prompt",
            "p",
            "a.png",
        ],
        &["--encoder is for --model clip or --model pickscore"],
    );
    fail(
        &[
            "score",
            "--model",
            "pickscore",
            "--encoder",
            "a",
            "--pickscore",
            "b",
            "--prompt",
            "p",
            "x.png",
        ],
        &["--encoder and --pickscore both give pickscore; give one"],
    );
    fail(
        &["score", "--model", "hpsv2", "--prompt", "p", "x.png"],
        &["--model hpsv2 needs --checkpoint FILE (or --hpsv2 FILE)"],
    );
    fail(
        &[
            "score", "--run", "r", "--hpsv2", "h.pt", "--prompt", "p", "x.png",
        ],
        &["--hpsv2 is for --model hpsv2"],
    );

    // eval: a baseline without its model, and a model flag nothing uses.
    let dir = tmp("pretrained-flags");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("test.json");
    std::fs::write(
        &src,
        r#"[{"id": "p1", "prompt": "a red circle", "generations": ["p1/0.webp", "p1/1.webp"], "ranking": [1, 2]}]"#,
    )
    .unwrap();
    let ds = dir.join("ds");
    ok(&["import", "imagereward-test", s(&src), s(&ds)]);
    let scores = dir.join("scores.csv");
    std::fs::write(&scores, "generation_id,score\np1/0,1\np1/1,0\n").unwrap();
    let eval = |extra: &[&str]| -> Vec<String> {
        ["eval", "--dataset", s(&ds), "--scores", s(&scores)]
            .iter()
            .chain(extra)
            .map(|a| a.to_string())
            .collect()
    };
    let call = |extra: &[&str], want: &[&str]| fail(&refs(&eval(extra)), want);
    call(
        &["--baseline", "clip-score"],
        &["baseline `clip-score` cannot run here", "--encoder DIR"],
    );
    call(
        &["--baseline", "imagereward"],
        &[
            "baseline `imagereward` cannot run here",
            "--checkpoint FILE",
        ],
    );
    call(
        &["--baseline", "pickscore"],
        &["baseline `pickscore` cannot run here", "--pickscore DIR"],
    );
    call(
        &["--baseline", "random", "--hpsv2", "h.pt"],
        &["--hpsv2 FILE is given, but neither --model hpsv2 nor --baseline hpsv2 uses it"],
    );
    call(
        &["--baseline", "random", "--encoder", s(&clip)],
        &["--encoder DIR is given, but neither --model clip nor --baseline clip-score uses it"],
    );
    // An annotation-only dataset has no images to score: the error names the baseline.
    call(
        &["--baseline", "clip-score", "--encoder", s(&clip)],
        &["clip-score scores images", "p1/0", "not on disk"],
    );
    call(
        &["--model", "clip", "--encoder", s(&clip)],
        &["cannot be used with"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `eval-matrix` over the tiny CLIP score and HPSv2 on the HPD sample (ten annotators, so a human
/// ceiling) and a synthetic world: one row per model and dataset. A second run that adds the
/// tiny PickScore scores PickScore alone, reads the others' scores from its cache, and gives
/// them the same figures.
#[test]
fn eval_matrix_scores_each_model_once_and_a_new_model_adds_its_rows() {
    let dir = tmp("eval-matrix");
    let (Some(src), Some(clip), Some(pick), Some(hps)) = (
        shared("data/hpd-gallery/annotations.json"),
        tiny_clip_folder(&dir.join("clip")),
        tiny_pickscore_folder(&dir.join("pickscore")),
        tiny_hpsv2(&dir.join("hpsv2")),
    ) else {
        return;
    };
    let hpd = dir.join("hpd");
    ok(&["import", "hpd", s(&src), s(&hpd)]);
    let synthetic = world("eval-matrix-world", "12", "3");
    let out = dir.join("matrix");
    let datasets = format!("{},{}", s(&hpd), s(&synthetic));
    let matrix = |models: &str| {
        let o = bin()
            .args([
                "eval-matrix",
                "--models",
                models,
                "--datasets",
                &datasets,
                "--resamples",
                "50",
                "--out",
                s(&out),
                "--json",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let m: Value = serde_json::from_slice(&o.stdout).unwrap();
        (m, stderr(&o))
    };
    let two = format!("clip={},hpsv2={}", s(&clip), s(&hps));
    let (first, log) = matrix(&two);
    let rows = first["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{first}");
    assert_eq!(log.matches(": scoring ").count(), 4, "{log}");
    for row in rows {
        let acc = row["pairwise_accuracy_pooled"]["value"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{row}");
        assert!(row["tie_aware_accuracy"]["ci95"].is_array(), "{row}");
        // The HPD sample has ten annotators per prompt; the synthetic world's prompts are each
        // ranked by one of its annotators, so it has no ceiling.
        let ceiling = &row["human_ceiling"]["value"];
        assert_eq!(
            ceiling.is_f64(),
            row["dataset"] != "synthetic-world",
            "{row}"
        );
    }

    let three = format!("{two},pickscore={}", s(&pick));
    let (second, log) = matrix(&three);
    assert_eq!(log.matches(": cached").count(), 4, "{log}");
    assert_eq!(log.matches(": scoring ").count(), 2, "{log}");
    let rows2 = second["rows"].as_array().unwrap();
    assert_eq!(rows2.len(), 6);
    for row in rows {
        let again = rows2
            .iter()
            .find(|r| r["model"] == row["model"] && r["dataset"] == row["dataset"])
            .unwrap();
        assert_eq!(again, row, "a cached model's figures changed");
    }
    let md = std::fs::read_to_string(out.join("matrix.md")).unwrap();
    assert!(
        md.contains("human ceiling") && md.contains("| pickscore |"),
        "{md}"
    );
    assert!(out.join("matrix.parquet").is_file());

    // A folder with other files is not taken for a matrix's without --force.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let o = run(&[
        "eval-matrix",
        "--models",
        &three,
        "--datasets",
        &datasets,
        "--out",
        s(&out),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("holds notes.txt"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&synthetic).unwrap();
}

#[test]
fn audit_of_hpsv2_on_the_hpd_gallery_counts_overtakes_against_the_peoples_rankings() {
    let dir = tmp("pretrained-audit");
    let (Some(src), Some(hps)) = (
        shared("data/hpd-gallery/annotations.json"),
        tiny_hpsv2(&dir.join("hpsv2")),
    ) else {
        return;
    };
    let ds = dir.join("hpd");
    ok(&["import", "hpd", s(&src), s(&ds)]);
    let out = dir.join("audit");
    let a = json(&[
        "audit",
        "--model",
        "hpsv2",
        "--checkpoint",
        s(&hps),
        "--dataset",
        s(&ds),
        "--prompts",
        "2",
        "--perturbations",
        "jpeg-q10,border",
        "--out",
        s(&out),
        "--resamples",
        "100",
        "--json",
    ]);
    assert_eq!(a["reference"], "human rankings");
    assert_eq!(a["prompts"], 2);
    assert_eq!(a["rows"].as_array().unwrap().len(), 2);
    // Ten annotators rank each prompt's images: their mean ranks order most pairs strictly.
    let images = a["images"].as_u64().unwrap();
    let pairs = a["rows"][1]["overtakes"]["n"].as_u64().unwrap();
    assert!(images >= 4 && pairs > 0, "{a}");
    // HPSv2 fills only the overall head.
    let o = run(&[
        "audit",
        "--model",
        "hpsv2",
        "--checkpoint",
        s(&hps),
        "--dataset",
        s(&ds),
        "--head",
        "fidelity",
        "--out",
        s(&dir.join("other")),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("has no fidelity head; it has overall"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
