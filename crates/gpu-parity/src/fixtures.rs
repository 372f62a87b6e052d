//! The folders the GPU tests read: fresh temp folders, and the tiny ImageReward as its loaders
//! want it.

use std::path::PathBuf;

/// A fresh, empty temp folder named `name` for this test process.
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rewardlab-gpu-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The tiny ImageReward of `../shared/fixtures` (made with THUDM's code) in a fresh folder, with
/// the `vit_config.json` its 40-wide ViT needs (its number of heads is in no tensor); returns
/// the checkpoint, or `None` (the reason printed) without the shared folder.
pub fn tiny_imagereward() -> Option<PathBuf> {
    let fixture = paths::shared_or_skip!("fixtures/tiny-imagereward")?;
    let dir = tmp("tiny-imagereward");
    for file in ["ImageReward.pt", "med_config.json", "tokenizer.json"] {
        std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
    let sizes: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture.join("fixture_config.json")).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("vit_config.json"),
        sizes["model"]["vit"].to_string(),
    )
    .unwrap();
    Some(dir.join("ImageReward.pt"))
}
