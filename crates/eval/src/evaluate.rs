//! The whole evaluation of one or more scorers on the same prompts: every figure of the crate
//! with its 95% bootstrap interval, gathered into the report that `metrics.json` serialises, and
//! the per-prompt rows behind the per-prompt table.

use std::collections::BTreeMap;

use annotations::Criterion;
use serde::Serialize;

use crate::annotators::{accuracy_vs_mean_rank, agreement};
use crate::bootstrap::{DEFAULT_RESAMPLES, Resamples};
use crate::correlation::{
    kendall_per_prompt, kendall_pooled, kendall_tau_b, spearman_per_prompt, spearman_pooled,
};
use crate::data::EvalData;
use crate::error::{EvalError, Result};
use crate::pairwise::{
    accuracy_per_prompt, accuracy_pooled, choose_tie_threshold, strict_counts, tie_aware_accuracy,
    tie_calibration,
};
use crate::prompt::RankedPrompt;
use crate::ratings::{RatedPrompt, rating_exact, rating_mae, rating_pearson, rating_spearman};
use crate::scores::ScoreTable;
use crate::topk::{best_first, filter_at_k, hit, recall_at_k};

/// How the evaluation runs.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalOptions {
    /// Bootstrap resamples of the prompts.
    pub resamples: usize,
    /// Seed of the bootstrap (and of the random baseline).
    pub seed: u64,
    /// The K of `recall_at_k` and `filter_at_k`.
    pub k: usize,
    /// Every K reported under `recall_at` and `filter_at` (ImageReward reports 1, 2 and 4).
    pub k_values: Vec<usize>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            resamples: DEFAULT_RESAMPLES,
            seed: 0,
            k: 1,
            k_values: vec![1, 2, 4],
        }
    }
}

/// A figure and its 95% bootstrap interval. `value` is `null` where the figure is undefined on
/// these prompts (no pair, a constant side).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figure {
    pub value: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    /// What the figure is over: pairs for accuracies, prompts for per-prompt means and
    /// Recall/Filter@K, images for rating correlations, judgments for MAE and exact match.
    pub n: usize,
}

impl Figure {
    /// `stat` on all items, and on every resample of them.
    fn of<T>(items: &[T], rs: &Resamples, n: usize, stat: impl Fn(Vec<&T>) -> Option<f64>) -> Self {
        Self {
            value: stat(items.iter().collect()),
            ci95: rs.ci95(|sel| stat(sel.iter().map(|&i| &items[i]).collect())),
            n,
        }
    }
}

/// A figure that depends on a tie threshold.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ThresholdFigure {
    #[serde(flatten)]
    pub figure: Figure,
    pub threshold: Option<f64>,
    /// Where the threshold comes from: `validation` (chosen on the validation prompts), `given`,
    /// `evaluated` (chosen on the evaluated prompts themselves: optimistic).
    pub chosen_on: String,
}

/// Recall@K or Filter@K at one K.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KFigure {
    pub k: usize,
    #[serde(flatten)]
    pub figure: Figure,
}

/// Multi-annotator figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AnnotatorReport {
    /// The scorer against every annotator's strict pairs, on the pairs the ceiling is computed on.
    pub vs_annotators: Figure,
    /// Each annotator against the leave-one-out mean rank of the others, on the same pairs.
    pub human_ceiling: Figure,
    pub per_annotator: Vec<AnnotatorRow>,
}

/// One annotator: the scorer's accuracy on their strict pairs and the human ceiling there.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AnnotatorRow {
    pub annotator: String,
    pub model: Figure,
    pub ceiling: Figure,
}

/// Figures of one criterion's ratings.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CriterionReport {
    pub spearman: Figure,
    pub pearson: Figure,
    /// Only for scorers that predict a rating.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mae: Option<Figure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact_match: Option<Figure>,
}

