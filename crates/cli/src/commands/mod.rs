//! One module per subcommand.

pub mod ablate;
pub mod analyze;
pub mod audit;
pub mod bench;
pub mod embed;
pub mod eval;
pub mod eval_matrix;
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
/// An error and its causes, as `{:#}` prints them but without a cause that the message before
/// it already quotes: most library errors print their source in their own message (so that they
/// read whole on their own) and also expose it as their source, which printed the same text
/// twice ("ratings.csv: no data: empty CSV: no data: empty CSV").
pub fn report(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

/// Refuses an output folder that holds other files than `own` (what the command itself writes
/// there, so that rerunning it into its own folder reuses what it kept), unless `force`.
pub fn check_own_folder(out: &Path, force: bool, own: &[&str], what: &str) -> Result<()> {
    if !out.exists() || force {
        return Ok(());
    }
    if !out.is_dir() {
        bail!("{} exists and is not a folder", out.display());
    }
    for entry in std::fs::read_dir(out)? {
        let name = entry?.file_name();
        if !own.iter().any(|o| name == *o) {
            bail!(
                "{} holds {}, which {what} does not; choose another --out or pass --force",
                out.display(),
                Path::new(&name).display()
            );
        }
    }
    Ok(())
}

/// The prompt split a run was trained with (its `config.toml`'s), so that `test` means its
/// held-out prompts.
pub fn run_split(run: &Path) -> Result<annotations::splits::SplitSpec> {
    use anyhow::Context;
    Ok(::train::run_config(run)
        .with_context(|| format!("reading the run's config in {}", run.display()))?
        .data
        .split)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_quoted_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, "no data: empty CSV");
        let wrapped = anyhow::Error::new(io).context("ratings.csv: no data: empty CSV");
        let e = wrapped.context("reading ratings.csv");
        assert_eq!(
            report(&e),
            "reading ratings.csv: ratings.csv: no data: empty CSV"
        );
        let e = anyhow::anyhow!("disk full").context("writing out/summary.json");
        assert_eq!(report(&e), "writing out/summary.json: disk full");
    }
}
