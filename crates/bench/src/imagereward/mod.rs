//! `rewardlab bench imagereward`: scoring throughput of a real-size ImageReward (random weights)
//! in rewardlab beside the official code (PyPI `image-reward` 1.5), on the same checkpoint, prompt
//! and images, with the rewards of both sides compared. The timing is [`timing`], the official
//! side `scripts/bench_imagereward_official.py`.

pub mod timing;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use pretrained::imagereward::ImageReward;

use crate::BenchError;
use crate::cpu::{OtherCpu, others_line};
use crate::reference::Reference;
use crate::report::{cores, gflops, measure_roofline, percent_of_peak, print_machine};
use crate::timing::{Repeats, median};
use timing::{
    BENCH_IMAGES, BENCH_PROMPT, ScoringTiming, bench_image_paths, load_images, max_abs_diff,
    time_scoring,
};

/// The official side, in its own venv with its pinned requirements.
const OFFICIAL: Reference = Reference {
    side: "the official ImageReward code",
    scripts: "imagereward-official-scripts",
    venv: "imagereward-venv",
    script: (
        "bench_imagereward_official.py",
        include_str!("../../../../scripts/bench_imagereward_official.py"),
    ),
    requirements: (
        "imagereward-official-requirements.txt",
        include_str!("../../../../scripts/imagereward-official-requirements.txt"),
    ),
};

/// Rewards of the two sides on the same weights agree to this (f32 sums in different orders over
/// a 24-layer ViT and a 12-layer text encoder).
pub const REWARD_TOLERANCE: f32 = 1e-4;