/// Every figure of one scorer.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ScorerReport {
    pub scorer: String,
    pub pairwise_accuracy_pooled: Figure,
    pub pairwise_accuracy_per_prompt: Figure,
    pub tie_aware_accuracy: ThresholdFigure,
    pub acc23: ThresholdFigure,
    pub kendall_tau_b: Figure,
    pub kendall_tau_b_pooled: Figure,
    pub spearman: Figure,
    pub spearman_pooled: Figure,
    pub recall_at_k: KFigure,
    pub filter_at_k: KFigure,
    pub recall_at: BTreeMap<usize, Figure>,
    pub filter_at: BTreeMap<usize, Figure>,
    pub accuracy_vs_mean_rank: Figure,
    /// Multi-annotator figures, where some prompt was ranked by two or more annotators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotator_agreement: Option<AnnotatorReport>,
    /// By criterion name, for every criterion the data rates and the scorer scores.
    pub criteria: BTreeMap<String, CriterionReport>,
}

/// Where a scorer's PickScore tie threshold comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TieThreshold {
    /// Chosen beforehand on validation prompts ([`choose_threshold_on`]).
    Validation(f64),
    /// Set by the user.
    Given(f64),
    /// Chosen on the evaluated prompts themselves (no validation data): an optimistic figure.
    Evaluated,
}

/// PickScore's tie threshold of a scorer, chosen on validation prompts.
pub fn choose_threshold_on(
    validation: &EvalData,
    scorer: &str,
    scores: &ScoreTable,
) -> Result<Option<f64>> {
    let ranked = validation.ranked(scorer, scores)?;
    Ok(choose_tie_threshold(&ranked).map(|c| c.threshold))
}

/// One scorer to evaluate.
#[derive(Clone, Copy, Debug)]
pub struct ScorerInput<'a> {
    pub name: &'a str,
    pub scores: &'a ScoreTable,
    pub tie_threshold: TieThreshold,
}

