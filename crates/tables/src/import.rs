//! Tabular sources: ImageRewardDB as released on Hugging Face (per-split JSON and metadata
//! Parquet), and generic CSV / TSV / JSONL / JSON / Parquet files with a column mapping.
//!
//! A mapping says which source column holds each canonical field (`prompt`, `prompt_id`,
//! `category`, `expected_images`, `generation_id`, `image`, `annotator`, `rank`, `overall`,
//! `alignment`, `fidelity`, `harmlessness`). Only `prompt` is required. It is written as the
//! `[columns]` table of a `dataset.toml`, or as `--map field=column` on the command line.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use annotations::{Dataset, DatasetMeta, ImagesState};
use polars::prelude::*;

use crate::TableError;
use crate::columns::{FIELDS, extract};

/// Canonical field -> source column, plus the metadata the source cannot say itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Mapping {
    pub meta: DatasetMeta,
}

impl Mapping {
    /// Reads a `dataset.toml` with a `[columns]` table.
    pub fn from_toml(path: &Path) -> Result<Self, TableError> {
        let meta = DatasetMeta::read(path)?;
        let m = Self { meta };
        m.check(path)?;
        Ok(m)
    }

    /// Adds `field=column` pairs (command-line overrides).
    pub fn with_pairs(mut self, pairs: &[String]) -> Result<Self, TableError> {
        for p in pairs {
            let (field, column) = p.split_once('=').ok_or_else(|| TableError::Invalid {
                path: PathBuf::from("--map"),
                message: format!("`{p}` is not of the form field=column"),
            })?;
            self.meta
                .columns
                .insert(field.trim().to_string(), column.trim().to_string());
        }
        self.check(Path::new("--map"))?;
        Ok(self)
    }

