//! `manifest.json`: every file of a run, cache or dataset folder with its SHA-256 and size,
//! written last and atomically, so that its presence says the folder is complete and its entries
//! say what each file held when rewardlab wrote it.
//!
//! Readers check the files they are about to read ([`verify_files`]), not the whole folder: a
//! run's checkpoints can be gigabytes that scoring never opens. `rewardlab verify` checks every
//! file ([`verify_folder`]). A folder without a manifest (written before rewardlab kept them)
//! still loads, as [`Verified::Unverified`], which callers print as a note.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::atomic::write_atomic;
use crate::error::{Damage, IntegrityError, Result};

/// The manifest's file name inside the folder it describes.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The format this crate writes and reads.
const FORMAT: &str = "rewardlab-manifest/1";

/// What the manifest records of one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// The file's size in bytes.
    pub bytes: u64,
}

impl FileEntry {
    /// The entry of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self {
            sha256: hex(&Sha256::digest(bytes)),
            bytes: bytes.len() as u64,
        }
    }
}

/// A folder's manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `rewardlab-manifest/1`.
    pub format: String,
    /// What the folder is: `run`, `embedding-cache`, `dataset`.
    pub kind: String,
    /// Paths relative to the folder, with `/` between components.
    pub files: BTreeMap<String, FileEntry>,
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 and size of a file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> Result<FileEntry> {
    let mut f = File::open(path).map_err(IntegrityError::io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(IntegrityError::io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(FileEntry {
        sha256: hex(&hasher.finalize()),
        bytes,
    })
}

/// Every file under `dir` (following no symbolic link into a folder), as relative paths with
/// `/`, skipping this crate's bookkeeping names at any depth.
fn files_under(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, prefix)) = stack.pop() {
        for entry in std::fs::read_dir(&path).map_err(IntegrityError::io(&path))? {
            let entry = entry.map_err(IntegrityError::io(&path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if crate::is_bookkeeping(&name) {
                continue;
            }
            let kind = entry
                .file_type()
                .map_err(IntegrityError::io(entry.path()))?;
            let relative = format!("{prefix}{name}");
            if kind.is_dir() {
                stack.push((entry.path(), format!("{relative}/")));
            } else {
                out.push(relative);
            }
        }
    }
    out.sort();
    Ok(out)
}

impl Manifest {
    /// An empty manifest of a folder of `kind`.
    pub fn new(kind: &str) -> Self {
        Self {
            format: FORMAT.to_string(),
            kind: kind.to_string(),
            files: BTreeMap::new(),
        }
    }

    /// The manifest of every file now under `dir`.
    pub fn of_folder(dir: &Path, kind: &str) -> Result<Self> {
        let mut m = Self::new(kind);
        for relative in files_under(dir)? {
            m.add_file(dir, &relative)?;
        }
        Ok(m)
    }

    /// Records `dir/relative` as it is now.
    pub fn add_file(&mut self, dir: &Path, relative: &str) -> Result<()> {
        let entry = sha256_file(&dir.join(relative))?;
        self.files.insert(relative.to_string(), entry);
        Ok(())
    }

    /// Records `relative` as holding `bytes` (what the caller has just written).
    pub fn add_bytes(&mut self, relative: &str, bytes: &[u8]) {
        self.files
            .insert(relative.to_string(), FileEntry::of_bytes(bytes));
    }

    /// Writes the manifest into `dir`, atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("a manifest serialises");
        write_atomic(&dir.join(MANIFEST_FILE), format!("{text}\n").as_bytes())
    }

    /// The manifest of `dir`, `None` when it has none.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(MANIFEST_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(IntegrityError::io(&path)(e)),
        };
        let bad = |message: String| IntegrityError::BadManifest {
            path: path.clone(),
            message,
        };
        let m: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if m.format != FORMAT {
            return Err(bad(format!(
                "format `{}`, this build reads `{FORMAT}`",
                m.format
            )));
        }
        if let Some(p) = m.files.keys().find(|p| !is_plain_relative(p)) {
            return Err(bad(format!(
                "the entry `{p}` is not a path inside the folder"
            )));
        }
        Ok(Some(m))
    }

    /// Removes the manifest of `dir` before the folder is changed in place (a resumed run), so
    /// that it never describes a folder half rewritten.
    pub fn remove(dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST_FILE);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(IntegrityError::io(&path)(e)),
            _ => Ok(()),
        }
    }

    /// Checks `dir/relative` against its entry.
    fn check(&self, dir: &Path, relative: &str, entry: &FileEntry) -> Result<()> {
        let path = dir.join(relative);
        if !path.exists() {
            return Err(IntegrityError::Missing {
                folder: dir.to_path_buf(),
                path,
                manifest: dir.join(MANIFEST_FILE),
            });
        }
        let found = sha256_file(&path)?;
        if &found != entry {
            return Err(IntegrityError::Mismatch(Box::new(Damage {
                folder: dir.to_path_buf(),
                path,
                manifest: dir.join(MANIFEST_FILE),
                expected: entry.sha256.clone(),
                found: found.sha256,
                expected_bytes: entry.bytes,
                found_bytes: found.bytes,
            })));
        }
        Ok(())
    }
}

