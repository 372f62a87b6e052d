//! The pair-head training workload: forward, backward and an Adam step under the Bradley-Terry loss.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::{log_sigmoid, relu};
use burn::tensor::{Device, Distribution, Tensor};

use super::readback_error;
use crate::BenchError;

/// Steps per timed sample of the pair head (one step takes about a millisecond, too short to
/// time alone), as in the Python script.
pub const PAIR_HEAD_STEPS_PER_SAMPLE: usize = 20;

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
    pub(super) head: Option<PairHead>,
    optim: ModuleOptimizer,
    /// Better features in rows `0..pairs`, worse in `pairs..2 · pairs`.
    pub(super) stacked: Tensor<2>,
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
