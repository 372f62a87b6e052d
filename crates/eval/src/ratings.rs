//! Per-criterion figures of a Likert head (alignment, fidelity, harmlessness, or overall ratings):
//! how close its predicted rating comes to the people's ratings, and how well its output follows
//! the mean rating of each image.

use crate::error::{EvalError, Result};
use crate::pairwise::mean;

/// One image as a Likert head and its raters see it.
#[derive(Clone, Debug, PartialEq)]
pub struct RatedImage {
    /// The head's raw score (higher is better).
    pub score: f64,
    /// The head's predicted rating on the dataset's scale, when it gives one.
    pub predicted: Option<f64>,
    /// Every rating the image received (one per judgment); may be empty.
    pub ratings: Vec<f64>,
}

impl RatedImage {
    /// Checks that every number is finite.
    pub fn new(score: f64, predicted: Option<f64>, ratings: Vec<f64>) -> Result<Self> {
        let bad = std::iter::once(score)
            .chain(predicted)
            .chain(ratings.iter().copied())
            .find(|v| !v.is_finite());
        if let Some(v) = bad {
            return Err(EvalError::Shape(format!(
                "rated image holds {v}, not a finite number"
            )));
        }
        Ok(Self {
            score,
            predicted,
            ratings,
        })
    }

    pub fn mean_rating(&self) -> Option<f64> {
        mean(self.ratings.iter().copied())
    }

    /// What is correlated with the mean rating: the predicted rating when there is one (so that
    /// Pearson measures the calibrated output), else the score.
    fn output(&self) -> f64 {
        self.predicted.unwrap_or(self.score)
    }
}

/// A prompt's images for one criterion.
pub type RatedPrompt = Vec<RatedImage>;

/// The predicted rating as a level of the scale: rounded to the nearest level (halves up) and
/// clamped to `[min, max]`.
pub fn rating_level(predicted: f64, min: f64, max: f64) -> f64 {
    (predicted + 0.5).floor().clamp(min, max)
}

fn judgments<'a>(
    prompts: impl IntoIterator<Item = &'a RatedPrompt>,
) -> impl Iterator<Item = (f64, f64)> {
    prompts
        .into_iter()
        .flatten()
        .filter_map(|im| im.predicted.map(|p| (p, &im.ratings)))
        .flat_map(|(p, rs)| rs.iter().map(move |&r| (p, r)))
}

/// **MAE** of the predicted rating: the mean of `|predicted - rating|` over every judgment
/// (image x annotator) of an image with a predicted rating.
pub fn rating_mae<'a>(prompts: impl IntoIterator<Item = &'a RatedPrompt>) -> Option<f64> {
    mean(judgments(prompts).map(|(p, r)| (p - r).abs()))
}

/// **Exact-match accuracy** of the predicted rating: the share of judgments whose rating equals
/// the predicted rating rounded to the nearest level of the scale `[min, max]` ([`rating_level`]).
pub fn rating_exact<'a>(
    prompts: impl IntoIterator<Item = &'a RatedPrompt>,
    min: f64,
    max: f64,
) -> Option<f64> {
    mean(judgments(prompts).map(|(p, r)| f64::from(rating_level(p, min, max) == r)))
}

fn output_vs_mean<'a>(prompts: impl IntoIterator<Item = &'a RatedPrompt>) -> (Vec<f64>, Vec<f64>) {
    prompts
        .into_iter()
        .flatten()
        .filter_map(|im| im.mean_rating().map(|m| (im.output(), m)))
        .unzip()
}

/// **Spearman** between the head's output (predicted rating, else score) and the mean rating of
/// each image, over all rated images of all prompts (ratings are absolute, so images of different
/// prompts compare).
pub fn rating_spearman<'a>(prompts: impl IntoIterator<Item = &'a RatedPrompt>) -> Option<f64> {
    let (x, y) = output_vs_mean(prompts);
    metrics::spearman(&x, &y)
}

/// **Pearson** between the head's output (predicted rating, else score) and the mean rating of
/// each image, over all rated images of all prompts; `None` when either side is constant (as
/// scipy's `pearsonr` gives NaN there; the rounding of a mean would otherwise make a constant
/// side look like it varies).
pub fn rating_pearson<'a>(prompts: impl IntoIterator<Item = &'a RatedPrompt>) -> Option<f64> {
    let (x, y) = output_vs_mean(prompts);
    let constant = |v: &[f64]| v.iter().all(|a| *a == v[0]);
    if x.is_empty() || constant(&x) || constant(&y) {
        return None;
    }
    metrics::pearson(&x, &y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judgments_and_means() {
        let p: RatedPrompt = vec![
            RatedImage::new(0.1, Some(2.5), vec![2.0, 4.0]).unwrap(),
            RatedImage::new(0.9, Some(6.4), vec![6.0]).unwrap(),
            RatedImage::new(0.5, None, vec![]).unwrap(),
        ];
        // |2.5-2| + |2.5-4| + |6.4-6| = 0.5 + 1.5 + 0.4
        assert!((rating_mae([&p]).unwrap() - 2.4 / 3.0).abs() < 1e-12);
        // levels 3 and 6: only the 6 matches
        assert_eq!(rating_exact([&p], 1.0, 7.0), Some(1.0 / 3.0));
        assert_eq!(rating_level(7.6, 1.0, 7.0), 7.0);
        assert_eq!(rating_spearman([&p]), Some(1.0));
        assert!(RatedImage::new(f64::NAN, None, vec![]).is_err());
        // a constant output has no correlation, whatever rounding does to its mean
        let flat: RatedPrompt = [1.0, 2.0, 4.0]
            .iter()
            .map(|&r| RatedImage::new(0.1, Some(0.1), vec![r]).unwrap())
            .collect();
        assert_eq!(rating_pearson([&flat]), None);
        assert_eq!(rating_spearman([&flat]), None);
    }
}
