//! One evaluation of a split, shared by `rewardlab eval` and the ablation cells: the model's and
//! each baseline's scores of the evaluated prompts, PickScore's tie threshold chosen per scorer
//! on the validation prompts (or given, or on the evaluated prompts, which the report says),
//! every figure of the `eval` crate, and `metrics.json` + `report.md`.

use std::path::Path;

use eval::{
    Baseline, EvalData, EvalError, EvalLabels, EvalOptions, Evaluation, ImageRef, ScoreTable,
    ScorerInput, TieThreshold,
};

use crate::ImageScorer;
use crate::error::{Result, ScoringError};

/// `metrics.json`: the evaluation, every figure with its interval.
pub const METRICS_FILE: &str = "metrics.json";
/// `report.md`: the same as tables.
pub const REPORT_FILE: &str = "report.md";

/// A scorer's scores of `images`, by generation id.
pub fn score_split(scorer: &dyn ImageScorer, images: &[ImageRef<'_>]) -> Result<ScoreTable> {
    let scores = scorer.score_refs(images)?;
    Ok(images
        .iter()
        .zip(scores)
        .map(|(im, s)| (im.generation_id.to_string(), s))
        .collect())
}

/// What one evaluation of a split needs besides the model's scores.
pub struct SplitEvaluation<'a> {
    /// The evaluated prompts.
    pub data: &'a EvalData,
    /// The prompts tie thresholds are chosen on; `None`: on the evaluated prompts.
    pub validation: Option<&'a EvalData>,
    /// One tie threshold for every scorer, instead of choosing them.
    pub tie_threshold: Option<f64>,
    /// The dataset folder, which image paths are relative to.
    pub root: &'a Path,
    pub baselines: &'a [Box<dyn Baseline>],
    pub options: EvalOptions,
    pub labels: EvalLabels,
}

/// An evaluation and the scores it was made from.
pub struct Evaluated {
    pub evaluation: Evaluation,
    /// The model's (named `model`) and each baseline's scores of the evaluated prompts, in the
    /// order of the evaluation's scorers.
    pub tables: Vec<(String, ScoreTable)>,
}

impl Evaluated {
    /// The model's scores of the evaluated prompts.
    pub fn model_scores(&self) -> &ScoreTable {
        &self.tables[0].1
    }
}

/// Evaluates the model (`model` gives its scores of some prompts: a scorer run on them, or a
/// table read from a file) and every baseline on the same prompts with the same resamples.
pub fn evaluate_split(
    model: &dyn Fn(&EvalData) -> Result<ScoreTable>,
    split: &SplitEvaluation<'_>,
) -> Result<Evaluated> {
    let tables = score_all(split.data, split.root, model, split.baselines)?;
    let thresholds: Vec<TieThreshold> = match (split.validation, split.tie_threshold) {
        (_, Some(t)) => vec![TieThreshold::Given(t); tables.len()],
        (Some(v), None) => score_all(v, split.root, model, split.baselines)?
            .iter()
            .map(
                |(name, table)| match eval::choose_threshold_on(v, name, table) {
                    Ok(Some(t)) => Ok(TieThreshold::Validation(t)),
                    // A scores file may cover only the evaluated prompts: then the threshold is
                    // chosen on them, and the report says so.
                    Ok(None) | Err(EvalError::MissingScores { .. }) => Ok(TieThreshold::Evaluated),
                    Err(e) => Err(e.into()),
                },
            )
            .collect::<Result<_>>()?,
        (None, None) => vec![TieThreshold::Evaluated; tables.len()],
    };
    let inputs: Vec<ScorerInput> = tables
        .iter()
        .zip(&thresholds)
        .map(|((name, scores), &tie_threshold)| ScorerInput {
            name,
            scores,
            tie_threshold,
        })
        .collect();
    let evaluation = eval::evaluate(
        split.data,
        inputs[0],
        &inputs[1..],
        &split.options,
        split.labels.clone(),
    )?;
    Ok(Evaluated { evaluation, tables })
}

/// The model's scores of `data` (named `model`), then each baseline's.
fn score_all(
    data: &EvalData,
    root: &Path,
    model: &dyn Fn(&EvalData) -> Result<ScoreTable>,
    baselines: &[Box<dyn Baseline>],
) -> Result<Vec<(String, ScoreTable)>> {
    let refs = data.image_refs(root);
    let mut tables = vec![("model".to_string(), model(data)?)];
    for b in baselines {
        tables.push((b.name().to_string(), b.score_table(&refs)?));
    }
    Ok(tables)
}

/// Writes `metrics.json` and `report.md` into `out` (created if needed).
pub fn write_evaluation(out: &Path, evaluation: &Evaluation) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|source| ScoringError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let json = serde_json::to_string_pretty(evaluation)
        .map_err(|e| ScoringError::Output(format!("metrics.json: {e}")))?
        + "\n";
    for (file, text) in [
        (METRICS_FILE, json),
        (REPORT_FILE, eval::report::markdown(evaluation)),
    ] {
        let path = out.join(file);
        std::fs::write(&path, text).map_err(|source| ScoringError::Io { path, source })?;
    }
    Ok(())
}
