//! `rewardlab analyze DATASET`: every annotation statistic of the `analysis` crate on a canonical
//! dataset; writes `report.md`, `analysis.json`, `tables/` (Parquet + CSV) and `plots/` (SVG +
//! PNG), and prints the headline tables (or, with `--json`, the JSON).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use analysis::{EffectOptions, Options};
use annotations::validate::{Checks, validate};
use anyhow::{Context, Result, bail};

#[derive(clap::Args)]
pub struct Args {
    /// Canonical dataset folder (from `rewardlab import` or `rewardlab synth`).
    dataset: PathBuf,
    /// Output folder; default: DATASET-analysis beside the dataset. Never overwritten without
    /// --force.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Overwrite a non-empty output folder.
    #[arg(long)]
    force: bool,
    /// Print the analysis as JSON instead of the headline tables.
    #[arg(long)]
    json: bool,
    /// A term whose effect on ratings to measure, added to the default quality words
    /// (repeatable), e.g. --term "cinematic lighting".
    #[arg(long = "term")]
    terms: Vec<String>,
    /// Leave out the default quality words ("highly detailed", "8k", ...).
    #[arg(long)]
    no_default_terms: bool,
    /// How many of the most frequent n-grams to add to the terms.
    #[arg(long, default_value_t = 10)]
    ngrams: usize,
    /// Longest n-gram counted.
    #[arg(long, default_value_t = 3)]
    ngram_max: usize,
    /// An n-gram must occur in at least this many prompts to be reported.
    #[arg(long, default_value_t = 5)]
    min_prompts: usize,
    /// Bootstrap resamples of the prompts for the prompt-effect intervals.
    #[arg(long, default_value_t = eval::bootstrap::DEFAULT_RESAMPLES)]
    resamples: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// `DIR-analysis` beside the dataset folder.
fn default_out(dataset: &Path) -> PathBuf {
    let name = dataset
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    dataset.with_file_name(format!("{name}-analysis"))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let ds = super::read_dataset(&args.dataset)?;
    // Statistics of broken data would mislead: refuse it, naming the problems.
    let problems = validate(&ds, Checks { images: false });
    if !problems.is_empty() {
        let first: Vec<String> = problems.iter().take(3).map(|p| p.to_string()).collect();
        bail!(
            "{} has {} problem(s), e.g. {}; run `rewardlab validate {}` and fix or re-import it",
            args.dataset.display(),
            problems.len(),
            first.join("; "),
            args.dataset.display()
        );
    }
    if args.ngram_max == 0 {
        bail!("--ngram-max must be at least 1");
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.dataset));
    super::ensure_writable(&out, args.force)?;
    let mut terms: Vec<String> = if args.no_default_terms {
        Vec::new()
    } else {
        analysis::DEFAULT_TERMS
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    terms.extend(args.terms.iter().cloned());
    let options = Options {
        effects: EffectOptions {
            terms,
            ngrams: args.ngrams,
            ngram_max: args.ngram_max,
            min_prompts: args.min_prompts,
            resamples: args.resamples,
            seed: args.seed,
        },
    };
    let a = analysis::analyze(&ds, &options)
        .with_context(|| format!("analysing {}", args.dataset.display()))?;
    let written = analysis::write_outputs(&a, &out)
        .with_context(|| format!("writing the analysis into {}", out.display()))?;
    if args.json {
        let mut v = analysis::report::to_json(&a);
        if let Some(m) = v.as_object_mut() {
            m.insert(
                "outputs".into(),
                serde_json::json!({
                    "report": written.report,
                    "json": written.json,
                    "tables": out.join("tables"),
                    "plots": out.join("plots"),
                }),
            );
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", analysis::report::headline(&a)?);
        println!(
            "\nwrote {} ({} tables as Parquet + CSV, {} plot files)",
            written.report.display(),
            written.tables.len() / 2,
            written.plots.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
