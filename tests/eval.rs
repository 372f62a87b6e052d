//! End-to-end tests of `rewardlab eval` and `rewardlab rank`: external scores on a tiny
//! annotation-only dataset (figures worked out by hand), bad scores files, a smoke-trained run on
//! a small synthetic world (seconds on 2 cores), best-of-N ordering, the sensitivity audit of that
//! run against the world's ground truth, and the human ceiling of the
//! real HPD sample (skipped, with the reason printed, when `../shared/data` is absent).

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{json, ok, run, s, stderr, tmp};

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A tiny annotation-only dataset (ImageReward's test.json format, images absent): three
/// prompts ranked [1,2,2], [2,1,3,4] and [3,1,2].
fn tiny_dataset(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let src = dir.join("test.json");
    let entry = |id: &str, prompt: &str, ranking: &[u32]| {
        serde_json::json!({
            "id": id,
            "prompt": prompt,
            "generations": (0..ranking.len()).map(|k| format!("{id}/{k}.webp")).collect::<Vec<_>>(),
            "ranking": ranking,
        })
    };
    let entries = serde_json::json!([
        entry("p1", "a red circle", &[1, 2, 2]),
        entry("p2", "two blue squares", &[2, 1, 3, 4]),
        entry("p3", "a cat on a mat", &[3, 1, 2]),
    ]);
    std::fs::write(&src, entries.to_string()).unwrap();
    let ds = dir.join("ds");
    ok(&["import", "imagereward-test", s(&src), s(&ds)]);
    ds
}

const GOOD_SCORES: &str = "generation_id,score\n\
    p1/0,3\np1/1,2\np1/2,1\n\
    p2/0,1\np2/1,2\np2/2,0.5\np2/3,0.1\n\
    p3/0,0\np3/1,0\np3/2,1\n";

#[test]
fn eval_external_scores_on_an_annotation_only_dataset() {
    let dir = tmp("eval-scores");
    let ds = tiny_dataset(&dir);
    let scores = dir.join("scores.csv");
    std::fs::write(&scores, GOOD_SCORES).unwrap();
    let out = dir.join("out");
    let m = json(&[
        "eval",
        "--dataset",
        s(&ds),
        "--scores",
        s(&scores),
        "--out",
        s(&out),
        "--json",
    ]);
    // strict pairs: p1 2 (both right), p2 6 (all right), p3 3: (1 over 0) a predicted tie,
    // (2 over 0) right, (1 over 2) wrong -> 9 of 11 pooled; per prompt (1 + 1 + 1/3) / 3
    let close = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-12;
    assert!(
        close(&m["pairwise_accuracy_pooled"]["value"], 9.0 / 11.0),
        "{m:#}"
    );
    assert!(close(
        &m["pairwise_accuracy_per_prompt"]["value"],
        7.0 / 9.0
    ));
    assert_eq!(m["strict_pairs"], 11);
    assert_eq!(m["tied_pairs"], 1);
    assert_eq!(m["split"], "all");
    for key in [
        "pairwise_accuracy_pooled",
        "pairwise_accuracy_per_prompt",
        "kendall_tau_b",
        "spearman",
        "recall_at_k",
        "filter_at_k",
        "tie_aware_accuracy",
        "acc23",
    ] {
        assert!(m[key]["value"].is_f64(), "{key}: {m:#}");
        let ci = m[key]["ci95"]
            .as_array()
            .unwrap_or_else(|| panic!("{key} has no ci95"));
        assert!(ci[0].as_f64().unwrap() <= ci[1].as_f64().unwrap(), "{key}");
    }
    // no annotator ids: no ceiling; the random baseline runs by default, the oracle cannot
    assert!(m.get("human_ceiling").is_none());
    assert!(m["baselines"]["random"]["pairwise_accuracy_pooled"]["value"].is_f64());
    assert!(m["baselines"].get("oracle").is_none());
    // the files, and the same JSON on stdout and on disk
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(on_disk, m);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("| pairwise accuracy, pooled (ImageReward) | 11 | 0.818"),
        "{report}"
    );
    let parquet = std::fs::read(out.join("per_prompt.parquet")).unwrap();
    assert_eq!(&parquet[..4], b"PAR1");

    // nothing is overwritten without --force; the default folder sits beside the scores file
    let again = run(&[
        "eval",
        "--dataset",
        s(&ds),
        "--scores",
        s(&scores),
        "--out",
        s(&out),
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    ok(&[
        "eval",
        "--dataset",
        s(&ds),
        "--scores",
        s(&scores),
        "--out",
        s(&out),
        "--force",
    ]);
    // a baseline named twice runs once
    let twice = json(&[
        "eval",
        "--dataset",
        s(&ds),
        "--scores",
        s(&scores),
        "--baseline",
        "random",
        "--baseline",
        "random",
        "--tie-threshold",
        "0.1",
        "--json",
        "--out",
        s(&dir.join("twice")),
    ]);
    assert_eq!(twice["baselines"].as_object().unwrap().len(), 1);
    assert_eq!(twice["tie_aware_accuracy"]["chosen_on"], "given");
    let text = ok(&[
        "eval",
        "--dataset",
        s(&ds),
        "--scores",
        s(&scores),
        "--baseline",
        "none",
    ]);
    assert!(
        text.contains("# Evaluation") && !text.contains("random"),
        "{text}"
    );
    assert!(dir.join("scores-eval/metrics.json").exists());
    // the oracle needs ground truth, and a run cannot score absent images
    let err = run(&[
        "eval",
        "--dataset",
        s(&ds),
        "--scores",
        s(&scores),
        "--baseline",
        "oracle",
        "--out",
        s(&dir.join("o")),
    ]);
    assert!(String::from_utf8_lossy(&err.stderr).contains("ground_truth.csv"));
    let err = run(&[
        "eval",
        "--dataset",
        s(&ds),
        "--run",
        s(&dir),
        "--out",
        s(&dir.join("r")),
    ]);
    assert!(String::from_utf8_lossy(&err.stderr).contains("annotation-only"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_scores_files_name_file_row_and_field() {
    let dir = tmp("eval-bad-scores");
    let ds = tiny_dataset(&dir);
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "not-a-number.csv",
            "generation_id,score\np1/0,1\np1/1,high\n",
            &[
                "not-a-number.csv",
                "row 2, field `score`: `high` is not a number",
            ],
        ),
        (
            "unknown.csv",
            "generation_id,score\np1/0,1\np9/0,2\n",
            &[
                "unknown.csv",
                "row 2, field `generation_id`: `p9/0` is not a generation",
            ],
        ),
        (
            "twice.csv",
            "generation_id,score\np1/0,1\np1/0,2\n\np1/1,inf\n",
            &[
                "row 2, field `generation_id`: `p1/0` is scored twice (first on row 1)",
                "row 4, field `score`: `inf` is not a finite number",
            ],
        ),
        (
            "header.csv",
            "id,score\np1/0,1\n",
            &[
                "header.csv",
                "row 0, field `generation_id`: no `generation_id` column",
            ],
        ),
        (
            "partial.csv",
            "generation_id,score\np1/0,1\np1/1,2\np1/2,3\n",
            &["no overall score for 7 of the evaluated images", "p2/0"],
        ),
    ];
    for (name, text, wants) in cases {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let out = dir.join(format!("{name}.out"));
        let r = run(&[
            "eval",
            "--dataset",
            s(&ds),
            "--scores",
            s(&file),
            "--out",
            s(&out),
        ]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "{name} was accepted");
        for want in wants {
            assert!(err.contains(want), "{name}: missing `{want}` in {err}");
        }
        assert!(!out.exists(), "{name}: an output folder was written");
    }
    // a file that is not there: its path, and the reason once
    let missing = dir.join("missing.csv");
    let r = run(&["eval", "--dataset", s(&ds), "--scores", s(&missing)]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("missing.csv"), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
    // a negative tie threshold is refused with its reason, not taken for a flag
    std::fs::write(dir.join("good.csv"), GOOD_SCORES).unwrap();
    let r = run(&[
        "eval",
        "--dataset",
        s(&ds),
        "--scores",
        s(&dir.join("good.csv")),
        "--tie-threshold",
        "-1",
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("--tie-threshold must be a number >= 0"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A small world and a smoke-trained run (about a second on 2 cores).
fn smoke_run(name: &str) -> (PathBuf, PathBuf) {
    let world = tmp(&format!("{name}-world"));
    let run_dir = tmp(&format!("{name}-run"));
    let smoke = concat!(env!("CARGO_MANIFEST_DIR"), "/../../experiments/smoke.toml");
    ok(&[
        "synth",
        "--prompts",
        "80",
        "--seed",
        "2",
        "--out",
        s(&world),
    ]);
    ok(&[
        "train",
        "--config",
        smoke,
        "--dataset",
        s(&world),
        "--out",
        s(&run_dir),
        "--epochs",
        "1",
    ]);
    (world, run_dir)
}

#[test]
fn eval_a_trained_run_on_its_test_split_with_baselines() {
    let (world, run_dir) = smoke_run("eval-run");
    let (w, r) = (s(&world), s(&run_dir));
    let m = json(&[
        "eval",
        "--run",
        r,
        "--dataset",
        w,
        "--json",
        "--resamples",
        "200",
    ]);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    let h = &summary["heldout"];
    // the same test prompts and pairs as the held-out evaluation at the end of training
    assert_eq!(m["split"], "test");
    assert_eq!(m["prompts"], h["prompts"]);
    assert_eq!(m["strict_pairs"], h["strict_pairs"]);
    let same = |a: &Value, b: &Value| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9;
    assert!(same(
        &m["pairwise_accuracy_pooled"]["value"],
        &h["overall"]["pairwise_accuracy"]
    ));
    let oracle = &m["baselines"]["oracle"];
    assert!(same(
        &oracle["pairwise_accuracy_pooled"]["value"],
        &h["overall"]["oracle"]
    ));
    assert!(same(
        &m["criteria"]["fidelity"]["spearman"]["value"],
        &h["fidelity"]["spearman_rating"]
    ));
    assert!(m["criteria"]["fidelity"]["mae"]["value"].is_f64());
    assert!(oracle["criteria"]["fidelity"].get("mae").is_none());
    assert!(m["baselines"]["random"].is_object());
    // PickScore's threshold comes from the run's validation prompts
    assert_eq!(m["tie_aware_accuracy"]["chosen_on"], "validation");
    // one rater per prompt: annotator ids, so the key is there, but no leave-one-out ceiling
    assert!(m["annotators"].as_u64().unwrap() > 1);
    assert!(
        m["human_ceiling"]["value"].is_null(),
        "{}",
        m["human_ceiling"]
    );
    assert_eq!(m["human_ceiling"]["n"], 0);
    assert!(m.get("annotator_agreement").is_none());
    let out = run_dir.join("eval-test");
    for f in [
        "metrics.json",
        "report.md",
        "per_prompt.parquet",
        "scores.csv",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    // the run's scores feed --scores back and give the same figure
    let again = json(&[
        "eval",
        "--dataset",
        w,
        "--scores",
        s(&out.join("scores.csv")),
        "--split",
        "test",
        "--split-from",
        r,
        "--json",
        "--resamples",
        "200",
        "--baseline",
        "none",
        "--out",
        s(&run_dir.join("again")),
    ]);
    assert_eq!(
        again["pairwise_accuracy_pooled"],
        m["pairwise_accuracy_pooled"]
    );
    // every prompt, no baseline
    let all = json(&[
        "eval",
        "--run",
        r,
        "--dataset",
        w,
        "--split",
        "all",
        "--baseline",
        "none",
        "--json",
        "--resamples",
        "50",
    ]);
    assert_eq!(all["prompts"], 80);
    assert_eq!(all["baselines"], serde_json::json!({}));
    let bad = run(&["eval", "--run", r, "--dataset", w, "--split", "holdout"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown split"));
    for d in [world, run_dir] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn rank_orders_images_best_first_by_the_overall_head() {
    let (world, run_dir) = smoke_run("rank");
    let r = s(&run_dir);
    let mut images: Vec<String> = std::fs::read_dir(world.join("images"))
        .unwrap()
        .map(|e| e.unwrap().path().to_str().unwrap().to_string())
        .collect();
    images.sort();
    images.truncate(5);
    // `COMMAND --run RUN --prompt TEXT FLAGS... IMAGE...`
    let call = |command: &str, flags: &[&str]| -> Vec<String> {
        [command, "--run", r, "--prompt", "a red circle"]
            .iter()
            .chain(flags)
            .map(|a| a.to_string())
            .chain(images.iter().cloned())
            .collect()
    };
    let scored = json(&args(&call("score", &["--json"])));
    let mut want: Vec<(f64, String)> = scored
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["heads"]["overall"]["score"].as_f64().unwrap(),
                v["image"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    want.sort_by(|a, b| b.0.total_cmp(&a.0));
    let ranked = json(&args(&call("rank", &["--json"])));
    let ranked = ranked.as_array().unwrap();
    assert_eq!(ranked.len(), 5);
    for (i, (v, (score, image))) in ranked.iter().zip(&want).enumerate() {
        assert_eq!(v["rank"], i + 1);
        assert_eq!(v["image"].as_str().unwrap(), image);
        assert_eq!(v["heads"]["overall"]["score"].as_f64().unwrap(), *score);
        assert!(v["heads"]["fidelity"]["rating"].is_f64());
    }
    let top = json(&args(&call("rank", &["--top", "2", "--json"])));
    assert_eq!(top.as_array().unwrap().len(), 2);
    let table = ok(&args(&call("rank", &["--top", "3"])));
    assert_eq!(table.lines().count(), 5, "{table}");
    assert!(
        table.lines().nth(1).unwrap().contains(&want[0].1),
        "{table}"
    );
    for d in [world, run_dir] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// The figures `tests/fixtures/eval/make_reference.py` computed with numpy from the raw HPD JSON.
fn hpd_reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/eval/reference.json"
    );
    let r: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(
        r["hpd_gallery"].is_object(),
        "reference.json was made without the HPD sample"
    );
    r["hpd_gallery"].clone()
}

#[test]
fn eval_on_the_hpd_sample_reports_the_human_ceiling() {
    let Some(src) = paths::shared_or_skip!("data/hpd-gallery/annotations.json") else {
        return;
    };
    let want = hpd_reference();
    let dir = tmp("eval-hpd");
    let ds = dir.join("hpd");
    ok(&["import", "hpd", s(&src), s(&ds)]);
    let ids = ok(&["validate", s(&ds), "--list-generations"]);
    // an arbitrary external scorer with many ties, the one the reference script uses: the
    // image number times 37, modulo 11
    let mut scores = String::from("generation_id,score\n");
    for line in ids.lines().skip(1) {
        let id = line.split(',').next().unwrap();
        let score = id.parse::<u64>().unwrap() * 37 % 11;
        scores.push_str(&format!("{id},{score}\n"));
    }
    let file = dir.join("scores.csv");
    std::fs::write(&file, scores).unwrap();
    let m = json(&[
        "eval",
        "--dataset",
        s(&ds),
        "--scores",
        s(&file),
        "--json",
        "--resamples",
        "200",
    ]);
    assert_eq!(m["annotators"], 10);
    let close = |got: &Value, want: &Value, what: &str| {
        let (g, w) = (got.as_f64().unwrap(), want.as_f64().unwrap());
        assert!((g - w).abs() < 1e-9, "{what}: got {g}, reference {w}");
    };
    let ceiling = &m["human_ceiling"];
    // 0.831 (each of 10 annotators against the mean rank of the other 9, 3,150 strict pairs)
    assert!(
        (ceiling["value"].as_f64().unwrap() - 0.831_111_111_111_111_1).abs() < 1e-9,
        "{ceiling}"
    );
    close(&ceiling["value"], &want["all"]["ceiling"], "ceiling");
    assert_eq!(ceiling["n"], 3150);
    let ci = ceiling["ci95"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() < 0.831 && ci[1].as_f64().unwrap() > 0.831);
    let agreement = &m["annotator_agreement"];
    assert_eq!(agreement["human_ceiling"], *ceiling);
    close(
        &agreement["vs_annotators"]["value"],
        &want["all"]["model"],
        "scorer vs annotators",
    );
    let rows = agreement["per_annotator"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    for (k, row) in rows.iter().enumerate() {
        let name = format!("a{:02}", k + 1);
        assert_eq!(row["annotator"], name.as_str());
        let w = &want["by_annotator"][&name];
        close(
            &row["model"]["value"],
            &w["model"],
            &format!("scorer vs {name}"),
        );
        close(
            &row["ceiling"]["value"],
            &w["ceiling"],
            &format!("ceiling of {name}"),
        );
        assert_eq!(row["model"]["n"], w["pairs"], "{name}");
    }
    close(
        &m["pairwise_accuracy_pooled"]["value"],
        &want["accuracy_pooled"],
        "pooled accuracy",
    );
    close(
        &m["pairwise_accuracy_per_prompt"]["value"],
        &want["accuracy_per_prompt"],
        "per-prompt accuracy",
    );
    close(
        &m["accuracy_vs_mean_rank"]["value"],
        &want["accuracy_vs_mean_rank"],
        "accuracy vs mean rank",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn audit_of_a_trained_run_reports_every_perturbation_against_the_ground_truth() {
    let (world, run_dir) = smoke_run("audit");
    let out = tmp("audit-out");
    let (w, r, o) = (s(&world), s(&run_dir), s(&out));
    let common = [
        "audit",
        "--run",
        r,
        "--dataset",
        w,
        "--out",
        o,
        "--prompts",
        "6",
    ];
    let a = json(&[&common[..], &["--resamples", "100", "--json"]].concat());
    assert_eq!(a["reference"], "ground truth");
    assert_eq!(
        (a["head"].as_str(), a["prompts"].as_u64()),
        (Some("overall"), Some(6))
    );
    let rows = a["rows"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["perturbation"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "saturation",
            "contrast",
            "sharpen",
            "jpeg-q10",
            "text",
            "border",
            "crop"
        ]
    );
    // Every figure agrees with the per-image table, and sits inside its interval.
    let table = std::fs::read_to_string(out.join("per_image.csv")).unwrap();
    let images = a["images"].as_u64().unwrap() as usize;
    assert_eq!(table.lines().count(), 1 + 7 * images);
    for row in rows {
        let name = row["perturbation"].as_str().unwrap();
        let changes: Vec<f64> = table
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f[2] == name)
            .map(|f| f[4].parse::<f64>().unwrap() - f[3].parse::<f64>().unwrap())
            .collect();
        assert_eq!(changes.len(), images);
        let mean = changes.iter().sum::<f64>() / images as f64;
        let rises = changes.iter().filter(|c| **c > 0.0).count() as f64 / images as f64;
        let value = |k: &str| row[k]["value"].as_f64().unwrap();
        assert!((value("mean_change") - mean).abs() < 1e-9, "{name}");
        assert!((value("rises") - rises).abs() < 1e-12, "{name}");
        for k in ["rises", "mean_change", "overtakes"] {
            let ci = &row[k]["ci95"];
            let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
            assert!(
                lo <= value(k) + 1e-12 && value(k) <= hi + 1e-12,
                "{name} {k}"
            );
        }
        assert!(row["overtakes"]["n"].as_u64().unwrap() > 0, "{name}");
    }
    let md = std::fs::read_to_string(out.join("audit.md")).unwrap();
    assert!(md.contains("| crop | top left 60%"), "{md}");
    assert!(
        !out.join("images").exists(),
        "the perturbed images are removed"
    );

    // A rerun into the same folder takes every pass from the kept scores and gives the same
    // report; a folder holding other files is refused without --force; a bad flag is named.
    let before = std::fs::read_to_string(out.join("audit.json")).unwrap();
    let again = run(&[&common[..], &["--resamples", "100"]].concat());
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("crop: ") && stderr(&again).contains("scores from the last run"),
        "{}",
        stderr(&again)
    );
    assert!(!stderr(&again).contains("scoring "), "{}", stderr(&again));
    assert_eq!(
        std::fs::read_to_string(out.join("audit.json")).unwrap(),
        before
    );
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let refused = run(&common);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("holds notes.txt"),
        "{}",
        stderr(&refused)
    );
    let bad = run(&[&common[..], &["--force", "--perturbations", "blur"]].concat());
    assert!(
        stderr(&bad).contains("unknown perturbation `blur`"),
        "{}",
        stderr(&bad)
    );
    ok(&[
        &common[..],
        &["--force", "--perturbations", "border", "--keep-images"],
    ]
    .concat());
    assert_eq!(
        std::fs::read_dir(out.join("images/border"))
            .unwrap()
            .count(),
        images
    );
    assert!(out.join("audit.json").is_file() && out.join("per_image.csv").is_file());
    std::fs::remove_dir_all(&world).unwrap();
    std::fs::remove_dir_all(&run_dir).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
}
