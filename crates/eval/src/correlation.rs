//! Rank correlation between a scorer and the human ranking of each prompt: Kendall's tau-b and
//! Spearman's rho, per prompt (averaged) and pooled over prompts.
//!
//! The human side of a prompt is the mean rank of each image over the annotators who ranked it
//! (the ranking itself when there is one annotator); images nobody ranked take no part. Signs are
//! such that +1 is full agreement (the best-ranked image scores highest).
//!
//! Rankings are only comparable within a prompt, so "pooled" never compares images of two
//! prompts: the pooled Kendall tau-b sums the pair counts of every prompt before dividing, and the
//! pooled Spearman correlates ranks centred within each prompt (see each function). Both weigh a
//! prompt by its number of pairs (or its rank variance), as pooled accuracy weighs it by its pairs.

use crate::pairwise::mean;
use crate::prompt::RankedPrompt;

/// Pair counts of Kendall's tau-b between `x` and `y`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KendallCounts {
    pub concordant: u64,
    pub discordant: u64,
    /// All pairs, n(n-1)/2.
    pub pairs: u64,
    /// Pairs tied in `x` (including those tied in both).
    pub tied_x: u64,
    /// Pairs tied in `y` (including those tied in both).
    pub tied_y: u64,
}

impl KendallCounts {
    /// Counts over every pair of points (O(n²): prompts hold a handful of images).
    pub fn of(x: &[f64], y: &[f64]) -> Self {
        let mut c = Self::default();
        for i in 0..x.len().min(y.len()) {
            for j in i + 1..x.len().min(y.len()) {
                // Compare, not multiply: a product of two tiny differences can underflow to 0.
                let (dx, dy) = (x[i].total_cmp(&x[j]), y[i].total_cmp(&y[j]));
                c.pairs += 1;
                c.tied_x += u64::from(x[i] == x[j]);
                c.tied_y += u64::from(y[i] == y[j]);
                if x[i] != x[j] && y[i] != y[j] {
                    if dx == dy {
                        c.concordant += 1;
                    } else {
                        c.discordant += 1;
                    }
                }
            }
        }
        c
    }

    fn add(self, o: Self) -> Self {
        Self {
            concordant: self.concordant + o.concordant,
            discordant: self.discordant + o.discordant,
            pairs: self.pairs + o.pairs,
            tied_x: self.tied_x + o.tied_x,
            tied_y: self.tied_y + o.tied_y,
        }
    }

    /// tau-b = (C - D) / sqrt((n0 - n1)(n0 - n2)); `None` when either side is constant.
    pub fn tau_b(self) -> Option<f64> {
        let left = (self.pairs - self.tied_x) as f64;
        let right = (self.pairs - self.tied_y) as f64;
        (left > 0.0 && right > 0.0)
            .then(|| (self.concordant as f64 - self.discordant as f64) / (left * right).sqrt())
    }
}

/// Kendall's tau-b of two samples (scipy's `kendalltau`, variant b): ties in either sample are
/// corrected for; `None` when either sample is constant or has fewer than two points.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Option<f64> {
    KendallCounts::of(x, y).tau_b()
}

/// **Kendall tau-b per prompt**: tau-b between the scores and the (mean) human ranking of each
/// prompt, averaged over the prompts where it is defined (at least two ranked images, neither
/// side constant).
pub fn kendall_per_prompt<'a>(prompts: impl IntoIterator<Item = &'a RankedPrompt>) -> Option<f64> {
    mean(prompts.into_iter().filter_map(|p| {
        let (s, h) = p.ranked_images();
        kendall_tau_b(&s, &h)
    }))
}

/// **Kendall tau-b pooled**: tau-b over the union of every prompt's within-prompt pairs:
/// concordant, discordant, tied-in-scores and tied-in-ranking counts summed over prompts, then
/// `(C - D) / sqrt((n0 - n1)(n0 - n2))`.
pub fn kendall_pooled<'a>(prompts: impl IntoIterator<Item = &'a RankedPrompt>) -> Option<f64> {
    prompts
        .into_iter()
        .map(|p| {
            let (s, h) = p.ranked_images();
            KendallCounts::of(&s, &h)
        })
        .fold(KendallCounts::default(), KendallCounts::add)
        .tau_b()
}

/// **Spearman rho per prompt**: Spearman's rho (Pearson correlation of average ranks, scipy's
/// `spearmanr`) between the scores and the (mean) human ranking of each prompt, averaged over
/// the prompts where it is defined.
pub fn spearman_per_prompt<'a>(prompts: impl IntoIterator<Item = &'a RankedPrompt>) -> Option<f64> {
    mean(prompts.into_iter().filter_map(|p| {
        let (s, h) = p.ranked_images();
        metrics::spearman(&s, &h)
    }))
}

/// **Spearman rho pooled**: within each prompt both sides are turned into average ranks and
/// centred on the prompt's mean rank; rho is `sum(cx * cy) / sqrt(sum(cx²) * sum(cy²))` over all
/// images of all prompts (the Pearson correlation of within-prompt ranks, pooled).
pub fn spearman_pooled<'a>(prompts: impl IntoIterator<Item = &'a RankedPrompt>) -> Option<f64> {
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for p in prompts {
        let (s, h) = p.ranked_images();
        if s.len() < 2 {
            continue;
        }
        let (rx, ry) = (metrics::average_ranks(&s), metrics::average_ranks(&h));
        // Average ranks of n items always have mean (n + 1) / 2.
        let m = (s.len() as f64 + 1.0) / 2.0;
        for (a, b) in rx.iter().zip(&ry) {
            sxy += (a - m) * (b - m);
            sxx += (a - m) * (a - m);
            syy += (b - m) * (b - m);
        }
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tau_b_matches_scipy_with_ties() {
        // scipy.stats.kendalltau([1, 2, 2, 3, 4], [1, 3, 2, 2, 5]).statistic = 2/3
        let t = kendall_tau_b(&[1.0, 2.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 2.0, 5.0]).unwrap();
        assert!((t - 2.0 / 3.0).abs() < 1e-12, "{t}");
        assert_eq!(kendall_tau_b(&[1.0, 1.0], &[1.0, 2.0]), None);
        // differences whose product underflows still count
        let t = kendall_tau_b(&[0.0, 1e-200, 2e-200], &[0.0, 1e-200, 3e-200]).unwrap();
        assert_eq!(t, 1.0);
    }

    #[test]
    fn agreement_is_positive() {
        // image 0 ranked best and scored highest
        let p = RankedPrompt::single(vec![3.0, 2.0, 1.0], vec![Some(1.0), Some(2.0), Some(3.0)])
            .unwrap();
        assert_eq!(kendall_per_prompt([&p]), Some(1.0));
        assert_eq!(kendall_pooled([&p]), Some(1.0));
        assert_eq!(spearman_per_prompt([&p]), Some(1.0));
        assert_eq!(spearman_pooled([&p]), Some(1.0));
    }
}
