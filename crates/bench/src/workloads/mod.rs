//! The workloads of `rewardlab bench pretrained`: the Rust side of the comparison with
//! PyTorch (`scripts/bench_pretrained_torch.py`), built to the same sizes so that the two
//! figures measure the same work.
//!
//! - [`MinilmWorkload`]: all-MiniLM-L6-v2 forward, mean pooling over the attention mask and L2
//!   normalisation, 64 sentences of 35 tokens (random ids, `[CLS]` first and `[SEP]` last, no
//!   padding), no gradients;
//! - [`ClipVisionWorkload`]: a randomly initialised CLIP ViT-B/32 vision tower with its
//!   projection (transformers' `CLIPVisionModelWithProjection`), 16 random 224-px images;
//! - [`PairHeadWorkload`]: one training step (forward, backward, Adam at lr 1e-3) of the head
//!   `Linear(768, 256) -> ReLU -> Linear(256, 1)` under the Bradley-Terry loss
//!   `mean(-log sigmoid(r_better - r_worse))`, on 256 pairs of cached 768-d features;
//! - [`MatmulWorkload`]: one float32 matrix product at the shape of each encoder's feed-forward
//!   up-projection ([`MATMUL_SHAPES`]), in GFLOP/s. Not a target of its own: it checks how fast
//!   each side multiplies matrices, the work the two encoders are mostly made of.
//!
//! Each figure is items per second, the median of the timed repeats after warm-up, as in the
//! Python script ([`timed`]). Every step reads its result back to the host, so a lazy backend
//! cannot finish its work outside the timed region.

mod clip_vision;
mod matmul;
mod minilm;
mod pair_head;
#[cfg(test)]
mod tests;

use std::path::Path;

use burn::tensor::Device;
use pretrained::bert::{BertConfig, BertModel};
use pretrained::clip::ClipConfig;

pub use clip_vision::ClipVisionWorkload;
pub use matmul::{MATMUL_SHAPES, MATMUL_STEPS_PER_SAMPLE, MatmulWorkload};
pub use minilm::MinilmWorkload;
pub use pair_head::{PAIR_HEAD_STEPS_PER_SAMPLE, PairHead, PairHeadWorkload};

use crate::BenchError;
use crate::timing::{Repeats, Throughput, timed, with_threads};

/// Where the MiniLM workload's checkpoint is: `models/all-MiniLM-L6-v2` in the shared folder.
pub const MINILM_IN_SHARED: &str = "models/all-MiniLM-L6-v2";

/// A backend that cannot hand a result back, as a benchmark error.
fn readback_error(e: impl std::fmt::Debug) -> BenchError {
    BenchError::Readback(format!("{e:?}"))
}

/// Loads a transformers BERT folder (`config.json`, `model.safetensors`).
///
/// # Errors
///
/// [`BenchError::ModelMissing`] when `dir` does not exist, otherwise as
/// [`BertConfig::from_file`] and [`BertModel::load_safetensors`].
pub fn load_bert(dir: &Path, device: &Device) -> Result<BertModel, BenchError> {
    if !dir.is_dir() {
        return Err(BenchError::ModelMissing {
            path: dir.to_path_buf(),
        });
    }
    let config = BertConfig::from_file(&dir.join("config.json"))?;
    Ok(config
        .init(device)
        .load_safetensors(&dir.join("model.safetensors"))?)
}

/// The sizes of the three workloads: [`Sizes::comparison`] matches the Python script; tests use
/// smaller ones.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Sentences per MiniLM step.
    pub minilm_batch: usize,
    /// Tokens per sentence.
    pub minilm_seq_len: usize,
    /// The CLIP model whose vision tower runs.
    pub clip: ClipConfig,
    /// Images per CLIP step.
    pub clip_batch: usize,
    /// Pairs per head step.
    pub pairs: usize,
    /// Feature width of the head.
    pub features: usize,
    /// Hidden width of the head.
    pub hidden: usize,
    /// Matrix products timed alone, `(name, m, k, n)`.
    pub matmul: Vec<(String, usize, usize, usize)>,
}

impl Sizes {
    /// The sizes of `scripts/bench_pretrained_torch.py`.
    pub fn comparison() -> Self {
        Self {
            minilm_batch: MinilmWorkload::BATCH,
            minilm_seq_len: MinilmWorkload::SEQ_LEN,
            clip: ClipConfig::vit_base_patch32(),
            clip_batch: ClipVisionWorkload::BATCH,
            pairs: PairHeadWorkload::PAIRS,
            features: PairHeadWorkload::FEATURES,
            hidden: PairHeadWorkload::HIDDEN,
            matmul: MATMUL_SHAPES
                .iter()
                .map(|&(name, m, k, n)| (name.to_string(), m, k, n))
                .collect(),
        }
    }
}

