//! Every statistic against the values that `tests/fixtures/analysis/make_reference.py` computes
//! with numpy, scipy and the `krippendorff` package on the small table it defines (read from the
//! committed `reference.json`, so the table has one source).

use annotations::{Criterion, Dataset, DatasetMeta, ImagesState, Row, Scale};
use serde_json::Value;

use crate::{Analysis, EffectOptions, Options, analyze};

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/analysis/reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference.json")).unwrap()
}

fn dataset(r: &Value) -> Dataset {
    let rows = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let num = |k: &str| x[k].as_f64().map(|v| v as f32);
            Row {
                prompt_id: x["prompt_id"].as_str().unwrap().into(),
                prompt: x["prompt"].as_str().unwrap().into(),
                category: x["category"].as_str().map(Into::into),
                expected_images: None,
                generation_id: x["generation_id"].as_str().unwrap().into(),
                image: None,
                annotator: x["annotator"].as_str().map(Into::into),
                rank: x["rank"].as_u64().map(|v| v as u32),
                ratings: annotations::PerCriterion::from_array([
                    num("overall"),
                    num("alignment"),
                    num("fidelity"),
                    None,
                ]),
                source_row: i + 1,
            }
        })
        .collect();
    let mut meta = DatasetMeta::new("reference", "test");
    meta.images = ImagesState::Absent;
    meta.scale = Scale { min: 1, max: 7 };
    Dataset::new(meta, "reference.json", ".", rows)
}

fn run(r: &Value) -> Analysis {
    let o = &r["options"];
    let options = Options {
        effects: EffectOptions {
            terms: o["terms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect(),
            ngrams: o["ngrams"].as_u64().unwrap() as usize,
            ngram_max: o["ngram_max"].as_u64().unwrap() as usize,
            min_prompts: o["min_prompts"].as_u64().unwrap() as usize,
            resamples: o["resamples"].as_u64().unwrap() as usize,
            seed: o["seed"].as_u64().unwrap(),
        },
    };
    analyze(&dataset(r), &options).unwrap()
}

#[track_caller]
fn close(got: Option<f64>, want: &Value) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("no reference value: {want}"));
    let got = got.unwrap_or_else(|| panic!("no value, expected {want}"));
    assert!((got - want).abs() < 1e-9, "got {got}, expected {want}");
}

fn table_value(
    df: &polars::prelude::DataFrame,
    filters: &[(&str, &str)],
    column: &str,
) -> Option<f64> {
    let rows = df.height();
    (0..rows)
        .find(|&i| {
            filters
                .iter()
                .all(|(c, v)| crate::util::strings(df, c).unwrap()[i] == *v)
        })
        .and_then(|i| crate::util::f64_at(df, column, i))
}

#[test]
fn structure_matches_reference() {
    let r = reference();
    let a = run(&r);
    let s = &a.structure;
    let e = &r["structure"];
    assert_eq!(s.prompts as u64, e["prompts"].as_u64().unwrap());
    assert_eq!(s.generations as u64, e["generations"].as_u64().unwrap());
    assert_eq!(s.judgments as u64, e["judgments"].as_u64().unwrap());
    assert_eq!(s.strict_pairs, e["strict_pairs"].as_u64().unwrap());
    assert_eq!(s.tied_pairs, e["tied_pairs"].as_u64().unwrap());
    close(s.tie_rate, &e["tie_rate"]);
    close(s.mean_images_per_prompt, &e["mean_images_per_prompt"]);
    for (k, v) in e["images_per_prompt"].as_object().unwrap() {
        close(
            table_value(&s.images_per_prompt, &[("images", k)], "share"),
            v,
        );
    }
    let tiers = s.tiers.as_ref().unwrap();
    for (k, v) in e["tiers"].as_object().unwrap() {
        close(table_value(tiers, &[("rank", k)], "share"), v);
    }
}

#[test]
fn distributions_match_numpy() {
    let r = reference();
    let a = run(&r);
    let d = a.distributions.as_ref().unwrap();
    for c in ["overall", "alignment", "fidelity"] {
        let e = &r["distributions"][c];
        for stat in ["n", "mean", "std", "min", "q25", "median", "q75", "max"] {
            close(
                table_value(&d.summary, &[("criterion", c), ("category", "(all)")], stat),
                &e[stat],
            );
        }
        for (i, share) in e["shares"].as_array().unwrap().iter().enumerate() {
            let level = (i + 1).to_string();
            close(
                table_value(
                    &d.histogram,
                    &[("criterion", c), ("category", "(all)"), ("rating", &level)],
                    "share",
                ),
                share,
            );
        }
        for (cat, mean) in e["by_category_mean"].as_object().unwrap() {
            close(
                table_value(&d.summary, &[("criterion", c), ("category", cat)], "mean"),
                mean,
            );
        }
    }
    // harmlessness is never rated: no row for it
    assert!(table_value(&d.summary, &[("criterion", "harmlessness")], "n").is_none());
}

