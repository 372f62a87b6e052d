//! Scratch files for the targets: each input is written where a reader finds it, in a folder
//! of this thread's own (in memory under `/dev/shm` where there is one), and errors are checked
//! to name that file.

use std::cell::RefCell;
use std::error::Error;
use std::path::{Path, PathBuf};

/// This thread's scratch folder, removed when the thread ends (a test thread; libFuzzer's
/// process is killed with it, and the pid in the name keeps runs apart).
struct Folder(PathBuf);

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

thread_local! {
    static FOLDER: RefCell<Option<Folder>> = const { RefCell::new(None) };
}

fn base() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// An empty folder for one input (emptied on every call).
pub fn folder() -> PathBuf {
    FOLDER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let dir = slot
            .get_or_insert_with(|| {
                let id = format!("{:?}", std::thread::current().id());
                let id: String = id.chars().filter(char::is_ascii_digit).collect();
                Folder(base().join(format!("rewardlab-fuzz-{}-{id}", std::process::id())))
            })
            .0
            .clone();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the scratch folder can be created");
        dir
    })
}

/// Writes `bytes` as `name` in a fresh scratch folder and returns its path.
pub fn file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = folder().join(name);
    write(&path, bytes);
    path
}

/// Writes `bytes` at `path` (in a scratch folder).
pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("the scratch folder can be created");
    }
    std::fs::write(path, bytes).expect("the scratch file can be written");
}

/// An error and its sources, as the command line prints them.
pub fn report(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// The value of `result`, or `None` after checking that the error names `path`'s file: a user
/// told "invalid value" without the file cannot find what to fix.
pub fn named<T, E: Error>(result: Result<T, E>, path: &Path) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(e) => {
            let message = report(&e);
            let name = path
                .file_name()
                .expect("scratch files have names")
                .to_string_lossy();
            assert!(
                message.contains(name.as_ref()),
                "the error does not name the file `{name}`: {message}"
            );
            None
        }
    }
}
