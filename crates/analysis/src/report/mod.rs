//! The analysis as files and text: every table as Parquet and CSV (`tables/`), the figures as
//! SVG and PNG (`plots/`), `report.md` with every table and plot, `analysis.json` (what
//! `--json` prints) and the headline tables printed to stdout.

mod figures;
mod json;
mod markdown;

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::Analysis;
use crate::error::{AnalysisError, Context, Result};
use crate::plots::save;

pub use figures::figures;
pub use json::to_json;
pub use markdown::{headline, markdown_report};

/// Where [`write_outputs`] put things.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    pub report: PathBuf,
    pub json: PathBuf,
    pub tables: Vec<PathBuf>,
    pub plots: Vec<PathBuf>,
}

/// Every table of the analysis, by file name.
pub fn tables(a: &Analysis) -> Result<Vec<(&'static str, DataFrame)>> {
    let s = &a.structure;
    let summary = df!(
        "statistic" => ["prompts", "generations", "judgments", "annotators", "categories",
            "rankings", "strict_pairs", "tied_pairs", "tie_rate", "mean_images_per_prompt",
            "mean_judgments_per_image"],
        "value" => [Some(s.prompts as f64), Some(s.generations as f64), Some(s.judgments as f64),
            Some(s.annotators as f64), Some(s.categories as f64), Some(s.rankings as f64),
            Some(s.strict_pairs as f64), Some(s.tied_pairs as f64), s.tie_rate,
            s.mean_images_per_prompt, s.mean_judgments_per_image],
    )
    .ctx("structure table")?;
    let mut out = vec![
        ("structure", summary),
        ("images_per_prompt", s.images_per_prompt.clone()),
        ("categories", s.categories_table.clone()),
        ("prompt_length", s.prompt_length.clone()),
    ];
    if let Some(t) = &s.annotators_per_prompt {
        out.push(("annotators_per_prompt", t.clone()));
    }
    if let Some(t) = &s.tiers {
        out.push(("rank_tiers", t.clone()));
    }
    if let Some(d) = &a.distributions {
        out.push(("rating_summary", d.summary.clone()));
        out.push(("rating_histogram", d.histogram.clone()));
    }
    if let Some(c) = &a.correlations {
        out.push(("correlations", c.table.clone()));
    }
    if !a.rank_vs_rating.is_empty() {
        out.push((
            "rank_vs_rating",
            crate::relations::rank_vs_rating_table(&a.rank_vs_rating)?,
        ));
    }
    if let Some(g) = &a.agreement {
        out.push(("agreement", g.table.clone()));
        out.push(("agreement_annotator_pairs", g.annotator_pairs.clone()));
        out.push(("agreement_annotators", g.annotators.clone()));
    }
    if let Some(e) = &a.effects {
        out.push(("prompt_effects", e.table.clone()));
    }
    let skipped = df!(
        "statistic" => a.skipped.iter().map(|s| s.statistic.as_str()).collect::<Vec<_>>(),
        "reason" => a.skipped.iter().map(|s| s.reason.as_str()).collect::<Vec<_>>(),
    )
    .ctx("skipped table")?;
    out.push(("skipped", skipped));
    Ok(out)
}

fn write_table(df: &DataFrame, dir: &Path, name: &str) -> Result<[PathBuf; 2]> {
    let pq = dir.join(format!("{name}.parquet"));
    let csv = dir.join(format!("{name}.csv"));
    let mut df = df.clone();
    ParquetWriter::new(File::create(&pq).map_err(AnalysisError::io(&pq))?)
        .finish(&mut df)
        .ctx(&format!("writing {}", pq.display()))?;
    CsvWriter::new(File::create(&csv).map_err(AnalysisError::io(&csv))?)
        .finish(&mut df)
        .ctx(&format!("writing {}", csv.display()))?;
    Ok([pq, csv])
}

/// Writes everything into `dir` (created if needed; existing files of the same names are
/// replaced, so the caller decides whether `dir` may be written).
pub fn write_outputs(a: &Analysis, dir: &Path) -> Result<Outputs> {
    let tdir = dir.join("tables");
    let pdir = dir.join("plots");
    for d in [dir, &tdir, &pdir] {
        std::fs::create_dir_all(d).map_err(AnalysisError::io(d))?;
    }
    let mut out = Outputs::default();
    for (name, df) in tables(a)? {
        out.tables.extend(write_table(&df, &tdir, name)?);
    }
    let figs = figures(a)?;
    for (name, fig) in &figs {
        out.plots.extend(save(fig, &pdir, name)?);
    }
    let names: Vec<&str> = figs.iter().map(|(n, _)| *n).collect();
    out.report = dir.join("report.md");
    std::fs::write(&out.report, markdown_report(a, &names)?)
        .map_err(AnalysisError::io(&out.report))?;
    out.json = dir.join("analysis.json");
    let text = serde_json::to_string_pretty(&to_json(a)).unwrap_or_default();
    std::fs::write(&out.json, text).map_err(AnalysisError::io(&out.json))?;
    Ok(out)
}
