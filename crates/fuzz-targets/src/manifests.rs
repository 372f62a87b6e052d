//! A folder's `manifest.json`, as every verified load and `rewardlab verify` read it.

use crate::scratch;

/// Accepted when the folder verifies intact.
pub fn manifest(data: &[u8]) -> bool {
    let dir = scratch::folder();
    let path = dir.join(integrity::MANIFEST_FILE);
    scratch::write(&dir.join("model.safetensors"), b"weights");
    scratch::write(&dir.join("checkpoint/model-1.bpk"), b"checkpoint");
    scratch::write(&path, data);
    let _ = scratch::named(integrity::verify_files(&dir, &["model.safetensors"]), &path);
    let intact = scratch::named(integrity::verify_folder(&dir), &path)
        .is_some_and(|report| report.is_intact());
    // Nothing outside the folder was read or written: it still holds exactly what it held.
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("the scratch folder is readable")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["checkpoint", "manifest.json", "model.safetensors"],
        "verify changed the folder"
    );
    intact
}
