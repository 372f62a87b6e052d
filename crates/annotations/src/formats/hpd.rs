//! HPD v2 style multi-annotator rankings: per prompt a `prompt_id`, the `prompt` and its
//! `images`, each with a `file` and `annotator_ranks` (that image's rank from each annotator,
//! 1 = best). Every judgment is kept: one row per image and annotator (`a01`, `a02`, ...).

use std::path::Path;

use serde::Deserialize;

use crate::{AnnotationError, Dataset, DatasetMeta, ImagesState, ReadProblem, Row};

#[derive(Deserialize)]
struct Entry {
    prompt_id: String,
    prompt: String,
    images: Vec<Image>,
}

#[derive(Deserialize)]
struct Image {
    file: String,
    annotator_ranks: Vec<serde_json::Value>,
}

/// Reads an HPD-style `annotations.json`. Generation ids are the image file stems.
pub fn read(path: &Path) -> Result<Dataset, AnnotationError> {
    let entries: Vec<Entry> = super::read_json(path)?;
    let (mut rows, mut problems) = (Vec::new(), Vec::new());
    for (i, e) in entries.iter().enumerate() {
        for img in &e.images {
            let stem = Path::new(&img.file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| img.file.clone());
            // An image without ranks keeps one unranked row, so its problem has a row to name.
            let judgments: Vec<Option<&serde_json::Value>> = if img.annotator_ranks.is_empty() {
                vec![None]
            } else {
                img.annotator_ranks.iter().map(Some).collect()
            };
            for (a, rank) in judgments.into_iter().enumerate() {
                let (annotator, rank) = match rank {
                    Some(v) => (
                        Some(format!("a{:02}", a + 1)),
                        super::rank_value(v, rows.len(), "rank", &mut problems),
                    ),
                    None => {
                        problems.push(ReadProblem {
                            row: rows.len(),
                            field: "rank".into(),
                            message: format!("image `{}` has no annotator ranks", img.file),
                        });
                        (None, None)
                    }
                };
                rows.push(Row {
                    prompt_id: e.prompt_id.clone(),
                    prompt: e.prompt.clone(),
                    category: None,
                    expected_images: None,
                    generation_id: stem.clone(),
                    image: Some(img.file.clone()),
                    annotator,
                    rank,
                    ratings: crate::PerCriterion::default(),
                    source_row: i + 1,
                });
            }
        }
    }
    let mut meta = DatasetMeta::new("hpd", "hpd");
    meta.description = "HPD v2 style rankings, every annotator's judgment kept".into();
    meta.images = ImagesState::Present;
    Ok(super::dataset(
        meta,
        &[("rank", "annotator_ranks"), ("image", "file")],
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

    #[test]
    fn real_hpd_gallery_has_ten_full_permutations_per_prompt() {
        let Some(path) = crate::formats::tests_support::shared_data("hpd-gallery/annotations.json")
        else {
            return;
        };
        let ds = read(&path).unwrap();
        let ix = ds.index();
        assert_eq!(ix.prompts.len(), 8);
        assert_eq!(ix.generations.len(), 75);
        assert_eq!(ix.annotators.len(), 10);
        assert_eq!(ds.rows.len(), 750);
        let problems = validate(&ds, Checks::default());
        assert!(problems.is_empty(), "{problems:#?}");
        // no ties: each annotator's column is a permutation, so pairs = 10 * sum C(k,2)
        let expected: usize = ix
            .prompts
            .iter()
            .map(|p| 10 * p.generations.len() * (p.generations.len() - 1) / 2)
            .sum();
        assert_eq!(count_pairs(&expand_pairs(&ds, &ix)), (expected, 0));
    }
}
