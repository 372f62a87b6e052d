//! The evaluation as a markdown report: one table of ranking figures with the model next to
//! each baseline, the multi-annotator table, and the per-criterion table; every figure with its
//! 95% interval. Readable in a terminal as it is.

use std::fmt::Write;

use crate::evaluate::{Evaluation, Figure, ScorerReport};

/// `0.695 [0.672, 0.718]`, or `-` where undefined.
pub fn cell(f: &Figure) -> String {
    match (f.value, f.ci95) {
        (Some(v), Some([lo, hi])) => format!("{v:.3} [{lo:.3}, {hi:.3}]"),
        (Some(v), None) => format!("{v:.3}"),
        _ => "-".into(),
    }
}

fn table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
}

/// The ranking figures of a scorer, in report order, with their labels.
fn ranking_figures(r: &ScorerReport) -> Vec<(String, &Figure)> {
    let mut v: Vec<(String, &Figure)> = vec![
        (
            "pairwise accuracy, pooled (ImageReward)".into(),
            &r.pairwise_accuracy_pooled,
        ),
        (
            "pairwise accuracy, per prompt (HPSv2)".into(),
            &r.pairwise_accuracy_per_prompt,
        ),
        (
            format!(
                "tie-aware accuracy (PickScore, t on {})",
                r.tie_aware_accuracy.chosen_on
            ),
            &r.tie_aware_accuracy.figure,
        ),
        ("acc23 (acc_eq, tie calibration)".into(), &r.acc23.figure),
        ("Kendall tau-b, per prompt".into(), &r.kendall_tau_b),
        ("Kendall tau-b, pooled".into(), &r.kendall_tau_b_pooled),
        ("Spearman rho, per prompt".into(), &r.spearman),
        ("Spearman rho, pooled".into(), &r.spearman_pooled),
    ];
    for (k, f) in &r.recall_at {
        v.push((format!("Recall@{k}"), f));
    }
    for (k, f) in &r.filter_at {
        v.push((format!("Filter@{k}"), f));
    }
    v.push(("accuracy vs mean rank".into(), &r.accuracy_vs_mean_rank));
    v
}

/// The whole report.
pub fn markdown(e: &Evaluation) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Evaluation: {}, split `{}`\n", e.dataset, e.split);
    let _ = writeln!(
        out,
        "Model scores from {}. {} prompts, {} images, {} strict and {} tied human pairs, {} annotators. \
         Intervals: 95% percentile bootstrap over prompts ({} resamples, seed {}). \
         Definitions: docs/evaluation.md, section Definitions.\n",
        e.scored_by,
        e.prompts,
        e.images,
        e.strict_pairs,
        e.tied_pairs,
        e.annotators,
        e.bootstrap.resamples,
        e.bootstrap.seed
    );
    let scorers: Vec<&ScorerReport> = std::iter::once(&e.model)
        .chain(e.baselines.values())
        .collect();
    let mut header = vec!["figure".to_string(), "n".to_string()];
    header.extend(scorers.iter().map(|s| s.scorer.clone()));

    let _ = writeln!(out, "## Ranking\n");
    let figs: Vec<Vec<(String, &Figure)>> = scorers.iter().map(|s| ranking_figures(s)).collect();
    let rows: Vec<Vec<String>> = (0..figs[0].len())
        .map(|i| {
            let mut row = vec![figs[0][i].0.clone(), figs[0][i].1.n.to_string()];
            row.extend(figs.iter().map(|f| cell(f[i].1)));
            row
        })
        .collect();
    table(&mut out, &header, &rows);
    let thresholds: Vec<String> = scorers
        .iter()
        .map(|s| {
            let t = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
            format!(
                "{}: t = {}, eps = {}",
                s.scorer,
                t(s.tie_aware_accuracy.threshold),
                t(s.acc23.threshold)
            )
        })
        .collect();
    let _ = writeln!(out, "\nTie thresholds: {}.\n", thresholds.join("; "));

    if let Some(a) = &e.model.annotator_agreement {
        let _ = writeln!(out, "## Annotators\n");
        let _ = writeln!(
            out,
            "Human ceiling (each annotator against the leave-one-out mean rank of the others): {}; \
             the model on the same {} pairs: {}.\n",
            cell(&a.human_ceiling),
            a.human_ceiling.n,
            cell(&a.vs_annotators)
        );
        let rows: Vec<Vec<String>> = a
            .per_annotator
            .iter()
            .map(|r| {
                vec![
                    r.annotator.clone(),
                    r.model.n.to_string(),
                    cell(&r.model),
                    cell(&r.ceiling),
                ]
            })
            .collect();
        table(
            &mut out,
            &[
                "annotator".into(),
                "pairs".into(),
                "model".into(),
                "human ceiling".into(),
            ],
            &rows,
        );
        out.push('\n');
    } else if e.annotators > 0 {
        let _ = writeln!(
            out,
            "No human ceiling: no prompt was ranked by two or more annotators.\n"
        );
    }

    if !e.model.criteria.is_empty() || scorers.iter().any(|s| !s.criteria.is_empty()) {
        let _ = writeln!(out, "## Ratings per criterion\n");
        let mut names: Vec<&String> = scorers.iter().flat_map(|s| s.criteria.keys()).collect();
        names.sort();
        names.dedup();
        let mut rows = Vec::new();
        for name in names {
            let pick =
                |s: &ScorerReport,
                 f: &dyn Fn(&crate::evaluate::CriterionReport) -> Option<Figure>| {
                    s.criteria.get(name).and_then(f)
                };
            type Getter = fn(&crate::evaluate::CriterionReport) -> Option<Figure>;
            let getters: [(&str, Getter); 4] = [
                ("Spearman vs mean rating", |c| Some(c.spearman.clone())),
                ("Pearson vs mean rating", |c| Some(c.pearson.clone())),
                ("MAE of predicted rating", |c| c.mae.clone()),
                ("exact match of predicted rating", |c| c.exact_match.clone()),
            ];
            for (label, get) in getters {
                let figs: Vec<Option<Figure>> = scorers.iter().map(|s| pick(s, &get)).collect();
                if figs.iter().all(Option::is_none) {
                    continue;
                }
                let n = figs.iter().flatten().map(|f| f.n).max().unwrap_or(0);
                let mut row = vec![format!("{name}: {label}"), n.to_string()];
                row.extend(figs.iter().map(|f| f.as_ref().map_or("-".into(), cell)));
                rows.push(row);
            }
        }
        table(&mut out, &header, &rows);
        out.push('\n');
    }
    out
}
