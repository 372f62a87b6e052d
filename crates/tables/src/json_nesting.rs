//! A bound on how deeply a JSON or JSON-lines table nests, checked before polars reads it.
//!
//! polars' JSON reader recurses once per level of nesting, and a file of a few hundred thousand
//! `[` overflowed the main thread's stack (found by `scripts/fuzz imagerewarddb`): the process
//! aborts, past any `catch_unwind`. A table's records nest two or three levels deep (an array of
//! records holding lists), so the file is scanned once, streaming, and refused past
//! [`DEEPEST`] levels with the line where it went too deep.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::TableError;

/// The deepest nesting of arrays and objects a table may have.
pub const DEEPEST: usize = 64;

/// Refuses a JSON or JSON-lines file whose arrays and objects nest deeper than [`DEEPEST`].
/// Brackets inside strings do not count; the scan does not otherwise check the syntax, which the
/// reader does after it.
pub fn check_nesting(path: &Path) -> Result<(), TableError> {
    let file = File::open(path).map_err(TableError::io(path))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = [0u8; 1 << 16];
    let (mut depth, mut line) = (0usize, 1u64);
    let (mut in_string, mut escaped) = (false, false);
    loop {
        let n = reader.read(&mut buf).map_err(TableError::io(path))?;
        if n == 0 {
            return Ok(());
        }
        for &b in &buf[..n] {
            if b == b'\n' {
                line += 1;
            }
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > DEEPEST {
                        return Err(TableError::Invalid {
                            path: path.to_path_buf(),
                            message: format!(
                                "line {line}: arrays and objects nest more than {DEEPEST} levels \
                                 deep; a table's records nest a few levels at most"
                            ),
                        });
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rewardlab-nesting-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn records_with_lists_pass() {
        let path = file(
            "ok.json",
            r#"[{"a": [1, [2, {"b": "[[[["}]]}, {"a": "\"["}]"#,
        );
        check_nesting(&path).unwrap();
    }

    #[test]
    fn the_deepest_allowed_passes_and_one_more_is_refused_naming_the_line() {
        let at = |d: usize| format!("\n[{}1{}]", "[".repeat(d - 1), "]".repeat(d - 1));
        check_nesting(&file("64.json", &at(DEEPEST))).unwrap();
        let err = check_nesting(&file("65.json", &at(DEEPEST + 1)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("65.json: line 2: arrays and objects nest more than 64"),
            "{err}"
        );
    }

    #[test]
    fn brackets_in_strings_and_after_escaped_quotes_do_not_count() {
        let deep_in_string = format!(r#"[{{"a": "\"{}"}}]"#, "[".repeat(1000));
        check_nesting(&file("s.json", &deep_in_string)).unwrap();
    }
}
