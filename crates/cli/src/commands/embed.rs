//! `rewardlab embed`: runs a pretrained encoder's frozen layers once over a dataset and stores
//! their outputs in an embedding cache, which `rewardlab train --embed-cache DIR` (or `[encoder]
//! cache`) then reads at memory speed instead of running those layers every epoch.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

use super::run_setup::{ConfigArgs, EncoderArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The config's [encoder] section says which encoder and freeze ratio (the flags below
    /// override it).
    #[command(flatten)]
    inputs: ConfigArgs,
    /// The cache folder to write (resumed if an earlier run was interrupted).
    #[arg(long)]
    out: PathBuf,
    /// Replace a cache folder that holds another encoder's, cut's or dataset's outputs.
    #[arg(long)]
    force: bool,
    /// Images per forward pass of the frozen layers (default: the config's `[encoder]
    /// embed_batch`, 16). A GPU wants 64 or more; a batch that does not fit in its memory is an
    /// error that says so. Train with the same value for results identical to training without
    /// the cache.
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,
    #[command(flatten)]
    encoder: EncoderArgs,
}

pub fn run(args: Args, device: &scoring::Device) -> Result<ExitCode> {
    let mut config = args.inputs.read_config()?;
    args.encoder.apply(&mut config, None);
    if let Some(batch) = args.batch_size {
        config.encoder.embed_batch = batch;
    }
    config.validate()?;
    if config.encoder.kind.is_none() {
        bail!(
            "nothing to cache: the encoder is trained from scratch; pass --encoder clip|bert \
             --encoder-path DIR (or set [encoder] in --config)"
        );
    }
    let dataset_dir = args.inputs.dataset_dir(&config)?;
    let ds = super::read_dataset(&dataset_dir)?;
    println!(
        "embedding {} with the frozen layers of {} -> {}",
        dataset_dir.display(),
        config
            .encoder
            .path
            .as_ref()
            .map_or_else(String::new, |p| p.display().to_string()),
        args.out.display()
    );
    let t0 = std::time::Instant::now();
    let (report, spec) =
        train::embed::write_cache_for(&ds, &config, &args.out, args.force, true, device)?;
    println!(
        "{} prompts, {} images ({} chunks written, {} reused from an earlier run) in {:.1} s",
        report.prompts,
        report.images,
        report.chunks_written,
        report.chunks_reused,
        t0.elapsed().as_secs_f64()
    );
    println!(
        "frozen layers: {} of the image tower, {} of the text tower; {} images per pass",
        spec.image_frozen
            .map_or_else(|| "none (scratch images)".to_string(), |k| k.to_string()),
        spec.text_frozen,
        config.encoder.embed_batch
    );
    println!(
        "train on it with: rewardlab train --encoder {} --encoder-path {} --freeze {} --embed-cache {}",
        spec.kind.name(),
        spec.path.display(),
        spec.freeze,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
