//! The cross-dataset matrix of `rewardlab eval-matrix`: every model scored on every dataset,
//! one row per pair with the headline figure of each protocol the field uses (ImageReward's
//! pooled accuracy, HPSv2's per-prompt accuracy, PickScore's tie-aware accuracy, acc23,
//! Kendall's tau-b, Recall@1) and its bootstrap interval, beside the dataset's human ceiling.
//!
//! A model's scores of a dataset's images are cached ([`ScoreCache`]) under a key made of the
//! model's files and the dataset's annotations (paths, sizes, modification times), so that adding
//! a model to a matrix scores that model alone, and a changed checkpoint or dataset is rescored.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use eval::evaluate::ThresholdFigure;
use eval::{Evaluation, Figure, ScoreTable};
use serde::Serialize;

use crate::error::{Result, ScoringError};
use crate::pretrained::PretrainedScorerKind;

/// A model of the matrix, as `--models` names it: `KIND=PATH` or `LABEL:KIND=PATH`, where KIND
/// is `run` (a run folder) or a pretrained scorer (`imagereward`, `clip`, `pickscore`, `hpsv2`).
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixModel {
    /// The name of its rows and of its cache folder.
    pub label: String,
    pub source: ModelSource,
}

/// Where a matrix model's weights are.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    /// A run folder written by `rewardlab train`.
    Run(PathBuf),
    /// A pretrained scorer's checkpoint file or folder.
    Pretrained(PretrainedScorerKind, PathBuf),
}

/// The kinds `--models` takes, as they are spelled there.
pub const MODEL_KINDS: &str = "run, imagereward, clip, pickscore, hpsv2";

impl FromStr for MatrixModel {
    type Err = String;

    fn from_str(spec: &str) -> std::result::Result<Self, String> {
        let Some((head, path)) = spec.split_once('=') else {
            return Err(format!(
                "`{spec}` is not KIND=PATH or LABEL:KIND=PATH (KIND: {MODEL_KINDS})"
            ));
        };
        if path.is_empty() {
            return Err(format!("`{spec}` names no path after `=`"));
        }
        let (label, kind) = match head.split_once(':') {
            Some((label, kind)) if !label.is_empty() => (Some(label.to_string()), kind),
            Some(_) => return Err(format!("`{spec}` has an empty label before `:`")),
            None => (None, head),
        };
        let path = PathBuf::from(path);
        let source = match kind {
            "run" => ModelSource::Run(path.clone()),
            "clip" | "clip-score" => ModelSource::Pretrained(PretrainedScorerKind::ClipScore, path),
            other => match PretrainedScorerKind::ALL
                .into_iter()
                .find(|k| k.name() == other)
            {
                Some(k) => ModelSource::Pretrained(k, path),
                None => {
                    return Err(format!(
                        "`{other}` in `{spec}` is not a model kind ({MODEL_KINDS})"
                    ));
                }
            },
        };
        let label = label.unwrap_or_else(|| match &source {
            ModelSource::Run(dir) => format!(
                "run:{}",
                dir.file_name()
                    .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into())
            ),
            ModelSource::Pretrained(kind, _) => kind.name().to_string(),
        });
        Ok(Self { label, source })
    }
}

impl ModelSource {
    /// The files its scores depend on, each with its size and modification time: part of a
    /// score cache's key (`eval-matrix`'s, `audit`'s).
    pub fn fingerprint(&self) -> String {
        let (kind, path, files): (&str, &Path, &[&str]) = match self {
            ModelSource::Run(dir) => ("run", dir, &["model.safetensors", "model_config.json"]),
            ModelSource::Pretrained(kind, path) if path.is_dir() => (
                kind.name(),
                path,
                &[
                    "config.json",
                    "model.safetensors",
                    "preprocessor_config.json",
                ],
            ),
            ModelSource::Pretrained(kind, path) => (kind.name(), path, &[""]),
        };
        let mut key = format!("model {kind} {}\n", absolute(path).display());
        for file in files {
            let file = if file.is_empty() {
                path.to_path_buf()
            } else {
                path.join(file)
            };
            key.push_str(&file_stamp(&file));
        }
        key
    }
}

