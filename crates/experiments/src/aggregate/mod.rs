//! A study's results: every finished cell's figures gathered into one long table (polars), the
//! mean and standard deviation over seeds of every configuration, bootstrap intervals of those
//! means and of the differences between levels of each axis, written as `cells.parquet`,
//! `results.parquet`, `contrasts.parquet`, `results.md` and one plot per metric and axis.
//!
//! **Intervals.** A configuration's mean over seeds varies with the training seed and with the
//! test prompts. Its 95% interval is a two-level percentile bootstrap: each of the study's
//! `resamples` draws the test prompts with replacement (the same draws for every cell, from
//! `prng::Rng::derive(0, "bootstrap")` as in `rewardlab eval`) and, independently, the
//! configuration's seeds with replacement, and takes the mean over the drawn seeds of the
//! figure on the drawn prompts. A difference between two configurations is resampled the same
//! way, on the same prompt draws for both (the comparison is paired on prompts) and independent
//! seed draws for each. With three seeds the seed part of the interval is rough; the standard
//! deviation over seeds is reported next to it.

mod report;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use report::{markdown, write_plots};

use crate::cell::CellRecord;
use crate::error::{Result, StudyError};
use crate::figures::{CellFigure, metric_names, percentile_ci};
use crate::study::{Cell, Study};

/// A finished cell with its figures.
#[derive(Clone, Debug)]
pub struct Finished {
    pub cell: Cell,
    pub record: CellRecord,
    pub figures: Vec<CellFigure>,
}

impl Finished {
    fn figure(&self, metric: &str) -> Option<&CellFigure> {
        self.figures.iter().find(|f| f.metric == metric)
    }
}

/// One configuration (a group of cells that differ only in their seed) and one metric.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupStat {
    pub group: String,
    pub levels: Vec<usize>,
    pub metric: String,
    /// Each seed's value.
    pub values: Vec<(u64, Option<f64>)>,
    /// Mean and sample standard deviation over the seeds with a value (from polars).
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub ci95: Option<[f64; 2]>,
}

/// A level of an axis against the axis's first level, the other axes fixed.
#[derive(Clone, Debug, PartialEq)]
pub struct Contrast {
    pub axis: usize,
    pub level: usize,
    /// The levels of every axis (the compared axis at the reference level 0).
    pub at: Vec<usize>,
    pub metric: String,
    pub diff: f64,
    pub ci95: Option<[f64; 2]>,
}

/// Everything a study's results hold.
#[derive(Clone, Debug)]
pub struct Results {
    pub groups: Vec<GroupStat>,
    pub contrasts: Vec<Contrast>,
    /// Cells finished, and cells in the study.
    pub finished: usize,
    pub total: usize,
    /// Files written.
    pub files: Vec<PathBuf>,
}

impl Results {
    pub fn group(&self, group: &str, metric: &str) -> Option<&GroupStat> {
        self.groups
            .iter()
            .find(|g| g.group == group && g.metric == metric)
    }
}

/// The cells as one long table: a row per cell and figure.
pub fn cells_frame(study: &Study, cells: &[Finished]) -> Result<DataFrame> {
    let rows: Vec<(&Finished, &CellFigure)> = cells
        .iter()
        .flat_map(|c| c.figures.iter().map(move |f| (c, f)))
        .collect();
    let mut cols = vec![
        Column::new(
            "cell".into(),
            rows.iter()
                .map(|(c, _)| c.cell.id.clone())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "group".into(),
            rows.iter()
                .map(|(c, _)| c.cell.group.clone())
                .collect::<Vec<_>>(),
        ),
    ];
    for (a, axis) in study.axes.iter().enumerate() {
        cols.push(Column::new(
            axis.name.as_str().into(),
            rows.iter()
                .map(|(c, _)| axis.levels[c.cell.levels[a]].label.clone())
                .collect::<Vec<_>>(),
        ));
        cols.push(Column::new(
            format!("{}_level", axis.name).into(),
            rows.iter()
                .map(|(c, _)| c.cell.levels[a] as i64)
                .collect::<Vec<_>>(),
        ));
    }
    let ci = |i: usize| -> Vec<Option<f64>> {
        rows.iter().map(|(_, f)| f.ci95().map(|c| c[i])).collect()
    };
    cols.extend([
        Column::new(
            "seed".into(),
            rows.iter()
                .map(|(c, _)| c.cell.seed as i64)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "metric".into(),
            rows.iter()
                .map(|(_, f)| f.metric.clone())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "value".into(),
            rows.iter().map(|(_, f)| f.value).collect::<Vec<_>>(),
        ),
        Column::new("ci_lo".into(), ci(0)),
        Column::new("ci_hi".into(), ci(1)),
        Column::new(
            "train_seconds".into(),
            rows.iter()
                .map(|(c, _)| c.record.train_seconds)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "epochs".into(),
            rows.iter()
                .map(|(c, _)| c.record.epochs as i64)
                .collect::<Vec<_>>(),
        ),
    ]);
    Ok(DataFrame::new_infer_height(cols)?)
}

