//! Tabular I/O of annotation data with polars: the canonical dataset folder (`dataset.toml` +
//! `annotations.parquet` + `images/`), ImageRewardDB's released tables, and generic CSV / JSONL /
//! JSON / Parquet files whose columns are mapped onto the canonical fields.
//!
//! Kept apart from `annotations` so that the burn side of the workspace never compiles polars.
//!
//! ```no_run
//! let ds = tables::read_dataset("data/world".as_ref()).unwrap();
//! tables::write_dataset(&ds, "copy".as_ref()).unwrap();
//! ```

mod canonical;
mod columns;
mod error;
pub mod import;
mod json_nesting;
mod panics;
mod parquet;
mod pickapic;
mod plain;

pub use canonical::{
    ANNOTATIONS_FILE, DATASET_ENTRIES, DATASET_KIND, META_FILE, QUARANTINE_FILE, copy_images,
    read_dataset, read_dataset_checked, seal_dataset, write_dataset, write_quarantine,
};
pub use columns::FIELDS;
pub use error::TableError;
pub use import::{Mapping, imagerewarddb, read_frame, read_mapped};
pub use panics::quiet_polars_panics;
pub use parquet::read_parquet;
pub use pickapic::pickapic;
pub use plain::{PlainColumn, write_parquet_columns};
