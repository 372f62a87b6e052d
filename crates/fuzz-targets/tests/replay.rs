//! Every fuzz target over its seeds and over every input the fuzzer found a bug with: each
//! crash, once fixed, stays fixed (`fuzz/regressions/TARGET/`). Runs on stable, in the test
//! suite; the fuzzing itself is `scripts/fuzz` (nightly).
//!
//! The seeds are the committed files of `fuzz/seeds/TARGET/` (written by `write_seeds` below)
//! and the files that `fuzz/seeds.txt` names in the repository and in `../shared`.

use std::path::{Path, PathBuf};

use fuzz_targets::{TARGETS, Target};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    out.retain(|p| p.is_file());
    out.sort();
    out
}

/// A seed named in `fuzz/seeds.txt`.
struct Listed {
    target: String,
    path: PathBuf,
    /// In the shared data folder, which may be absent; else in the repository.
    shared: bool,
}

/// Every line of `fuzz/seeds.txt`: `TARGET PATH`, where a path that starts with `shared/` is in
/// the shared data folder, and any other is in the repository.
fn listed_seeds() -> Vec<Listed> {
    let text = std::fs::read_to_string(repo().join("fuzz/seeds.txt")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (target, path) = l.split_once(char::is_whitespace).unwrap();
            let path = path.trim();
            let (path, shared) = match path.strip_prefix("shared/") {
                Some(rest) => (paths::test_shared_dir!().join(rest), true),
                None => (repo().join(path), false),
            };
            Listed {
                target: target.to_string(),
                path,
                shared,
            }
        })
        .collect()
}

/// Runs `target` on the file; whether its reader accepted it.
fn replay(target: &Target, path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    let outcome = std::panic::catch_unwind(|| target.run(&bytes));
    outcome.unwrap_or_else(|_| {
        panic!(
            "{} panicked on {} (rerun: cargo fuzz run --fuzz-dir fuzz {} {})",
            target.name,
            path.display(),
            target.name,
            path.display()
        )
    })
}

#[test]
fn every_target_has_a_fuzzer_entry_and_seeds() {
    let manifest = std::fs::read_to_string(repo().join("fuzz/Cargo.toml")).unwrap();
    let listed = listed_seeds();
    for t in TARGETS {
        let entry = repo().join(format!("fuzz/fuzz_targets/{}.rs", t.name));
        let source =
            std::fs::read_to_string(&entry).unwrap_or_else(|e| panic!("{}: {e}", entry.display()));
        assert!(
            source.contains(&format!("fuzz_targets::run::{}", t.name)),
            "{} does not run its target",
            entry.display()
        );
        assert!(
            manifest.contains(&format!("name = \"{}\"", t.name)),
            "fuzz/Cargo.toml has no [[bin]] for {}",
            t.name
        );
        let committed = files(&repo().join("fuzz/seeds").join(t.name)).len();
        let named = listed.iter().filter(|l| l.target == t.name).count();
        assert!(committed + named > 0, "{} has no seeds", t.name);
    }
    for l in &listed {
        assert!(
            fuzz_targets::target(&l.target).is_some(),
            "fuzz/seeds.txt: unknown target {}",
            l.target
        );
        if !l.shared {
            assert!(
                l.path.is_file(),
                "fuzz/seeds.txt: {} is missing",
                l.path.display()
            );
        }
    }
    let entries = files(&repo().join("fuzz/fuzz_targets"));
    assert_eq!(
        entries.len(),
        TARGETS.len(),
        "a fuzz entry without a target"
    );
}

/// The committed seeds are valid files, so the fuzzer starts deep inside each reader: a seed
/// refused would mean it went stale when its format changed (`write-fuzz-seeds` rewrites them).
#[test]
fn committed_seeds_are_accepted() {
    for t in TARGETS {
        for path in files(&repo().join("fuzz/seeds").join(t.name)) {
            assert!(
                replay(t, &path),
                "{} refuses its seed {}",
                t.name,
                path.display()
            );
        }
    }
}

/// The real files named in `fuzz/seeds.txt`; a study whose `base` is not beside the scratch
/// file is refused, the others are read.
#[test]
fn listed_seeds_replay_without_a_panic() {
    let mut skipped = Vec::new();
    for l in listed_seeds() {
        if !l.path.is_file() {
            skipped.push(l.target);
            continue;
        }
        let accepted = replay(fuzz_targets::target(&l.target).unwrap(), &l.path);
        let has_base = std::fs::read_to_string(&l.path).is_ok_and(|t| t.contains("\nbase ="));
        assert!(
            accepted || has_base,
            "{} refuses {}",
            l.target,
            l.path.display()
        );
    }
    if !skipped.is_empty() {
        println!(
            "skipped the seeds of {} from the shared data folder: it is not at {} (set {})",
            skipped.join(", "),
            paths::test_shared_dir!().display(),
            paths::SHARED_VAR
        );
    }
}

#[test]
fn every_crash_found_stays_fixed() {
    let dir = repo().join("fuzz/regressions");
    let mut count = 0;
    for t in TARGETS {
        for path in files(&dir.join(t.name)) {
            let _ = replay(t, &path);
            count += 1;
        }
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name();
        let name = name.to_string_lossy();
        assert!(
            name == "README.md" || fuzz_targets::target(&name).is_some(),
            "fuzz/regressions/{name}: no such target"
        );
    }
    println!("{count} regression inputs replayed");
}
