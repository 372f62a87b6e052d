//! Every metric against the reference values that `tests/fixtures/eval/make_reference.py`
//! computed with numpy and scipy on fixed inputs (ties in rankings and in scores, several
//! annotators, unranked images, undefined cases), to 1e-9, bootstrap intervals included.

use serde_json::Value;

use crate::annotators::{accuracy_vs_mean_rank, agreement};
use crate::bootstrap::Resamples;
use crate::correlation::{
    kendall_per_prompt, kendall_pooled, kendall_tau_b, spearman_per_prompt, spearman_pooled,
};
use crate::pairwise::{
    acc_eq, accuracy_per_prompt, accuracy_pooled, choose_tie_threshold, strict_counts,
    tie_aware_accuracy, tie_calibration,
};
use crate::prompt::{RankedPrompt, Ranking};
use crate::ratings::{
    RatedImage, RatedPrompt, rating_exact, rating_mae, rating_pearson, rating_spearman,
};
use crate::topk::{filter_at_k, hit, recall_at_k};

const REFERENCE: &str = include_str!("../../../tests/fixtures/eval/reference.json");

fn reference() -> Value {
    serde_json::from_str(REFERENCE).expect("reference.json parses")
}

fn prompts(v: &Value) -> Vec<RankedPrompt> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let scores = p["scores"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_f64().unwrap())
                .collect();
            let rankings = p["rankings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| Ranking {
                    annotator: r[0].as_u64().map(|a| a as usize),
                    ranks: r[1].as_array().unwrap().iter().map(Value::as_f64).collect(),
                })
                .collect();
            RankedPrompt::new(scores, rankings).unwrap()
        })
        .collect()
}

fn rated(v: &Value) -> Vec<RatedPrompt> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p.as_array()
                .unwrap()
                .iter()
                .map(|im| {
                    RatedImage::new(
                        im["score"].as_f64().unwrap(),
                        im["predicted"].as_f64(),
                        im["ratings"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|r| r.as_f64().unwrap())
                            .collect(),
                    )
                    .unwrap()
                })
                .collect()
        })
        .collect()
}

/// Asserts `got` equals the reference value (`null` = undefined) to 1e-9.
#[track_caller]
fn close(got: Option<f64>, want: &Value, what: &str) {
    match (got, want.as_f64()) {
        (None, None) => {}
        (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "{what}: got {g}, reference {w}"),
        _ => panic!("{what}: got {got:?}, reference {want}"),
    }
}

#[track_caller]
fn close_ci(got: Option<[f64; 2]>, want: &Value, what: &str) {
    let want = want.as_array().expect("an interval");
    let got = got.unwrap_or_else(|| panic!("{what}: no interval"));
    close(Some(got[0]), &want[0], &format!("{what} low"));
    close(Some(got[1]), &want[1], &format!("{what} high"));
}

#[test]
fn pairwise_accuracies() {
    let r = reference();
    let (p, e) = (prompts(&r["prompts"]), &r["expected"]);
    close(
        accuracy_pooled(&p),
        &e["accuracy_pooled"],
        "pooled accuracy",
    );
    close(
        accuracy_per_prompt(&p),
        &e["accuracy_per_prompt"],
        "per-prompt accuracy",
    );
    let strict: usize = p.iter().map(|p| strict_counts(p).1).sum();
    let all: usize = p.iter().map(|p| p.pairs().count()).sum();
    assert_eq!(strict as u64, e["strict_pairs"].as_u64().unwrap());
    assert_eq!((all - strict) as u64, e["tied_pairs"].as_u64().unwrap());
}

#[test]
fn pickscore_tie_aware_accuracy_with_a_validation_threshold() {
    let r = reference();
    let (p, e) = (prompts(&r["prompts"]), &r["expected"]);
    let v = prompts(&r["validation"]);
    let chosen = choose_tie_threshold(&v).unwrap();
    let want = &e["tie_threshold_validation"];
    close(
        Some(chosen.threshold),
        &want["threshold"],
        "validation threshold",
    );
    close(
        Some(chosen.accuracy),
        &want["accuracy"],
        "validation accuracy",
    );
    close(
        tie_aware_accuracy(&p, chosen.threshold),
        &e["tie_aware_at_validation_threshold"],
        "tie-aware at the validation threshold",
    );
    let t = r["fixed_t"].as_f64().unwrap();
    close(
        tie_aware_accuracy(&p, t),
        &e["tie_aware_at_fixed_t"],
        "tie-aware at t",
    );
    close(
        tie_aware_accuracy(&p, 0.0),
        &e["tie_aware_at_zero"],
        "tie-aware at 0",
    );
}

