//! `rewardlab bench analyze`: the full `analyze` statistics on a generated table of a million
//! judgments ([`table`]), beside the same statistics in pandas/scipy ([`pandas`]), with the
//! headline figures of both sides side by side.

mod pandas;
pub mod table;

use std::time::Instant;

use crate::BenchError;
use crate::cpu::{OtherCpu, others_line, process_cpu_seconds};
use crate::report::{cores, print_machine};

/// What `bench analyze` runs.
#[derive(Debug, Clone, clap::Args)]
pub struct AnalyzeOptions {
    /// Judgments in the generated table.
    #[arg(long, default_value_t = 1_000_000)]
    pub judgments: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Bootstrap resamples of the prompt effects (both sides).
    #[arg(long, default_value_t = eval::bootstrap::DEFAULT_RESAMPLES)]
    pub resamples: usize,
    /// Timed runs of the Rust side, after one untimed warm-up; the median is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeats: u32,
    /// Time the Rust side only.
    #[arg(long)]
    pub no_pandas: bool,
    /// Python used to create the venv.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

/// One timed run of the Rust side.
struct RustRun {
    t_read: f64,
    t_stats: f64,
    cpu: Option<f64>,
    a: analysis::Analysis,
}

/// Generates the table, times both sides and prints the comparison.
///
/// # Errors
///
/// As writing, reading and analysing the table; a pandas side that cannot run is a printed line.
pub fn run(o: &AnalyzeOptions) -> Result<(), BenchError> {
    let dir = std::env::temp_dir().join(format!("rewardlab-bench-analyze-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    let t0 = Instant::now();
    tables::write_dataset(&table::table(o.judgments, o.seed), &data)?;
    let t_make = t0.elapsed().as_secs_f64();
    let threads = cores();
    let options = analysis::Options {
        effects: analysis::EffectOptions {
            resamples: o.resamples,
            ..Default::default()
        },
    };
    let others = OtherCpu::start();
    let run = || -> Result<RustRun, BenchError> {
        let (t0, c0) = (Instant::now(), process_cpu_seconds());
        let ds = tables::read_dataset(&data)?;
        let t_read = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let a = analysis::analyze(&ds, &options)?;
        Ok(RustRun {
            t_read,
            t_stats: t1.elapsed().as_secs_f64(),
            cpu: process_cpu_seconds().zip(c0).map(|(c1, c0)| c1 - c0),
            a,
        })
    };
    // One untimed run first: the first run after the machine was idle is markedly slower on
    // these virtual machines (the read alone 0.7 s instead of 0.2 s), whatever the code.
    run()?;
    let mut runs = (0..o.repeats)
        .map(|_| run())
        .collect::<Result<Vec<_>, _>>()?;
    runs.sort_by(|x, y| (x.t_read + x.t_stats).total_cmp(&(y.t_read + y.t_stats)));
    let walls: Vec<String> = runs
        .iter()
        .map(|r| format!("{:.2}", r.t_read + r.t_stats))
        .collect();
    let RustRun {
        t_read,
        t_stats,
        cpu: rust_cpu,
        a,
    } = runs.swap_remove(runs.len() / 2);
    let rust_cpu = rust_cpu.unwrap_or(f64::NAN);
    let t0 = Instant::now();
    analysis::write_outputs(&a, &dir.join("out"))?;
    let t_write = t0.elapsed().as_secs_f64();
    let rust_total = t_read + t_stats;
    let s = &a.structure;
    println!(
        "bench analyze: {} judgments, {} prompts, {} images, {} annotators, {threads} core(s) \
         (table generated and written in {t_make:.1} s)",
        s.judgments, s.prompts, s.generations, s.annotators
    );
    print_machine(threads);
    println!(
        "  rewardlab (polars), median of {} runs after a warm-up (each {} s): read \
         {t_read:.2} s + statistics {t_stats:.2} s = {rust_total:.2} s wall-clock; {rust_cpu:.2} s \
         of CPU",
        o.repeats,
        walls.join(", ")
    );
    let sections: Vec<String> = a
        .timings
        .iter()
        .map(|(k, v)| format!("{k} {v:.2}"))
        .collect();
    println!(
        "    statistics by section (s; agreement and prompt effects run beside \
         the rest): {}",
        sections.join(", ")
    );
    println!(
        "    (report, {} tables as Parquet + CSV and plots written in another {t_write:.2} s)",
        analysis::report::tables(&a)?.len()
    );
    if o.no_pandas {
        println!("  pandas: skipped (--no-pandas)");
    } else {
        match pandas::run_pandas(&data, o.resamples, &o.python) {
            Ok(p) => compare(&a, &p, t_stats, rust_total, rust_cpu, others.finish()),
            Err(e) => println!("  pandas: skipped: {e}"),
        }
    }
    std::fs::remove_dir_all(&dir).map_err(BenchError::io(&dir))
}

/// Prints the pandas side, the ratios and the figures of both sides.
fn compare(
    a: &analysis::Analysis,
    p: &serde_json::Value,
    t_stats: f64,
    rust_total: f64,
    rust_cpu: f64,
    others: Option<(f64, f64)>,
) {
    let read = p["read_s"].as_f64().unwrap_or(f64::NAN);
    let stats = p["stats_s"].as_f64().unwrap_or(f64::NAN);
    let total = read + stats;
    let cpu = p["read_cpu_s"].as_f64().unwrap_or(f64::NAN)
        + p["stats_cpu_s"].as_f64().unwrap_or(f64::NAN);
    println!(
        "  pandas {} (numpy {}): read {read:.2} s + statistics {stats:.2} s = {total:.2} s \
         wall-clock; {cpu:.2} s of CPU",
        p["pandas"].as_str().unwrap_or("?"),
        p["numpy"].as_str().unwrap_or("?")
    );
    println!(
        "  rewardlab is {:.1}x faster in wall-clock time ({:.1}x on the statistics alone) and \
         uses {:.1}x less CPU time; target 10x",
        total / rust_total,
        stats / t_stats,
        cpu / rust_cpu
    );
    // Both sides keep several cores busy, so the load average would count them too: what
    // matters is the CPU time other processes took meanwhile.
    if let Some(line) = others_line(&[("the run", others)]) {
        println!("{line}");
    }
    println!("  the same figures on both sides:");
    for (k, v) in pandas::figures(a) {
        let theirs = p["figures"][k].as_f64();
        println!(
            "    {k:<28} {:>10}  {:>10}",
            v.map_or("-".into(), |v| format!("{v:.4}")),
            theirs.map_or("-".into(), |v| format!("{v:.4}"))
        );
    }
}
