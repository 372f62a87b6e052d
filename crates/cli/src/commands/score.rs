//! `rewardlab score`: every head's score and predicted rating for images under one prompt, with
//! a trained run folder.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use train::Scorer;

#[derive(clap::Args)]
pub struct Args {
    /// Run folder written by `rewardlab train`.
    #[arg(long)]
    run: PathBuf,
    /// The prompt the images were generated for.
    #[arg(long)]
    prompt: String,
    /// Image files to score.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Print JSON (one object per image) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let scorer = Scorer::load(&args.run)?;
    let items: Vec<(String, PathBuf)> = args
        .images
        .iter()
        .map(|p| (args.prompt.clone(), p.clone()))
        .collect();
    let scores = scorer.score_files(&items)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&scores)?);
        return Ok(ExitCode::SUCCESS);
    }
    let heads: Vec<model::Criterion> = scorer.config.heads.clone();
    let mut header = format!("{:<40}", "image");
    for h in model::Criterion::ALL.iter().filter(|h| heads.contains(h)) {
        header.push_str(&format!("{:>16}", h.name()));
    }
    println!("{header}");
    for s in &scores {
        let mut line = format!("{:<40}", s.image.display().to_string());
        for h in model::Criterion::ALL.iter().filter(|h| heads.contains(h)) {
            let v = &s.heads[h.name()];
            let cell = match v.rating {
                Some(r) => format!("{:.3} ({r:.2})", v.score),
                None => format!("{:.3}", v.score),
            };
            line.push_str(&format!("{cell:>16}"));
        }
        println!("{line}");
    }
    println!("(score, and predicted rating in parentheses for the Likert heads)");
    Ok(ExitCode::SUCCESS)
}
