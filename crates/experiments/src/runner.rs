//! Running a whole study: every cell in turn (finished ones skipped), one progress line per
//! cell, then the aggregation of every finished cell.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use crate::aggregate::{Finished, Results, aggregate};
use scoring::Device;

use crate::cell::{CellStatus, SCORES_FILE, read_record, read_scores, run_cell, test_data};
use crate::error::{Result, StudyError};
use crate::figures::cell_figures;
use crate::study::Study;
use crate::world::Datasets;

/// Where the cells live inside a study's output folder.
pub const CELLS_DIR: &str = "cells";

/// How to run a study.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The study's output folder (cells under `cells/`, results at the top).
    pub out: PathBuf,
    /// Train every cell on this canonical dataset instead of the cells' synthetic worlds.
    pub dataset: Option<PathBuf>,
    /// Where synthetic worlds are cached ([`paths::cache_dir`]).
    pub cache: PathBuf,
    /// Print one line per cell.
    pub print: bool,
    /// Train nothing: aggregate the cells finished so far.
    pub aggregate_only: bool,
}

/// What a study run did.
#[derive(Debug)]
pub struct StudyReport {
    pub results: Results,
    /// Each cell's status in this run (`None`: not finished and not run, with `aggregate_only`).
    pub statuses: Vec<(String, Option<CellStatus>)>,
    pub wall_seconds: f64,
}

fn minutes(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.1} min", s / 60.0)
    }
}

/// Runs (or resumes) every cell of `study`, scoring on `device`, then aggregates the finished ones into `opts.out`.
pub fn run_study(study: &Study, opts: &RunOptions, device: &Device) -> Result<StudyReport> {
    let t0 = Instant::now();
    let cells_dir = opts.out.join(CELLS_DIR);
    std::fs::create_dir_all(&cells_dir).map_err(StudyError::io(&cells_dir))?;
    let copy = opts.out.join("study.toml");
    if study.path.exists()
        && std::fs::canonicalize(&study.path).ok() != std::fs::canonicalize(&copy).ok()
    {
        std::fs::copy(&study.path, &copy).map_err(StudyError::io(&copy))?;
    }
    let mut datasets = Datasets::new(opts.dataset.clone(), opts.cache.clone(), opts.print);
    let total = study.cells.len();
    if opts.print {
        println!(
            "study {}: {} cells ({} configurations x {} seeds) -> {}",
            study.name,
            total,
            total / study.seeds.len(),
            study.seeds.len(),
            opts.out.display()
        );
    }
    let mut statuses = Vec::with_capacity(total);
    let mut run_seconds = Vec::new();
    let mut finished = Vec::new();
    for (i, cell) in study.cells.iter().enumerate() {
        let dir = cells_dir.join(&cell.id);
        let loaded = datasets.get(&cell.config)?;
        let tag = format!(
            "[{:>w$}/{total}] {}",
            i + 1,
            cell.id,
            w = total.to_string().len()
        );
        let record = if opts.aggregate_only {
            let r = read_record(&dir)?;
            statuses.push((cell.id.clone(), r.as_ref().map(|_| CellStatus::Skipped)));
            r
        } else {
            if opts.print {
                print!("{tag} ... ");
                let _ = std::io::stdout().flush();
            }
            let t = Instant::now();
            let (record, status) = run_cell(
                cell,
                study.labels(cell),
                &dir,
                loaded,
                study.resamples,
                device,
            )?;
            if status != CellStatus::Skipped {
                run_seconds.push(t.elapsed().as_secs_f64());
            }
            if opts.print {
                let acc = match (record.pairwise_accuracy, record.pairwise_accuracy_ci95) {
                    (Some(v), Some([lo, hi])) => format!("{v:.3} [{lo:.3}, {hi:.3}]"),
                    (Some(v), None) => format!("{v:.3}"),
                    _ => "-".into(),
                };
                let what = match status {
                    CellStatus::Skipped => "finished earlier, skipped".to_string(),
                    CellStatus::Evaluated => {
                        format!("trained earlier; evaluated in {:.1} s", record.eval_seconds)
                    }
                    CellStatus::Trained | CellStatus::Resumed => format!(
                        "{} {} epochs in {:.1} s, evaluated in {:.1} s",
                        if status == CellStatus::Resumed {
                            "resumed,"
                        } else {
                            "trained"
                        },
                        record.epochs,
                        record.train_seconds,
                        record.eval_seconds
                    ),
                };
                let left = total - i - 1;
                let eta = if run_seconds.is_empty() || left == 0 {
                    String::new()
                } else {
                    let mean = run_seconds.iter().sum::<f64>() / run_seconds.len() as f64;
                    format!("; about {} left", minutes(mean * left as f64))
                };
                println!(
                    "{what}; pairwise accuracy {acc}; elapsed {}{eta}",
                    minutes(t0.elapsed().as_secs_f64())
                );
            }
            statuses.push((cell.id.clone(), Some(status)));
            Some(record)
        };
        if let Some(record) = record {
            finished.push((cell.clone(), record));
        }
    }

    // Every finished cell's figures on the same prompt draws.
    let mut draws: HashMap<usize, Vec<Vec<usize>>> = HashMap::new();
    let mut done = Vec::with_capacity(finished.len());
    for (cell, record) in finished {
        let loaded = datasets.get(&cell.config)?;
        let data = test_data(loaded, &cell.config);
        let d = draws.entry(data.prompts.len()).or_insert_with(|| {
            eval::Resamples::draw(data.prompts.len(), study.resamples, 0)
                .draws()
                .to_vec()
        });
        let scores = read_scores(&cells_dir.join(&cell.id).join(SCORES_FILE))?;
        let figures =
            cell_figures(&data, &scores, loaded.truth.as_ref(), d).map_err(|e| match e {
                StudyError::Eval { source, .. } => StudyError::Eval {
                    cell: cell.id.clone(),
                    source,
                },
                other => other,
            })?;
        done.push(Finished {
            cell,
            record,
            figures,
        });
    }
    let results = aggregate(study, &done, &opts.out)?;
    if opts.print {
        println!(
            "aggregated {} of {} cells in {}; wrote {}",
            results.finished,
            results.total,
            minutes(t0.elapsed().as_secs_f64()),
            opts.out.join("results.md").display()
        );
    }
    Ok(StudyReport {
        results,
        statuses,
        wall_seconds: t0.elapsed().as_secs_f64(),
    })
}
