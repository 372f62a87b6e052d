//! `rewardlab synth --out DIR`: the synthetic preference world as a canonical dataset folder,
//! with its ground truth (`ground_truth.csv`, never read by training) and `world.json`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use synth::{World, WorldConfig};

#[derive(clap::Args)]
pub struct Args {
    /// Output folder (must be new or empty unless --force).
    #[arg(long)]
    out: PathBuf,
    /// Number of prompts (default 1500: about 10,000 images).
    #[arg(long)]
    prompts: Option<usize>,
    /// Seed of every random draw; the same seed gives byte-identical files.
    #[arg(long)]
    seed: Option<u64>,
    /// Annotators who judge each prompt (1, as in ImageRewardDB; more gives multi-annotator data).
    #[arg(long)]
    raters_per_prompt: Option<usize>,
    /// A JSON or TOML file with any WorldConfig fields (command-line flags override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Overwrite a non-empty output folder.
    #[arg(long)]
    force: bool,
    /// Print the world's summary as JSON.
    #[arg(long)]
    json: bool,
}

fn read_config(path: &Path) -> Result<WorldConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let cfg = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text)
            .with_context(|| format!("{}: invalid world config", path.display()))?
    } else {
        toml::from_str(&text)
            .with_context(|| format!("{}: invalid world config", path.display()))?
    };
    Ok(cfg)
}

/// Generates a world and writes the whole canonical folder: images, ground truth, world.json,
/// dataset.toml, annotations.parquet and last the manifest. The folder is built beside `out`
/// and moved there complete, replacing what is there only with `force`.
pub fn write_world(cfg: &WorldConfig, out: &Path, force: bool) -> Result<World> {
    cfg.validate().context("invalid world config")?;
    let world = synth::generate(cfg);
    let staged = integrity::StagedFolder::with_force(out, force, &tables::DATASET_ENTRIES)?;
    let dir = staged.path();
    world
        .write_files(dir)
        .with_context(|| format!("writing the world into {}", out.display()))?;
    tables::write_dataset(&world.dataset(dir), dir)?;
    tables::seal_dataset(dir)?;
    staged.commit()?;
    Ok(world)
}

pub fn run(args: Args) -> Result<ExitCode> {
    super::ensure_writable(&args.out, args.force)?;
    let mut cfg = match &args.config {
        Some(p) => read_config(p)?,
        None => WorldConfig::default(),
    };
    if let Some(p) = args.prompts {
        cfg.prompts = p;
    }
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if let Some(r) = args.raters_per_prompt {
        cfg.raters_per_prompt = r;
    }
    let t0 = Instant::now();
    let world = write_world(&cfg, &args.out, args.force)?;
    let seconds = t0.elapsed().as_secs_f64();
    let s = &world.summary;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"seconds": seconds, "summary": s}))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "synthetic world written to {} in {seconds:.1} s",
        args.out.display()
    );
    println!("prompts      {}", s.prompts);
    println!("generations  {}", s.generations);
    println!(
        "pairs        {} strict, {} ties ({:.1}% tied)",
        s.pairs_strict,
        s.pairs_tied,
        100.0 * s.tie_fraction
    );
    println!(
        "oracle ceilings (what a perfect model of the true latents reaches against these annotators):"
    );
    println!(
        "  overall pairwise accuracy on strict pairs   {:.3}",
        s.oracle_pairwise_accuracy
    );
    for c in [
        annotations::Criterion::Alignment,
        annotations::Criterion::Fidelity,
        annotations::Criterion::Harmlessness,
        annotations::Criterion::Overall,
    ] {
        println!(
            "  spearman(latent {c}, mean rating)  {:.3}",
            s.oracle_spearman[c].unwrap_or(f64::NAN)
        );
    }
    Ok(ExitCode::SUCCESS)
}
