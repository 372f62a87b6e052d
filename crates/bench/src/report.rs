//! The lines every benchmark prints the same way: the machine first, then each row's rate as a
//! share of the measured peak, so that figures from different machines are never compared as if
//! one machine gave them.

use crate::{BenchError, Machine, Roofline};

/// Every core this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Prints the machine line every `bench` starts with.
pub fn print_machine(threads: usize) {
    println!("  {}", Machine::detect(threads).header());
}

/// Measures the roofline (about 0.3 s when `quick`) on `threads` threads and prints it, for the
/// benchmarks that give each row's share of the peak.
///
/// # Errors
///
/// [`BenchError::Threads`] when the thread pool of the peak loops cannot be built.
pub fn measure_roofline(threads: usize, quick: bool) -> Result<Roofline, BenchError> {
    let roofline = Roofline::measure(threads, quick)?;
    println!("  {}", roofline.line());
    Ok(roofline)
}

/// GFLOP/s of `items_per_s` items of `flop_per_item` each.
pub fn gflops(flop_per_item: f64, items_per_s: f64) -> f64 {
    flop_per_item * items_per_s / 1e9
}

/// `gflops` as "N%" of the peak, or "-" where there is no figure.
pub fn percent_of_peak(roofline: &Roofline, gflops: Option<f64>) -> String {
    match gflops {
        Some(g) if g.is_finite() => format!("{:.0}%", roofline.percent(g)),
        _ => "-".into(),
    }
}

/// "lo..hi" of a list of rates, for the spread of the repeats.
pub fn spread(rates: &[f64]) -> String {
    let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.1}..{hi:.1}")
}

/// The total size of the files under `dir`.
pub fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            total += if p.is_dir() {
                dir_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_spreads_print_as_the_benchmarks_show_them() {
        assert_eq!(gflops(2e9, 3.0), 6.0);
        assert_eq!(spread(&[3.0, 1.3, 2.0]), "1.3..3.0");
        let roofline = Roofline {
            threads: 1,
            isa: crate::VectorIsa::detect(),
            gflops_one_thread: 50.0,
            gflops: 100.0,
            bandwidth_gbs: 10.0,
        };
        assert_eq!(percent_of_peak(&roofline, Some(42.0)), "42%");
        assert_eq!(percent_of_peak(&roofline, None), "-");
        assert_eq!(percent_of_peak(&roofline, Some(f64::NAN)), "-");
    }
}