/// A manifest entry may only name a file inside its folder.
fn is_plain_relative(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// How a folder's files were checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verified {
    /// Every file asked for matched the manifest.
    Checked { folder: PathBuf, files: usize },
    /// The folder has no manifest: written before rewardlab kept them, or not completed.
    Unverified { folder: PathBuf },
}

impl Verified {
    /// The note to print when the folder could not be checked.
    pub fn note(&self) -> Option<String> {
        match self {
            Verified::Checked { .. } => None,
            Verified::Unverified { folder } => Some(format!(
                "note: {} has no {MANIFEST_FILE} (written before rewardlab kept manifests, or \
                 never completed), so its files are read without a check",
                folder.display()
            )),
        }
    }
}

/// Checks the files of `dir` a reader is about to open against the folder's manifest. A file
/// that exists but is not listed is refused; one neither listed nor present is left to the
/// reader (an optional file).
pub fn verify_files(dir: &Path, files: &[&str]) -> Result<Verified> {
    let Some(manifest) = Manifest::read(dir)? else {
        return Ok(Verified::Unverified {
            folder: dir.to_path_buf(),
        });
    };
    for relative in files {
        match manifest.files.get(*relative) {
            Some(entry) => manifest.check(dir, relative, entry)?,
            None if dir.join(relative).exists() => {
                return Err(IntegrityError::Unlisted {
                    path: dir.join(relative),
                    manifest: dir.join(MANIFEST_FILE),
                });
            }
            None => {}
        }
    }
    Ok(Verified::Checked {
        folder: dir.to_path_buf(),
        files: files.len(),
    })
}

/// What checking a whole folder found.
#[derive(Debug)]
pub struct FolderReport {
    /// The folder's manifest, `None` when it has none.
    pub manifest: Option<Manifest>,
    /// Files that matched.
    pub intact: Vec<String>,
    /// Damaged and missing files.
    pub problems: Vec<IntegrityError>,
    /// Files in the folder that the manifest does not list (added later: not damage, but not
    /// vouched for).
    pub unlisted: Vec<String>,
}

impl FolderReport {
    /// Whether every listed file is present and intact.
    pub fn is_intact(&self) -> bool {
        self.manifest.is_some() && self.problems.is_empty()
    }
}

