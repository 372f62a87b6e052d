//! Helpers shared by the crate's tests: where the real checkpoints sit beside the checkout.

use std::path::PathBuf;

/// A path under the shared folder, or `None` (with the reason printed) when it is absent, so
/// that a test needing real weights can skip where they have not been downloaded.
pub(crate) fn shared_path(relative: &str) -> Option<PathBuf> {
    paths::shared_or_skip!(relative)
}

/// The workspace's `tests/fixtures` folder.
pub(crate) fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}
