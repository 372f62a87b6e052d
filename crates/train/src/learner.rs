//! How a run's burn-train learner is set up: its metrics (loss and pair accuracy, then each
//! head's loss and, for the Likert heads, Spearman), checkpointers and epochs, early stopping that
//! survives a resume, and the optimiser with its learning-rate schedule.

use burn::optim::AdamConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::lr_scheduler::composed::ComposedLrSchedulerConfig;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::prelude::Device;
use burn::train::metric::LossMetric;
use burn::train::metric::store::{Aggregate, Direction, EventStoreClient, Split as MetricSplit};
use burn::train::{
    EarlyStoppingStrategy, ExecutionStrategy, MetricEarlyStoppingStrategy, MultiDeviceOptim,
    StoppingCondition, SupervisedTraining, TrainingStrategy,
};
use model::Criterion;

use crate::checkpoint::VerifiedCheckpointer;
use crate::config::{LrSchedule, StopMetric, TrainConfig};
use crate::epoch_metrics::{HeadLossMetric, PairAccuracyMetric, SpearmanMetric};
use crate::error::{Result, TrainError};
use crate::progress::EpochRenderer;
use crate::step::Net;

/// `training` with the run's metrics for `heads`, checkpointers (in `run_dir`, see
/// [`crate::checkpoint`]), epochs, renderer and early
/// stopping, continuing from `resume_from` when set.
pub(crate) fn configure(
    training: SupervisedTraining<Net>,
    run_dir: &std::path::Path,
    heads: &[Criterion],
    config: &TrainConfig,
    devices: &[Device],
    resume_from: Option<usize>,
    renderer: EpochRenderer,
) -> SupervisedTraining<Net> {
    let mut training = training
        .with_application_logger(None)
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .metric_train_numeric(PairAccuracyMetric::default())
        .metric_valid_numeric(PairAccuracyMetric::default());
    for c in Criterion::ALL.into_iter().filter(|c| heads.contains(c)) {
        let a = c;
        training = training
            .metric_train_numeric(HeadLossMetric::new(a))
            .metric_valid_numeric(HeadLossMetric::new(a));
        if c.is_likert() {
            training = training
                .metric_train_numeric(SpearmanMetric::new(a))
                .metric_valid_numeric(SpearmanMetric::new(a));
        }
    }
    let mut training = training
        .with_custom_checkpointers(
            VerifiedCheckpointer::new(run_dir, "model"),
            VerifiedCheckpointer::new(run_dir, "optim"),
            VerifiedCheckpointer::new(run_dir, "scheduler"),
        )
        .num_epochs(config.optim.epochs)
        .renderer(Box::new(renderer));
    if config.optim.patience > 0 {
        let condition = StoppingCondition::NoImprovementSince {
            n_epochs: config.optim.patience,
        };
        let inner = match config.optim.stop_metric {
            StopMetric::Loss => MetricEarlyStoppingStrategy::new(
                &LossMetric::new(),
                Aggregate::Mean,
                Direction::Lowest,
                MetricSplit::Valid,
                condition,
            ),
            StopMetric::Accuracy => MetricEarlyStoppingStrategy::new(
                &PairAccuracyMetric::default(),
                Aggregate::Mean,
                Direction::Highest,
                MetricSplit::Valid,
                condition,
            ),
        };
        training = training.early_stopping(ResumableStopping {
            inner,
            replay_until: resume_from.unwrap_or(0),
        });
    }
    if let Some(epoch) = resume_from {
        training = training.checkpoint(epoch);
    }
    if config.optim.grad_accumulation > 1 {
        training = training.grads_accumulation(config.optim.grad_accumulation);
    }
    if devices.len() > 1 {
        // Threads, one per device, each forking the model and taking its own slice of the
        // plans; the gradients are summed on the first device, which steps the optimiser.
        // (burn's DDP strategy all-reduces through NCCL, so only between CUDA GPUs.)
        training = training.with_training_strategy(TrainingStrategy::from(
            ExecutionStrategy::multi(devices.to_vec(), MultiDeviceOptim::OptimMainDevice),
        ));
    }
    training
}

/// Adam, with weight decay when the config asks for it.
pub(crate) fn adam(config: &TrainConfig) -> AdamConfig {
    let mut adam = AdamConfig::new();
    if config.optim.weight_decay > 0.0 {
        adam = adam.with_weight_decay(Some(WeightDecayConfig::new(
            config.optim.weight_decay as f32,
        )));
    }
    adam
}

/// The learning-rate schedule over `n_train_batches` steps per epoch.
pub(crate) fn lr_schedule(
    config: &TrainConfig,
    n_train_batches: usize,
) -> Result<ModuleLrScheduler> {
    match config.optim.lr_schedule {
        LrSchedule::Constant => ComposedLrSchedulerConfig::new().constant(config.optim.lr),
        LrSchedule::Cosine => ComposedLrSchedulerConfig::new().cosine(
            CosineAnnealingLrSchedulerConfig::new(
                config.optim.lr,
                (config.optim.epochs * n_train_batches).max(1),
            )
            .with_min_lr(config.optim.min_lr),
        ),
    }
    .init()
    .map_err(TrainError::Training)
}

/// Early stopping that survives a resume: burn's [`MetricEarlyStoppingStrategy`] starts from
/// scratch in a new process, so before its first decision this replays the epochs already logged
/// in the run folder (burn's file logger reads them back), reaching the state an uninterrupted run
/// would have.
#[derive(Clone)]
struct ResumableStopping {
    inner: MetricEarlyStoppingStrategy,
    replay_until: usize,
}

impl EarlyStoppingStrategy for ResumableStopping {
    fn should_stop(&mut self, epoch: usize, store: &EventStoreClient) -> bool {
        for e in 1..=self.replay_until.min(epoch.saturating_sub(1)) {
            self.inner.should_stop(e, store);
        }
        self.replay_until = 0;
        self.inner.should_stop(epoch, store)
    }
}
