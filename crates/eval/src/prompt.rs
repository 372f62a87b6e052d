//! What the ranking metrics read: one prompt's images, a scorer's score for each, and every
//! annotator's ranking of them. Built with a checked constructor, so that the metrics can index
//! without checks and never panic on data a user handed in.

use crate::error::{EvalError, Result};

/// One annotator's ranking of a prompt's images: `ranks[i]` is image `i`'s rank tier (1 = best,
/// equal tiers are ties), `None` where this annotator did not rank image `i`. Ranks are `f64` so
/// that a mean rank over annotators is a ranking too.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranking {
    /// Index of the annotator in the caller's annotator list; `None` for anonymous or pooled
    /// rankings (ImageReward's `test.json` has one ranking per prompt and no annotator ids).
    pub annotator: Option<usize>,
    pub ranks: Vec<Option<f64>>,
}

/// One pair of images of a prompt as one annotator judged it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JudgedPair {
    /// Image positions within the prompt: `better` has the lower (better) rank; for a tie the
    /// order is the images' order.
    pub better: usize,
    pub worse: usize,
    pub tie: bool,
    /// Position of the ranking in [`RankedPrompt::rankings`].
    pub ranking: usize,
}

/// A prompt as the ranking metrics see it: a scorer's score per image (higher is better) and the
/// human rankings of the same images.
#[derive(Clone, Debug, PartialEq)]
pub struct RankedPrompt {
    scores: Vec<f64>,
    rankings: Vec<Ranking>,
}

impl RankedPrompt {
    /// Checks that every ranking covers the same images as `scores`, that scores are finite and
    /// that ranks are finite and positive.
    pub fn new(scores: Vec<f64>, rankings: Vec<Ranking>) -> Result<Self> {
        if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
            return Err(EvalError::Shape(format!(
                "score of image {i} is {}, not a finite number",
                scores[i]
            )));
        }
        for (k, r) in rankings.iter().enumerate() {
            if r.ranks.len() != scores.len() {
                return Err(EvalError::Shape(format!(
                    "ranking {k} has {} ranks for {} images",
                    r.ranks.len(),
                    scores.len()
                )));
            }
            if let Some(bad) = r
                .ranks
                .iter()
                .flatten()
                .find(|v| !(v.is_finite() && **v > 0.0))
            {
                return Err(EvalError::Shape(format!(
                    "ranking {k} holds rank {bad}; ranks are positive numbers (1 = best)"
                )));
            }
        }
        Ok(Self { scores, rankings })
    }

    /// A prompt with a single anonymous ranking (the common case: one ranking per prompt).
    pub fn single(scores: Vec<f64>, ranks: Vec<Option<f64>>) -> Result<Self> {
        Self::new(
            scores,
            vec![Ranking {
                annotator: None,
                ranks,
            }],
        )
    }

    pub fn scores(&self) -> &[f64] {
        &self.scores
    }

    pub fn rankings(&self) -> &[Ranking] {
        &self.rankings
    }

    /// The same human rankings judged against other scores (a baseline on the same prompt).
    pub fn with_scores(&self, scores: Vec<f64>) -> Result<Self> {
        Self::new(scores, self.rankings.clone())
    }

    /// Every pair of images that one ranking ranked both of, ranking by ranking, in image order.
    pub fn pairs(&self) -> impl Iterator<Item = JudgedPair> + '_ {
        self.rankings.iter().enumerate().flat_map(|(k, r)| {
            let n = r.ranks.len();
            (0..n).flat_map(move |i| {
                (i + 1..n).filter_map(move |j| {
                    let (ri, rj) = (r.ranks[i]?, r.ranks[j]?);
                    let (better, worse) = if rj < ri { (j, i) } else { (i, j) };
                    Some(JudgedPair {
                        better,
                        worse,
                        tie: ri == rj,
                        ranking: k,
                    })
                })
            })
        })
    }

    /// Mean rank of each image over the rankings that ranked it (`None`: nobody ranked it).
    pub fn mean_ranks(&self) -> Vec<Option<f64>> {
        mean_over(self.rankings.iter(), self.scores.len())
    }

    /// Mean rank of each image over every ranking except ranking `skip` (leave-one-out).
    pub fn mean_ranks_without(&self, skip: usize) -> Vec<Option<f64>> {
        mean_over(
            self.rankings
                .iter()
                .enumerate()
                .filter(|(k, _)| *k != skip)
                .map(|(_, r)| r),
            self.scores.len(),
        )
    }

    /// The consensus view: one ranking, the mean rank over annotators.
    pub fn consensus(&self) -> RankedPrompt {
        RankedPrompt {
            scores: self.scores.clone(),
            rankings: vec![Ranking {
                annotator: None,
                ranks: self.mean_ranks(),
            }],
        }
    }

    /// `(scores, goodness)` of the images with a mean rank, goodness = minus the mean rank, so
    /// that a positive correlation means agreement with the humans.
    pub(crate) fn ranked_images(&self) -> (Vec<f64>, Vec<f64>) {
        self.mean_ranks()
            .iter()
            .zip(&self.scores)
            .filter_map(|(r, s)| r.map(|r| (*s, -r)))
            .unzip()
    }
}

fn mean_over<'a>(rankings: impl Iterator<Item = &'a Ranking>, n: usize) -> Vec<Option<f64>> {
    let mut sum = vec![0.0; n];
    let mut count = vec![0usize; n];
    for r in rankings {
        for (i, v) in r.ranks.iter().enumerate() {
            if let Some(v) = v {
                sum[i] += v;
                count[i] += 1;
            }
        }
    }
    sum.iter()
        .zip(&count)
        .map(|(s, &c)| (c > 0).then(|| s / c as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        assert!(RankedPrompt::single(vec![1.0, 2.0], vec![Some(1.0)]).is_err());
        assert!(RankedPrompt::single(vec![1.0, f64::NAN], vec![Some(1.0), Some(2.0)]).is_err());
        assert!(RankedPrompt::single(vec![1.0, 2.0], vec![Some(0.0), Some(2.0)]).is_err());
    }

    #[test]
    fn pairs_skip_unranked_images_and_flag_ties() {
        let p = RankedPrompt::new(
            vec![0.0; 3],
            vec![
                Ranking {
                    annotator: Some(0),
                    ranks: vec![Some(2.0), Some(1.0), None],
                },
                Ranking {
                    annotator: Some(1),
                    ranks: vec![Some(1.0), Some(1.0), Some(2.0)],
                },
            ],
        )
        .unwrap();
        let pairs: Vec<JudgedPair> = p.pairs().collect();
        assert_eq!(pairs.len(), 4);
        assert_eq!(
            (pairs[0].better, pairs[0].worse, pairs[0].tie),
            (1, 0, false)
        );
        assert!(pairs[1].tie && pairs[1].ranking == 1);
        assert_eq!(p.mean_ranks(), vec![Some(1.5), Some(1.0), Some(2.0)]);
        assert_eq!(p.mean_ranks_without(1), vec![Some(2.0), Some(1.0), None]);
    }
}
