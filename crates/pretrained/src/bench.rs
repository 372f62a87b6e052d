//! Throughput workloads for `rewardlab bench pretrained`: the Rust side of the comparison with
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

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::{log_sigmoid, relu};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

use crate::PretrainedError;
use crate::bert::{BertConfig, BertModel};
use crate::clip::{ClipConfig, ClipVisionTransformer};

/// Errors of the benchmark workloads.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The MiniLM checkpoint folder is not where it was looked for.
    #[error(
        "{}: no such model folder (all-MiniLM-L6-v2 is looked for under $REWARDLAB_SHARED/models; \
         set REWARDLAB_SHARED to the shared folder)",
        path.display()
    )]
    ModelMissing {
        /// The folder looked for.
        path: PathBuf,
    },
    /// The shared folder is not set, or does not hold the checkpoint.
    #[error(transparent)]
    Shared(#[from] paths::MissingShared),
    /// Loading a model failed.
    #[error(transparent)]
    Pretrained(#[from] PretrainedError),
    /// A size that makes no workload (zero items, too long a sequence, ...).
    #[error("invalid benchmark size: {0}")]
    Size(String),
    /// The thread pool of the requested size could not be built.
    #[error("cannot start a pool of {threads} threads: {message}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// rayon's message.
        message: String,
    },
    /// The backend failed to hand a result back.
    #[error("reading a result back from the device: {0}")]
    Readback(String),
}

/// Warm-up and timed repeats: the Python script's `2, 5` ([`Repeats::FULL`]) or, with
/// `--quick`, `1, 2` ([`Repeats::QUICK`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeats {
    /// Untimed runs first (the pair head runs ten times this many steps, as the script does).
    pub warmup: usize,
    /// Timed samples; the figure is their median.
    pub repeats: usize,
}

impl Repeats {
    /// Two warm-ups, five timed repeats.
    pub const FULL: Self = Self {
        warmup: 2,
        repeats: 5,
    };
    /// One warm-up, two timed repeats.
    pub const QUICK: Self = Self {
        warmup: 1,
        repeats: 2,
    };
}

/// Steps per timed sample of the pair head (one step takes about a millisecond, too short to
/// time alone), as in the Python script.
pub const PAIR_HEAD_STEPS_PER_SAMPLE: usize = 20;

/// One workload's throughput.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Throughput {
    /// Items (sentences, images, pairs) per second: the median of `repeats`.
    pub median: f64,
    /// Items per second of each timed sample.
    pub repeats: Vec<f64>,
    /// Items in one step.
    pub batch: usize,
}

/// Runs `step` `warmup` times, then `repeats` timed samples of `inner` steps each, and reports
/// `items * inner / seconds` per sample with their median (`timed` in the Python script).
///
/// # Errors
///
/// The first error of `step`.
pub fn timed<E>(
    mut step: impl FnMut() -> Result<(), E>,
    items: usize,
    repeats: Repeats,
    inner: usize,
) -> Result<Throughput, E> {
    for _ in 0..repeats.warmup {
        step()?;
    }
    let mut rates = Vec::with_capacity(repeats.repeats);
    for _ in 0..repeats.repeats {
        let t0 = Instant::now();
        for _ in 0..inner {
            step()?;
        }
        let seconds = t0.elapsed().as_secs_f64();
        rates.push((items * inner) as f64 / seconds.max(1e-12));
    }
    Ok(Throughput {
        median: median(&rates),
        repeats: rates,
        batch: items,
    })
}

/// The median as Python's `statistics.median` takes it (the mean of the middle two for an even
/// count); NaN for no values.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Where the MiniLM workload's checkpoint is: `models/all-MiniLM-L6-v2` in the shared folder.
pub const MINILM_IN_SHARED: &str = "models/all-MiniLM-L6-v2";

