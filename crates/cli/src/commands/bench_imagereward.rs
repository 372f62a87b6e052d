//! `rewardlab bench imagereward`: scoring throughput of a real-size ImageReward (random weights)
//! in rewardlab beside the official code (PyPI `image-reward` 1.5), on the same checkpoint, prompt
//! and images, with the rewards of both sides compared. Wiring only: the timing lives in
//! `pretrained::imagereward::bench`, the official side in `scripts/bench_imagereward_official.py`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use pretrained::imagereward::ImageReward;
use pretrained::imagereward::bench::{
    BENCH_IMAGES, BENCH_PROMPT, Repeats, ScoringTiming, bench_image_paths, load_images,
    max_abs_diff, median, time_scoring,
};

/// The official side, kept in the repository and compiled in, so that the benchmark runs from any
/// folder: written beside each other into the cache folder before each run.
const SCRIPTS: [(&str, &str); 3] = [
    (
        "bench-imagereward-official",
        include_str!("../../../../scripts/bench-imagereward-official"),
    ),
    (
        "bench_imagereward_official.py",
        include_str!("../../../../scripts/bench_imagereward_official.py"),
    ),
    (
        "imagereward-official-requirements.txt",
        include_str!("../../../../scripts/imagereward-official-requirements.txt"),
    ),
];

/// Rewards of the two sides on the same weights agree to this (f32 sums in different orders over
/// a 24-layer ViT and a 12-layer text encoder).
const REWARD_TOLERANCE: f32 = 1e-4;

#[derive(clap::Args)]
pub struct Args {
    /// An ImageReward checkpoint (`ImageReward.pt` or a `.safetensors` copy, with
    /// med_config.json and vocab.txt beside it). Default: the random real-size one in
    /// $REWARDLAB_CACHE/imagereward-random (default cache ~/.cache/rewardlab), written by the
    /// official code on first use (about 1.79 GB).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Seed of the random checkpoint when it has to be made.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Images per forward pass on the Rust side (the official code scores one at a time).
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Untimed runs before the timed ones (both sides).
    #[arg(long, default_value_t = Repeats::default().warmup)]
    warmup: usize,
    /// Timed runs; the figure is their median (both sides).
    #[arg(long, default_value_t = Repeats::default().repeats)]
    repeats: usize,
    /// Time the Rust side only.
    #[arg(long)]
    skip_official: bool,
    /// Python used to create the official code's venv.
    #[arg(long, default_value = "python3")]
    python: String,
}