/// A dataset folder's cache key part: its path and its annotations file's size and time.
pub fn dataset_fingerprint(dir: &Path) -> String {
    format!(
        "dataset {}\n{}",
        absolute(dir).display(),
        file_stamp(&dir.join("annotations.parquet"))
    )
}

fn absolute(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// `NAME SIZE MTIME_NS`, or `NAME absent`.
fn file_stamp(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(m) => {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!(
                "{} {} {modified}\n",
                path.file_name().unwrap_or_default().to_string_lossy(),
                m.len()
            )
        }
        Err(_) => format!(
            "{} absent\n",
            path.file_name().unwrap_or_default().to_string_lossy()
        ),
    }
}

/// Scores cached per model and dataset: `scores/MODEL/DATASET.csv` (the format `eval --scores`
/// reads) beside `DATASET.key`, the key it was computed under.
#[derive(Clone, Debug)]
pub struct ScoreCache {
    dir: PathBuf,
}

/// A label as a file name: letters, digits, `.`, `-` and `_` kept, anything else `_`.
pub fn file_safe(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl ScoreCache {
    /// The cache of the matrix folder `out`.
    pub fn new(out: &Path) -> Self {
        Self {
            dir: out.join("scores"),
        }
    }

    fn files(&self, model: &str, dataset: &str) -> (PathBuf, PathBuf) {
        let base = self.dir.join(file_safe(model));
        let name = file_safe(dataset);
        (
            base.join(format!("{name}.csv")),
            base.join(format!("{name}.key")),
        )
    }

    /// The cached scores of `model` on `dataset` if they were computed under `key`; `None` when
    /// absent or stale. `known` says which generation ids the dataset has.
    pub fn get(
        &self,
        model: &str,
        dataset: &str,
        key: &str,
        known: &dyn Fn(&str) -> bool,
    ) -> Result<Option<ScoreTable>> {
        let (csv, key_file) = self.files(model, dataset);
        match std::fs::read_to_string(&key_file) {
            Ok(stored) if stored == key && csv.is_file() => {
                Ok(Some(eval::read_scores_csv(&csv, known)?))
            }
            _ => Ok(None),
        }
    }

    /// Keeps `table` (rows as `(generation_id, prompt_id)`) under `key`: the scores first, the
    /// key last, each written whole, so that a killed run leaves no key without its scores.
    pub fn put(
        &self,
        model: &str,
        dataset: &str,
        key: &str,
        rows: &[(&str, &str)],
        table: &ScoreTable,
    ) -> Result<()> {
        let (csv, key_file) = self.files(model, dataset);
        let parent = csv.parent().unwrap_or(&self.dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|source| ScoringError::Io {
            path: parent,
            source,
        })?;
        let _ = std::fs::remove_file(&key_file);
        for (path, bytes) in [
            (&csv, eval::scores_csv(rows, table).into_bytes()),
            (&key_file, key.as_bytes().to_vec()),
        ] {
            integrity::atomic::write_atomic(path, &bytes)
                .map_err(|e| ScoringError::Output(format!("{}: {e}", path.display())))?;
        }
        Ok(())
    }
}

/// One (model, dataset) cell: the headline figure of each protocol, with its interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatrixRow {
    pub dataset: String,
    pub model: String,
    pub split: String,
    pub prompts: usize,
    pub strict_pairs: usize,
    pub tied_pairs: usize,
    pub annotators: usize,
    /// ImageReward's protocol: strict pairs, pooled; a predicted tie is wrong.
    pub pairwise_accuracy_pooled: Figure,
    /// HPSv2's protocol: each prompt's accuracy, averaged over prompts.
    pub pairwise_accuracy_per_prompt: Figure,
    /// PickScore's protocol: every pair, ties half credit, the threshold as `chosen_on` says.
    pub tie_aware_accuracy: ThresholdFigure,
    /// acc_eq with tie calibration (Deutsch et al. 2023), as GenAI-Bench reports it.
    pub acc23: ThresholdFigure,
    pub kendall_tau_b: Figure,
    pub spearman: Figure,
    pub recall_at_1: Figure,
    /// Each annotator against the others, where the data has several per prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub human_ceiling: Option<Figure>,
}

