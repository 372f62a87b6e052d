//! `rewardlab bench ...`: benchmarks that print figures and the ratio to their target. Speed is
//! checked here, never by timed tests, since test machines vary in load.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Scoring throughput of a real-size ImageReward (random weights, made once by the official
    /// code under $REWARDLAB_CACHE/imagereward-random, default cache ~/.cache/rewardlab) beside the
    /// official code (PyPI image-reward 1.5 in a venv there), with both sides' rewards compared;
    /// target: faster than the official code.
    Imagereward(super::bench_imagereward::Args),
    /// This machine's measured roofline: the float32 FMA peak, the memory bandwidth, and burn's
    /// matrix products as a share of that peak (target: 85%).
    Peak(super::bench_peak::Args),
    /// Train the default experiment (or --config) on the default synthetic world into a
    /// temporary folder and time it; target < 300 s wall on 2 cores after the build.
    Train {
        /// Training config (TOML); default: the built-in experiments/default.toml.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        /// Override the seed of weight initialisation and batch order.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Generate and write the default synthetic world into a temporary folder; target < 60 s.
    Synth {
        /// Number of prompts (default: the default world's 1500).
        #[arg(long)]
        prompts: Option<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Generate a 1,000,000-judgment table, time the full `analyze` statistics on it, and the
    /// same statistics in pandas/scipy (installed from PyPI into a venv under
    /// $REWARDLAB_CACHE, default ~/.cache/rewardlab); target: 10x faster than pandas.
    Analyze {
        /// Judgments in the generated table.
        #[arg(long, default_value_t = 1_000_000)]
        judgments: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Bootstrap resamples of the prompt effects (both sides).
        #[arg(long, default_value_t = eval::bootstrap::DEFAULT_RESAMPLES)]
        resamples: usize,
        /// Timed runs of the Rust side, after one untimed warm-up; the median is reported.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        repeats: u32,
        /// Time the Rust side only.
        #[arg(long)]
        no_pandas: bool,
        /// Python used to create the venv.
        #[arg(long, default_value = "python3")]
        python: String,
    },
    /// Throughput of the pretrained encoders (all-MiniLM-L6-v2 sentences, CLIP ViT-B/32 images,
    /// pair-head training steps) beside the same workloads in PyTorch, run through
    /// scripts/bench-pretrained-torch (which installs torch from PyPI into a venv under
    /// $REWARDLAB_CACHE, default ~/.cache/rewardlab); target: at least PyTorch's throughput.
    Pretrained {
        /// Time the Rust side only.
        #[arg(long)]
        skip_torch: bool,
        /// One warm-up and two timed repeats instead of two and five (both sides).
        #[arg(long)]
        quick: bool,
        /// Threads on both sides (torch's set_num_threads, the size of burn's rayon pool);
        /// default: every core.
        #[arg(long)]
        threads: Option<usize>,
    },
}

pub fn run(args: Args, device: &scoring::Device) -> Result<ExitCode> {
    match args.what {
        What::Synth { prompts, seed } => {
            let mut cfg = synth::WorldConfig {
                seed,
                ..Default::default()
            };
            if let Some(p) = prompts {
                cfg.prompts = p;
            }
            let dir =
                std::env::temp_dir().join(format!("rewardlab-bench-synth-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let t0 = Instant::now();
            let world = synth::generate(&cfg);
            let t_generate = t0.elapsed().as_secs_f64();
            world.write_files(&dir)?;
            tables::write_dataset(&world.dataset(&dir), &dir)?;
            let total = t0.elapsed().as_secs_f64();
            let bytes = dir_size(&dir);
            std::fs::remove_dir_all(&dir)?;
            let threads = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            println!(
                "bench synth: {} prompts, {} images, {:.1} MB on disk, {threads} core(s)",
                world.summary.prompts,
                world.summary.generations,
                bytes as f64 / 1e6
            );
            super::bench_peak::print_machine(threads);
            println!("  generate (prompts, latents, annotators)  {t_generate:.2} s");
            println!("  total with rendering and writing (PNG, CSV, Parquet)  {total:.2} s");
            println!("  target < 60 s: {:.1}x under the target", 60.0 / total);
            println!(
                "  oracle pairwise accuracy {:.3}",
                world.summary.oracle_pairwise_accuracy
            );
        }
        What::Imagereward(a) => super::bench_imagereward::run(a, device)?,
        What::Peak(a) => super::bench_peak::run(a)?,
        What::Analyze {
            judgments,
            seed,
            resamples,
            repeats,
            no_pandas,
            python,
        } => bench_analyze(judgments, seed, resamples, repeats, no_pandas, &python)?,
        What::Train { config, seed } => bench_train(config.as_deref(), seed, device)?,
        What::Pretrained {
            skip_torch,
            quick,
            threads,
        } => bench_pretrained(skip_torch, quick, threads, device)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Times one training run of the main job (world generation excluded: it is cached).
fn bench_train(
    config: Option<&std::path::Path>,
    seed: Option<u64>,
    device: &scoring::Device,
) -> Result<()> {
    let mut cfg = match config {
        Some(p) => train::TrainConfig::from_file(p)?,
        None => train::TrainConfig::default_experiment(),
    };
    if let Some(s) = seed {
        cfg.optim.seed = s;
    }
    let world = super::train::default_world(cfg.data.world_prompts, cfg.data.world_seed)?;
    let ds =
        tables::read_dataset(&world).with_context(|| format!("reading {}", world.display()))?;
    let ground_truth = train::GroundTruthTable::load(&world)?;
    let out = std::env::temp_dir().join(format!("rewardlab-bench-train-{}", std::process::id()));
    let opts = train::TrainOptions {
        out: out.clone(),
        force: true,
        ground_truth,
        print: true,
        ..Default::default()
    };
    let c0 = cpu_seconds();
    let report = train::train(&ds, &cfg, &opts, device)?;
    let cpu = cpu_seconds() - c0;
    let _ = std::fs::remove_dir_all(&out);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let h = &report.heldout;
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    println!(
        "\nbench train: {} epochs on {} training prompts, {threads} core(s)",
        report.history.len(),
        report.summary["splits"]["train"]
    );
    super::bench_peak::print_machine(threads);
    println!(
        "  wall {:.1} s (CPU {cpu:.1} s, {:.2} cores busy)",
        report.wall_seconds,
        cpu / report.wall_seconds.max(1e-9)
    );
    println!(
        "  target < 300 s: {:.2}x the target",
        report.wall_seconds / 300.0
    );
    println!(
        "  held-out overall accuracy {} (oracle {})",
        f(h.overall.pairwise_accuracy),
        f(h.overall.oracle)
    );
    Ok(())
}

/// The pandas side of `bench analyze`, kept in the repository as a script and compiled in, so
/// that the benchmark runs from any folder.
const PANDAS_SCRIPT: &str = include_str!("../../../../scripts/bench_analyze_pandas.py");

/// One timed run of the Rust side of `bench analyze`.
struct RustRun {
    t_read: f64,
    t_stats: f64,
    cpu: f64,
    a: analysis::Analysis,
}

fn bench_analyze(
    judgments: usize,
    seed: u64,
    resamples: usize,
    repeats: u32,
    no_pandas: bool,
    python: &str,
) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("rewardlab-bench-analyze-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    let t0 = Instant::now();
    let ds = analysis::bench::table(judgments, seed);
    tables::write_dataset(&ds, &data)?;
    let t_make = t0.elapsed().as_secs_f64();
    drop(ds);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);

    let options = analysis::Options {
        effects: analysis::EffectOptions {
            resamples,
            ..Default::default()
        },
    };
    // One untimed run first: the first run after the machine was idle is markedly slower on
    // these virtual machines (the read alone 0.7 s instead of 0.2 s), whatever the code.
    let others = OtherCpu::start();
    let run = || -> Result<RustRun> {
        let (t0, c0) = (Instant::now(), cpu_seconds());
        let ds = tables::read_dataset(&data)?;
        let (t_read, c_read) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        let (t0, c0) = (Instant::now(), cpu_seconds());
        let a = analysis::analyze(&ds, &options)?;
        let (t_stats, c_stats) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        Ok(RustRun {
            t_read,
            t_stats,
            cpu: c_read + c_stats,
            a,
        })
    };
    run()?;
    let mut runs = (0..repeats).map(|_| run()).collect::<Result<Vec<_>>>()?;
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
    super::bench_peak::print_machine(threads);
    println!(
        "  rewardlab (polars), median of {repeats} runs after a warm-up (each {} s): read \
         {t_read:.2} s + statistics {t_stats:.2} s = {rust_total:.2} s wall-clock; {rust_cpu:.2} s \
         of CPU",
        walls.join(", ")
    );
    let sections: Vec<String> = a
        .timings
        .iter()
        .map(|(k, v)| format!("{k} {v:.2}"))
        .collect();
    println!(
        "    statistics by section (s; agreement and prompt effects run on threads of their own \
         beside the rest): {}",
        sections.join(", ")
    );
    println!(
        "    (report, {} tables as Parquet + CSV and plots written in another {t_write:.2} s)",
        analysis::report::tables(&a)?.len()
    );

    let ours = figures(&a);
    let pandas = if no_pandas {
        println!("  pandas: skipped (--no-pandas)");
        None
    } else {
        match run_pandas(&data, resamples, python) {
            Ok(v) => Some(v),
            Err(e) => {
                println!("  pandas: skipped: {e:#}");
                None
            }
        }
    };
    if let Some(p) = &pandas {
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
        if let Some((other, wall)) = others.finish() {
            println!(
                "  other processes used {other:.1} s of CPU during the {wall:.0} s of the run \
                 ({:.0}% of one core){}",
                100.0 * other / wall,
                if other > 0.1 * wall {
                    ": they shared the cores, so the wall-clock figures are inflated (CPU time is \
                     the steadier comparison)"
                } else {
                    ""
                }
            );
        }
        println!("  the same figures on both sides:");
        for (k, v) in &ours {
            let theirs = p["figures"][k].as_f64();
            println!(
                "    {k:<28} {:>10}  {:>10}",
                v.map_or("-".into(), |v| format!("{v:.4}")),
                theirs.map_or("-".into(), |v| format!("{v:.4}"))
            );
        }
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// The PyTorch throughput target of `bench pretrained` (issue 17): rewardlab at least as fast as
/// PyTorch on the same threads.
const PRETRAINED_TARGET: f64 = 1.0;

fn bench_pretrained(
    skip_torch: bool,
    quick: bool,
    threads: Option<usize>,
    device: &scoring::Device,
) -> Result<()> {
    use super::bench_peak::{gflops, percent_of_peak};
    use pretrained::bench;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let threads = threads.unwrap_or(cores);
    anyhow::ensure!(threads >= 1, "--threads must be at least 1");
    let repeats = if quick {
        bench::Repeats::QUICK
    } else {
        bench::Repeats::FULL
    };
    println!(
        "bench pretrained: {threads} thread(s) on {cores} core(s), {} warm-up(s) then the median of \
         {} timed repeats",
        repeats.warmup, repeats.repeats,
    );
    super::bench_peak::print_machine(threads);
    let roofline = super::bench_peak::measure_roofline(threads, true)?;
    let others_rust = OtherCpu::start();
    let (c0, t0) = (cpu_seconds(), Instant::now());
    let ours = bench::run_comparison(threads, repeats, device, |name| {
        eprintln!("  rewardlab: {name} ...")
    })?;
    let (cpu, wall) = (cpu_seconds() - c0, t0.elapsed().as_secs_f64());
    let others_rust = others_rust.finish();
    let others_torch = OtherCpu::start();

    let torch = if skip_torch {
        None
    } else {
        // run_comparison found the MiniLM in the shared folder, so it is set.
        let shared = paths::shared_dir().unwrap_or_default();
        match run_torch(quick, threads, &shared) {
            Ok(v) => Some(v),
            Err(e) => {
                println!("  PyTorch: skipped: {e:#}");
                None
            }
        }
    };
    let rows = [
        (
            "MiniLM-L6 forward, sentences/s",
            &ours.minilm,
            "minilm_sentences_per_s",
            ours.flop.minilm,
        ),
        (
            "CLIP ViT-B/32 vision, images/s",
            &ours.clip_vision,
            "clip_vit_b32_images_per_s",
            ours.flop.clip_vision,
        ),
        (
            "pair head train step, pairs/s",
            &ours.pair_head,
            "pair_head_pairs_per_s",
            ours.flop.pair_head,
        ),
    ];
    println!(
        "  {:<32} {:>10} {:>10} {:>7}  {:>15}  target",
        "workload", "rewardlab", "PyTorch", "ratio", "% of peak: ours"
    );
    let peak =
        |rate: Option<f64>, flop: f64| percent_of_peak(&roofline, rate.map(|r| gflops(flop, r)));
    for (label, t, key, flop) in rows {
        let theirs = torch.as_ref().and_then(|p| p[key].as_f64());
        let ratio = theirs.map(|p| t.median / p);
        println!(
            "  {label:<32} {:>10.1} {:>10} {:>7}  {:>7} / {:>5}  >= {PRETRAINED_TARGET}x{}",
            t.median,
            theirs.map_or("-".into(), |p| format!("{p:.1}")),
            ratio.map_or("-".into(), |r| format!("{r:.2}x")),
            peak(Some(t.median), flop),
            peak(theirs, flop),
            match ratio {
                Some(r) if r >= PRETRAINED_TARGET => " (met)",
                Some(_) => " (not met)",
                None => "",
            }
        );
    }
    // The products the encoders are made of, as a share of the machine's peak on both sides.
    for (name, t) in &ours.matmul {
        let theirs = torch
            .as_ref()
            .and_then(|p| p["matmul_gflops"][name.as_str()].as_f64());
        println!(
            "  {:<32} {:>10.1} {:>10} {:>7}  {:>7} / {:>5}  (the products the encoders are made of)",
            format!("matmul {name}, GFLOP/s"),
            t.median,
            theirs.map_or("-".into(), |p| format!("{p:.1}")),
            theirs.map_or("-".into(), |p| format!("{:.2}x", t.median / p)),
            percent_of_peak(&roofline, Some(t.median)),
            percent_of_peak(&roofline, theirs),
        );
    }
    println!(
        "  (FLOP per item: MiniLM {:.2} G per sentence, CLIP {:.2} G per image, pair head {:.2} M \
         per pair; two per multiply-add)",
        ours.flop.minilm / 1e9,
        ours.flop.clip_vision / 1e9,
        ours.flop.pair_head / 1e6
    );
    let spread = |t: &bench::Throughput| {
        let lo = t.repeats.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = t.repeats.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{lo:.1}..{hi:.1}")
    };
    println!(
        "  rewardlab repeats (min..max): MiniLM {}, CLIP {}, pair head {}; {wall:.1} s wall, \
         {:.2} cores busy",
        spread(&ours.minilm),
        spread(&ours.clip_vision),
        spread(&ours.pair_head),
        cpu / wall.max(1e-9)
    );
    if let Some(p) = &torch {
        let spread = |name: &str| {
            let rates: Vec<f64> = p["details"][name]["repeats"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_f64()).collect())
                .unwrap_or_default();
            let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{lo:.1}..{hi:.1}")
        };
        println!(
            "  PyTorch {} (transformers {}), {} thread(s); repeats (min..max): MiniLM {}, CLIP {}, \
             pair head {}",
            p["torch"].as_str().unwrap_or("?"),
            p["transformers"].as_str().unwrap_or("?"),
            p["threads"].as_u64().map_or("?".into(), |t| t.to_string()),
            spread("minilm"),
            spread("clip_vit_b32"),
            spread("pair_head")
        );
    }
    // The load average would count each side's own threads; what disturbs the figures is the
    // CPU time other processes took while a side ran.
    let halves = [
        ("rewardlab", others_rust),
        ("PyTorch", others_torch.finish()),
    ];
    let shares: Vec<String> = halves
        .iter()
        .filter_map(|(side, o)| {
            o.map(|(other, wall)| {
                format!(
                    "{other:.1} s during {side}'s {wall:.0} s ({:.0}% of one core)",
                    100.0 * other / wall
                )
            })
        })
        .collect();
    if !shares.is_empty() {
        let busy = halves
            .iter()
            .any(|(_, o)| o.is_some_and(|(other, wall)| other > 0.1 * wall));
        println!(
            "  other processes used {}{}",
            shares.join(" and "),
            if busy {
                ": they shared the cores, so the figures are lower than on an idle machine and \
                 the ratios are noisier"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// The PyTorch side, compiled in so that the benchmark runs from any folder (written into the
/// cache folder before each run), with the fixtures' venv helper and requirements: it runs in
/// the venv the fixtures are made in (`fixture-venv` in the cache folder).
const TORCH_SCRIPTS: [(&str, &str); 3] = [
    (
        "bench_pretrained_torch.py",
        include_str!("../../../../scripts/bench_pretrained_torch.py"),
    ),
    (
        "ensure_venv.sh",
        include_str!("../../../../tests/fixtures/pretrained/ensure_venv.sh"),
    ),
    (
        "requirements.txt",
        include_str!("../../../../tests/fixtures/pretrained/requirements.txt"),
    ),
];

/// Runs the PyTorch side (creating the fixture venv with torch from PyPI on first use) on the
/// MiniLM of `shared`, and reads its JSON; an error says why the PyTorch side cannot run.
fn run_torch(quick: bool, threads: usize, shared: &std::path::Path) -> Result<serde_json::Value> {
    use std::process::{Command, Stdio};
    let dir = paths::cache_dir().join("pretrained-torch-scripts");
    super::bench_imagereward::write_scripts(&dir, &TORCH_SCRIPTS)?;
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(r#"source "$0/ensure_venv.sh" && py="$(ensure_fixture_venv)" && exec "$py" "$0/bench_pretrained_torch.py" "$@""#)
        .arg(&dir)
        .args(["--threads", &threads.to_string()])
        .env(paths::SHARED_VAR, shared)
        // Progress and pip's output go straight to the terminal.
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped());
    if quick {
        command.arg("--quick");
    }
    let script = dir.join(TORCH_SCRIPTS[0].0);
    eprintln!("  PyTorch: {} ...", script.display());
    let out = command
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "{} failed ({}); its messages are above",
        script.display(),
        out.status
    );
    serde_json::from_slice(&out.stdout).context("reading the PyTorch script's JSON")
}

/// CPU seconds (user + system, all threads) this process has used, from /proc/self/stat;
/// NaN where that file does not exist.
fn cpu_seconds() -> f64 {
    self_stat_seconds(11..13)
}

/// The sum of a range of `/proc/self/stat` fields, counted from the first field after the command
/// name (which may hold spaces, so the fields start after the last ')'), in clock ticks of 1/100 s
/// on Linux: `11..13` is utime and stime (fields 14 and 15), `13..15` cutime and cstime (the
/// children waited for). NaN where `/proc` cannot tell.
fn self_stat_seconds(fields: std::ops::Range<usize>) -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    fields
        .map(|i| {
            f.get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        })
        .sum::<f64>()
        / 100.0
}

/// CPU time that processes other than this one and its children take over a stretch of time:
/// the machine's busy time (`/proc/stat`) less our own (`/proc/self/stat`, children included once
/// waited for).
struct OtherCpu {
    start: Instant,
    machine: f64,
    own: f64,
}

impl OtherCpu {
    fn start() -> Self {
        Self {
            start: Instant::now(),
            machine: machine_busy_seconds(),
            own: own_and_children_cpu_seconds(),
        }
    }

    /// `(other processes' CPU seconds, wall seconds)` since [`OtherCpu::start`]; `None` where
    /// `/proc` cannot tell.
    fn finish(&self) -> Option<(f64, f64)> {
        let machine = machine_busy_seconds() - self.machine;
        let own = own_and_children_cpu_seconds() - self.own;
        let other = machine - own;
        // Checked before clamping: `NaN.max(0.0)` is 0.
        other
            .is_finite()
            .then(|| (other.max(0.0), self.start.elapsed().as_secs_f64()))
    }
}

/// Seconds all cores spent on anything but idling since boot, from the first line of
/// /proc/stat (user, nice, system, irq, softirq and steal, in ticks of 1/100 s).
fn machine_busy_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return f64::NAN;
    };
    let f: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(f64::NAN))
        .collect();
    if f.len() < 8 {
        return f64::NAN;
    }
    (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / 100.0
}

/// This process's CPU seconds plus those of its children it has waited for.
fn own_and_children_cpu_seconds() -> f64 {
    self_stat_seconds(11..15)
}

/// Headline figures both sides compute, for the side-by-side check.
fn figures(a: &analysis::Analysis) -> Vec<(&'static str, Option<f64>)> {
    use annotations::Criterion;
    let rvr = a
        .rank_vs_rating
        .iter()
        .find(|r| r.criterion == Criterion::Overall);
    let rank = a
        .agreement
        .as_ref()
        .and_then(|g| g.labels.iter().find(|l| l.label == "rank"));
    let effect = a.effects.as_ref().and_then(|e| {
        e.effects
            .iter()
            .find(|x| x.term == "8k" && x.criterion == Criterion::Fidelity)
            .and_then(|x| x.difference)
    });
    let spearman = a.correlations.as_ref().and_then(|c| {
        let i = c.criteria.iter().position(|&x| x == Criterion::Overall)?;
        let j = c.criteria.iter().position(|&x| x == Criterion::Fidelity)?;
        c.spearman[i][j]
    });
    vec![
        ("tie_rate", a.structure.tie_rate),
        ("spearman_overall_fidelity", spearman),
        ("tau_b_mean_overall", rvr.and_then(|r| r.tau_b_mean)),
        (
            "contradiction_overall",
            rvr.and_then(|r| r.contradiction_rate),
        ),
        (
            "pairwise_agreement",
            rank.and_then(|r| r.pairwise_agreement),
        ),
        (
            "krippendorff_alpha",
            rank.and_then(|r| r.krippendorff_alpha),
        ),
        ("loo_ceiling", rank.and_then(|r| r.loo_ceiling)),
        (
            "loo_ceiling_fidelity",
            a.agreement
                .as_ref()
                .and_then(|g| g.labels.iter().find(|l| l.label == "fidelity"))
                .and_then(|l| l.loo_ceiling),
        ),
        ("effect_8k_fidelity", effect),
    ]
}

/// Creates (once) a venv with pandas, scipy and pyarrow from PyPI and runs the pandas script on
/// the table; an error says why the pandas side cannot run.
fn run_pandas(data: &std::path::Path, resamples: usize, python: &str) -> Result<serde_json::Value> {
    use std::process::Command;
    let venv = paths::cache_dir().join("bench-venv");
    let py = venv.join("bin").join("python");
    if !py.exists() {
        println!(
            "  creating a venv with pandas, scipy and pyarrow in {} ...",
            venv.display()
        );
        let out = Command::new(python)
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .with_context(|| format!("running {python} -m venv"))?;
        anyhow::ensure!(
            out.status.success(),
            "{python} -m venv failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let out = Command::new(&py)
        .args([
            "-m", "pip", "install", "--quiet", "pandas", "scipy", "pyarrow",
        ])
        .output()
        .context("running pip")?;
    anyhow::ensure!(
        out.status.success(),
        "pip could not install pandas, scipy and pyarrow: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let script = data.with_file_name("bench_analyze_pandas.py");
    std::fs::write(&script, PANDAS_SCRIPT)?;
    let out = Command::new(&py)
        .arg(&script)
        .arg(data.join(tables::ANNOTATIONS_FILE))
        .arg(resamples.to_string())
        .output()
        .context("running the pandas script")?;
    anyhow::ensure!(
        out.status.success(),
        "the pandas script failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    serde_json::from_slice(&out.stdout).context("reading the pandas script's JSON")
}

fn dir_size(dir: &std::path::Path) -> u64 {
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
