//! Writes that land whole or not at all.
//!
//! A file is written to a hidden temporary name beside its destination, flushed to disk and
//! renamed over it: a rename within a folder is atomic, so a crash or a full disk leaves the old
//! file or the new one, never half of one. A folder is built the same way ([`StagedFolder`]):
//! beside its destination, moved in when complete, and only then is the folder it replaces
//! removed.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{IntegrityError, Result};

/// What every temporary name holds, so that listings and manifests can skip them.
const TEMPORARY_MARK: &str = ".rewardlab-tmp-";

/// Whether `name` is a temporary file or staging folder of this module.
pub(crate) fn is_temporary(name: &str) -> bool {
    name.contains(TEMPORARY_MARK)
}

/// A hidden name beside `path`, unique within this process and across processes, that
/// manifests and emptiness checks skip ([`crate::is_bookkeeping`]).
pub fn temporary_beside(path: &Path, role: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(
        ".{name}{TEMPORARY_MARK}{role}{}-{n}",
        std::process::id()
    ))
}

/// Flushes a folder's entry list, so that a rename inside it survives a power cut. Best effort:
/// not every file system can open a folder for this.
fn sync_folder(folder: &Path) {
    if let Ok(f) = File::open(folder) {
        let _ = f.sync_all();
    }
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A file being written under a temporary name; [`AtomicFile::commit`] moves it to its
/// destination, and dropping it uncommitted removes it.
pub struct AtomicFile {
    destination: PathBuf,
    temporary: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Starts writing `destination`.
    pub fn create(destination: &Path) -> Result<Self> {
        let temporary = temporary_beside(destination, "");
        let file = File::create(&temporary).map_err(IntegrityError::io(destination))?;
        Ok(Self {
            destination: destination.to_path_buf(),
            temporary,
            file: Some(file),
        })
    }

    /// The file to write into.
    pub fn file(&mut self) -> &mut File {
        self.file
            .as_mut()
            .expect("an AtomicFile's file is only taken by commit")
    }

    /// Flushes the file to disk and renames it to its destination.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("commit runs once");
        file.sync_all()
            .map_err(IntegrityError::io(&self.destination))?;
        drop(file);
        fs::rename(&self.temporary, &self.destination)
            .map_err(IntegrityError::io(&self.destination))?;
        sync_folder(parent_of(&self.destination));
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.temporary);
        }
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.file()
        .write_all(bytes)
        .map_err(IntegrityError::io(path))?;
    f.commit()
}

/// Writes `path` atomically with `write`, which may fail with its own error type; the temporary
/// file is removed when it does.
pub fn write_atomic_with<E>(
    path: &Path,
    write: impl FnOnce(&mut File) -> std::result::Result<(), E>,
) -> std::result::Result<(), E>
where
    E: From<IntegrityError>,
{
    let mut f = AtomicFile::create(path)?;
    write(f.file())?;
    Ok(f.commit()?)
}