impl MatrixRow {
    /// The row of `model` from its evaluation on a dataset.
    pub fn new(model: &str, e: &Evaluation) -> Self {
        let m = &e.model;
        Self {
            dataset: e.dataset.clone(),
            model: model.to_string(),
            split: e.split.clone(),
            prompts: e.prompts,
            strict_pairs: e.strict_pairs,
            tied_pairs: e.tied_pairs,
            annotators: e.annotators,
            pairwise_accuracy_pooled: m.pairwise_accuracy_pooled.clone(),
            pairwise_accuracy_per_prompt: m.pairwise_accuracy_per_prompt.clone(),
            tie_aware_accuracy: m.tie_aware_accuracy.clone(),
            acc23: m.acc23.clone(),
            kendall_tau_b: m.kendall_tau_b.clone(),
            spearman: m.spearman.clone(),
            recall_at_1: m.recall_at.get(&1).cloned().unwrap_or_default(),
            human_ceiling: e.human_ceiling.clone().filter(|f| f.value.is_some()),
        }
    }

    /// The figures in column order, named as the Parquet file names them.
    pub fn figures(&self) -> [(&'static str, &Figure); 8] {
        [
            ("pairwise_accuracy_pooled", &self.pairwise_accuracy_pooled),
            (
                "pairwise_accuracy_per_prompt",
                &self.pairwise_accuracy_per_prompt,
            ),
            ("tie_aware_accuracy", &self.tie_aware_accuracy.figure),
            ("acc23", &self.acc23.figure),
            ("kendall_tau_b", &self.kendall_tau_b),
            ("spearman", &self.spearman),
            ("recall_at_1", &self.recall_at_1),
            (
                "human_ceiling",
                self.human_ceiling.as_ref().unwrap_or(&NO_FIGURE),
            ),
        ]
    }
}

static NO_FIGURE: Figure = Figure {
    value: None,
    ci95: None,
    n: 0,
};

/// A (model, dataset) cell that could not be computed, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SkippedCell {
    pub dataset: String,
    pub model: String,
    pub reason: String,
}

/// The matrix: its rows and the cells it could not fill.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Matrix {
    pub rows: Vec<MatrixRow>,
    pub skipped: Vec<SkippedCell>,
    /// Bootstrap resamples and seed behind every interval.
    pub resamples: usize,
    pub seed: u64,
}

/// `0.718 [0.690, 0.747]`, or `-` where the figure is undefined.
fn cell(f: &Figure) -> String {
    match (f.value, f.ci95) {
        (Some(v), Some([lo, hi])) => format!("{v:.3} [{lo:.3}, {hi:.3}]"),
        (Some(v), None) => format!("{v:.3}"),
        _ => "-".into(),
    }
}

