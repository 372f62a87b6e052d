//! The canonical dataset folder: `dataset.toml` (metadata), `annotations.parquet` (one row per
//! judgment, columns as in [`crate::columns::FIELDS`]) and `images/`, and, when rewardlab wrote
//! the folder, `manifest.json` (every file's SHA-256, written last by [`seal_dataset`]), against
//! which [`read_dataset`] checks the two tables.

use std::path::{Path, PathBuf};

use annotations::validate::Quarantined;
use annotations::{Dataset, DatasetMeta, ImagesState};
use polars::prelude::*;

use crate::TableError;
use crate::columns::{extract, frame};

pub const META_FILE: &str = "dataset.toml";
pub const ANNOTATIONS_FILE: &str = "annotations.parquet";
pub const QUARANTINE_FILE: &str = "quarantine.csv";
/// Everything rewardlab writes into a dataset folder (`import`, `synth`): what `--force` may
/// replace. A folder holding anything else is not replaced.
pub const DATASET_ENTRIES: [&str; 7] = [
    META_FILE,
    ANNOTATIONS_FILE,
    QUARANTINE_FILE,
    "images",
    "ground_truth.csv",
    "world.json",
    integrity::MANIFEST_FILE,
];

/// Reads a canonical dataset folder. Values of the wrong type become read problems (reported by
/// validation with their row), so that one bad cell does not hide the others.
pub fn read_dataset(dir: &Path) -> Result<Dataset, TableError> {
    read_dataset_checked(dir).map(|(ds, _)| ds)
}

/// [`read_dataset`], saying how the tables were checked (a folder without a manifest is read
/// unverified: [`integrity::Verified::note`] says so).
pub fn read_dataset_checked(dir: &Path) -> Result<(Dataset, integrity::Verified), TableError> {
    if !dir.is_dir() {
        return Err(TableError::Invalid {
            path: dir.to_path_buf(),
            message: "not a dataset folder (expected dataset.toml and annotations.parquet in it)"
                .into(),
        });
    }
    let verified = integrity::verify_files(dir, &[META_FILE, ANNOTATIONS_FILE])?;
    let meta = DatasetMeta::read(&dir.join(META_FILE))?;
    let path = dir.join(ANNOTATIONS_FILE);
    let df = crate::parquet::read_parquet(&path)?;
    for required in ["prompt_id", "prompt", "generation_id"] {
        if df.column(required).is_err() {
            return Err(crate::columns::missing(&df, &path, required));
        }
    }
    let present: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let column_of = |f: &str| present.iter().any(|c| c == f).then(|| f.to_string());
    let ex = extract(&df, &path, &column_of)?;
    let mut ds = Dataset::new(
        DatasetMeta {
            columns: Default::default(),
            ..meta
        },
        path,
        dir,
        ex.rows,
    );
    ds.read_problems = ex.problems;
    Ok((ds, verified))
}

/// The `kind` of a dataset folder's manifest.
pub const DATASET_KIND: &str = "dataset";

/// Writes the manifest of a dataset folder that is complete: every file in it, images included
/// (which `rewardlab verify` checks; readers check the two tables).
pub fn seal_dataset(dir: &Path) -> Result<(), TableError> {
    integrity::Manifest::of_folder(dir, DATASET_KIND)?.write(dir)?;
    Ok(())
}

/// Writes `dataset.toml` and `annotations.parquet` into `dir` (created if needed). Images are not
/// touched: see [`copy_images`]. The metadata's column map is not written: in the canonical folder
/// every column has its canonical name.
pub fn write_dataset(ds: &Dataset, dir: &Path) -> Result<(), TableError> {
    std::fs::create_dir_all(dir).map_err(TableError::io(dir))?;
    let meta = DatasetMeta {
        columns: Default::default(),
        ..ds.meta.clone()
    };
    let meta_path = dir.join(META_FILE);
    integrity::write_atomic(&meta_path, meta.to_toml().as_bytes())?;
    let path = dir.join(ANNOTATIONS_FILE);
    let mut df = frame(&ds.rows).map_err(TableError::polars(&path))?;
    integrity::write_atomic_with(&path, |file| {
        ParquetWriter::new(file)
            .finish(&mut df)
            .map(drop)
            .map_err(TableError::polars(&path))
    })
}