/// The figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// MiniLM sentences per second.
    pub minilm: Throughput,
    /// CLIP ViT images per second.
    pub clip_vision: Throughput,
    /// Pair-head training pairs per second.
    pub pair_head: Throughput,
    /// Each matrix product of [`Sizes::matmul`] by name, in GFLOP/s (`batch` is 1).
    pub matmul: Vec<(String, Throughput)>,
    /// Floating-point operations per item of each workload, for the share of the peak.
    pub flop: WorkloadFlop,
}

/// Floating-point operations per item of the three workloads (see each workload's `flop_per_*`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct WorkloadFlop {
    /// Per MiniLM sentence.
    pub minilm: f64,
    /// Per CLIP image.
    pub clip_vision: f64,
    /// Per pair of a head training step.
    pub pair_head: f64,
}

/// Builds and times the three workloads on `device` in the current thread pool (see
/// [`with_threads`]); `minilm` is the MiniLM model (loaded by the caller, so that tests can pass
/// a small random one). `progress` hears each workload's name before it starts.
///
/// # Errors
///
/// As the workloads' constructors and steps.
pub fn run(
    minilm: BertModel,
    sizes: &Sizes,
    repeats: Repeats,
    device: &Device,
    mut progress: impl FnMut(&str),
) -> Result<Report, BenchError> {
    device.seed(0);
    progress("minilm");
    let work = MinilmWorkload::new(minilm, sizes.minilm_batch, sizes.minilm_seq_len, device)?;
    let flop = WorkloadFlop {
        minilm: work.flop_per_sentence(),
        clip_vision: ClipVisionWorkload::flop_per_image(&sizes.clip),
        pair_head: PairHeadWorkload::flop_per_pair(sizes.features, sizes.hidden),
    };
    let minilm = timed(|| work.step(), work.batch(), repeats, 1)?;
    drop(work);

    progress("clip_vit_b32");
    let work = ClipVisionWorkload::new(&sizes.clip, sizes.clip_batch, device)?;
    let clip_vision = timed(|| work.step(), work.batch(), repeats, 1)?;
    drop(work);

    progress("pair_head");
    let mut work = PairHeadWorkload::new(sizes.pairs, sizes.features, sizes.hidden, device)?;
    let pairs = work.pairs();
    let head_repeats = Repeats {
        warmup: repeats.warmup * 10,
        ..repeats
    };
    let pair_head = timed(
        || work.step().map(drop),
        pairs,
        head_repeats,
        PAIR_HEAD_STEPS_PER_SAMPLE,
    )?;
    drop(work);

    let mut matmul = Vec::new();
    for (name, m, k, n) in &sizes.matmul {
        progress(name);
        let work = MatmulWorkload::new(*m, *k, *n, device)?;
        let products = timed(|| work.step(), 1, repeats, MATMUL_STEPS_PER_SAMPLE)?;
        let gflop = work.flop() / 1e9;
        let scale = |v: f64| v * gflop;
        matmul.push((
            name.clone(),
            Throughput {
                median: scale(products.median),
                repeats: products.repeats.into_iter().map(scale).collect(),
                batch: 1,
            },
        ));
    }
    Ok(Report {
        minilm,
        clip_vision,
        pair_head,
        matmul,
        flop,
    })
}

/// The comparison as `rewardlab bench pretrained` runs it: the MiniLM checkpoint of the shared
/// folder ([`MINILM_IN_SHARED`]), [`Sizes::comparison`], on `device` in a pool of `threads`
/// threads.
///
/// # Errors
///
/// [`BenchError::Shared`] without the checkpoint, and as [`run`] and [`with_threads`].
pub fn run_comparison(
    threads: usize,
    repeats: Repeats,
    device: &Device,
    progress: impl FnMut(&str) + Send,
) -> Result<Report, BenchError> {
    let dir = paths::shared_file(MINILM_IN_SHARED, "all-MiniLM-L6-v2 (the MiniLM workload)")?;
    let minilm = load_bert(&dir, device)?;
    with_threads(threads, || {
        run(minilm, &Sizes::comparison(), repeats, device, progress)
    })?
}