impl Matrix {
    /// One table per dataset, models as rows, the human ceiling last; then the cells skipped.
    pub fn markdown(&self) -> String {
        let mut out = String::from("# Every model on every dataset\n\n");
        out.push_str(&format!(
            "Figures with 95% bootstrap intervals over prompts ({} resamples, seed {}). ImageReward: \
             pooled accuracy on strict pairs; HPSv2: accuracy per prompt, averaged; PickScore: \
             tie-aware accuracy on all pairs (threshold chosen on validation prompts, or on the \
             evaluated ones where marked *); acc23: acc_eq with tie calibration; tau-b and Spearman \
             per prompt; Recall@1: the human-best image ranked first.\n",
            self.resamples, self.seed
        ));
        let mut datasets: Vec<&str> = Vec::new();
        for r in &self.rows {
            if !datasets.contains(&r.dataset.as_str()) {
                datasets.push(&r.dataset);
            }
        }
        for dataset in datasets {
            let rows: Vec<&MatrixRow> = self.rows.iter().filter(|r| r.dataset == dataset).collect();
            let first = rows[0];
            out.push_str(&format!(
                "\n## {dataset}\n\nsplit {}, {} prompts, {} strict and {} tied pairs, {} annotators\n\n",
                first.split, first.prompts, first.strict_pairs, first.tied_pairs, first.annotators
            ));
            out.push_str(
                "| model | ImageReward acc. | HPSv2 acc. | PickScore acc. | acc23 | tau-b | Spearman | Recall@1 |\n\
                 |---|---|---|---|---|---|---|---|\n",
            );
            for r in &rows {
                let star = if r.tie_aware_accuracy.chosen_on == "evaluated" {
                    "*"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "| {} | {} | {} | {}{star} | {} | {} | {} | {} |\n",
                    r.model,
                    cell(&r.pairwise_accuracy_pooled),
                    cell(&r.pairwise_accuracy_per_prompt),
                    cell(&r.tie_aware_accuracy.figure),
                    cell(&r.acc23.figure),
                    cell(&r.kendall_tau_b),
                    cell(&r.spearman),
                    cell(&r.recall_at_1),
                ));
            }
            if let Some(ceiling) = &first.human_ceiling {
                out.push_str(&format!(
                    "| *human ceiling* | {} | | | | | | |\n",
                    cell(ceiling)
                ));
            }
        }
        if !self.skipped.is_empty() {
            out.push_str("\n## Not computed\n\n");
            for s in &self.skipped {
                out.push_str(&format!("- {} on {}: {}\n", s.model, s.dataset, s.reason));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_specs_name_a_kind_a_path_and_optionally_a_label() {
        let run: MatrixModel = "run=runs/default".parse().unwrap();
        assert_eq!(run.label, "run:default");
        assert_eq!(run.source, ModelSource::Run("runs/default".into()));
        let hps: MatrixModel = "v2.1:hpsv2=m/HPS_v2.1.pt".parse().unwrap();
        assert_eq!(hps.label, "v2.1");
        assert_eq!(
            hps.source,
            ModelSource::Pretrained(PretrainedScorerKind::Hpsv2, "m/HPS_v2.1.pt".into())
        );
        let clip: MatrixModel = "clip=models/clip".parse().unwrap();
        assert_eq!(clip.label, "clip-score");
        for bad in ["runs/default", "blip=x", "run=", ":run=x"] {
            let e = bad.parse::<MatrixModel>().unwrap_err();
            assert!(e.contains(bad.split('=').next().unwrap()), "{bad}: {e}");
        }
    }

    #[test]
    fn a_cached_table_is_returned_only_under_its_key() {
        let dir = std::env::temp_dir().join(format!("rewardlab-matrix-{}", std::process::id()));
        let cache = ScoreCache::new(&dir);
        let table: ScoreTable = [("g1".to_string(), eval::ImageScores::overall(0.5))]
            .into_iter()
            .collect();
        let known = |id: &str| id == "g1";
        assert!(cache.get("m:x", "d", "k1", &known).unwrap().is_none());
        cache
            .put("m:x", "d", "k1", &[("g1", "p1")], &table)
            .unwrap();
        let back = cache.get("m:x", "d", "k1", &known).unwrap().unwrap();
        assert_eq!(back["g1"].score, table["g1"].score);
        assert!(cache.get("m:x", "d", "k2", &known).unwrap().is_none());
        assert!(dir.join("scores/m_x/d.csv").is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fingerprints_change_with_the_files() {
        let dir = std::env::temp_dir().join(format!("rewardlab-fp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("HPS_v2.pt");
        std::fs::write(&file, b"one").unwrap();
        let model: MatrixModel = format!("hpsv2={}", file.display()).parse().unwrap();
        let before = model.source.fingerprint();
        std::fs::write(&file, b"three").unwrap();
        assert_ne!(model.source.fingerprint(), before);
        assert!(dataset_fingerprint(&dir).contains("annotations.parquet absent"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
