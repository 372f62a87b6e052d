//! Multi-annotator evaluation (HPD style, where every image is ranked by several people):
//! accuracy against each annotator, against the mean rank, and the human ceiling, so that a
//! model's figure stands beside what people reach on the same pairs.
//!
//! The **human ceiling** holds each annotator out in turn and predicts their strict pairs from the
//! mean rank of the *other* annotators of the prompt (leave-one-out), under ImageReward's rule: the
//! image with the lower mean rank is preferred, an equal mean rank counts as wrong. A model is
//! scored on exactly the same pairs, so the two figures compare directly.

use crate::pairwise::accuracy_pooled;
use crate::prompt::RankedPrompt;

/// A scorer's and the human ceiling's accuracy on the same strict pairs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Agreement {
    /// Share of the pairs the scorer orders right (a predicted tie is wrong).
    pub model: Option<f64>,
    /// Share of the pairs the leave-one-out mean rank of the other annotators orders right.
    pub ceiling: Option<f64>,
    /// Strict pairs counted: those of prompts ranked by at least two annotators whose two images
    /// some other annotator ranked too.
    pub pairs: usize,
}

/// `(model right, ceiling right, pairs)` of one prompt, for one annotator or (`None`) all.
pub fn agreement_counts(p: &RankedPrompt, annotator: Option<usize>) -> (usize, usize, usize) {
    let rankings = p.rankings();
    if rankings.len() < 2 {
        return (0, 0, 0);
    }
    let s = p.scores();
    let loo: Vec<Vec<Option<f64>>> = (0..rankings.len())
        .map(|k| p.mean_ranks_without(k))
        .collect();
    let (mut model, mut ceiling, mut n) = (0, 0, 0);
    for q in p.pairs().filter(|q| !q.tie) {
        if annotator.is_some() && rankings[q.ranking].annotator != annotator {
            continue;
        }
        let others = &loo[q.ranking];
        let (Some(b), Some(w)) = (others[q.better], others[q.worse]) else {
            continue;
        };
        n += 1;
        model += usize::from(s[q.better] > s[q.worse]);
        ceiling += usize::from(b < w);
    }
    (model, ceiling, n)
}

/// The human ceiling's `(right, pairs)` of one prompt for each of its rankings, in
/// [`RankedPrompt::rankings`] order: what [`agreement_counts`] counts for the ceiling, for every
/// ranking in one pass (each leave-one-out mean computed once, not once per annotator asked for).
pub fn ceiling_counts_by_ranking(p: &RankedPrompt) -> Vec<(usize, usize)> {
    let rankings = p.rankings();
    let mut out = vec![(0, 0); rankings.len()];
    if rankings.len() < 2 {
        return out;
    }
    let loo: Vec<Vec<Option<f64>>> = (0..rankings.len())
        .map(|k| p.mean_ranks_without(k))
        .collect();
    for q in p.pairs().filter(|q| !q.tie) {
        let others = &loo[q.ranking];
        let (Some(b), Some(w)) = (others[q.better], others[q.worse]) else {
            continue;
        };
        let o = &mut out[q.ranking];
        o.1 += 1;
        o.0 += usize::from(b < w);
    }
    out
}

/// The scorer's accuracy and the human ceiling against one annotator's strict pairs
/// (`Some(index)`) or against every annotator's pairs pooled (`None`).
pub fn agreement<'a>(
    prompts: impl IntoIterator<Item = &'a RankedPrompt>,
    annotator: Option<usize>,
) -> Agreement {
    let (m, c, n) = prompts
        .into_iter()
        .map(|p| agreement_counts(p, annotator))
        .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    let share = |k: usize| (n > 0).then(|| k as f64 / n as f64);
    Agreement {
        model: share(m),
        ceiling: share(c),
        pairs: n,
    }
}

/// **Human ceiling**: each annotator against the leave-one-out mean rank of the others, pooled
/// over every annotator's strict pairs (see the module docs).
pub fn human_ceiling<'a>(prompts: impl IntoIterator<Item = &'a RankedPrompt>) -> Option<f64> {
    agreement(prompts, None).ceiling
}

/// **Accuracy against the mean rank**: ImageReward's pooled accuracy on the strict pairs of the
/// consensus ranking (each image's mean rank over its annotators; pairs of equal mean rank are
/// ties and dropped).
pub fn accuracy_vs_mean_rank<'a>(
    prompts: impl IntoIterator<Item = &'a RankedPrompt>,
) -> Option<f64> {
    let consensus: Vec<RankedPrompt> = prompts.into_iter().map(|p| p.consensus()).collect();
    accuracy_pooled(&consensus)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::Ranking;

    #[test]
    fn ceiling_holds_each_annotator_out() {
        let r = |a: usize, ranks: [f64; 3]| Ranking {
            annotator: Some(a),
            ranks: ranks.map(Some).to_vec(),
        };
        // annotators 0 and 1 agree, annotator 2 reverses image 0 and 1
        let p = RankedPrompt::new(
            vec![3.0, 2.0, 1.0],
            vec![
                r(0, [1.0, 2.0, 3.0]),
                r(1, [1.0, 2.0, 3.0]),
                r(2, [2.0, 1.0, 3.0]),
            ],
        )
        .unwrap();
        let all = agreement([&p], None);
        assert_eq!(all.pairs, 9);
        // held out 0: others' means 1.5, 1.5, 3 -> (0,1) tie: wrong; 2 of 3 right; same for 1;
        // held out 2: others say 0 before 1, annotator 2 says 1 before 0: wrong; 2 of 3 right
        assert_eq!(all.ceiling, Some(6.0 / 9.0));
        assert_eq!(all.model, Some(8.0 / 9.0));
        assert_eq!(agreement([&p], Some(2)).model, Some(2.0 / 3.0));
        // the one-pass counts are the per-annotator ones
        let by_ranking = ceiling_counts_by_ranking(&p);
        for (k, &(right, n)) in by_ranking.iter().enumerate() {
            let (_, c, m) = agreement_counts(&p, Some(k));
            assert_eq!((right, n), (c, m));
        }
        assert_eq!(accuracy_vs_mean_rank([&p]), Some(1.0));
        let single = RankedPrompt::single(vec![1.0, 2.0], vec![Some(1.0), Some(2.0)]).unwrap();
        assert_eq!(agreement([&single], None).pairs, 0);
    }
}
