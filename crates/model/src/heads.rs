//! Scoring heads: one small MLP per criterion on top of the fused vector, each giving one scalar
//! per image. Likert heads trained with the ordinal loss also own their ordered cut-points, so a
//! head's score can be read back as a rating on the dataset's scale.

use burn::{
    module::Param,
    nn::{Gelu, Linear, LinearConfig},
    prelude::*,
};

use crate::{
    AlignmentReadout, Criterion, LikertLoss, LikertScale, ModelConfig, PerCriterion,
    fusion::Fused,
    losses::{self, RatingMode},
};

/// `Linear(d, hidden) -> GELU -> Linear(hidden, 1)`: a scalar score per row.
#[derive(Module, Debug)]
pub struct ScoreHead {
    fc1: Linear,
    act: Gelu,
    fc2: Linear,
}

impl ScoreHead {
    fn new(d: usize, hidden: usize, device: &Device) -> Self {
        Self {
            fc1: LinearConfig::new(d, hidden).init(device),
            act: Gelu::new(),
            fc2: LinearConfig::new(hidden, 1).init(device),
        }
    }

    /// `[B, d] -> [B]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<1> {
        self.fc2
            .forward(self.act.forward(self.fc1.forward(x)))
            .squeeze_dim::<1>(1)
    }

    /// Per-token scores averaged over real tokens: `[B, L, d]`, keep `[B, L]` -> `[B]`.
    pub fn forward_tokens(&self, x: Tensor<3>, keep: Tensor<2>) -> Tensor<1> {
        let per_token = self
            .fc2
            .forward(self.act.forward(self.fc1.forward(x)))
            .squeeze_dim::<2>(2);
        let sum = (per_token * keep.clone()).sum_dim(1);
        (sum / keep.sum_dim(1).clamp_min(1.0)).squeeze_dim::<1>(1)
    }
}

/// ImageReward's head on BLIP's 768-d feature: its affine layers, then the reward normalisation
/// `(mlp(x) - mean) / std`, so that before any training the overall score is ImageReward's
/// reward.
#[derive(Module, Debug)]
pub struct ImageRewardHead {
    pub mlp: pretrained::imagereward::RewardMlp,
    pub mean: f64,
    pub std: f64,
}

/// The overall head: the usual MLP, or ImageReward's head when the shared encoder is its BLIP.
// One per model; burn's `Module` derive does not see through a `Box`.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum OverallHead {
    Mlp(ScoreHead),
    ImageReward(ImageRewardHead),
}

impl OverallHead {
    /// `[B, d] -> [B]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<1> {
        match self {
            Self::Mlp(head) => head.forward(x),
            Self::ImageReward(head) => head
                .mlp
                .forward(x)
                .sub_scalar(head.mean)
                .div_scalar(head.std)
                .flatten::<1>(0, 1),
        }
    }
}

/// A Likert head: a [`ScoreHead`] plus, for the ordinal loss, its cut-point parameters.
#[derive(Module, Debug)]
pub struct LikertHead {
    score: ScoreHead,
    /// Unconstrained cut-point parameters `[K-1]`, mapped to ordered cut-points by
    /// [`losses::ordinal_cutpoints`]; `None` for the MSE loss.
    cut_raw: Option<Param<Tensor<1>>>,
    scale_min: i32,
    scale_max: i32,
}

