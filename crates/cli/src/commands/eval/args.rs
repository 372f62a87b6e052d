//! `rewardlab eval`'s flags, and the checks that need no file: a bad number or a model flag
//! that nothing uses is said before anything is loaded.

use std::path::PathBuf;

use annotations::splits::Selection;
use anyhow::{Result, bail};
use scoring::{PretrainedPaths, PretrainedScorerKind as PretrainedKind};

use crate::commands::scorer_args::{PretrainedArgs, ScorerArgs, model_flag_value};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("scorer").required(true).args(["run", "scores", "model"])))]
pub struct Args {
    /// The model whose scores of the dataset's images are evaluated.
    #[command(flatten)]
    pub scorer: ScorerArgs,
    /// Canonical dataset folder to evaluate on.
    #[arg(long)]
    pub dataset: PathBuf,
    /// External scores instead of a run: a CSV with columns `generation_id,score` (ids as
    /// `rewardlab validate DATASET --list-generations` lists them). Works on annotation-only
    /// datasets.
    #[arg(long)]
    pub scores: Option<PathBuf>,
    /// Prompts to evaluate: test, validation, train or all. Default: test with --run (the split
    /// of the run's config.toml), all with --scores or --model.
    #[arg(long)]
    pub split: Option<String>,
    /// With --scores or --model: take the split from this run folder (its config.toml) or
    /// training config file; default: the default split (0.8/0.1/0.1, seed 0, stratified by
    /// category).
    #[arg(long, conflicts_with = "run")]
    pub split_from: Option<PathBuf>,
    /// Output folder; default: RUN/eval-SPLIT, SCORES-eval beside the scores file, or
    /// eval-MODEL-DATASET-SPLIT in the current folder with --model.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite a non-empty output folder.
    #[arg(long)]
    pub force: bool,
    /// A baseline to compare with (repeatable): random, oracle (synthetic data only),
    /// clip-score (with --encoder DIR), imagereward (with --checkpoint FILE), pickscore (with
    /// --pickscore DIR), hpsv2 (with --hpsv2 FILE), or none. Default:
    /// every baseline that can run on the dataset (the pretrained ones when their flag is given).
    #[arg(long = "baseline")]
    pub baselines: Vec<String>,
    /// Bootstrap resamples of the prompts.
    #[arg(long, default_value_t = eval::bootstrap::DEFAULT_RESAMPLES)]
    pub resamples: usize,
    /// Seed of the bootstrap and of the random baseline.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// K of Recall@K and Filter@K in the headline figures (1, 2 and 4 are always reported).
    #[arg(long, default_value_t = 1)]
    pub k: usize,
    /// PickScore's tie threshold t; default: chosen on the validation prompts (or on the
    /// evaluated prompts when there are none, which the report says).
    #[arg(long, allow_negative_numbers = true)]
    pub tie_threshold: Option<f64>,
    /// Print metrics.json to stdout instead of the markdown report.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// The split's name as given (default: test with --run, else all) and the prompts it selects.
    pub fn selection(&self) -> Result<(String, Selection)> {
        let name = self
            .split
            .clone()
            .unwrap_or_else(|| self.scorer.default_split().into());
        let selection = name.parse().map_err(|e| anyhow::anyhow!("--split: {e}"))?;
        Ok((name, selection))
    }

    /// Refuses numbers out of range and a model flag that nothing uses (with no --baseline, the
    /// pretrained baselines whose flag is given run by default); returns the pretrained models'
    /// paths.
    pub fn check(&self) -> Result<PretrainedPaths> {
        if self.k == 0 {
            bail!("--k must be at least 1");
        }
        if self
            .tie_threshold
            .is_some_and(|t| !(t.is_finite() && t >= 0.0))
        {
            bail!("--tie-threshold must be a number >= 0");
        }
        let paths = self.scorer.pretrained.paths(self.model_kind())?;
        for kind in PretrainedKind::ALL {
            let used = self.model_kind() == Some(kind)
                || self.baselines.is_empty()
                || self.baselines.iter().any(|n| n == kind.name());
            if paths.path(kind).is_some() && !used {
                bail!(
                    "{} is given, but neither --model {} nor --baseline {} uses it",
                    PretrainedArgs::baseline_flag(kind),
                    model_flag_value(kind),
                    kind.name()
                );
            }
        }
        Ok(paths)
    }

    /// The pretrained model evaluated, if one is.
    pub fn model_kind(&self) -> Option<PretrainedKind> {
        self.scorer.model_kind()
    }
}
