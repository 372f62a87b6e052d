//! Percentile bootstrap confidence intervals that resample prompts.
//!
//! Prompts, not pairs or images, are the unit: the pairs of one prompt share its images and its
//! annotators and are not independent, so resampling them would give intervals that are too
//! narrow. Each resample draws as many prompts as there are, with replacement (a prompt drawn
//! twice counts twice), and recomputes the figure; the 95% interval is the 2.5th and 97.5th
//! percentile of the recomputed figures (linear interpolation between order statistics, numpy's
//! default). Resamples where a figure is undefined (no pair left, a constant side) are left out.
//!
//! The draws come from the `prng` crate's fixed stream, so the same seed gives the same intervals
//! on every machine and release; every figure of an evaluation uses the same resamples, so figures
//! of different scorers on the same prompts are compared on the same draws.

/// Resamples drawn by default.
pub const DEFAULT_RESAMPLES: usize = 1000;

/// A fixed set of resamples of `0..prompts`.
#[derive(Clone, Debug, PartialEq)]
pub struct Resamples {
    prompts: usize,
    draws: Vec<Vec<usize>>,
}

impl Resamples {
    /// `count` resamples of `prompts` prompts from the stream `prng::Rng::derive(seed,
    /// "bootstrap")`: resample after resample, each prompt index drawn with `Rng::below`.
    pub fn draw(prompts: usize, count: usize, seed: u64) -> Self {
        Self {
            prompts,
            draws: draws(prompts, count, seed).collect(),
        }
    }

    /// The prompt indices of each resample.
    pub fn draws(&self) -> &[Vec<usize>] {
        &self.draws
    }

    pub fn prompts(&self) -> usize {
        self.prompts
    }

    /// The 95% percentile interval of `stat` (a figure computed from a multiset of prompt
    /// indices); `None` when it is undefined on every resample.
    pub fn ci95(&self, stat: impl Fn(&[usize]) -> Option<f64>) -> Option<[f64; 2]> {
        let mut values: Vec<f64> = self.draws.iter().filter_map(|d| stat(d)).collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        Some([percentile(&values, 2.5), percentile(&values, 97.5)])
    }
}

/// The draws of [`Resamples::draw`], one at a time: the same stream without holding every
/// resample in memory (a bootstrap over 100,000 prompts would otherwise keep 10^8 indices).
/// Empty when there are no prompts.
pub fn draws(prompts: usize, count: usize, seed: u64) -> impl Iterator<Item = Vec<usize>> {
    let mut rng = prng::Rng::derive(seed, "bootstrap");
    let count = if prompts == 0 { 0 } else { count };
    (0..count).map(move |_| (0..prompts).map(|_| rng.below(prompts)).collect())
}

/// The draws of [`draws`] as counts: `counts[p]` is how many times prompt `p` was drawn in that
/// resample. The same stream, written straight into the counts (what a weighted statistic
/// needs) without the list of indices between.
pub fn draw_counts(prompts: usize, count: usize, seed: u64) -> impl Iterator<Item = Vec<u32>> {
    let mut rng = prng::Rng::derive(seed, "bootstrap");
    let count = if prompts == 0 { 0 } else { count };
    (0..count).map(move |_| {
        let mut w = vec![0u32; prompts];
        for _ in 0..prompts {
            w[rng.below(prompts)] += 1;
        }
        w
    })
}

/// The generator of [`draws`] positioned at the start of resample `index`: each draw takes one
/// number of the stream, so resample `index` starts `index * prompts` numbers in. Resamples can
/// then be drawn on several threads, or in any order, and still be the same resamples.
pub fn resample_rng(prompts: usize, seed: u64, index: usize) -> prng::Rng {
    let mut rng = prng::Rng::derive(seed, "bootstrap");
    rng.advance((index as u64).wrapping_mul(prompts as u64));
    rng
}

/// The `q`-th percentile (0..=100) of sorted values, interpolating linearly between order
/// statistics (numpy's `percentile` with its default method).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_numpy() {
        // numpy.percentile([1, 2, 3, 4], [2.5, 97.5]) = [1.075, 3.925]
        let v = [1.0, 2.0, 3.0, 4.0];
        assert!((percentile(&v, 2.5) - 1.075).abs() < 1e-12);
        assert!((percentile(&v, 97.5) - 3.925).abs() < 1e-12);
        assert_eq!(percentile(&[5.0], 50.0), 5.0);
    }

    #[test]
    fn resamples_are_seeded() {
        let a = Resamples::draw(10, 5, 3);
        assert_eq!(a, Resamples::draw(10, 5, 3));
        assert_ne!(a, Resamples::draw(10, 5, 4));
        assert!(
            a.draws()
                .iter()
                .all(|d| d.len() == 10 && d.iter().all(|&i| i < 10))
        );
        assert_eq!(Resamples::draw(0, 5, 3).ci95(|_| Some(1.0)), None);
        assert_eq!(draws(10, 5, 3).collect::<Vec<_>>(), a.draws());
        // the counts are the same draws
        for (w, d) in draw_counts(10, 5, 3).zip(a.draws()) {
            let mut c = vec![0u32; 10];
            d.iter().for_each(|&i| c[i] += 1);
            assert_eq!(w, c);
        }
        assert_eq!(draw_counts(0, 5, 3).count(), 0);
        // any resample can be drawn on its own
        for (i, d) in a.draws().iter().enumerate() {
            let mut rng = resample_rng(10, 3, i);
            let own: Vec<usize> = (0..10).map(|_| rng.below(10)).collect();
            assert_eq!(&own, d);
        }
    }
}
