//! The committed bad-input corpus, `tests/bad-inputs/CATEGORY/CASE/`: every case is one thing a
//! user could hand rewardlab wrong, and each must end in a clean refusal. For every case the
//! binary must exit non-zero, print no panic, name the bad file and the row, field or key at
//! fault, and leave no output behind.
//!
//! A case is a folder with `case.toml` and the files it needs:
//!
//! ```toml
//! what = "a rating of 8 on a 1..7 scale"        # what is wrong, for the failure message
//! args = ["import", "table", "{case}/ratings.csv", "{out}", "--map", "prompt=prompt"]
//! file = "ratings.csv"                           # the file the error must name
//! at = ["row 3", "overall"]                      # what else it must say: row, field or key
//! base = "world"                                 # optional: "world", "run" or "tiny-clip"
//! remove = ["images/x.png"]                      # optional: files removed from the copy
//! reseal = true                                  # optional: `verify {base} --update` first
//! ```
//!
//! In `args`, `{case}` is the case's folder, `{out}` a fresh path that must still not exist
//! afterwards, `{world}` a small synthetic world and `{run}` a run trained on it (both shared by
//! every case, never changed), `{base}` the case's own copy of the world, the run or the tiny CLIP
//! folder with the files of the case's `overlay/` folder written over it, and `{smoke}` the smoke
//! training config.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/bad-inputs")
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    what: String,
    args: Vec<String>,
    file: String,
    at: Vec<String>,
    base: Option<String>,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    reseal: bool,
}

/// The world and the run every case starts from, made once.
fn fixtures() -> &'static (PathBuf, PathBuf) {
    static FIXTURES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let world = world("bad-inputs-world", "16", "5");
        let run = tmp("bad-inputs-run");
        ok(&[
            "train",
            "--config",
            SMOKE,
            "--dataset",
            s(&world),
            "--out",
            s(&run),
            "--epochs",
            "1",
        ]);
        (world, run)
    })
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every case folder, sorted, as `CATEGORY/CASE`.
fn cases() -> Vec<String> {
    let mut out = Vec::new();
    for category in std::fs::read_dir(corpus()).unwrap() {
        let category = category.unwrap().path();
        if !category.is_dir() {
            continue;
        }
        for case in std::fs::read_dir(&category).unwrap() {
            let case = case.unwrap().path();
            assert!(
                case.join("case.toml").is_file(),
                "{} has no case.toml",
                case.display()
            );
            let name = case.strip_prefix(corpus()).unwrap();
            out.push(name.to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

/// Runs one case; `None` when it behaves, else what went wrong.
fn check(name: &str) -> Option<String> {
    let dir = corpus().join(name);
    let text = std::fs::read_to_string(dir.join("case.toml")).unwrap();
    let case: Case = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}/case.toml: {e}"));
    assert!(
        !case.at.is_empty(),
        "{name}: `at` names no row, field or key"
    );
    let (world, trained) = fixtures();
    let scratch = tmp(&format!("bad-{}", name.replace('/', "-")));
    let out = scratch.join("out");
    let base = scratch.join("base");
    if let Some(from) = &case.base {
        let from = match from.as_str() {
            "world" => world.as_path(),
            "run" => trained.as_path(),
            "tiny-clip" => Path::new(TINY_CLIP),
            other => panic!("{name}: unknown base {other}"),
        };
        copy_tree(from, &base);
        for r in &case.remove {
            std::fs::remove_file(base.join(r)).unwrap();
        }
        if dir.join("overlay").is_dir() {
            copy_tree(&dir.join("overlay"), &base);
        }
        if case.reseal {
            let o = run(&["verify", s(&base), "--update"]);
            assert!(o.status.success(), "{name}: reseal failed: {}", stderr(&o));
        }
    }
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| {
            a.replace("{case}", s(&dir))
                .replace("{out}", s(&out))
                .replace("{world}", s(world))
                .replace("{run}", s(trained))
                .replace("{base}", s(&base))
                .replace("{smoke}", SMOKE)
        })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args);
    // The folders' own names said nothing: a case named `rank-zero` must not pass on its path.
    let err = stderr(&o)
        .replace(s(&dir), "{case}")
        .replace(s(&scratch), "{scratch}")
        .replace(s(world), "{world}")
        .replace(s(trained), "{run}");
    let mut wrong = Vec::new();
    if o.status.success() {
        wrong.push("it succeeded".to_string());
    }
    if err.contains("panicked") || o.status.code().is_none() {
        wrong.push("it panicked or was killed".to_string());
    }
    if !err.contains(&case.file) {
        wrong.push(format!("the error does not name {}", case.file));
    }
    for at in &case.at {
        if !err.contains(at.as_str()) {
            wrong.push(format!("the error does not say `{at}`"));
        }
    }
    if out.exists() {
        wrong.push("it left {out} behind".to_string());
    }
    let _ = std::fs::remove_dir_all(&scratch);
    (!wrong.is_empty()).then(|| {
        format!(
            "{name} ({}): {}\n  rewardlab {}\n  stderr: {}",
            case.what,
            wrong.join("; "),
            args.join(" "),
            err.trim().replace('\n', "\n          ")
        )
    })
}

#[test]
fn every_bad_input_is_refused_by_name_without_a_panic() {
    let cases = cases();
    assert!(
        cases.len() >= 60,
        "the corpus holds {} cases, fewer than 60",
        cases.len()
    );
    fixtures();
    // Two at a time: most cases are a fraction of a second of one process.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(name) = cases.get(i) else { break };
                    if let Some(f) = check(name) {
                        failures.lock().unwrap().push(f);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let (world, trained) = fixtures();
    let _ = std::fs::remove_dir_all(world);
    let _ = std::fs::remove_dir_all(trained);
    let categories: std::collections::BTreeSet<&str> =
        cases.iter().filter_map(|c| c.split('/').next()).collect();
    println!(
        "{} bad inputs in {} categories ({}), {} misbehaved",
        cases.len(),
        categories.len(),
        categories.into_iter().collect::<Vec<_>>().join(", "),
        failures.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// `tests/bad-inputs/README.md` is the corpus's table of contents: every case has its row there,
/// and the README lists no case that is gone.
#[test]
fn the_corpus_readme_lists_every_case() {
    let readme = std::fs::read_to_string(corpus().join("README.md")).unwrap();
    let cases = cases();
    let listed: Vec<(String, String)> = readme
        .lines()
        .scan(String::new(), |category, line| {
            if let Some(c) = line.strip_prefix("## ") {
                *category = c.trim().to_string();
            }
            let case = line
                .strip_prefix("| `")
                .and_then(|rest| rest.split_once('`'))
                .map(|(case, _)| (category.clone(), case.to_string()));
            Some(case)
        })
        .flatten()
        .collect();
    let listed: Vec<String> = listed
        .into_iter()
        .map(|(c, k)| format!("{c}/{k}"))
        .collect();
    let missing: Vec<&String> = cases.iter().filter(|c| !listed.contains(c)).collect();
    let stale: Vec<&String> = listed.iter().filter(|c| !cases.contains(c)).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "tests/bad-inputs/README.md: cases without a row {missing:?}, rows without a case {stale:?}"
    );
    assert!(
        readme.contains(&format!("{} cases", cases.len())),
        "tests/bad-inputs/README.md does not give the count, {} cases",
        cases.len()
    );
}