/// Runs `f` on a rayon pool of `threads` threads: the flex backend splits its matrix products
/// over the current pool, so this is how the Rust side gets the same thread count as torch's
/// `set_num_threads`.
///
/// # Errors
///
/// [`BenchError::Threads`] when the pool cannot be built (or `threads` is 0).
pub fn with_threads<R: Send>(
    threads: usize,
    f: impl FnOnce() -> R + Send,
) -> Result<R, BenchError> {
    let error = |message: String| BenchError::Threads { threads, message };
    if threads == 0 {
        return Err(error("at least one thread is needed".into()));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| error(e.to_string()))?;
    Ok(pool.install(f))
}

/// A small deterministic generator (SplitMix64) for token ids: the ids only need to be valid
/// and fixed, not to match torch's.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

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

/// The MiniLM forward workload.
#[derive(Debug)]
pub struct MinilmWorkload {
    model: BertModel,
    ids: Tensor<2, Int>,
    mask: Tensor<2, Int>,
    batch: usize,
}

impl MinilmWorkload {
    /// Sentences per step in the comparison.
    pub const BATCH: usize = 64;
    /// Tokens per sentence in the comparison.
    pub const SEQ_LEN: usize = 35;

    /// Loads the checkpoint in `dir` (a transformers BERT folder: `config.json` and
    /// `model.safetensors`) and builds a `batch x seq_len` input.
    ///
    /// # Errors
    ///
    /// [`BenchError::ModelMissing`] when `dir` does not exist, otherwise as
    /// [`BertConfig::from_file`] and [`BertModel::load_safetensors`], and [`Self::new`].
    pub fn from_folder(
        dir: &Path,
        batch: usize,
        seq_len: usize,
        device: &Device,
    ) -> Result<Self, BenchError> {
        Self::new(load_bert(dir, device)?, batch, seq_len, device)
    }

    /// The workload on a given model: random ids in `1000..vocab` (fewer when the vocabulary is
    /// smaller), `[CLS]` (101) first and `[SEP]` (102) last where the vocabulary has them, and a
    /// full attention mask, as in the Python script.
    ///
    /// # Errors
    ///
    /// [`BenchError::Size`] for an empty batch, fewer than two tokens, or more tokens than the
    /// model's position embeddings.
    pub fn new(
        model: BertModel,
        batch: usize,
        seq_len: usize,
        device: &Device,
    ) -> Result<Self, BenchError> {
        let max_len = model.embeddings.position_embeddings.weight.dims()[0];
        if batch == 0 || seq_len < 2 || seq_len > max_len {
            return Err(BenchError::Size(format!(
                "MiniLM batch {batch} x {seq_len} tokens (needs batch >= 1 and 2..={max_len} \
                 tokens)"
            )));
        }
        let vocab = model.embeddings.word_embeddings.weight.dims()[0] as u64;
        let low = if vocab > 1000 { 1000 } else { 0 };
        let special = |id: u64| if id < vocab { id } else { 0 };
        let mut state = 0;
        let mut ids = Vec::with_capacity(batch * seq_len);
        for _ in 0..batch {
            for j in 0..seq_len {
                let id = match j {
                    0 => special(101),
                    _ if j == seq_len - 1 => special(102),
                    _ => low + splitmix(&mut state) % (vocab - low),
                };
                ids.push(id as i64);
            }
        }
        let shape = [batch, seq_len];
        Ok(Self {
            model,
            ids: Tensor::from_data(TensorData::new(ids, shape), device),
            mask: Tensor::ones(shape, device),
            batch,
        })
    }

    /// Sentences per step.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Floating-point operations of one sentence's forward ([`encoder_layers_flop`] over the
    /// model's layers at the workload's length).
    pub fn flop_per_sentence(&self) -> f64 {
        let layers = &self.model.encoder.layer;
        let Some(first) = layers.first() else {
            return 0.0;
        };
        let [width, ffn] = first.intermediate.dense.weight.dims();
        encoder_layers_flop(self.ids.dims()[1], width, ffn, layers.len())
    }