impl LikertHead {
    fn new(config: &ModelConfig, device: &Device) -> Self {
        let scale = config.likert_scale;
        let cut_raw = match config.likert_loss {
            LikertLoss::Ordinal => Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(
                    losses::initial_cut_raw(scale.levels()),
                    [scale.levels() - 1],
                ),
                device,
            ))),
            LikertLoss::Mse => None,
        };
        Self {
            score: ScoreHead::new(config.d_model, config.head_hidden, device),
            cut_raw,
            scale_min: scale.min,
            scale_max: scale.max,
        }
    }

    /// The rating scale this head predicts on.
    pub fn scale(&self) -> LikertScale {
        LikertScale::new(self.scale_min, self.scale_max)
    }

    /// Which loss this head is built for.
    pub fn loss_kind(&self) -> LikertLoss {
        if self.cut_raw.is_some() {
            LikertLoss::Ordinal
        } else {
            LikertLoss::Mse
        }
    }

    /// The ordered cut-points `[K-1]` (ordinal heads only).
    pub fn cutpoints(&self) -> Option<Tensor<1>> {
        self.cut_raw
            .as_ref()
            .map(|raw| losses::ordinal_cutpoints(raw.val()))
    }

    /// The raw cut-point parameter tensor (tests inspect its gradient).
    #[cfg(test)]
    pub(crate) fn cut_raw_param(&self) -> Option<Tensor<1>> {
        self.cut_raw.as_ref().map(|p| p.val())
    }

    /// Per-item loss `[B]` of scores against ratings; labels where `mask` is 0 may hold anything
    /// (even NaN) and contribute exactly zero after [`losses::masked_mean`].
    pub fn item_loss(&self, scores: Tensor<1>, ratings: Tensor<1>, mask: Tensor<1>) -> Tensor<1> {
        let scale = self.scale();
        // Missing labels are replaced before any arithmetic so that a NaN placeholder cannot
        // leak through `0 * NaN`.
        let ratings = ratings.mask_fill(mask.lower_equal_elem(0.0), scale.min as f32);
        match self.cutpoints() {
            Some(cuts) => losses::ordinal_nll(scores, cuts, ratings, scale),
            None => losses::mse_likert(scores, ratings, scale),
        }
    }

    /// Turns scores `[B]` into ratings `[B]` on the head's scale.
    pub fn rating(&self, scores: Tensor<1>, mode: RatingMode) -> Tensor<1> {
        let scale = self.scale();
        match self.cutpoints() {
            Some(cuts) => {
                let probs = losses::ordinal_probs(scores, cuts);
                losses::rating_from_probs(probs, scale, mode)
            }
            None => losses::mse_rating(scores, scale),
        }
    }
}

/// All heads of a model: `overall` always, Likert heads as configured.
#[derive(Module, Debug)]
pub struct Heads {
    overall: OverallHead,
    alignment: Option<LikertHead>,
    fidelity: Option<LikertHead>,
    harmlessness: Option<LikertHead>,
    /// Whether the alignment head scores prompt tokens (see [`AlignmentReadout::Tokens`]).
    alignment_tokens: bool,
}

impl Heads {
    /// Builds the heads listed in `config.heads` (which should be validated).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let likert = |c: Criterion| config.has_head(c).then(|| LikertHead::new(config, device));
        Self {
            overall: match &config.pretrained {
                Some(spec) if spec.kind == crate::PretrainedKind::Blip => {
                    OverallHead::ImageReward(ImageRewardHead {
                        mlp: pretrained::imagereward::RewardMlp::init(config.d_model, device),
                        mean: pretrained::imagereward::REWARD_MEAN,
                        std: pretrained::imagereward::REWARD_STD,
                    })
                }
                _ => OverallHead::Mlp(ScoreHead::new(config.d_model, config.head_hidden, device)),
            },
            alignment: likert(Criterion::Alignment),
            fidelity: likert(Criterion::Fidelity),
            harmlessness: likert(Criterion::Harmlessness),
            alignment_tokens: config.alignment_readout == AlignmentReadout::Tokens,
        }
    }

    /// Replaces the overall head (with ImageReward's, for a BLIP backbone).
    pub fn set_overall(&mut self, head: OverallHead) {
        self.overall = head;
    }

    /// The Likert head for `criterion`, if the model has one.
    pub fn likert(&self, criterion: Criterion) -> Option<&LikertHead> {
        match criterion {
            Criterion::Overall => None,
            Criterion::Alignment => self.alignment.as_ref(),
            Criterion::Fidelity => self.fidelity.as_ref(),
            Criterion::Harmlessness => self.harmlessness.as_ref(),
        }
    }

    /// The criteria that have a head, in [`Criterion::ALL`] order.
    pub fn criteria(&self) -> Vec<Criterion> {
        Criterion::ALL
            .into_iter()
            .filter(|&c| c == Criterion::Overall || self.likert(c).is_some())
            .collect()
    }

    /// Scores `[B]` of every existing head.
    pub fn forward(&self, fused: Fused) -> PerCriterion<Tensor<1>> {
        let mut out = PerCriterion::default();
        out.insert(
            Criterion::Overall,
            self.overall.forward(fused.joint.clone()),
        );
        for c in Criterion::LIKERT {
            let Some(head) = self.likert(c) else { continue };
            let score = match &fused.tokens {
                Some((tokens, keep)) if c == Criterion::Alignment && self.alignment_tokens => {
                    head.score.forward_tokens(tokens.clone(), keep.clone())
                }
                _ => head.score.forward(fused.joint.clone()),
            };
            out.insert(c, score);
        }
        out
    }
}