    fn check(&self, path: &Path) -> Result<(), TableError> {
        for field in self.meta.columns.keys() {
            if !FIELDS.contains(&field.as_str()) {
                return Err(TableError::Invalid {
                    path: path.to_path_buf(),
                    message: format!(
                        "unknown canonical field `{field}` in the column mapping (known: {})",
                        FIELDS.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Reads a table by its extension: `.csv`, `.tsv`, `.jsonl`/`.ndjson`, `.json` (an array of
/// records) or `.parquet`.
pub fn read_frame(path: &Path) -> Result<DataFrame, TableError> {
    // polars' text readers panic on some input (an integer past 64 bits in JSON, found by
    // `scripts/fuzz`): caught, and reported naming the file.
    crate::panics::guarded(|| read_frame_unguarded(path)).unwrap_or_else(|p| {
        Err(TableError::Invalid {
            path: path.to_path_buf(),
            message: format!("polars could not read it ({p})"),
        })
    })
}

fn read_frame_unguarded(path: &Path) -> Result<DataFrame, TableError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext != "parquet" {
        sniff_text(path, ext != "json")?;
    }
    if matches!(ext.as_str(), "json" | "jsonl" | "ndjson") {
        crate::json_nesting::check_nesting(path)?;
    }
    let open = || File::open(path).map_err(TableError::io(path));
    let pl = TableError::polars(path);
    match ext.as_str() {
        "parquet" => crate::parquet::read_parquet(path),
        "csv" | "tsv" => {
            let sep = if ext == "tsv" { b'\t' } else { b',' };
            CsvReadOptions::default()
                .with_has_header(true)
                .with_infer_schema_length(Some(0)) // every column as text: bad cells become row problems
                .with_parse_options(CsvParseOptions::default().with_separator(sep))
                .into_reader_with_file_handle(open()?)
                .finish()
                .map_err(|e| ragged_line(path, sep).unwrap_or_else(|| pl(e)))
        }
        "jsonl" | "ndjson" => JsonReader::new(open()?)
            .with_json_format(JsonFormat::JsonLines)
            .finish()
            .map_err(|e| json_fault(path, true).unwrap_or_else(|| pl(e))),
        "json" if !starts_with_array(path)? => Err(TableError::Invalid {
            path: path.to_path_buf(),
            message: "a .json table is an array of records ([{...}, {...}]); this file holds \
                      something else (JSON lines go in a .jsonl file)"
                .into(),
        }),
        "json" => JsonReader::new(open()?)
            .with_json_format(JsonFormat::Json)
            .finish()
            .map_err(|e| json_fault(path, false).unwrap_or_else(|| pl(e))),
        _ => Err(TableError::Invalid {
            path: path.to_path_buf(),
            message:
                "unknown table format (expected .csv, .tsv, .jsonl, .ndjson, .json or .parquet)"
                    .into(),
        }),
    }
}

/// Whether a `.json` file's first character (after white space and a byte-order mark) opens an
/// array: polars reads a lone object as a table of one row.
fn starts_with_array(path: &Path) -> Result<bool, TableError> {
    use std::io::Read;
    let mut head = Vec::new();
    File::open(path)
        .map_err(TableError::io(path))?
        .take(1 << 16)
        .read_to_end(&mut head)
        .map_err(TableError::io(path))?;
    let head = head.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&head);
    Ok(head.trim_ascii_start().first() == Some(&b'['))
}

/// The first line of a CSV file whose number of fields differs from the header's, for polars'
/// "found more fields than defined in 'Schema'", which names no line. Fields are counted as
/// CSV quotes them (a quoted separator or line break does not count).
fn ragged_line(path: &Path, sep: u8) -> Option<TableError> {
    let bytes = std::fs::read(path).ok()?;
    let (mut line, mut record_line, mut fields, mut quoted) = (1usize, 1usize, 1usize, false);
    let mut header = None;
    let mut blank = true;
    for &b in &bytes {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => {
                if !blank {
                    match header {
                        None => header = Some(fields),
                        Some(h) if h != fields => {
                            return Some(TableError::Invalid {
                                path: path.to_path_buf(),
                                message: format!(
                                    "line {record_line} has {fields} fields, the header {h}"
                                ),
                            });
                        }
                        Some(_) => {}
                    }
                }
                line += 1;
                record_line = line;
                fields = 1;
                blank = true;
                continue;
            }
            b'\n' => line += 1,
            b'\r' => continue,
            _ if b == sep && !quoted => fields += 1,
            _ => {}
        }
        blank = false;
    }
    match header {
        Some(h) if !blank && h != fields => Some(TableError::Invalid {
            path: path.to_path_buf(),
            message: format!("line {record_line} has {fields} fields, the header {h}"),
        }),
        _ => None,
    }
}

/// Where a JSON or JSON-lines file polars refused stops being JSON, by line and column (polars
/// names a character offset into its own buffer, 0 for every JSON-lines fault); `None` when the
/// file is valid JSON, polars having refused its shape instead.
fn json_fault(path: &Path, lines: bool) -> Option<TableError> {
    let bytes = std::fs::read(path).ok()?;
    let invalid = |message: String| TableError::Invalid {
        path: path.to_path_buf(),
        message: format!("not valid JSON: {message}"),
    };
    // serde_json's message without its own " at line L column C", which is given first here.
    let what = |e: &serde_json::Error| {
        let text = e.to_string();
        text.rsplit_once(" at line ")
            .map_or(text.clone(), |(what, _)| what.to_string())
    };
    if !lines {
        let e = serde_json::from_slice::<serde_json::Value>(&bytes).err()?;
        return Some(invalid(format!(
            "line {}, column {}: {}",
            e.line(),
            e.column(),
            what(&e)
        )));
    }
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.trim_ascii().is_empty())
        .find_map(|(i, line)| {
            let e = serde_json::from_slice::<serde_json::Value>(line).err()?;
            Some(invalid(format!(
                "line {}, column {}: {}",
                i + 1,
                e.column(),
                what(&e)
            )))
        })
}

/// Refuses a file that cannot be a text table before polars reads it: a NUL byte in its first
/// mebibyte (binary data; polars spent over ten minutes and a gigabyte on 2 GB of NULs before
/// this check), or, for line formats, no line break in its first 16 MiB.
fn sniff_text(path: &Path, lines: bool) -> Result<(), TableError> {
    use std::io::Read;
    const LONGEST_LINE: u64 = 16 << 20;
    let invalid = |message: String| TableError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let mut head = Vec::new();
    File::open(path)
        .map_err(TableError::io(path))?
        .take(LONGEST_LINE)
        .read_to_end(&mut head)
        .map_err(TableError::io(path))?;
    if let Some(at) = head.iter().take(1 << 20).position(|&b| b == 0) {
        return Err(invalid(format!(
            "a NUL byte at byte {at}: binary data, not a text table"
        )));
    }
    if lines && head.len() as u64 == LONGEST_LINE && !head.contains(&b'\n') {
        return Err(invalid(format!(
            "no line break in the first {} MiB: not a table of one row per line",
            LONGEST_LINE >> 20
        )));
    }
    Ok(())
}

/// Reads a generic table with a column mapping. Images are looked for relative to the table's
/// folder or, failing that, one of its parents (ImageRewardDB's per-split JSON sits in
/// `images/train/` but names images from the repository root); the dataset is annotation-only
/// when no image column is mapped or none of the images is found.
pub fn read_mapped(path: &Path, mapping: &Mapping) -> Result<Dataset, TableError> {
    let df = read_frame(path)?;
    let cols = &mapping.meta.columns;
    let column_of = |f: &str| cols.get(f).cloned();
    let ex = extract(&df, path, &column_of)?;
    let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let images: Vec<Option<&str>> = ex.rows.iter().map(|r| r.image.as_deref()).collect();
    let root = image_root(&folder, &images);
    let mut meta = mapping.meta.clone();
    meta.images = if cols.contains_key("image") {
        ImagesState::detect(&root, images.iter().copied())
    } else {
        ImagesState::Absent
    };
    let mut ds = Dataset::new(meta, path, root, ex.rows);
    ds.read_problems = ex.problems;
    Ok(ds)
}

/// The folder that relative image paths start from: the table's own folder, or the nearest parent
/// in which the first listed image exists.
fn image_root(folder: &Path, images: &[Option<&str>]) -> PathBuf {
    let Some(first) = images.iter().flatten().next() else {
        return folder.to_path_buf();
    };
    folder
        .ancestors()
        .find(|dir| dir.join(first).is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| folder.to_path_buf())
}

/// ImageRewardDB's released columns (Hugging Face `THUDM/ImageRewardDB`, per-split JSON and the
/// metadata Parquet): `image_path`, `prompt_id`, `prompt`, `classification`,
/// `image_amount_in_total`, `rank`, `overall_rating`, `image_text_alignment_rating`,
/// `fidelity_rating`. There is no harmlessness rating in the release.
pub fn imagerewarddb(path: &Path) -> Result<Dataset, TableError> {
    let columns: HashMap<String, String> = [
        ("image", "image_path"),
        ("generation_id", "image_path"),
        ("prompt_id", "prompt_id"),
        ("prompt", "prompt"),
        ("category", "classification"),
        ("expected_images", "image_amount_in_total"),
        ("rank", "rank"),
        ("overall", "overall_rating"),
        ("alignment", "image_text_alignment_rating"),
        ("fidelity", "fidelity_rating"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let mut meta = DatasetMeta::new("imagerewarddb", "imagerewarddb");
    meta.description = "ImageRewardDB (THUDM) rankings and 1..7 ratings".into();
    meta.columns = columns;
    // ImageRewardDB's annotators ranked into 5 tiers: a prompt of 4 images may have rank 5.
    meta.rank_tiers = Some(5);
    read_mapped(path, &Mapping { meta })
}

#[cfg(test)]
mod tests {
    use super::*;
    use annotations::Criterion;
    use annotations::validate::{Checks, validate};

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("rewardlab-import-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Two prompts in ImageRewardDB's released schema; p2 declares 3 images but has 2.
    fn irdb_records() -> serde_json::Value {
        let rec = |img: &str, pid: &str, total: u32, rank: u32, o: f64, a: f64, f: f64| {
            serde_json::json!({"image_path": img, "prompt_id": pid, "prompt": format!("prompt {pid}"),
                "classification": "People", "image_amount_in_total": total, "rank": rank,
                "overall_rating": o, "image_text_alignment_rating": a, "fidelity_rating": f})
        };
        serde_json::json!([
            rec("train/p1/a.webp", "p1", 2, 1, 6.0, 7.0, 5.0),
            rec("train/p1/b.webp", "p1", 2, 2, 3.0, 4.0, 2.0),
            rec("train/p2/a.webp", "p2", 3, 1, 5.0, 5.0, 5.0),
            rec("train/p2/b.webp", "p2", 3, 1, 5.0, 5.0, 5.0),
        ])
    }

    #[test]
    fn a_ragged_csv_line_is_named() {
        let dir = tmp("ragged");
        let path = dir.join("t.csv");
        std::fs::write(&path, "prompt,rank\n\"a, b\",1\n\"c\nd\",2\ne,3,4\n").unwrap();
        let err = read_frame(&path).unwrap_err().to_string();
        assert!(
            err.contains("t.csv: line 5 has 3 fields, the header 2"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_json_table_that_is_not_an_array_is_refused() {
        let dir = tmp("json-object");
        let path = dir.join("t.json");
        std::fs::write(&path, " {\"prompt\": \"a\"}").unwrap();
        let err = read_frame(&path).unwrap_err().to_string();
        assert!(
            err.contains("t.json: a .json table is an array of records"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn broken_json_is_reported_by_line_and_column() {
        let dir = tmp("json-fault");
        let lines = dir.join("t.jsonl");
        std::fs::write(
            &lines,
            "{\"prompt\": \"a\"}\n\n{\"prompt\": \"b\", \"rank\n",
        )
        .unwrap();
        let err = read_frame(&lines).unwrap_err().to_string();
        assert!(
            err.contains("t.jsonl: not valid JSON: line 3, column"),
            "{err}"
        );
        let array = dir.join("t.json");
        std::fs::write(&array, "[{\"prompt\": \"a\"}]\n ]]").unwrap();
        let err = read_frame(&array).unwrap_err().to_string();
        assert!(
            err.contains("t.json: not valid JSON: line 2, column 2: trailing characters"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn imagerewarddb_json_and_parquet_read_alike() {
        let dir = tmp("irdb");
        let json = dir.join("train.json");
        std::fs::write(&json, irdb_records().to_string()).unwrap();
        let a = imagerewarddb(&json).unwrap();
        assert_eq!(a.rows.len(), 4);
        assert_eq!(a.rows[0].rating(Criterion::Alignment), Some(7.0));
        assert_eq!(a.rows[0].rating(Criterion::Harmlessness), None);
        assert_eq!(a.rows[1].rank, Some(2));
        assert_eq!(a.rows[0].category.as_deref(), Some("People"));
        assert_eq!(a.meta.images, ImagesState::Absent);
        // the Parquet release has the same columns
        let mut df = read_frame(&json).unwrap();
        let pq = dir.join("metadata-train.parquet");
        ParquetWriter::new(File::create(&pq).unwrap())
            .finish(&mut df)
            .unwrap();
        let b = imagerewarddb(&pq).unwrap();
        assert_eq!(a.rows, b.rows);
        // p2 declares three images but has two: reported on its first row with the source column
        let problems = validate(&a, Checks::default());
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(
            (problems[0].row, problems[0].field.as_str()),
            (Some(3), "image_amount_in_total")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn generic_csv_with_mapping_reports_bad_cells_by_row_and_column() {
        let dir = tmp("csv");
        let csv = dir.join("ratings.csv");
        std::fs::write(&csv, "caption,file,score,who\na cat,1.png,5,u1\na cat,2.png,abc,u1\na dog,3.png,2,u2\na dog,4.png,3,u2\n").unwrap();
        let mut meta = DatasetMeta::new("mine", "csv");
        meta.scale = annotations::Scale { min: 1, max: 5 };
        let mapping = Mapping { meta }
            .with_pairs(&[
                "prompt=caption".into(),
                "image=file".into(),
                "alignment=score".into(),
                "annotator=who".into(),
            ])
            .unwrap();
        let ds = read_mapped(&csv, &mapping).unwrap();
        assert_eq!(ds.rows.len(), 4);
        assert_eq!(
            ds.rows[0].prompt_id, ds.rows[1].prompt_id,
            "prompt ids derive from the text"
        );
        assert_ne!(ds.rows[0].prompt_id, ds.rows[2].prompt_id);
        assert_eq!(ds.rows[0].generation_id, "1.png");
        let problems = validate(&ds, Checks::default());
        assert_eq!(problems.len(), 1, "{problems:#?}");
        let p = &problems[0];
        assert_eq!((p.row, p.field.as_str()), (Some(2), "score"));
        assert!(p.message.contains("`abc` is not a number") && p.file.ends_with("ratings.csv"));
        // JSONL with the same content reads the same
        let jsonl = dir.join("ratings.jsonl");
        let df = read_frame(&csv).unwrap();
        JsonWriter::new(File::create(&jsonl).unwrap())
            .with_json_format(JsonFormat::JsonLines)
            .finish(&mut df.clone())
            .unwrap();
        assert_eq!(read_mapped(&jsonl, &mapping).unwrap().rows.len(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mapping_errors_are_clear() {
        let m = Mapping {
            meta: DatasetMeta::new("x", "csv"),
        };
        let err = m
            .clone()
            .with_pairs(&["colour=c".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown canonical field `colour`"), "{err}");
        let err = m
            .clone()
            .with_pairs(&["prompt".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("field=column"), "{err}");
        let dir = tmp("nomap");
        let csv = dir.join("t.csv");
        std::fs::write(&csv, "a,b\n1,2\n").unwrap();
        let err = read_mapped(&csv, &m.with_pairs(&["prompt=text".into()]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no column `text`") && err.contains("a, b"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
