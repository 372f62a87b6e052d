//! Pair expansion: every prompt's ranked generations become C(k,2) pairs per annotator, each
//! strict (different tiers, with its better and worse side) or a tie (same tier, kept and flagged).
//!
//! Training and each metric state what they do with ties: ImageReward drops them, PickScore
//! counts them as half/half targets, tie-aware accuracies credit them.

use serde::Serialize;

use crate::{Dataset, Index};

/// One comparison between two generations of the same prompt, as judged by one annotator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Pair {
    /// Prompt index in [`Index::prompts`].
    pub prompt: usize,
    /// Generation indices in [`Index::generations`]: `better` has the lower (better) rank tier;
    /// for a tie the order is the order of appearance.
    pub better: usize,
    pub worse: usize,
    pub tie: bool,
    /// Annotator index in [`Index::annotators`], if the data has annotator ids.
    pub annotator: Option<usize>,
}

/// (generation, rank) of one annotator's ranking of a prompt.
type Ranked = Vec<(usize, u32)>;

/// All pairs of a dataset, prompt by prompt, annotator by annotator. Rows without a rank take no
/// part; a generation ranked twice by the same annotator (a validation error) counts once.
pub fn expand_pairs(ds: &Dataset, ix: &Index) -> Vec<Pair> {
    let annotator_index: std::collections::HashMap<&str, usize> = ix
        .annotators
        .iter()
        .enumerate()
        .map(|(i, a)| (a.as_str(), i))
        .collect();
    let mut pairs = Vec::new();
    for (p, prompt) in ix.prompts.iter().enumerate() {
        // Annotators in first-seen order, so output is deterministic.
        let mut groups: Vec<(Option<usize>, Ranked)> = Vec::new();
        for &g in &prompt.generations {
            for &r in &ix.generations[g].rows {
                let row = &ds.rows[r];
                let Some(rank) = row.rank else { continue };
                let a = row.annotator.as_deref().map(|a| annotator_index[a]);
                let group = match groups.iter_mut().position(|(ga, _)| *ga == a) {
                    Some(i) => &mut groups[i].1,
                    None => {
                        groups.push((a, Vec::new()));
                        &mut groups.last_mut().expect("just pushed").1
                    }
                };
                if !group.iter().any(|(gg, _)| *gg == g) {
                    group.push((g, rank));
                }
            }
        }
        for (annotator, ranked) in groups {
            for i in 0..ranked.len() {
                for j in i + 1..ranked.len() {
                    let ((gi, ri), (gj, rj)) = (ranked[i], ranked[j]);
                    let (better, worse) = if rj < ri { (gj, gi) } else { (gi, gj) };
                    pairs.push(Pair {
                        prompt: p,
                        better,
                        worse,
                        tie: ri == rj,
                        annotator,
                    });
                }
            }
        }
    }
    pairs
}

/// (strict, ties) counts.
pub fn count_pairs(pairs: &[Pair]) -> (usize, usize) {
    let ties = pairs.iter().filter(|p| p.tie).count();
    (pairs.len() - ties, ties)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tests_support::row;

    #[test]
    fn tiers_expand_into_strict_pairs_and_ties() {
        // ranks 1, 2, 2, 3 -> C(4,2) = 6 pairs, one tie (the two 2s)
        let rows = vec![
            row("p", "a", None, Some(1)),
            row("p", "b", None, Some(2)),
            row("p", "c", None, Some(2)),
            row("p", "d", None, Some(3)),
        ];
        let ds = crate::schema::tests_support::dataset(rows);
        let ix = ds.index();
        let pairs = expand_pairs(&ds, &ix);
        assert_eq!(pairs.len(), 6);
        assert_eq!(count_pairs(&pairs), (5, 1));
        for p in &pairs {
            let (b, w) = (&ix.generations[p.better].id, &ix.generations[p.worse].id);
            if !p.tie {
                assert!(b < w, "better {b} should rank above worse {w}");
            }
        }
        // the better side is the lower tier even when it appears later
        let rows = vec![row("p", "x", None, Some(3)), row("p", "y", None, Some(1))];
        let ds = crate::schema::tests_support::dataset(rows);
        let ix = ds.index();
        let pairs = expand_pairs(&ds, &ix);
        assert_eq!(ix.generations[pairs[0].better].id, "y");
    }

    #[test]
    fn annotators_are_expanded_separately() {
        let rows = vec![
            row("p", "a", Some("u1"), Some(1)),
            row("p", "b", Some("u1"), Some(2)),
            row("p", "a", Some("u2"), Some(2)),
            row("p", "b", Some("u2"), Some(1)),
            row("p", "c", Some("u2"), None),
        ];
        let ds = crate::schema::tests_support::dataset(rows);
        let ix = ds.index();
        let pairs = expand_pairs(&ds, &ix);
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].annotator, Some(0));
        assert_eq!(ix.generations[pairs[1].better].id, "b");
    }
}
