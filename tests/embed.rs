//! End-to-end test of a pretrained shared encoder: `rewardlab embed` writes the embedding cache of
//! a tiny random CLIP (tests/fixtures/pretrained/tiny-clip, saved by transformers), `rewardlab
//! train` trains on it, and `rewardlab score` scores new images through the CLIP's frozen layers.

mod common;
use common::{ok, run, tmp};

fn shared_present() -> bool {
    let dir = std::env::var_os("REWARDLAB_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared").into());
    dir.join("data/clip-bpe").is_dir()
}

#[test]
fn embed_then_train_on_the_cache_then_score() {
    if !shared_present() {
        eprintln!("skipped: ../shared/data/clip-bpe (the tiny CLIP's tokenizer) not found");
        return;
    }
    let clip = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/pretrained/tiny-clip"
    );
    let smoke = concat!(env!("CARGO_MANIFEST_DIR"), "/../../experiments/smoke.toml");
    let (world, cache, run_dir) = (tmp("embed-world"), tmp("embed-cache"), tmp("embed-run"));
    let (w, c, r) = (
        world.to_str().unwrap(),
        cache.to_str().unwrap(),
        run_dir.to_str().unwrap(),
    );
    ok(&["synth", "--prompts", "60", "--seed", "4", "--out", w]);
    let enc = [
        "--encoder",
        "clip",
        "--encoder-path",
        clip,
        "--freeze",
        "0.5",
    ];
    let mut args = vec!["embed", "--config", smoke, "--dataset", w, "--out", c];
    args.extend(enc);
    let out = ok(&args);
    assert!(
        out.contains("1 of the image tower, 1 of the text tower"),
        "{out}"
    );
    assert!(cache.join("embed.json").exists() && cache.join("text.safetensors").exists());
    // A second run finds every chunk complete.
    let out = ok(&args);
    assert!(out.contains("0 chunks written"), "{out}");

    let mut args = vec![
        "train",
        "--config",
        smoke,
        "--dataset",
        w,
        "--out",
        r,
        "--epochs",
        "1",
        "--embed-cache",
        c,
    ];
    args.extend(enc);
    let out = ok(&args);
    assert!(out.contains("epoch 1/1"), "{out}");

    // A cache made with another freeze ratio is refused with the reason.
    let mut args = vec![
        "train",
        "--config",
        smoke,
        "--dataset",
        w,
        "--out",
        r,
        "--force",
        "--embed-cache",
        c,
        "--encoder",
        "clip",
        "--encoder-path",
        clip,
        "--freeze",
        "1.0",
    ];
    let bad = run(&args);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("frozen layers"), "{err}");
    args.clear();

    let image = std::fs::read_dir(world.join("images"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = ok(&[
        "score",
        "--run",
        r,
        "--prompt",
        "a red circle",
        image.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.contains("overall"), "{out}");
    for d in [world, cache, run_dir] {
        let _ = std::fs::remove_dir_all(d);
    }
}
