//! Where rewardlab finds what is not in the repository, in one place:
//!
//! * the **shared folder** of real public data and weights (`data/`, `models/`, `fixtures/`), which
//!   sits beside a checkout as `../shared` and is never copied into it: `$REWARDLAB_SHARED`;
//! * the **cache folder** (synthetic worlds, benchmark venvs, random checkpoints):
//!   `$REWARDLAB_CACHE`, else `~/.cache/rewardlab`.
//!
//! Release code knows no path of the tree it was built from: a binary copied to another machine
//! finds the shared folder only through `$REWARDLAB_SHARED`, and [`shared_file`]'s error says to
//! set it. Tests and examples, which always run inside the workspace, fall back to `shared/`
//! beside it ([`shared_or_skip!`], [`test_shared_dir!`]).

use std::fmt;
use std::path::{Path, PathBuf};

/// The variable naming the shared folder.
pub const SHARED_VAR: &str = "REWARDLAB_SHARED";
/// The variable naming the cache folder.
pub const CACHE_VAR: &str = "REWARDLAB_CACHE";

/// The shared folder as the user set it (`$REWARDLAB_SHARED`); `None` when unset or empty.
pub fn shared_dir() -> Option<PathBuf> {
    std::env::var_os(SHARED_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// A file or folder the release code needs from the shared folder, and cannot find.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingShared {
    /// What it is, for the message (`all-MiniLM-L6-v2`, `CLIP's BPE merges`).
    pub what: String,
    /// Where it was looked for; `None` when `$REWARDLAB_SHARED` is unset.
    pub looked_at: Option<PathBuf>,
}

impl fmt::Display for MissingShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.looked_at {
            None => write!(
                f,
                "{} is read from the shared folder, and {SHARED_VAR} is not set: set it to the \
                 folder that holds data/ and models/ (../shared beside a checkout)",
                self.what
            ),
            Some(p) => write!(
                f,
                "{} is not at {} (set {SHARED_VAR} to the folder that holds data/ and models/)",
                self.what,
                p.display()
            ),
        }
    }
}

impl std::error::Error for MissingShared {}

/// `relative` under the shared folder, when `$REWARDLAB_SHARED` is set and it exists there; the
/// error names `what`, where it was looked for, and the variable to set.
pub fn shared_file(relative: &str, what: &str) -> Result<PathBuf, MissingShared> {
    let Some(dir) = shared_dir() else {
        return Err(MissingShared {
            what: what.to_string(),
            looked_at: None,
        });
    };
    let path = dir.join(relative);
    if path.exists() {
        Ok(path)
    } else {
        Err(MissingShared {
            what: what.to_string(),
            looked_at: Some(path),
        })
    }
}

/// The cache folder: `$REWARDLAB_CACHE`, else `~/.cache/rewardlab` (`./.cache/rewardlab` without
/// a home).
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(CACHE_VAR).filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("rewardlab")
}

/// For tests and examples of the crate whose manifest folder is `manifest_dir`
/// (`crates/NAME`): `$REWARDLAB_SHARED`, else `shared/` beside the workspace. Use
/// [`test_shared_dir!`], which passes the caller's manifest folder.
pub fn test_shared_dir_from(manifest_dir: &str) -> PathBuf {
    shared_dir().unwrap_or_else(|| Path::new(manifest_dir).join("../../../shared"))
}

/// For tests: `relative` under the shared folder ([`test_shared_dir_from`]), or `None` with the
/// reason printed when it is absent, so that the test can skip. Use [`shared_or_skip!`].
pub fn shared_or_skip_from(manifest_dir: &str, relative: &str) -> Option<PathBuf> {
    let path = test_shared_dir_from(manifest_dir).join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "skipped: {} is absent (set {SHARED_VAR} to the shared folder)",
            path.display()
        );
        None
    }
}

/// The shared folder for a test of this crate: `$REWARDLAB_SHARED`, else `shared/` beside the
/// workspace.
#[macro_export]
macro_rules! test_shared_dir {
    () => {
        $crate::test_shared_dir_from(env!("CARGO_MANIFEST_DIR"))
    };
}

/// `relative` under the shared folder for a test of this crate, or `None` (the reason printed)
/// when absent.
#[macro_export]
macro_rules! shared_or_skip {
    ($relative:expr) => {
        $crate::shared_or_skip_from(env!("CARGO_MANIFEST_DIR"), $relative)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    // The variables are process-wide: one test changes them, in order.
    #[test]
    fn the_shared_folder_comes_from_the_variable_and_errors_say_to_set_it() {
        let dir = std::env::temp_dir().join(format!("rewardlab-paths-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("models/m")).unwrap();
        // SAFETY: no other test of this crate reads or writes the environment.
        unsafe { std::env::remove_var(SHARED_VAR) };
        assert_eq!(shared_dir(), None);
        let err = shared_file("models/m", "the model m").unwrap_err();
        assert!(
            err.to_string().contains("REWARDLAB_SHARED is not set"),
            "{err}"
        );
        assert!(test_shared_dir!().ends_with("shared"));

        unsafe { std::env::set_var(SHARED_VAR, &dir) };
        assert_eq!(
            shared_file("models/m", "the model m").unwrap(),
            dir.join("models/m")
        );
        let err = shared_file("models/x", "the model x").unwrap_err();
        assert!(
            err.to_string().contains("the model x is not at")
                && err.to_string().contains("models/x"),
            "{err}"
        );
        assert_eq!(shared_or_skip!("models/m"), Some(dir.join("models/m")));
        assert_eq!(shared_or_skip!("models/x"), None);

        unsafe { std::env::set_var(CACHE_VAR, &dir) };
        assert_eq!(cache_dir(), dir);
        unsafe { std::env::remove_var(CACHE_VAR) };
        assert!(cache_dir().ends_with(".cache/rewardlab"));
        unsafe { std::env::remove_var(SHARED_VAR) };
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