/// Every figure of one scorer on `data`, intervals from the resamples `rs` of its prompts.
pub fn evaluate_scorer(
    data: &EvalData,
    input: &ScorerInput<'_>,
    rs: &Resamples,
    opts: &EvalOptions,
) -> Result<ScorerReport> {
    let ranked = data.ranked(input.name, input.scores)?;
    let strict: usize = ranked.iter().map(|p| strict_counts(p).1).sum();
    let all_pairs: usize = ranked.iter().map(|p| p.pairs().count()).sum();
    // Within-prompt pairs of images with a mean rank (what pooled tau-b counts).
    let within_pairs: usize = ranked
        .iter()
        .map(|p| {
            let n = p.ranked_images().0.len();
            n * n.saturating_sub(1) / 2
        })
        .sum();
    let with_strict = ranked.iter().filter(|p| strict_counts(p).1 > 0).count();
    let defined = |f: fn(&[f64], &[f64]) -> Option<f64>| {
        ranked
            .iter()
            .filter(|p| {
                let (s, h) = p.ranked_images();
                f(&s, &h).is_some()
            })
            .count()
    };
    let (threshold, chosen_on) = match input.tie_threshold {
        TieThreshold::Validation(t) => (Some(t), "validation"),
        TieThreshold::Given(t) => (Some(t), "given"),
        TieThreshold::Evaluated => (
            choose_tie_threshold(&ranked).map(|c| c.threshold),
            "evaluated",
        ),
    };
    let tie_aware = ThresholdFigure {
        figure: match threshold {
            Some(t) => Figure::of(&ranked, rs, all_pairs, |v| tie_aware_accuracy(v, t)),
            None => Figure::default(),
        },
        threshold,
        chosen_on: chosen_on.to_string(),
    };
    // acc23 calibrates on the pairs it is computed on, so each resample calibrates again.
    let acc23 = ThresholdFigure {
        figure: Figure::of(&ranked, rs, all_pairs, |v| {
            tie_calibration(v).map(|c| c.accuracy)
        }),
        threshold: tie_calibration(&ranked).map(|c| c.threshold),
        chosen_on: "evaluated".into(),
    };
    let k_figure = |k: usize, best: bool| {
        let n = ranked.iter().filter(|p| hit(p, k, best).is_some()).count();
        Figure::of(&ranked, rs, n, |v| {
            if best {
                recall_at_k(v, k)
            } else {
                filter_at_k(v, k)
            }
        })
    };
    let mut report = ScorerReport {
        scorer: input.name.to_string(),
        pairwise_accuracy_pooled: Figure::of(&ranked, rs, strict, |v| accuracy_pooled(v)),
        pairwise_accuracy_per_prompt: Figure::of(&ranked, rs, with_strict, |v| {
            accuracy_per_prompt(v)
        }),
        tie_aware_accuracy: tie_aware,
        acc23,
        kendall_tau_b: Figure::of(&ranked, rs, defined(kendall_tau_b), |v| {
            kendall_per_prompt(v)
        }),
        kendall_tau_b_pooled: Figure::of(&ranked, rs, within_pairs, |v| kendall_pooled(v)),
        spearman: Figure::of(&ranked, rs, defined(metrics::spearman), |v| {
            spearman_per_prompt(v)
        }),
        spearman_pooled: Figure::of(&ranked, rs, data.images(), |v| spearman_pooled(v)),
        recall_at_k: KFigure {
            k: opts.k,
            figure: k_figure(opts.k, true),
        },
        filter_at_k: KFigure {
            k: opts.k,
            figure: k_figure(opts.k, false),
        },
        recall_at: opts
            .k_values
            .iter()
            .map(|&k| (k, k_figure(k, true)))
            .collect(),
        filter_at: opts
            .k_values
            .iter()
            .map(|&k| (k, k_figure(k, false)))
            .collect(),
        accuracy_vs_mean_rank: {
            let consensus: Vec<RankedPrompt> = ranked.iter().map(|p| p.consensus()).collect();
            let n = consensus.iter().map(|p| strict_counts(p).1).sum();
            Figure::of(&ranked, rs, n, |v| accuracy_vs_mean_rank(v))
        },
        annotator_agreement: None,
        criteria: BTreeMap::new(),
    };
    if agreement(&ranked, None).pairs > 0 {
        let row = |a: Option<usize>| {
            let n = agreement(&ranked, a).pairs;
            (
                Figure::of(&ranked, rs, n, |v| agreement(v, a).model),
                Figure::of(&ranked, rs, n, |v| agreement(v, a).ceiling),
            )
        };
        let (vs_annotators, human_ceiling) = row(None);
        let per_annotator = (0..data.annotators.len())
            .map(|a| {
                let (model, ceiling) = row(Some(a));
                AnnotatorRow {
                    annotator: data.annotators[a].clone(),
                    model,
                    ceiling,
                }
            })
            .filter(|r| r.model.n > 0)
            .collect();
        report.annotator_agreement = Some(AnnotatorReport {
            vs_annotators,
            human_ceiling,
            per_annotator,
        });
    }
    let (lo, hi) = data.scale;
    for c in Criterion::ALL {
        let Some(rated) = data.rated(input.name, input.scores, c)? else {
            continue;
        };
        let images = rated
            .iter()
            .flatten()
            .filter(|im| !im.ratings.is_empty())
            .count();
        let judgments: usize = rated
            .iter()
            .flatten()
            .filter(|im| im.predicted.is_some())
            .map(|im| im.ratings.len())
            .sum();
        let predicts = rated.iter().flatten().any(|im| im.predicted.is_some());
        let fig =
            |f: &dyn Fn(Vec<&RatedPrompt>) -> Option<f64>, n: usize| Figure::of(&rated, rs, n, f);
        report.criteria.insert(
            c.name().to_string(),
            CriterionReport {
                spearman: fig(&|v| rating_spearman(v), images),
                pearson: fig(&|v| rating_pearson(v), images),
                mae: predicts.then(|| fig(&|v| rating_mae(v), judgments)),
                exact_match: predicts.then(|| fig(&|v| rating_exact(v, lo, hi), judgments)),
            },
        );
    }
    Ok(report)
}

/// Bootstrap settings, as reported.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BootstrapInfo {
    pub resamples: usize,
    pub seed: u64,
    /// What is resampled.
    pub unit: &'static str,
    pub level: f64,
}

/// A whole evaluation: the model's figures at the top level (the keys scripts read), the
/// baselines' under `baselines`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    pub dataset: String,
    pub split: String,
    /// What produced the model's scores (a run folder, a scores file).
    pub scored_by: String,
    pub prompts: usize,
    pub images: usize,
    pub strict_pairs: usize,
    pub tied_pairs: usize,
    pub annotators: usize,
    pub bootstrap: BootstrapInfo,
    #[serde(flatten)]
    pub model: ScorerReport,
    /// Each annotator against the leave-one-out mean rank of the others (prompts ranked by two
    /// or more annotators only). Present whenever the data has annotator ids; its `value` is
    /// `null` (and `n` 0) when no prompt was ranked by two annotators. Absent without ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub human_ceiling: Option<Figure>,
    pub baselines: BTreeMap<String, ScorerReport>,
}