/// Checks every file of `dir` against its manifest.
pub fn verify_folder(dir: &Path) -> Result<FolderReport> {
    if !dir.is_dir() {
        return Err(IntegrityError::io(dir)(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such folder",
        )));
    }
    let manifest = Manifest::read(dir)?;
    let mut report = FolderReport {
        manifest: None,
        intact: Vec::new(),
        problems: Vec::new(),
        unlisted: Vec::new(),
    };
    let Some(m) = manifest else {
        return Ok(report);
    };
    for (relative, entry) in &m.files {
        match m.check(dir, relative, entry) {
            Ok(()) => report.intact.push(relative.clone()),
            // A file that cannot be read (a link loop, no permission) is as bad as a damaged one.
            Err(e) => report.problems.push(e),
        }
    }
    report.unlisted = files_under(dir)?
        .into_iter()
        .filter(|f| !m.files.contains_key(f))
        .collect();
    report.manifest = Some(m);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("integrity-manifest-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("checkpoint")).unwrap();
        fs::write(d.join("model.safetensors"), vec![7u8; 3000]).unwrap();
        fs::write(d.join("config.toml"), "seed = 1\n").unwrap();
        fs::write(d.join("checkpoint/model-1.bpk"), b"weights").unwrap();
        d
    }

    #[test]
    fn sha256_matches_the_standard_test_vector() {
        // FIPS 180-2's "abc".
        assert_eq!(
            FileEntry::of_bytes(b"abc").sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let d = tmp("vector");
        fs::write(d.join("abc"), b"abc").unwrap();
        assert_eq!(
            sha256_file(&d.join("abc")).unwrap(),
            FileEntry::of_bytes(b"abc")
        );
    }

    #[test]
    fn a_written_manifest_lists_every_file_and_reads_back() {
        let d = tmp("list");
        fs::write(d.join(crate::LOCK_FILE), b"pid").unwrap();
        let m = Manifest::of_folder(&d, "run").unwrap();
        m.write(&d).unwrap();
        assert_eq!(
            m.files.keys().collect::<Vec<_>>(),
            ["checkpoint/model-1.bpk", "config.toml", "model.safetensors"]
        );
        assert_eq!(Manifest::read(&d).unwrap().unwrap(), m);
        let report = verify_folder(&d).unwrap();
        assert!(
            report.is_intact() && report.unlisted.is_empty(),
            "{report:?}"
        );
    }

    #[test]
    fn a_flipped_bit_is_refused_naming_the_file() {
        let d = tmp("flip");
        Manifest::of_folder(&d, "run").unwrap().write(&d).unwrap();
        let mut bytes = fs::read(d.join("model.safetensors")).unwrap();
        bytes[1234] ^= 0x40;
        fs::write(d.join("model.safetensors"), &bytes).unwrap();
        let e = verify_files(&d, &["config.toml", "model.safetensors"]).unwrap_err();
        assert!(matches!(e, IntegrityError::Mismatch(_)), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("model.safetensors is damaged") && text.contains("rewardlab verify"),
            "{text}"
        );
        // The files not asked for are not read.
        assert!(verify_files(&d, &["config.toml"]).is_ok());
        let report = verify_folder(&d).unwrap();
        assert_eq!(report.problems.len(), 1);
        assert!(!report.is_intact());
    }

    #[test]
    fn a_truncated_or_missing_file_is_refused() {
        let d = tmp("cut");
        Manifest::of_folder(&d, "run").unwrap().write(&d).unwrap();
        fs::write(d.join("model.safetensors"), vec![7u8; 2999]).unwrap();
        let e = verify_files(&d, &["model.safetensors"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("2999 bytes, 3000 expected"), "{e}");
        fs::remove_file(d.join("config.toml")).unwrap();
        let e = verify_files(&d, &["config.toml"]).unwrap_err();
        assert!(matches!(e, IntegrityError::Missing { .. }), "{e}");
        assert_eq!(verify_folder(&d).unwrap().problems.len(), 2);
    }

    #[test]
    fn an_unlisted_file_is_refused_when_read_and_reported_by_a_folder_check() {
        let d = tmp("unlisted");
        Manifest::of_folder(&d, "run").unwrap().write(&d).unwrap();
        fs::write(d.join("tokenizer.json"), b"{}").unwrap();
        let e = verify_files(&d, &["tokenizer.json"]).unwrap_err();
        assert!(matches!(e, IntegrityError::Unlisted { .. }), "{e}");
        // Absent and unlisted: an optional file, left to the reader.
        assert!(verify_files(&d, &["heldout_scores.csv"]).is_ok());
        let report = verify_folder(&d).unwrap();
        assert!(report.is_intact());
        assert_eq!(report.unlisted, ["tokenizer.json"]);
    }

    #[test]
    fn a_folder_without_a_manifest_loads_unverified_with_a_note() {
        let d = tmp("legacy");
        let v = verify_files(&d, &["model.safetensors"]).unwrap();
        assert!(v.note().unwrap().contains("no manifest.json"), "{v:?}");
        assert!(!verify_folder(&d).unwrap().is_intact());
    }

    #[test]
    fn a_manifest_that_is_not_one_or_escapes_its_folder_is_refused() {
        let d = tmp("bad");
        fs::write(d.join(MANIFEST_FILE), "{ not json").unwrap();
        let e = verify_files(&d, &["config.toml"]).unwrap_err().to_string();
        assert!(e.contains("manifest.json: not a rewardlab manifest"), "{e}");
        let mut m = Manifest::new("run");
        m.add_bytes("../outside", b"x");
        m.write(&d).unwrap();
        let e = Manifest::read(&d).unwrap_err().to_string();
        assert!(
            e.contains("`../outside` is not a path inside the folder"),
            "{e}"
        );
    }

    #[test]
    fn removing_the_manifest_marks_the_folder_incomplete() {
        let d = tmp("remove");
        Manifest::of_folder(&d, "run").unwrap().write(&d).unwrap();
        Manifest::remove(&d).unwrap();
        Manifest::remove(&d).unwrap();
        assert!(Manifest::read(&d).unwrap().is_none());
    }
}