    /// One forward: the normalised sentence embeddings `[batch, hidden]`.
    pub fn forward(&self) -> Tensor<2> {
        let hidden = self.model.forward(self.ids.clone(), self.mask.clone());
        let [batch, len, dim] = hidden.dims();
        // sentence-transformers' mean pooling and `F.normalize`, as the Python script writes
        // them out.
        let mask = self.mask.clone().float().reshape([batch, len, 1]);
        let count = mask.clone().sum_dim(1).clamp_min(1e-9);
        let pooled = (hidden * mask).sum_dim(1).div(count).reshape([batch, dim]);
        let norm = pooled.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
        pooled / norm
    }

    /// One timed step: [`Self::forward`], read back to the host.
    ///
    /// # Errors
    ///
    /// [`BenchError::Readback`] when the backend fails.
    pub fn step(&self) -> Result<(), BenchError> {
        self.forward()
            .into_data()
            .try_to_vec::<f32>()
            .map_err(readback_error)?;
        Ok(())
    }
}

/// The CLIP vision workload: the tower, its projection, and a fixed random batch.
#[derive(Debug)]
pub struct ClipVisionWorkload {
    tower: ClipVisionTransformer,
    projection: Linear,
    pixels: Tensor<4>,
}

impl ClipVisionWorkload {
    /// Images per step in the comparison.
    pub const BATCH: usize = 16;

    /// A randomly initialised vision tower and projection of `config`'s sizes (ViT-B/32 in the
    /// comparison: [`ClipConfig::vit_base_patch32`]) and `batch` images of standard normal
    /// noise.
    ///
    /// # Errors
    ///
    /// [`BenchError::Size`] for an empty batch or a config that does not validate.
    pub fn new(config: &ClipConfig, batch: usize, device: &Device) -> Result<Self, BenchError> {
        config.validate().map_err(BenchError::Size)?;
        if batch == 0 {
            return Err(BenchError::Size("CLIP batch of 0 images".into()));
        }
        let vision = &config.vision_config;
        let size = vision.image_size;
        Ok(Self {
            tower: vision.init(device),
            projection: LinearConfig::new(vision.hidden_size, config.projection_dim)
                .with_bias(false)
                .init(device),
            pixels: Tensor::random(
                [batch, vision.num_channels, size, size],
                Distribution::Normal(0.0, 1.0),
                device,
            ),
        })
    }

    /// Images per step.
    pub fn batch(&self) -> usize {
        self.pixels.dims()[0]
    }

    /// Floating-point operations of one image: the patch embedding (a product of each patch's
    /// pixels with the embedding matrix), [`encoder_layers_flop`] over the patches and the class
    /// token, and the projection.
    pub fn flop_per_image(config: &ClipConfig) -> f64 {
        let v = &config.vision_config;
        let patches = (v.image_size / v.patch_size).pow(2);
        let pixels_per_patch = v.num_channels * v.patch_size * v.patch_size;
        2.0 * (patches * pixels_per_patch * v.hidden_size) as f64
            + encoder_layers_flop(
                patches + 1,
                v.hidden_size,
                v.intermediate_size,
                v.num_hidden_layers,
            )
            + 2.0 * (v.hidden_size * config.projection_dim) as f64
    }

    /// One forward: the projected image features `[batch, projection_dim]`
    /// (`image_embeds` of `CLIPVisionModelWithProjection`, not normalised).
    ///
    /// # Errors
    ///
    /// As [`ClipVisionTransformer::forward`] (not reachable with the workload's own input).
    pub fn forward(&self) -> Result<Tensor<2>, BenchError> {
        let out = self.tower.forward(self.pixels.clone())?;
        Ok(self.projection.forward(out.pooler_output))
    }

    /// One timed step: [`Self::forward`], read back to the host.
    ///
    /// # Errors
    ///
    /// As [`Self::forward`], and [`BenchError::Readback`].
    pub fn step(&self) -> Result<(), BenchError> {
        self.forward()?
            .into_data()
            .try_to_vec::<f32>()
            .map_err(readback_error)?;
        Ok(())
    }
}

/// The pairwise reward head of the comparison: `Linear(d, hidden) -> ReLU -> Linear(hidden, 1)`.
#[derive(Module, Debug)]
pub struct PairHead {
    /// Input to hidden.
    pub fc1: Linear,
    /// Hidden to the scalar reward.
    pub fc2: Linear,
}

