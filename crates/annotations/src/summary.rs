//! The statistics `rewardlab validate` and `import` print, typed: what `validate --json` writes,
//! one object that scripts can rely on. Fields are declared in alphabetical order, the order the
//! JSON has always had.

use serde::Serialize;

use crate::pairs::{count_pairs, expand_pairs};
use crate::validate::Problem;
use crate::{Criterion, Dataset, ImagesState};

/// A dataset's counts and its problems.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DatasetSummary {
    pub annotators: usize,
    pub generations: usize,
    pub images: ImagesState,
    pub judgments: usize,
    pub name: String,
    pub pairs: PairCounts,
    pub problems: Vec<Problem>,
    pub prompts: usize,
    pub ratings: RatingCounts,
    /// The Likert scale, `[min, max]`.
    pub scale: [u8; 2],
    pub source: String,
}

/// Strict and tied pairs of the rankings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PairCounts {
    pub strict: usize,
    pub ties: usize,
}

/// Ratings given per criterion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RatingCounts {
    pub alignment: usize,
    pub fidelity: usize,
    pub harmlessness: usize,
    pub overall: usize,
}

impl DatasetSummary {
    /// The counts of `ds`, with the problems validation found.
    pub fn of(ds: &Dataset, problems: &[Problem]) -> Self {
        let ix = ds.index();
        let (strict, ties) = count_pairs(&expand_pairs(ds, &ix));
        let r = ds.rating_counts();
        Self {
            annotators: ix.annotators.len(),
            generations: ix.generations.len(),
            images: ds.meta.images,
            judgments: ds.rows.len(),
            name: ds.meta.name.clone(),
            pairs: PairCounts { strict, ties },
            problems: problems.to_vec(),
            prompts: ix.prompts.len(),
            ratings: RatingCounts {
                alignment: r[Criterion::Alignment.index()],
                fidelity: r[Criterion::Fidelity.index()],
                harmlessness: r[Criterion::Harmlessness.index()],
                overall: r[Criterion::Overall.index()],
            },
            scale: [ds.meta.scale.min, ds.meta.scale.max],
            source: ds.meta.source.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tests_support::{dataset, row};

    #[test]
    fn counts_and_json_keys_in_alphabetical_order() {
        let ds = dataset(vec![
            row("p1", "g1", None, Some(1)),
            row("p1", "g2", None, Some(2)),
            row("p1", "g3", None, Some(2)),
        ]);
        let s = DatasetSummary::of(&ds, &[]);
        assert_eq!((s.prompts, s.generations, s.judgments), (1, 3, 3));
        assert_eq!(s.pairs, PairCounts { strict: 2, ties: 1 });
        let json = serde_json::to_value(&s).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.starts_with("{\"annotators\":"), "{text}");
        assert!(text.contains("\"ratings\":{\"alignment\":"), "{text}");
    }
}
