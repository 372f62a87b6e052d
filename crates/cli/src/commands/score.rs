//! `rewardlab score`: every head's score and predicted rating for images under one prompt, with
//! a trained run folder.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use train::{HeadScore, ImageScore, Scorer};

/// A run and the images to score under one prompt (shared by `score` and `rank`).
#[derive(clap::Args)]
pub struct ScoreInput {
    /// Run folder written by `rewardlab train`.
    #[arg(long)]
    pub run: PathBuf,
    /// The prompt the images were generated for.
    #[arg(long)]
    pub prompt: String,
    /// Image files to score.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

impl ScoreInput {
    /// Loads the run and scores every image, in batches.
    pub fn score(&self) -> Result<(Scorer, Vec<ImageScore>)> {
        let scorer = Scorer::load(&self.run)?;
        let items: Vec<(String, PathBuf)> = self
            .images
            .iter()
            .map(|p| (self.prompt.clone(), p.clone()))
            .collect();
        let scores = scorer.score_files(&items)?;
        Ok((scorer, scores))
    }
}

/// A table cell: the score, and the predicted rating in parentheses for Likert heads.
pub fn head_cell(h: Option<&HeadScore>) -> String {
    match h {
        Some(HeadScore {
            score,
            rating: Some(rating),
        }) => format!("{score:.3} ({rating:.2})"),
        Some(HeadScore { score, .. }) => format!("{score:.3}"),
        None => "-".into(),
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: ScoreInput,
    /// Print JSON (one object per image) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (scorer, scores) = args.input.score()?;
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
            line.push_str(&format!("{:>16}", head_cell(s.heads.get(h.name()))));
        }
        println!("{line}");
    }
    println!("(score, and predicted rating in parentheses for the Likert heads)");
    Ok(ExitCode::SUCCESS)
}
