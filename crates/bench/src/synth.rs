//! `rewardlab bench synth`: generating and writing the default synthetic world, timed; target
//! < 60 s.

use std::time::Instant;

use crate::BenchError;
use crate::report::{cores, dir_size, print_machine};

/// The wall-clock target, in seconds.
pub const SYNTH_TARGET_S: f64 = 60.0;

/// What `bench synth` runs.
#[derive(Debug, Clone, clap::Args)]
pub struct SynthOptions {
    /// Number of prompts (default: the default world's 1500).
    #[arg(long)]
    pub prompts: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Generates and writes the world into a temporary folder and prints the times.
///
/// # Errors
///
/// As writing the world.
pub fn run(options: &SynthOptions) -> Result<(), BenchError> {
    let mut cfg = synth::WorldConfig {
        seed: options.seed,
        ..Default::default()
    };
    if let Some(p) = options.prompts {
        cfg.prompts = p;
    }
    let dir = std::env::temp_dir().join(format!("rewardlab-bench-synth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let t0 = Instant::now();
    let world = synth::generate(&cfg);
    let t_generate = t0.elapsed().as_secs_f64();
    world.write_files(&dir)?;
    tables::write_dataset(&world.dataset(&dir), &dir)?;
    let total = t0.elapsed().as_secs_f64();
    let bytes = dir_size(&dir);
    std::fs::remove_dir_all(&dir).map_err(BenchError::io(&dir))?;
    println!(
        "bench synth: {} prompts, {} images, {:.1} MB on disk, {} core(s)",
        world.summary.prompts,
        world.summary.generations,
        bytes as f64 / 1e6,
        cores()
    );
    print_machine(cores());
    println!("  generate (prompts, latents, annotators)  {t_generate:.2} s");
    println!("  total with rendering and writing (PNG, CSV, Parquet)  {total:.2} s");
    println!(
        "  target < {SYNTH_TARGET_S:.0} s: {:.1}x under the target",
        SYNTH_TARGET_S / total
    );
    println!(
        "  oracle pairwise accuracy {:.3}",
        world.summary.oracle_pairwise_accuracy
    );
    Ok(())
}