pub fn run(args: Args, device: &scoring::Device) -> Result<()> {
    ensure!(args.repeats >= 1, "--repeats must be at least 1");
    ensure!(args.batch_size >= 1, "--batch-size must be at least 1");
    let repeats = Repeats {
        warmup: args.warmup,
        repeats: args.repeats,
    };
    let cache = paths::cache_dir();
    // The images both sides score, and the BERT vocabulary ImageReward's text encoder reads.
    let data = paths::shared_file("data", "the benchmark images (data/)")?;
    let vocab = paths::shared_file(
        "models/all-MiniLM-L6-v2/vocab.txt",
        "bert-base-uncased's vocabulary (models/all-MiniLM-L6-v2/vocab.txt)",
    )?;
    let scripts = cache.join("imagereward-official-scripts");
    let checkpoint = match &args.checkpoint {
        Some(path) => {
            ensure!(path.is_file(), "{}: no such checkpoint", path.display());
            path.clone()
        }
        None => {
            let path = cache.join("imagereward-random/ImageReward.pt");
            if !path.is_file() {
                println!(
                    "  making the random real-size checkpoint {} with the official code (venv \
                     under {}; the first install downloads torch: minutes) ...",
                    path.display(),
                    cache.display()
                );
                let made = run_official(
                    &scripts,
                    &args.python,
                    &[
                        "--make-checkpoint".as_ref(),
                        "--dir".as_ref(),
                        path.parent().unwrap_or(Path::new(".")).as_os_str(),
                        "--vocab".as_ref(),
                        vocab.as_os_str(),
                        "--seed".as_ref(),
                        args.seed.to_string().as_ref(),
                    ],
                )?;
                println!(
                    "  written: {} parameters in {:.1} s",
                    made["parameters"], made["seconds"]
                );
            }
            path
        }
    };
    let image_paths = bench_image_paths(&data);
    let images = load_images(&image_paths).with_context(|| {
        format!(
            "reading the benchmark images under {} (set REWARDLAB_SHARED to the shared folder)",
            data.display()
        )
    })?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "bench imagereward: {}, prompt {BENCH_PROMPT:?}, {} images ({}), {cores} core(s), {} \
         warm-up(s) then the median of {} timed runs",
        checkpoint.display(),
        images.len(),
        BENCH_IMAGES.join(", "),
        repeats.warmup,
        repeats.repeats,
    );
    super::bench_peak::print_machine(cores);
    let roofline = super::bench_peak::measure_roofline(cores, true)?;

    let load_before = load_average();
    let t0 = std::time::Instant::now();
    let model = ImageReward::from_checkpoint(&checkpoint, device)
        .with_context(|| format!("loading {}", checkpoint.display()))?
        .with_batch_size(args.batch_size);
    let load_s = t0.elapsed().as_secs_f64();
    // Both sides pad the prompt to the same length, so one image costs the same FLOP on both.
    let flop = model.config().flop_per_image(model.config().max_length);
    let peak = |images_per_s: f64| {
        let gflops = super::bench_peak::gflops(flop, images_per_s);
        format!(
            "{gflops:.1} GFLOP/s, {} of peak",
            super::bench_peak::percent_of_peak(&roofline, Some(gflops))
        )
    };
    let ours = time_scoring(&model, BENCH_PROMPT, &images, repeats, |line| {
        println!("    rewardlab {line}")
    })?;
    // The official side loads its own copy: hold one model at a time.
    drop(model);
    let load_ours = load_average();
    println!(
        "  rewardlab (burn, batch {}): {:.3} images/s = {} (runs: {}){}; checkpoint loaded in \
         {load_s:.1} s; {:.1} GFLOP per image",
        args.batch_size,
        ours.images_per_s,
        peak(ours.images_per_s),
        seconds_list(&ours.repeats_s),
        cpu_per_image(ours.repeats_cpu_s.as_deref(), images.len())
            .map_or(String::new(), |c| format!(", {c:.2} CPU s per image")),
        flop / 1e9
    );

    if args.skip_official {
        println!("  official code: skipped (--skip-official)");
        print_load(load_before, load_ours, None, cores);
        return Ok(());
    }
    let mut official_args: Vec<std::ffi::OsString> = vec![
        "--dir".into(),
        checkpoint
            .parent()
            .unwrap_or(Path::new("."))
            .as_os_str()
            .into(),
        "--vocab".into(),
        vocab.into(),
        "--prompt".into(),
        BENCH_PROMPT.into(),
        "--warmup".into(),
        repeats.warmup.to_string().into(),
        "--repeats".into(),
        repeats.repeats.to_string().into(),
        "--images".into(),
    ];
    official_args.extend(image_paths.iter().map(|p| p.as_os_str().to_owned()));
    let refs: Vec<&std::ffi::OsStr> = official_args.iter().map(|a| a.as_os_str()).collect();
    let theirs = run_official(&scripts, &args.python, &refs)?;
    let load_theirs = load_average();
    report(&ours, &theirs, images.len(), &peak)?;
    print_load(load_before, load_ours, load_theirs, cores);
    Ok(())
}

