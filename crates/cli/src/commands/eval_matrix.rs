//! `rewardlab eval-matrix`: every model on every dataset under every protocol, one table
//! (`matrix.md`, `matrix.parquet`, `matrix.json`), each model's scores of each dataset cached in
//! the output folder so that a model added later is the only one scored.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use annotations::splits::{Selection, Split, SplitSpec};
use annotations::{Dataset, ImagesState};
use anyhow::{Context, Result, bail};
use eval::{EvalData, EvalLabels, EvalOptions, ScoreTable};
use integrity::FolderLock;
use scoring::matrix::{
    MODEL_KINDS, Matrix, MatrixModel, MatrixRow, ModelSource, ScoreCache, SkippedCell,
    dataset_fingerprint,
};
use scoring::{AnyScorer, Device, SplitEvaluation};
use tables::PlainColumn;

#[derive(clap::Args)]
pub struct Args {
    /// Models, comma-separated or repeated: KIND=PATH or LABEL:KIND=PATH, KIND one of run (a
    /// run folder), imagereward (ImageReward.pt), clip (a CLIP folder), pickscore (its folder),
    /// hpsv2 (HPS_v2_compressed.pt or HPSv2.1's).
    #[arg(long, required = true, value_delimiter = ',', value_name = "KIND=PATH")]
    pub models: Vec<MatrixModel>,
    /// Canonical dataset folders, comma-separated or repeated.
    #[arg(long, required = true, value_delimiter = ',', value_name = "DIR")]
    pub datasets: Vec<PathBuf>,
    /// Prompts to evaluate: all (default), test, validation or train (a run's own split, the
    /// default split for a pretrained model).
    #[arg(long, default_value = "all")]
    pub split: String,
    /// Output folder; it keeps the cached scores, so rerun with the same --out to add a model.
    #[arg(long, default_value = "eval-matrix")]
    pub out: PathBuf,
    /// Use an output folder that holds other files than a matrix's.
    #[arg(long)]
    pub force: bool,
    /// Bootstrap resamples of the prompts.
    #[arg(long, default_value_t = eval::bootstrap::DEFAULT_RESAMPLES)]
    pub resamples: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images per forward pass (default: 64 for a run, 16 for a pretrained model).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Print matrix.json to stdout instead of the Markdown table.
    #[arg(long)]
    pub json: bool,
}

/// The files of a matrix folder: anything else in `--out` needs `--force`.
const OWN_FILES: [&str; 5] = [
    "matrix.md",
    "matrix.json",
    "matrix.parquet",
    "scores",
    integrity::LOCK_FILE,
];

pub fn run(args: Args, device: &Device) -> Result<ExitCode> {
    let selection: Selection = args
        .split
        .parse()
        .map_err(|e| anyhow::anyhow!("--split: {e}"))?;
    if args.batch_size == Some(0) {
        bail!("--batch-size must be at least 1");
    }
    for (i, m) in args.models.iter().enumerate() {
        if args.models[..i].iter().any(|o| o.label == m.label) {
            bail!(
                "two models are labelled `{}`; name them as LABEL:KIND=PATH (kinds: {MODEL_KINDS})",
                m.label
            );
        }
    }
    super::check_own_folder(&args.out, args.force, &OWN_FILES, "a matrix folder")?;
    let lock = FolderLock::acquire(&args.out, "eval-matrix")
        .with_context(|| format!("locking {}", args.out.display()))?;
    if let Some(note) = lock.reclaimed_note() {
        eprintln!("{note}");
    }
    let datasets = args
        .datasets
        .iter()
        .map(|dir| super::eval::read_valid_dataset(dir))
        .collect::<Result<Vec<_>>>()?;
    for (i, ds) in datasets.iter().enumerate() {
        if datasets[..i].iter().any(|o| o.meta.name == ds.meta.name) {
            bail!(
                "two datasets are named `{}` (their dataset.toml); the matrix needs distinct names",
                ds.meta.name
            );
        }
    }

    let cache = ScoreCache::new(&args.out);
    let mut matrix = Matrix {
        resamples: args.resamples,
        seed: args.seed,
        ..Matrix::default()
    };
    for model in &args.models {
        let mut scorer: Option<AnyScorer> = None;
        for (dir, ds) in args.datasets.iter().zip(&datasets) {
            let name = &ds.meta.name;
            let Some(scores) = scores_of(model, dir, ds, &cache, &mut scorer, &args, device)?
            else {
                matrix.skipped.push(SkippedCell {
                    dataset: name.clone(),
                    model: model.label.clone(),
                    reason: "its images are absent (annotation-only), and the model scores images"
                        .into(),
                });
                continue;
            };
            match evaluate(model, ds, &scores, selection, &args)? {
                Ok(row) => matrix.rows.push(row),
                Err(reason) => matrix.skipped.push(SkippedCell {
                    dataset: name.clone(),
                    model: model.label.clone(),
                    reason,
                }),
            }
        }
    }
    write(&args.out, &matrix)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&matrix)?);
    } else {
        print!("{}", matrix.markdown());
    }
    eprintln!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// The model's scores of every image of the dataset: from the cache when they were computed on
