//! One writer per output folder.
//!
//! A writer takes the operating system's exclusive lock (`flock`) on `.rewardlab.lock` inside the
//! folder and keeps it until it ends. The lock belongs to the open file, so the kernel releases it
//! when the process exits, however it exits: a folder left by a killed writer is free again at
//! once, and the pid the killed writer wrote in the file tells the next one what it reclaimed.
//! The file stays in place (deleting it would let two writers lock two different files).
//!
//! Within one process the lock is re-entrant: an ablation cell holds its folder's lock and the
//! training run inside it takes it again. Only the outermost holder releases it.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{IntegrityError, Result};

/// The lock file's name inside the folder it guards.
pub const LOCK_FILE: &str = ".rewardlab.lock";

/// Who holds (or held) a folder's lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// What it is doing, as the caller described it (`rewardlab train`).
    pub command: String,
    /// When it took the lock, in seconds since 1970.
    pub since: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {}, `{}`, started {} s ago",
            self.pid,
            self.command,
            now().saturating_sub(self.since)
        )
    }
}

/// The folders this process holds, with how many [`FolderLock`]s of each are alive.
static HELD: Mutex<Option<HashMap<PathBuf, usize>>> = Mutex::new(None);

fn held<T>(f: impl FnOnce(&mut HashMap<PathBuf, usize>) -> T) -> T {
    let mut guard = HELD.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(HashMap::new))
}

