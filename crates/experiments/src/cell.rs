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

use annotations::PerCriterion;
use annotations::splits::{Split, prompts_of};
use eval::{BaselineContext, EvalData, EvalLabels, EvalOptions, ImageScores, Registry, ScoreTable};
use scoring::{Device, RunScorer, SplitEvaluation};
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
    Ok(integrity::write_atomic(path, text.as_bytes())?)
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

/// One image's scores as stored in `scores.json`: rows in [`annotations::Criterion::ALL`] order.
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
                    score: v.score.into_array(),
                    rating: v.rating.into_array(),
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
                score: PerCriterion::from_array(v.score),
                rating: PerCriterion::from_array(v.rating),
            };
            (k, s)
        })
        .collect())
}

/// The prompts (indices into the index) of one split of a config.
pub fn split_of(loaded: &Loaded, config: &TrainConfig, split: Split) -> Vec<usize> {
    prompts_of(&loaded.ix, &config.data.split, split)
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
    device: &Device,
) -> Result<(CellRecord, CellStatus)> {
    let train_err = |source| StudyError::Train {
        cell: cell.id.clone(),
        source,
    };
    // One process per cell folder (the training inside takes the same lock again).
    let lock = integrity::FolderLock::acquire(dir, &format!("rewardlab ablate, cell {}", cell.id))?;
    if let Some(note) = lock.reclaimed_note() {
        eprintln!("{note}");
    }
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
        // A process killed between `cell.json` and the manifest's rewrite left the training's
        // manifest, which lacks the evaluation's files: every file is complete (each was
        // written atomically, `cell.json` last), so the manifest is finished now.
        let listed =
            integrity::Manifest::read(dir)?.is_some_and(|m| m.files.contains_key(CELL_FILE));
        if !listed {
            integrity::Manifest::of_folder(dir, train::run::RUN_KIND)?.write(dir)?;
        }
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
            ..Default::default()
        };
        let report = train::train(&loaded.ds, &cell.config, &opts, device).map_err(train_err)?;
        let status = if resume {
            CellStatus::Resumed
        } else {
            CellStatus::Trained
        };
        (status, report.wall_seconds, report.history.len())
    };

    let t0 = Instant::now();
    let evaluation =
        evaluate_run(dir, loaded, &cell.config, resamples, device).map_err(|e| match e {
            StudyError::Eval { source, .. } => StudyError::Eval {
                cell: cell.id.clone(),
                source,
            },
            StudyError::Scoring { source, .. } => StudyError::Scoring {
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
    // The run's manifest, now with the evaluation's files too.
    integrity::Manifest::of_folder(dir, train::run::RUN_KIND)?.write(dir)?;
    drop(lock);
    Ok((record, status))
}

/// Scores the test and validation images of a config's split with the model of `run_dir` on
/// `device`, writes `scores.json`, and evaluates the test prompts as `rewardlab eval --run` does
/// ([`scoring::evaluate_split`]: the tie threshold of PickScore's accuracy chosen on the
/// validation prompts; the random and oracle baselines where they can run) into `eval-test/`.
pub fn evaluate_run(
    run_dir: &Path,
    loaded: &Loaded,
    config: &TrainConfig,
    resamples: usize,
    device: &Device,
) -> Result<eval::Evaluation> {
    let scoring_err = |source| StudyError::Scoring {
        cell: run_dir.display().to_string(),
        source,
    };
    let eval_err = |source| StudyError::Eval {
        cell: run_dir.display().to_string(),
        source,
    };
    let test = test_data(loaded, config);
    let valid_prompts = split_of(loaded, config, Split::Validation);
    let valid = EvalData::from_dataset(&loaded.ds, &loaded.ix, &valid_prompts);

    // The test and validation images in one pass: `scores.json` keeps both.
    let scorer = RunScorer::load(run_dir, device).map_err(scoring_err)?;
    let root = &loaded.ds.root;
    let mut images = test.image_refs(root);
    images.extend(valid.image_refs(root));
    let model = scoring::score_split(&scorer, &images).map_err(scoring_err)?;
    write_scores(&run_dir.join(SCORES_FILE), &model)?;

    let registry = Registry::builtin();
    let ctx = BaselineContext {
        seed: 0,
        truth: loaded.truth.clone(),
    };
    let baselines = registry.resolve(&[], &ctx, None).map_err(eval_err)?;
    let split = SplitEvaluation {
        data: &test,
        validation: (!valid.prompts.is_empty()).then_some(&valid),
        tie_threshold: None,
        root,
        baselines: &baselines,
        options: EvalOptions {
            resamples,
            ..EvalOptions::default()
        },
        labels: EvalLabels {
            dataset: loaded.ds.meta.name.clone(),
            split: "test".into(),
            scored_by: format!("run {}", run_dir.display()),
        },
    };
    let evaluated =
        scoring::evaluate_split(&|_: &EvalData| Ok(model.clone()), &split).map_err(scoring_err)?;
    scoring::write_evaluation(&run_dir.join(EVAL_DIR), &evaluated.evaluation)
        .map_err(scoring_err)?;
    Ok(evaluated.evaluation)
}