impl PairHead {
    /// A freshly initialised head.
    pub fn new(features: usize, hidden: usize, device: &Device) -> Self {
        Self {
            fc1: LinearConfig::new(features, hidden).init(device),
            fc2: LinearConfig::new(hidden, 1).init(device),
        }
    }

    /// Rewards `[n]` of features `[n, d]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<1> {
        self.fc2.forward(relu(self.fc1.forward(x))).squeeze_dim(1)
    }
}

/// The pair-head training workload: the head on an autodiff device, its Adam state, and fixed
/// random features.
///
/// The better and the worse features are stacked into one `[2 · pairs, d]` batch, so a step
/// runs the head once over both (one matrix product per layer forward and one per weight
/// gradient backward, instead of two each): the same rewards, loss and gradients as the Python
/// script's `head(better) - head(worse)` (tested), as `crates/model` trains its heads.
pub struct PairHeadWorkload {
    head: Option<PairHead>,
    optim: ModuleOptimizer,
    /// Better features in rows `0..pairs`, worse in `pairs..2 · pairs`.
    stacked: Tensor<2>,
    pairs: usize,
}

impl std::fmt::Debug for PairHeadWorkload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairHeadWorkload")
            .field("head", &self.head)
            .field("pairs", &self.pairs())
            .finish_non_exhaustive()
    }
}

impl PairHeadWorkload {
    /// Pairs per step in the comparison.
    pub const PAIRS: usize = 256;
    /// Width of the cached features in the comparison.
    pub const FEATURES: usize = 768;
    /// Hidden width of the head in the comparison.
    pub const HIDDEN: usize = 256;
    /// Adam's learning rate in the comparison.
    pub const LR: f64 = 1e-3;

    /// The workload on `device` (plain; the head and features go to `device.autodiff()`):
    /// `pairs` pairs of standard normal `features`-wide vectors.
    ///
    /// # Errors
    ///
    /// [`BenchError::Size`] when a size is 0.
    pub fn new(
        pairs: usize,
        features: usize,
        hidden: usize,
        device: &Device,
    ) -> Result<Self, BenchError> {
        if pairs == 0 || features == 0 || hidden == 0 {
            return Err(BenchError::Size(format!(
                "pair head of {pairs} pairs, {features} features, {hidden} hidden units"
            )));
        }
        let ad = device.clone().autodiff();
        let features_of = || Tensor::random([pairs, features], Distribution::Normal(0.0, 1.0), &ad);
        Ok(Self {
            head: Some(PairHead::new(features, hidden, &ad)),
            // torch's Adam defaults: betas (0.9, 0.999), eps 1e-8, no weight decay.
            optim: AdamConfig::new().with_epsilon(1e-8).init(),
            stacked: Tensor::cat(vec![features_of(), features_of()], 0),
            pairs,
        })
    }

    /// Pairs per step.
    pub fn pairs(&self) -> usize {
        self.pairs
    }

    /// Floating-point operations of one pair's share of a step: both images forward through
    /// the two layers, and backward the weight gradients of both layers and the input gradient
    /// of the second (the features need none), two FLOP per multiply-add. Adam's update is
    /// per step, not per pair, and is left out (under 1% at 256 pairs).
    pub fn flop_per_pair(features: usize, hidden: usize) -> f64 {
        let (f, h) = (features as f64, hidden as f64);
        let forward = 2.0 * f * h + 2.0 * h;
        let backward = 2.0 * f * h + 4.0 * h;
        2.0 * (forward + backward)
    }

    /// The loss `mean(-log sigmoid(r_better - r_worse))` of `head` on the workload's pairs.
    pub fn loss(&self, head: &PairHead) -> Tensor<1> {
        let rewards = head.forward(self.stacked.clone());
        let n = self.pairs;
        let margin = rewards.clone().narrow(0, 0, n) - rewards.narrow(0, n, n);
        log_sigmoid(margin).neg().mean()
    }

