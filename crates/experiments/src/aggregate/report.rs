//! A study's `results.md` and its plots: one table per metric (mean, standard deviation and
//! interval per configuration, then the contrasts between levels of each axis), and one plot per
//! metric and axis.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Contrast, Finished, Results, at_label};
use crate::error::Result;
use crate::figures::{describe, lower_is_better, metric_names};
use crate::plots::{self, Point, Series};
use crate::study::Study;

/// The file-name form of a metric.
fn slug(metric: &str) -> String {
    metric.replace(['.', '_'], "-")
}

/// One plot per listed metric and axis: the metric's mean over seeds (with its interval and each
/// seed's value) at each level of the axis, one series per combination of the other axes.
pub(super) fn write_plots(study: &Study, results: &Results, out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for metric in &study.metrics {
        for (a, axis) in study.axes.iter().enumerate() {
            let mut series: Vec<Series> = Vec::new();
            for g in results.groups.iter().filter(|g| &g.metric == metric) {
                let label = at_label(study, &g.levels, a);
                let idx = match series.iter().position(|s| s.label == label) {
                    Some(i) => i,
                    None => {
                        series.push(Series {
                            label,
                            points: Vec::new(),
                        });
                        series.len() - 1
                    }
                };
                series[idx].points.push(Point {
                    x: g.levels[a],
                    mean: g.mean,
                    ci95: g.ci95,
                    seeds: g.values.iter().filter_map(|(_, v)| *v).collect(),
                });
            }
            if series.is_empty() {
                continue;
            }
            let name = format!("{}-by-{}", slug(metric), slug(&axis.name));
            let labels: Vec<String> = axis.levels.iter().map(|l| l.label.clone()).collect();
            let title = format!(
                "{} ({}; mean over seeds, 95% CI; dots: seeds)",
                describe(metric),
                study.name
            );
            let [svg, png] =
                plots::save_axis_plot(out, &name, &title, &axis.name, &labels, metric, &series)?;
            files.push(svg);
            files.push(png);
        }
    }
    Ok(files)
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.3}"))
}

fn fmt_ci(c: Option<[f64; 2]>) -> String {
    c.map_or("-".into(), |[lo, hi]| format!("[{lo:.3}, {hi:.3}]"))
}

fn fmt_diff(v: f64) -> String {
    format!("{v:+.3}")
}

fn fmt_ci_diff(c: Option<[f64; 2]>) -> String {
    c.map_or("-".into(), |[lo, hi]| format!("[{lo:+.3}, {hi:+.3}]"))
}

