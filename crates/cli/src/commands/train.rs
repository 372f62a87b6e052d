//! `rewardlab train`: trains a multi-head reward model (burn-train) on a canonical dataset, or on
//! the default synthetic world generated into a cache folder, then prints the held-out figures
//! next to the oracle ceilings.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use model::PretrainedKind;
use train::{GroundTruthTable, MatchingNegatives, TrainConfig, TrainOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Training config (TOML); default: the built-in experiments/default.toml.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Canonical dataset folder; default: the synthetic world of the config's [data] world_prompts
    /// and world_seed, generated into $REWARDLAB_CACHE (or ~/.cache/rewardlab) when absent.
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Run folder; default: runs/<date-time>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint (its config.toml is used).
    #[arg(long)]
    resume: bool,
    /// Overwrite a non-empty run folder.
    #[arg(long)]
    force: bool,
    /// Override the number of epochs ([optim] epochs); on --resume, the new total.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override the seed of weight initialisation and batch order ([optim] seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Shared encoder ([encoder] kind): scratch, clip (a Hugging Face CLIP folder encodes images
    /// and prompts), bert (a BERT-family folder encodes the prompts) or blip (ImageReward's
    /// backbone, its head as the starting overall head).
    #[arg(long, value_parser = ["scratch", "clip", "bert", "blip"])]
    encoder: Option<String>,
    /// The pretrained checkpoint ([encoder] path): a folder with config.json and
    /// model.safetensors (clip, bert), or ImageReward.pt / its safetensors copy (blip).
    #[arg(long)]
    encoder_path: Option<PathBuf>,
    /// Share of the pretrained layers kept frozen ([encoder] freeze; ImageReward: 0.7).
    #[arg(long)]
    freeze: Option<f64>,
    /// An embedding cache written by `rewardlab embed` for this encoder and freeze ([encoder]
    /// cache): the frozen layers' outputs are read from it instead of computed.
    #[arg(long)]
    embed_cache: Option<PathBuf>,
}

/// Applies the `[encoder]` overrides of the command line to `config`.
pub(crate) fn apply_encoder_flags(
    config: &mut TrainConfig,
    kind: Option<&str>,
    path: Option<&Path>,
    freeze: Option<f64>,
    cache: Option<&Path>,
) {
    if let Some(kind) = kind {
        config.encoder.kind = match kind {
            "clip" => Some(PretrainedKind::Clip),
            "bert" => Some(PretrainedKind::Bert),
            "blip" => Some(PretrainedKind::Blip),
            _ => None,
        };
    }
    if let Some(path) = path {
        config.encoder.path = Some(path.to_path_buf());
    }
    if let Some(freeze) = freeze {
        config.encoder.freeze = freeze;
    }
    if let Some(cache) = cache {
        config.encoder.cache = Some(cache.to_path_buf());
    }
    // A pretrained encoder chosen on the command line over a config written for the scratch one
    // (the built-in default): what it cannot do is turned off, and said, rather than refused.
    let e = config.encoder.kind;
    if kind.is_some() && config.data.hflip && e.is_some() {
        config.data.hflip = false;
        eprintln!(
            "note: [data] hflip turned off: the {} encoder reads its frozen layers' outputs, \
             computed once for the dataset as it is",
            train::config::encoder_kind_name(e)
        );
    }
    if kind.is_some()
        && config.data.matching_negatives == MatchingNegatives::Substituted
        && e.is_some()
    {
        config.data.matching_negatives = MatchingNegatives::Similar;
        eprintln!(
            "note: [data] matching_negatives = \"similar\": substituted prompts are tokenised \
             for the scratch text encoder, not the {} one",
            train::config::encoder_kind_name(e)
        );
    }
}

/// The default synthetic world folder in the cache, generated when absent.
pub(crate) fn default_world(prompts: usize, seed: u64) -> Result<PathBuf> {
    Ok(experiments::world::default_world(
        &paths::cache_dir(),
        prompts,
        seed,
        true,
    )?)
}

/// `runs/<UTC date-time>`, from the system clock without a date library.
fn default_out() -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    PathBuf::from("runs").join(format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

pub fn run(args: Args, device: &scoring::Device) -> Result<ExitCode> {
    let out = match (&args.out, args.resume) {
        (Some(o), _) => o.clone(),
        (None, true) => bail!("--resume needs --out DIR (the run folder to continue)"),
        (None, false) => default_out(),
    };
    let mut config = if args.resume {
        if args.config.is_some() {
            bail!("--resume continues with the run's own config.toml; leave out --config");
        }
        train::run_config(&out)?
    } else {
        match &args.config {
            Some(path) => TrainConfig::from_file(path)?,
            None => TrainConfig::default_experiment(),
        }
    };
    if let Some(e) = args.epochs {
        config.optim.epochs = e;
    }
    if let Some(s) = args.seed {
        if args.resume && s != config.optim.seed {
            bail!(
                "--seed cannot change on --resume (the run used seed {})",
                config.optim.seed
            );
        }
        config.optim.seed = s;
    }
    let encoder_flags = args.encoder.is_some()
        || args.encoder_path.is_some()
        || args.freeze.is_some()
        || args.embed_cache.is_some();
    if args.resume && encoder_flags {
        bail!("the encoder cannot change on --resume (the run's config.toml says which it uses)");
    }
    apply_encoder_flags(
        &mut config,
        args.encoder.as_deref(),
        args.encoder_path.as_deref(),
        args.freeze,
        args.embed_cache.as_deref(),
    );
    config.validate()?;
    let dataset_dir = match &args.dataset {
        Some(d) => d.clone(),
        None => default_world(config.data.world_prompts, config.data.world_seed)?,
    };
    let ds = tables::read_dataset(&dataset_dir)
        .with_context(|| format!("reading {}", dataset_dir.display()))?;
    let ground_truth = GroundTruthTable::load(&dataset_dir)?;
    println!(
        "training on {} ({} judgments){} -> {}",
        dataset_dir.display(),
        ds.rows.len(),
        if ground_truth.is_some() {
            ", ground truth available"
        } else {
            ""
        },
        out.display()
    );
    let opts = TrainOptions {
        out: out.clone(),
        resume: args.resume,
        force: args.force,
        ground_truth,
        print: true,
    };
    let report = train::train(&ds, &config, &opts, device)?;
    println!();
    print!("{}", train::heldout_table(&report.heldout));
    println!(
        "\nwall time {:.1} s; run folder {}",
        report.wall_seconds,
        display(&report.run_dir)
    );
    Ok(ExitCode::SUCCESS)
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
