//! The figures a study compares, computed on a cell's test prompts and on every bootstrap
//! resample of them, so that a study can put intervals on means over seeds and on differences
//! between cells (every cell is resampled on the same prompt draws).
//!
//! Each figure is the `eval` crate's definition (docs/evaluation.md, "Definitions"):
//!
//! | name | definition |
//! |---|---|
//! | `overall.pairwise_accuracy` | pooled pairwise accuracy of the overall head on strict pairs (ImageReward's protocol) |
//! | `overall.spearman_latent` | Spearman between the overall score and the true overall latent, over all test images (synthetic data) |
//! | `C.spearman_latent` | Spearman between head C's output and the true latent of C, over all test images (synthetic data) |
//! | `C.spearman_rating` | Spearman between head C's output and each image's mean rating of C |
//! | `C.mae` | mean absolute error of head C's predicted rating over every judgment |
//! | `C.exact_match` | share of judgments whose rating equals head C's rounded predicted rating |
//!
//! where C is `alignment`, `fidelity` or `harmlessness`. A figure is absent where the cell has
//! no such head, or the data no such label.

use std::collections::HashMap;

use annotations::Criterion;
use eval::{EvalData, RatedPrompt, ScoreTable};

use crate::error::{Result, StudyError};

/// The default main metric of a study.
pub const MAIN_METRIC: &str = "overall.pairwise_accuracy";

const LIKERT_FIGURES: [&str; 4] = ["spearman_latent", "spearman_rating", "mae", "exact_match"];

/// Every metric name, in the order of the tables.
pub fn metric_names() -> Vec<String> {
    let mut names = vec![
        MAIN_METRIC.to_string(),
        "overall.spearman_latent".to_string(),
    ];
    for c in &Criterion::ALL[1..] {
        let c = *c;
        for f in LIKERT_FIGURES {
            names.push(format!("{}.{f}", c.name()));
        }
    }
    names
}

pub fn known_metric(name: &str) -> bool {
    metric_names().iter().any(|m| m == name)
}

/// Whether lower is better (errors) rather than higher.
pub fn lower_is_better(name: &str) -> bool {
    name.ends_with(".mae")
}

/// A readable name of a metric, for plots and headings.
pub fn describe(name: &str) -> String {
    let (head, fig) = name.split_once('.').unwrap_or((name, ""));
    let what = match fig {
        "pairwise_accuracy" => "pairwise accuracy (pooled)",
        "spearman_latent" => "Spearman vs true latent",
        "spearman_rating" => "Spearman vs mean rating",
        "mae" => "MAE of predicted rating",
        "exact_match" => "exact match of predicted rating",
        other => other,
    };
    format!("{head} head: {what}")
}

/// True latents of the images of a synthetic world, by generation id, in
/// [`Criterion::index`] order.
pub type Truth = HashMap<String, annotations::PerCriterion<f64>>;

/// One figure of one cell: on all test prompts, and on each resample of them.
#[derive(Clone, Debug, PartialEq)]
pub struct CellFigure {
    pub metric: String,
    pub value: Option<f64>,
    /// One entry per bootstrap draw (`None` where the figure is undefined on that draw).
    pub resamples: Vec<Option<f64>>,
}

impl CellFigure {
    /// The 95% percentile interval of the resamples.
    pub fn ci95(&self) -> Option<[f64; 2]> {
        percentile_ci(self.resamples.iter().copied())
    }
}

/// The 95% percentile interval of defined values (numpy's linear interpolation); `None` when
/// fewer than half of them are defined.
pub fn percentile_ci(values: impl Iterator<Item = Option<f64>>) -> Option<[f64; 2]> {
    let all: Vec<Option<f64>> = values.collect();
    let mut v: Vec<f64> = all.iter().flatten().copied().collect();
    if v.is_empty() || v.len() * 2 < all.len() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some([eval::percentile(&v, 2.5), eval::percentile(&v, 97.5)])
}

/// A figure on a selection of prompts (indices, repeated as drawn).
type Stat<'a> = Box<dyn Fn(&[usize]) -> Option<f64> + 'a>;

