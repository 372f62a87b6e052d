//! `rewardlab validate DATASET`: every problem of a canonical dataset folder, and its statistics.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use annotations::validate::{Checks, validate};
use annotations::{DatasetSummary, ImagesState};
use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Canonical dataset folder (dataset.toml + annotations.parquet + images/).
    dataset: PathBuf,
    /// Print one JSON object (counts and problems) instead of text.
    #[arg(long)]
    json: bool,
    /// Do not open the images (faster; annotations only).
    #[arg(long)]
    no_images: bool,
    /// Print `generation_id,prompt_id,image` for every generation as CSV and exit (the ids to
    /// use when scoring a dataset with an external model).
    #[arg(long)]
    list_generations: bool,
}

/// The statistics that `validate` and `import` print, as text.
pub fn print_text(s: &DatasetSummary) {
    println!(
        "dataset      {} ({}), scale {}..{}",
        s.name, s.source, s.scale[0], s.scale[1]
    );
    println!("prompts      {}", s.prompts);
    println!("generations  {}", s.generations);
    println!("judgments    {}", s.judgments);
    println!("annotators   {}", s.annotators);
    println!(
        "pairs        {} strict, {} ties",
        s.pairs.strict, s.pairs.ties
    );
    let r = &s.ratings;
    println!(
        "ratings      overall {}, alignment {}, fidelity {}, harmlessness {}",
        r.overall, r.alignment, r.fidelity, r.harmlessness
    );
    if s.images == ImagesState::Absent {
        println!("images       absent: annotation-only dataset (image checks skipped)");
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let ds = super::read_dataset(&args.dataset)?;
    if args.list_generations {
        let ix = ds.index();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        writeln!(out, "generation_id,prompt_id,image")?;
        for g in &ix.generations {
            writeln!(
                out,
                "{},{},{}",
                eval::scores::csv_field(&g.id),
                eval::scores::csv_field(&ix.prompts[g.prompt].id),
                eval::scores::csv_field(g.image.as_deref().unwrap_or(""))
            )?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let problems = validate(
        &ds,
        Checks {
            images: !args.no_images,
        },
    );
    let s = DatasetSummary::of(&ds, &problems);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print_text(&s);
        for p in &problems {
            println!("problem: {p}");
        }
        println!("{} problem(s)", problems.len());
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
