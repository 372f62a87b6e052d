//! Pick-a-Pic (v1 and v2; Hugging Face `yuvalkirstain/pickapic_v1`, `pickapic_v2` and their
//! `_no_images` variants) as released: Parquet shards with one row per comparison, in which one
//! user (`user_id`) saw two images of a `caption` and chose one, or called it a tie.
//!
//! Columns read: `ranking_id`, `caption`, `user_id`, `label_0` and `label_1` (1 for the image
//! chosen, 0 for the other, 0.5 each for a tie), `image_0_uid` and `image_1_uid`, and, in the
//! variants with images, `jpg_0` and `jpg_1` (the encoded images). `has_label`, where present,
//! marks comparisons without a choice: their rows are kept unranked.
//!
//! Each comparison is its own prompt entry (`prompt_id` = `ranking_id`): a caption recurs across
//! comparisons of other image pairs by other users, and one user's choices in two of them are not
//! one ranking. Generation ids are `<ranking_id>/0` and `<ranking_id>/1`. Images are written once
//! per `image_N_uid` as `images/<uid>.jpg` in the dataset folder being built.

use std::collections::HashSet;
use std::path::Path;

use annotations::{Dataset, DatasetMeta, ImagesState, ReadProblem, Row};
use polars::prelude::*;

use crate::TableError;
use crate::columns::{missing, numbers, text};

/// Reads a Pick-a-Pic Parquet file. The images it holds are written under `images/` of
/// `images_to` (the dataset folder being built), which then is the dataset's root; a file without
/// images, or no `images_to`, gives an annotation-only dataset.
///
/// # Errors
///
/// When the file cannot be read as Parquet, lacks a column above, or an image cannot be written.
pub fn pickapic(path: &Path, images_to: Option<&Path>) -> Result<Dataset, TableError> {
    let df = crate::read_parquet(path)?;
    let mut problems = Vec::new();
    let ranking = text(&df, path, "ranking_id")?;
    let caption = text(&df, path, "caption")?;
    let user = text(&df, path, "user_id")?;
    let uids = [
        text(&df, path, "image_0_uid")?,
        text(&df, path, "image_1_uid")?,
    ];
    // Two rows per comparison, in order: a problem of comparison r is one of row 2r.
    let mut label_problems = Vec::new();
    let labels = [
        numbers(&df, path, "label_0", "rank", &mut label_problems)?,
        numbers(&df, path, "label_1", "rank", &mut label_problems)?,
    ];
    for p in label_problems {
        problems.push(ReadProblem {
            row: 2 * p.row,
            ..p
        });
    }
    let has_label = match df.column("has_label") {
        Ok(c) => Some(
            c.cast(&DataType::Boolean)
                .map_err(TableError::polars(path))?
                .bool()
                .map_err(TableError::polars(path))?
                .iter()
                .collect::<Vec<Option<bool>>>(),
        ),
        Err(_) => None,
    };
    let images = match images_to {
        Some(dir) if df.column("jpg_0").is_ok() || df.column("jpg_1").is_ok() => Some((
            dir.join("images"),
            [binary(&df, path, "jpg_0")?, binary(&df, path, "jpg_1")?],
        )),
        _ => None,
    };
    if let Some((dir, _)) = &images {
        std::fs::create_dir_all(dir).map_err(TableError::io(dir))?;
    }

    let mut rows = Vec::with_capacity(2 * df.height());
    let mut written = HashSet::new();
    for r in 0..df.height() {
        let id = ranking[r].clone().unwrap_or_else(|| {
            problems.push(ReadProblem {
                row: rows.len(),
                field: "prompt_id".into(),
                message: "no ranking_id".into(),
            });
            format!("row-{}", r + 1)
        });
        let ranks = match (labels[0][r], labels[1][r]) {
            _ if has_label.as_ref().and_then(|h| h[r]) == Some(false) => [None, None],
            // The image with the higher label is preferred; equal labels (0.5, 0.5) are a tie.
            (Some(a), Some(b)) if a.is_finite() && b.is_finite() => {
                [Some(1 + u32::from(b > a)), Some(1 + u32::from(a > b))]
            }
            (a, b) => {
                problems.push(ReadProblem {
                    row: rows.len(),
                    field: "rank".into(),
                    message: format!(
                        "label_0 {} and label_1 {}: a choice needs both labels",
                        shown(a),
                        shown(b)
                    ),
                });
                [None, None]
            }
        };
        for k in 0..2 {
            let file = format!("{}.jpg", file_stem(uids[k][r].as_deref(), r, k));
            // The folder is being built beside its place and moved in whole, so a plain write
            // is enough; each image is written once, however many comparisons show it.
            if let Some((dir, bytes)) = &images
                && let Some(bytes) = bytes[k][r].as_deref()
                && written.insert(file.clone())
            {
                let to = dir.join(&file);
                std::fs::write(&to, bytes).map_err(TableError::io(&to))?;
            }
            rows.push(Row {
                prompt_id: id.clone(),
                prompt: caption[r].clone().unwrap_or_default(),
                category: None,
                expected_images: None,
                generation_id: format!("{id}/{k}"),
                image: Some(format!("images/{file}")),
                annotator: user[r].clone(),
                rank: ranks[k],
                ratings: annotations::PerCriterion::default(),
                source_row: r + 1,
            });
        }
    }

    let mut meta = DatasetMeta::new("pickapic", "pickapic");
    meta.description =
        "Pick-a-Pic (yuvalkirstain/pickapic): one comparison of two images per prompt entry".into();
    for (field, source) in [
        ("prompt_id", "ranking_id"),
        ("prompt", "caption"),
        ("annotator", "user_id"),
        ("rank", "label_0/label_1"),
        ("image", "image_0_uid/image_1_uid"),
    ] {
        meta.columns.insert(field.into(), source.into());
    }
    let root = match images_to {
        Some(dir) if !written.is_empty() => dir.to_path_buf(),
        _ => path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    meta.images = if written.is_empty() {
        ImagesState::Absent
    } else {
        ImagesState::Present
    };
    let mut ds = Dataset::new(meta, path, root, rows);
    ds.read_problems = problems;
    Ok(ds)
}

/// A column of encoded images (Arrow `binary`).
fn binary(df: &DataFrame, path: &Path, column: &str) -> Result<Vec<Option<Vec<u8>>>, TableError> {
    let c = df.column(column).map_err(|_| missing(df, path, column))?;
    let ca = c.binary().map_err(|_| TableError::Invalid {
        path: path.to_path_buf(),
        message: format!(
            "column `{column}` holds {}, not the encoded images (binary) Pick-a-Pic stores",
            c.dtype()
        ),
    })?;
    Ok(ca.iter().map(|v| v.map(<[u8]>::to_vec)).collect())
}

/// The image's file name without extension: its uid when that is a plain name (Pick-a-Pic's are
/// UUIDs), else one made of the row and the position, so that no uid can name a path outside
/// `images/`.
fn file_stem(uid: Option<&str>, row: usize, k: usize) -> String {
    match uid {
        Some(u)
            if !u.is_empty()
                && !u.starts_with('.')
                && u.len() <= 128
                && u.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) =>
        {
            u.to_owned()
        }
        // `+` is outside the characters a uid may use here, so no uid names this file.
        _ => format!("row+{}+{k}", row + 1),
    }
}

