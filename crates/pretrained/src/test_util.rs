//! Helpers shared by the crate's tests: where the real checkpoints sit beside the checkout.

use std::path::PathBuf;

/// The shared folder: `$REWARDLAB_SHARED`, else `shared/` beside the workspace root.
pub(crate) fn shared_dir() -> PathBuf {
    std::env::var_os("REWARDLAB_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

/// A path under the shared folder, or `None` (with the reason printed) when it is absent, so
/// that a test needing real weights can skip where they have not been downloaded.
pub(crate) fn shared_path(relative: &str) -> Option<PathBuf> {
    let path = shared_dir().join(relative);
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

/// The workspace's `tests/fixtures` folder.
pub(crate) fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}