/// An exclusive lock on a folder, released when dropped or when the process ends.
#[derive(Debug)]
pub struct FolderLock {
    /// The locked file; `None` for a nested lock of a folder this process already holds.
    file: Option<File>,
    /// The folder, canonical, as [`HELD`] knows it.
    key: PathBuf,
    folder: PathBuf,
    /// The holder recorded by a writer that ended without releasing the lock (killed), whose
    /// lock this one reclaimed.
    pub reclaimed: Option<Holder>,
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

impl FolderLock {
    /// Locks `folder` (creating it) for `command`, or says which process holds it.
    pub fn acquire(folder: &Path, command: &str) -> Result<Self> {
        std::fs::create_dir_all(folder).map_err(IntegrityError::io(folder))?;
        let key = folder.canonicalize().map_err(IntegrityError::io(folder))?;
        let nested = held(|h| {
            h.get_mut(&key).map(|n| {
                *n += 1;
            })
        });
        if nested.is_some() {
            return Ok(Self {
                file: None,
                key,
                folder: folder.to_path_buf(),
                reclaimed: None,
            });
        }
        let path = folder.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(IntegrityError::io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = read_holder(&mut file).map_or_else(
                    || "a process that has not yet written its pid".to_string(),
                    |h| h.to_string(),
                );
                return Err(IntegrityError::Locked {
                    folder: folder.to_path_buf(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(IntegrityError::io(&path)(e)),
        }
        let reclaimed = read_holder(&mut file);
        let me = Holder {
            pid: std::process::id(),
            command: command.to_string(),
            since: now(),
        };
        let text = serde_json::to_string(&me).expect("a holder serialises");
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(text.as_bytes())?;
            file.sync_all()
        };
        write(&mut file).map_err(IntegrityError::io(&path))?;
        held(|h| h.insert(key.clone(), 1));
        Ok(Self {
            file: Some(file),
            key,
            folder: folder.to_path_buf(),
            reclaimed,
        })
    }

    /// The folder this lock guards.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The note to print when this lock was taken over from a killed writer.
    pub fn reclaimed_note(&self) -> Option<String> {
        self.reclaimed.as_ref().map(|h| {
            format!(
                "note: {} was locked by process {} (`{}`), which ended without releasing it; \
                 the lock is reclaimed",
                self.folder.display(),
                h.pid,
                h.command
            )
        })
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        held(|h| {
            if let Some(n) = h.get_mut(&self.key) {
                *n -= 1;
                if *n == 0 {
                    h.remove(&self.key);
                }
            }
        });
        // An empty file says the last writer ended cleanly; the lock goes with the file handle.
        if let Some(file) = &self.file {
            let _ = file.set_len(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("integrity-lock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// Holds `folder`'s lock from another process (util-linux's `flock`, which takes the same
    /// kind of lock) until the returned child is killed; `None` where `flock` is not installed.
    /// `--no-fork`, because a forked `sleep` would inherit the lock and keep it after `flock`
    /// itself is killed.
    fn hold_elsewhere(folder: &Path) -> Option<std::process::Child> {
        std::fs::create_dir_all(folder).unwrap();
        let path = folder.join(LOCK_FILE);
        let child = std::process::Command::new("flock")
            .args(["--no-fork", "--exclusive"])
            .arg(&path)
            .args(["sleep", "30"])
            .spawn()
            .ok()?;
        // Wait until the child holds it.
        let probe = OpenOptions::new().read(true).write(true).open(&path).ok()?;
        for _ in 0..500 {
            if let Err(TryLockError::WouldBlock) = probe.try_lock() {
                return Some(child);
            }
            let _ = probe.unlock();
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        None
    }

    #[test]
    fn a_second_process_is_refused_until_the_first_ends() {
        let d = tmp("second");
        let Some(mut other) = hold_elsewhere(&d) else {
            println!("skipped: util-linux's flock is not installed");
            return;
        };
        // What the other process wrote, as a rewardlab writer does after locking.
        let holder = Holder {
            pid: other.id(),
            command: "rewardlab train".into(),
            since: now(),
        };
        std::fs::write(d.join(LOCK_FILE), serde_json::to_string(&holder).unwrap()).unwrap();
        let e = FolderLock::acquire(&d, "rewardlab train --resume").unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, IntegrityError::Locked { .. }), "{text}");
        assert!(
            text.contains(&format!("pid {}", other.id())) && text.contains("`rewardlab train`"),
            "{text}"
        );
        // Killed, the other process's lock goes with it, and is reclaimed.
        other.kill().unwrap();
        other.wait().unwrap();
        let lock = FolderLock::acquire(&d, "rewardlab train --resume").unwrap();
        assert_eq!(lock.reclaimed.as_ref(), Some(&holder));
        assert!(
            lock.reclaimed_note()
                .unwrap()
                .contains("ended without releasing it")
        );
    }

    #[test]
    fn one_process_may_nest_locks_and_the_outermost_releases() {
        let d = tmp("nested");
        let outer = FolderLock::acquire(&d, "rewardlab ablate").unwrap();
        let inner = FolderLock::acquire(&d, "rewardlab train").unwrap();
        drop(inner);
        // Still held: the file keeps the outer holder's record.
        let text = std::fs::read_to_string(d.join(LOCK_FILE)).unwrap();
        assert!(text.contains("rewardlab ablate"), "{text}");
        drop(outer);
        assert_eq!(std::fs::read_to_string(d.join(LOCK_FILE)).unwrap(), "");
        let again = FolderLock::acquire(&d, "rewardlab train").unwrap();
        assert!(
            again.reclaimed.is_none(),
            "a clean release is not a reclaim"
        );
    }

    #[test]
    fn the_lock_of_a_killed_writer_is_reclaimed_and_named() {
        let d = tmp("killed");
        std::fs::create_dir_all(&d).unwrap();
        // What a writer killed with SIGKILL leaves: its record in the file, and no lock, since
        // the kernel drops a lock with the process's last open of the file.
        let dead = Holder {
            pid: 4_000_000,
            command: "rewardlab embed".into(),
            since: 1,
        };
        std::fs::write(d.join(LOCK_FILE), serde_json::to_string(&dead).unwrap()).unwrap();
        let lock = FolderLock::acquire(&d, "rewardlab embed").unwrap();
        assert_eq!(lock.reclaimed.as_ref(), Some(&dead));
        assert!(lock.reclaimed_note().unwrap().contains("process 4000000"));
    }
}
