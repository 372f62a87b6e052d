//! `rewardlab ablate`: an ablation study (config grid x seeds): every cell trained and evaluated,
//! finished cells skipped, results aggregated into tables with bootstrap intervals and plots.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use experiments::{RunOptions, Study};

#[derive(clap::Args)]
pub struct Args {
    /// Study file: a base training config and an [ablation] table (seeds, axes); see
    /// experiments/README.md.
    study: PathBuf,
    /// Output folder (cells under cells/, results.md, Parquet tables and plots at the top);
    /// default: results/<study file name> beside the study file. Cells already finished there
    /// are skipped, so the same command resumes an interrupted study.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Train every cell on this canonical dataset instead of the synthetic world of each cell's
    /// [data] world_prompts and world_seed (generated into $REWARDLAB_CACHE or ~/.cache/rewardlab
    /// when absent).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Train nothing: aggregate the cells finished so far.
    #[arg(long)]
    aggregate_only: bool,
    /// Print the cells and exit.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(args: Args, device: &scoring::Device) -> Result<ExitCode> {
    let study = Study::from_file(&args.study)?;
    let out = args.out.clone().unwrap_or_else(|| study.default_out());
    if args.dry_run {
        println!(
            "study {}: {} cells ({} seeds each) -> {}",
            study.name,
            study.cells.len(),
            study.seeds.len(),
            out.display()
        );
        for c in &study.cells {
            println!("  {}", c.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let opts = RunOptions {
        out,
        dataset: args.dataset,
        cache: paths::cache_dir(),
        print: true,
        aggregate_only: args.aggregate_only,
    };
    let report = experiments::run_study(&study, &opts, device)?;
    let main = study.main_metric();
    println!("\n{main} (mean over seeds, 95% CI):");
    for g in report.results.groups.iter().filter(|g| g.metric == main) {
        let ci = g
            .ci95
            .map_or("-".into(), |[lo, hi]| format!("[{lo:.3}, {hi:.3}]"));
        let mean = g.mean.map_or("-".into(), |m| format!("{m:.3}"));
        println!("  {:<50} {mean} {ci}", g.group);
    }
    Ok(ExitCode::SUCCESS)
}
