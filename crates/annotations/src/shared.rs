//! Where tests and examples find the real public data that sits beside the checkout
//! (`../shared/data`, or `$REWARDLAB_SHARED/data`). It is never copied into the repository.

use std::path::PathBuf;

/// The shared folder: `$REWARDLAB_SHARED`, else `shared/` beside the workspace root.
pub fn shared_root() -> PathBuf {
    std::env::var_os("REWARDLAB_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

/// A path under the shared data folder, or `None` (with the reason printed) when it is absent, so
/// that a test using it can skip.
pub fn shared_data(relative: &str) -> Option<PathBuf> {
    let path = shared_root().join("data").join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "skipped: {} is absent (set REWARDLAB_SHARED to the shared folder)",
            path.display()
        );
        None
    }
}
