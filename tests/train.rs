//! End-to-end test of `rewardlab train` and `rewardlab score` on a small synthetic world, with
//! the smoke config (seconds on 2 cores).

use serde_json::Value;

mod common;
use common::{ok, run, tmp};

#[test]
fn train_then_score() {
    let world = tmp("train-world");
    let run_dir = tmp("train-run");
    let smoke = concat!(env!("CARGO_MANIFEST_DIR"), "/../../experiments/smoke.toml");
    let (w, r) = (world.to_str().unwrap(), run_dir.to_str().unwrap());
    ok(&["synth", "--prompts", "80", "--seed", "2", "--out", w]);
    let out = ok(&[
        "train",
        "--config",
        smoke,
        "--dataset",
        w,
        "--out",
        r,
        "--epochs",
        "2",
    ]);
    assert!(out.contains("epoch 2/2"), "{out}");
    assert!(out.contains("pairwise accuracy"), "{out}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    assert!(summary["heldout"]["overall"]["pairwise_accuracy"].is_f64());
    assert!(summary["heldout"]["overall"]["oracle"].is_f64());
    assert!(summary["heldout"]["fidelity"]["spearman_latent"].is_f64());
    assert!(summary["matrix"]["fidelity"]["fidelity"].is_f64());

    // a non-empty run folder is refused without --resume or --force
    let again = run(&["train", "--config", smoke, "--dataset", w, "--out", r]);
    assert!(!again.status.success());
    // resume to one more epoch
    let out = ok(&[
        "train",
        "--dataset",
        w,
        "--out",
        r,
        "--resume",
        "--epochs",
        "3",
    ]);
    assert!(
        out.contains("epoch 3/3") && !out.contains("epoch 2/3"),
        "{out}"
    );

    let images: Vec<String> = std::fs::read_dir(world.join("images"))
        .unwrap()
        .take(3)
        .map(|e| e.unwrap().path().to_str().unwrap().to_string())
        .collect();
    let mut args = vec!["score", "--run", r, "--prompt", "a red circle", "--json"];
    args.extend(images.iter().map(String::as_str));
    let scores: Value = serde_json::from_str(&ok(&args)).unwrap();
    assert_eq!(scores.as_array().unwrap().len(), 3);
    assert!(scores[0]["heads"]["alignment"]["rating"].is_f64());
    let mut args = vec!["score", "--run", r, "--prompt", "a red circle"];
    args.extend(images.iter().map(String::as_str));
    let table = ok(&args);
    assert_eq!(table.lines().count(), 5, "{table}");
}
