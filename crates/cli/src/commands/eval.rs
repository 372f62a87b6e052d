//! `rewardlab eval`: every figure of the `eval` crate, with bootstrap intervals, for a trained
//! run, a pretrained model (ImageReward, CLIP score) or an external model's scores file on a
//! dataset's prompts, next to baselines (among them the pretrained ones); writes
//! `metrics.json`, `report.md`, `per_prompt.parquet`, the scored model's `scores.csv` and each
//! pretrained baseline's `scores-NAME.csv`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use annotations::splits::{Split, SplitSpec, split_prompts};
use annotations::validate::{Checks, validate};
use annotations::{Dataset, ImagesState, Index};
use anyhow::{Context, Result, bail};
use eval::{BaselineContext, EvalData, EvalLabels, EvalOptions, PromptRow, Registry, ScoreTable};
use scoring::{AnyScorer, ImageScorer, PretrainedScorerKind as PretrainedKind, SplitEvaluation};
use tables::PlainColumn;

use super::score::{ModelKind, PretrainedArgs, model_flag_value};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("scorer").required(true).args(["run", "scores", "model"])))]
pub struct Args {
    /// Run folder written by `rewardlab train` (its model scores the dataset's images).
    #[arg(long)]
    run: Option<PathBuf>,
    /// A pretrained model instead of a run: imagereward (with --checkpoint FILE) or clip (CLIP
    /// score, with --encoder DIR).
    #[arg(long, value_enum)]
    model: Option<ModelKind>,
    #[command(flatten)]
    pretrained: PretrainedArgs,
    /// Canonical dataset folder to evaluate on.
    #[arg(long)]
    dataset: PathBuf,
    /// External scores instead of a run: a CSV with columns `generation_id,score` (ids as
    /// `rewardlab validate DATASET --list-generations` lists them). Works on annotation-only
    /// datasets.
    #[arg(long)]
    scores: Option<PathBuf>,
    /// Prompts to evaluate: test, validation, train or all. Default: test with --run (the split
    /// of the run's config.toml), all with --scores or --model.
    #[arg(long)]
    split: Option<String>,
    /// With --scores or --model: take the split from this run folder (its config.toml) or
    /// training config file; default: the default split (0.8/0.1/0.1, seed 0, stratified by
    /// category).
    #[arg(long, conflicts_with = "run")]
    split_from: Option<PathBuf>,
    /// Output folder; default: RUN/eval-SPLIT, SCORES-eval beside the scores file, or
    /// eval-MODEL-DATASET-SPLIT in the current folder with --model.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Overwrite a non-empty output folder.
    #[arg(long)]
    force: bool,
    /// A baseline to compare with (repeatable): random, oracle (synthetic data only),
    /// clip-score (with --encoder DIR), imagereward (with --checkpoint FILE), or none. Default:
    /// every baseline that can run on the dataset (the pretrained ones when their flag is given).
    #[arg(long = "baseline")]
    baselines: Vec<String>,
    /// Bootstrap resamples of the prompts.
    #[arg(long, default_value_t = eval::bootstrap::DEFAULT_RESAMPLES)]
    resamples: usize,
    /// Seed of the bootstrap and of the random baseline.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// K of Recall@K and Filter@K in the headline figures (1, 2 and 4 are always reported).
    #[arg(long, default_value_t = 1)]
    k: usize,
    /// PickScore's tie threshold t; default: chosen on the validation prompts (or on the
    /// evaluated prompts when there are none, which the report says).
    #[arg(long, allow_negative_numbers = true)]
    tie_threshold: Option<f64>,
    /// Print metrics.json to stdout instead of the markdown report.
    #[arg(long)]
    json: bool,
}

/// Which prompts: a named split or all of them.
#[derive(Clone, Copy, PartialEq)]
enum Selection {
    All,
    Split(Split),
}

fn parse_selection(s: &str) -> Result<Selection> {
    if s == "all" {
        return Ok(Selection::All);
    }
    s.parse::<Split>()
        .map(Selection::Split)
        .map_err(|e| anyhow::anyhow!("--split: {e}, or all"))
}

fn prompts_of(ix: &Index, spec: &SplitSpec, sel: Selection) -> Vec<usize> {
    match sel {
        Selection::All => (0..ix.prompts.len()).collect(),
        Selection::Split(s) => {
            let splits = split_prompts(ix, spec);
            (0..ix.prompts.len()).filter(|&p| splits[p] == s).collect()
        }
    }
}

