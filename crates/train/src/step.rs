//! The training and validation step that burn-train runs: a newtype around
//! [`model::RewardModel`] (the model crate knows nothing of burn-train), its batch loss, and the
//! step output that the metrics read.

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::ExecutionError;
use burn::train::metric::{Adaptor, ItemLazy, LossInput};
use burn::train::{InferenceStep, TrainOutput, TrainStep};
use model::{Criterion, RewardModel, RewardOutput};

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
        let mut head_losses: [Option<Tensor<1>>; 4] = Default::default();
        let mut scores: [Option<Tensor<1>>; 4] = Default::default();
        for c in Criterion::ALL {
            let k = c.index();
            // Only the metrics read these: detached so they do not keep the graph alive.
            head_losses[k] = losses.per_head.get(c).map(|l| l.clone().detach());
            scores[k] = out.get(c).map(|s| s.clone().detach());
        }
        StepOutput {
            loss: losses.total,
            head_losses,
            scores,
            strict: Arc::new(batch.strict),
            label_values: Arc::new(batch.label_values),
            n_images: batch.generations.len(),
        }
    }
}

/// What one step hands to the metrics.
pub struct StepOutput {
    /// Weighted total loss `[1]` (the one that is back-propagated).
    pub loss: Tensor<1>,
    /// Each head's unweighted loss `[1]`, indexed by `Criterion::index`.
    pub head_losses: [Option<Tensor<1>>; 4],
    /// Each head's scores `[B]`.
    pub scores: [Option<Tensor<1>>; 4],
    pub strict: Arc<Vec<(usize, usize)>>,
    pub label_values: Arc<[Vec<Option<f32>>; 4]>,
    pub n_images: usize,
}

impl ItemLazy for StepOutput {
    fn sync(self) -> Result<Self, ExecutionError> {
        self.loss.device().flush()?;
        let strip = |t: Option<Tensor<1>>| t.map(|t| t.without_autodiff());
        let [a, b, c, d] = self.head_losses;
        let [e, f, g, h] = self.scores;
        Ok(Self {
            loss: self.loss.without_autodiff(),
            head_losses: [strip(a), strip(b), strip(c), strip(d)],
            scores: [strip(e), strip(f), strip(g), strip(h)],
            strict: self.strict,
            label_values: self.label_values,
            n_images: self.n_images,
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
            scores: self.scores[0].clone(),
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
        TrainOutput::new(self, out.loss.backward(), out)
    }
}

impl InferenceStep for Net {
    type Input = GroupBatch;
    type Output = StepOutput;

    fn step(&self, batch: GroupBatch) -> StepOutput {
        self.forward_batch(batch)
    }
}
