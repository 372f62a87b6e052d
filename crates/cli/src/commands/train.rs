//! `rewardlab train`: trains a multi-head reward model (burn-train) on a canonical dataset, or on
//! the default synthetic world generated into a cache folder, then prints the held-out figures
//! next to the oracle ceilings.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use train::{GroundTruthTable, TrainOptions};

use super::run_setup::{ConfigArgs, EncoderArgs, default_out};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    inputs: ConfigArgs,
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
    #[command(flatten)]
    encoder: EncoderArgs,
    /// An embedding cache written by `rewardlab embed` for this encoder and freeze ([encoder]
    /// cache): the frozen layers' outputs are read from it instead of computed.
    #[arg(long)]
    embed_cache: Option<PathBuf>,
    /// Train data-parallel on these devices of --device's backend (`--device wgpu --devices
    /// 0,1` is wgpu:0 and wgpu:1; likewise vulkan and cuda): each optimiser step takes one
    /// batch per device and averages their gradients on the first. On the CPU each number is
    /// the CPU again, which checks the code path but gains no speed.
    #[arg(long, value_delimiter = ',', value_name = "N,N,...")]
    devices: Vec<usize>,
}

/// The devices `--devices` names: the main one, then the replicas.
fn data_parallel(
    args: &Args,
    choice: device::DeviceChoice,
    device: &device::Device,
) -> Result<(device::Device, Vec<device::Device>)> {
    if args.devices.is_empty() {
        return Ok((device.clone(), Vec::new()));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = args.devices.iter().find(|&&n| !seen.insert(n)) {
        bail!("--devices names device {twice} twice");
    }
    let mut devices = Vec::with_capacity(args.devices.len());
    for &n in &args.devices {
        let numbered = choice.numbered(n).context("--devices")?;
        devices.push(numbered.device().context("--devices")?);
    }
    let main = devices.remove(0);
    eprintln!(
        "data-parallel on {} devices of {choice}: {}",
        args.devices.len(),
        args.devices
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok((main, devices))
}

pub fn run(args: Args, device: &device::Device, choice: device::DeviceChoice) -> Result<ExitCode> {
    let (device, replicas) = data_parallel(&args, choice, device)?;
    let device = &device;
    let out = match (&args.out, args.resume) {
        (Some(o), _) => o.clone(),
        (None, true) => bail!("--resume needs --out DIR (the run folder to continue)"),
        (None, false) => default_out(),
    };
    let mut config = if args.resume {
        if args.inputs.config.is_some() {
            bail!("--resume continues with the run's own config.toml; leave out --config");
        }
        train::run_config(&out)?
    } else {
        args.inputs.read_config()?
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
    if args.resume && (args.encoder.given() || args.embed_cache.is_some()) {
        bail!("the encoder cannot change on --resume (the run's config.toml says which it uses)");
    }
    args.encoder.apply(&mut config, args.embed_cache.as_deref());
    config.validate()?;
    let dataset_dir = args.inputs.dataset_dir(&config)?;
    let ds = super::read_dataset(&dataset_dir)?;
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
        replicas,
    };
    let report = train::train(&ds, &config, &opts, device)?;
    println!();
    print!("{}", train::heldout_table(&report.heldout));
    println!(
        "\nwall time {:.1} s; run folder {}",
        report.wall_seconds,
        report.run_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