/// The dataset, refused when validation finds problems (figures on broken data would mislead).
fn read_dataset(dir: &Path) -> Result<Dataset> {
    let ds = tables::read_dataset(dir)
        .with_context(|| format!("reading the dataset {}", dir.display()))?;
    let problems = validate(&ds, Checks { images: false });
    if !problems.is_empty() {
        let first: Vec<String> = problems.iter().take(3).map(|p| p.to_string()).collect();
        bail!(
            "{} has {} problem(s), e.g. {}; run `rewardlab validate {}` and fix or re-import it",
            dir.display(),
            problems.len(),
            first.join("; "),
            dir.display()
        );
    }
    Ok(ds)
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

/// The model's scores: a scorer run on the images, or a scores file read once.
// One value per process: boxing the scorer would buy nothing.
#[allow(clippy::large_enum_variant)]
enum ModelScores {
    Scorer(AnyScorer),
    File(ScoreTable),
}

pub fn run(args: Args, device: &scoring::Device) -> Result<ExitCode> {
    let ds = read_dataset(&args.dataset)?;
    let ix = ds.index();
    let default_split = if args.run.is_some() { "test" } else { "all" };
    let selection = parse_selection(args.split.as_deref().unwrap_or(default_split))?;
    let split_name = args.split.clone().unwrap_or_else(|| default_split.into());
    if args.k == 0 {
        bail!("--k must be at least 1");
    }
    if args
        .tie_threshold
        .is_some_and(|t| !(t.is_finite() && t >= 0.0))
    {
        bail!("--tie-threshold must be a number >= 0");
    }

    let paths = args.pretrained.paths()?;
    let model_kind = args.model.map(ModelKind::pretrained);
    // A model flag that nothing uses is a mistake worth saying before anything is loaded (with
    // no --baseline, the pretrained baselines whose flag is given run by default).
    for kind in PretrainedKind::ALL {
        let used = model_kind == Some(kind)
            || args.baselines.is_empty()
            || args.baselines.iter().any(|n| n == kind.name());
        if paths.path(kind).is_some() && !used {
            bail!(
                "{} is given, but neither --model {} nor --baseline {} uses it",
                PretrainedArgs::flag(kind),
                model_flag_value(kind),
                kind.name()
            );
        }
    }
    // A split for a scorer that was not trained here: --split-from's, else the default one.
    let given_split = || -> Result<SplitSpec> {
        Ok(match &args.split_from {
            None => SplitSpec::default(),
            Some(p) if p.is_dir() => {
                train::run_config(p)
                    .with_context(|| format!("reading the run's config in {}", p.display()))?
                    .data
                    .split
            }
            Some(p) => train::TrainConfig::from_file(p)?.data.split,
        })
    };

    // The model: a run (and its split), a pretrained model or a scores file; the default output
    // folder beside it.
    let (spec, model, scored_by, default_out) = match (&args.run, &args.scores) {
        (None, None) => {
            let Some(kind) = model_kind else {
                bail!("give --run DIR, --model imagereward|clip or --scores FILE");
            };
            if ds.meta.images == ImagesState::Absent {
                bail!(
                    "{} is annotation-only (its images are absent), so {} cannot score it; \
                     evaluate an external model's scores with --scores FILE instead",
                    args.dataset.display(),
                    kind.name()
                );
            }
            let spec = given_split()?;
            let loaded = args.pretrained.load(kind, device)?;
            let path = paths
                .path(kind)
                .map_or(String::new(), |p| p.display().to_string());
            let folder = format!(
                "eval-{}-{}-{split_name}",
                kind.name(),
                file_safe(&ds.meta.name)
            );
            (
                spec,
                ModelScores::Scorer(AnyScorer::Pretrained(loaded)),
                format!("{} ({path})", kind.name()),
                PathBuf::from(folder),
            )
        }
        (Some(run), _) => {
            if ds.meta.images == ImagesState::Absent {
                bail!(
                    "{} is annotation-only (its images are absent), so a run cannot score it; \
                     evaluate an external model's scores with --scores FILE instead",
                    args.dataset.display()
                );
            }
            let config = train::run_config(run)
                .with_context(|| format!("reading the run's config in {}", run.display()))?;
            warn_other_dataset(run, &ds);
            let scorer = AnyScorer::run(run, device)
                .with_context(|| format!("loading the model of {}", run.display()))?;
            (
                config.data.split,
                ModelScores::Scorer(scorer),
                format!("run {}", run.display()),
                run.join(format!("eval-{split_name}")),
            )
        }
        (None, Some(file)) => {
            let known = |id: &str| ix.generation_by_id.contains_key(id);
            let table = eval::read_scores_csv(file, &known)?;
            let stem = file
                .file_stem()
                .map_or("scores".into(), |s| s.to_string_lossy().to_string());
            let spec = given_split()?;
            (
                spec,
                ModelScores::File(table),
                format!("scores file {}", file.display()),
                file.with_file_name(format!("{stem}-eval")),
            )
        }
    };
    let out = args.out.clone().unwrap_or(default_out);
    super::ensure_writable(&out, args.force)?;

    let prompts = prompts_of(&ix, &spec, selection);
    let data = EvalData::from_dataset(&ds, &ix, &prompts);
    if data.prompts.is_empty() {
        bail!(
            "the {split_name} split of {} has no prompts",
            args.dataset.display()
        );
    }
    // PickScore's threshold is chosen on validation prompts when the test (or train) split is
    // evaluated; otherwise on the evaluated prompts, and the report says so.
    let validation = match selection {
        Selection::Split(Split::Test | Split::Train) if args.tie_threshold.is_none() => {
            let v = prompts_of(&ix, &spec, Selection::Split(Split::Validation));
            (!v.is_empty()).then(|| EvalData::from_dataset(&ds, &ix, &v))
        }
        _ => None,
    };

    let mut registry = Registry::builtin();
    scoring::register(&mut registry, &paths, device);
    let truth = synth::read_dataset_truth(&args.dataset)
        .with_context(|| format!("reading the ground truth of {}", args.dataset.display()))?;
    let ctx = BaselineContext {
        seed: args.seed,
        truth: truth.as_deref().map(synth::latents_by_generation),
    };
    let names: Vec<String> = if args.baselines.is_empty() {
        let mut names = registry.defaults(&ctx);
        // The evaluated pretrained model is not its own baseline.
        names.retain(|n| model_kind.is_none_or(|k| k.name() != n));
        names
    } else {
        let mut names: Vec<String> = Vec::new();
        for b in &args.baselines {
            if b != "none" && !names.contains(b) {
                names.push(b.clone());
            }
        }
        names
    };
    let baselines = names
        .iter()
        .map(|n| registry.create(n, &ctx))
        .collect::<Result<Vec<_>, _>>()?;

    let model_scores = |d: &EvalData| -> scoring::Result<ScoreTable> {
        match &model {
            ModelScores::Scorer(s) => {
                eprintln!("scoring {} images with {}", d.images(), s.name());
                scoring::score_split(s, &d.image_refs(&ds.root))
            }
            ModelScores::File(t) => Ok(t.clone()),
        }
    };
    let split = SplitEvaluation {
        data: &data,
        validation: validation.as_ref(),
        tie_threshold: args.tie_threshold,
        root: &ds.root,
        baselines: &baselines,
        options: EvalOptions {
            resamples: args.resamples,
            seed: args.seed,
            k: args.k,
            ..EvalOptions::default()
        },
        labels: EvalLabels {
            dataset: ds.meta.name.clone(),
            split: split_name.clone(),
            scored_by,
        },
    };
    let evaluated = scoring::evaluate_split(&model_scores, &split)?;
    scoring::write_evaluation(&out, &evaluated.evaluation)?;
    let mut rows = Vec::new();
    for (name, table) in &evaluated.tables {
        rows.extend(eval::prompt_rows(&data, name, table, args.k)?);
    }
    write_prompt_table(&out.join("per_prompt.parquet"), &rows)?;
    let ids: Vec<(&str, &str)> = data
        .prompts
        .iter()
        .flat_map(|p| p.generations.iter().map(|g| (g.as_str(), p.id.as_str())))
        .collect();
    if let ModelScores::Scorer(_) = model {
        write(
            &out.join("scores.csv"),
            &eval::scores_csv(&ids, evaluated.model_scores()),
        )?;
    }
    // A pretrained baseline's scores cost a model's forward passes: they are kept, in the form
    // `--scores` reads back.
    for (name, table) in &evaluated.tables[1..] {
        if PretrainedKind::ALL.iter().any(|k| k.name() == name) {
            write(
                &out.join(format!("scores-{name}.csv")),
                &eval::scores_csv(&ids, table),
            )?;
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&evaluated.evaluation)?);
    } else {
        print!("{}", eval::report::markdown(&evaluated.evaluation));
    }
    eprintln!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
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

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn write_prompt_table(path: &Path, rows: &[PromptRow]) -> Result<()> {
    let text =
        |f: fn(&PromptRow) -> Option<String>| PlainColumn::Text(rows.iter().map(f).collect());
    let float = |f: fn(&PromptRow) -> Option<f64>| PlainColumn::Float(rows.iter().map(f).collect());
    let int = |f: fn(&PromptRow) -> usize| {
        PlainColumn::Int(rows.iter().map(|r| Some(f(r) as i64)).collect())
    };
    let columns = vec![
        ("scorer".to_string(), text(|r| Some(r.scorer.clone()))),
        ("prompt_id".into(), text(|r| Some(r.prompt_id.clone()))),
        ("prompt".into(), text(|r| Some(r.prompt.clone()))),
        ("category".into(), text(|r| r.category.clone())),
        ("images".into(), int(|r| r.images)),
        ("annotators".into(), int(|r| r.annotators)),
        ("strict_pairs".into(), int(|r| r.strict_pairs)),
        ("tied_pairs".into(), int(|r| r.tied_pairs)),
        ("accuracy".into(), float(|r| r.accuracy)),
        ("kendall_tau_b".into(), float(|r| r.kendall_tau_b)),
        ("spearman".into(), float(|r| r.spearman)),
        ("recall_at_k".into(), float(|r| r.recall_at_k)),
        ("filter_at_k".into(), float(|r| r.filter_at_k)),
        ("top_generation".into(), text(|r| r.top_generation.clone())),
        ("top_mean_rank".into(), float(|r| r.top_mean_rank)),
    ];
    tables::write_parquet_columns(path, columns)
        .with_context(|| format!("writing {}", path.display()))
}
