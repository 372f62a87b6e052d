//! burn-train metrics of the reward model, computed on train and validation every epoch:
//! each head's loss, the overall head's pairwise accuracy on strict pairs, and each Likert head's
//! Spearman correlation with the mean ratings.
//!
//! Accuracy is pooled over the epoch's pairs (not a mean of batch accuracies), and Spearman is a
//! rank statistic that cannot be averaged over batches, so it accumulates the epoch's scores and
//! labels and is computed once at the end of the epoch (its per-batch entries are placeholders).

use std::sync::Arc;

use annotations::{Criterion, PerCriterion};
use burn::prelude::*;
use burn::tensor::TensorReadError;
use burn::train::metric::state::{FormatOptions, NumericMetricState};
use burn::train::metric::{
    Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes, NumericEntry,
    SerializedEntry,
};

/// Name of a head's loss metric (also its `metrics.csv` column, without the split prefix).
pub fn head_loss_name(c: Criterion) -> String {
    format!("loss_{}", c.name())
}
/// Name of the pairwise accuracy metric.
pub const ACCURACY: &str = "accuracy";
/// Name of a Likert head's Spearman metric.
pub fn spearman_name(c: Criterion) -> String {
    format!("rho_{}", c.name())
}

/// Per-head losses of a batch and its image count.
pub struct HeadLossInput {
    pub losses: PerCriterion<Tensor<1>>,
    pub count: usize,
}

/// What a metric pooled over the epoch reads off one batch: a value and its weight, or nothing
/// (a head the model lacks, a batch without strict pairs).
pub trait BatchValue: Send + Sync + Clone {
    type Input;
    /// Whether a larger value is better (for burn-train's checkpoint and stopping choices).
    const HIGHER_IS_BETTER: bool;
    fn of(&self, item: &Self::Input) -> Result<Option<(f64, usize)>, TensorReadError>;
}

/// The weighted mean over the epoch of a [`BatchValue`], shown with 3 decimals.
#[derive(Clone)]
pub struct Pooled<V: BatchValue> {
    value: V,
    name: MetricName,
    state: NumericMetricState,
}

impl<V: BatchValue> Pooled<V> {
    fn with_name(value: V, name: String) -> Self {
        Self {
            value,
            name: Arc::new(name),
            state: NumericMetricState::default(),
        }
    }
}

impl<V: BatchValue> Metric for Pooled<V> {
    type Input = V::Input;
    fn name(&self) -> MetricName {
        self.name.clone()
    }
    fn update(
        &mut self,
        item: &V::Input,
        _m: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let Some((value, weight)) = self.value.of(item)? else {
            return Ok(SerializedEntry::not_available(None));
        };
        self.state.update(value, weight);
        Ok(self
            .state
            .compute_update(FormatOptions::new(self.name()).precision(3)))
    }
    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        Ok(self
            .state
            .compute_final(FormatOptions::new(self.name()).precision(3)))
    }
    fn clear(&mut self) {
        self.state.reset()
    }
    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: None,
            higher_is_better: V::HIGHER_IS_BETTER,
        }
        .into()
    }
}

impl<V: BatchValue> Numeric for Pooled<V> {
    fn value(&self) -> Option<NumericEntry> {
        Some(self.state.current_value())
    }
    fn running_value(&self) -> Option<NumericEntry> {
        Some(self.state.running_value())
    }
    fn final_value(&self) -> NumericEntry {
        self.state.final_value()
    }
}

/// One head's loss, weighted by the batch's images.
#[derive(Clone)]
pub struct HeadLoss(Criterion);

impl BatchValue for HeadLoss {
    type Input = HeadLossInput;
    const HIGHER_IS_BETTER: bool = false;
    fn of(&self, item: &HeadLossInput) -> Result<Option<(f64, usize)>, TensorReadError> {
        let Some(loss) = &item.losses[self.0] else {
            return Ok(None);
        };
        Ok(Some((loss.clone().try_into_scalar::<f64>()?, item.count)))
    }
}

