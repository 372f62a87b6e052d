//! One cell of a study: a training run folder (`train::train`), its evaluation on the held-out
//! test prompts with the `eval` crate (every figure with a bootstrap interval, next to the random
//! and oracle baselines), the model's scores of the test and validation images, and `cell.json`,
//! written last, which marks the cell finished.
//!
//! Cell folder: the run folder of `train` (`config.toml`, `summary.json`, `model.safetensors`,
//! ...), plus `scores.json`, `eval-test/metrics.json` + `eval-test/report.md`, and `cell.json`.
//!
//! Resuming: a finished cell is skipped; a cell with a finished training run is only evaluated;
//! a run cut short resumes from its last checkpoint; anything else trains from scratch. A cell
//! folder that holds another config than the study's is an error, never silently reused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use annotations::Criterion;
use annotations::splits::{Split, split_prompts};
use eval::{
    BaselineContext, EvalData, EvalLabels, EvalOptions, ImageScores, Registry, ScoreTable,
    ScorerInput, TieThreshold,
};
use serde::{Deserialize, Serialize};
use train::{TrainConfig, TrainOptions};

use crate::error::{Result, StudyError};
use crate::study::Cell;
use crate::world::Loaded;

/// Marks a finished cell; holds its record.
pub const CELL_FILE: &str = "cell.json";
/// The model's scores of the cell's test and validation images.
pub const SCORES_FILE: &str = "scores.json";
/// The evaluation of the test split.
pub const EVAL_DIR: &str = "eval-test";

/// What `cell.json` records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    pub id: String,
    pub group: String,
    pub seed: u64,
    /// The level label of every axis, in axis order.
    pub labels: Vec<String>,
    /// The dataset folder it trained on.
    pub dataset: PathBuf,
    /// Training wall time (of the last training process, for a resumed run).
    pub train_seconds: f64,
    /// Scoring and evaluation wall time.
    pub eval_seconds: f64,
    /// Epochs trained (early stopping may end a run before `optim.epochs`).
    pub epochs: usize,
    pub test_prompts: usize,
    /// The pooled pairwise accuracy of the overall head on the test prompts, with its interval.
    pub pairwise_accuracy: Option<f64>,
    pub pairwise_accuracy_ci95: Option<[f64; 2]>,
}

/// What happened to a cell in this invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellStatus {
    /// Finished in an earlier invocation.
    Skipped,
    /// Trained from scratch, then evaluated.
    Trained,
    /// Training resumed from a checkpoint, then evaluated.
    Resumed,
    /// Training had finished earlier; only evaluated now.
    Evaluated,
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("serialisable") + "\n";
    std::fs::write(path, text).map_err(StudyError::io(path))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(StudyError::io(path))?;
    serde_json::from_str(&text).map_err(|e| StudyError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Reads a finished cell's record, `None` when the cell has not finished.
pub fn read_record(dir: &Path) -> Result<Option<CellRecord>> {
    let p = dir.join(CELL_FILE);
    if !p.exists() {
        return Ok(None);
    }
    read_json(&p).map(Some)
}

/// One image's scores as stored in `scores.json` (by [`Criterion::index`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct StoredScores {
    score: [Option<f64>; 4],
    rating: [Option<f64>; 4],
}

/// Writes a score table as `scores.json`.
pub fn write_scores(path: &Path, table: &ScoreTable) -> Result<()> {
    let sorted: BTreeMap<&String, StoredScores> = table
        .iter()
        .map(|(k, v)| {
            (
                k,
                StoredScores {
                    score: v.score,
                    rating: v.rating,
                },
            )
        })
        .collect();
    write_json(path, &sorted)
}

/// Reads a `scores.json`.
pub fn read_scores(path: &Path) -> Result<ScoreTable> {
    let stored: BTreeMap<String, StoredScores> = read_json(path)?;
    Ok(stored
        .into_iter()
        .map(|(k, v)| {
            let s = ImageScores {
                score: v.score,
                rating: v.rating,
            };
            (k, s)
        })
        .collect())
}