/// Mean, standard deviation and count over seeds of every configuration and figure: a polars
/// lazy query over the cells table.
pub fn seed_summary(study: &Study, cells: &DataFrame) -> Result<DataFrame> {
    let mut keys = vec![col("group")];
    for axis in &study.axes {
        keys.push(col(axis.name.as_str()));
        keys.push(col(format!("{}_level", axis.name).as_str()));
    }
    keys.push(col("metric"));
    let mut sort: Vec<String> = study
        .axes
        .iter()
        .map(|a| format!("{}_level", a.name))
        .collect();
    sort.push("metric".into());
    Ok(cells
        .clone()
        .lazy()
        .group_by(keys)
        .agg([
            col("value").count().alias("seeds"),
            col("value").mean().alias("mean"),
            col("value").std(1).alias("std"),
            col("value").min().alias("min"),
            col("value").max().alias("max"),
            col("train_seconds").mean().alias("train_seconds"),
        ])
        .sort(sort, SortMultipleOptions::default())
        .collect()?)
}

/// Per resample: the mean over a draw of the seeds of each seed's figure on that prompt draw.
fn seed_bootstrap(figures: &[&CellFigure], resamples: usize, label: &str) -> Vec<Option<f64>> {
    let k = figures.len();
    let mut rng = prng::Rng::derive(0, label);
    (0..resamples)
        .map(|r| {
            let mut sum = 0.0;
            for _ in 0..k {
                sum += figures[rng.below(k)].resamples.get(r).copied().flatten()?;
            }
            Some(sum / k as f64)
        })
        .collect()
}

fn f64_column(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().collect())
}

fn str_column(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    Ok(df
        .column(name)?
        .str()?
        .iter()
        .map(|s| s.map(str::to_string))
        .collect())
}

