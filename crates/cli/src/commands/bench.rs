//! `rewardlab bench ...`: benchmarks that print figures and the ratio to their target. Speed is
//! checked there, never by timed tests, since test machines vary in load. Each subcommand is a
//! call into the `rewardlab-bench` crate, which holds the benchmarks and their options.

use std::process::ExitCode;

use anyhow::Result;
use rewardlab_bench as bench;

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
    Imagereward(bench::imagereward::ImagerewardOptions),
    /// This machine's measured roofline: the float32 FMA peak, the memory bandwidth, and burn's
    /// matrix products as a share of that peak (target: 85%).
    Peak(bench::peak::PeakOptions),
    /// Train the default experiment (or --config) on the default synthetic world into a
    /// temporary folder and time it; target < 300 s wall on 2 cores after the build.
    Train(bench::train::TrainOptions),
    /// Generate and write the default synthetic world into a temporary folder; target < 60 s.
    Synth(bench::synth::SynthOptions),
    /// Generate a 1,000,000-judgment table, time the full `analyze` statistics on it, and the
    /// same statistics in pandas/scipy (installed from PyPI into a venv under
    /// $REWARDLAB_CACHE, default ~/.cache/rewardlab); target: 10x faster than pandas.
    Analyze(bench::analyze::AnalyzeOptions),
    /// Throughput of the pretrained encoders (all-MiniLM-L6-v2 sentences, CLIP ViT-B/32 images,
    /// pair-head training steps) beside the same workloads in PyTorch (installed from PyPI into
    /// the fixtures' venv under $REWARDLAB_CACHE, default ~/.cache/rewardlab); target: at least
    /// PyTorch's throughput.
    Pretrained(bench::pretrained::PretrainedOptions),
}

pub fn run(args: Args, device: &scoring::Device) -> Result<ExitCode> {
    match args.what {
        What::Imagereward(o) => bench::imagereward::run(&o, device)?,
        What::Peak(o) => bench::peak::run(&o, device)?,
        What::Train(o) => bench::train::run(&o, device)?,
        What::Synth(o) => bench::synth::run(&o)?,
        What::Analyze(o) => bench::analyze::run(&o)?,
        What::Pretrained(o) => bench::pretrained::run(&o, device)?,
    }
    Ok(ExitCode::SUCCESS)
}