/// The prompts (indices into the index) of one split of a config.
pub fn split_of(loaded: &Loaded, config: &TrainConfig, split: Split) -> Vec<usize> {
    let splits = split_prompts(&loaded.ix, &config.data.split);
    (0..loaded.ix.prompts.len())
        .filter(|&p| splits[p] == split)
        .collect()
}

/// The cell's test prompts as the `eval` crate sees them.
pub fn test_data(loaded: &Loaded, config: &TrainConfig) -> EvalData {
    let test = split_of(loaded, config, Split::Test);
    EvalData::from_dataset(&loaded.ds, &loaded.ix, &test)
}

/// Trains (or resumes, or skips) and evaluates one cell in `dir`.
pub fn run_cell(
    cell: &Cell,
    labels: Vec<String>,
    dir: &Path,
    loaded: &Loaded,
    resamples: usize,
) -> Result<(CellRecord, CellStatus)> {
    let train_err = |source| StudyError::Train {
        cell: cell.id.clone(),
        source,
    };
    // A folder of another config is never reused.
    if dir.join(train::run::CONFIG_FILE).exists() {
        let saved = train::run_config(dir).map_err(train_err)?;
        if saved != cell.config {
            return Err(StudyError::ConfigChanged {
                cell: cell.id.clone(),
                dir: dir.to_path_buf(),
            });
        }
    }
    if let Some(record) = read_record(dir)? {
        return Ok((record, CellStatus::Skipped));
    }

    let summary_path = dir.join(train::run::SUMMARY_FILE);
    let (status, train_seconds, epochs) = if summary_path.exists() {
        let summary: serde_json::Value = read_json(&summary_path)?;
        let epochs = std::fs::read_to_string(dir.join(train::run::METRICS_FILE))
            .map_or(0, |t| t.lines().skip(1).filter(|l| !l.is_empty()).count());
        (
            CellStatus::Evaluated,
            summary["wall_seconds"].as_f64().unwrap_or(0.0),
            epochs,
        )
    } else {
        let resume = train::last_checkpoint(dir).is_some();
        let opts = TrainOptions {
            out: dir.to_path_buf(),
            resume,
            force: !resume,
            ground_truth: loaded.ground_truth.clone(),
            print: false,
        };
        let report = train::train(&loaded.ds, &cell.config, &opts).map_err(train_err)?;
        let status = if resume {
            CellStatus::Resumed
        } else {
            CellStatus::Trained
        };
        (status, report.wall_seconds, report.history.len())
    };

    let t0 = Instant::now();
    let evaluation = evaluate_run(dir, loaded, &cell.config, resamples).map_err(|e| match e {
        StudyError::Eval { source, .. } => StudyError::Eval {
            cell: cell.id.clone(),
            source,
        },
        StudyError::Train { source, .. } => StudyError::Train {
            cell: cell.id.clone(),
            source,
        },
        other => other,
    })?;
    let acc = &evaluation.model.pairwise_accuracy_pooled;
    let record = CellRecord {
        id: cell.id.clone(),
        group: cell.group.clone(),
        seed: cell.seed,
        labels,
        dataset: loaded.dir.clone(),
        train_seconds,
        eval_seconds: t0.elapsed().as_secs_f64(),
        epochs,
        test_prompts: evaluation.prompts,
        pairwise_accuracy: acc.value,
        pairwise_accuracy_ci95: acc.ci95,
    };
    write_json(&dir.join(CELL_FILE), &record)?;
    Ok((record, status))
}

