//! The files `rewardlab eval` writes besides `metrics.json` and `report.md`: the per-prompt
//! table and the scores it computed, in the form `--scores` reads back.

use std::path::Path;

use anyhow::{Context, Result};
use eval::{EvalData, PromptRow};
use scoring::{Evaluated, PretrainedScorerKind as PretrainedKind};
use tables::PlainColumn;

/// `per_prompt.parquet`: every scorer's figures on each prompt.
pub fn write_prompt_table(
    out: &Path,
    data: &EvalData,
    evaluated: &Evaluated,
    k: usize,
) -> Result<()> {
    let mut rows = Vec::new();
    for (name, table) in &evaluated.tables {
        rows.extend(eval::prompt_rows(data, name, table, k)?);
    }
    let text =
        |f: fn(&PromptRow) -> Option<String>| PlainColumn::Text(rows.iter().map(f).collect());
    let float = |f: fn(&PromptRow) -> Option<f64>| PlainColumn::Float(rows.iter().map(f).collect());
    let int = |f: fn(&PromptRow) -> usize| {
        PlainColumn::Int(rows.iter().map(|r| Some(f(r) as i64)).collect())
    };
    let columns = vec![
        ("scorer".to_string(), text(|r| Some(r.scorer.clone()))),
        ("prompt_id".into(), text(|r| Some(r.prompt_id.clone()))),
        ("prompt".into(), text(|r| Some(r.prompt.clone()))),
        ("category".into(), text(|r| r.category.clone())),
        ("images".into(), int(|r| r.images)),
        ("annotators".into(), int(|r| r.annotators)),
        ("strict_pairs".into(), int(|r| r.strict_pairs)),
        ("tied_pairs".into(), int(|r| r.tied_pairs)),
        ("accuracy".into(), float(|r| r.accuracy)),
        ("kendall_tau_b".into(), float(|r| r.kendall_tau_b)),
        ("spearman".into(), float(|r| r.spearman)),
        ("recall_at_k".into(), float(|r| r.recall_at_k)),
        ("filter_at_k".into(), float(|r| r.filter_at_k)),
        ("top_generation".into(), text(|r| r.top_generation.clone())),
        ("top_mean_rank".into(), float(|r| r.top_mean_rank)),
    ];
    let path = out.join("per_prompt.parquet");
    tables::write_parquet_columns(&path, columns)
        .with_context(|| format!("writing {}", path.display()))
}

/// `scores.csv` (the model's, when a scorer computed them) and `scores-NAME.csv` for each
/// pretrained baseline: their scores cost a model's forward passes.
pub fn write_scores(
    out: &Path,
    data: &EvalData,
    evaluated: &Evaluated,
    scored: bool,
) -> Result<()> {
    let ids: Vec<(&str, &str)> = data
        .prompts
        .iter()
        .flat_map(|p| p.generations.iter().map(|g| (g.as_str(), p.id.as_str())))
        .collect();
    let write = |file: String, table| {
        let path = out.join(file);
        std::fs::write(&path, eval::scores_csv(&ids, table))
            .with_context(|| format!("writing {}", path.display()))
    };
    if scored {
        write("scores.csv".into(), evaluated.model_scores())?;
    }
    for (name, table) in &evaluated.tables[1..] {
        if PretrainedKind::ALL.iter().any(|k| k.name() == name) {
            write(format!("scores-{name}.csv"), table)?;
        }
    }
    Ok(())
}
