//! End-to-end tests of `rewardlab analyze` on every dataset format: a small multi-annotator
//! synthetic world (every statistic, every output file), ImageRewardDB's JSON, ranking-only
//! test.json, a generic CSV table, the real HPD and TIFA files in `../shared/data` (skipped, with
//! the reason printed, when absent); what is skipped and why; no overwrite without --force; an
//! invalid dataset refused with its file, row and field.

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{json, ok, run, s, tmp};

fn skipped(v: &Value) -> Vec<String> {
    v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["statistic"].as_str().unwrap().to_string())
        .collect()
}

fn analyze_json(ds: &Path, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "analyze",
        s(ds),
        "--out",
        s(out),
        "--json",
        "--resamples",
        "200",
    ];
    args.extend_from_slice(extra);
    json(&args)
}

/// Every file the report links to exists, and every table comes as Parquet and CSV.
fn check_outputs(out: &Path) -> String {
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for link in report.split("](").skip(1) {
        let target = link.split(')').next().unwrap();
        assert!(
            out.join(target).is_file(),
            "report links {target}, which is missing"
        );
    }
    let tables: Vec<PathBuf> = std::fs::read_dir(out.join("tables"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for t in tables
        .iter()
        .filter(|t| t.extension().unwrap() == "parquet")
    {
        assert!(
            t.with_extension("csv").is_file(),
            "{} has no CSV",
            t.display()
        );
    }
    for p in std::fs::read_dir(out.join("plots")).unwrap() {
        let p = p.unwrap().path();
        if p.extension().unwrap() == "svg" {
            assert!(p.with_extension("png").is_file());
            let png = std::fs::read(p.with_extension("png")).unwrap();
            assert_eq!(&png[1..4], b"PNG");
        }
    }
    assert!(out.join("analysis.json").is_file());
    report
}

#[test]
fn synthetic_world_with_three_raters_gets_every_statistic() {
    let dir = tmp("analyze-world");
    let world = dir.join("world");
    ok(&[
        "synth",
        "--out",
        s(&world),
        "--prompts",
        "40",
        "--raters-per-prompt",
        "3",
    ]);
    let out = dir.join("analysis");
    let v = analyze_json(&world, &out, &["--term", "red circle", "--ngrams", "5"]);
    // the keys scripts rely on
    for c in ["overall", "alignment", "fidelity", "harmlessness"] {
        let rho = v["correlations"]["spearman"]["overall"][c]
            .as_f64()
            .unwrap();
        assert!((-1.0..=1.0).contains(&rho));
        assert!(v["correlations"]["pearson"][c]["overall"].is_number());
    }
    assert_eq!(v["correlations"]["spearman"]["fidelity"]["fidelity"], 1.0);
    let ag = &v["agreement"];
    assert_eq!(ag["basis"], "rank");
    for k in ["pairwise_agreement", "krippendorff_alpha", "loo_ceiling"] {
        let x = ag[k]
            .as_f64()
            .unwrap_or_else(|| panic!("agreement.{k} missing: {ag:#}"));
        assert!((-1.0..=1.0).contains(&x), "{k} = {x}");
    }
    assert_eq!(v["structure"]["prompts"], 40);
    let tie_rate = v["structure"]["tie_rate"].as_f64().unwrap();
    assert!(tie_rate > 0.0 && tie_rate < 0.5);
    let effects = v["prompt_effects"].as_array().unwrap();
    // 12 default terms + "red circle" + 5 n-grams, 4 criteria each
    assert_eq!(effects.len(), (12 + 1 + 5) * 4);
    assert!(effects.iter().any(|e| e["term"] == "red circle"));
    assert_eq!(
        effects.iter().filter(|e| e["source"] == "ngram").count(),
        5 * 4
    );
    assert!(
        v["rank_vs_rating"]["overall"]["tau_b_mean"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(skipped(&v).is_empty(), "{:?}", v["skipped"]);
    let report = check_outputs(&out);
    for section in [
        "## Structure",
        "## Rating distributions",
        "## Relations between labels",
        "## Agreement between annotators",
        "## Prompt effects",
    ] {
        assert!(report.contains(section), "report lacks {section}");
    }
    for plot in [
        "ratings",
        "ratings_by_category",
        "correlations",
        "structure",
        "agreement",
        "prompt_effects",
    ] {
        assert!(
            out.join("plots").join(format!("{plot}.png")).is_file(),
            "{plot}"
        );
    }
    for table in [
        "rating_summary",
        "rating_histogram",
        "correlations",
        "rank_vs_rating",
        "agreement",
        "prompt_effects",
        "rank_tiers",
        "skipped",
    ] {
        assert!(
            out.join("tables")
                .join(format!("{table}.parquet"))
                .is_file(),
            "{table}"
        );
    }

    // the text output prints the headline tables
    let out2 = dir.join("text");
    let text = ok(&["analyze", s(&world), "--out", s(&out2), "--resamples", "50"]);
    assert!(
        text.contains("### Spearman correlation between criteria"),
        "{text}"
    );
    assert!(text.contains("### Agreement between annotators"));

    // nothing is overwritten without --force
    let again = run(&["analyze", s(&world), "--out", s(&out)]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    ok(&[
        "analyze",
        s(&world),
        "--out",
        s(&out),
        "--force",
        "--resamples",
        "50",
    ]);
    // the default output folder sits beside the dataset
    ok(&["analyze", s(&world), "--resamples", "20"]);
    assert!(dir.join("world-analysis").join("report.md").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ranking_only_test_json_skips_what_it_cannot_give() {
    let dir = tmp("analyze-irtest");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("test.json");
    let entry = |id: &str, prompt: &str, ranking: &[u32]| {
        serde_json::json!({
            "id": id, "prompt": prompt,
            "generations": (0..ranking.len()).map(|k| format!("{id}/{k}.webp")).collect::<Vec<_>>(),
            "ranking": ranking,
        })
    };
    // 3 + 6 + 3 = 12 pairs, ties: (2,2) in p1 and (3,3) in p2
    let entries = serde_json::json!([
        entry("p1", "a red circle", &[1, 2, 2]),
        entry("p2", "two blue squares, 8k", &[2, 1, 3, 3]),
        entry("p3", "a cat on a mat", &[3, 1, 2]),
    ]);
    std::fs::write(&src, entries.to_string()).unwrap();
    let ds = dir.join("ds");
    ok(&["import", "imagereward-test", s(&src), s(&ds)]);
    let v = analyze_json(&ds, &dir.join("out"), &[]);
    assert_eq!(v["structure"]["strict_pairs"], 10);
    assert_eq!(v["structure"]["tied_pairs"], 2);
    assert!((v["structure"]["tie_rate"].as_f64().unwrap() - 2.0 / 12.0).abs() < 1e-12);
    for key in [
        "correlations",
        "agreement",
        "prompt_effects",
        "distributions",
        "rank_vs_rating",
    ] {
        assert!(v.get(key).is_none(), "{key} should be left out");
    }
    let sk = skipped(&v);
    for key in [
        "correlations",
        "agreement",
        "prompt_effects",
        "distributions",
        "rank_vs_rating",
    ] {
        assert!(sk.iter().any(|x| x == key), "{key} not in skipped: {sk:?}");
    }
    for reason in v["skipped"].as_array().unwrap() {
        assert!(reason["reason"].as_str().unwrap().len() > 10);
    }
    let report = check_outputs(&dir.join("out"));
    assert!(report.contains("*Skipped* `agreement`"), "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn imagerewarddb_and_generic_tables_are_analysed() {
    let dir = tmp("analyze-irdb");
    std::fs::create_dir_all(&dir).unwrap();
    // ImageRewardDB's per-split JSON: one annotator per prompt, ranks and three ratings
    let mut records = Vec::new();
    for p in 0..6 {
        for i in 0..4 {
            let q = (p + i) % 4;
            records.push(serde_json::json!({
                "image_path": format!("images/{p}_{i}.webp"), "prompt_id": format!("q{p}"),
                "prompt": if p % 2 == 0 { format!("a castle {p}, highly detailed") } else { format!("a castle {p}") },
                "classification": if p < 3 { "Architecture" } else { "People" },
                "image_amount_in_total": 4, "rank": q + 1,
                "overall_rating": 7 - q, "image_text_alignment_rating": 6 - q % 3,
                "fidelity_rating": 3 + (q * p) % 4,
            }));
        }
    }
    let src = dir.join("train.json");
    std::fs::write(&src, serde_json::Value::Array(records).to_string()).unwrap();
    let ds = dir.join("irdb");
    ok(&["import", "imagerewarddb", s(&src), s(&ds)]);
    let v = analyze_json(&ds, &dir.join("out"), &["--min-prompts", "2"]);
    // ranks follow the overall rating exactly
    assert_eq!(v["rank_vs_rating"]["overall"]["tau_b_mean"], 1.0);
    assert_eq!(v["rank_vs_rating"]["overall"]["contradiction_rate"], 0.0);
    assert!(v["correlations"]["spearman"]["overall"]["alignment"].is_number());
    assert!(v.get("agreement").is_none(), "one annotator per prompt");
    let hd = v["prompt_effects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["term"] == "highly detailed" && e["criterion"] == "overall")
        .unwrap()
        .clone();
    assert_eq!(hd["prompts"], 3);
    check_outputs(&dir.join("out"));

    // a generic CSV: ratings by two named workers, no ranks
    let csv = dir.join("ratings.csv");
    let mut text = String::from("caption,file,score,worker\n");
    for p in 0..5 {
        for i in 0..3 {
            for w in ["w1", "w2"] {
                let score = 1 + (p + i + usize::from(w == "w2")) % 5;
                text += &format!("prompt number {p},{p}_{i}.png,{score},{w}\n");
            }
        }
    }
    std::fs::write(&csv, text).unwrap();
    let table = dir.join("table");
    ok(&[
        "import",
        "table",
        s(&csv),
        s(&table),
        "--map",
        "prompt=caption",
        "--map",
        "image=file",
        "--map",
        "overall=score",
        "--map",
        "annotator=worker",
        "--scale",
        "1..5",
    ]);
    let v = analyze_json(&table, &dir.join("table-out"), &[]);
    assert_eq!(v["agreement"]["basis"], "overall");
    assert!(v["agreement"]["krippendorff_alpha"].is_number());
    assert!(v["agreement"]["loo_ceiling"].is_number());
    let sk = skipped(&v);
    assert!(sk.iter().any(|x| x == "correlations"), "{sk:?}");
    assert!(sk.iter().any(|x| x == "structure.tie_rate"), "{sk:?}");
    assert!(
        sk.iter().any(|x| x == "distributions.by_category"),
        "{sk:?}"
    );
    check_outputs(&dir.join("table-out"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_invalid_dataset_is_refused_with_file_row_and_field() {
    let dir = tmp("analyze-invalid");
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("ratings.csv");
    std::fs::write(&csv, "caption,score\na cat,5\na cat,2\na dog,4\na dog,1\n").unwrap();
    let ds = dir.join("ds");
    ok(&[
        "import",
        "table",
        s(&csv),
        s(&ds),
        "--map",
        "prompt=caption",
        "--map",
        "overall=score",
        "--scale",
        "1..5",
    ]);
    // shrink the declared scale: two ratings now fall outside it
    let meta = ds.join("dataset.toml");
    let text = std::fs::read_to_string(&meta)
        .unwrap()
        .replace("max = 5", "max = 3");
    std::fs::write(&meta, text).unwrap();
    // An edit made on purpose is recorded in the folder's manifest, which refuses it otherwise.
    let refused = run(&["validate", s(&ds)]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("dataset.toml is damaged"));
    let updated = ok(&["verify", s(&ds), "--update"]);
    assert!(updated.contains("changed: dataset.toml"), "{updated}");
    let out = run(&["analyze", s(&ds), "--out", s(&dir.join("out"))]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("annotations.parquet") && err.contains("overall") && err.contains("row"),
        "{err}"
    );
    assert!(
        !dir.join("out").exists(),
        "nothing is written for invalid data"
    );
    // a term without words is a usage error, not a panic
    std::fs::write(
        &meta,
        std::fs::read_to_string(&meta)
            .unwrap()
            .replace("max = 3", "max = 5"),
    )
    .unwrap();
    ok(&["verify", s(&ds), "--update"]);
    let out = run(&[
        "analyze",
        s(&ds),
        "--out",
        s(&dir.join("o2")),
        "--term",
        "!!",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no words"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn real_hpd_and_tifa_files() {
    let dir = tmp("analyze-real");
    if let Some(hpd) = paths::shared_or_skip!("data/hpd-gallery/annotations.json") {
        let ds = dir.join("hpd");
        ok(&["import", "hpd", s(&hpd), s(&ds)]);
        let v = analyze_json(&ds, &dir.join("hpd-out"), &[]);
        assert_eq!(v["structure"]["annotators"], 10);
        assert_eq!(v["structure"]["tie_rate"], 0.0);
        // the human ceiling of `rewardlab eval` on the same data (docs/evaluation.md, Measured: 0.831)
        assert!((v["agreement"]["loo_ceiling"].as_f64().unwrap() - 0.8311).abs() < 1e-4);
        assert!((v["agreement"]["krippendorff_alpha"].as_f64().unwrap() - 0.7293).abs() < 1e-4);
        check_outputs(&dir.join("hpd-out"));
    }
    if let Some(tifa) = paths::shared_or_skip!("data/tifa/human_annotations_with_scores.json") {
        let ds = dir.join("tifa");
        ok(&["import", "tifa", s(&tifa), s(&ds)]);
        let v = analyze_json(&ds, &dir.join("tifa-out"), &[]);
        assert_eq!(v["agreement"]["basis"], "alignment");
        assert!((v["agreement"]["krippendorff_alpha"].as_f64().unwrap() - 0.7186).abs() < 1e-4);
        assert_eq!(v["structure"]["judgments"], 1600);
        check_outputs(&dir.join("tifa-out"));
    }
    if let Some(test) = paths::shared_or_skip!("data/imagereward-test/test.json") {
        let ds = dir.join("irtest");
        ok(&["import", "imagereward-test", s(&test), s(&ds)]);
        let v = analyze_json(&ds, &dir.join("irtest-out"), &[]);
        assert_eq!(v["structure"]["strict_pairs"], 6399);
        assert_eq!(v["structure"]["tied_pairs"], 831);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