#[test]
fn acc_eq_and_acc23_tie_calibration() {
    let r = reference();
    let (p, e) = (prompts(&r["prompts"]), &r["expected"]);
    close(acc_eq(&p, 0.0), &e["acc_eq_at_zero"], "acc_eq at 0");
    let eps = r["fixed_eps"].as_f64().unwrap();
    close(acc_eq(&p, eps), &e["acc_eq_at_fixed_eps"], "acc_eq at eps");
    let c = tie_calibration(&p).unwrap();
    close(Some(c.threshold), &e["acc23"]["epsilon"], "acc23 epsilon");
    close(Some(c.accuracy), &e["acc23"]["accuracy"], "acc23");
}

#[test]
fn kendall_and_spearman_per_prompt_and_pooled() {
    let r = reference();
    let (p, e) = (prompts(&r["prompts"]), &r["expected"]);
    for (i, q) in p.iter().enumerate() {
        let (s, h) = q.ranked_images();
        close(
            kendall_tau_b(&s, &h),
            &e["kendall_each"][i],
            &format!("tau-b of prompt {i}"),
        );
        close(
            metrics::spearman(&s, &h),
            &e["spearman_each"][i],
            &format!("rho of prompt {i}"),
        );
    }
    close(
        kendall_per_prompt(&p),
        &e["kendall_per_prompt"],
        "tau-b per prompt",
    );
    close(kendall_pooled(&p), &e["kendall_pooled"], "tau-b pooled");
    close(
        spearman_per_prompt(&p),
        &e["spearman_per_prompt"],
        "rho per prompt",
    );
    close(spearman_pooled(&p), &e["spearman_pooled"], "rho pooled");
}

#[test]
fn recall_and_filter_at_k() {
    let r = reference();
    let (p, e) = (prompts(&r["prompts"]), &r["expected"]);
    for (i, q) in p.iter().enumerate() {
        assert_eq!(
            hit(q, 1, true),
            e["recall_hits_k1"][i].as_bool(),
            "recall hit of prompt {i}"
        );
        assert_eq!(
            hit(q, 1, false),
            e["filter_hits_k1"][i].as_bool(),
            "filter hit of prompt {i}"
        );
    }
    for k in [1usize, 2] {
        close(
            recall_at_k(&p, k),
            &e["recall_at"][k.to_string()],
            &format!("Recall@{k}"),
        );
        close(
            filter_at_k(&p, k),
            &e["filter_at"][k.to_string()],
            &format!("Filter@{k}"),
        );
    }
}

#[test]
fn annotators_and_human_ceiling() {
    let r = reference();
    let (p, e) = (prompts(&r["prompts"]), &r["expected"]);
    close(
        accuracy_vs_mean_rank(&p),
        &e["accuracy_vs_mean_rank"],
        "vs mean rank",
    );
    let check = |a: Option<usize>, want: &Value, what: &str| {
        let got = agreement(&p, a);
        close(got.model, &want["model"], &format!("{what} model"));
        close(got.ceiling, &want["ceiling"], &format!("{what} ceiling"));
        assert_eq!(
            got.pairs as u64,
            want["pairs"].as_u64().unwrap(),
            "{what} pairs"
        );
    };
    check(None, &e["agreement_all"], "all annotators");
    for a in 0..r["annotators"].as_u64().unwrap() as usize {
        check(
            Some(a),
            &e["agreement_by_annotator"][a],
            &format!("annotator {a}"),
        );
    }
}

#[test]
fn rating_figures() {
    let r = reference();
    let (q, e) = (rated(&r["rated"]), &r["expected"]);
    let (lo, hi) = (
        r["scale"][0].as_f64().unwrap(),
        r["scale"][1].as_f64().unwrap(),
    );
    close(rating_mae(&q), &e["rating_mae"], "MAE");
    close(rating_exact(&q, lo, hi), &e["rating_exact"], "exact match");
    close(
        rating_spearman(&q),
        &e["rating_spearman"],
        "Spearman vs mean rating",
    );
    close(
        rating_pearson(&q),
        &e["rating_pearson"],
        "Pearson vs mean rating",
    );
}

