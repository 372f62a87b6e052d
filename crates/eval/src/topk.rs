//! Best-of-N selection metrics over each prompt's images, as ImageReward reports them:
//! Recall@K (is a human-best image among the scorer's top K?) and Filter@K (is a human-worst
//! image among the scorer's bottom K?). Also the best-first ordering behind `rewardlab rank`.
//!
//! The human side is the mean rank over annotators. Ties are broken against the scorer, as a
//! predicted tie counts as wrong in pairwise accuracy: an image outside the human-best set that
//! scores *as high as* the best-scored human-best image takes a place ahead of it.

use crate::pairwise::mean;
use crate::prompt::RankedPrompt;

/// Whether the prompt's human-best (`best = true`) or human-worst image is among the scorer's
/// top (bottom) `k`; `None` when the prompt does not take part: it has `k` or fewer ranked
/// images, or the humans ranked all of them equal.
pub fn hit(p: &RankedPrompt, k: usize, best: bool) -> Option<bool> {
    let (s, h) = p.ranked_images();
    // h is goodness (minus mean rank): flip both sides for the worst end.
    let sign = if best { 1.0 } else { -1.0 };
    let s: Vec<f64> = s.iter().map(|v| sign * v).collect();
    let h: Vec<f64> = h.iter().map(|v| sign * v).collect();
    if s.len() <= k {
        return None;
    }
    let top = h.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if h.iter().all(|&v| v == top) {
        return None;
    }
    let in_set = |i: usize| h[i] == top;
    let best_score = (0..s.len())
        .filter(|&i| in_set(i))
        .map(|i| s[i])
        .fold(f64::NEG_INFINITY, f64::max);
    let ahead = (0..s.len())
        .filter(|&i| !in_set(i) && s[i] >= best_score)
        .count();
    Some(ahead < k)
}

/// **Recall@K**: the share of prompts whose human-best image (the lowest mean rank; any of them
/// when several tie) is among the scorer's top K images, ties in score broken against the
/// scorer: fewer than K images outside the human-best set score at least as high as the
/// highest-scored human-best image. Over prompts with more than K ranked images and at least
/// one human preference.
pub fn recall_at_k<'a>(
    prompts: impl IntoIterator<Item = &'a RankedPrompt>,
    k: usize,
) -> Option<f64> {
    hit_rate(prompts, k, true)
}

/// **Filter@K**: the share of prompts whose human-worst image (the highest mean rank; any of
/// them when several tie) is among the scorer's bottom K images, ties broken against the scorer:
/// fewer than K images outside the human-worst set score at most as low as the lowest-scored
/// human-worst image. Over the same prompts as [`recall_at_k`].
pub fn filter_at_k<'a>(
    prompts: impl IntoIterator<Item = &'a RankedPrompt>,
    k: usize,
) -> Option<f64> {
    hit_rate(prompts, k, false)
}

/// The share of prompts where [`hit`] finds the human-best (`best`) or human-worst image
/// among the scorer's K.
fn hit_rate<'a>(
    prompts: impl IntoIterator<Item = &'a RankedPrompt>,
    k: usize,
    best: bool,
) -> Option<f64> {
    mean(
        prompts
            .into_iter()
            .filter_map(|p| hit(p, k, best))
            .map(f64::from),
    )
}

/// Positions of `scores` best first (highest score first; equal scores keep their input order;
/// NaN last): the order in which best-of-N selection offers the images.
pub fn best_first(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (scores[a], scores[b]);
        match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => y.total_cmp(&x),
        }
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(scores: &[f64], ranks: &[f64]) -> RankedPrompt {
        RankedPrompt::single(scores.to_vec(), ranks.iter().map(|&r| Some(r)).collect()).unwrap()
    }

    #[test]
    fn ties_count_against_the_scorer() {
        // human-best is image 0; image 1 scores the same: not a top-1 hit, a top-2 hit
        let p = prompt(&[5.0, 5.0, 1.0], &[1.0, 2.0, 3.0]);
        assert_eq!(hit(&p, 1, true), Some(false));
        assert_eq!(hit(&p, 2, true), Some(true));
        // two human-best images tied in score are fine: either is a best image
        let q = prompt(&[5.0, 5.0, 1.0], &[1.0, 1.0, 3.0]);
        assert_eq!(hit(&q, 1, true), Some(true));
        assert_eq!(hit(&q, 1, false), Some(true));
        // not enough images, or no human preference: the prompt takes no part
        assert_eq!(hit(&p, 3, true), None);
        assert_eq!(hit(&prompt(&[1.0, 2.0], &[1.0, 1.0]), 1, true), None);
        assert_eq!(recall_at_k([&p, &q], 1), Some(0.5));
        assert_eq!(filter_at_k([&p, &q], 1), Some(1.0));
    }

    #[test]
    fn best_first_is_stable_and_puts_nan_last() {
        assert_eq!(best_first(&[1.0, f64::NAN, 3.0, 1.0]), vec![2, 0, 3, 1]);
    }
}
