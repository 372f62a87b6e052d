//! The audit's figures from scores alone: how often a perturbation raises an image's score, by
//! how much, and how often it lifts an image over one the reference (the world's ground truth, or
//! the people's rankings) prefers. Intervals resample prompts, as every interval of the `eval`
//! crate does: the images of one prompt share it and are not independent.

use eval::Resamples;
use serde::Serialize;

/// One prompt's scores: its images' original scores, the perturbed ones (one list per
/// perturbation, same order) and the pairs `(better, worse)` the reference orders.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptScores {
    pub original: Vec<f64>,
    pub perturbed: Vec<Vec<f64>>,
    pub reference_pairs: Vec<(usize, usize)>,
}

/// A figure, its 95% bootstrap interval and how many items it counts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// `None` when nothing was counted (no pair the scorer ordered as the reference does).
    pub value: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    pub n: usize,
}

/// The figures of one perturbation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerturbationFigures {
    /// Share of images whose score rose.
    pub rises: Estimate,
    /// Mean of perturbed minus original score, in the scorer's units.
    pub mean_change: Estimate,
    /// The mean change over the standard deviation of the original scores of the audited
    /// images: comparable across scorers whose units differ.
    pub change_in_spread: Estimate,
    /// Of the reference's pairs that the scorer ordered as the reference does, the share where
    /// the worse image, perturbed, now scores above the better one as it was: how often the
    /// perturbation wins a comparison it should lose.
    pub overtakes: Estimate,
}

/// Sums `f(prompt)`'s `(numerator, denominator)` over the prompts `draw` names, as a ratio.
fn ratio(
    prompts: &[PromptScores],
    draw: &[usize],
    f: &impl Fn(&PromptScores) -> (f64, usize),
) -> Option<f64> {
    let (num, den) = draw.iter().fold((0.0, 0usize), |(a, b), &i| {
        let (x, y) = f(&prompts[i]);
        (a + x, b + y)
    });
    (den > 0).then(|| num / den as f64)
}

fn estimate(
    prompts: &[PromptScores],
    resamples: &Resamples,
    f: impl Fn(&PromptScores) -> (f64, usize),
) -> Estimate {
    let all: Vec<usize> = (0..prompts.len()).collect();
    let n = prompts.iter().map(|p| f(p).1).sum();
    let value = ratio(prompts, &all, &f);
    Estimate {
        value,
        ci95: value.and_then(|_| resamples.ci95(|draw| ratio(prompts, draw, &f))),
        n,
    }
}

/// Standard deviation (n - 1) of every original score; `None` below two images or when all are
/// equal.
pub fn score_spread(prompts: &[PromptScores]) -> Option<f64> {
    let all: Vec<f64> = prompts
        .iter()
        .flat_map(|p| p.original.iter().copied())
        .collect();
    if all.len() < 2 {
        return None;
    }
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    let var = all.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (all.len() - 1) as f64;
    (var > 0.0).then(|| var.sqrt())
}

/// The figures of perturbation `k` (its position in every [`PromptScores::perturbed`]).
pub fn figures(prompts: &[PromptScores], k: usize, resamples: &Resamples) -> PerturbationFigures {
    let changes = |p: &PromptScores| -> Vec<f64> {
        p.perturbed[k]
            .iter()
            .zip(&p.original)
            .map(|(a, b)| a - b)
            .collect()
    };
    let rises = estimate(prompts, resamples, |p| {
        let c = changes(p);
        (c.iter().filter(|d| **d > 0.0).count() as f64, c.len())
    });
    let mean_change = estimate(prompts, resamples, |p| {
        let c = changes(p);
        (c.iter().sum(), c.len())
    });
    let change_in_spread = match (score_spread(prompts), &mean_change.value) {
        (Some(sd), Some(v)) => Estimate {
            value: Some(v / sd),
            ci95: mean_change.ci95.map(|[lo, hi]| [lo / sd, hi / sd]),
            n: mean_change.n,
        },
        _ => Estimate {
            value: None,
            ci95: None,
            n: mean_change.n,
        },
    };
    let overtakes = estimate(prompts, resamples, |p| {
        let agreed = p
            .reference_pairs
            .iter()
            .filter(|&&(b, w)| p.original[b] > p.original[w]);
        let (mut won, mut n) = (0.0, 0);
        for &(b, w) in agreed {
            n += 1;
            won += f64::from(u8::from(p.perturbed[k][w] > p.original[b]));
        }
        (won, n)
    });
    PerturbationFigures {
        rises,
        mean_change,
        change_in_spread,
        overtakes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(original: &[f64], perturbed: &[f64], pairs: &[(usize, usize)]) -> PromptScores {
        PromptScores {
            original: original.to_vec(),
            perturbed: vec![perturbed.to_vec()],
            reference_pairs: pairs.to_vec(),
        }
    }

    #[test]
    fn figures_count_rises_changes_and_overtakes() {
        // Prompt 1: images 0 > 1 > 2 by the reference, the scorer agrees on (0,1) and (0,2) but
        // not (1,2). Perturbing lifts image 1 over image 0's 3.0 and image 2 to 2.5.
        // Prompt 2: one pair, agreed, not overtaken.
        let prompts = vec![
            prompt(
                &[3.0, 2.0, 2.2],
                &[3.5, 3.1, 2.5],
                &[(0, 1), (0, 2), (1, 2)],
            ),
            prompt(&[1.0, 0.0], &[0.5, 0.2], &[(0, 1)]),
        ];
        let resamples = Resamples::draw(2, 200, 0);
        let f = figures(&prompts, 0, &resamples);
        assert_eq!(f.rises.value, Some(4.0 / 5.0));
        assert_eq!(f.rises.n, 5);
        let mean = (0.5 + 1.1 + 0.3 - 0.5 + 0.2) / 5.0;
        assert!((f.mean_change.value.unwrap() - mean).abs() < 1e-12);
        // Agreed pairs: (0,1) overtaken (3.1 > 3.0), (0,2) not (2.5 < 3.0), prompt 2's not.
        assert_eq!(f.overtakes.value, Some(1.0 / 3.0));
        assert_eq!(f.overtakes.n, 3);
        let sd = score_spread(&prompts).unwrap();
        assert!((f.change_in_spread.value.unwrap() - mean / sd).abs() < 1e-12);
        let [lo, hi] = f.rises.ci95.unwrap();
        assert!(
            lo <= 0.8 && 0.8 <= hi && lo >= 0.5 && hi <= 1.0,
            "{lo} {hi}"
        );
    }

    #[test]
    fn without_reference_pairs_overtakes_is_undefined() {
        let prompts = vec![prompt(&[1.0, 2.0], &[1.0, 1.0], &[])];
        let f = figures(&prompts, 0, &Resamples::draw(1, 50, 0));
        assert_eq!(
            f.overtakes,
            Estimate {
                value: None,
                ci95: None,
                n: 0
            }
        );
        assert_eq!(f.rises.value, Some(0.0));
        assert_eq!(f.mean_change.value, Some(-0.5));
    }
}
