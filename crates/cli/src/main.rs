//! `rewardlab`: the command-line front of the toolkit. Argument parsing and wiring only: every
//! piece of logic a library user would need lives in the crates (`annotations`, `tables`,
//! `synth`, `model`, `train`, `eval`, `analysis`, `experiments`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use device::Device;

mod commands;

/// mimalloc instead of the system allocator: polars' queries and burn's tensors allocate and free
/// large buffers all the time, and glibc's malloc spent about a tenth of `rewardlab analyze` in
/// its own bookkeeping (`rewardlab bench analyze` measures it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the same position in its v2 and v3 `mimalloc.h`; the Rust
/// bindings name no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keep freed memory for the next allocation instead of returning it to the system after 10 ms:
/// a page handed back and taken again is zeroed by the kernel each time, which took a sixth of
/// `analyze`'s CPU time. The cost is a process that keeps its peak memory until it exits.
fn keep_freed_memory() {
    // SAFETY: sets a process-wide integer option; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// Reward models for text-to-image generation: datasets, training, evaluation, analysis.
#[derive(Parser)]
#[command(name = "rewardlab", version, about, long_about = None)]
struct Cli {
    /// Where tensors run: cpu (default), wgpu, wgpu:N (the N-th discrete GPU), wgpu:cpu (a CPU
    /// adapter such as Mesa's lavapipe), vulkan[:N|:cpu] (wgpu pinned to Vulkan) or cuda[:N];
    /// each but cpu needs its cargo feature (docs/gpu.md).
    #[arg(long, global = true, default_value = "cpu", value_name = "DEVICE")]
    device: device::DeviceChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the synthetic preference world (prompts, rendered images, simulated annotators,
    /// ground truth) as a canonical dataset folder.
    Synth(commands::synth::Args),
    /// Check a canonical dataset folder and print its statistics; exits non-zero on problems.
    Validate(commands::validate::Args),
    /// Convert annotations from a known format into a canonical dataset folder.
    Import(commands::import::Args),
    /// Annotation statistics of a dataset (distributions, relations between labels, structure,
    /// annotator agreement, prompt effects): a report with tables and plots.
    Analyze(commands::analyze::Args),
    /// Benchmarks that print figures (speed targets are checked here, never by timed tests).
    Bench(commands::bench::Args),
    /// Train a multi-head reward model (default: experiments/default.toml on the default
    /// synthetic world) and print its held-out figures next to the oracle ceilings.
    Train(commands::train::Args),
    /// Run a pretrained encoder's frozen layers once over a dataset and store their outputs (an
    /// embedding cache), so training reads them instead of recomputing them every epoch.
    Embed(commands::embed::Args),
    /// Score images for a prompt with a trained run (each head's score and predicted rating) or
    /// a pretrained model (ImageReward, CLIP score, PickScore, HPSv2).
    Score(commands::score::Args),
    /// Evaluate a trained run, a pretrained model (ImageReward, CLIP score, PickScore, HPSv2) or an external
    /// model's scores on a dataset under the field's protocols, with bootstrap intervals and
    /// baselines; writes metrics.json, a report and a per-prompt table.
    Eval(commands::eval::Args),
    /// Every model (trained runs, ImageReward, CLIP score, PickScore, HPSv2) on every dataset
    /// under every protocol of the field, with bootstrap intervals and the human ceiling: one
    /// table; each model's scores of each dataset are cached, so a new model adds a row.
    EvalMatrix(commands::eval_matrix::Args),
    /// How a scorer's score moves when a dataset's images are perturbed in ways people do not
    /// prefer (saturation, contrast, sharpening, JPEG, text, a border, a crop): the share of
    /// images whose score rises, the mean change, and how often the change wins a comparison
    /// against a better image, with bootstrap intervals.
    Audit(commands::audit::Args),
    /// Best-of-N selection: a prompt's candidate images best first (rank 1 = best), with every
    /// head's score, by a trained run or a pretrained model (ImageReward, CLIP score, PickScore, HPSv2).
    Rank(commands::rank::Args),
    /// Check a run, embedding cache or dataset folder against its manifest (every file's
    /// SHA-256) and a run's checkpoints against their checksums; exits 1 on any damage, 2 when
    /// the folder has no manifest.
    Verify(commands::verify::Args),
    /// Run an ablation study: a config grid crossed with seeds, every cell trained and
    /// evaluated (finished cells skipped), results with bootstrap intervals and plots.
    Ablate(commands::ablate::Args),
}

/// Runs a command that puts tensors on `device`. burn reports a batch that does not fit in the
/// device's memory by panicking; here it becomes an error that says what to lower.
fn on_device(
    device: &Device,
    choice: device::DeviceChoice,
    command: &str,
    run: impl FnOnce() -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    if choice != device::DeviceChoice::Cpu {
        eprintln!("device: {}", device::describe(device));
    }
    device::within_memory(device, format!("`rewardlab {command}` on {choice}"), run)?
}

fn main() -> ExitCode {
    keep_freed_memory();
    device::quiet_memory_panics();
    tables::quiet_polars_panics();
    let cli = Cli::parse();
    // The one device every command that runs tensors uses.
    let device = match cli.device.device() {
        Ok(device) => device,
        Err(e) => {
            eprintln!("error: --device: {e}");
            return ExitCode::FAILURE;
        }
    };
    let d = (&device, cli.device);
    let result = match cli.command {
        Command::Synth(a) => commands::synth::run(a),
        Command::Validate(a) => commands::validate::run(a),
        Command::Verify(a) => commands::verify::run(a),
        Command::Import(a) => commands::import::run(a),
        Command::Analyze(a) => commands::analyze::run(a),
        Command::Bench(a) => on_device(d.0, d.1, "bench", || commands::bench::run(a, d.0)),
        Command::Train(a) => on_device(d.0, d.1, "train", || commands::train::run(a, d.0, d.1)),
        Command::Embed(a) => on_device(d.0, d.1, "embed", || commands::embed::run(a, d.0)),
        Command::Score(a) => on_device(d.0, d.1, "score", || commands::score::run(a, d.0)),
        Command::Eval(a) => on_device(d.0, d.1, "eval", || commands::eval::run(a, d.0)),
        Command::EvalMatrix(a) => on_device(d.0, d.1, "eval-matrix", || {
            commands::eval_matrix::run(a, d.0)
        }),
        Command::Audit(a) => on_device(d.0, d.1, "audit", || commands::audit::run(a, d.0)),
        Command::Rank(a) => on_device(d.0, d.1, "rank", || commands::rank::run(a, d.0)),
        Command::Ablate(a) => on_device(d.0, d.1, "ablate", || commands::ablate::run(a, d.0)),
    };
    match result {
        Ok(code) => code,
        // A closed pipe (`rewardlab ... | head`) is the reader's choice, not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", commands::report(&e));
            ExitCode::FAILURE
        }
    }
}
