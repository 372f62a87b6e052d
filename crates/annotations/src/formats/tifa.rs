//! TIFA's human study (Yushi-Hu/tifa `human_annotations_with_scores.json`): per image key a
//! `text_id`, the `text`, an `image_path` and `human_scores`, two 1..5 Likert ratings of
//! text-image alignment. Each rating becomes one judgment (annotators `r1`, `r2`); the scale
//! stays 1..5 as published. The prompt category is the text source (`coco`, `drawbench`, ...),
//! and the generator name (the key's suffix) is kept in the generation id.

use std::path::Path;

use serde::Deserialize;

use crate::{AnnotationError, Criterion, Dataset, DatasetMeta, ImagesState, Row, Scale};

#[derive(Deserialize)]
struct Entry {
    text_id: String,
    text: String,
    image_path: String,
    human_scores: Vec<serde_json::Value>,
}

pub fn read(path: &Path) -> Result<Dataset, AnnotationError> {
    // File order, so that row numbers point at the right entry.
    let entries: super::Ordered<Entry> = super::read_json(path)?;
    let root = super::parent(path);
    let (mut rows, mut problems) = (Vec::new(), Vec::new());
    for (i, (key, e)) in entries.0.iter().enumerate() {
        let category = e
            .text_id
            .split('_')
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        for (a, score) in e.human_scores.iter().enumerate() {
            let mut ratings = crate::PerCriterion::default();
            ratings[Criterion::Alignment] =
                super::rating_value(score, rows.len(), "alignment", &mut problems);
            rows.push(Row {
                prompt_id: e.text_id.clone(),
                prompt: e.text.clone(),
                category: category.clone(),
                expected_images: None,
                generation_id: key.clone(),
                image: Some(e.image_path.clone()),
                annotator: Some(format!("r{}", a + 1)),
                rank: None,
                ratings,
                source_row: i + 1,
            });
        }
    }
    let mut meta = DatasetMeta::new("tifa", "tifa");
    meta.description = "TIFA human study: two 1..5 text-alignment ratings per image".into();
    meta.scale = Scale { min: 1, max: 5 };
    meta.images = ImagesState::detect(&root, rows.iter().map(|r| r.image.as_deref()));
    Ok(super::dataset(
        meta,
        &[
            ("alignment", "human_scores"),
            ("prompt_id", "text_id"),
            ("prompt", "text"),
            ("image", "image_path"),
        ],
        path,
        rows,
        problems,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{Checks, validate};

    #[test]
    fn real_tifa_ratings_load_on_their_own_scale() {
        let Some(path) =
            crate::formats::tests_support::shared_data("tifa/human_annotations_with_scores.json")
        else {
            return;
        };
        let ds = read(&path).unwrap();
        let ix = ds.index();
        assert_eq!(ix.prompts.len(), 160);
        assert_eq!(ix.generations.len(), 800);
        assert_eq!(ix.annotators, vec!["r1".to_string(), "r2".to_string()]);
        assert_eq!(ds.rating_counts(), [0, 1_600, 0, 0]);
        assert_eq!(ds.meta.scale, Scale { min: 1, max: 5 });
        assert_eq!(ds.meta.images, ImagesState::Absent);
        assert!(ds.rows.iter().all(|r| {
            r.rating(Criterion::Alignment)
                .is_some_and(|v| (1.0..=5.0).contains(&v))
        }));
        assert!(validate(&ds, Checks::default()).is_empty());
    }
}
