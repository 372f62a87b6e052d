//! The canonical annotation dataset of rewardlab, and everything that works on it without tensors
//! or data frames: the schema, readers for the field's JSON formats, validation, prompt-level
//! splits and pair expansion.
//!
//! Every source (ImageRewardDB, ImageReward's `test.json`, HPD multi-annotator rankings, TIFA
//! Likert ratings, the synthetic world, generic tables) becomes one [`Dataset`]: a flat list of
//! judgment [`Row`]s, one per (generation, annotator), each with an optional rank tier and optional
//! Likert ratings per [`Criterion`]. Analysis, training and evaluation never branch on the source.
//!
//! ```no_run
//! use annotations::{formats, pairs::expand_pairs};
//! let ds = formats::imagereward_test::read("test.json".as_ref()).unwrap();
//! let index = ds.index();
//! let pairs = expand_pairs(&ds, &index);
//! println!("{} strict pairs", pairs.iter().filter(|p| !p.tie).count());
//! ```
//!
//! This crate deliberately has no polars and no burn in it: model and training code depend on it,
//! and must rebuild fast. Parquet I/O lives in the `tables` crate.

mod criterion;
pub mod error;
pub mod formats;
pub mod pairs;
pub mod schema;
pub mod splits;
pub mod summary;
pub mod validate;

pub use criterion::{Criterion, PerCriterion, UnknownCriterion};
pub use error::AnnotationError;
pub use schema::{Dataset, DatasetMeta, ImagesState, Index, ReadProblem, Row, Scale};
pub use summary::DatasetSummary;
