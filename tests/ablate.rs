//! End-to-end test of `rewardlab ablate` on the tiny study `experiments/ablation-smoke.toml`
//! (an 80-prompt world, 2 x 2 cells of two epochs: seconds on 2 cores): cells trained and
//! evaluated, results aggregated, finished cells skipped on a rerun, a cell whose evaluation is
//! missing evaluated again, bad keys reported with the file and the key.

use std::path::Path;

mod common;
use common::{bin, tmp};

const SMOKE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../experiments/ablation-smoke.toml"
);

fn ablate(cache: &Path, args: &[&str]) -> std::process::Output {
    bin()
        .arg("ablate")
        .args(args)
        .env("REWARDLAB_CACHE", cache)
        .output()
        .expect("the binary runs")
}

fn ok(cache: &Path, args: &[&str]) -> String {
    let out = ablate(cache, args);
    assert!(
        out.status.success(),
        "rewardlab ablate {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_study_runs_resumes_and_aggregates() {
    let cache = tmp("ablate-cache");
    let out = tmp("ablate-out");
    let o = out.to_str().unwrap();

    let listed = ok(&cache, &[SMOKE, "--dry-run"]);
    assert!(listed.contains("4 cells"), "{listed}");
    assert!(listed.contains("likert_loss=mse__seed=1"), "{listed}");

    let first = ok(&cache, &[SMOKE, "--out", o]);
    assert!(
        first.contains("[1/4] likert_loss=ordinal__seed=0"),
        "{first}"
    );
    assert!(first.contains("trained 2 epochs"), "{first}");
    assert!(first.contains("pairwise accuracy 0."), "{first}");
    for f in [
        "results.md",
        "results.parquet",
        "cells.parquet",
        "contrasts.parquet",
        "study.toml",
        "overall-pairwise-accuracy-by-likert-loss.svg",
        "overall-pairwise-accuracy-by-likert-loss.png",
        "fidelity-mae-by-likert-loss.png",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(
        md.contains("| likert_loss | mean | std | 95% CI | per seed |"),
        "{md}"
    );
    assert!(md.contains("| likert_loss | mse vs ordinal |"), "{md}");
    assert!(md.contains("`fidelity.exact_match`"), "{md}");
    let cell = out.join("cells/likert_loss=mse__seed=0");
    for f in [
        "cell.json",
        "summary.json",
        "scores.json",
        "eval-test/metrics.json",
    ] {
        assert!(cell.join(f).exists(), "{f} missing");
    }
    let svg =
        std::fs::read_to_string(out.join("overall-pairwise-accuracy-by-likert-loss.svg")).unwrap();
    assert!(svg.contains("ordinal") && svg.contains("mse"));

    // A rerun skips every finished cell and gives the same results.
    let table = std::fs::read(out.join("results.parquet")).unwrap();
    let again = ok(&cache, &[SMOKE, "--out", o]);
    assert_eq!(
        again.matches("finished earlier, skipped").count(),
        4,
        "{again}"
    );
    assert_eq!(std::fs::read(out.join("results.parquet")).unwrap(), table);

    // Killed after `cell.json` but before the manifest's rewrite: the training's manifest,
    // without the evaluation's files. The rerun skips the cell and completes its manifest.
    let manifest = std::fs::read_to_string(cell.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"scores.json\""), "{manifest}");
    let mut m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let files = m["files"].as_object_mut().unwrap();
    files.retain(|k, _| k != "scores.json" && k != "cell.json" && !k.starts_with("eval-test"));
    std::fs::write(cell.join("manifest.json"), m.to_string()).unwrap();
    ok(&cache, &[SMOKE, "--out", o]);
    assert_eq!(
        std::fs::read_to_string(cell.join("manifest.json")).unwrap(),
        manifest
    );

    // A cell whose training finished but whose evaluation did not is only evaluated.
    std::fs::remove_file(cell.join("cell.json")).unwrap();
    let resumed = ok(&cache, &[SMOKE, "--out", o]);
    assert!(resumed.contains("trained earlier; evaluated"), "{resumed}");
    assert_eq!(std::fs::read(out.join("results.parquet")).unwrap(), table);

    // The study changed under a finished cell: an error, never a silent reuse.
    let changed = out.join("changed.toml");
    std::fs::write(
        &changed,
        std::fs::read_to_string(SMOKE)
            .unwrap()
            .replace("epochs = 2", "epochs = 3"),
    )
    .unwrap();
    let res = ablate(&cache, &[changed.to_str().unwrap(), "--out", o]);
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("another config"), "{err}");

    std::fs::remove_dir_all(&out).unwrap();
    std::fs::remove_dir_all(&cache).unwrap();
}

#[test]
fn bad_keys_name_the_file_and_the_key() {
    let dir = tmp("ablate-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let cache = dir.join("cache");
    let smoke = std::fs::read_to_string(SMOKE).unwrap();
    for (name, text, expect) in [
        (
            "axis.toml",
            smoke.replace("key = \"model.likert_loss\"", "key = \"model.likert_los\""),
            "model.likert_los",
        ),
        (
            "value.toml",
            smoke.replace(
                "values = [\"ordinal\", \"mse\"]",
                "values = [\"ordinal\", \"l1\"]",
            ),
            "l1",
        ),
        (
            "base.toml",
            smoke.replace("lr = 0.003", "learning_rate = 0.003"),
            "learning_rate",
        ),
        (
            "section.toml",
            smoke.replace("resamples = 200", "resample = 200"),
            "resample",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let res = ablate(&cache, &[path.to_str().unwrap(), "--dry-run"]);
        assert!(!res.status.success(), "{name} was accepted");
        let err = String::from_utf8_lossy(&res.stderr);
        assert!(err.contains(name), "{name}: {err}");
        assert!(err.contains(expect), "{name}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