/// A markdown table of contrasts: with `with_metric`, a first column names each one's figure
/// (the main metrics' tables, one per metric, leave it out); the main metrics' differences are
/// in bold.
fn contrast_table(s: &mut String, study: &Study, cs: &[&Contrast], with_metric: bool) {
    let (head, rule) = if with_metric {
        ("| figure ", "|---")
    } else {
        ("", "")
    };
    let _ = writeln!(s, "{head}| axis | compared | at | difference | 95% CI |");
    let _ = writeln!(s, "{rule}|---|---|---|---|---|");
    for c in cs {
        let axis = &study.axes[c.axis];
        let figure = if with_metric {
            format!("| `{}` ", c.metric)
        } else {
            String::new()
        };
        let diff = if with_metric {
            fmt_diff(c.diff)
        } else {
            format!("**{}**", fmt_diff(c.diff))
        };
        let _ = writeln!(
            s,
            "{figure}| {} | {} vs {} | {} | {diff} | {} |",
            axis.name,
            axis.levels[c.level].label,
            axis.levels[0].label,
            at_label(study, &c.at, c.axis),
            fmt_ci_diff(c.ci95)
        );
    }
}
/// `results.md`.
pub(crate) fn markdown(
    study: &Study,
    cells: &[Finished],
    results: &Results,
    plots: &[PathBuf],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Study: {}\n", study.name);
    if let Some(q) = &study.question {
        let _ = writeln!(s, "> {}\n", q.trim());
    }
    let file = study.path.display();
    let configs = results
        .groups
        .iter()
        .filter(|g| g.metric == study.metrics[0])
        .count();
    let test_prompts: Vec<usize> = cells.iter().map(|c| c.record.test_prompts).collect();
    let train_total: f64 = cells.iter().map(|c| c.record.train_seconds).sum();
    let eval_total: f64 = cells.iter().map(|c| c.record.eval_seconds).sum();
    let _ = writeln!(
        s,
        "Study file `{file}`; {} of {} cells finished ({configs} configurations x {} seeds); \
         {} test prompts per cell; dataset `{}`. Rerun: `rewardlab ablate {file}` (finished cells \
         are skipped).\n",
        results.finished,
        results.total,
        study.seeds.len(),
        test_prompts.iter().max().copied().unwrap_or(0),
        cells[0]
            .record
            .dataset
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().to_string()),
    );
    let _ = writeln!(
        s,
        "Axes: {}.\n",
        if study.axes.is_empty() {
            "none (seeds only)".to_string()
        } else {
            study
                .axes
                .iter()
                .map(|a| {
                    let levels: Vec<&str> = a.levels.iter().map(|l| l.label.as_str()).collect();
                    format!("`{}` ({}) in {}", a.key, a.name, levels.join(" / "))
                })
                .collect::<Vec<_>>()
                .join("; ")
        }
    );
    let _ = writeln!(
        s,
        "Each figure is the mean over seeds of the figure on the held-out test prompts, with the \
         standard deviation over seeds and a 95% interval from a two-level bootstrap ({} \
         resamples of the test prompts and, independently, of the seeds). Differences are \
         against an axis's first level with the other axes fixed, paired on the same prompt \
         draws; an interval that excludes 0 marks a difference beyond the noise of seeds and \
         test prompts.\n",
        study.resamples
    );
    let axis_head = |s: &mut String, extra: &[&str]| {
        let mut cols: Vec<String> = study.axes.iter().map(|a| a.name.clone()).collect();
        cols.extend(extra.iter().map(|e| e.to_string()));
        let _ = writeln!(s, "| {} |", cols.join(" | "));
        let _ = writeln!(s, "|{}", "---|".repeat(cols.len()));
    };
    let axis_cells = |levels: &[usize]| -> Vec<String> {
        study
            .axes
            .iter()
            .zip(levels)
            .map(|(a, &i)| a.levels[i].label.clone())
            .collect()
    };

    for metric in &study.metrics {
        let better = if lower_is_better(metric) {
            "lower is better"
        } else {
            "higher is better"
        };
        let _ = writeln!(s, "## {} (`{metric}`, {better})\n", describe(metric));
        axis_head(&mut s, &["mean", "std", "95% CI", "per seed"]);
        for g in results.groups.iter().filter(|g| &g.metric == metric) {
            let mut row = axis_cells(&g.levels);
            row.push(format!("**{}**", fmt(g.mean)));
            row.push(fmt(g.std));
            row.push(fmt_ci(g.ci95));
            row.push(
                g.values
                    .iter()
                    .map(|(_, v)| fmt(*v))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            let _ = writeln!(s, "| {} |", row.join(" | "));
        }
        let cs: Vec<&Contrast> = results
            .contrasts
            .iter()
            .filter(|c| &c.metric == metric)
            .collect();
        if !cs.is_empty() {
            let _ = writeln!(s, "\nDifferences (level minus the axis's first level):\n");
            contrast_table(&mut s, study, &cs, false);
        }
        let prefix = format!("{}-by-", slug(metric));
        for p in plots {
            let name = p
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().to_string());
            if name.starts_with(&prefix) && name.ends_with(".svg") {
                let _ = writeln!(s, "\n![{name}]({name})");
            }
        }
        s.push('\n');
    }

    let _ = writeln!(s, "## Every figure\n");
    axis_head(&mut s, &["figure", "mean ± std", "95% CI"]);
    let mut order = metric_names();
    order.retain(|m| !study.metrics.contains(m));
    for metric in &order {
        for g in results.groups.iter().filter(|g| &g.metric == metric) {
            let mut row = axis_cells(&g.levels);
            row.push(format!("`{metric}`"));
            row.push(format!("{} ± {}", fmt(g.mean), fmt(g.std)));
            row.push(fmt_ci(g.ci95));
            let _ = writeln!(s, "| {} |", row.join(" | "));
        }
    }
    let others: Vec<&Contrast> = results
        .contrasts
        .iter()
        .filter(|c| !study.metrics.contains(&c.metric))
        .collect();
    if !others.is_empty() {
        let _ = writeln!(s, "\nDifferences of these figures:\n");
        contrast_table(&mut s, study, &others, true);
    }

    let _ = writeln!(s, "\n## Cells\n");
    let _ = writeln!(
        s,
        "Training and evaluation wall time of every cell; the pooled pairwise accuracy with the \
         cell's own 95% interval over test prompts. Total: {:.0} s training, {:.0} s evaluation.\n",
        train_total, eval_total
    );
    let _ = writeln!(
        s,
        "| cell | epochs | train s | eval s | pairwise accuracy | 95% CI |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for c in cells {
        let r = &c.record;
        let _ = writeln!(
            s,
            "| `{}` | {} | {:.1} | {:.1} | {} | {} |",
            r.id,
            r.epochs,
            r.train_seconds,
            r.eval_seconds,
            fmt(r.pairwise_accuracy),
            fmt_ci(r.pairwise_accuracy_ci95)
        );
    }
    let _ = writeln!(
        s,
        "\nFiles: `results.parquet` (one row per configuration and figure: seeds, mean, std, \
         min, max, ci_lo, ci_hi), `contrasts.parquet` (the differences), `cells.parquet` (one \
         row per cell and figure, with the cell's own interval over test prompts)."
    );
    s
}
