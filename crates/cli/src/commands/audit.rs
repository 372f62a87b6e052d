//! `rewardlab audit`: how a scorer's score moves when a dataset's images are perturbed in ways
//! people do not prefer (the `audit` crate), written as `audit.md`, `audit.json` and
//! `per_image.csv`; each finished pass's scores are kept in `scores/`, so that a rerun into the
//! same folder resumes where the last one stopped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use annotations::splits::{Selection, SplitSpec};
use annotations::{Criterion, ImagesState};
use anyhow::{Context, Result, bail};
use audit::{AuditPlan, PassCache, Perturbation, Reference};
use eval::EvalData;
use integrity::FolderLock;
use scoring::matrix::{ModelSource, dataset_fingerprint};
use scoring::{Device, ImageScorer};

use super::scorer_args::ScorerArgs;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("scorer").required(true).args(["run", "model"])))]
pub struct Args {
    #[command(flatten)]
    pub scorer: ScorerArgs,
    /// Canonical dataset folder whose images are perturbed (it needs its images).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Prompts to audit: test, validation, train or all. Default: test with --run (its held-out
    /// prompts), else all.
    #[arg(long)]
    pub split: Option<String>,
    /// At most this many prompts of the split, in dataset order (every image of each).
    #[arg(long, default_value_t = 100)]
    pub prompts: usize,
    /// Perturbations, comma-separated (default: all): saturation, contrast, sharpen, jpeg-q10,
    /// text, border, crop.
    #[arg(long, value_delimiter = ',')]
    pub perturbations: Vec<Perturbation>,
    /// The head whose score is audited: overall, alignment, fidelity or harmlessness for a run;
    /// overall for a pretrained model (CLIP score fills alignment too).
    #[arg(long, default_value = "overall")]
    pub head: Criterion,
    /// Output folder; it keeps each finished pass's scores, so rerun with the same --out to
    /// resume a stopped audit or to add a perturbation.
    #[arg(long, default_value = "audit")]
    pub out: PathBuf,
    /// Use an output folder that holds other files than an audit's.
    #[arg(long)]
    pub force: bool,
    /// Keep the perturbed images (OUT/images/NAME/, numbered in per_image.csv's order).
    #[arg(long)]
    pub keep_images: bool,
    /// Bootstrap resamples of the prompts.
    #[arg(long, default_value_t = eval::bootstrap::DEFAULT_RESAMPLES)]
    pub resamples: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print audit.json to stdout instead of the Markdown table.
    #[arg(long)]
    pub json: bool,
}

/// The files of an audit folder: anything else in `--out` needs `--force`.
const OWN_FILES: [&str; 6] = [
    "audit.md",
    "audit.json",
    "per_image.csv",
    "scores",
    "images",
    integrity::LOCK_FILE,
];

pub fn run(args: Args, device: &Device) -> Result<ExitCode> {
    if args.prompts == 0 {
        bail!("--prompts must be at least 1");
    }
    let perturbations = if args.perturbations.is_empty() {
        Perturbation::ALL.to_vec()
    } else {
        args.perturbations.clone()
    };
    let ds = super::eval::read_valid_dataset(&args.dataset)?;
    if ds.meta.images == ImagesState::Absent {
        bail!(
            "{} is annotation-only (its images are absent); the audit perturbs images",
            args.dataset.display()
        );
    }
    let split_name = args
        .split
        .clone()
        .unwrap_or_else(|| args.scorer.default_split().into());
    let selection: Selection = split_name
        .parse()
        .map_err(|e| anyhow::anyhow!("--split: {e}"))?;
    let spec = match &args.scorer.run {
        Some(run) => super::run_split(run)?,
        None => SplitSpec::default(),
    };
    let ix = ds.index();
    let mut prompts = selection.prompts(&ix, &spec);
    if prompts.is_empty() {
        bail!(
            "the {split_name} split of {} has no prompts",
            args.dataset.display()
        );
    }
    prompts.truncate(args.prompts);
    let data = EvalData::from_dataset(&ds, &ix, &prompts);

    super::check_own_folder(&args.out, args.force, &OWN_FILES, "an audit folder")?;
    let lock = FolderLock::acquire(&args.out, "audit")
        .with_context(|| format!("locking {}", args.out.display()))?;
    if let Some(note) = lock.reclaimed_note() {
        eprintln!("{note}");
    }
    let scorer = args.scorer.load(device)?;
    let truth = synth::read_dataset_truth(&args.dataset)
        .with_context(|| format!("reading the ground truth of {}", args.dataset.display()))?;
    // The audited head's own latent orders the pairs: the fidelity head against true fidelity.
    let latent: Option<HashMap<String, f64>> = truth.map(|t| {
        t.into_iter()
            .map(|g| (g.generation_id.clone(), g.latent(args.head)))
            .collect()
    });
    let reference = match &latent {
        Some(map) => Reference::GroundTruth(map),
        None => Reference::People,
    };
    let key = cache_key(&args, &data, &split_name)?;
    let work = args.out.join("images");
    let plan = AuditPlan {
        data: &data,
        root: &ds.root,
        reference,
        head: args.head,
        perturbations: &perturbations,
        work: &work,
        resamples: args.resamples,
        seed: args.seed,
        cache: Some(PassCache {
            dir: args.out.join("scores"),
            key,
        }),
    };
    eprintln!(
        "auditing {} on {} prompts of {} ({split_name})",
        scorer.name(),
        data.prompts.len(),
        ds.meta.name
    );
    let (audit, changes) = audit::audit(&scorer, &plan, |line| eprintln!("{line}"))
        .with_context(|| format!("auditing {} on {}", scorer.name(), args.dataset.display()))?;
    if !args.keep_images {
        std::fs::remove_dir_all(&work)
            .with_context(|| format!("removing the perturbed images in {}", work.display()))?;
    }
    let markdown = audit::report::markdown(&audit);
    let json = serde_json::to_string_pretty(&audit)? + "\n";
    for (file, text) in [
        ("audit.md", markdown.clone()),
        ("audit.json", json.clone()),
        ("per_image.csv", audit::report::per_image_csv(&changes)),
    ] {
        let path = args.out.join(file);
        integrity::atomic::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        print!("{json}");
    } else {
        print!("{markdown}");
    }
    eprintln!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// What a kept pass was scored under: the scorer's files (sizes and times), the dataset's
/// annotations, the head and the audited images; a change to any scores the pass again.
fn cache_key(args: &Args, data: &EvalData, split: &str) -> Result<String> {
    let source = match (&args.scorer.run, args.scorer.model_kind()) {
        (Some(run), _) => ModelSource::Run(run.clone()),
        (None, Some(kind)) => {
            let paths = args.scorer.pretrained.paths(Some(kind))?;
            let path = paths
                .path(kind)
                .with_context(|| format!("no file given for {}", kind.name()))?;
            ModelSource::Pretrained(kind, path.clone())
        }
        (None, None) => bail!("give --run DIR or --model"),
    };
    let mut key = source.fingerprint() + &dataset_fingerprint(&args.dataset);
    // A matrix product's rounding depends on its batch, so the batch is part of the key.
    key.push_str(&format!(
        "head {}\nsplit {split}\nbatch {:?}\n",
        args.head.name(),
        args.scorer.pretrained.batch()?
    ));
    for prompt in &data.prompts {
        key.push_str(&prompt.generations.join(","));
        key.push('\n');
    }
    Ok(key)
}
