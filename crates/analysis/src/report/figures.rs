//! The analysis figures: distributions, correlations, agreement and the prompt effects.

use polars::prelude::*;

use crate::error::{Context, Result};
use crate::plots::{BarPanel, Figure, ForestRow};
use crate::util::{floats, fmt_num, strings};
use crate::{Analysis, distributions::ALL};

/// One bar panel per run of equal `titles` (rows come sorted by title), each holding the run's
/// `(label, value)` bars, at most `max_bars` of them.
fn bar_panels(
    titles: &[String],
    bars: impl Iterator<Item = (String, f64)>,
    max_bars: usize,
) -> Vec<BarPanel> {
    let mut panels: Vec<BarPanel> = Vec::new();
    for (title, (label, value)) in titles.iter().zip(bars) {
        if panels.last().is_none_or(|p| &p.title != title) {
            panels.push(BarPanel {
                title: title.clone(),
                labels: Vec::new(),
                values: Vec::new(),
            });
        }
        let p = panels.last_mut().expect("just pushed");
        if p.values.len() < max_bars {
            p.labels.push(label);
            p.values.push(value);
        }
    }
    panels
}

/// The figures the data allows, by file name.
pub fn figures(a: &Analysis) -> Result<Vec<(&'static str, Figure)>> {
    let mut out = Vec::new();
    if let Some(d) = &a.distributions {
        let h = d
            .histogram
            .clone()
            .lazy()
            .filter(col("category").eq(lit(ALL)))
            .collect()
            .ctx("rating histogram plot")?;
        let (crit, level, share) = (
            strings(&h, "criterion")?,
            floats(&h, "rating")?,
            floats(&h, "share")?,
        );
        let panels = bar_panels(
            &crit,
            (0..h.height()).map(|i| {
                (
                    level[i].map(fmt_num).unwrap_or_default(),
                    share[i].unwrap_or(0.0),
                )
            }),
            usize::MAX,
        );
        out.push((
            "ratings",
            Figure::Bars {
                title: format!("Rating distribution ({})", a.name),
                y_label: "share of ratings".into(),
                panels,
            },
        ));
        if a.structure.categories > 1 {
            let s = d
                .summary
                .clone()
                .lazy()
                .filter(col("category").neq(lit(ALL)))
                .collect()
                .ctx("ratings by category plot")?;
            let (crit, cat, mean) = (
                strings(&s, "criterion")?,
                strings(&s, "category")?,
                floats(&s, "mean")?,
            );
            // The first 12 categories alphabetically: a bar chart of hundreds reads as noise.
            let panels = bar_panels(
                &crit,
                (0..s.height()).map(|i| (cat[i].clone(), mean[i].unwrap_or(0.0))),
                12,
            );
            out.push((
                "ratings_by_category",
                Figure::Bars {
                    title: format!(
                        "Mean rating by category (scale {}..{})",
                        a.scale.min, a.scale.max
                    ),
                    y_label: "mean rating".into(),
                    panels,
                },
            ));
        }
    }
    if let Some(c) = &a.correlations {
        out.push((
            "correlations",
            Figure::Heatmap {
                title: "Spearman correlation between criteria".into(),
                labels: c.criteria.iter().map(|c| c.name().to_string()).collect(),
                values: c.spearman.clone(),
                diverging: true,
            },
        ));
    }
    let s = &a.structure;
    let mut panels = Vec::new();
    let bar = |title: &str, df: &DataFrame, key: &str, value: &str| -> Result<BarPanel> {
        Ok(BarPanel {
            title: title.into(),
            labels: floats(df, key)?
                .into_iter()
                .map(|v| v.map(fmt_num).unwrap_or_default())
                .collect(),
            values: floats(df, value)?
                .into_iter()
                .map(|v| v.unwrap_or(0.0))
                .collect(),
        })
    };
    panels.push(bar(
        "images per prompt",
        &s.images_per_prompt,
        "images",
        "share",
    )?);
    if let Some(t) = &s.tiers {
        panels.push(bar("rank tier of a judgment", t, "rank", "share")?);
    }
    if let Some(t) = &s.annotators_per_prompt {
        panels.push(bar("annotators per prompt", t, "annotators", "share")?);
    }
    if s.categories > 1 {
        let c = &s.categories_table;
        let total = s.prompts.max(1) as f64;
        panels.push(BarPanel {
            title: "prompts per category".into(),
            labels: strings(c, "category")?.into_iter().take(12).collect(),
            values: floats(c, "prompts")?
                .into_iter()
                .take(12)
                .map(|v| v.unwrap_or(0.0) / total)
                .collect(),
        });
    }
    out.push((
        "structure",
        Figure::Bars {
            title: format!("Structure ({})", a.name),
            y_label: "share".into(),
            panels,
        },
    ));
    if let Some(g) = &a.agreement
        && let Some(h) = g.headline()
    {
        let t = g
            .annotator_pairs
            .clone()
            .lazy()
            .filter(col("label").eq(lit(h.label.as_str())))
            .collect()
            .ctx("agreement plot")?;
        let (aa, ab, v) = (
            strings(&t, "annotator_a")?,
            strings(&t, "annotator_b")?,
            floats(&t, "pairwise_agreement")?,
        );
        let mut names: Vec<String> = aa.iter().chain(&ab).cloned().collect();
        names.sort();
        names.dedup();
        if names.len() >= 2 && names.len() <= 30 {
            let pos = |x: &String| names.iter().position(|n| n == x).unwrap_or(0);
            let mut m = vec![vec![None; names.len()]; names.len()];
            for i in 0..t.height() {
                let (x, y) = (pos(&aa[i]), pos(&ab[i]));
                m[x][y] = v[i];
                m[y][x] = v[i];
            }
            out.push((
                "agreement",
                Figure::Heatmap {
                    title: format!("Pairwise agreement between annotators ({})", h.label),
                    labels: names,
                    values: m,
                    diverging: false,
                },
            ));
        }
    }
    if let Some(e) = &a.effects {
        let mut panels: Vec<(String, Vec<ForestRow>)> = Vec::new();
        for eff in &e.effects {
            let Some(d) = eff.difference else { continue };
            let name = eff.criterion.name();
            let row = ForestRow {
                label: format!("{} ({})", eff.term, eff.prompts),
                estimate: d,
                ci95: eff.ci95,
            };
            match panels.iter_mut().find(|(n, _)| n == name) {
                Some((_, rows)) => rows.push(row),
                None => panels.push((name.to_string(), vec![row])),
            }
        }
        if !panels.is_empty() {
            out.push((
                "prompt_effects",
                Figure::Forest {
                    title:
                        "Mean rating with the term minus without (95% bootstrap CI over prompts)"
                            .into(),
                    x_label: "difference in mean rating".into(),
                    panels,
                },
            ));
        }
    }
    Ok(out)
}