/// Aggregates the finished cells and writes every output into `out`.
pub fn aggregate(study: &Study, cells: &[Finished], out: &Path) -> Result<Results> {
    if cells.is_empty() {
        return Err(StudyError::NothingToAggregate {
            dir: out.to_path_buf(),
        });
    }
    std::fs::create_dir_all(out).map_err(StudyError::io(out))?;
    let mut files = Vec::new();
    let mut cells_df = cells_frame(study, cells)?;
    let summary = seed_summary(study, &cells_df)?;

    // Polars' per-group mean and std, looked up by (group, metric).
    let groups_col = str_column(&summary, "group")?;
    let metrics_col = str_column(&summary, "metric")?;
    let means = f64_column(&summary, "mean")?;
    let stds = f64_column(&summary, "std")?;
    let mut moments: HashMap<(String, String), (Option<f64>, Option<f64>)> = HashMap::new();
    for i in 0..summary.height() {
        if let (Some(g), Some(m)) = (&groups_col[i], &metrics_col[i]) {
            moments.insert((g.clone(), m.clone()), (means[i], stds[i]));
        }
    }

    // Groups in cell order; metrics in the study's order, then the rest.
    let mut order: Vec<String> = study.metrics.clone();
    let rest: Vec<String> = metric_names()
        .into_iter()
        .filter(|m| !order.contains(m))
        .collect();
    order.extend(rest);
    let mut group_ids: Vec<(&str, &[usize])> = Vec::new();
    for c in cells {
        if !group_ids.iter().any(|(g, _)| *g == c.cell.group) {
            group_ids.push((&c.cell.group, &c.cell.levels));
        }
    }
    let mut groups = Vec::new();
    let mut boots: HashMap<(String, String), Vec<Option<f64>>> = HashMap::new();
    for (g, levels) in &group_ids {
        let members: Vec<&Finished> = cells.iter().filter(|c| c.cell.group == *g).collect();
        for m in &order {
            let figs: Vec<&CellFigure> = members.iter().filter_map(|c| c.figure(m)).collect();
            if figs.is_empty() {
                continue;
            }
            let boot = seed_bootstrap(&figs, study.resamples, &format!("seeds/{g}/{m}"));
            let (mean, std) = moments
                .get(&(g.to_string(), m.clone()))
                .copied()
                .unwrap_or((None, None));
            groups.push(GroupStat {
                group: g.to_string(),
                levels: levels.to_vec(),
                metric: m.clone(),
                values: members
                    .iter()
                    .map(|c| (c.cell.seed, c.figure(m).and_then(|f| f.value)))
                    .collect(),
                mean,
                std,
                ci95: percentile_ci(boot.iter().copied()),
            });
            boots.insert((g.to_string(), m.clone()), boot);
        }
    }

    // Every level of every axis against the axis's first level, the other axes fixed.
    let mut contrasts = Vec::new();
    for (a, axis) in study.axes.iter().enumerate() {
        for reference in groups.iter().filter(|g| g.levels[a] == 0) {
            for level in 1..axis.levels.len() {
                let mut at = reference.levels.clone();
                at[a] = level;
                let Some(other) = groups
                    .iter()
                    .find(|g| g.levels == at && g.metric == reference.metric)
                else {
                    continue;
                };
                let (Some(m0), Some(m1)) = (reference.mean, other.mean) else {
                    continue;
                };
                let b0 = &boots[&(reference.group.clone(), reference.metric.clone())];
                let b1 = &boots[&(other.group.clone(), other.metric.clone())];
                let diffs = b0
                    .iter()
                    .zip(b1)
                    .map(|(x, y)| Some(y.as_ref()? - x.as_ref()?));
                contrasts.push(Contrast {
                    axis: a,
                    level,
                    at: reference.levels.clone(),
                    metric: reference.metric.clone(),
                    diff: m1 - m0,
                    ci95: percentile_ci(diffs),
                });
            }
        }
    }

    // results.parquet: polars' summary with the bootstrap intervals joined on.
    let ci_df = DataFrame::new_infer_height(vec![
        Column::new(
            "group".into(),
            groups.iter().map(|g| g.group.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "metric".into(),
            groups.iter().map(|g| g.metric.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "ci_lo".into(),
            groups
                .iter()
                .map(|g| g.ci95.map(|c| c[0]))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "ci_hi".into(),
            groups
                .iter()
                .map(|g| g.ci95.map(|c| c[1]))
                .collect::<Vec<_>>(),
        ),
    ])?;
    let mut results_df = summary
        .lazy()
        .join(
            ci_df.lazy(),
            [col("group"), col("metric")],
            [col("group"), col("metric")],
            JoinArgs::new(JoinType::Left),
        )
        .collect()?;
    let mut contrasts_df = contrasts_frame(study, &contrasts)?;
    for (name, df) in [
        ("cells.parquet", &mut cells_df),
        ("results.parquet", &mut results_df),
        ("contrasts.parquet", &mut contrasts_df),
    ] {
        let p = out.join(name);
        let f = std::fs::File::create(&p).map_err(StudyError::io(&p))?;
        ParquetWriter::new(f).finish(df)?;
        files.push(p);
    }

    let mut results = Results {
        groups,
        contrasts,
        finished: cells.len(),
        total: study.cells.len(),
        files,
    };
    let plots = write_plots(study, &results, out)?;
    results.files.extend(plots.iter().cloned());
    let md = markdown(study, cells, &results, &plots);
    let p = out.join("results.md");
    std::fs::write(&p, md).map_err(StudyError::io(&p))?;
    results.files.push(p);
    Ok(results)
}

pub(super) fn at_label(study: &Study, at: &[usize], skip: usize) -> String {
    let parts: Vec<String> = study
        .axes
        .iter()
        .enumerate()
        .filter(|(a, _)| *a != skip)
        .map(|(a, axis)| format!("{} = {}", axis.name, axis.levels[at[a]].label))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

fn contrasts_frame(study: &Study, contrasts: &[Contrast]) -> Result<DataFrame> {
    let axis = |c: &Contrast| study.axes[c.axis].name.clone();
    Ok(DataFrame::new_infer_height(vec![
        Column::new(
            "axis".into(),
            contrasts.iter().map(axis).collect::<Vec<_>>(),
        ),
        Column::new(
            "level".into(),
            contrasts
                .iter()
                .map(|c| study.axes[c.axis].levels[c.level].label.clone())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "reference".into(),
            contrasts
                .iter()
                .map(|c| study.axes[c.axis].levels[0].label.clone())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "at".into(),
            contrasts
                .iter()
                .map(|c| at_label(study, &c.at, c.axis))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "metric".into(),
            contrasts
                .iter()
                .map(|c| c.metric.clone())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "diff".into(),
            contrasts.iter().map(|c| c.diff).collect::<Vec<_>>(),
        ),
        Column::new(
            "ci_lo".into(),
            contrasts
                .iter()
                .map(|c| c.ci95.map(|x| x[0]))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "ci_hi".into(),
            contrasts
                .iter()
                .map(|c| c.ci95.map(|x| x[1]))
                .collect::<Vec<_>>(),
        ),
    ])?)
}
