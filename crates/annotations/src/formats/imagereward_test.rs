//! ImageReward's `data/test.json` (THUDM/ImageReward): per prompt an `id`, the `prompt`, its
//! `generations` (relative WebP paths) and a `ranking` of rank tiers (1 = best, ties allowed).
//! The file is released without its images, so the dataset is annotation-only unless every
//! listed image is found next to the file.

use std::path::Path;

use serde::Deserialize;

use crate::{AnnotationError, Dataset, DatasetMeta, ImagesState, Row};

#[derive(Deserialize)]
struct Entry {
    id: String,
    prompt: String,
    generations: Vec<String>,
    ranking: Vec<u32>,
}

/// Reads `test.json`. Generation ids are `<prompt id>/<position>`, the position in `generations`.
pub fn read(path: &Path) -> Result<Dataset, AnnotationError> {
    let entries: Vec<Entry> = super::read_json(path)?;
    let root = super::parent(path);
    let mut rows = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.generations.len() != e.ranking.len() {
            return Err(AnnotationError::format(
                path,
                format!(
                    "entry {} (`{}`): {} generations but {} rankings",
                    i + 1,
                    e.id,
                    e.generations.len(),
                    e.ranking.len()
                ),
            ));
        }
        for (k, (image, &rank)) in e.generations.iter().zip(&e.ranking).enumerate() {
            rows.push(Row {
                prompt_id: e.id.clone(),
                prompt: e.prompt.clone(),
                category: None,
                expected_images: None,
                generation_id: format!("{}/{k}", e.id),
                image: Some(image.clone()),
                annotator: None,
                rank: Some(rank),
                ratings: [None; 4],
                source_row: i + 1,
            });
        }
    }
    let all_present = rows
        .iter()
        .all(|r| r.image.as_ref().is_some_and(|p| root.join(p).is_file()));
    let mut meta = DatasetMeta::new("imagereward-test", "imagereward-test");
    meta.description =
        "ImageRewardDB test split rankings (THUDM/ImageReward data/test.json)".into();
    // ImageReward's annotators ranked into 5 tiers: a prompt of 4 images may have rank 5.
    meta.rank_tiers = Some(5);
    meta.images = if all_present {
        ImagesState::Present
    } else {
        ImagesState::Absent
    };
    meta.columns.insert("rank".into(), "ranking".into());
    meta.columns.insert("image".into(), "generations".into());
    meta.columns.insert("prompt_id".into(), "id".into());
    Ok(Dataset::new(meta, path, root, rows))
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
    fn mismatched_lengths_are_an_error_naming_the_entry() {
        let dir = std::env::temp_dir().join(format!("rewardlab-irt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("test.json");
        std::fs::write(
            &f,
            r#"[{"id":"a","prompt":"x","generations":["1.webp","2.webp"],"ranking":[1]}]"#,
        )
        .unwrap();
        let err = read(&f).unwrap_err().to_string();
        assert!(
            err.contains("entry 1 (`a`)") && err.contains("test.json"),
            "{err}"
        );
        std::fs::write(&f, "{not json").unwrap();
        assert!(read(&f).unwrap_err().to_string().contains("not valid JSON"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
