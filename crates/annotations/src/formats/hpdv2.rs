//! HPDv2, the Human Preference Dataset v2 (tgxs002/HPSv2; `ymhao/HPDv2` on Hugging Face), as
//! released: `test.json` and `train.json` beside the `test/` and `train/` image folders.
//!
//! - `test.json`: per prompt the `prompt`, its `image_path` (9 or 10 file names under `test/`),
//!   `rank` (the annotators' averaged ranking, 1 = best) and `raw_annotations`, one `{rank,
//!   user_hash}` per annotator. Every annotator's judgment is kept as its own row, the annotator
//!   named by its `user_hash`; the averaged `rank` is read only when a file has no
//!   `raw_annotations` (those released before 2023-08-02), as one unnamed annotator.
//! - `train.json`: per comparison the `prompt`, two image names under `train/` (`file_path`;
//!   `image_path` is read too, as some copies name it) and `human_preference` (1 for the image
//!   preferred, 0 for the other). Each comparison is its own prompt entry, since the same prompt
//!   text and image recur across comparisons that different people judged; equal preferences are a
//!   tie. The comparison's `user_hash`, where present, names its annotator.
//!
//! Prompt ids are the entry's 1-based position in the file; generation ids are
//! `<prompt id>/<image file stem>`.

use std::path::Path;

use serde::Deserialize;

use crate::{AnnotationError, Dataset, DatasetMeta, ImagesState, ReadProblem, Row};

#[derive(Deserialize)]
struct TestEntry {
    prompt: String,
    image_path: Vec<String>,
    // Values, not u32: a bad rank is a problem of its row, not of the whole file.
    #[serde(default)]
    rank: Vec<serde_json::Value>,
    #[serde(default, alias = "raw_annotation")]
    raw_annotations: Vec<RawAnnotation>,
}

#[derive(Deserialize)]
struct RawAnnotation {
    rank: Vec<serde_json::Value>,
    user_hash: String,
}

#[derive(Deserialize)]
struct TrainEntry {
    prompt: String,
    #[serde(alias = "image_path")]
    file_path: Vec<String>,
    human_preference: Vec<serde_json::Value>,
    #[serde(default)]
    user_hash: Option<String>,
}

/// The file's stem: `00123` of `00123.jpg`.
fn stem(file: &str) -> String {
    Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.to_owned())
}

/// One judgment of an image of entry `i` (0-based).
fn row(i: usize, prompt: &str, folder: &str, file: &str, annotator: Option<String>) -> Row {
    let prompt_id = (i + 1).to_string();
    Row {
        generation_id: format!("{prompt_id}/{}", stem(file)),
        prompt_id,
        prompt: prompt.to_owned(),
        category: None,
        expected_images: None,
        image: Some(format!("{folder}/{file}")),
        annotator,
        rank: None,
        ratings: crate::PerCriterion::default(),
        source_row: i + 1,
    }
}

/// Reads HPDv2's `test.json`; images are looked for in `test/` beside it.
pub fn read_test(path: &Path) -> Result<Dataset, AnnotationError> {
    let entries: Vec<TestEntry> = super::read_json(path)?;
    let (mut rows, mut problems) = (Vec::new(), Vec::new());
    for (i, e) in entries.iter().enumerate() {
        // Each annotator's ranks, or the averaged ones as one unnamed annotator.
        let judges: Vec<(Option<&str>, &[serde_json::Value])> = if e.raw_annotations.is_empty() {
            vec![(None, &e.rank[..])]
        } else {
            e.raw_annotations
                .iter()
                .map(|a| (Some(a.user_hash.as_str()), &a.rank[..]))
                .collect()
        };
        for (annotator, ranks) in judges {
            let first = rows.len();
            for (k, file) in e.image_path.iter().enumerate() {
                let mut r = row(i, &e.prompt, "test", file, annotator.map(str::to_owned));
                r.rank = ranks
                    .get(k)
                    .and_then(|v| super::rank_value(v, rows.len(), "rank", &mut problems));
                rows.push(r);
            }
            if ranks.len() != e.image_path.len() {
                let who = annotator.map_or("the averaged rank".to_owned(), |a| {
                    format!("annotator `{a}`")
                });
                for r in first..rows.len() {
                    problems.push(ReadProblem {
                        row: r,
                        field: "rank".into(),
                        message: format!(
                            "prompt {} lists {} images but {who} gives {} ranks",
                            i + 1,
                            e.image_path.len(),
                            ranks.len()
                        ),
                    });
                }
            }
        }
    }
    let mut meta = DatasetMeta::new("hpdv2-test", "hpdv2-test");
    meta.description =
        "HPDv2 test set (tgxs002/HPSv2 test.json): every annotator's ranking kept".into();
    meta.images = ImagesState::detect(
        &super::parent(path),
        rows.iter().map(|r| r.image.as_deref()),
    );
    Ok(super::dataset(
        meta,
        &[
            ("rank", "raw_annotations.rank"),
            ("annotator", "raw_annotations.user_hash"),
            ("image", "image_path"),
        ],
        path,
        rows,
        problems,
    ))
}

