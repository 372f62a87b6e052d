//! Checkpoints that cannot lie. burn-train's own checkpointer writes each epoch's model,
//! optimiser and scheduler state in place, and its resume `expect`s them to load: a checkpoint
//! cut short by a crash or a full disk panicked the resume although the epoch before was intact.
//! This one writes each file under a temporary name and renames it whole, with a `.sha256` beside
//! it (in `sha256sum`'s format, so `sha256sum -c` checks it too), and the resume starts from the
//! newest epoch whose three files are intact, naming the ones it passes over.

use std::path::{Path, PathBuf};

use burn::optim::OptimizerRecord;
use burn::optim::lr_scheduler::LrSchedulerRecord;
use burn::store::ModuleRecord;
use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError};
use integrity::{FileEntry, sha256_file, write_atomic};

/// The folder of checkpoints inside a run folder (burn-train's name for it).
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The three records of one epoch, as file name prefixes.
const PARTS: [&str; 3] = ["model", "optim", "scheduler"];
/// What a damaged checkpoint file is renamed to end with, kept for inspection.
const DAMAGED_SUFFIX: &str = ".damaged";

fn part_path(dir: &Path, part: &str, epoch: usize) -> PathBuf {
    dir.join(format!("{part}-{epoch}.bpk"))
}

fn sidecar(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// One of an epoch's three records, written atomically with its checksum.
pub(crate) struct VerifiedCheckpointer {
    directory: PathBuf,
    part: &'static str,
}

impl VerifiedCheckpointer {
    /// The checkpointer of `part` (`model`, `optim`, `scheduler`) in `run_dir/checkpoint`.
    pub(crate) fn new(run_dir: &Path, part: &'static str) -> Self {
        Self {
            directory: run_dir.join(CHECKPOINT_DIR),
            part,
        }
    }
}

fn io_error(e: integrity::IntegrityError) -> CheckpointerError {
    CheckpointerError::Unknown(e.to_string())
}

impl<R: Checkpoint> Checkpointer<R> for VerifiedCheckpointer {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        std::fs::create_dir_all(&self.directory).map_err(CheckpointerError::IOError)?;
        let bytes = record
            .checkpoint_into_bytes()
            .map_err(CheckpointerError::Record)?;
        let path = part_path(&self.directory, self.part, epoch);
        write_atomic(&path, &bytes).map_err(io_error)?;
        let entry = FileEntry::of_bytes(&bytes);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let line = format!("{}  {name}\n", entry.sha256);
        write_atomic(&sidecar(&path), line.as_bytes()).map_err(io_error)
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        let path = part_path(&self.directory, self.part, epoch);
        check_part(&path, self.part).map_err(CheckpointerError::Unknown)?;
        R::load(path)
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        let path = part_path(&self.directory, self.part, epoch);
        for p in [sidecar(&path), path] {
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(CheckpointerError::IOError(e));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Whether a checkpoint file is intact: its checksum matches, or, for a checkpoint written before
/// checksums were kept, burn can decode it. The error says what is wrong.
fn check_part(path: &Path, part: &str) -> Result<(), String> {
    if !path.exists() {
        return Err(format!("{} is missing", path.display()));
    }
    let sum = sidecar(path);
    match std::fs::read_to_string(&sum) {
        Ok(text) => {
            let expected = text.split_whitespace().next().unwrap_or_default();
            let found = sha256_file(path).map_err(|e| e.to_string())?;
            if found.sha256 == expected {
                Ok(())
            } else {
                Err(format!(
                    "{} does not match its checksum in {} ({} bytes; damaged or cut short)",
                    path.display(),
                    sum.display(),
                    found.bytes
                ))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let decoded = match part {
                "model" => <ModuleRecord as Checkpoint>::load(path.to_path_buf()).map(drop),
                "optim" => <OptimizerRecord as Checkpoint>::load(path.to_path_buf()).map(drop),
                _ => <LrSchedulerRecord as Checkpoint>::load(path.to_path_buf()).map(drop),
            };
            decoded.map_err(|e| format!("{} cannot be read: {e}", path.display()))
        }
        Err(e) => Err(format!("{}: {e}", sum.display())),
    }
}

/// A checkpoint the resume passed over, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedCheckpoint {
    pub epoch: usize,
    pub reason: String,
}

/// The checkpoints of a run folder, as the resume sees them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointChoice {
    /// The newest epoch whose model, optimiser and scheduler files are all intact.
    pub epoch: Option<usize>,
    /// Newer epochs that are not, newest first.
    pub damaged: Vec<DamagedCheckpoint>,
}

/// Epochs with at least one checkpoint file, newest first.
fn epochs_on_disk(dir: &Path) -> Vec<usize> {
    let mut epochs: Vec<usize> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".bpk")?;
            let (part, epoch) = stem.rsplit_once('-')?;
            PARTS.contains(&part).then_some(())?;
            epoch.parse().ok()
        })
        .collect();
    epochs.sort_unstable_by(|a, b| b.cmp(a));
    epochs.dedup();
    epochs
}