/// Writes `path` through `write`, for writers that take a path rather than a file: `write` is
/// given a temporary path beside `path` to create, which is renamed over `path` when it succeeds
/// and removed when it fails.
pub fn write_atomic_via<E>(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E>
where
    E: From<IntegrityError>,
{
    let temporary = temporary_beside(path, "");
    if let Err(e) = write(&temporary) {
        let _ = fs::remove_file(&temporary);
        return Err(e);
    }
    let finish = || -> std::io::Result<()> {
        File::open(&temporary)?.sync_all()?;
        fs::rename(&temporary, path)
    };
    if let Err(e) = finish() {
        let _ = fs::remove_file(&temporary);
        return Err(IntegrityError::io(path)(e).into());
    }
    sync_folder(parent_of(path));
    Ok(())
}

/// Removes the temporary files a killed writer left in `dir` (not folders: a run replaced with
/// `--force` waits in one until its successor completes). Only for a writer holding the folder's
/// lock, under which no other writer can be mid-write. Returns how many it removed.
pub fn remove_stale_temporary_files(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(0);
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if is_temporary(&name) && e.file_type().is_ok_and(|t| t.is_file()) {
            fs::remove_file(e.path()).map_err(IntegrityError::io(e.path()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Whether `path` is a folder with anything in it (or a file: not a place to build a folder).
fn occupied(path: &Path) -> bool {
    match fs::read_dir(path) {
        Ok(mut entries) => entries.next().is_some(),
        Err(_) => path.exists(),
    }
}

/// A folder built beside its destination and moved there by [`StagedFolder::commit`] when
/// complete. Until then the destination is untouched: an interrupted build leaves no folder
/// there, and a folder being replaced (`--force`) is removed only after the new one is in place.
/// Dropped uncommitted, the staging folder is removed.
pub struct StagedFolder {
    destination: PathBuf,
    staging: PathBuf,
    replace: bool,
    committed: bool,
}

/// What a folder to be replaced holds beyond `owned` names (and this crate's bookkeeping).
fn foreign_entries(dir: &Path, owned: &[&str]) -> Vec<String> {
    let mut foreign: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !owned.contains(&n.as_str()) && !crate::is_bookkeeping(n))
        .collect();
    foreign.sort();
    foreign
}

impl StagedFolder {
    /// Starts building `destination`, which must be absent or empty.
    pub fn new(destination: &Path) -> Result<Self> {
        Self::start(destination, None)
    }

    /// Starts building `destination`, replacing a folder that holds nothing but `owned` names
    /// (what the caller writes there): a folder with anything else in it is refused, so that a
    /// mistyped `--out` never deletes a folder of the user's.
    pub fn replacing(destination: &Path, owned: &[&str]) -> Result<Self> {
        Self::start(destination, Some(owned))
    }

    /// [`new`](Self::new) or, when `force`, [`replacing`](Self::replacing).
    pub fn with_force(destination: &Path, force: bool, owned: &[&str]) -> Result<Self> {
        Self::start(destination, force.then_some(owned))
    }

    fn start(destination: &Path, owned: Option<&[&str]>) -> Result<Self> {
        if occupied(destination) {
            let Some(owned) = owned else {
                return Err(IntegrityError::NotEmpty {
                    path: destination.to_path_buf(),
                });
            };
            let foreign = foreign_entries(destination, owned);
            if !foreign.is_empty() || !destination.is_dir() {
                return Err(IntegrityError::Foreign {
                    path: destination.to_path_buf(),
                    names: foreign.join(", "),
                });
            }
        }
        let replace = owned.is_some();
        let parent = parent_of(destination);
        fs::create_dir_all(parent).map_err(IntegrityError::io(parent))?;
        let staging = temporary_beside(destination, "staging-");
        fs::create_dir(&staging).map_err(IntegrityError::io(&staging))?;
        Ok(Self {
            destination: destination.to_path_buf(),
            staging,
            replace,
            committed: false,
        })
    }

    /// Where to write the folder's contents.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The folder's final place.
    pub fn destination(&self) -> &Path {
        &self.destination
    }

    /// Moves the staged folder to its destination, then removes what it replaced.
    pub fn commit(mut self) -> Result<PathBuf> {
        let old = if occupied(&self.destination) {
            if !self.replace {
                // Something appeared there while this folder was being built.
                return Err(IntegrityError::NotEmpty {
                    path: self.destination.clone(),
                });
            }
            let old = temporary_beside(&self.destination, "replaced-");
            fs::rename(&self.destination, &old).map_err(IntegrityError::io(&self.destination))?;
            Some(old)
        } else {
            if self.destination.is_dir() {
                fs::remove_dir(&self.destination).map_err(IntegrityError::io(&self.destination))?;
            }
            None
        };
        if let Err(e) = fs::rename(&self.staging, &self.destination) {
            if let Some(old) = &old {
                // Put the old folder back rather than leave nothing.
                let _ = fs::rename(old, &self.destination);
            }
            return Err(IntegrityError::io(&self.destination)(e));
        }
        self.committed = true;
        sync_folder(parent_of(&self.destination));
        if let Some(old) = old {
            fs::remove_dir_all(&old).map_err(IntegrityError::io(&old))?;
        }
        Ok(self.destination.clone())
    }
}

impl Drop for StagedFolder {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("integrity-atomic-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_is_left() {
        let d = tmp("file");
        let p = d.join("a.json");
        write_atomic(&p, b"old").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(names(&d), vec!["a.json"]);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let d = tmp("failed");
        let p = d.join("a.csv");
        write_atomic(&p, b"old").unwrap();
        let r: std::result::Result<(), IntegrityError> = write_atomic_with(&p, |f| {
            f.write_all(b"half of it").unwrap();
            Err(IntegrityError::io(&p)(std::io::Error::other("disk full")))
        });
        assert!(r.unwrap_err().to_string().contains("disk full"));
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(names(&d), vec!["a.csv"]);
    }

    #[test]
    fn a_path_writer_lands_whole_or_not_at_all() {
        let d = tmp("via");
        let p = d.join("model.safetensors");
        write_atomic_via(&p, |tmp: &Path| -> Result<()> {
            assert_ne!(tmp, p.as_path());
            fs::write(tmp, b"weights").map_err(IntegrityError::io(tmp))
        })
        .unwrap();
        let r = write_atomic_via(&p, |tmp: &Path| -> Result<()> {
            fs::write(tmp, b"half").unwrap();
            Err(IntegrityError::io(tmp)(std::io::Error::other("disk full")))
        });
        assert!(r.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"weights");
        assert_eq!(names(&d), vec!["model.safetensors"]);
    }

    #[test]
    fn stale_temporary_files_are_removed_and_nothing_else() {
        let d = tmp("stale");
        fs::write(d.join("model.safetensors"), b"w").unwrap();
        // What a writer killed mid-write leaves, and a replaced run waiting in its folder.
        fs::write(temporary_beside(&d.join("summary.json"), ""), b"half").unwrap();
        fs::create_dir(temporary_beside(&d.join("replaced"), "")).unwrap();
        assert_eq!(remove_stale_temporary_files(&d).unwrap(), 1);
        assert_eq!(names(&d).len(), 2);
        assert!(d.join("model.safetensors").exists());
    }

    #[test]
    fn a_write_into_a_missing_folder_names_the_file() {
        let d = tmp("missing");
        let p = d.join("no/such/folder/a.txt");
        let e = write_atomic(&p, b"x").unwrap_err().to_string();
        assert!(e.contains("no/such/folder/a.txt"), "{e}");
    }

    #[test]
    fn a_staged_folder_appears_only_when_committed() {
        let d = tmp("staged");
        let dest = d.join("dataset");
        let staged = StagedFolder::new(&dest).unwrap();
        fs::write(staged.path().join("x"), b"1").unwrap();
        assert!(!dest.exists());
        staged.commit().unwrap();
        assert_eq!(fs::read(dest.join("x")).unwrap(), b"1");
        assert_eq!(names(&d), vec!["dataset"]);
    }

    #[test]
    fn an_abandoned_staged_folder_leaves_nothing() {
        let d = tmp("abandoned");
        let dest = d.join("dataset");
        {
            let staged = StagedFolder::new(&dest).unwrap();
            fs::write(staged.path().join("x"), b"1").unwrap();
        }
        assert!(names(&d).is_empty(), "{:?}", names(&d));
    }

    #[test]
    fn replacing_keeps_the_old_folder_until_the_new_one_is_complete() {
        let d = tmp("replace");
        let dest = d.join("dataset");
        fs::create_dir_all(&dest).unwrap();
        fs::write(dest.join("old"), b"o").unwrap();
        let e = StagedFolder::new(&dest).err().unwrap().to_string();
        assert!(e.contains("--force"), "{e}");
        {
            let staged = StagedFolder::replacing(&dest, &["old", "new"]).unwrap();
            fs::write(staged.path().join("new"), b"n").unwrap();
            // Abandoned: the old folder is still whole.
        }
        assert_eq!(names(&dest), vec!["old"]);
        let staged = StagedFolder::with_force(&dest, true, &["old", "new"]).unwrap();
        fs::write(staged.path().join("new"), b"n").unwrap();
        staged.commit().unwrap();
        assert_eq!(names(&dest), vec!["new"]);
        assert_eq!(names(&d), vec!["dataset"]);
    }

    #[test]
    fn a_folder_holding_files_of_the_users_is_never_replaced() {
        let d = tmp("foreign");
        let dest = d.join("results");
        fs::create_dir_all(&dest).unwrap();
        fs::write(dest.join("dataset.toml"), b"x").unwrap();
        fs::write(dest.join("thesis.tex"), b"mine").unwrap();
        let e = StagedFolder::replacing(&dest, &["dataset.toml"])
            .err()
            .unwrap();
        assert!(matches!(e, IntegrityError::Foreign { .. }));
        assert!(e.to_string().contains("thesis.tex"), "{e}");
        assert_eq!(names(&dest), vec!["dataset.toml", "thesis.tex"]);
        assert_eq!(names(&d), vec!["results"]);
    }

    #[test]
    fn an_empty_destination_folder_is_taken_without_force() {
        let d = tmp("empty");
        let dest = d.join("dataset");
        fs::create_dir_all(&dest).unwrap();
        let staged = StagedFolder::new(&dest).unwrap();
        fs::write(staged.path().join("x"), b"1").unwrap();
        staged.commit().unwrap();
        assert_eq!(names(&dest), vec!["x"]);
    }
}
