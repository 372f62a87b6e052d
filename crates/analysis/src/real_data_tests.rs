//! The figures of the real public annotations in `../shared/data` (each test skips, printing the
//! reason, when the folder is absent): HPD's ten annotators, TIFA's two raters and test.json's
//! ties, against the values `tests/fixtures/analysis/make_reference.py` computes from the raw
//! JSON files with the `krippendorff` package and plain loops.

use annotations::formats;
use serde_json::Value;

use crate::{Analysis, Options, analyze};

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/analysis/reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference.json")).unwrap()
}

#[track_caller]
fn close(got: Option<f64>, want: &Value) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("no reference value"));
    let got = got.expect("a value");
    assert!((got - want).abs() < 1e-9, "got {got}, expected {want}");
}

fn load(
    relative: &str,
    read: fn(&std::path::Path) -> Result<annotations::Dataset, annotations::AnnotationError>,
) -> Option<Analysis> {
    let path = paths::shared_or_skip!(&format!("data/{relative}"))?;
    let ds = read(&path).unwrap();
    Some(analyze(&ds, &Options::default()).unwrap())
}

#[test]
fn hpd_ten_annotators_agree_as_computed_from_the_raw_json() {
    let Some(a) = load("hpd-gallery/annotations.json", formats::hpd::read) else {
        return;
    };
    let want = &reference()["real_data"]["hpd"];
    assert_eq!(a.structure.annotators, 10);
    assert_eq!(a.structure.prompts, 8);
    // full permutations: no tie anywhere
    assert_eq!(a.structure.tie_rate, Some(0.0));
    let g = a.agreement.as_ref().unwrap();
    let rank = g.headline().unwrap();
    assert_eq!(rank.label, "rank");
    assert_eq!(rank.annotators, 10);
    assert_eq!(
        rank.strict_comparisons,
        want["strict_comparisons"].as_u64().unwrap()
    );
    close(rank.pairwise_agreement, &want["pairwise_agreement"]);
    close(rank.krippendorff_alpha, &want["krippendorff_alpha"]);
    // eval's human ceiling, as docs/evaluation.md (Measured) reports it: 0.831
    close(rank.loo_ceiling, &want["loo_ceiling"]);
    assert!((rank.loo_ceiling.unwrap() - 0.831).abs() < 5e-4);
    assert_eq!(rank.loo_pairs as u64, want["loo_pairs"].as_u64().unwrap());
    // 10 annotators: 45 pairs, and a ceiling for each annotator
    assert_eq!(g.annotator_pairs.height(), 45);
    assert_eq!(g.annotators.height(), 10);
    // rankings only: no ratings, so those statistics are skipped with reasons
    for s in [
        "distributions",
        "correlations",
        "rank_vs_rating",
        "prompt_effects",
    ] {
        assert!(
            a.skipped.iter().any(|k| k.statistic == s),
            "{s} not skipped"
        );
    }
}

#[test]
fn tifa_two_raters_agree_as_computed_from_the_raw_json() {
    let Some(a) = load(
        "tifa/human_annotations_with_scores.json",
        formats::tifa::read,
    ) else {
        return;
    };
    let want = &reference()["real_data"]["tifa"];
    assert_eq!(a.structure.annotators, 2);
    assert_eq!(a.structure.judgments, 1600);
    assert_eq!((a.scale.min, a.scale.max), (1, 5));
    let d = a.distributions.as_ref().unwrap();
    let n = crate::util::f64_at(&d.summary, "n", 0);
    assert_eq!(n, Some(1600.0));
    close(crate::util::f64_at(&d.summary, "mean", 0), &want["mean"]);
    let g = a.agreement.as_ref().unwrap();
    let h = g.headline().unwrap();
    assert_eq!(h.label, "alignment");
    assert_eq!(h.units, 800);
    close(h.krippendorff_alpha, &want["krippendorff_alpha"]);
    close(h.pairwise_agreement, &want["pairwise_agreement"]);
    close(
        h.pairwise_agreement_with_ties,
        &want["pairwise_agreement_with_ties"],
    );
    close(h.exact_agreement, &want["exact_agreement"]);
    close(h.loo_ceiling, &want["loo_ceiling"]);
    assert_eq!(h.loo_pairs as u64, want["loo_pairs"].as_u64().unwrap());
    // one criterion, no ranks
    assert!(a.correlations.is_none() && a.rank_vs_rating.is_empty());
    assert!(
        a.skipped
            .iter()
            .any(|k| k.statistic == "structure.tie_rate")
    );
    assert!(a.effects.is_some());
}

#[test]
fn imagereward_test_ties() {
    let Some(a) = load(
        "imagereward-test/test.json",
        formats::imagereward_test::read,
    ) else {
        return;
    };
    let want = &reference()["real_data"]["imagereward_test"];
    let s = &a.structure;
    assert_eq!((s.prompts, s.generations), (466, 2720));
    assert_eq!((s.strict_pairs, s.tied_pairs), (6399, 831));
    close(s.tie_rate, &want["tie_rate"]);
    // one anonymous ranking per prompt: no agreement, no ratings
    assert!(a.agreement.is_none());
    assert!(a.skipped.iter().any(|k| k.statistic == "agreement"));
    let tiers = s.tiers.as_ref().unwrap();
    assert!(tiers.height() >= 5);
}