/// Mean over the epoch of one head's loss (weighted by images per batch).
pub type HeadLossMetric = Pooled<HeadLoss>;

impl HeadLossMetric {
    pub fn new(c: Criterion) -> Self {
        Pooled::with_name(HeadLoss(c), head_loss_name(c))
    }
}

/// Overall-head scores of a batch and its strict pairs.
pub struct PairAccuracyInput {
    pub scores: Option<Tensor<1>>,
    pub strict: Arc<Vec<(usize, usize)>>,
}

/// The overall head's accuracy on a batch's strict pairs, weighted by their number.
#[derive(Clone)]
pub struct PairAccuracy;

impl BatchValue for PairAccuracy {
    type Input = PairAccuracyInput;
    const HIGHER_IS_BETTER: bool = true;
    fn of(&self, item: &PairAccuracyInput) -> Result<Option<(f64, usize)>, TensorReadError> {
        let (Some(scores), false) = (&item.scores, item.strict.is_empty()) else {
            return Ok(None);
        };
        let s: Vec<f64> = scores
            .clone()
            .try_into_vec_as::<f32>()?
            .into_iter()
            .map(f64::from)
            .collect();
        let acc = metrics::pairwise_accuracy(&s, &item.strict).unwrap_or(0.0);
        Ok(Some((acc, item.strict.len())))
    }
}

/// Pairwise accuracy of the overall head on strict pairs, ImageReward's protocol (a predicted
/// tie counts as wrong), pooled over the epoch.
pub type PairAccuracyMetric = Pooled<PairAccuracy>;

impl Default for PairAccuracyMetric {
    fn default() -> Self {
        Pooled::with_name(PairAccuracy, ACCURACY.into())
    }
}

/// Scores of every head and the batch's mean ratings.
pub struct SpearmanInput {
    pub scores: PerCriterion<Tensor<1>>,
    pub labels: Arc<PerCriterion<Vec<Option<f32>>>>,
}

/// Spearman correlation of a Likert head's scores with the mean ratings over the epoch's rated
/// images (NaN when fewer than two or constant).
#[derive(Clone)]
pub struct SpearmanMetric {
    criterion: Criterion,
    name: MetricName,
    scores: Vec<f64>,
    labels: Vec<f64>,
    last: f64,
}

impl SpearmanMetric {
    pub fn new(c: Criterion) -> Self {
        Self {
            criterion: c,
            name: Arc::new(spearman_name(c)),
            scores: Vec::new(),
            labels: Vec::new(),
            last: f64::NAN,
        }
    }
}

impl Metric for SpearmanMetric {
    type Input = SpearmanInput;
    fn name(&self) -> MetricName {
        self.name.clone()
    }
    fn update(
        &mut self,
        item: &SpearmanInput,
        _m: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let c = self.criterion;
        if let (Some(scores), Some(labels)) = (&item.scores[c], &item.labels[c]) {
            let s = scores.clone().try_into_vec_as::<f32>()?;
            for (x, y) in s.into_iter().zip(labels) {
                if let Some(y) = y {
                    self.scores.push(f64::from(x));
                    self.labels.push(f64::from(*y));
                }
            }
        }
        Ok(SerializedEntry::not_available(None))
    }
    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        self.last = metrics::spearman(&self.scores, &self.labels).unwrap_or(f64::NAN);
        Ok(SerializedEntry::new(
            format!("{} {:.3}", self.name, self.last),
            NumericEntry::Final(self.last).serialize(),
        ))
    }
    fn clear(&mut self) {
        self.scores.clear();
        self.labels.clear();
    }
    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: None,
            higher_is_better: true,
        }
        .into()
    }
}

impl Numeric for SpearmanMetric {
    fn value(&self) -> Option<NumericEntry> {
        None
    }
    fn running_value(&self) -> Option<NumericEntry> {
        None
    }
    fn final_value(&self) -> NumericEntry {
        NumericEntry::Final(self.last)
    }
}
