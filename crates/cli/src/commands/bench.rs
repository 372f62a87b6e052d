//! `rewardlab bench ...`: benchmarks that print figures and the ratio to their target. Speed is
//! checked here, never by timed tests, since test machines vary in load.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Generate and write the default synthetic world into a temporary folder; target < 60 s.
    Synth {
        /// Number of prompts (default: the default world's 1500).
        #[arg(long)]
        prompts: Option<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.what {
        What::Synth { prompts, seed } => {
            let mut cfg = synth::WorldConfig {
                seed,
                ..Default::default()
            };
            if let Some(p) = prompts {
                cfg.prompts = p;
            }
            let dir =
                std::env::temp_dir().join(format!("rewardlab-bench-synth-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let t0 = Instant::now();
            let world = synth::generate(&cfg);
            let t_generate = t0.elapsed().as_secs_f64();
            world.write_files(&dir)?;
            tables::write_dataset(&world.dataset(&dir), &dir)?;
            let total = t0.elapsed().as_secs_f64();
            let bytes = dir_size(&dir);
            std::fs::remove_dir_all(&dir)?;
            let threads = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            println!(
                "bench synth: {} prompts, {} images, {:.1} MB on disk, {threads} core(s)",
                world.summary.prompts,
                world.summary.generations,
                bytes as f64 / 1e6
            );
            println!("  generate (prompts, latents, annotators)  {t_generate:.2} s");
            println!("  total with rendering and writing (PNG, CSV, Parquet)  {total:.2} s");
            println!("  target < 60 s: {:.1}x under the target", 60.0 / total);
            println!(
                "  oracle pairwise accuracy {:.3}",
                world.summary.oracle_pairwise_accuracy
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            total += if p.is_dir() {
                dir_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    total
}