fn shown(v: Option<f64>) -> String {
    v.map_or("missing".to_owned(), |x| x.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("rewardlab-pickapic-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write(path: &Path, mut df: DataFrame) {
        let file = std::fs::File::create(path).unwrap();
        ParquetWriter::new(file).finish(&mut df).unwrap();
    }

    #[test]
    fn labels_give_ranks_and_odd_uids_stay_inside_images() {
        let dir = folder("labels");
        let path = dir.join("test.parquet");
        write(
            &path,
            df!(
                "ranking_id" => [Some(1i64), Some(2), None, Some(4)],
                "caption" => ["a", "b", "c", "d"],
                "user_id" => [7i64, 8, 9, 7],
                "label_0" => [Some(0.0), Some(0.5), Some(1.0), None],
                "label_1" => [Some(1.0), Some(0.5), Some(0.0), Some(1.0)],
                "image_0_uid" => ["u0", "../../escape", "u4", "u6"],
                "image_1_uid" => ["u1", "u3", ".hidden", "u7"],
                "jpg_0" => [b"x0".to_vec(), b"x2".to_vec(), b"x4".to_vec(), b"x6".to_vec()],
                "jpg_1" => [b"x1".to_vec(), b"x3".to_vec(), b"x5".to_vec(), b"x7".to_vec()],
            )
            .unwrap(),
        );
        let building = dir.join("dataset");
        let ds = pickapic(&path, Some(&building)).unwrap();
        let ranks: Vec<Option<u32>> = ds.rows.iter().map(|r| r.rank).collect();
        assert_eq!(
            ranks,
            [
                Some(2),
                Some(1),
                Some(1),
                Some(1),
                Some(1),
                Some(2),
                None,
                None
            ]
        );
        assert_eq!(ds.rows[0].generation_id, "1/0");
        assert_eq!(ds.rows[0].annotator.as_deref(), Some("7"));
        assert_eq!(ds.rows[2].image.as_deref(), Some("images/row+2+0.jpg"));
        assert_eq!(ds.rows[5].image.as_deref(), Some("images/row+3+1.jpg"));
        assert_eq!(ds.rows[4].prompt_id, "row-3");
        let fields: Vec<(usize, &str)> = ds
            .read_problems
            .iter()
            .map(|p| (p.row, p.field.as_str()))
            .collect();
        assert_eq!(fields, [(4, "prompt_id"), (6, "rank")]);
        assert!(ds.read_problems[1].message.contains("label_0 missing"));
        assert_eq!(ds.meta.images, ImagesState::Present);
        assert_eq!(ds.root, building);
        let mut written: Vec<String> = std::fs::read_dir(building.join("images"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        written.sort();
        assert_eq!(written.len(), 8);
        assert_eq!(
            std::fs::read(building.join("images/u0.jpg")).unwrap(),
            b"x0"
        );
        assert!(!dir.join("escape.jpg").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_column_or_a_text_image_column_is_named() {
        let dir = folder("columns");
        let path = dir.join("test.parquet");
        write(&path, df!("caption" => ["a"]).unwrap());
        let err = pickapic(&path, None).unwrap_err().to_string();
        assert!(
            err.contains("test.parquet") && err.contains("ranking_id"),
            "{err}"
        );
        write(
            &path,
            df!(
                "ranking_id" => [1i64], "caption" => ["a"], "user_id" => [7i64],
                "label_0" => [1.0], "label_1" => [0.0],
                "image_0_uid" => ["u0"], "image_1_uid" => ["u1"],
                "jpg_0" => ["not bytes"], "jpg_1" => ["not bytes"],
            )
            .unwrap(),
        );
        let err = pickapic(&path, Some(&dir.join("out")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column `jpg_0`") && err.contains("binary"),
            "{err}"
        );
        // Without a folder to write into, the images are not read: annotation-only.
        let ds = pickapic(&path, None).unwrap();
        assert_eq!(ds.meta.images, ImagesState::Absent);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
