//! `WorldSummary`: counts of the generated world and its oracle ceilings, the scores a perfect
//! model of the latent truth would reach against the noisy simulated annotators.

use std::collections::BTreeMap;

use annotations::{Criterion, PerCriterion, Row};
use serde::{Deserialize, Serialize};

use crate::truth::GroundTruth;

/// Counts and oracle ceilings of a world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorldSummary {
    pub prompts: usize,
    pub generations: usize,
    /// Judgment rows (generations x raters per prompt).
    pub rows: usize,
    /// Prompts per category name.
    pub categories: BTreeMap<String, usize>,
    pub quality_word_prompts: usize,
    pub harmful_word_prompts: usize,
    /// Images showing the harmful motif.
    pub harmful_images: usize,
    /// Images with at least one alignment error.
    pub misaligned_images: usize,
    /// Same-annotator pairs of a prompt's images in different rank tiers.
    pub pairs_strict: usize,
    /// Same-annotator pairs in the same tier.
    pub pairs_tied: usize,
    /// pairs_tied / (pairs_strict + pairs_tied).
    pub tie_fraction: f64,
    /// Mean of each latent over all images.
    pub mean_latent: PerCriterion<f64>,
    /// Mean rating per criterion over all rows.
    pub mean_rating: PerCriterion<f64>,
    /// Oracle ceiling: share of strict pairs whose better-ranked image has the higher true overall
    /// latent (an exact tie in the latent counts as wrong).
    pub oracle_pairwise_accuracy: f64,
    /// Oracle ceiling per criterion: Spearman correlation (average ranks for ties) between the
    /// true latent and the image's mean rating, pooled over all images.
    pub oracle_spearman: PerCriterion<f64>,
}

/// Spearman rank correlation with average ranks for ties (0 when undefined, e.g. a constant
/// side), from the workspace's shared `metrics` crate.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    metrics::spearman(x, y).unwrap_or(0.0)
}

/// Oracle ceilings and pair counts from rows (any order) and the truth of their generations.
/// Returns (strict pairs, tied pairs, pairwise accuracy, per-criterion Spearman, mean ratings).
pub(crate) fn oracle(
    rows: &[Row],
    truth: &[GroundTruth],
) -> (usize, usize, f64, PerCriterion<f64>, PerCriterion<f64>) {
    let by_id: BTreeMap<&str, usize> = truth
        .iter()
        .enumerate()
        .map(|(i, t)| (t.generation_id.as_str(), i))
        .collect();
    // (prompt, annotator) -> [(truth index, rank)]
    let mut groups: BTreeMap<(&str, &str), Vec<(usize, u32)>> = BTreeMap::new();
    let mut sums = vec![[0.0f64; 4]; truth.len()];
    let mut counts = vec![[0usize; 4]; truth.len()];
    let mut rating_sum = [0.0f64; 4];
    let mut rating_n = [0usize; 4];
    for row in rows {
        let Some(&g) = by_id.get(row.generation_id.as_str()) else {
            continue;
        };
        if let Some(rank) = row.rank {
            groups
                .entry((
                    row.prompt_id.as_str(),
                    row.annotator.as_deref().unwrap_or(""),
                ))
                .or_default()
                .push((g, rank));
        }
        for c in Criterion::ALL {
            if let Some(v) = row.rating(c) {
                sums[g][c.index()] += v as f64;
                counts[g][c.index()] += 1;
                rating_sum[c.index()] += v as f64;
                rating_n[c.index()] += 1;
            }
        }
    }
    let (mut strict, mut tied, mut correct) = (0usize, 0usize, 0usize);
    for ranked in groups.values() {
        for i in 0..ranked.len() {
            for j in i + 1..ranked.len() {
                let ((gi, ri), (gj, rj)) = (ranked[i], ranked[j]);
                if ri == rj {
                    tied += 1;
                    continue;
                }
                strict += 1;
                let (better, worse) = if ri < rj { (gi, gj) } else { (gj, gi) };
                correct += (truth[better].overall > truth[worse].overall) as usize;
            }
        }
    }
    let mut rho = PerCriterion::default();
    let mut mean_rating = PerCriterion::default();
    for c in Criterion::ALL {
        let k = c.index();
        let (mut lat, mut rat) = (Vec::new(), Vec::new());
        for (g, t) in truth.iter().enumerate() {
            if counts[g][k] > 0 {
                lat.push(t.latent(c));
                rat.push(sums[g][k] / counts[g][k] as f64);
            }
        }
        rho[c] = Some(spearman(&lat, &rat));
        mean_rating[c] = Some(if rating_n[k] > 0 {
            rating_sum[k] / rating_n[k] as f64
        } else {
            0.0
        });
    }
    let acc = if strict > 0 {
        correct as f64 / strict as f64
    } else {
        0.0
    };
    (strict, tied, acc, rho, mean_rating)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_handles_ties_and_monotone_maps() {
        let x = [0.1, 0.4, 0.2, 0.9, 0.5];
        let y: Vec<f64> = x.iter().map(|v: &f64| v.powi(3) * 10.0).collect();
        assert!((spearman(&x, &y) - 1.0).abs() < 1e-12);
        let rev: Vec<f64> = x.iter().map(|v| -v).collect();
        assert!((spearman(&x, &rev) + 1.0).abs() < 1e-12);
        assert_eq!(spearman(&x, &[1.0; 5]), 0.0);
    }
}
