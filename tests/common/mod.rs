//! Helpers shared by the end-to-end tests: run the built `rewardlab` binary and read its output.
// Each test binary uses its own subset of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The binary, told where the shared folder is (the binary itself knows no path of this tree:
/// `$REWARDLAB_SHARED` as the tests found it, else `../shared` beside the checkout).
pub fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rewardlab"));
    command.env(paths::SHARED_VAR, paths::test_shared_dir!());
    command
}

/// A fresh path under the temporary folder (removed if a previous run left it).
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rewardlab-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

/// Runs the binary, asserts success and returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "rewardlab {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).expect("valid JSON on stdout")
}

/// The smoke training config (seconds on 2 cores).
pub const SMOKE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../experiments/smoke.toml");

/// The tiny random CLIP saved by transformers.
pub const TINY_CLIP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/pretrained/tiny-clip"
);

/// A path as the argument the binary takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// What a command printed on stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A synthetic world of `prompts` prompts and `seed` in a fresh folder named `name`.
pub fn world(name: &str, prompts: &str, seed: &str) -> PathBuf {
    let w = tmp(name);
    ok(&[
        "synth",
        "--prompts",
        prompts,
        "--seed",
        seed,
        "--out",
        s(&w),
    ]);
    w
}
