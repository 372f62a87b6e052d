//! Crash consistency (issue 20, item 7): `train`, `embed` and `ablate` killed with SIGKILL at 20
//! points each, spread over an uninterrupted run's duration, then continued as a user would (`--resume`,
//! or a fresh start where nothing could be resumed), end with exactly the files of a run that was
//! never interrupted: the same weights, held-out figures and cache chunks, byte for byte.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{SMOKE, TINY_CLIP, bin, ok, run, s, tmp, world};

const KILLS: u64 = 20;

/// The `k`-th of `KILLS` points in `[0, span)`: evenly spread, each shifted by a fixed
/// pseudo-random fraction of its slot, so that the points are the same on every run.
fn kill_point(k: u64, span: Duration) -> Duration {
    let jitter = (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f64 / (1u64 << 24) as f64;
    span.mul_f64((k as f64 + jitter) / KILLS as f64)
}

/// Starts `args`, kills it with SIGKILL after `after` (if it is still running); whether it was
/// killed.
fn kill_after(args: &[&str], after: Duration) -> bool {
    let mut child = bin()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while t0.elapsed() < after {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    child.wait().unwrap();
    killed
}

/// The manifest's file entries (path -> SHA-256), without those that legitimately differ
/// between an interrupted and an uninterrupted run.
fn digests(dir: &Path, skip: &[&str]) -> Vec<(String, String)> {
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    m["files"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !skip.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.clone(), v["sha256"].as_str().unwrap().to_string()))
        .collect()
}

fn heldout(run: &Path) -> Value {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    v["heldout"].clone()
}

#[test]
fn train_killed_at_twenty_points_resumes_to_the_uninterrupted_run() {
    let w = world("crash-train-world", "60", "6");
    let fresh = |out: &PathBuf| {
        vec![
            "train",
            "--config",
            SMOKE,
            "--dataset",
            s(&w),
            "--out",
            s(out),
            "--epochs",
            "4",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    let reference = tmp("crash-train-reference");
    let t0 = Instant::now();
    let args = fresh(&reference);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let span = t0.elapsed();
    // summary.json holds the wall time and, after a resume, where it resumed from; metrics.csv
    // and burn's logs hold times too. The weights, checkpoints and held-out scores must match.
    let skip = [
        "summary.json",
        "metrics.csv",
        "train/",
        "valid/",
        "checkpoint/",
    ];
    let expected = digests(&reference, &skip);
    let mut killed = 0;
    for k in 0..KILLS {
        let out = tmp(&format!("crash-train-{k}"));
        let mut args = fresh(&out);
        killed += usize::from(kill_after(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            kill_point(k, span),
        ));
        // As a user would: resume, or start again where nothing can be resumed.
        let resumed = run(&[
            "train",
            "--dataset",
            s(&w),
            "--out",
            s(&out),
            "--resume",
            "--epochs",
            "4",
        ]);
        let err = String::from_utf8_lossy(&resumed.stderr);
        assert!(!err.contains("panicked"), "kill {k}: {err}");
        if !resumed.status.success() {
            args.push("--force".into());
            ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        }
        assert_eq!(
            digests(&out, &skip),
            expected,
            "kill {k} at {:?}",
            kill_point(k, span)
        );
        assert_eq!(heldout(&out), heldout(&reference), "kill {k}");
        let _ = std::fs::remove_dir_all(&out);
    }
    assert!(
        killed >= KILLS as usize / 2,
        "only {killed} of {KILLS} runs were still running when killed"
    );
}

#[test]
fn embed_killed_at_twenty_points_resumes_to_the_uninterrupted_cache() {
    let shared = std::env::var_os("REWARDLAB_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared").into());
    if !shared.join("data/clip-bpe").is_dir() {
        println!("skipped: ../shared/data/clip-bpe (the tiny CLIP's tokenizer) not found");
        return;
    }
    let w = world("crash-embed-world", "120", "6");
    let args = |out: &Path| {
        [
            "embed",
            "--config",
            SMOKE,
            "--dataset",
            s(&w),
            "--out",
            s(out),
            "--encoder",
            "clip",
            "--encoder-path",
            TINY_CLIP,
            "--freeze",
            "0.5",
        ]
        .map(String::from)
        .to_vec()
    };
    let reference = tmp("crash-embed-reference");
    let t0 = Instant::now();
    ok(&args(&reference)
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    let span = t0.elapsed();
    let expected = digests(&reference, &[]);
    for k in 0..KILLS {
        let out = tmp(&format!("crash-embed-{k}"));
        let a = args(&out);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        kill_after(&a, kill_point(k, span));
        // `embed` resumes by itself: the same command again.
        let again = run(&a);
        let err = String::from_utf8_lossy(&again.stderr);
        assert!(
            again.status.success() && !err.contains("panicked"),
            "kill {k}: {err}"
        );
        assert_eq!(
            digests(&out, &[]),
            expected,
            "kill {k} at {:?}",
            kill_point(k, span)
        );
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// Each cell's files that hold results rather than times, by their SHA-256 in the cell's manifest.
fn cell_digests(study: &Path) -> Vec<(String, Vec<(String, String)>)> {
    let mut cells: Vec<(String, Vec<(String, String)>)> = std::fs::read_dir(study.join("cells"))
        .unwrap()
        .map(|e| {
            let dir = e.unwrap().path();
            let keep = digests(&dir, &[])
                .into_iter()
                .filter(|(f, _)| {
                    [
                        "model.safetensors",
                        "heldout_scores.csv",
                        "scores.json",
                        "tokenizer.json",
                    ]
                    .contains(&f.as_str())
                })
                .collect();
            (
                dir.file_name().unwrap().to_string_lossy().into_owned(),
                keep,
            )
        })
        .collect();
    cells.sort();
    cells
}

#[test]
fn ablate_killed_at_twenty_points_resumes_to_the_uninterrupted_study() {
    let study = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../experiments/ablation-smoke.toml"
    );
    // One cache for all, so that the world is generated once, before the timing.
    let cache = tmp("crash-ablate-cache");
    let ablate = |out: &Path| {
        let mut c = bin();
        c.args(["ablate", study, "--out", s(out)])
            .env("REWARDLAB_CACHE", &cache);
        c
    };
    let ok_ablate = |out: &Path| {
        let o = ablate(out).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() && !err.contains("panicked"), "{err}");
    };
    ok_ablate(&tmp("crash-ablate-warmup"));
    let reference = tmp("crash-ablate-reference");
    let t0 = Instant::now();
    ok_ablate(&reference);
    let span = t0.elapsed();
    let expected = cell_digests(&reference);
    assert_eq!(expected.len(), 4);
    let mut killed = 0;
    for k in 0..KILLS {
        let out = tmp(&format!("crash-ablate-{k}"));
        let mut child = ablate(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while t.elapsed() < kill_point(k, span) && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        killed += usize::from(child.try_wait().unwrap().is_none());
        let _ = child.kill();
        child.wait().unwrap();
        // `ablate` skips finished cells and resumes the others: the same command again.
        ok_ablate(&out);
        assert_eq!(
            cell_digests(&out),
            expected,
            "kill {k} at {:?}",
            kill_point(k, span)
        );
        let _ = std::fs::remove_dir_all(&out);
    }
    assert!(
        killed >= KILLS as usize / 2,
        "only {killed} of {KILLS} studies were still running when killed"
    );
}
