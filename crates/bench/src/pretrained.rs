//! `rewardlab bench pretrained`: the throughput of the pretrained encoders' workloads
//! ([`crate::workloads`]) beside the same workloads in PyTorch
//! (`scripts/bench_pretrained_torch.py`), on the same threads, with each row's share of the
//! machine's peak.

use std::ffi::OsString;
use std::time::Instant;

use burn::tensor::Device;

use crate::cpu::{OtherCpu, others_line, process_cpu_seconds};
use crate::reference::Reference;
use crate::report::{cores, gflops, measure_roofline, percent_of_peak, print_machine, spread};
use crate::timing::{Repeats, Throughput};
use crate::workloads::run_comparison;
use crate::{BenchError, Roofline};

/// The PyTorch throughput target (issue 17): rewardlab at least as fast as PyTorch on the same
/// threads.
pub const PRETRAINED_TARGET: f64 = 1.0;

/// The PyTorch side: it runs in the venv the pretrained fixtures are made in.
const TORCH: Reference = Reference {
    side: "PyTorch",
    scripts: "pretrained-torch-scripts",
    venv: "fixture-venv",
    script: (
        "bench_pretrained_torch.py",
        include_str!("../../../scripts/bench_pretrained_torch.py"),
    ),
    requirements: (
        "requirements.txt",
        include_str!("../../../tests/fixtures/pretrained/requirements.txt"),
    ),
};

/// What `bench pretrained` runs.
#[derive(Debug, Clone, clap::Args)]
pub struct PretrainedOptions {
    /// Time the Rust side only.
    #[arg(long)]
    pub skip_torch: bool,
    /// One warm-up and two timed repeats instead of two and five (both sides).
    #[arg(long)]
    pub quick: bool,
    /// Threads on both sides (torch's set_num_threads, the size of burn's rayon pool);
    /// default: every core.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Times both sides and prints the table.
///
/// # Errors
///
/// As [`run_comparison`]; a PyTorch side that cannot run is a printed line, not an error.
pub fn run(options: &PretrainedOptions, device: &Device) -> Result<(), BenchError> {
    let cores = cores();
    let threads = options.threads.unwrap_or(cores);
    let repeats = if options.quick {
        Repeats::QUICK
    } else {
        Repeats::FULL
    };
    println!(
        "bench pretrained: {threads} thread(s) on {cores} core(s), {} warm-up(s) then the median of \
         {} timed repeats",
        repeats.warmup, repeats.repeats,
    );
    print_machine(threads);
    let roofline = measure_roofline(threads, true)?;
    let others_rust = OtherCpu::start();
    let (c0, t0) = (process_cpu_seconds(), Instant::now());
    let ours = run_comparison(threads, repeats, device, |name| {
        eprintln!("  rewardlab: {name} ...")
    })?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds().zip(c0).map(|(c1, c0)| c1 - c0);
    let others_rust = others_rust.finish();
    let others_torch = OtherCpu::start();
    let torch = if options.skip_torch {
        None
    } else {
        let mut args: Vec<OsString> = vec!["--threads".into(), threads.to_string().into()];
        if options.quick {
            args.push("--quick".into());
        }
        // run_comparison found the MiniLM in the shared folder, so it is set.
        let shared = paths::shared_dir().unwrap_or_default();
        match TORCH.run(&args, &[(paths::SHARED_VAR, shared.into())], "python3") {
            Ok(v) => Some(v),
            Err(e) => {
                println!("  PyTorch: skipped: {e}");
                None
            }
        }
    };
    print_rows(&ours, torch.as_ref(), &roofline);
    println!(
        "  rewardlab repeats (min..max): MiniLM {}, CLIP {}, pair head {}; {wall:.1} s wall{}",
        spread(&ours.minilm.repeats),
        spread(&ours.clip_vision.repeats),
        spread(&ours.pair_head.repeats),
        cpu.map_or(String::new(), |c| format!(
            ", {:.2} cores busy",
            c / wall.max(1e-9)
        ))
    );
    if let Some(p) = &torch {
        let spread = |name: &str| {
            let rates: Vec<f64> = p["details"][name]["repeats"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_f64()).collect())
                .unwrap_or_default();
            spread(&rates)
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
    let sides = [
        ("rewardlab", others_rust),
        ("PyTorch", others_torch.finish()),
    ];
    if let Some(line) = others_line(&sides) {
        println!("{line}");
    }
    Ok(())
}

/// The workload rows and the matrix products, ours beside PyTorch's.
fn print_rows(
    ours: &crate::workloads::Report,
    torch: Option<&serde_json::Value>,
    roofline: &Roofline,
) {
    let rows: [(&str, &Throughput, &str, f64); 3] = [
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
        |rate: Option<f64>, flop: f64| percent_of_peak(roofline, rate.map(|r| gflops(flop, r)));
    for (label, t, key, flop) in rows {
        let theirs = torch.and_then(|p| p[key].as_f64());
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
        let theirs = torch.and_then(|p| p["matmul_gflops"][name.as_str()].as_f64());
        println!(
            "  {:<32} {:>10.1} {:>10} {:>7}  {:>7} / {:>5}  (the products the encoders are made of)",
            format!("matmul {name}, GFLOP/s"),
            t.median,
            theirs.map_or("-".into(), |p| format!("{p:.1}")),
            theirs.map_or("-".into(), |p| format!("{:.2}x", t.median / p)),
            percent_of_peak(roofline, Some(t.median)),
            percent_of_peak(roofline, theirs),
        );
    }
    println!(
        "  (FLOP per item: MiniLM {:.2} G per sentence, CLIP {:.2} G per image, pair head {:.2} M \
         per pair; two per multiply-add)",
        ours.flop.minilm / 1e9,
        ours.flop.clip_vision / 1e9,
        ours.flop.pair_head / 1e6
    );
}