    /// One training step; returns the loss before the update.
    ///
    /// # Errors
    ///
    /// [`BenchError::Readback`] when the loss cannot be read.
    pub fn step(&mut self) -> Result<f32, BenchError> {
        let Some(head) = self.head.take() else {
            // Only after a step that failed half-way; nothing to train any more.
            return Err(BenchError::Readback(
                "the head was lost in a failed step".into(),
            ));
        };
        let loss = self.loss(&head);
        let grads = GradientsParams::from_grads(loss.backward(), &head);
        self.head = Some(self.optim.step(Self::LR, head, grads));
        let value = loss
            .into_data()
            .try_to_vec::<f32>()
            .map_err(readback_error)?;
        Ok(value.first().copied().unwrap_or(f32::NAN))
    }
}

/// Floating-point operations (two per multiply-add) of one sequence of `tokens` through `layers`
/// transformer encoder layers of `width` and feed-forward width `ffn`: per layer the four
/// attention projections (`8 T d^2`), the two feed-forward products (`4 T d ffn`) and the two
/// attention products (`4 T^2 d`). Norms, softmax and activations (`O(T d)`) are not counted, as
/// FLOP counts of transformers usually do not; they add well under 1% here.
pub fn encoder_layers_flop(tokens: usize, width: usize, ffn: usize, layers: usize) -> f64 {
    let (t, d, f) = (tokens as f64, width as f64, ffn as f64);
    layers as f64 * (8.0 * t * d * d + 4.0 * t * d * f + 4.0 * t * t * d)
}

/// The matrix products timed alone, `(name, m, k, n)`: the feed-forward up-projection
/// `[tokens, width] x [width, 4 * width]` of MiniLM at 64 x 35 tokens and of CLIP ViT-B/32 at
/// 16 images of 50 tokens, the largest products of the two encoder workloads.
pub const MATMUL_SHAPES: [(&str, usize, usize, usize); 2] = [
    ("minilm_ffn", 64 * 35, 384, 1536),
    ("clip_vit_b32_ffn", 16 * 50, 768, 3072),
];

/// Matrix products per timed sample of [`MatmulWorkload`] (one takes milliseconds), as in the
/// Python script.
pub const MATMUL_STEPS_PER_SAMPLE: usize = 10;

/// One float32 matrix product `[m, k] x [k, n]` of standard normal matrices.
#[derive(Debug)]
pub struct MatmulWorkload {
    a: Tensor<2>,
    b: Tensor<2>,
}

impl MatmulWorkload {
    /// The product's operands on `device`.
    ///
    /// # Errors
    ///
    /// [`BenchError::Size`] when a size is 0.
    pub fn new(m: usize, k: usize, n: usize, device: &Device) -> Result<Self, BenchError> {
        if m == 0 || k == 0 || n == 0 {
            return Err(BenchError::Size(format!("matrix product {m} x {k} x {n}")));
        }
        let normal =
            |rows, cols| Tensor::random([rows, cols], Distribution::Normal(0.0, 1.0), device);
        Ok(Self {
            a: normal(m, k),
            b: normal(k, n),
        })
    }

    /// Floating-point operations of one product (a multiply and an add per term).
    pub fn flop(&self) -> f64 {
        let [m, k] = self.a.dims();
        let n = self.b.dims()[1];
        2.0 * (m * k * n) as f64
    }

    /// The product.
    pub fn forward(&self) -> Tensor<2> {
        self.a.clone().matmul(self.b.clone())
    }