#[test]
fn correlations_match_scipy() {
    let r = reference();
    let a = run(&r);
    let c = a.correlations.as_ref().unwrap();
    let idx = |name: &str| c.criteria.iter().position(|x| x.name() == name).unwrap();
    for (key, v) in r["correlations"]["spearman"].as_object().unwrap() {
        let (x, y) = key.split_once('|').unwrap();
        close(c.spearman[idx(x)][idx(y)], v);
        close(c.spearman[idx(y)][idx(x)], v);
        close(
            c.pearson[idx(x)][idx(y)],
            &r["correlations"]["pearson"][key],
        );
    }
}

#[test]
fn rank_vs_rating_matches_scipy_kendalltau() {
    let r = reference();
    let a = run(&r);
    for x in &a.rank_vs_rating {
        let e = &r["rank_vs_rating"][x.criterion.name()];
        assert_eq!(
            x.rankings as u64,
            e["rankings"].as_u64().unwrap(),
            "{}",
            x.criterion
        );
        assert_eq!(x.strict_pairs, e["strict_pairs"].as_u64().unwrap());
        close(x.tau_b_mean, &e["tau_b_mean"]);
        close(x.tau_b_pooled, &e["tau_b_pooled"]);
        close(x.agree_rate, &e["agree_rate"]);
        close(x.contradiction_rate, &e["contradiction_rate"]);
        close(x.rating_tie_rate, &e["rating_tie_rate"]);
    }
    assert_eq!(a.rank_vs_rating.len(), 3);
}

#[test]
fn agreement_matches_krippendorff_and_loops() {
    let r = reference();
    let a = run(&r);
    let g = a.agreement.as_ref().unwrap();
    assert_eq!(g.headline().unwrap().label, "rank");
    for l in &g.labels {
        let e = &r["agreement"][&l.label];
        assert_eq!(
            l.comparisons,
            e["comparisons"].as_u64().unwrap(),
            "{}",
            l.label
        );
        assert_eq!(
            l.strict_comparisons,
            e["strict_comparisons"].as_u64().unwrap()
        );
        close(l.pairwise_agreement, &e["pairwise_agreement"]);
        close(
            l.pairwise_agreement_with_ties,
            &e["pairwise_agreement_with_ties"],
        );
        close(l.krippendorff_alpha, &e["krippendorff_alpha"]);
        close(l.loo_ceiling, &e["loo_ceiling"]);
        assert_eq!(l.loo_pairs as u64, e["loo_pairs"].as_u64().unwrap());
    }
    assert_eq!(g.labels.len(), 4);
}

#[test]
fn prompt_effects_match_reference_with_bootstrap() {
    let r = reference();
    let a = run(&r);
    let effects = &a.effects.as_ref().unwrap().effects;
    let want = r["effects"].as_array().unwrap();
    assert_eq!(effects.len(), want.len());
    for (got, e) in effects.iter().zip(want) {
        assert_eq!(got.term, e["term"].as_str().unwrap());
        assert_eq!(got.source, e["source"].as_str().unwrap());
        assert_eq!(got.criterion.name(), e["criterion"].as_str().unwrap());
        assert_eq!(got.prompts, e["prompts"].as_u64().unwrap(), "{}", got.term);
        assert_eq!(got.judgments_with, e["judgments_with"].as_u64().unwrap());
        if e["difference"].is_null() {
            assert_eq!(got.difference, None);
        } else {
            close(got.mean_with, &e["mean_with"]);
            close(got.mean_without, &e["mean_without"]);
            close(got.difference, &e["difference"]);
        }
        match e["ci95"].as_array() {
            Some(ci) => {
                let c = got
                    .ci95
                    .unwrap_or_else(|| panic!("{} has no interval", got.term));
                close(Some(c[0]), &ci[0]);
                close(Some(c[1]), &ci[1]);
            }
            None => assert_eq!(got.ci95, None, "{}", got.term),
        }
    }
    let _ = Criterion::Overall;
}