/// What `bench imagereward` runs.
#[derive(Debug, Clone, clap::Args)]
pub struct ImagerewardOptions {
    /// An ImageReward checkpoint (`ImageReward.pt` or a `.safetensors` copy, with
    /// med_config.json and vocab.txt beside it). Default: the random real-size one in
    /// $REWARDLAB_CACHE/imagereward-random (default cache ~/.cache/rewardlab), written by the
    /// official code on first use (about 1.79 GB).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Seed of the random checkpoint when it has to be made.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images per forward pass on the Rust side (the official code scores one at a time).
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Untimed runs before the timed ones (both sides).
    #[arg(long, default_value_t = Repeats::SLOW.warmup)]
    pub warmup: usize,
    /// Timed runs; the figure is their median (both sides).
    #[arg(long, default_value_t = Repeats::SLOW.repeats)]
    pub repeats: usize,
    /// Images per timed run: the 8 benchmark images, taken again in turn up to this many (a GPU
    /// needs batches of 32 or more to be busy).
    #[arg(long, default_value_t = 8)]
    pub images: usize,
    /// Time the Rust side only.
    #[arg(long)]
    pub skip_official: bool,
    /// Python used to create the official code's venv.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

/// Makes the random checkpoint when needed, times both sides and prints the comparison.
///
/// # Errors
///
/// [`BenchError::Size`] for no timed run or an empty batch, [`BenchError::Shared`] without the
/// benchmark images, and as loading the model, scoring and the official side.
pub fn run(o: &ImagerewardOptions, device: &Device) -> Result<(), BenchError> {
    if o.repeats == 0 || o.batch_size == 0 || o.images == 0 {
        return Err(BenchError::Size(
            "--repeats, --batch-size and --images must be at least 1".into(),
        ));
    }
    let repeats = Repeats {
        warmup: o.warmup,
        repeats: o.repeats,
    };
    // The images both sides score, and the BERT vocabulary ImageReward's text encoder reads.
    let data = paths::shared_file("data", "the benchmark images (data/)")?;
    let vocab = paths::shared_file(
        "models/all-MiniLM-L6-v2/vocab.txt",
        "bert-base-uncased's vocabulary (models/all-MiniLM-L6-v2/vocab.txt)",
    )?;
    let checkpoint = checkpoint(o, &vocab)?;
    let image_paths: Vec<PathBuf> = bench_image_paths(&data)
        .into_iter()
        .cycle()
        .take(o.images)
        .collect();
    let images = load_images(&image_paths)?;
    let cores = cores();
    println!(
        "bench imagereward: {}, prompt {BENCH_PROMPT:?}, {} images ({}), {cores} core(s), {} \
         warm-up(s) then the median of {} timed runs",
        checkpoint.display(),
        images.len(),
        BENCH_IMAGES.join(", "),
        repeats.warmup,
        repeats.repeats,
    );
    print_machine(cores);
    let roofline = measure_roofline(cores, true)?;

    let others_ours = OtherCpu::start();
    let t0 = std::time::Instant::now();
    let model = ImageReward::from_checkpoint(&checkpoint, device)?.with_batch_size(o.batch_size);
    let load_s = t0.elapsed().as_secs_f64();
    // Both sides pad the prompt to the same length, so one image costs the same FLOP on both.
    let flop = model.config().flop_per_image(model.config().max_length);
    let peak = |images_per_s: f64| {
        let g = gflops(flop, images_per_s);
        format!(
            "{g:.1} GFLOP/s, {} of peak",
            percent_of_peak(&roofline, Some(g))
        )
    };
    let ours = time_scoring(&model, BENCH_PROMPT, &images, repeats, |line| {
        println!("    rewardlab {line}")
    })?;
    // The official side loads its own copy: hold one model at a time.
    drop(model);
    let others_ours = others_ours.finish();
    println!(
        "  rewardlab (burn, batch {}): {:.3} images/s = {} (runs: {}){}; checkpoint loaded in \
         {load_s:.1} s; {:.1} GFLOP per image",
        o.batch_size,
        ours.images_per_s,
        peak(ours.images_per_s),
        seconds_list(&ours.repeats_s),
        cpu_per_image(ours.repeats_cpu_s.as_deref(), images.len())
            .map_or(String::new(), |c| format!(", {c:.2} CPU s per image")),
        flop / 1e9
    );
    let mut sides = vec![("rewardlab", others_ours)];
    if o.skip_official {
        println!("  official code: skipped (--skip-official)");
    } else {
        let mut args: Vec<OsString> = vec![
            "--dir".into(),
            checkpoint.parent().unwrap_or(Path::new(".")).into(),
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
        args.extend(image_paths.iter().map(|p| p.clone().into_os_string()));
        let others_theirs = OtherCpu::start();
        let theirs = run_official(&args, &o.python)?;
        sides.push(("the official code", others_theirs.finish()));
        report(&ours, &theirs, images.len(), &peak)?;
    }
    if let Some(line) = others_line(&sides) {
        println!("{line}");
    }
    Ok(())
}

/// The checkpoint to time: `--checkpoint`, else the random real-size one in the cache, made by
/// the official code on first use.
fn checkpoint(o: &ImagerewardOptions, vocab: &Path) -> Result<PathBuf, BenchError> {
    if let Some(path) = &o.checkpoint {
        if !path.is_file() {
            return Err(BenchError::Io {
                path: path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such checkpoint"),
            });
        }
        return Ok(path.clone());
    }
    let cache = paths::cache_dir();
    let path = cache.join("imagereward-random/ImageReward.pt");
    if !path.is_file() {
        println!(
            "  making the random real-size checkpoint {} with the official code (venv under {}; \
             the first install downloads torch: minutes) ...",
            path.display(),
            cache.display()
        );
        let made = run_official(
            &[
                "--make-checkpoint".into(),
                "--dir".into(),
                path.parent().unwrap_or(Path::new(".")).into(),
                "--vocab".into(),
                vocab.into(),
                "--seed".into(),
                o.seed.to_string().into(),
            ],
            &o.python,
        )?;
        println!(
            "  written: {} parameters in {:.1} s",
            made["parameters"], made["seconds"]
        );
    }
    Ok(path)
}

/// Runs the official script; nothing is downloaded at run time (the tokenizer comes from the
/// local bert-base-uncased folder).
fn run_official(args: &[OsString], python: &str) -> Result<serde_json::Value, BenchError> {
    let offline = [
        ("HF_HUB_OFFLINE", OsString::from("1")),
        ("TRANSFORMERS_OFFLINE", OsString::from("1")),
    ];
    OFFICIAL.run(args, &offline, python)
}

/// Prints the official figures, the ratio and the reward comparison.
fn report(
    ours: &ScoringTiming,
    theirs: &serde_json::Value,
    images: usize,
    peak: &dyn Fn(f64) -> String,
) -> Result<(), BenchError> {
    let answer = |message: &str| BenchError::Reference {
        side: OFFICIAL.side,
        message: message.into(),
    };
    let rate = theirs["images_per_s"]
        .as_f64()
        .ok_or_else(|| answer("no images_per_s in its JSON"))?;
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
        .ok_or_else(|| answer("no rewards in its JSON"))?
        .iter()
        .map(|x| x.as_f64().map(|v| v as f32))
        .collect::<Option<_>>()
        .ok_or_else(|| answer("a non-numeric reward in its JSON"))?;
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
        return Err(answer(&format!(
            "{} rewards for {} images",
            rewards.len(),
            ours.rewards.len()
        )));
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

/// The median CPU seconds per image of timed runs over `images` images.
fn cpu_per_image(runs: Option<&[f64]>, images: usize) -> Option<f64> {
    let runs = runs.filter(|r| !r.is_empty())?;
    Some(median(runs) / images.max(1) as f64)
}

fn seconds_list(values: &[f64]) -> String {
    let parts: Vec<String> = values.iter().map(|s| format!("{s:.1} s")).collect();
    parts.join(", ")
}
