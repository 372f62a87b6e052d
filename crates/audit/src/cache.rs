//! The scores of each finished pass (the originals, then each perturbation), kept in the output
//! folder so that an audit stopped half-way resumes at the first pass not finished, and a rerun
//! with another perturbation scores that one alone: a pass of a ViT-H scorer (PickScore, HPSv2)
//! over a thousand images is long work on a CPU.

use std::path::{Path, PathBuf};

use crate::error::{AuditError, Result};

/// `DIR/PASS.csv` (one score per line, in item order) beside `DIR/PASS.key`, the key it was
/// scored under: the scorer's files, the dataset's annotations, the head and the prompts.
#[derive(Clone, Debug)]
pub struct PassCache {
    pub dir: PathBuf,
    pub key: String,
}

impl PassCache {
    fn files(&self, pass: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{pass}.csv")),
            self.dir.join(format!("{pass}.key")),
        )
    }

    /// The pass's `n` scores, when they were computed under this key; else `None`.
    pub fn get(&self, pass: &str, n: usize) -> Option<Vec<f64>> {
        let (scores, key) = self.files(pass);
        if std::fs::read_to_string(key).ok()? != self.key {
            return None;
        }
        let text = std::fs::read_to_string(scores).ok()?;
        let values: Option<Vec<f64>> = text.lines().map(|l| l.parse().ok()).collect();
        values.filter(|v| v.len() == n)
    }

    /// Keeps a finished pass: the scores first, then the key that makes them valid, each
    /// written whole (a pass killed while writing is scored again).
    pub fn put(&self, pass: &str, scores: &[f64]) -> Result<()> {
        let (file, key) = self.files(pass);
        let write = |path: &Path, text: &str| {
            integrity::atomic::write_atomic(path, text.as_bytes()).map_err(|e| AuditError::Write {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| AuditError::Write {
            path: self.dir.clone(),
            message: e.to_string(),
        })?;
        let _ = std::fs::remove_file(&key);
        // `{}` of an f64 is the shortest text that reads back to the same number.
        let text: String = scores.iter().map(|s| format!("{s}\n")).collect();
        write(&file, &text)?;
        write(&key, &self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_reads_back_exactly_under_its_key_only() {
        let dir =
            std::env::temp_dir().join(format!("rewardlab-audit-cache-{}", std::process::id()));
        let cache = PassCache {
            dir: dir.clone(),
            key: "model a\n".into(),
        };
        assert_eq!(cache.get("original", 3), None);
        let scores = [0.1 + 0.2, -1e-300, 12345.678901234567];
        cache.put("original", &scores).unwrap();
        assert_eq!(cache.get("original", 3), Some(scores.to_vec()));
        // Another count, another key, or a damaged file: scored again.
        assert_eq!(cache.get("original", 4), None);
        let other = PassCache {
            dir: dir.clone(),
            key: "model b\n".into(),
        };
        assert_eq!(other.get("original", 3), None);
        std::fs::write(dir.join("original.csv"), "0.3\nnot a number\n1\n").unwrap();
        assert_eq!(cache.get("original", 3), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