/// Prints the official figures, the ratio and the reward comparison.
fn report(
    ours: &ScoringTiming,
    theirs: &serde_json::Value,
    images: usize,
    peak: &dyn Fn(f64) -> String,
) -> Result<()> {
    let rate = theirs["images_per_s"]
        .as_f64()
        .context("the official script gave no images_per_s")?;
    let floats = |key: &str| -> Vec<f64> {
        theirs[key]
            .as_array()
            .map(|v| v.iter().filter_map(|x| x.as_f64()).collect())
            .unwrap_or_default()
    };
    let runs = floats("repeats_s");
    let their_cpu = cpu_per_image(Some(&floats("repeats_cpu_s")), images);
    let our_cpu = cpu_per_image(ours.repeats_cpu_s.as_deref(), images);
    let rewards: Vec<f32> = theirs["rewards"]
        .as_array()
        .context("the official script gave no rewards")?
        .iter()
        .map(|x| x.as_f64().map(|v| v as f32))
        .collect::<Option<_>>()
        .context("a non-numeric official reward")?;
    let versions = &theirs["versions"];
    let version = |name: &str| versions[name].as_str().unwrap_or("?").to_string();
    println!(
        "  official code (image-reward {}, torch {}, transformers {}, timm {}, {} torch threads, \
         one image per forward pass): {rate:.3} images/s = {} (runs: {}){}",
        version("image-reward"),
        version("torch"),
        version("transformers"),
        version("timm"),
        theirs["threads"],
        peak(rate),
        seconds_list(&runs),
        their_cpu.map_or(String::new(), |c| format!(", {c:.2} CPU s per image"))
    );
    let ratio = ours.images_per_s / rate;
    println!(
        "  rewardlab is {ratio:.2}x the official throughput{} ({}; target: faster than the \
         official code)",
        match (our_cpu, their_cpu) {
            (Some(a), Some(b)) => format!(" and uses {:.2}x less CPU time per image", b / a),
            _ => String::new(),
        },
        if ratio > 1.0 { "faster" } else { "SLOWER" }
    );
    let Some(diff) = max_abs_diff(&ours.rewards, &rewards) else {
        bail!(
            "the official code gave {} rewards for {} images",
            rewards.len(),
            ours.rewards.len()
        );
    };
    let low = rewards.iter().copied().fold(f32::INFINITY, f32::min);
    let high = rewards.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    println!(
        "  rewards on the same weights: max |rewardlab - official| = {diff:.2e} (tolerance \
         {REWARD_TOLERANCE:.0e}; the rewards range from {low:.3} to {high:.3}){}",
        if diff <= REWARD_TOLERANCE {
            ""
        } else {
            ": MISMATCH"
        }
    );
    for (i, (a, b)) in ours.rewards.iter().zip(&rewards).enumerate() {
        println!(
            "    {:<40} {a:>10.6} {b:>10.6}",
            BENCH_IMAGES.get(i).copied().unwrap_or("?")
        );
    }
    Ok(())
}

/// Writes the official scripts into `dir` and runs the shell wrapper with `args`; its stdout is
/// one JSON object, its stderr (venv installation, progress) goes to ours.
fn run_official(dir: &Path, python: &str, args: &[&std::ffi::OsStr]) -> Result<serde_json::Value> {
    write_scripts(dir, &SCRIPTS)?;
    let out = Command::new("bash")
        .arg(dir.join(SCRIPTS[0].0))
        .args(args)
        .env("REWARDLAB_CACHE", paths::cache_dir())
        .env("PYTHON", python)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running bash for the official ImageReward script")?;
    ensure!(
        out.status.success(),
        "the official ImageReward script failed ({}); its messages are above",
        out.status
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The JSON object is the last line; anything a library printed before it is not ours to parse.
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    serde_json::from_str(line.unwrap_or_default())
        .with_context(|| format!("reading the official script's JSON from {stdout:?}"))
}

/// The median CPU seconds per image of timed runs over `images` images.
fn cpu_per_image(runs: Option<&[f64]>, images: usize) -> Option<f64> {
    let runs = runs.filter(|r| !r.is_empty())?;
    Some(median(runs) / images.max(1) as f64)
}

fn seconds_list(values: &[f64]) -> String {
    let parts: Vec<String> = values.iter().map(|s| format!("{s:.1} s")).collect();
    parts.join(", ")
}

fn print_load(before: Option<f64>, ours: Option<f64>, theirs: Option<f64>, cores: usize) {
    let show = |v: Option<f64>| v.map_or("?".to_string(), |v| format!("{v:.2}"));
    println!(
        "  load average (1 min) on {cores} core(s): {} at the start, {} after rewardlab{}",
        show(before),
        show(ours),
        theirs.map_or(String::new(), |t| format!(
            ", {t:.2} after the official code"
        ))
    );
    let busiest = [before, ours, theirs]
        .into_iter()
        .flatten()
        .fold(0.0, f64::max);
    if busiest > cores as f64 * 0.75 {
        println!(
            "  other work shared the cores: both figures are slowed, and not necessarily equally"
        );
    }
}

/// The one-minute load average, from /proc/loadavg.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Writes scripts compiled into the binary into `dir` (created if needed), so that a reference
/// side runs from any folder, whatever the tree the binary was built from.
pub fn write_scripts(dir: &Path, files: &[(&str, &str)]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in files {
        std::fs::write(dir.join(name), text)
            .with_context(|| format!("writing {}", dir.join(name).display()))?;
    }
    Ok(())
}