/// Scores the test and validation images of a config's split with the model of `run_dir`,
/// writes `scores.json`, and evaluates the test prompts as `rewardlab eval --run` does (the tie
/// threshold of PickScore's accuracy chosen on the validation prompts; the random and oracle
/// baselines where they can run) into `eval-test/`.
pub fn evaluate_run(
    run_dir: &Path,
    loaded: &Loaded,
    config: &TrainConfig,
    resamples: usize,
) -> Result<eval::Evaluation> {
    let eval_err = |source| StudyError::Eval {
        cell: run_dir.display().to_string(),
        source,
    };
    let train_err = |source| StudyError::Train {
        cell: run_dir.display().to_string(),
        source,
    };
    let test = test_data(loaded, config);
    let valid_prompts = split_of(loaded, config, Split::Validation);
    let valid = EvalData::from_dataset(&loaded.ds, &loaded.ix, &valid_prompts);

    let scorer = train::Scorer::load(run_dir).map_err(train_err)?;
    let mut items = Vec::new();
    let mut ids = Vec::new();
    for p in test.prompts.iter().chain(&valid.prompts) {
        for (g, im) in p.generations.iter().zip(&p.images) {
            let Some(im) = im else { continue };
            items.push((p.text.clone(), loaded.ds.image_path(im)));
            ids.push(g.clone());
        }
    }
    let scored = scorer.score_files(&items).map_err(train_err)?;
    let model: ScoreTable = ids
        .into_iter()
        .zip(scored)
        .map(|(id, s)| (id, image_scores(&s)))
        .collect();
    write_scores(&run_dir.join(SCORES_FILE), &model)?;

    let registry = Registry::builtin();
    let ctx = BaselineContext {
        seed: 0,
        truth: loaded.truth.clone(),
    };
    let mut tables: Vec<(String, ScoreTable)> = vec![("model".into(), model)];
    for name in registry.defaults(&ctx) {
        let b = registry.create(&name, &ctx).map_err(eval_err)?;
        let mut table = b
            .score_table(&test.image_refs(&loaded.ds.root))
            .map_err(eval_err)?;
        table.extend(
            b.score_table(&valid.image_refs(&loaded.ds.root))
                .map_err(eval_err)?,
        );
        tables.push((name, table));
    }
    let thresholds: Vec<TieThreshold> = tables
        .iter()
        .map(|(name, t)| {
            if valid.prompts.is_empty() {
                return Ok(TieThreshold::Evaluated);
            }
            Ok(
                match eval::choose_threshold_on(&valid, name, t).map_err(eval_err)? {
                    Some(t) => TieThreshold::Validation(t),
                    None => TieThreshold::Evaluated,
                },
            )
        })
        .collect::<Result<_>>()?;
    let inputs: Vec<ScorerInput> = tables
        .iter()
        .zip(&thresholds)
        .map(|((name, scores), &tie_threshold)| ScorerInput {
            name,
            scores,
            tie_threshold,
        })
        .collect();
    let opts = EvalOptions {
        resamples,
        ..EvalOptions::default()
    };
    let evaluation = eval::evaluate(
        &test,
        inputs[0],
        &inputs[1..],
        &opts,
        EvalLabels {
            dataset: loaded.ds.meta.name.clone(),
            split: "test".into(),
            scored_by: format!("run {}", run_dir.display()),
        },
    )
    .map_err(eval_err)?;
    let out = run_dir.join(EVAL_DIR);
    std::fs::create_dir_all(&out).map_err(StudyError::io(&out))?;
    write_json(&out.join("metrics.json"), &evaluation)?;
    let report = out.join("report.md");
    std::fs::write(&report, eval::report::markdown(&evaluation))
        .map_err(StudyError::io(&report))?;
    Ok(evaluation)
}

/// A trained model's output for one image, as the evaluation reads it: every head's score and,
/// for Likert heads, its predicted rating.
pub fn image_scores(s: &train::ImageScore) -> ImageScores {
    let mut out = ImageScores::default();
    for c in Criterion::ALL {
        if let Some(h) = s.heads.get(c.name()) {
            out.score[c.index()] = Some(h.score);
            out.rating[c.index()] = h.rating;
        }
    }
    out
}