/// these files, else scored now and cached. `None` when the dataset has no images.
fn scores_of(
    model: &MatrixModel,
    dir: &Path,
    ds: &Dataset,
    cache: &ScoreCache,
    scorer: &mut Option<AnyScorer>,
    args: &Args,
    device: &Device,
) -> Result<Option<ScoreTable>> {
    let ix = ds.index();
    let key = format!("{}{}", model.source.fingerprint(), dataset_fingerprint(dir));
    let known = |id: &str| ix.generation_by_id.contains_key(id);
    let name = &ds.meta.name;
    if let Some(table) = cache.get(&model.label, name, &key, &known)? {
        eprintln!("{} on {name}: cached", model.label);
        return Ok(Some(table));
    }
    if ds.meta.images == ImagesState::Absent {
        return Ok(None);
    }
    if scorer.is_none() {
        *scorer = Some(load(model, args, device)?);
    }
    let scorer = scorer.as_ref().expect("loaded above");
    let all: Vec<usize> = (0..ix.prompts.len()).collect();
    let data = EvalData::from_dataset(ds, &ix, &all);
    eprintln!(
        "{} on {name}: scoring {} images",
        model.label,
        data.images()
    );
    let table = scoring::score_split(scorer, &data.image_refs(&ds.root))
        .with_context(|| format!("scoring {name} with {}", model.label))?;
    let rows: Vec<(&str, &str)> = data
        .prompts
        .iter()
        .flat_map(|p| p.generations.iter().map(|g| (g.as_str(), p.id.as_str())))
        .collect();
    cache.put(&model.label, name, &key, &rows, &table)?;
    Ok(Some(table))
}

/// The scorer a matrix model names, on `device`.
fn load(model: &MatrixModel, args: &Args, device: &Device) -> Result<AnyScorer> {
    eprintln!("loading {}", model.label);
    Ok(match &model.source {
        ModelSource::Run(dir) => {
            let scorer = scoring::RunScorer::load(dir, device)
                .with_context(|| format!("loading the model of {}", dir.display()))?;
            let batch = args.batch_size.unwrap_or(scoring::run::SCORE_BATCH);
            AnyScorer::Run(scorer.with_batch_size(batch))
        }
        ModelSource::Pretrained(kind, path) => {
            let batch = args
                .batch_size
                .unwrap_or(scoring::pretrained::DEFAULT_BATCH);
            AnyScorer::pretrained(*kind, path, batch, device)?
        }
    })
}

