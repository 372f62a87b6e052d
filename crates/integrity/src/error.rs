//! The crate's error type: each names the folder and file it concerns and what to do about it.

use std::path::PathBuf;

/// Errors of the `integrity` crate.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file whose bytes are not those the manifest recorded when rewardlab wrote it.
    #[error(transparent)]
    Mismatch(Box<Damage>),
    /// A file the manifest lists that is not there.
    #[error(
        "{path} is missing: {manifest} lists it; restore it from a copy or rerun the step that \
         wrote it; `rewardlab verify {folder}` lists every damaged file"
    )]
    Missing {
        folder: PathBuf,
        path: PathBuf,
        manifest: PathBuf,
    },
    /// A file rewardlab is about to read that the folder's manifest does not list.
    #[error(
        "{path} is not listed in {manifest}: it was added after rewardlab completed the folder, \
         so it cannot be trusted; remove it or rerun the step that writes it"
    )]
    Unlisted { path: PathBuf, manifest: PathBuf },
    /// A manifest that cannot be parsed.
    #[error(
        "{path}: not a rewardlab manifest ({message}); remove it to load the folder unverified"
    )]
    BadManifest { path: PathBuf, message: String },
    /// Another process holds the folder's lock.
    #[error(
        "{folder} is being written by another rewardlab process ({holder}); wait for it to \
         finish, or write to another folder"
    )]
    Locked { folder: PathBuf, holder: String },
    /// A folder to be replaced that holds files its writer did not put there.
    #[error(
        "{path} holds files rewardlab does not write there ({names}); it replaces only a folder \
         it wrote: move them away or choose another folder"
    )]
    Foreign { path: PathBuf, names: String },
    /// A destination that is not empty, without leave to replace it.
    #[error(
        "{path} exists and is not empty; pass --force to replace it (the old one is kept until the new one is complete)"
    )]
    NotEmpty { path: PathBuf },
}

impl IntegrityError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| IntegrityError::Io { path, source }
    }
}

/// What a damaged file is, against what its manifest recorded.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path} is damaged: its SHA-256 is {found}, not {expected} as {manifest} recorded when \
         rewardlab wrote it ({found_bytes} bytes, {expected_bytes} expected); it changed on disk \
         (a disk fault, a copy cut short, an edit). Restore it from a copy or rerun the step that \
         wrote it; `rewardlab verify {folder}` lists every damaged file, and if you changed it on \
         purpose, `rewardlab verify {folder} --update` records the folder as it is now"
)]
pub struct Damage {
    pub folder: PathBuf,
    pub path: PathBuf,
    pub manifest: PathBuf,
    pub expected: String,
    pub found: String,
    pub expected_bytes: u64,
    pub found_bytes: u64,
}

/// Results of this crate.
pub type Result<T, E = IntegrityError> = std::result::Result<T, E>;
