//! The reference sides of the comparisons (PyTorch, pandas, the official ImageReward code):
//! Python scripts kept in the repository and compiled in, written into the cache folder before
//! each run (so that a benchmark runs from any folder, whatever tree the binary was built from),
//! and run in a venv that `scripts/ensure_venv.sh`, the one venv helper of the repository, makes
//! from the side's pinned requirements (reinstalled when they change).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::BenchError;

/// The venv helper every reference side runs through (the fixture makers and `run-notebooks`
/// source the same file).
const ENSURE_VENV: (&str, &str) = (
    "ensure_venv.sh",
    include_str!("../../../scripts/ensure_venv.sh"),
);

/// One reference side.
#[derive(Debug, Clone, Copy)]
pub struct Reference {
    /// What it is, for messages ("PyTorch", "pandas", ...).
    pub side: &'static str,
    /// The folder under the cache the scripts are written into.
    pub scripts: &'static str,
    /// The venv's folder under the cache.
    pub venv: &'static str,
    /// The Python script: `(file name, text)`.
    pub script: (&'static str, &'static str),
    /// Its pinned requirements: `(file name, text)`.
    pub requirements: (&'static str, &'static str),
}

impl Reference {
    /// Runs the script with `args` and the variables `env` in the side's venv (made with `python`
    /// when it does not exist yet), with its progress and pip's output on our stderr, and reads
    /// the JSON object it prints: the whole of its stdout, or else the last line that is one
    /// (libraries may print before it).
    ///
    /// # Errors
    ///
    /// [`BenchError::Io`] when the scripts cannot be written, [`BenchError::Reference`] when the
    /// script cannot start, fails or prints no JSON object.
    pub fn run(
        &self,
        args: &[OsString],
        env: &[(&str, OsString)],
        python: &str,
    ) -> Result<serde_json::Value, BenchError> {
        let cache = paths::cache_dir();
        let dir = cache.join(self.scripts);
        write_scripts(&dir, &[ENSURE_VENV, self.script, self.requirements])?;
        let script = dir.join(self.script.0);
        eprintln!("  {}: {} ...", self.side, script.display());
        // `bash -c CMD $0 $1 ...`: the helper, the venv, the requirements, then the script's argv.
        let out = Command::new("bash")
            .arg("-c")
            .arg(r#"source "$0" && py="$(ensure_venv "$1" "$2")" && shift 2 && exec "$py" "$@""#)
            .arg(dir.join(ENSURE_VENV.0))
            .arg(cache.join(self.venv))
            .arg(dir.join(self.requirements.0))
            .arg(&script)
            .args(args)
            .env(paths::CACHE_VAR, &cache)
            .env("PYTHON", python)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| self.error(&script, format!("cannot run bash: {e}")))?;
        if !out.status.success() {
            return Err(self.error(
                &script,
                format!("failed ({}); its messages are above", out.status),
            ));
        }
        parse_json(&out.stdout).ok_or_else(|| {
            self.error(
                &script,
                format!(
                    "printed no JSON object: {:?}",
                    String::from_utf8_lossy(&out.stdout)
                ),
            )
        })
    }

    fn error(&self, script: &Path, message: String) -> BenchError {
        BenchError::Reference {
            side: self.side,
            message: format!("{}: {message}", script.display()),
        }
    }
}

/// The JSON object of a script's stdout: all of it, or else its last line that parses as one.
fn parse_json(stdout: &[u8]) -> Option<serde_json::Value> {
    let whole = serde_json::from_slice::<serde_json::Value>(stdout).ok();
    whole.filter(|v| v.is_object()).or_else(|| {
        String::from_utf8_lossy(stdout)
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.is_object())
    })
}

/// Writes `(name, text)` files into `dir` (created if needed).
///
/// # Errors
///
/// [`BenchError::Io`] naming the folder or file.
pub fn write_scripts(dir: &Path, files: &[(&str, &str)]) -> Result<(), BenchError> {
    std::fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
    for (name, text) in files {
        let path: PathBuf = dir.join(name);
        std::fs::write(&path, text).map_err(BenchError::io(&path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_the_whole_output_or_its_last_object_line() {
        let pretty = b"{\n \"a\": 1\n}\n";
        assert_eq!(parse_json(pretty).unwrap()["a"], 1);
        let noisy = b"Some weights were not used\n{\"b\": 2}\n";
        assert_eq!(parse_json(noisy).unwrap()["b"], 2);
        assert!(parse_json(b"3\n").is_none());
        assert!(parse_json(b"").is_none());
    }

    /// The helper makes a venv once and runs the script in it. Without network the pip step
    /// installs nothing (empty requirements), so this runs anywhere Python has `venv`.
    #[test]
    fn a_script_runs_in_its_venv_and_its_json_comes_back() {
        let has_venv = Command::new("python3")
            .args(["-c", "import venv, ensurepip"])
            .status()
            .is_ok_and(|s| s.success());
        if !has_venv {
            eprintln!("skipped: no python3 with venv");
            return;
        }
        let cache =
            std::env::temp_dir().join(format!("rewardlab-bench-ref-{}", std::process::id()));
        let reference = Reference {
            side: "test side",
            scripts: "scripts",
            venv: "venv",
            script: (
                "echo.py",
                "import json, sys\nprint('noise')\nprint(json.dumps({'args': sys.argv[1:], 'prefix': sys.prefix}))\n",
            ),
            requirements: ("requirements.txt", "# nothing\n"),
        };
        // SAFETY: the only test of this crate that sets the variable.
        unsafe { std::env::set_var(paths::CACHE_VAR, &cache) };
        let out = reference.run(&["x".into()], &[], "python3").unwrap();
        assert_eq!(out["args"][0], "x");
        assert!(out["prefix"].as_str().unwrap().ends_with("venv"), "{out}");
        assert!(cache.join("venv/.requirements.sha256").is_file());
        let failing = Reference {
            script: ("fail.py", "raise SystemExit(3)\n"),
            ..reference
        };
        let err = failing.run(&[], &[], "python3").unwrap_err().to_string();
        assert!(
            err.starts_with("test side: ") && err.contains("fail.py"),
            "{err}"
        );
        std::fs::remove_dir_all(&cache).unwrap();
    }
}