    /// One product, its first element read back (the backend computes all of it).
    ///
    /// # Errors
    ///
    /// [`BenchError::Readback`] when the element cannot be read.
    pub fn step(&self) -> Result<(), BenchError> {
        self.forward()
            .slice([0..1, 0..1])
            .into_data()
            .try_to_vec::<f32>()
            .map_err(readback_error)?;
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clip::ClipVisionConfig;

    fn tiny_sizes() -> Sizes {
        let mut clip = ClipConfig::vit_base_patch32();
        clip.vision_config = ClipVisionConfig {
            hidden_size: 16,
            intermediate_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            image_size: 16,
            patch_size: 8,
            ..ClipVisionConfig::default()
        };
        clip.projection_dim = 8;
        Sizes {
            minilm_batch: 3,
            minilm_seq_len: 5,
            clip,
            clip_batch: 2,
            pairs: 4,
            features: 6,
            hidden: 5,
            matmul: vec![("tiny".into(), 3, 4, 5)],
        }
    }

    fn tiny_bert(device: &Device) -> BertModel {
        BertConfig {
            vocab_size: 50,
            hidden_size: 8,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            intermediate_size: 16,
            max_position_embeddings: 16,
            ..BertConfig::default()
        }
        .init(device)
    }

    #[test]
    fn comparison_sizes_are_the_scripts() {
        let sizes = Sizes::comparison();
        assert_eq!((sizes.minilm_batch, sizes.minilm_seq_len), (64, 35));
        assert_eq!(sizes.clip_batch, 16);
        let v = &sizes.clip.vision_config;
        assert_eq!(
            (v.hidden_size, v.num_hidden_layers, v.patch_size),
            (768, 12, 32)
        );
        assert_eq!((v.image_size, sizes.clip.projection_dim), (224, 512));
        assert_eq!((sizes.pairs, sizes.features, sizes.hidden), (256, 768, 256));
        // the feed-forward up-projections of the two encoder workloads
        assert_eq!(
            sizes.matmul,
            [
                ("minilm_ffn".to_string(), 64 * 35, 384, 4 * 384),
                (
                    "clip_vit_b32_ffn".to_string(),
                    16 * (49 + 1),
                    768,
                    v.intermediate_size
                ),
            ]
        );
        assert_eq!(
            Repeats::FULL,
            Repeats {
                warmup: 2,
                repeats: 5
            }
        );
        assert_eq!(
            Repeats::QUICK,
            Repeats {
                warmup: 1,
                repeats: 2
            }
        );
    }

    #[test]
    fn tiny_run_reports_every_workload() {
        let device = Device::default();
        let mut seen = Vec::new();
        let report = with_threads(1, || {
            run(
                tiny_bert(&device),
                &tiny_sizes(),
                Repeats::QUICK,
                &device,
                |name| seen.push(name.to_string()),
            )
        })
        .unwrap()
        .unwrap();
        assert_eq!(seen, ["minilm", "clip_vit_b32", "pair_head", "tiny"]);
        let (name, products) = &report.matmul[0];
        assert_eq!((name.as_str(), products.repeats.len()), ("tiny", 2));
        assert!(products.median.is_finite() && products.median > 0.0);
        for (t, batch) in [
            (&report.minilm, 3),
            (&report.clip_vision, 2),
            (&report.pair_head, 4),
        ] {
            assert_eq!(t.batch, batch);
            assert_eq!(t.repeats.len(), 2);
            assert!(t.median.is_finite() && t.median > 0.0, "{t:?}");
        }
    }

    #[test]
    fn flop_counts_match_the_published_sizes() {
        // CLIP ViT-B/32 at 224 px: 4.4 GMACs per image (the figure timm and open_clip publish).
        let clip = ClipVisionWorkload::flop_per_image(&ClipConfig::vit_base_patch32());
        assert!((clip / 2e9 - 4.41).abs() < 0.01, "{clip}");
        // all-MiniLM-L6-v2 (6 layers of 384, feed-forward 1536) at 35 tokens, counted by hand:
        // 6 x (8 x 35 x 384^2 + 4 x 35 x 384 x 1536 + 4 x 35^2 x 384).
        let minilm = encoder_layers_flop(35, 384, 1536, 6);
        assert_eq!(minilm, 754_467_840.0);
        // The pair head: forward 2fh + 2h per image, backward 2fh + 4h, two images per pair.
        assert_eq!(PairHeadWorkload::flop_per_pair(3, 2), 2.0 * (16.0 + 20.0));
        let device = Device::default();
        let work = MinilmWorkload::new(tiny_bert(&device), 3, 5, &device).unwrap();
        let layers = work.model.encoder.layer.len();
        let [width, ffn] = work.model.encoder.layer[0].intermediate.dense.weight.dims();
        assert_eq!(
            work.flop_per_sentence(),
            encoder_layers_flop(5, width, ffn, layers)
        );
    }

    #[test]
    fn matmul_workload_is_the_product_it_counts() {
        let device = Device::default();
        let work = MatmulWorkload::new(3, 4, 5, &device).unwrap();
        assert_eq!(work.flop(), 2.0 * 60.0);
        let a = work.a.clone().into_data().try_to_vec::<f32>().unwrap();
        let b = work.b.clone().into_data().try_to_vec::<f32>().unwrap();
        let c = work.forward().into_data().try_to_vec::<f32>().unwrap();
        for i in 0..3 {
            for j in 0..5 {
                let want: f32 = (0..4).map(|t| a[i * 4 + t] * b[t * 5 + j]).sum();
                assert!((c[i * 5 + j] - want).abs() < 1e-5, "{i} {j}");
            }
        }
        work.step().unwrap();
        assert!(MatmulWorkload::new(0, 4, 5, &device).is_err());
    }

    #[test]
    fn minilm_embeddings_are_unit_rows_with_special_tokens() {
        let device = Device::default();
        let work = MinilmWorkload::new(tiny_bert(&device), 3, 5, &device).unwrap();
        let ids = work
            .ids
            .clone()
            .into_data()
            .try_into_vec_as::<i64>()
            .unwrap();
        // A vocabulary under 1000 tokens draws from all of it; 101 and 102 are outside 0..50.
        assert!(ids.iter().all(|&id| (0..50).contains(&id)));
        let out = work.forward();
        assert_eq!(out.dims(), [3, 8]);
        let norms = out
            .square()
            .sum_dim(1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
    }

    #[test]
    fn pair_head_steps_lower_the_loss() {
        let device = Device::default();
        device.seed(1);
        let mut work = PairHeadWorkload::new(8, 4, 8, &device).unwrap();
        let first = work.step().unwrap();
        let mut last = first;
        for _ in 0..200 {
            last = work.step().unwrap();
        }
        assert!(first.is_finite() && last < first, "{first} -> {last}");
    }

    #[test]
    fn one_pass_over_stacked_pairs_is_the_scripts_two_passes() {
        let device = Device::default();
        device.seed(2);
        let work = PairHeadWorkload::new(5, 6, 4, &device).unwrap();
        let head = work.head.clone().unwrap();
        let better = work.stacked.clone().narrow(0, 0, 5);
        let worse = work.stacked.clone().narrow(0, 5, 5);
        let two = log_sigmoid(head.forward(better) - head.forward(worse))
            .neg()
            .mean();
        let one = work.loss(&head);
        let (g_two, g_one) = (two.clone().backward(), one.clone().backward());
        let scalar = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap()[0];
        assert!((scalar(two) - scalar(one)).abs() < 1e-6);
        let grad = |g: &burn::tensor::Gradients| {
            head.fc1
                .weight
                .val()
                .grad(g)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        let (a, b) = (grad(&g_two), grad(&g_one));
        assert!(
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6),
            "{a:?} {b:?}"
        );
    }

    #[test]
    fn bad_sizes_are_errors_not_panics() {
        let device = Device::default();
        for (batch, len) in [(0, 5), (3, 1), (3, 17)] {
            let err = MinilmWorkload::new(tiny_bert(&device), batch, len, &device).unwrap_err();
            assert!(matches!(err, BenchError::Size(_)), "{err}");
        }
        assert!(ClipVisionWorkload::new(&tiny_sizes().clip, 0, &device).is_err());
        assert!(PairHeadWorkload::new(0, 4, 4, &device).is_err());
        assert!(with_threads(0, || ()).is_err());
        let missing = MinilmWorkload::from_folder(Path::new("/nonexistent/minilm"), 1, 4, &device)
            .unwrap_err();
        assert!(
            missing.to_string().contains("REWARDLAB_SHARED"),
            "{missing}"
        );
    }

    #[test]
    fn median_matches_python() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
