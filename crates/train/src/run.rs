//! A training run end to end: run folder, tokenizer, data, burn-train's `SupervisedTraining` with
//! per-head metrics, checkpoints, early stopping and resume, then the final model and the
//! held-out evaluation (`summary.json`).
//!
//! Run folder layout: `config.toml` (resolved config), `tokenizer.json`, `checkpoint/` (model,
//! optimiser and scheduler state of the last epochs), `train/` and `valid/` (burn's per-epoch
//! metric logs), `metrics.csv` (one row per epoch), `model.safetensors` + `model_config.json`,
//! `summary.json`, and last `manifest.json` (every file's SHA-256: see the `integrity` crate),
//! whose presence says the run is complete. A run folder has one writer at a time
//! (`.rewardlab.lock`).
//!
//! Resume: `checkpoint/` holds the state after each epoch; a resumed run loads the last complete
//! one and goes on. Since the batch order is fixed ([`crate::data`]), dropout is 0 by default and
//! the early-stopping state is rebuilt from the logged epochs, a resumed run ends with the same
//! weights as an uninterrupted one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use annotations::Dataset;
use annotations::splits::Split;
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::InMemDataset;
use burn::prelude::*;
use burn::train::{Learner, SupervisedTraining};
use model::{
    Criterion, FrozenEncoder, LikertScale, ModelConfig, PromptTokenizer, RewardModel,
    TOKENIZER_FILE, load_pretrained,
};

use crate::checkpoint::{CHECKPOINT_DIR, newest_intact_checkpoint, set_aside};
use crate::config::TrainConfig;
use crate::data::{Flips, GroupBatcher, Store, plan_batches, prepare, train_tokenizer};
use crate::epoch_metrics::{ACCURACY, head_loss_name, spearman_name};
use crate::error::{Result, TrainError};
use crate::heldout::{GroundTruthTable, Heldout, evaluate};
use crate::learner;
use crate::progress::{Columns, EpochRecord, EpochRenderer, csv_header, read_csv};
use crate::step::Net;

/// The resolved config inside a run folder.
pub const CONFIG_FILE: &str = "config.toml";
/// Per-epoch metrics inside a run folder.
pub const METRICS_FILE: &str = "metrics.csv";
/// Held-out results inside a run folder.
pub const SUMMARY_FILE: &str = "summary.json";
/// Every held-out image's head scores inside a run folder.
pub const HELDOUT_SCORES_FILE: &str = "heldout_scores.csv";

/// The `kind` of a run folder's manifest.
pub const RUN_KIND: &str = "run";

/// Everything this crate writes into a run folder (what `force` clears).
const RUN_ENTRIES: [&str; 12] = [
    CONFIG_FILE,
    HELDOUT_SCORES_FILE,
    TOKENIZER_FILE,
    CHECKPOINT_DIR,
    "train",
    "valid",
    METRICS_FILE,
    SUMMARY_FILE,
    model::WEIGHTS_FILE,
    model::CONFIG_FILE,
    "experiment.log",
    integrity::MANIFEST_FILE,
];

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// Run folder.
    pub out: PathBuf,
    /// Continue the run in `out` from its last checkpoint.
    pub resume: bool,
    /// Reuse a non-empty `out`, clearing what an earlier run wrote there.
    pub force: bool,
    /// True latents (synthetic worlds), for the held-out comparison with the truth.
    pub ground_truth: Option<GroundTruthTable>,
    /// Print one line per epoch on stdout.
    pub print: bool,
    /// More devices beside the one `train` is given, to train data-parallel: each optimiser
    /// step takes one planned batch per device (times `optim.grad_accumulation`), and their
    /// gradients are averaged on the main device (burn-train's multi-device strategy). The
    /// result equals one device accumulating the same batches (a test checks it).
    pub replicas: Vec<Device>,
}

