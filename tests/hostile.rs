//! End-to-end tests of rewardlab in hostile environments (issue 20, item 5): a full or read-only
//! destination (small tmpfs mounts, where this process may mount them), a source it may not read
//! (the command run as `nobody`), a 2 GB annotation file, a prompt of 1 MB and a symbolic-link loop
//! under `images/`. Each must end in a clear error naming the file, with no panic and nothing
//! half-written at the destination. The decompression bomb is in `tests/reliability.rs`.

use std::path::PathBuf;
use std::process::{Command, Output};

mod common;
use common::{SMOKE, TINY_CLIP, bin, ok, run, s, stderr, tmp, world};

/// Fails unless `o` is a clean failure: a non-zero exit, no panic, and a message holding `needle`.
fn refused(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
}

/// A tmpfs of `size` mounted at a fresh folder (read-only when `read_only`), unmounted on drop;
/// `None`, with the reason printed, where this process may not mount (not root, no
/// CAP_SYS_ADMIN).
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(name: &str, size: &str, read_only: bool) -> Option<Self> {
        let dir = tmp(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut options = format!("size={size}");
        if read_only {
            options.push_str(",ro");
        }
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(&dir)
            .output();
        match o {
            Ok(o) if o.status.success() => Some(Self(dir)),
            Ok(o) => {
                println!("skipped: cannot mount a tmpfs here ({})", stderr(&o).trim());
                None
            }
            Err(e) => {
                println!("skipped: no mount command ({e})");
                None
            }
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_destination_is_a_clear_error_and_leaves_nothing_half_written() {
    let Some(full) = Mount::tmpfs("hostile-full", "256k", false) else {
        return;
    };
    // A world's images do not fit in 256 kB.
    let out = full.0.join("world");
    let o = run(&["synth", "--prompts", "60", "--seed", "5", "--out", s(&out)]);
    refused(&o, "No space left on device");
    assert!(
        !out.exists(),
        "a half-written world was left at the destination"
    );
    assert_eq!(
        std::fs::read_dir(&full.0).unwrap().count(),
        0,
        "staging left behind"
    );

    // Training whose run folder fills up: the error names the file, and no panic (the
    // checkpoints are written in burn-train's own thread).
    let w = world("hostile-full-world", "60", "5");
    let r = full.0.join("run");
    let o = run(&[
        "train",
        "--config",
        SMOKE,
        "--dataset",
        s(&w),
        "--out",
        s(&r),
        "--epochs",
        "3",
    ]);
    refused(&o, "No space left on device");
    assert!(!r.join("manifest.json").exists());
}

#[test]
fn a_read_only_destination_is_a_clear_error() {
    let Some(ro) = Mount::tmpfs("hostile-ro", "1m", true) else {
        return;
    };
    let out = ro.0.join("world");
    let o = run(&["synth", "--prompts", "20", "--seed", "5", "--out", s(&out)]);
    refused(&o, "Read-only file system");
    let w = world("hostile-ro-world", "40", "5");
    let o = run(&[
        "train",
        "--config",
        SMOKE,
        "--dataset",
        s(&w),
        "--out",
        s(&ro.0.join("run")),
    ]);
    refused(&o, "Read-only file system");
}

#[test]
fn a_source_that_may_not_be_read_is_a_clear_error() {
    let w = world("hostile-denied", "20", "5");
    let table = w.join("annotations.parquet");
    // root reads whatever the mode says: run the binary as `nobody` (util-linux's setpriv).
    let setpriv = Command::new("setpriv").arg("--version").output();
    let is_root = std::fs::metadata("/proc/self").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    if !matches!(is_root, Ok(true)) || setpriv.is_err() {
        println!("skipped: needs root and setpriv to run the binary as another user");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    // Everything readable to all but the table.
    let mut dir = w.clone();
    while let Some(parent) = dir.parent() {
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
        dir = parent.to_path_buf();
    }
    std::fs::set_permissions(
        w.join("dataset.toml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::set_permissions(&table, std::fs::Permissions::from_mode(0o600)).unwrap();
    let binary = bin().get_program().to_owned();
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(binary)
        .args(["validate", s(&w)])
        .env("HOME", "/tmp")
        .output()
        .unwrap();
    refused(&o, "Permission denied");
    assert!(stderr(&o).contains("annotations.parquet"), "{}", stderr(&o));
}

#[test]
fn a_two_gigabyte_annotation_file_is_refused_quickly_in_bounded_memory() {
    let dir = tmp("hostile-huge");
    std::fs::create_dir_all(&dir).unwrap();
    // Sparse: 2 GB long, no disk, all NUL bytes: not a table.
    let huge = dir.join("ratings.csv");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(2 << 30).unwrap();
    let o = run(&[
        "import",
        "table",
        s(&huge),
        s(&dir.join("ds")),
        "--map",
        "prompt=caption",
    ]);
    refused(&o, "ratings.csv");
    refused(&o, "binary data, not a text table");
    assert!(!dir.join("ds").exists());
    // 2 GB of text on one line: not a table of one row per line.
    let line = dir.join("ratings.jsonl");
    let mut f = std::fs::File::create(&line).unwrap();
    std::io::Write::write_all(&mut f, &vec![b'x'; 17 << 20]).unwrap();
    f.set_len(2 << 30).unwrap();
    let o = run(&[
        "import",
        "table",
        s(&line),
        s(&dir.join("ds")),
        "--map",
        "prompt=caption",
    ]);
    refused(&o, "no line break in the first 16 MiB");
}

#[test]
fn a_prompt_of_a_megabyte_is_imported_analysed_and_scored() {
    // Linux takes at most 128 kB per argument, so such a prompt comes in a table.
    let w = world("hostile-prompt-world", "20", "5");
    let dir = tmp("hostile-prompt");
    std::fs::create_dir_all(dir.join("images")).unwrap();
    let mut csv = String::from("caption,image,rank\n");
    let long = "a red circle ".repeat(90_000);
    assert!(long.len() > 1 << 20);
    let images: Vec<PathBuf> = std::fs::read_dir(w.join("images"))
        .unwrap()
        .take(4)
        .map(|e| e.unwrap().path())
        .collect();
    for (k, (prompt, rank)) in [
        (long.trim(), 1),
        (long.trim(), 2),
        ("a cat", 2),
        ("a cat", 1),
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::copy(&images[k], dir.join(format!("images/{k}.png"))).unwrap();
        csv.push_str(&format!("{prompt},images/{k}.png,{rank}\n"));
    }
    let table = dir.join("ratings.csv");
    std::fs::write(&table, csv).unwrap();
    let ds = dir.join("ds");
    ok(&[
        "import",
        "table",
        s(&table),
        s(&ds),
        "--map",
        "prompt=caption",
        "--map",
        "image=image",
        "--map",
        "rank=rank",
    ]);
    ok(&["validate", s(&ds)]);
    ok(&[
        "analyze",
        s(&ds),
        "--out",
        s(&dir.join("analysis")),
        "--resamples",
        "10",
    ]);
    // CLIP truncates it to its 77 tokens, as transformers does.
    let clip = TINY_CLIP;
    ok(&[
        "eval",
        "--model",
        "clip",
        "--encoder",
        clip,
        "--dataset",
        s(&ds),
        "--split",
        "all",
        "--out",
        s(&dir.join("eval")),
    ]);
}

#[test]
fn a_symbolic_link_loop_under_images_is_a_clear_error() {
    let w = world("hostile-loop", "20", "5");
    let images = w.join("images");
    let victim = std::fs::read_dir(&images)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let name = victim.file_name().unwrap().to_owned();
    std::fs::remove_file(&victim).unwrap();
    // images/<victim> -> images/loop-b -> images/<victim>
    std::os::unix::fs::symlink(images.join("loop-b"), &victim).unwrap();
    std::os::unix::fs::symlink(&victim, images.join("loop-b")).unwrap();
    let o = run(&["validate", s(&w)]);
    let all = stderr(&o) + &String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success());
    assert!(!all.contains("panicked"), "{all}");
    assert!(all.contains(name.to_str().unwrap()), "{all}");
    // verify follows no link into a loop either.
    let o = run(&["verify", s(&w)]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
