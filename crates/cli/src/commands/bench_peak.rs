//! `rewardlab bench peak`: this machine's measured roofline (float32 FMA peak, memory bandwidth)
//! and how close burn's matrix products come to it, and the machine line every other `bench`
//! prints first.

use anyhow::{Context, Result};
use rewardlab_bench::{Machine, Roofline};

/// The share of the measured peak the matrix products should reach.
const MATMUL_TARGET_PERCENT: f64 = 85.0;

/// Square products beside the encoders' own shapes: the best shape is the one to judge the
/// kernels by, the encoders' shapes are what the workloads run.
const SQUARE_SIDES: [usize; 3] = [512, 1024, 2048];

#[derive(clap::Args)]
pub struct Args {
    /// Threads (the size of burn's rayon pool and of the peak loops); default: every core.
    #[arg(long)]
    threads: Option<usize>,
    /// One warm-up and two timed repeats instead of two and five, and a shorter peak loop.
    #[arg(long)]
    quick: bool,
}

/// Prints the machine line every `bench` starts with.
pub fn print_machine(threads: usize) {
    println!("  {}", Machine::detect(threads).header());
}

/// Measures the roofline quickly (about 0.3 s) on `threads` threads and prints it, for the
/// benchmarks that give each row's share of the peak.
///
/// # Errors
///
/// When the thread pool of the peak loops cannot be built.
pub fn measure_roofline(threads: usize, quick: bool) -> Result<Roofline> {
    let roofline = Roofline::measure(threads, quick).context("measuring the roofline")?;
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

pub fn run(args: Args) -> Result<()> {
    use pretrained::bench;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    anyhow::ensure!(threads >= 1, "--threads must be at least 1");
    println!("bench peak:");
    print_machine(threads);
    let roofline = measure_roofline(threads, args.quick)?;
    println!(
        "  machine balance: {:.1} FLOP per byte of memory traffic (below it a kernel is bound by \
         memory, above it by arithmetic)",
        roofline.gflops / roofline.bandwidth_gbs
    );
    let repeats = if args.quick {
        bench::Repeats::QUICK
    } else {
        bench::Repeats::FULL
    };
    let mut shapes: Vec<(String, usize, usize, usize)> = SQUARE_SIDES
        .iter()
        .map(|&s| (format!("{s}^3"), s, s, s))
        .collect();
    shapes.extend(
        bench::MATMUL_SHAPES
            .iter()
            .map(|&(name, m, k, n)| (format!("{name} {m}x{k}x{n}"), m, k, n)),
    );
    println!(
        "  burn flex matrix products (float32, median of {} after {} warm-up(s), {} products \
         each):",
        repeats.repeats,
        repeats.warmup,
        bench::MATMUL_STEPS_PER_SAMPLE
    );
    let device = Default::default();
    let mut best: f64 = 0.0;
    for (name, m, k, n) in shapes {
        let gflops = bench::with_threads(threads, || -> Result<f64> {
            let work = bench::MatmulWorkload::new(m, k, n, &device)?;
            let t = bench::timed(|| work.step(), 1, repeats, bench::MATMUL_STEPS_PER_SAMPLE)?;
            Ok(gflops(work.flop(), t.median))
        })??;
        best = best.max(gflops);
        println!(
            "    {name:<34} {gflops:>8.1} GFLOP/s  {:>4.0}% of peak",
            roofline.percent(gflops)
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
