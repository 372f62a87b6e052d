//! ImageReward's `data/test.json` (THUDM/ImageReward): per prompt an `id`, the `prompt`, its
//! `generations` (relative WebP paths) and a `ranking` of rank tiers (1 = best, ties allowed).
//! The file is released without its images, so the dataset is annotation-only unless every
//! listed image is found next to the file.

use std::path::Path;

use serde::Deserialize;

use crate::{AnnotationError, Dataset, DatasetMeta, ImagesState, ReadProblem, Row};

#[derive(Deserialize)]
struct Entry {
    id: String,
    prompt: String,
    generations: Vec<String>,
    // Values, not u32: a bad rank is a problem of its row, not of the whole file.
    ranking: Vec<serde_json::Value>,
}

/// Reads `test.json`. Generation ids are `<prompt id>/<position>`, the position in `generations`.
pub fn read(path: &Path) -> Result<Dataset, AnnotationError> {
    let entries: Vec<Entry> = super::read_json(path)?;
    let root = super::parent(path);
    let (mut rows, mut problems) = (Vec::new(), Vec::new());
    for (i, e) in entries.iter().enumerate() {
        let first = rows.len();
        for (k, image) in e.generations.iter().enumerate() {
            let rank = match e.ranking.get(k) {
                Some(v) => super::rank_value(v, rows.len(), "rank", &mut problems),
                None => None,
            };
            rows.push(Row {
                prompt_id: e.id.clone(),
                prompt: e.prompt.clone(),
                category: None,
                expected_images: None,
                generation_id: format!("{}/{k}", e.id),
                image: Some(image.clone()),
                annotator: None,
                rank,
                ratings: crate::PerCriterion::default(),
                source_row: i + 1,
            });
        }
        if e.generations.len() != e.ranking.len() {
            for r in first..rows.len() {
                problems.push(ReadProblem {
                    row: r,
                    field: "rank".into(),
                    message: format!(
                        "entry `{}` lists {} generations but {} rankings",
                        e.id,
                        e.generations.len(),
                        e.ranking.len()
                    ),
                });
            }
        }
    }
    let mut meta = DatasetMeta::new("imagereward-test", "imagereward-test");
    meta.description =
        "ImageRewardDB test split rankings (THUDM/ImageReward data/test.json)".into();
    // ImageReward's annotators ranked into 5 tiers: a prompt of 4 images may have rank 5.
    meta.rank_tiers = Some(5);
    meta.images = ImagesState::detect(&root, rows.iter().map(|r| r.image.as_deref()));
    Ok(super::dataset(
        meta,
        &[
            ("rank", "ranking"),
            ("image", "generations"),
            ("prompt_id", "id"),
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

    fn shared() -> Option<std::path::PathBuf> {
        crate::formats::tests_support::shared_data("imagereward-test/test.json")
    }

    #[test]
    fn real_test_json_gives_the_published_counts() {
        let Some(path) = shared() else { return };
        let ds = read(&path).unwrap();
        let ix = ds.index();
        assert_eq!(ix.prompts.len(), 466);
        assert_eq!(ix.generations.len(), 2_720);
        assert_eq!(
            ds.meta.images,
            ImagesState::Absent,
            "the images are not released with test.json"
        );
        let pairs = expand_pairs(&ds, &ix);
        assert_eq!(pairs.len(), 7_230);
        assert_eq!(count_pairs(&pairs), (6_399, 831));
        let problems = validate(&ds, Checks::default());
        assert!(
            problems.is_empty(),
            "{:#?}",
            &problems[..problems.len().min(5)]
        );
    }

    #[test]
    fn bad_entries_are_problems_of_their_rows() {
        let dir = std::env::temp_dir().join(format!("rewardlab-irt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("test.json");
        std::fs::write(
            &f,
            r#"[{"id":"a","prompt":"x","generations":["1.webp","2.webp"],"ranking":[1]},
                {"id":"b","prompt":"y","generations":["3.webp","4.webp"],"ranking":[1,-2]}]"#,
        )
        .unwrap();
        let ds = read(&f).unwrap();
        let problems = validate(&ds, Checks::default());
        assert!(
            problems.iter().any(|p| p.row == Some(1)
                && p.field == "ranking"
                && p.message.contains("2 generations but 1 rankings")),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.row == Some(2)
                    && p.message.contains("`-2` is not a whole positive number")),
            "{problems:#?}"
        );
        std::fs::write(&f, "{not json").unwrap();
        assert!(read(&f).unwrap_err().to_string().contains("not valid JSON"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
