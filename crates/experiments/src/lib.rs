//! Ablation studies of rewardlab's reward models: what `rewardlab ablate` runs.
//!
//! A study file (`experiments/study-*.toml`) holds a base training config (the schema of
//! `experiments/default.toml`, inline or by reference) and an `[ablation]` table: axes that vary
//! any config key by its dotted path (`model.heads`, `model.likert_loss`, `model.fusion`,
//! `data.train_prompts`, `model.loss_weights.overall`, `optim.lr`, ...), crossed with seeds.
//! Every cell of the grid is a training run ([`train::train`]) evaluated on its held-out test
//! prompts with the `eval` crate; the cells are aggregated with polars into mean, standard
//! deviation and bootstrap intervals over seeds and test prompts, with differences between the
//! levels of each axis, and plotted along each axis.
//!
//! * [`study`]: the study file, its axes and cells, checked before anything trains;
//! * [`world`]: the datasets the cells train on (synthetic worlds generated once into a cache);
//! * [`cell`]: one cell: train (or resume, or skip), score, evaluate, `cell.json`;
//! * [`figures`]: the compared figures on the test prompts and on every bootstrap draw of them;
//! * [`aggregate`]: polars tables, bootstrap intervals, differences, `results.md`;
//! * [`plots`]: a figure along an axis (SVG and PNG);
//! * [`runner`]: the whole study with a progress line per cell.
//!
//! ```no_run
//! let study = experiments::Study::from_file("experiments/study-fusion.toml".as_ref())?;
//! let opts = experiments::RunOptions {
//!     out: study.default_out(),
//!     dataset: None,
//!     cache: paths::cache_dir(),
//!     print: true,
//!     aggregate_only: false,
//! };
//! let report = experiments::run_study(&study, &opts, &scoring::Device::default())?;
//! for g in report.results.groups.iter().filter(|g| g.metric == study.main_metric()) {
//!     println!("{}: {:?} {:?}", g.group, g.mean, g.ci95);
//! }
//! # Ok::<(), experiments::StudyError>(())
//! ```
//!
//! Why a crate of its own rather than a module of `train`: the aggregation uses polars and the
//! plots plotters, and `train` (the burn side) must stay free of both so that model work
//! rebuilds in seconds.

pub mod aggregate;
pub mod cell;
pub mod error;
pub mod figures;
pub mod plots;
pub mod runner;
pub mod study;
pub mod world;

pub use aggregate::{Contrast, Finished, GroupStat, Results};
pub use cell::{CellRecord, CellStatus};
pub use error::{Result, StudyError};
pub use figures::{MAIN_METRIC, metric_names};
pub use runner::{RunOptions, StudyReport, run_study};
pub use study::{Axis, Cell, Level, Study};
