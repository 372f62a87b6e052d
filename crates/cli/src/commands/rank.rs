//! `rewardlab rank`: best-of-N selection, the use ImageReward was built for: a prompt's
//! candidate images best first by the overall head (rank 1 = best, as ImageReward's
//! `inference_rank` numbers them), each with every head's score and predicted rating; with a
//! trained run or a pretrained model.

use std::process::ExitCode;

use anyhow::{Result, bail};
use scoring::HeadScore;
use serde::Serialize;

use super::score::{ScoreInput, Scored, head_cell};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: ScoreInput,
    /// Show only the best K images.
    #[arg(long)]
    top: Option<usize>,
    /// Print JSON (one object per image, best first) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Ranked<'a> {
    rank: usize,
    image: &'a std::path::Path,
    heads: &'a annotations::PerCriterion<HeadScore>,
}

pub fn run(args: Args, device: &scoring::Device) -> Result<ExitCode> {
    if args.top == Some(0) {
        bail!("--top must be at least 1");
    }
    let Scored {
        heads,
        scores,
        legend,
    } = args.input.score(device)?;
    // Images are ordered by the overall head, the preference head trained on rankings; a model
    // trained without it is ordered by its first head, and says so.
    let Some(&by) = heads
        .iter()
        .find(|h| **h == model::Criterion::Overall)
        .or(heads.first())
    else {
        bail!("the run's model has no head to rank by");
    };
    if by != model::Criterion::Overall {
        eprintln!("the model has no overall head: ranking by {}", by.name());
    }
    let key: Vec<f64> = scores
        .iter()
        .map(|s| s.heads.get(by).map_or(f64::NAN, |h| h.score))
        .collect();
    let order = eval::best_first(&key);
    let shown = args.top.unwrap_or(order.len()).min(order.len());
    let ranked: Vec<Ranked> = order[..shown]
        .iter()
        .enumerate()
        .map(|(r, &i)| Ranked {
            rank: r + 1,
            image: &scores[i].image,
            heads: &scores[i].heads,
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&ranked)?);
        return Ok(ExitCode::SUCCESS);
    }
    let width = ranked
        .iter()
        .map(|r| r.image.display().to_string().chars().count())
        .max()
        .unwrap_or(0)
        .max("image".len());
    let mut header = format!("{:>4}  {:<width$}", "rank", "image");
    for h in &heads {
        header.push_str(&format!("{:>16}", h.name()));
    }
    println!("{header}");
    for r in &ranked {
        let mut line = format!("{:>4}  {:<width$}", r.rank, r.image.display().to_string());
        for h in &heads {
            line.push_str(&format!("{:>16}", head_cell(r.heads.get(*h))));
        }
        println!("{line}");
    }
    println!("(best first by the {} head; {legend})", by.name());
    Ok(ExitCode::SUCCESS)
}
