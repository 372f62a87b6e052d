//! `rewardlab verify PATH`: checks every file of a run, embedding cache or dataset folder against
//! its `manifest.json`, and a run's checkpoints against their checksums. Exit status: 0 when all
//! is intact, 1 when a file is damaged or missing, 2 when the folder has nothing to check against
//! (no manifest: written before rewardlab kept them, or never completed). `--update` records
//! the folder as it is now, after an edit made on purpose (a renamed dataset in `dataset.toml`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    /// A run, embedding cache or dataset folder written by rewardlab.
    path: PathBuf,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
    /// Record the folder's files as they are now in its manifest (after changing one on
    /// purpose), printing what changed.
    #[arg(long, conflicts_with = "json")]
    update: bool,
}

/// Exit status when the folder has no manifest to check against.
const NOTHING_TO_CHECK: u8 = 2;

pub fn run(args: Args) -> Result<ExitCode> {
    if args.update {
        return update(&args.path);
    }
    let report = integrity::verify_folder(&args.path)
        .with_context(|| format!("verifying {}", args.path.display()))?;
    // A run's checkpoints carry their own checksums, so they can be checked mid-run too.
    let checkpoints = args
        .path
        .join(train::checkpoint::CHECKPOINT_DIR)
        .is_dir()
        .then(|| train::checkpoint::newest_intact_checkpoint(&args.path));
    let damaged_checkpoints = checkpoints.as_ref().map_or(0, |c| c.damaged.len());
    let code = if !report.problems.is_empty() || damaged_checkpoints > 0 {
        ExitCode::FAILURE
    } else if report.manifest.is_none() {
        ExitCode::from(NOTHING_TO_CHECK)
    } else {
        ExitCode::SUCCESS
    };
    if args.json {
        let value = json!({
            "path": args.path,
            "kind": report.manifest.as_ref().map(|m| m.kind.clone()),
            "intact": report.intact,
            "problems": report.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "unlisted": report.unlisted,
            "newest_intact_checkpoint": checkpoints.as_ref().and_then(|c| c.epoch),
            "damaged_checkpoints": checkpoints.as_ref().map(|c| {
                c.damaged.iter().map(|d| json!({"epoch": d.epoch, "reason": d.reason})).collect::<Vec<_>>()
            }),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(code);
    }
    let shown = args.path.display();
    match &report.manifest {
        None => println!(
            "{shown}: no {} (written before rewardlab kept manifests, or never completed): \
             nothing to check its files against",
            integrity::MANIFEST_FILE
        ),
        Some(m) => {
            for p in &report.problems {
                println!("damaged: {p}");
            }
            println!(
                "{shown}: {} folder, {} of {} files intact",
                m.kind,
                report.intact.len(),
                m.files.len()
            );
            if !report.unlisted.is_empty() {
                println!(
                    "not in the manifest (added later, not vouched for): {}",
                    report.unlisted.join(", ")
                );
            }
        }
    }
    if let Some(c) = &checkpoints {
        for d in &c.damaged {
            println!("damaged checkpoint, epoch {}: {}", d.epoch, d.reason);
        }
        match c.epoch {
            Some(e) => println!("checkpoints: `--resume` starts from epoch {e}"),
            None => println!("checkpoints: none intact"),
        }
    }
    Ok(code)
}

/// Rewrites the manifest of `path` from its files as they are now, under the folder's lock.
fn update(path: &std::path::Path) -> Result<ExitCode> {
    let old = integrity::Manifest::read(path)?.with_context(|| {
        format!(
            "{} has no {} to update (only a folder rewardlab completed has one)",
            path.display(),
            integrity::MANIFEST_FILE
        )
    })?;
    let _lock = integrity::FolderLock::acquire(path, "rewardlab verify --update")?;
    let new = integrity::Manifest::of_folder(path, &old.kind)?;
    let mut changes = 0;
    for (file, entry) in &new.files {
        match old.files.get(file) {
            None => println!("added: {file}"),
            Some(e) if e != entry => println!("changed: {file}"),
            Some(_) => continue,
        }
        changes += 1;
    }
    for file in old.files.keys().filter(|f| !new.files.contains_key(*f)) {
        println!("removed: {file}");
        changes += 1;
    }
    new.write(path)?;
    println!(
        "{}: manifest updated ({changes} change(s), {} files)",
        path.display(),
        new.files.len()
    );
    Ok(ExitCode::SUCCESS)
}