/// Reads HPDv2's `train.json`; images are looked for in `train/` beside it.
pub fn read_train(path: &Path) -> Result<Dataset, AnnotationError> {
    let entries: Vec<TrainEntry> = super::read_json(path)?;
    let (mut rows, mut problems) = (Vec::new(), Vec::new());
    for (i, e) in entries.iter().enumerate() {
        let first = rows.len();
        let preference: Vec<Option<f64>> = e
            .human_preference
            .iter()
            .map(serde_json::Value::as_f64)
            .collect();
        for (k, file) in e.file_path.iter().enumerate() {
            let mut r = row(i, &e.prompt, "train", file, e.user_hash.clone());
            // 1 + the images preferred to this one: [1, 0] ranks 1, 2; equal values tie.
            if let Some(Some(mine)) = preference.get(k)
                && preference.iter().all(Option::is_some)
            {
                let above = preference.iter().flatten().filter(|&&p| p > *mine).count();
                r.rank = Some(1 + above as u32);
            }
            rows.push(r);
        }
        for (k, v) in e.human_preference.iter().enumerate() {
            if v.as_f64().is_none() {
                problems.push(ReadProblem {
                    row: first + k.min(e.file_path.len().saturating_sub(1)),
                    field: "rank".into(),
                    message: format!("human_preference `{v}` is not a number"),
                });
            }
        }
        let (n, m) = (e.file_path.len(), e.human_preference.len());
        if n != m || n < 2 {
            let message = if n < 2 {
                format!(
                    "comparison {} lists {n} images; a comparison needs two",
                    i + 1
                )
            } else {
                format!("comparison {} lists {n} images but {m} preferences", i + 1)
            };
            if rows.len() == first {
                // No image at all: a row without one, so that the problem has a row to name.
                let mut r = row(i, &e.prompt, "train", "", e.user_hash.clone());
                r.image = None;
                rows.push(r);
            }
            for r in first..rows.len() {
                problems.push(ReadProblem {
                    row: r,
                    field: "rank".into(),
                    message: message.clone(),
                });
            }
        }
    }
    let mut meta = DatasetMeta::new("hpdv2-train", "hpdv2-train");
    meta.description =
        "HPDv2 training comparisons (tgxs002/HPSv2 train.json): one prompt entry each".into();
    meta.images = ImagesState::detect(
        &super::parent(path),
        rows.iter().map(|r| r.image.as_deref()),
    );
    Ok(super::dataset(
        meta,
        &[
            ("rank", "human_preference"),
            ("annotator", "user_hash"),
            ("image", "file_path"),
        ],
        path,
        rows,
        problems,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pairs::{count_pairs, expand_pairs};
    use crate::validate::{Checks, validate};

    fn folder(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("rewardlab-hpdv2-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn test_json_keeps_every_annotators_ranking() {
        let dir = folder("test");
        let f = dir.join("test.json");
        std::fs::write(
            &f,
            r#"[{"prompt": "a cat", "image_path": ["00001.jpg", "00002.jpg", "00003.jpg"],
                 "rank": [1, 2, 3],
                 "raw_annotations": [{"rank": [1, 2, 3], "user_hash": "u1"},
                                     {"rank": [2, 1, 3], "user_hash": "u2"}]},
                {"prompt": "a dog", "image_path": ["00004.jpg", "00005.jpg"], "rank": [2, 1]}]"#,
        )
        .unwrap();
        let ds = read_test(&f).unwrap();
        assert_eq!(ds.rows.len(), 2 * 3 + 2);
        let ix = ds.index();
        assert_eq!(ix.prompts.len(), 2);
        assert_eq!(ix.generations.len(), 5);
        assert_eq!(ds.rows[3].annotator.as_deref(), Some("u2"));
        assert_eq!(ds.rows[3].rank, Some(2));
        assert_eq!(ds.rows[3].generation_id, "1/00001");
        assert_eq!(ds.rows[3].image.as_deref(), Some("test/00001.jpg"));
        // The second entry has no raw annotations: its averaged rank, as one unnamed annotator.
        assert_eq!(ds.rows[6].annotator, None);
        assert_eq!(ds.rows[7].rank, Some(1));
        assert_eq!(ds.meta.images, ImagesState::Absent);
        let problems = validate(&ds, Checks::default());
        assert!(problems.is_empty(), "{problems:#?}");
        // 3 pairs from each of 2 annotators, 1 from the averaged ranking; no ties.
        assert_eq!(count_pairs(&expand_pairs(&ds, &ix)), (7, 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn train_json_gives_one_comparison_per_entry_ties_kept() {
        let dir = folder("train");
        let f = dir.join("train.json");
        std::fs::write(
            &f,
            r#"[{"prompt": "a cat", "file_path": ["a.jpg", "b.jpg"], "human_preference": [0, 1],
                 "user_hash": "u1"},
                {"prompt": "a cat", "image_path": ["a.jpg", "c.jpg"], "human_preference": [1, 1]}]"#,
        )
        .unwrap();
        let ds = read_train(&f).unwrap();
        let ranks: Vec<Option<u32>> = ds.rows.iter().map(|r| r.rank).collect();
        assert_eq!(ranks, [Some(2), Some(1), Some(1), Some(1)]);
        assert_eq!(ds.rows[0].annotator.as_deref(), Some("u1"));
        assert_eq!(ds.rows[2].annotator, None);
        // The same image in two comparisons is two generations, one per comparison.
        assert_eq!(ds.rows[0].generation_id, "1/a");
        assert_eq!(ds.rows[2].generation_id, "2/a");
        assert_eq!(ds.rows[2].image.as_deref(), Some("train/a.jpg"));
        let ix = ds.index();
        assert!(validate(&ds, Checks::default()).is_empty());
        assert_eq!(count_pairs(&expand_pairs(&ds, &ix)), (1, 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_entries_are_problems_of_their_rows() {
        let dir = folder("bad");
        let test = dir.join("test.json");
        std::fs::write(
            &test,
            r#"[{"prompt": "x", "image_path": ["1.jpg", "2.jpg"],
                 "raw_annotations": [{"rank": [1], "user_hash": "u1"},
                                     {"rank": [1, "two"], "user_hash": "u2"}]}]"#,
        )
        .unwrap();
        let problems = validate(&read_test(&test).unwrap(), Checks::default());
        assert!(
            problems.iter().any(|p| p.row == Some(1)
                && p.message
                    .contains("lists 2 images but annotator `u1` gives 1 ranks")),
            "{problems:#?}"
        );
        assert!(
            problems.iter().any(|p| p
                .message
                .contains("`\"two\"` is not a whole positive number")),
            "{problems:#?}"
        );
        let train = dir.join("train.json");
        std::fs::write(
            &train,
            r#"[{"prompt": "x", "file_path": ["1.jpg"], "human_preference": [1]},
                {"prompt": "y", "file_path": [], "human_preference": []},
                {"prompt": "z", "file_path": ["1.jpg", "2.jpg"], "human_preference": [1, "yes"]}]"#,
        )
        .unwrap();
        let problems = validate(&read_train(&train).unwrap(), Checks::default());
        for (row, says) in [
            (1, "comparison 1 lists 1 images; a comparison needs two"),
            (2, "comparison 2 lists 0 images"),
            (3, "human_preference `\"yes\"` is not a number"),
        ] {
            assert!(
                problems
                    .iter()
                    .any(|p| p.row == Some(row) && p.message.contains(says)),
                "{says}: {problems:#?}"
            );
        }
        std::fs::write(&train, r#"[{"prompt": "x"}]"#).unwrap();
        assert!(
            read_train(&train)
                .unwrap_err()
                .to_string()
                .contains("file_path")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
