//! One module per subcommand.

pub mod ablate;
pub mod analyze;
pub mod bench;
pub mod embed;
pub mod eval;
pub mod import;
pub mod rank;
mod run_setup;
pub mod score;
mod scorer_args;
pub mod synth;
pub mod train;
pub mod validate;
pub mod verify;

use std::path::Path;

use anyhow::{Result, bail};

/// Refuses to write into a folder that already holds files, unless the user said `--force`:
/// nothing the user wrote is overwritten without asking.
pub fn ensure_writable(dir: &Path, force: bool) -> Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            bail!("{} exists and is not a folder", dir.display());
        }
        let non_empty = std::fs::read_dir(dir)?.next().is_some();
        if non_empty && !force {
            bail!(
                "{} already exists and is not empty; choose another folder or pass --force to overwrite",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Reads a canonical dataset folder, its tables checked against the folder's manifest; a folder
/// without one is read with a printed note.
pub fn read_dataset(dir: &Path) -> Result<annotations::Dataset> {
    use anyhow::Context;
    let (ds, verified) = tables::read_dataset_checked(dir)
        .with_context(|| format!("reading the dataset {}", dir.display()))?;
    if let Some(note) = verified.note() {
        eprintln!("{note}");
    }
    Ok(ds)
}
