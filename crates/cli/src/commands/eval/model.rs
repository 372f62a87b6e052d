//! What `rewardlab eval` evaluates: a trained run (with the split of its config), a pretrained
//! model or an external scores file, and the output folder that goes beside it.

use std::path::{Path, PathBuf};

use annotations::splits::SplitSpec;
use annotations::{Dataset, ImagesState, Index};
use anyhow::{Result, bail};
use eval::{EvalData, ScoreTable};
use scoring::{AnyScorer, Device, ImageScorer, PretrainedPaths};

use super::args::Args;

/// The model's scores: a scorer run on the images, or a scores file read once.
// One value per process: boxing the scorer would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum ModelScores {
    Scorer(AnyScorer),
    File(ScoreTable),
}

impl ModelScores {
    /// The model's scores of `data`'s images (under `root`).
    pub fn of(&self, data: &EvalData, root: &Path) -> scoring::Result<ScoreTable> {
        match self {
            ModelScores::Scorer(s) => {
                eprintln!("scoring {} images with {}", data.images(), s.name());
                scoring::score_split(s, &data.image_refs(root))
            }
            ModelScores::File(t) => Ok(t.clone()),
        }
    }
}

/// The evaluated model, the split its prompts are chosen by, how the report names it and the
/// default output folder.
pub struct Chosen {
    pub scores: ModelScores,
    pub spec: SplitSpec,
    pub scored_by: String,
    pub default_out: PathBuf,
}

/// Loads the model the flags name onto `device`.
pub fn choose(
    args: &Args,
    paths: &PretrainedPaths,
    ds: &Dataset,
    ix: &Index,
    split: &str,
    device: &Device,
) -> Result<Chosen> {
    let needs_images = |what: &str| -> Result<()> {
        if ds.meta.images == ImagesState::Absent {
            bail!(
                "{} is annotation-only (its images are absent), so {what} cannot score it; \
                 evaluate an external model's scores with --scores FILE instead",
                args.dataset.display()
            );
        }
        Ok(())
    };
    match (&args.scorer.run, &args.scores, args.model_kind()) {
        (Some(run), _, _) => {
            needs_images("a run")?;
            let spec = crate::commands::run_split(run)?;
            warn_other_dataset(run, ds);
            let scorer = args.scorer.load_run(run, device)?;
            Ok(Chosen {
                scores: ModelScores::Scorer(scorer),
                spec,
                scored_by: format!("run {}", run.display()),
                default_out: run.join(format!("eval-{split}")),
            })
        }
        (None, Some(file), _) => {
            let known = |id: &str| ix.generation_by_id.contains_key(id);
            let table = eval::read_scores_csv(file, &known)?;
            let stem = file
                .file_stem()
                .map_or("scores".into(), |s| s.to_string_lossy().to_string());
            Ok(Chosen {
                scores: ModelScores::File(table),
                spec: given_split(args.split_from.as_deref())?,
                scored_by: format!("scores file {}", file.display()),
                default_out: file.with_file_name(format!("{stem}-eval")),
            })
        }
        (None, None, Some(kind)) => {
            needs_images(kind.name())?;
            let spec = given_split(args.split_from.as_deref())?;
            let loaded = args.scorer.pretrained.load(kind, device)?;
            let path = paths.path(kind).map(|p| p.display().to_string());
            let folder = format!("eval-{}-{}-{split}", kind.name(), file_safe(&ds.meta.name));
            Ok(Chosen {
                scores: ModelScores::Scorer(AnyScorer::Pretrained(loaded)),
                spec,
                scored_by: format!("{} ({})", kind.name(), path.unwrap_or_default()),
                default_out: PathBuf::from(folder),
            })
        }
        (None, None, None) => bail!(
            "give --run DIR, --model {} or --scores FILE",
            crate::commands::scorer_args::model_choices()
        ),
    }
}

/// The split of a scorer not trained here: `--split-from`'s (a run folder or a training config
/// file), else the default one.
fn given_split(from: Option<&Path>) -> Result<SplitSpec> {
    Ok(match from {
        None => SplitSpec::default(),
        Some(p) if p.is_dir() => crate::commands::run_split(p)?,
        Some(p) => train::TrainConfig::from_file(p)?.data.split,
    })
}

/// A dataset name as part of a folder name: path separators and spaces replaced.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The run's summary names the dataset it was trained on; say so when it is another one (an
/// evaluation on other data is allowed, but the split then means other prompts).
fn warn_other_dataset(run: &Path, ds: &Dataset) {
    let summary = std::fs::read_to_string(run.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    if let Some(name) = summary.as_ref().and_then(|s| s["dataset"].as_str())
        && name != ds.meta.name
    {
        eprintln!(
            "warning: the run was trained on dataset `{name}`, this is `{}`",
            ds.meta.name
        );
    }
}