/// Spearman between two columns pooled over the selected prompts.
fn pooled_spearman<'a>(x: Vec<Vec<f64>>, y: Vec<Vec<f64>>) -> Stat<'a> {
    Box::new(move |sel: &[usize]| {
        let xs: Vec<f64> = sel.iter().flat_map(|&i| x[i].iter().copied()).collect();
        let ys: Vec<f64> = sel.iter().flat_map(|&i| y[i].iter().copied()).collect();
        metrics::spearman(&xs, &ys)
    })
}

/// Two values per image, grouped by prompt.
type PairedColumns = (Vec<Vec<f64>>, Vec<Vec<f64>>);

/// `(head output, true latent)` of every image of every prompt, where both exist.
fn latent_columns(
    data: &EvalData,
    scores: &ScoreTable,
    truth: &Truth,
    c: Criterion,
    use_rating: bool,
) -> Option<PairedColumns> {
    let mut xs = Vec::with_capacity(data.prompts.len());
    let mut ys = Vec::with_capacity(data.prompts.len());
    let mut any = false;
    for p in &data.prompts {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for g in &p.generations {
            let s = scores.get(g);
            let out = if use_rating {
                s.and_then(|s| s.rating[c].or(s.score[c]))
            } else {
                s.and_then(|s| s.score[c])
            };
            if let (Some(o), Some(t)) = (out, truth.get(g).and_then(|t| t[c])) {
                x.push(o);
                y.push(t);
                any = true;
            }
        }
        xs.push(x);
        ys.push(y);
    }
    any.then_some((xs, ys))
}

/// Every figure of a cell whose model scored `scores`, on `data` and on each draw of `draws`.
pub fn cell_figures(
    data: &EvalData,
    scores: &ScoreTable,
    truth: Option<&Truth>,
    draws: &[Vec<usize>],
) -> Result<Vec<CellFigure>> {
    let err = |source| StudyError::Eval {
        cell: "figures".into(),
        source,
    };
    let mut stats: Vec<(String, Stat<'_>)> = Vec::new();
    let ranked = data.ranked("model", scores).map_err(err)?;
    stats.push((
        MAIN_METRIC.into(),
        Box::new(move |sel: &[usize]| eval::accuracy_pooled(sel.iter().map(|&i| &ranked[i]))),
    ));
    if let Some(t) = truth
        && let Some((x, y)) = latent_columns(data, scores, t, Criterion::Overall, false)
    {
        stats.push(("overall.spearman_latent".into(), pooled_spearman(x, y)));
    }
    let (min, max) = data.scale;
    for c in &Criterion::ALL[1..] {
        let c = *c;
        let name = c.name();
        if let Some(t) = truth
            && let Some((x, y)) = latent_columns(data, scores, t, c, true)
        {
            stats.push((format!("{name}.spearman_latent"), pooled_spearman(x, y)));
        }
        let Some(rated) = data.rated("model", scores, c).map_err(err)? else {
            continue;
        };
        let rated: std::rc::Rc<Vec<RatedPrompt>> = std::rc::Rc::new(rated);
        let has_rating = rated.iter().flatten().any(|im| im.predicted.is_some());
        let r = rated.clone();
        stats.push((
            format!("{name}.spearman_rating"),
            Box::new(move |sel: &[usize]| eval::rating_spearman(sel.iter().map(|&i| &r[i]))),
        ));
        if has_rating {
            let r = rated.clone();
            stats.push((
                format!("{name}.mae"),
                Box::new(move |sel: &[usize]| eval::rating_mae(sel.iter().map(|&i| &r[i]))),
            ));
            let r = rated;
            stats.push((
                format!("{name}.exact_match"),
                Box::new(move |sel: &[usize]| {
                    eval::rating_exact(sel.iter().map(|&i| &r[i]), min, max)
                }),
            ));
        }
    }
    let all: Vec<usize> = (0..data.prompts.len()).collect();
    Ok(stats
        .into_iter()
        .map(|(metric, stat)| CellFigure {
            metric,
            value: stat(&all),
            resamples: draws.iter().map(|d| stat(d)).collect(),
        })
        .collect())
}