/// The newest intact checkpoint of `run_dir`, and the damaged ones newer than it.
pub fn newest_intact_checkpoint(run_dir: &Path) -> CheckpointChoice {
    let dir = run_dir.join(CHECKPOINT_DIR);
    let mut choice = CheckpointChoice::default();
    for epoch in epochs_on_disk(&dir) {
        let problems: Vec<String> = PARTS
            .iter()
            .filter_map(|part| check_part(&part_path(&dir, part, epoch), part).err())
            .collect();
        if problems.is_empty() {
            choice.epoch = Some(epoch);
            break;
        }
        choice.damaged.push(DamagedCheckpoint {
            epoch,
            reason: problems.join("; "),
        });
    }
    choice
}

/// Renames the files of damaged checkpoints to end in `.damaged`, so that no later resume or
/// reader takes them and they stay for inspection.
pub(crate) fn set_aside(run_dir: &Path, damaged: &[DamagedCheckpoint]) -> std::io::Result<()> {
    let dir = run_dir.join(CHECKPOINT_DIR);
    for d in damaged {
        for part in PARTS {
            let path = part_path(&dir, part, d.epoch);
            for p in [sidecar(&path), path] {
                if p.exists() {
                    let mut to = p.as_os_str().to_owned();
                    to.push(DAMAGED_SUFFIX);
                    std::fs::rename(&p, PathBuf::from(to))?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("train-checkpoint-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join(CHECKPOINT_DIR)).unwrap();
        d
    }

    /// Writes an epoch's three files as the checkpointer does, from a stand-in record.
    fn save_epoch(run: &Path, epoch: usize) {
        for part in PARTS {
            let c = VerifiedCheckpointer::new(run, part);
            Checkpointer::<()>::save(&c, epoch, ()).unwrap();
        }
    }

    #[test]
    fn the_newest_complete_epoch_is_chosen() {
        let run = run_dir("newest");
        save_epoch(&run, 1);
        save_epoch(&run, 2);
        assert_eq!(
            newest_intact_checkpoint(&run),
            CheckpointChoice {
                epoch: Some(2),
                damaged: vec![]
            }
        );
        let sum = std::fs::read_to_string(run.join("checkpoint/model-2.bpk.sha256")).unwrap();
        assert!(sum.ends_with("  model-2.bpk\n"), "{sum}");
    }

    #[test]
    fn a_cut_short_missing_or_flipped_file_sends_the_resume_one_epoch_back() {
        let run = run_dir("damaged");
        save_epoch(&run, 1);
        save_epoch(&run, 2);
        let cp = run.join(CHECKPOINT_DIR);
        std::fs::write(cp.join("optim-2.bpk"), b"").unwrap();
        let choice = newest_intact_checkpoint(&run);
        assert_eq!(choice.epoch, Some(1));
        assert_eq!(choice.damaged.len(), 1);
        assert!(
            choice.damaged[0]
                .reason
                .contains("optim-2.bpk does not match"),
            "{choice:?}"
        );

        save_epoch(&run, 3);
        std::fs::remove_file(cp.join("scheduler-3.bpk")).unwrap();
        let choice = newest_intact_checkpoint(&run);
        assert_eq!(choice.epoch, Some(1));
        assert!(
            choice.damaged[0]
                .reason
                .contains("scheduler-3.bpk is missing")
        );

        set_aside(&run, &choice.damaged).unwrap();
        assert!(cp.join("optim-2.bpk.damaged").exists());
        assert_eq!(newest_intact_checkpoint(&run).damaged, vec![]);
        // restore refuses a damaged file instead of handing burn something to panic on.
        save_epoch(&run, 4);
        let mut bytes = std::fs::read(cp.join("model-4.bpk")).unwrap();
        bytes[0] ^= 1;
        std::fs::write(cp.join("model-4.bpk"), bytes).unwrap();
        let c = VerifiedCheckpointer::new(&run, "model");
        let e = Checkpointer::<()>::restore(&c, 4).unwrap_err().to_string();
        assert!(e.contains("model-4.bpk does not match"), "{e}");
    }

    #[test]
    fn a_checkpoint_without_checksum_is_checked_by_decoding_it() {
        let run = run_dir("legacy");
        let cp = run.join(CHECKPOINT_DIR);
        for part in PARTS {
            std::fs::write(cp.join(format!("{part}-1.bpk")), b"not a burnpack").unwrap();
        }
        let choice = newest_intact_checkpoint(&run);
        assert_eq!(choice.epoch, None);
        assert!(
            choice.damaged[0]
                .reason
                .contains("model-1.bpk cannot be read"),
            "{choice:?}"
        );
    }

    #[test]
    fn delete_removes_the_file_and_its_checksum() {
        let run = run_dir("delete");
        save_epoch(&run, 1);
        let c = VerifiedCheckpointer::new(&run, "model");
        Checkpointer::<()>::delete(&c, 1).unwrap();
        assert!(!run.join("checkpoint/model-1.bpk").exists());
        assert!(!run.join("checkpoint/model-1.bpk.sha256").exists());
    }
}