/// What a run produced.
#[derive(Debug)]
pub struct TrainReport {
    pub run_dir: PathBuf,
    pub model_config: ModelConfig,
    /// Every epoch's metrics (from `metrics.csv`, so a resumed run includes earlier epochs).
    pub history: Vec<EpochRecord>,
    pub heldout: Heldout,
    /// The summary as written to `summary.json`.
    pub summary: serde_json::Value,
    pub wall_seconds: f64,
}

/// Initialisation draws from the backend's global random state: runs in the same process (tests)
/// take turns seeding and initialising so that a seed always gives the same weights.
pub static INIT_LOCK: Mutex<()> = Mutex::new(());

fn folder_error(path: &Path, message: impl Into<String>) -> TrainError {
    TrainError::RunFolder {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads every parameter once, which runs burn's lazy initialisers.
struct Materialize;

impl burn::module::ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Reads the resolved config of an existing run folder, checked against the run's manifest when
/// it has one.
pub fn run_config(run_dir: &Path) -> Result<TrainConfig> {
    integrity::verify_files(run_dir, &[CONFIG_FILE])?;
    TrainConfig::from_file(&run_dir.join(CONFIG_FILE))
}

/// The newest epoch whose model, optimiser and scheduler checkpoints are all intact (see
/// [`crate::checkpoint`]).
pub fn last_checkpoint(run_dir: &Path) -> Option<usize> {
    newest_intact_checkpoint(run_dir).epoch
}

/// Metric columns of this model's `metrics.csv`.
fn columns(heads: &[Criterion]) -> Columns {
    let mut c = vec!["loss".to_string()];
    c.extend(
        Criterion::ALL
            .iter()
            .filter(|h| heads.contains(h))
            .map(|h| head_loss_name(*h)),
    );
    c.push(ACCURACY.to_string());
    c.extend(
        Criterion::LIKERT
            .iter()
            .filter(|h| heads.contains(h))
            .map(|h| spearman_name(*h)),
    );
    c
}

/// Prepares the run folder (a folder, locked by the caller): moving an earlier run aside with
/// `force`, truncation of the logs of epochs after the checkpoint on resume. Returns the epoch to
/// resume from.
fn prepare_folder(config: &TrainConfig, opts: &TrainOptions) -> Result<Option<usize>> {
    let dir = &opts.out;
    if opts.resume {
        let saved = run_config(dir)?;
        // Only the epoch budget may change on resume: anything else would not continue this run.
        let mut a = saved.clone();
        a.optim.epochs = config.optim.epochs;
        if &a != config {
            return Err(folder_error(
                dir,
                "the config differs from the run's config.toml (only optim.epochs may change on resume)",
            ));
        }
        let choice = newest_intact_checkpoint(dir);
        let damaged = || {
            choice
                .damaged
                .iter()
                .map(|d| format!("epoch {}: {}", d.epoch, d.reason))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let Some(epoch) = choice.epoch else {
            let message = if choice.damaged.is_empty() {
                "no checkpoint to resume from".to_string()
            } else {
                format!("no intact checkpoint to resume from ({})", damaged())
            };
            return Err(folder_error(dir, message));
        };
        if !choice.damaged.is_empty() {
            // Kept, renamed, for inspection; the epochs after `epoch` are trained again.
            set_aside(dir, &choice.damaged)
                .map_err(|e| TrainError::io(&dir.join(CHECKPOINT_DIR), e))?;
            eprintln!(
                "note: resuming from epoch {epoch}, the newest intact checkpoint; passed over \
                 (files renamed to *.damaged): {}",
                damaged()
            );
        }
        // Logs of epochs after the checkpoint (an epoch cut short) would be counted twice.
        for split in ["train", "valid"] {
            if let Ok(entries) = std::fs::read_dir(dir.join(split)) {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().to_string();
                    if name
                        .strip_prefix("epoch-")
                        .and_then(|n| n.parse::<usize>().ok())
                        .is_some_and(|n| n > epoch)
                    {
                        std::fs::remove_dir_all(e.path())
                            .map_err(|err| TrainError::io(&e.path(), err))?;
                    }
                }
            }
        }
        let csv = dir.join(METRICS_FILE);
        if let Ok(text) = std::fs::read_to_string(&csv) {
            let mut lines = text.lines();
            let mut kept: Vec<&str> = lines.next().into_iter().collect();
            kept.extend(lines.filter(|l| {
                l.split(',')
                    .next()
                    .and_then(|e| e.parse::<usize>().ok())
                    .is_some_and(|e| e <= epoch)
            }));
            integrity::write_atomic(&csv, (kept.join("\n") + "\n").as_bytes())?;
        }
        return Ok(Some(epoch));
    }
    if dir.exists() {
        // The lock this process holds is not an earlier run's file.
        let non_empty = std::fs::read_dir(dir)
            .map_err(|e| TrainError::io(dir, e))?
            .flatten()
            .any(|e| !integrity::is_bookkeeping(&e.file_name().to_string_lossy()));
        if non_empty && !opts.force {
            return Err(folder_error(
                dir,
                "already exists and is not empty; pass --resume to continue it or --force to overwrite",
            ));
        }
        // The run being replaced is moved aside, not deleted, until this one is complete.
        let aside = integrity::atomic::temporary_beside(&dir.join(REPLACED), "");
        for entry in RUN_ENTRIES {
            let p = dir.join(entry);
            if p.exists() {
                std::fs::create_dir_all(&aside).map_err(|e| TrainError::io(&aside, e))?;
                std::fs::rename(&p, aside.join(entry)).map_err(|e| TrainError::io(&p, e))?;
            }
        }
        if aside.exists() {
            eprintln!(
                "note: the run this one replaces is kept in {} until this one completes",
                aside.display()
            );
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    Ok(None)
}

/// What the files of a run replaced with `force` are moved into, inside the run folder.
const REPLACED: &str = "replaced";

/// Removes the runs that this completed run replaced (see [`prepare_folder`]), including those
/// left by a replacing run that was killed and then resumed.
fn remove_replaced(dir: &Path) -> Result<()> {
    let prefix = format!(".{REPLACED}");
    for e in std::fs::read_dir(dir)
        .map_err(|e| TrainError::io(dir, e))?
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && integrity::is_bookkeeping(&name) {
            std::fs::remove_dir_all(e.path()).map_err(|err| TrainError::io(&e.path(), err))?;
        }
    }
    Ok(())
}

/// The training plans in the order that makes each step of `n` devices take `n` consecutive
/// plans, as one device accumulating `n` batches would: burn-train hands device `d` the `d`-th
/// contiguous slice of the dataset (`len / n` plans each, the last device the rest), so plan
/// `k * n + d` goes to position `d * len / n + k`. Plans past the last full step stay at the
/// end, in the last device's slice.
pub(crate) fn deal_to_devices<T>(plans: Vec<T>, n: usize) -> Vec<T> {
    if n <= 1 {
        return plans;
    }
    let per_device = plans.len() / n;
    let mut slots: Vec<Option<T>> = plans.into_iter().map(Some).collect();
    let mut dealt = Vec::with_capacity(slots.len());
    for d in 0..n {
        for k in 0..per_device {
            dealt.push(slots[k * n + d].take().expect("each plan is dealt once"));
        }
    }
    dealt.extend(slots.into_iter().flatten());
    dealt
}

/// Optimiser steps per epoch: burn-train steps once per `accumulation` rounds, each round taking
/// one plan per device, until the longest slice (the last device's) is done.
pub(crate) fn optimiser_steps(plans: usize, devices: usize, accumulation: usize) -> usize {
    let longest = plans - (devices - 1) * (plans / devices);
    longest.div_ceil(accumulation)
}

/// Trains a reward model on `ds` as `config` says, on `device` (autodiff on top of it), in the
/// run folder of `opts`, then evaluates it on the held-out test prompts. See the module docs for the folder and for resume.
pub fn train(
    ds: &Dataset,
    config: &TrainConfig,
    opts: &TrainOptions,
    device: &Device,
) -> Result<TrainReport> {
    let t0 = Instant::now();
    config.validate()?;
    // A cache that does not fit is refused before the run folder is touched.
    if let (Some(cache), Some(path), Some(kind)) = (
        &config.encoder.cache,
        &config.encoder.path,
        config.encoder.kind,
    ) {
        let spec = model::cut_spec(kind, path, config.encoder.freeze)?;
        crate::embed::check_cache(cache, &spec)?;
    }
    if opts.out.exists() && !opts.out.is_dir() {
        return Err(folder_error(&opts.out, "exists and is not a folder"));
    }
    // One writer per run folder, until this function returns.
    let lock = integrity::FolderLock::acquire(&opts.out, "rewardlab train")?;
    if let Some(note) = lock.reclaimed_note() {
        eprintln!("{note}");
    }
    // Half-written files of a writer that was killed (its lock is the one just reclaimed).
    integrity::remove_stale_temporary_files(&opts.out)?;
    integrity::remove_stale_temporary_files(&opts.out.join(CHECKPOINT_DIR))?;
    let resume_from = prepare_folder(config, opts)?;
    let dir = opts.out.clone();
    // The folder is about to change: a manifest would describe the run it was.
    integrity::Manifest::remove(&dir)?;

    let tokenizer = run_tokenizer(ds, config, &dir, resume_from.is_some())?;
    let mut store = prepare(ds, config, &tokenizer)?;
    if store.valid.is_empty() {
        return Err(TrainError::Dataset {
            name: ds.meta.name.clone(),
            message:
                "the validation split is empty; raise data.split.validation or use more prompts"
                    .into(),
        });
    }
    let scale = LikertScale::new(i32::from(ds.meta.scale.min), i32::from(ds.meta.scale.max));
    let mut model_config = config.model_config(tokenizer.vocab_size(), tokenizer.max_len(), scale);

    let device = device.clone();
    let ad = device.clone().autodiff();
    let (model, frozen) = init_model(config, &mut model_config, &device, &ad)?;
    if let Some(frozen) = &frozen {
        let outputs = match &config.encoder.cache {
            Some(cache) => crate::embed::load_store(cache, &store, frozen.spec())?,
            None => crate::embed::embed_store(
                ds,
                &store,
                frozen,
                config.encoder.embed_batch,
                opts.print,
            )?,
        };
        store.attach_frozen(outputs);
    }
    drop(frozen);
    let store = Arc::new(store);

    let batcher = GroupBatcher {
        store: store.clone(),
        ties: config.data.ties,
        weights: model_config.loss_weights.clone(),
        heads: model_config.heads.clone(),
        matching_every: config.data.matching_every,
        matching_negatives: config.data.matching_negatives,
        flips: None,
        grad_scale: 1.0,
    };
    let bp = config.optim.batch_prompts;
    let devices: Vec<Device> = std::iter::once(device.clone())
        .chain(opts.replicas.iter().cloned())
        .collect();
    let accumulation = config.optim.grad_accumulation;
    let train_plans = plan_batches(store.prompts(Split::Train), bp, Some(config.optim.seed));
    let n_train_batches = train_plans.len();
    let train_batcher = GroupBatcher {
        flips: config
            .data
            .hflip
            .then(|| Flips::new(config.optim.seed, n_train_batches, resume_from.unwrap_or(0))),
        grad_scale: 1.0 / (devices.len() * accumulation) as f64,
        ..batcher.clone()
    };
    let train_plans = deal_to_devices(train_plans, devices.len());
    let valid_plans = plan_batches(store.prompts(Split::Validation), bp, None);
    // batch_size 1: each dataset item is already a whole planned batch; no shuffle (see the `data` module).
    let dl_train = DataLoaderBuilder::new(train_batcher)
        .batch_size(1)
        .build(InMemDataset::new(train_plans));
    let dl_valid = DataLoaderBuilder::new(batcher.clone())
        .batch_size(1)
        .build(InMemDataset::new(valid_plans));

    let history = Arc::new(Mutex::new(Vec::new()));
    let heads = model_config.heads.clone();
    let renderer = EpochRenderer::new(
        columns(&heads),
        Some(dir.join(METRICS_FILE)),
        history.clone(),
        opts.print,
    );
    let training = learner::configure(
        SupervisedTraining::new(&dir, dl_train, dl_valid),
        &dir,
        &heads,
        config,
        &devices,
        resume_from,
        renderer,
    );
    let adam = learner::adam(config);
    let steps = optimiser_steps(n_train_batches, devices.len(), accumulation);
    let schedule = learner::lr_schedule(config, steps)?;
    let result = training.launch(Learner::new(Net { model }, adam.init(), schedule));
    if let Some(e) = &result.error {
        return Err(TrainError::Training(e.to_string()));
    }
    let model = result.model.model;
    drop(result.renderer);

    model.save(&model_config, &dir)?;
    let heldout = evaluate(&model, &batcher, bp, opts.ground_truth.as_ref(), &device)?;
    let csv_text = std::fs::read_to_string(dir.join(METRICS_FILE)).unwrap_or_default();
    let history = if csv_text.is_empty() {
        history.lock().map(|h| h.clone()).unwrap_or_default()
    } else {
        read_csv(&csv_text)
    };
    let wall_seconds = t0.elapsed().as_secs_f64();
    let summary = write_summary(
        &dir,
        ds,
        &store,
        &heldout,
        &history,
        resume_from,
        wall_seconds,
    )?;
    // Last: its presence says the run is complete, its entries what each file held.
    integrity::Manifest::of_folder(&dir, RUN_KIND)?.write(&dir)?;
    remove_replaced(&dir)?;
    drop(lock);
    Ok(TrainReport {
        run_dir: dir,
        model_config,
        history,
        heldout,
        summary,
        wall_seconds,
    })
}

/// The run's tokenizer: trained on the training prompts only (and saved, with the resolved
/// config, in the new run folder `dir`), or the saved one when the run is `resumed`.
fn run_tokenizer(
    ds: &Dataset,
    config: &TrainConfig,
    dir: &Path,
    resumed: bool,
) -> Result<PromptTokenizer> {
    let tok_path = dir.join(TOKENIZER_FILE);
    if resumed {
        return Ok(PromptTokenizer::load(&tok_path)?.with_max_len(config.tokenizer.max_len)?);
    }
    let ix = ds.index();
    let (_, train_prompts, _, _) = crate::data::split(ds, &ix, config)?;
    let tok = train_tokenizer(&ix, &train_prompts, config, &tok_path)?;
    let cfg_path = dir.join(CONFIG_FILE);
    integrity::write_atomic(&cfg_path, config.to_toml().as_bytes())?;
    Ok(tok)
}

/// The model on the autodiff device `ad`, initialised from the config's seed (under
/// [`INIT_LOCK`]) with its pretrained towers when the config names an encoder, whose frozen part
/// stays on `device`; fills in `model_config`'s pretrained spec (and BLIP's width).
fn init_model(
    config: &TrainConfig,
    model_config: &mut ModelConfig,
    device: &Device,
    ad: &Device,
) -> Result<(RewardModel, Option<FrozenEncoder>)> {
    let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(config.optim.seed);
    // Fresh weights are drawn on the CPU whatever the device, then moved: each backend has its own
    // random stream, and a seed should give the same model on every device. (On the CPU this is
    // the stream `device` was seeded with, so CPU runs draw exactly what they drew before.)
    let cpu = Device::flex();
    cpu.seed(config.optim.seed);
    let parts = match (config.encoder.kind, &config.encoder.path) {
        (Some(kind), Some(path)) => Some(load_pretrained(
            kind,
            path,
            config.encoder.freeze,
            model_config.d_model,
            device,
        )?),
        _ => None,
    };
    model_config.pretrained = parts.as_ref().map(|p| p.spec.clone());
    if model_config.is_blip()
        && let Some(spec) = &model_config.pretrained
    {
        // The heads read BLIP's [CLS] feature, as ImageReward's head does.
        model_config.d_model = spec.imagereward_config()?.med.hidden_size;
    }
    let model = model_config.try_init(&cpu)?;
    // Parameters are initialised lazily, on first use: force it now, under the lock and on the CPU.
    model.visit(&mut Materialize);
    // Initialised off autodiff, the weights are trainable once there: `train` applies that.
    let model = model.fork(ad).train();
    let (model, frozen) = match parts {
        // The frozen layers stay on the plain device (an embedding cache is computed there
        // too, so both give identical rows); the tops train on the autodiff one.
        Some(p) => {
            let mut model = model.with_towers(p.image.map(|t| t.fork(ad)), p.text.fork(ad));
            if let Some(head) = p.overall {
                model = model.with_overall_head(head.fork(ad));
            }
            (model, Some(p.frozen))
        }
        None => (model, None),
    };
    // The pretrained parts too.
    model.visit(&mut Materialize);
    Ok((model, frozen))
}

/// Writes `heldout_scores.csv` and then `summary.json` (the last file of a finished run), and
/// returns the summary.
fn write_summary(
    dir: &Path,
    ds: &Dataset,
    store: &Store,
    heldout: &Heldout,
    history: &[EpochRecord],
    resume_from: Option<usize>,
    wall_seconds: f64,
) -> Result<serde_json::Value> {
    let summary = serde_json::json!({
        "wall_seconds": wall_seconds,
        "dataset": ds.meta.name,
        "epochs": history.last().map_or(0, |r| r.epoch),
        "resumed_from": resume_from,
        "splits": {"train": store.train.len(), "validation": store.valid.len(), "test": store.test.len()},
        "heldout": heldout,
        "matrix": heldout.matrix,
    });
    write_heldout_scores(&dir.join(HELDOUT_SCORES_FILE), store, heldout)?;
    let summary_path = dir.join(SUMMARY_FILE);
    let text =
        serde_json::to_string_pretty(&summary).map_err(|e| TrainError::Training(e.to_string()))?;
    integrity::write_atomic(&summary_path, (text + "\n").as_bytes())?;
    Ok(summary)
}

/// Writes `generation_id,prompt_id,overall,alignment,fidelity,harmlessness` for every held-out
/// image (empty where the model has no such head), so that a run's scores can be studied image by
/// image (against `ground_truth.csv` on synthetic data, or with `rewardlab eval --scores`).
fn write_heldout_scores(path: &Path, store: &Store, heldout: &Heldout) -> Result<()> {
    use std::fmt::Write as _;
    let mut s = String::from("generation_id,prompt_id,overall,alignment,fidelity,harmlessness\n");
    for (g, scores) in &heldout.scores {
        let gen_ = &store.index.generations[*g];
        let prompt = &store.index.prompts[gen_.prompt].id;
        let _ = write!(s, "{},{}", gen_.id, prompt);
        for v in scores.into_array() {
            let _ = match v {
                Some(v) => write!(s, ",{v}"),
                None => write!(s, ","),
            };
        }
        s.push('\n');
    }
    Ok(integrity::write_atomic(path, s.as_bytes())?)
}

/// `metrics.csv`'s header for a model with these heads (for tools reading the file).
pub fn metrics_header(heads: &[Criterion]) -> String {
    csv_header(&columns(heads))
}