/// The model's row on the selected prompts, or why there is none (no ranked pair).
fn evaluate(
    model: &MatrixModel,
    ds: &Dataset,
    scores: &ScoreTable,
    selection: Selection,
    args: &Args,
) -> Result<std::result::Result<MatrixRow, String>> {
    let ix = ds.index();
    let spec = match &model.source {
        ModelSource::Run(dir) if selection != Selection::All => super::run_split(dir)?,
        _ => SplitSpec::default(),
    };
    if let ModelSource::Run(dir) = &model.source
        && selection == Selection::All
        && trained_on(dir).as_deref() == Some(ds.meta.name.as_str())
    {
        eprintln!(
            "note: {} was trained on {}: with --split all its figures include its training \
             prompts (--split test keeps its held-out ones)",
            model.label, ds.meta.name
        );
    }
    let prompts = selection.prompts(&ix, &spec);
    if prompts.is_empty() {
        return Ok(Err(format!("the {} split has no prompts", args.split)));
    }
    let data = EvalData::from_dataset(ds, &ix, &prompts);
    let validation = match selection {
        Selection::Split(Split::Test | Split::Train) => {
            let v = Selection::Split(Split::Validation).prompts(&ix, &spec);
            (!v.is_empty()).then(|| EvalData::from_dataset(ds, &ix, &v))
        }
        _ => None,
    };
    let split = SplitEvaluation {
        data: &data,
        validation: validation.as_ref(),
        tie_threshold: None,
        root: &ds.root,
        baselines: &[],
        options: EvalOptions {
            resamples: args.resamples,
            seed: args.seed,
            ..EvalOptions::default()
        },
        labels: EvalLabels {
            dataset: ds.meta.name.clone(),
            split: args.split.clone(),
            scored_by: model.label.clone(),
        },
    };
    match scoring::evaluate_split(&|_| Ok(scores.clone()), &split) {
        Ok(evaluated) => Ok(Ok(MatrixRow::new(&model.label, &evaluated.evaluation))),
        Err(scoring::ScoringError::Eval(eval::EvalError::Empty(reason))) => Ok(Err(reason)),
        Err(e) => Err(e.into()),
    }
}

/// The dataset a run was trained on, as its summary names it.
fn trained_on(run: &Path) -> Option<String> {
    let text = std::fs::read_to_string(run.join("summary.json")).ok()?;
    let summary: serde_json::Value = serde_json::from_str(&text).ok()?;
    summary["dataset"].as_str().map(str::to_string)
}

/// `matrix.md`, `matrix.json` and `matrix.parquet` (one row per model and dataset, every figure
/// as value, interval bounds and count).
fn write(out: &Path, matrix: &Matrix) -> Result<()> {
    let json = serde_json::to_string_pretty(matrix)? + "\n";
    for (file, text) in [("matrix.md", matrix.markdown()), ("matrix.json", json)] {
        let path = out.join(file);
        integrity::atomic::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let rows = &matrix.rows;
    let text =
        |f: fn(&MatrixRow) -> String| PlainColumn::Text(rows.iter().map(|r| Some(f(r))).collect());
    let int = |f: fn(&MatrixRow) -> usize| {
        PlainColumn::Int(rows.iter().map(|r| Some(f(r) as i64)).collect())
    };
    let mut columns = vec![
        ("dataset".to_string(), text(|r| r.dataset.clone())),
        ("model".into(), text(|r| r.model.clone())),
        ("split".into(), text(|r| r.split.clone())),
        ("prompts".into(), int(|r| r.prompts)),
        ("strict_pairs".into(), int(|r| r.strict_pairs)),
        ("tied_pairs".into(), int(|r| r.tied_pairs)),
        ("annotators".into(), int(|r| r.annotators)),
    ];
    let names: Vec<&str> = rows
        .first()
        .map(|r| r.figures().iter().map(|(n, _)| *n).collect())
        .unwrap_or_default();
    for (i, name) in names.iter().enumerate() {
        let figure = |r: &MatrixRow| r.figures()[i].1.clone();
        columns.push((
            name.to_string(),
            PlainColumn::Float(rows.iter().map(|r| figure(r).value).collect()),
        ));
        columns.push((
            format!("{name}_lo"),
            PlainColumn::Float(rows.iter().map(|r| figure(r).ci95.map(|c| c[0])).collect()),
        ));
        columns.push((
            format!("{name}_hi"),
            PlainColumn::Float(rows.iter().map(|r| figure(r).ci95.map(|c| c[1])).collect()),
        ));
        columns.push((
            format!("{name}_n"),
            PlainColumn::Int(rows.iter().map(|r| Some(figure(r).n as i64)).collect()),
        ));
    }
    columns.push((
        "tie_threshold".into(),
        PlainColumn::Float(
            rows.iter()
                .map(|r| r.tie_aware_accuracy.threshold)
                .collect(),
        ),
    ));
    columns.push((
        "tie_threshold_chosen_on".into(),
        text(|r| r.tie_aware_accuracy.chosen_on.clone()),
    ));
    let path = out.join("matrix.parquet");
    tables::write_parquet_columns(&path, columns)
        .with_context(|| format!("writing {}", path.display()))
}
