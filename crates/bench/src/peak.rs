//! `rewardlab bench peak`: this machine's measured roofline (float32 FMA peak, memory bandwidth)
//! and how close burn's matrix products come to it.

use burn::tensor::Device;

use crate::BenchError;
use crate::report::{cores, gflops, measure_roofline, print_machine};
use crate::timing::{Repeats, timed, with_threads};
use crate::workloads::{MATMUL_SHAPES, MATMUL_STEPS_PER_SAMPLE, MatmulWorkload};

/// The share of the measured peak the matrix products should reach.
pub const MATMUL_TARGET_PERCENT: f64 = 85.0;

/// Square products beside the encoders' own shapes: the best shape is the one to judge the
/// kernels by, the encoders' shapes are what the workloads run.
const SQUARE_SIDES: [usize; 3] = [512, 1024, 2048];

/// What `bench peak` runs.
#[derive(Debug, Clone, clap::Args)]
pub struct PeakOptions {
    /// Threads (the size of burn's rayon pool and of the peak loops); default: every core.
    #[arg(long)]
    pub threads: Option<usize>,
    /// One warm-up and two timed repeats instead of two and five, and a shorter peak loop.
    #[arg(long)]
    pub quick: bool,
}

/// Measures and prints the roofline and the matrix products on `device`.
///
/// # Errors
///
/// As the thread pool and the products.
pub fn run(options: &PeakOptions, device: &Device) -> Result<(), BenchError> {
    let threads = options.threads.unwrap_or_else(cores);
    println!("bench peak:");
    print_machine(threads);
    let roofline = measure_roofline(threads, options.quick)?;
    println!(
        "  machine balance: {:.1} FLOP per byte of memory traffic (below it a kernel is bound by \
         memory, above it by arithmetic)",
        roofline.gflops / roofline.bandwidth_gbs
    );
    let repeats = if options.quick {
        Repeats::QUICK
    } else {
        Repeats::FULL
    };
    let mut shapes: Vec<(String, usize, usize, usize)> = SQUARE_SIDES
        .iter()
        .map(|&s| (format!("{s}^3"), s, s, s))
        .collect();
    shapes.extend(
        MATMUL_SHAPES
            .iter()
            .map(|&(name, m, k, n)| (format!("{name} {m}x{k}x{n}"), m, k, n)),
    );
    println!(
        "  burn flex matrix products (float32, median of {} after {} warm-up(s), {} products \
         each):",
        repeats.repeats, repeats.warmup, MATMUL_STEPS_PER_SAMPLE
    );
    let mut best: f64 = 0.0;
    for (name, m, k, n) in shapes {
        let rate = with_threads(threads, || -> Result<f64, BenchError> {
            let work = MatmulWorkload::new(m, k, n, device)?;
            let t = timed(|| work.step(), 1, repeats, MATMUL_STEPS_PER_SAMPLE)?;
            Ok(gflops(work.flop(), t.median))
        })??;
        best = best.max(rate);
        println!(
            "    {name:<34} {rate:>8.1} GFLOP/s  {:>4.0}% of peak",
            roofline.percent(rate)
        );
    }
    let share = roofline.percent(best);
    println!(
        "  best product: {best:.1} GFLOP/s = {share:.0}% of the measured peak; target >= \
         {MATMUL_TARGET_PERCENT:.0}% ({})",
        if share >= MATMUL_TARGET_PERCENT {
            "met"
        } else {
            "not met"
        }
    );
    Ok(())
}
