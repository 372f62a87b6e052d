//! Timing as both sides of every comparison take it: warm-up runs, then timed repeats whose
//! median is the figure ([`timed`], as the Python scripts' `timed`), in a rayon pool of a chosen
//! size ([`with_threads`]: the flex backend splits its matrix products over the current pool).

use std::time::Instant;

use crate::BenchError;

/// Warm-up and timed repeats: the Python scripts' `2, 5` ([`Repeats::FULL`]) or, with
/// `--quick`, `1, 2` ([`Repeats::QUICK`]); `1, 3` ([`Repeats::SLOW`]) where one run takes
/// seconds per item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeats {
    /// Untimed runs first (the pair head runs ten times this many steps, as the script does).
    pub warmup: usize,
    /// Timed samples; the figure is their median.
    pub repeats: usize,
}

impl Repeats {
    /// Two warm-ups, five timed repeats.
    pub const FULL: Self = Self {
        warmup: 2,
        repeats: 5,
    };
    /// One warm-up, two timed repeats.
    pub const QUICK: Self = Self {
        warmup: 1,
        repeats: 2,
    };
    /// One warm-up, three timed repeats: a real-size ImageReward takes seconds per image on a
    /// few cores.
    pub const SLOW: Self = Self {
        warmup: 1,
        repeats: 3,
    };
}

/// One workload's throughput.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Throughput {
    /// Items (sentences, images, pairs) per second: the median of `repeats`.
    pub median: f64,
    /// Items per second of each timed sample.
    pub repeats: Vec<f64>,
    /// Items in one step.
    pub batch: usize,
}

/// Runs `step` `warmup` times, then `repeats` timed samples of `inner` steps each, and reports
/// `items * inner / seconds` per sample with their median (`timed` in the Python script).
///
/// # Errors
///
/// The first error of `step`.
pub fn timed<E>(
    mut step: impl FnMut() -> Result<(), E>,
    items: usize,
    repeats: Repeats,
    inner: usize,
) -> Result<Throughput, E> {
    for _ in 0..repeats.warmup {
        step()?;
    }
    let mut rates = Vec::with_capacity(repeats.repeats);
    for _ in 0..repeats.repeats {
        let t0 = Instant::now();
        for _ in 0..inner {
            step()?;
        }
        let seconds = t0.elapsed().as_secs_f64();
        rates.push((items * inner) as f64 / seconds.max(1e-12));
    }
    Ok(Throughput {
        median: median(&rates),
        repeats: rates,
        batch: items,
    })
}

/// The median as Python's `statistics.median` takes it (the mean of the middle two for an even
/// count); NaN for no values.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Runs `f` on a rayon pool of `threads` threads: the flex backend splits its matrix products
/// over the current pool, so this is how the Rust side gets the same thread count as torch's
/// `set_num_threads`.
///
/// # Errors
///
/// [`BenchError::Threads`] when the pool cannot be built (or `threads` is 0).
pub fn with_threads<R: Send>(
    threads: usize,
    f: impl FnOnce() -> R + Send,
) -> Result<R, BenchError> {
    Ok(thread_pool(threads)?.install(f))
}

/// A rayon pool of `threads` threads.
///
/// # Errors
///
/// [`BenchError::Threads`] when the pool cannot be built (or `threads` is 0).
pub fn thread_pool(threads: usize) -> Result<rayon::ThreadPool, BenchError> {
    let error = |message: String| BenchError::Threads { threads, message };
    if threads == 0 {
        return Err(error("at least one thread is needed".into()));
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| error(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_matches_python() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
