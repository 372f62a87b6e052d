//! The training and validation step that burn-train runs: a newtype around
//! [`model::RewardModel`] (the model crate knows nothing of burn-train), its batch loss, and the
//! step output that the metrics read.

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::ExecutionError;
use burn::train::metric::{Adaptor, ItemLazy, LossInput};
use burn::train::{InferenceStep, TrainOutput, TrainStep};
use model::{Criterion, PerCriterion, RewardModel, RewardOutput};

use crate::data::GroupBatch;
use crate::epoch_metrics::{HeadLossInput, PairAccuracyInput, SpearmanInput};

/// The reward model as burn-train's learner model.
#[derive(Module, Debug)]
pub struct Net {
    pub model: RewardModel,
}

impl Net {
    /// Scores and losses of a batch.
    pub fn forward_batch(&self, batch: GroupBatch) -> StepOutput {
        let out: RewardOutput =
            self.model
                .forward_inputs(batch.images.clone(), batch.text.clone(), batch.prompt_index);
        let mut losses = self
            .model
            .loss(&out, &batch.pairs, &batch.labels, &batch.weights);
        if let (Some((idx, other)), Some(own)) = (batch.mismatched, out.get(Criterion::Alignment)) {
            let neg =
                self.model
                    .forward_inputs(batch.images.select(idx.clone()), batch.text, other);
            if let Some(neg) = neg.get(Criterion::Alignment) {
                let m = model::matching_loss(own.clone().select(0, idx), neg.clone());
                losses.total = losses.total + m.mul_scalar(batch.weights.matching);
            }
        }
        // Only the metrics read these: detached so they do not keep the graph alive.
        let head_losses = losses.per_head.map(|_, l| l.detach());
        let scores = out.clone().map(|_, s| s.detach());
        StepOutput {
            loss: losses.total,
            head_losses,
            scores,
            strict: Arc::new(batch.strict),
            label_values: Arc::new(batch.label_values),
            n_images: batch.generations.len(),
            grad_scale: batch.grad_scale,
        }
    }
}

/// What one step hands to the metrics.
pub struct StepOutput {
    /// Weighted total loss `[1]` (the one that is back-propagated).
    pub loss: Tensor<1>,
    /// Each head's unweighted loss `[1]`.
    pub head_losses: PerCriterion<Tensor<1>>,
    /// Each head's scores `[B]`.
    pub scores: PerCriterion<Tensor<1>>,
    pub strict: Arc<Vec<(usize, usize)>>,
    pub label_values: Arc<PerCriterion<Vec<Option<f32>>>>,
    pub n_images: usize,
    /// What the loss is multiplied by before back-propagation (see
    /// [`crate::data::GroupBatcher::grad_scale`]); the loss the metrics read is unscaled.
    pub grad_scale: f64,
}

impl ItemLazy for StepOutput {
    fn sync(self) -> Result<Self, ExecutionError> {
        self.loss.device().flush()?;
        let strip = |_, t: Tensor<1>| t.without_autodiff();
        Ok(Self {
            loss: self.loss.without_autodiff(),
            head_losses: self.head_losses.map(strip),
            scores: self.scores.map(strip),
            strict: self.strict,
            label_values: self.label_values,
            n_images: self.n_images,
            grad_scale: self.grad_scale,
        })
    }
}

impl Adaptor<LossInput> for StepOutput {
    fn adapt(&self) -> LossInput {
        LossInput::new(self.loss.clone())
    }
}

impl Adaptor<HeadLossInput> for StepOutput {
    fn adapt(&self) -> HeadLossInput {
        HeadLossInput {
            losses: self.head_losses.clone(),
            count: self.n_images,
        }
    }
}

impl Adaptor<PairAccuracyInput> for StepOutput {
    fn adapt(&self) -> PairAccuracyInput {
        PairAccuracyInput {
            scores: self.scores[Criterion::Overall].clone(),
            strict: self.strict.clone(),
        }
    }
}

impl Adaptor<SpearmanInput> for StepOutput {
    fn adapt(&self) -> SpearmanInput {
        SpearmanInput {
            scores: self.scores.clone(),
            labels: self.label_values.clone(),
        }
    }
}

impl TrainStep for Net {
    type Input = GroupBatch;
    type Output = StepOutput;

    fn step(&self, batch: GroupBatch) -> TrainOutput<StepOutput> {
        let out = self.forward_batch(batch);
        // A scale of 1 back-propagates the loss itself, so single-step runs are unchanged.
        let grads = if out.grad_scale == 1.0 {
            out.loss.backward()
        } else {
            out.loss.clone().mul_scalar(out.grad_scale).backward()
        };
        TrainOutput::new(self, grads, out)
    }
}

impl InferenceStep for Net {
    type Input = GroupBatch;
    type Output = StepOutput;

    fn step(&self, batch: GroupBatch) -> StepOutput {
        self.forward_batch(batch)
    }
}
