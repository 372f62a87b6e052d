//! `rewardlab bench train`: one training run of the main job (or of a config) on the default
//! synthetic world (generated once into the cache), timed; target < 300 s wall on 2 cores.

use std::path::PathBuf;

use burn::tensor::Device;

use crate::BenchError;
use crate::cpu::process_cpu_seconds;
use crate::report::{cores, print_machine};

/// The wall-clock target of the main job on 2 cores, in seconds.
pub const TRAIN_TARGET_S: f64 = 300.0;

/// What `bench train` runs.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainOptions {
    /// Training config (TOML); default: the built-in experiments/default.toml.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override the seed of weight initialisation and batch order.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Trains into a temporary folder on `device` and prints the time.
///
/// # Errors
///
/// As reading the config, making the world and training.
pub fn run(options: &TrainOptions, device: &Device) -> Result<(), BenchError> {
    let mut cfg = match &options.config {
        Some(p) => train::TrainConfig::from_file(p)?,
        None => train::TrainConfig::default_experiment(),
    };
    if let Some(s) = options.seed {
        cfg.optim.seed = s;
    }
    let world = experiments::world::default_world(
        &paths::cache_dir(),
        cfg.data.world_prompts,
        cfg.data.world_seed,
        true,
    )?;
    let ds = tables::read_dataset(&world)?;
    let ground_truth = train::GroundTruthTable::load(&world)?;
    let out = std::env::temp_dir().join(format!("rewardlab-bench-train-{}", std::process::id()));
    let opts = train::TrainOptions {
        out: out.clone(),
        force: true,
        ground_truth,
        print: true,
        ..Default::default()
    };
    let c0 = process_cpu_seconds();
    let report = train::train(&ds, &cfg, &opts, device)?;
    let cpu = process_cpu_seconds().zip(c0).map(|(c1, c0)| c1 - c0);
    let _ = std::fs::remove_dir_all(&out);
    let threads = cores();
    let h = &report.heldout;
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    println!(
        "\nbench train: {} epochs on {} training prompts, {threads} core(s)",
        report.history.len(),
        report.summary["splits"]["train"]
    );
    print_machine(threads);
    let wall = report.wall_seconds;
    println!(
        "  wall {wall:.1} s{}",
        cpu.map_or(String::new(), |c| format!(
            " (CPU {c:.1} s, {:.2} cores busy)",
            c / wall.max(1e-9)
        ))
    );
    println!(
        "  target < {TRAIN_TARGET_S:.0} s: {:.2}x the target",
        wall / TRAIN_TARGET_S
    );
    println!(
        "  held-out overall accuracy {} (oracle {})",
        f(h.overall.pairwise_accuracy),
        f(h.overall.oracle)
    );
    Ok(())
}