#[test]
fn bootstrap_intervals() {
    let r = reference();
    let (p, e) = (prompts(&r["prompts"]), &r["expected"]["bootstrap"]);
    let (seed, count) = (
        r["bootstrap"]["seed"].as_u64().unwrap(),
        r["bootstrap"]["resamples"].as_u64().unwrap() as usize,
    );
    let rs = Resamples::draw(p.len(), count, seed);
    for (i, d) in e["first_draws"].as_array().unwrap().iter().enumerate() {
        let want: Vec<usize> = d
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(rs.draws()[i], want, "resample {i}");
    }
    let pick = |sel: &[usize]| -> Vec<&RankedPrompt> { sel.iter().map(|&i| &p[i]).collect() };
    let t = choose_tie_threshold(&prompts(&r["validation"]))
        .unwrap()
        .threshold;
    close_ci(
        rs.ci95(|s| accuracy_pooled(pick(s))),
        &e["accuracy_pooled"],
        "pooled accuracy",
    );
    close_ci(
        rs.ci95(|s| accuracy_per_prompt(pick(s))),
        &e["accuracy_per_prompt"],
        "per-prompt accuracy",
    );
    close_ci(
        rs.ci95(|s| kendall_per_prompt(pick(s))),
        &e["kendall_per_prompt"],
        "tau-b per prompt",
    );
    close_ci(
        rs.ci95(|s| spearman_pooled(pick(s))),
        &e["spearman_pooled"],
        "rho pooled",
    );
    close_ci(
        rs.ci95(|s| tie_aware_accuracy(pick(s), t)),
        &e["tie_aware_at_validation_threshold"],
        "tie-aware",
    );
    close_ci(
        rs.ci95(|s| tie_calibration(pick(s)).map(|c| c.accuracy)),
        &e["acc23"],
        "acc23",
    );
    close_ci(
        rs.ci95(|s| recall_at_k(pick(s), 1)),
        &e["recall_at_1"],
        "Recall@1",
    );
    close_ci(
        rs.ci95(|s| agreement(pick(s), None).ceiling),
        &e["human_ceiling"],
        "human ceiling",
    );

    let q = rated(&r["rated"]);
    let rq = Resamples::draw(q.len(), count, seed);
    let pick_q = |sel: &[usize]| -> Vec<&RatedPrompt> { sel.iter().map(|&i| &q[i]).collect() };
    close_ci(rq.ci95(|s| rating_mae(pick_q(s))), &e["rating_mae"], "MAE");
    close_ci(
        rq.ci95(|s| rating_spearman(pick_q(s))),
        &e["rating_spearman"],
        "rating rho",
    );
}

/// The scorer of the HPD reference figures: the generation id (the image file stem) as an
/// integer, times 37, modulo 11 (many ties, arbitrary order).
fn hpd_score(id: &str) -> f64 {
    (id.parse::<u64>().expect("HPD ids are image numbers") * 37 % 11) as f64
}

/// The human ceiling of the real HPD sample (`../shared/data/hpd-gallery`: 8 prompts, 10
/// annotators, full permutations), and a fixed scorer's accuracy against each annotator, read
/// through the HPD reader and the canonical dataset, against the values the reference script
/// computed from the raw JSON. Skipped, with the reason printed, where the shared data is absent.
#[test]
fn human_ceiling_on_the_hpd_sample() {
    let Some(path) = paths::shared_or_skip!("data/hpd-gallery/annotations.json") else {
        return;
    };
    let r = reference();
    let want = &r["hpd_gallery"];
    assert!(
        want.is_object(),
        "reference.json was made without the HPD sample"
    );
    let ds = annotations::formats::hpd::read(&path).unwrap();
    let ix = ds.index();
    let all: Vec<usize> = (0..ix.prompts.len()).collect();
    let data = crate::EvalData::from_dataset(&ds, &ix, &all);
    assert_eq!(data.annotators.len(), 10);
    let p: Vec<RankedPrompt> = data
        .prompts
        .iter()
        .map(|q| {
            let scores = q.generations.iter().map(|g| hpd_score(g)).collect();
            RankedPrompt::new(scores, q.rankings.clone()).unwrap()
        })
        .collect();
    let got = agreement(&p, None);
    close(got.ceiling, &want["all"]["ceiling"], "HPD human ceiling");
    close(got.model, &want["all"]["model"], "HPD scorer vs annotators");
    assert_eq!(got.pairs as u64, want["all"]["pairs"].as_u64().unwrap());
    for (a, name) in data.annotators.iter().enumerate() {
        let w = &want["by_annotator"][name];
        let got = agreement(&p, Some(a));
        close(
            got.ceiling,
            &w["ceiling"],
            &format!("HPD ceiling of {name}"),
        );
        close(got.model, &w["model"], &format!("HPD scorer vs {name}"));
        assert_eq!(got.pairs as u64, w["pairs"].as_u64().unwrap(), "{name}");
    }
    close(
        accuracy_pooled(&p),
        &want["accuracy_pooled"],
        "HPD pooled accuracy",
    );
    close(
        accuracy_per_prompt(&p),
        &want["accuracy_per_prompt"],
        "HPD per-prompt accuracy",
    );
    close(
        accuracy_vs_mean_rank(&p),
        &want["accuracy_vs_mean_rank"],
        "HPD accuracy vs mean rank",
    );
    // people agree with each other well above chance, and far from always
    let ceiling = got.ceiling.unwrap();
    assert!(ceiling > 0.7 && ceiling < 0.95, "{ceiling}");
}
