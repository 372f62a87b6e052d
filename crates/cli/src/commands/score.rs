//! `rewardlab score`: every head's score and predicted rating for images under one prompt, with
//! a trained run folder or a pretrained model (ImageReward, CLIP score, PickScore, HPSv2).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use scoring::{Device, HeadScore, ImageScore, ImageScorer};

use super::scorer_args::ScorerArgs;

/// The scorer and the images to score under one prompt (shared by `score` and `rank`).
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("scorer").required(true).args(["run", "model"])))]
pub struct ScoreInput {
    #[command(flatten)]
    pub scorer: ScorerArgs,
    /// The prompt the images were generated for.
    #[arg(long)]
    pub prompt: String,
    /// Image files to score.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

/// Scores of every image, with what the table needs to show them.
pub struct Scored {
    /// The heads the scorer fills, in criterion order.
    pub heads: Vec<annotations::Criterion>,
    pub scores: Vec<ImageScore>,
    /// What the numbers are, printed under the table.
    pub legend: &'static str,
}

impl ScoreInput {
    /// Loads the run or the pretrained model onto `device` and scores every image, in batches.
    pub fn score(&self, device: &Device) -> Result<Scored> {
        let items: Vec<(String, PathBuf)> = self
            .images
            .iter()
            .map(|p| (self.prompt.clone(), p.clone()))
            .collect();
        let scorer = self.scorer.load(device)?;
        Ok(Scored {
            heads: scorer.heads(),
            scores: scorer.score_files(&items)?,
            legend: scorer.legend(),
        })
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

pub fn run(args: Args, device: &scoring::Device) -> Result<ExitCode> {
    let Scored {
        heads,
        scores,
        legend,
    } = args.input.score(device)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&scores)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut header = format!("{:<40}", "image");
    for h in &heads {
        header.push_str(&format!("{:>16}", h.name()));
    }
    println!("{header}");
    for s in &scores {
        let mut line = format!("{:<40}", s.image.display().to_string());
        for h in &heads {
            line.push_str(&format!("{:>16}", head_cell(s.heads.get(*h))));
        }
        println!("{line}");
    }
    println!("({legend})");
    Ok(ExitCode::SUCCESS)
}
