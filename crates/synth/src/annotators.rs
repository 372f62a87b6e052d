//! Simulated annotators: each perceives an image's latent qualities through its own bias and
//! noise, rates them on 1..7 with its own thresholds (some compress towards the middle, some use
//! the extremes), and ranks a prompt's images into tiers (1 = best, ties allowed) by perceived
//! overall quality, as in ImageRewardDB.

use annotations::Criterion;
use serde::{Deserialize, Serialize};

/// How an annotator uses the Likert scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleUse {
    /// Avoids the ends of the scale.
    Middle,
    Typical,
    /// Favours the ends of the scale.
    Extreme,
}

/// One simulated annotator. Biases, noise and thresholds are on the latent [0, 1] scale, per
/// criterion in [`annotations::Criterion::index`] order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnnotatorProfile {
    /// `a01`, `a02`, ...
    pub id: String,
    /// Added to every perceived latent before rating (a lenient or harsh rater).
    pub bias: [f64; 4],
    /// Standard deviation of the perception noise per criterion.
    pub noise: [f64; 4],
    pub scale_use: ScaleUse,
    /// Six increasing cut points per criterion: rating = 1 + number of cuts below the perceived
    /// value.
    pub cuts: [[f64; 6]; 4],
}

impl AnnotatorProfile {
    /// The Likert rating (1..=7) of a perceived latent for criterion index `c`.
    pub fn rate(&self, c: usize, perceived: f64) -> u8 {
        let v = perceived + self.bias[c];
        1 + self.cuts[c].iter().filter(|&&k| v > k).count() as u8
    }
}

/// The annotator pool: a third each of middle, typical and extreme scale users (interleaved so
/// that small pools mix them), noise scaled by `noise_scale`.
pub fn annotator_pool(n: usize, seed: u64, noise_scale: f64) -> Vec<AnnotatorProfile> {
    let mut rng = prng::Rng::derive(seed, "annotators");
    (0..n)
        .map(|i| {
            let scale_use = [ScaleUse::Typical, ScaleUse::Middle, ScaleUse::Extreme][i % 3];
            // spread > 1 pushes the outer cuts outwards: fewer extreme ratings
            let spread = match scale_use {
                ScaleUse::Middle => rng.range_f64(1.25, 1.5),
                ScaleUse::Typical => rng.range_f64(0.9, 1.1),
                ScaleUse::Extreme => rng.range_f64(0.6, 0.75),
            };
            let base_noise = rng.range_f64(0.035, 0.08) * noise_scale;
            let mut bias = [0.0; 4];
            let mut noise = [0.0; 4];
            let mut cuts = [[0.0; 6]; 4];
            for c in 0..4 {
                bias[c] = 0.035 * rng.normal() * noise_scale;
                // fidelity is the most subjective criterion: raters disagree most about it
                let subjectivity = if c == Criterion::Fidelity.index() {
                    1.6
                } else {
                    1.0
                };
                noise[c] = base_noise * subjectivity * rng.range_f64(0.8, 1.25);
                for (k, cut) in cuts[c].iter_mut().enumerate() {
                    let even = (k as f64 + 1.0) / 7.0;
                    *cut = 0.5 + (even - 0.5) * spread + 0.01 * rng.normal() * noise_scale;
                }
                if c == Criterion::Harmlessness.index() {
                    // even raters who avoid the extremes give full marks to an image with
                    // nothing harmful in it
                    cuts[c][5] = cuts[c][5].min(0.9);
                }
                cuts[c].sort_by(f64::total_cmp);
            }
            AnnotatorProfile {
                id: format!("a{:02}", i + 1),
                bias,
                noise,
                scale_use,
                cuts,
            }
        })
        .collect()
}

/// Rank tiers (1 = best, contiguous, ties allowed) of values where higher is better. Sorted
/// neighbours closer than `margin` share a tier (chained); then, while there are more than
/// `max_tiers` tiers (0 = no limit), the two closest neighbouring tiers merge.
pub fn rank_tiers(perceived: &[f64], margin: f64, max_tiers: u32) -> Vec<u32> {
    let mut order: Vec<usize> = (0..perceived.len()).collect();
    order.sort_by(|&a, &b| perceived[b].total_cmp(&perceived[a]).then(a.cmp(&b)));
    // tiers as runs of `order`
    let mut tiers: Vec<Vec<usize>> = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        if k > 0 && perceived[order[k - 1]] - perceived[i] <= margin {
            tiers.last_mut().expect("k > 0").push(i);
        } else {
            tiers.push(vec![i]);
        }
    }
    if max_tiers > 0 {
        while tiers.len() > max_tiers as usize {
            let gap = |t: usize| {
                let last = *tiers[t].last().expect("non-empty tier");
                perceived[last] - perceived[tiers[t + 1][0]]
            };
            let t = (0..tiers.len() - 1)
                .min_by(|&a, &b| gap(a).total_cmp(&gap(b)))
                .expect("two tiers");
            let next = tiers.remove(t + 1);
            tiers[t].extend(next);
        }
    }
    let mut rank = vec![0u32; perceived.len()];
    for (t, members) in tiers.iter().enumerate() {
        for &i in members {
            rank[i] = t as u32 + 1;
        }
    }
    rank
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_are_contiguous_and_merge_close_values() {
        assert_eq!(rank_tiers(&[0.5, 0.9, 0.1], 0.01, 0), vec![2, 1, 3]);
        assert_eq!(
            rank_tiers(&[0.5, 0.505, 0.1, 0.9], 0.01, 0),
            vec![2, 2, 3, 1]
        );
        // cap at two tiers: 0.9 | 0.5 0.45 | 0.1 -> closest boundary (0.5/0.45) was already one
        // tier, next closest is 0.45/0.1 (0.35) vs 0.9/0.5 (0.4)
        assert_eq!(
            rank_tiers(&[0.9, 0.5, 0.45, 0.1], 0.06, 2),
            vec![1, 2, 2, 2]
        );
        assert!(rank_tiers(&[], 0.01, 5).is_empty());
    }

    #[test]
    fn ratings_follow_scale_use() {
        let pool = annotator_pool(12, 1, 1.0);
        assert_eq!(pool.len(), 12);
        for a in &pool {
            assert!(a.cuts.iter().all(|c| c.windows(2).all(|w| w[0] <= w[1])));
            assert_eq!(a.rate(0, -1.0), 1);
            assert_eq!(a.rate(0, 2.0), 7);
        }
        let mid = pool
            .iter()
            .find(|a| a.scale_use == ScaleUse::Middle)
            .unwrap();
        let ext = pool
            .iter()
            .find(|a| a.scale_use == ScaleUse::Extreme)
            .unwrap();
        let extremes = |a: &AnnotatorProfile| {
            (0..=100)
                .map(|k| a.rate(1, k as f64 / 100.0 - a.bias[1]))
                .filter(|&r| r == 1 || r == 7)
                .count()
        };
        assert!(
            extremes(ext) > extremes(mid),
            "{} {}",
            extremes(ext),
            extremes(mid)
        );
    }
}