/// Writes the quarantined rows with their reasons as CSV (canonical columns, the source row and
/// `reason`), for a person to read and fix.
pub fn write_quarantine(rows: &[Quarantined], path: &Path) -> Result<(), TableError> {
    let plain: Vec<_> = rows.iter().map(|q| q.row.clone()).collect();
    let mut df = frame(&plain).map_err(TableError::polars(path))?;
    let source_row: Vec<i64> = rows.iter().map(|q| q.row.source_row as i64).collect();
    let reason: Vec<String> = rows.iter().map(|q| q.reasons.join("; ")).collect();
    df.with_column(Column::new("source_row".into(), source_row))
        .map_err(TableError::polars(path))?;
    df.with_column(Column::new("reason".into(), reason))
        .map_err(TableError::polars(path))?;
    integrity::write_atomic_with(path, |file| {
        CsvWriter::new(file)
            .finish(&mut df)
            .map_err(TableError::polars(path))
    })
}

/// Copies a dataset's images into `dir/images/`, keeping their relative layout, and returns the
/// dataset with image paths rewritten to the new place. Images that are absent are left as they
/// are (validation reports them).
pub fn copy_images(ds: &Dataset, dir: &Path) -> Result<Dataset, TableError> {
    let mut out = ds.clone();
    if ds.meta.images == ImagesState::Absent {
        return Ok(out);
    }
    let mut done = std::collections::HashMap::<String, String>::new();
    for row in &mut out.rows {
        let Some(rel) = row.image.clone() else {
            continue;
        };
        if let Some(new) = done.get(&rel) {
            row.image = Some(new.clone());
            continue;
        }
        let src = ds.root.join(&rel);
        let tail = rel.strip_prefix("images/").unwrap_or(&rel);
        let new_rel = format!("images/{tail}");
        if src.is_file() {
            let dst: PathBuf = dir.join(&new_rel);
            if let Some(parent) = dst.parent() {
                std::fs::create_dir_all(parent).map_err(TableError::io(parent))?;
            }
            if src != dst {
                std::fs::copy(&src, &dst).map_err(TableError::io(&src))?;
            }
        }
        done.insert(rel, new_rel.clone());
        row.image = Some(new_rel);
    }
    out.root = dir.to_path_buf();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::FIELDS;
    use annotations::{Criterion, Row};
    use std::fs::File;

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("rewardlab-tables-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn sample() -> Dataset {
        let rows = (0..4)
            .map(|i| Row {
                prompt_id: format!("p{}", i / 2),
                prompt: format!("prompt {}", i / 2),
                category: Some("counting".into()),
                expected_images: Some(2),
                generation_id: format!("g{i}"),
                image: None,
                annotator: (i % 2 == 0).then(|| "a1".to_string()),
                rank: Some((i % 2 + 1) as u32),
                ratings: annotations::PerCriterion::from_array([Some(7.0), None, Some(3.0), None]),
                source_row: i + 1,
            })
            .collect();
        let mut meta = DatasetMeta::new("sample", "test");
        meta.images = ImagesState::Absent;
        Dataset::new(meta, "x", ".", rows)
    }

    #[test]
    fn canonical_round_trip_keeps_every_field() {
        let dir = tmp("roundtrip");
        let ds = sample();
        write_dataset(&ds, &dir).unwrap();
        let back = read_dataset(&dir).unwrap();
        assert_eq!(back.rows, ds.rows);
        assert_eq!(back.meta, ds.meta);
        assert!(back.read_problems.is_empty());
        assert_eq!(back.origin, dir.join(ANNOTATIONS_FILE));
        let df = ParquetReader::new(File::open(dir.join(ANNOTATIONS_FILE)).unwrap())
            .finish()
            .unwrap();
        let names: Vec<_> = df
            .get_column_names()
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(names, FIELDS);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_column_and_missing_folder_are_named() {
        let dir = tmp("missing");
        write_dataset(&sample(), &dir).unwrap();
        let mut df = df!("prompt_id" => ["a"], "prompt" => ["b"]).unwrap();
        ParquetWriter::new(File::create(dir.join(ANNOTATIONS_FILE)).unwrap())
            .finish(&mut df)
            .unwrap();
        let err = read_dataset(&dir).unwrap_err().to_string();
        assert!(
            err.contains("annotations.parquet") && err.contains("`generation_id`"),
            "{err}"
        );
        let err = read_dataset(&dir.join("nope")).unwrap_err().to_string();
        assert!(err.contains("not a dataset folder"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn quarantine_file_has_reasons() {
        let dir = tmp("quarantine");
        std::fs::create_dir_all(&dir).unwrap();
        let mut ds = sample();
        ds.rows[1].ratings[Criterion::Overall] = Some(9.0);
        let (_, q) = annotations::validate::quarantine(ds, Default::default());
        write_quarantine(&q, &dir.join(QUARANTINE_FILE)).unwrap();
        let text = std::fs::read_to_string(dir.join(QUARANTINE_FILE)).unwrap();
        assert!(text.lines().next().unwrap().ends_with("source_row,reason"));
        assert!(text.contains("outside the declared scale"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Every validation rule, each from a bad file on disk: the dataset is written, broken in the
/// way the rule is about, read back and validated; the problem must name the file, row and field.
#[cfg(test)]
mod bad_files {
    use super::*;
    use annotations::validate::{Checks, validate};
    use annotations::{Criterion, Row};
    use std::fs::File;

    fn good(dir: &Path) -> Dataset {
        let rows: Vec<Row> = (0..6)
            .map(|i| Row {
                prompt_id: format!("p{}", i / 3),
                prompt: format!("a red circle number {}", i / 3),
                category: Some("single_object".into()),
                expected_images: Some(3),
                generation_id: format!("g{i}"),
                image: Some(format!("images/g{i}.png")),
                annotator: Some("a1".into()),
                rank: Some((i % 3 + 1) as u32),
                ratings: annotations::PerCriterion::from_array([
                    Some(4.0),
                    Some(5.0),
                    Some(6.0),
                    Some(7.0),
                ]),
                source_row: i + 1,
            })
            .collect();
        std::fs::create_dir_all(dir.join("images")).unwrap();
        for i in 0..6u8 {
            image::RgbImage::from_pixel(8, 8, image::Rgb([i * 30, 10, 10]))
                .save(dir.join(format!("images/g{i}.png")))
                .unwrap();
        }
        Dataset::new(DatasetMeta::new("bad", "test"), "x", dir, rows)
    }

    /// Writes `ds` as a canonical folder, applies `damage` on disk, and validates what is read back.
    fn problems_of(
        name: &str,
        edit: impl Fn(&mut Dataset),
        damage: impl Fn(&Path),
    ) -> Vec<annotations::validate::Problem> {
        let dir =
            std::env::temp_dir().join(format!("rewardlab-badfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut ds = good(&dir);
        edit(&mut ds);
        write_dataset(&ds, &dir).unwrap();
        damage(&dir);
        let back = read_dataset(&dir).unwrap();
        let p = validate(&back, Checks::default());
        std::fs::remove_dir_all(&dir).unwrap();
        p
    }

    fn expect(
        name: &str,
        edit: impl Fn(&mut Dataset),
        damage: impl Fn(&Path),
        row: usize,
        field: &str,
        words: &str,
    ) {
        let p = problems_of(name, edit, damage);
        assert!(
            p.iter().any(|p| p.row == Some(row)
                && p.field == field
                && p.message.contains(words)
                && p.file.ends_with(ANNOTATIONS_FILE)),
            "{name}: expected row {row} field {field} `{words}`, got {p:#?}"
        );
    }

    fn none(_: &Path) {}

    #[test]
    fn the_good_file_is_clean() {
        assert!(problems_of("good", |_| {}, none).is_empty());
    }

    #[test]
    fn rating_outside_scale_or_nan() {
        expect(
            "scale",
            |d| d.rows[2].ratings[Criterion::Fidelity] = Some(8.0),
            none,
            3,
            "fidelity",
            "outside the declared scale 1..7",
        );
        expect(
            "nan",
            |d| d.rows[4].ratings[Criterion::Overall] = Some(f32::NAN),
            none,
            5,
            "overall",
            "NaN",
        );
    }

    #[test]
    fn duplicate_ids() {
        expect(
            "dup",
            |d| d.rows[1].generation_id = "g0".into(),
            none,
            2,
            "generation_id",
            "duplicate id",
        );
    }

    #[test]
    fn rank_outside_range() {
        expect(
            "rank",
            |d| d.rows[5].rank = Some(4),
            none,
            6,
            "rank",
            "outside 1..3",
        );
    }

    #[test]
    fn image_count_disagrees() {
        expect(
            "count",
            |d| {
                d.rows[3..6]
                    .iter_mut()
                    .for_each(|r| r.expected_images = Some(4))
            },
            none,
            4,
            "expected_images",
            "declares 4 images but has 3",
        );
    }

    #[test]
    fn prompt_with_fewer_than_two_images() {
        expect(
            "single",
            |d| {
                d.rows.truncate(4);
                d.rows[3].expected_images = None;
                d.rows[3].rank = Some(1);
            },
            none,
            4,
            "generation_id",
            "at least two",
        );
    }

    #[test]
    fn empty_prompt_text() {
        expect(
            "empty",
            |d| {
                d.rows[0..3]
                    .iter_mut()
                    .for_each(|r| r.prompt = String::new())
            },
            none,
            1,
            "prompt",
            "empty prompt text",
        );
    }

    #[test]
    fn missing_empty_and_undecodable_images() {
        expect(
            "missing",
            |_| {},
            |dir| std::fs::remove_file(dir.join("images/g1.png")).unwrap(),
            2,
            "image",
            "missing image file",
        );
        expect(
            "zero",
            |_| {},
            |dir| std::fs::write(dir.join("images/g2.png"), b"").unwrap(),
            3,
            "image",
            "0 bytes",
        );
        expect(
            "garbage",
            |_| {},
            |dir| std::fs::write(dir.join("images/g3.png"), b"\x89PNG broken").unwrap(),
            4,
            "image",
            "undecodable",
        );
    }

    #[test]
    fn wrong_typed_cell_is_reported_by_row() {
        // a rank column holding text (a hand-edited file): reported for its row, other rows kept
        let p = problems_of(
            "typed",
            |_| {},
            |dir| {
                let path = dir.join(ANNOTATIONS_FILE);
                let mut df = ParquetReader::new(File::open(&path).unwrap())
                    .finish()
                    .unwrap();
                let ranks: Vec<Option<&str>> = vec![
                    Some("1"),
                    Some("two"),
                    Some("3"),
                    Some("1"),
                    Some("2"),
                    Some("3"),
                ];
                df.with_column(Column::new("rank".into(), ranks)).unwrap();
                ParquetWriter::new(File::create(&path).unwrap())
                    .finish(&mut df)
                    .unwrap();
            },
        );
        assert!(
            p.iter().any(|p| p.row == Some(2)
                && p.field == "rank"
                && p.message.contains("`two` is not a number")),
            "{p:#?}"
        );
    }
}
