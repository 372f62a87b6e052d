//! Files that cannot lie, folders that cannot collide.
//!
//! Everything rewardlab writes and later reads back goes through this crate:
//!
//! * [`atomic`]: a file is written under a temporary name, flushed to disk and renamed, so a crash
//!   leaves the old file or the new one, never half of one; a folder is built beside its
//!   destination and moved in when complete ([`StagedFolder`]), so `--force` never deletes the
//!   old folder before the new one exists.
//! * [`manifest`]: `manifest.json` lists each file of a run, cache or dataset folder with its
//!   SHA-256 and size. It is written last, so its presence says the folder is complete, and
//!   loading checks the files it reads against it ([`verify_files`]).
//! * [`lock`]: one writer per output folder ([`FolderLock`]), an advisory lock held by the
//!   operating system for the writer's lifetime, so a killed writer's lock is released with it.

pub mod atomic;
mod error;
pub mod lock;
pub mod manifest;

pub use atomic::{
    AtomicFile, StagedFolder, remove_stale_temporary_files, write_atomic, write_atomic_via,
    write_atomic_with,
};
pub use error::{Damage, IntegrityError, Result};
pub use lock::{FolderLock, Holder, LOCK_FILE};
pub use manifest::{
    FileEntry, FolderReport, MANIFEST_FILE, Manifest, Verified, sha256_file, verify_files,
    verify_folder,
};

/// Whether a file name is one of this crate's own bookkeeping names (the lock, the manifest, a
/// temporary file or a staging folder), which no manifest lists and no emptiness check counts.
pub fn is_bookkeeping(name: &str) -> bool {
    name == LOCK_FILE || name == MANIFEST_FILE || atomic::is_temporary(name)
}