/// What is being evaluated, for the report.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalLabels {
    pub dataset: String,
    pub split: String,
    pub scored_by: String,
}

/// Evaluates a model and baselines on the same prompts with the same resamples.
pub fn evaluate(
    data: &EvalData,
    model: ScorerInput<'_>,
    baselines: &[ScorerInput<'_>],
    opts: &EvalOptions,
    labels: EvalLabels,
) -> Result<Evaluation> {
    if data.prompts.is_empty() {
        return Err(EvalError::Empty("no prompts were selected".into()));
    }
    let (strict, ties) = data.pair_counts();
    if strict + ties == 0 {
        return Err(EvalError::Empty(
            "the selected prompts have no ranked pair of images".into(),
        ));
    }
    let rs = Resamples::draw(data.prompts.len(), opts.resamples, opts.seed);
    let model = evaluate_scorer(data, &model, &rs, opts)?;
    let baselines = baselines
        .iter()
        .map(|b| Ok((b.name.to_string(), evaluate_scorer(data, b, &rs, opts)?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    Ok(Evaluation {
        dataset: labels.dataset,
        split: labels.split,
        scored_by: labels.scored_by,
        prompts: data.prompts.len(),
        images: data.images(),
        strict_pairs: strict,
        tied_pairs: ties,
        annotators: data.annotators.len(),
        bootstrap: BootstrapInfo {
            resamples: opts.resamples,
            seed: opts.seed,
            unit: "prompt",
            level: 0.95,
        },
        human_ceiling: match &model.annotator_agreement {
            Some(a) => Some(a.human_ceiling.clone()),
            None => (!data.annotators.is_empty()).then(Figure::default),
        },
        model,
        baselines,
    })
}

/// One prompt under one scorer: a row of the per-prompt table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PromptRow {
    pub scorer: String,
    pub prompt_id: String,
    pub prompt: String,
    pub category: Option<String>,
    pub images: usize,
    pub annotators: usize,
    pub strict_pairs: usize,
    pub tied_pairs: usize,
    /// Pairwise accuracy over the prompt's strict pairs (ImageReward's rule).
    pub accuracy: Option<f64>,
    pub kendall_tau_b: Option<f64>,
    pub spearman: Option<f64>,
    /// Recall@K and Filter@K of the prompt (1 or 0; null when the prompt takes no part).
    pub recall_at_k: Option<f64>,
    pub filter_at_k: Option<f64>,
    /// The image the scorer puts first, and its mean human rank.
    pub top_generation: Option<String>,
    pub top_mean_rank: Option<f64>,
}

/// The per-prompt rows of one scorer.
pub fn prompt_rows(
    data: &EvalData,
    scorer: &str,
    scores: &ScoreTable,
    k: usize,
) -> Result<Vec<PromptRow>> {
    let ranked = data.ranked(scorer, scores)?;
    Ok(data
        .prompts
        .iter()
        .zip(&ranked)
        .map(|(p, r)| {
            let (right, strict) = strict_counts(r);
            let (s, h) = r.ranked_images();
            let top = best_first(r.scores()).first().copied();
            PromptRow {
                scorer: scorer.to_string(),
                prompt_id: p.id.clone(),
                prompt: p.text.clone(),
                category: p.category.clone(),
                images: p.generations.len(),
                annotators: p.rankings.len(),
                strict_pairs: strict,
                tied_pairs: r.pairs().count() - strict,
                accuracy: (strict > 0).then(|| right as f64 / strict as f64),
                kendall_tau_b: kendall_tau_b(&s, &h),
                spearman: metrics::spearman(&s, &h),
                recall_at_k: hit(r, k, true).map(f64::from),
                filter_at_k: hit(r, k, false).map(f64::from),
                top_generation: top.map(|t| p.generations[t].clone()),
                top_mean_rank: top.and_then(|t| r.mean_ranks()[t]),
            }
        })
        .collect())
}
