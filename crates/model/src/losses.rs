//! Training losses as plain tensor functions (they work on any device, with or without
//! autodiff), plus the small batch types that carry their targets.
//!
//! * Pairwise preference: Bradley-Terry, `-(t log σ(d) + (1-t) log σ(-d))` with
//!   `d = r_better - r_worse`; `t = 1` for a strict preference and `t = 0.5` for a tie
//!   (PickScore's half/half rule).
//! * Likert ratings: an ordinal cumulative-link model with learned ordered cut-points, or squared
//!   error on the rating rescaled to `[0, 1]`.
//!
//! Every batch loss is a masked mean `sum(loss * w) / max(sum(w), 1)`: a head without labels in a
//! batch, or a batch without pairs, contributes exactly zero (never NaN) and zero gradient.

use burn::{
    prelude::*,
    tensor::activation::{log_sigmoid, sigmoid, softplus},
};

use crate::{LikertScale, PerCriterion};

/// Smallest distance between consecutive ordinal cut-points; it keeps them strictly ordered in
/// `f32` and keeps `log(1 - exp(c_{k-1} - c_k))` finite.
pub const MIN_CUT_GAP: f32 = 1e-3;

/// Stand-in for the infinite outer cut-points `c_0 = -∞`, `c_K = +∞`: large enough that
/// `σ(±BIG - s)` is exactly 0 or 1 in f32, small enough to keep every term finite.
const OUTER_CUT: f32 = 1.0e4;

/// Bradley-Terry negative log-likelihood per pair `[P]`.
///
/// `target` is the probability that `better` is preferred: 1 for strict pairs, 0.5 for ties.
/// Its gradient w.r.t. `r_better` is `σ(d) - t`, so a tie at `d = 0` gives zero gradient.
pub fn bradley_terry(r_better: Tensor<1>, r_worse: Tensor<1>, target: Tensor<1>) -> Tensor<1> {
    let d = r_better - r_worse;
    let win = log_sigmoid(d.clone()) * target.clone();
    let lose = log_sigmoid(d.neg()) * target.neg().add_scalar(1.0);
    (win + lose).neg()
}

/// Image-text matching loss `[1]`, as in BLIP's ITM pretraining but ranked rather than
/// classified: the mean over images of `-log sigmoid(s(image, own prompt) - s(image, other
/// prompt))`, where `s` is the alignment head's score. An image drawn for another prompt misses
/// most of what this one asks for, so this teaches the shared encoder to read the prompt, which
/// the Likert ratings alone (one noisy rating per image) teach slowly.
pub fn matching_loss(own: Tensor<1>, other: Tensor<1>) -> Tensor<1> {
    let [n] = own.dims();
    let target = Tensor::<1>::ones([n], &own.device());
    bradley_terry(own, other, target).mean()
}

/// `sum(values * weights) / max(sum(weights), 1)` as a `[1]` tensor.
///
/// With all weights zero the result is exactly 0 and the gradient is zero, provided `values` is
/// finite (callers must not feed NaN placeholders; the Likert heads replace them first).
pub fn masked_mean(values: Tensor<1>, weights: Tensor<1>) -> Tensor<1> {
    let total = (values * weights.clone()).sum();
    total / weights.sum().clamp_min(1.0)
}

/// Maps unconstrained parameters `[K-1]` to ordered cut-points
/// `c_1 = raw_1`, `c_k = c_{k-1} + softplus(raw_k) + MIN_CUT_GAP`.
pub fn ordinal_cutpoints(raw: Tensor<1>) -> Tensor<1> {
    let [n] = raw.dims();
    if n <= 1 {
        return raw;
    }
    let first = raw.clone().slice(0..1);
    let gaps = softplus(raw.slice(1..n), 1.0).add_scalar(MIN_CUT_GAP);
    Tensor::cat(vec![first, gaps], 0).cumsum(0)
}

/// Initial raw cut-points for `levels` rating levels: cut-points one unit apart, centred on 0, so
/// an untrained head (score ≈ 0) spreads its probability over the middle ratings.
pub(crate) fn initial_cut_raw(levels: usize) -> Vec<f32> {
    let n = levels.saturating_sub(1).max(1);
    let first = -((n as f32) - 1.0) / 2.0;
    // softplus(x) + gap = 1  <=>  x = ln(e^(1 - gap) - 1)
    let step = ((1.0 - MIN_CUT_GAP).exp() - 1.0).ln();
    std::iter::once(first)
        .chain(std::iter::repeat_n(step, n - 1))
        .collect()
}

/// Zero-based level index `[N]` of each rating: `round(rating - min)` clamped to `0..K-1`.
pub fn rating_levels(ratings: Tensor<1>, scale: LikertScale) -> Tensor<1, Int> {
    let top = scale.levels().saturating_sub(1) as f32;
    ratings
        .sub_scalar(scale.min as f32)
        .round()
        .clamp(0.0, top)
        .int()
}

/// Rating probabilities `[N, K]` of the cumulative-link model: `P(y <= k) = σ(c_k - s)`.
pub fn ordinal_probs(scores: Tensor<1>, cuts: Tensor<1>) -> Tensor<2> {
    let [n] = scores.dims();
    let device = scores.device();
    let cum = sigmoid(cuts.unsqueeze_dim::<2>(0) - scores.unsqueeze_dim::<2>(1));
    let upper = Tensor::cat(vec![cum.clone(), Tensor::ones([n, 1], &device)], 1);
    let lower = Tensor::cat(vec![Tensor::zeros([n, 1], &device), cum], 1);
    upper - lower
}

/// Ordinal negative log-likelihood `-log P(y = rating)` per item `[N]`.
///
/// Uses `σ(a) - σ(b) = σ(a) σ(-b) (1 - e^(b-a))` so the log-probability is a sum of
/// log-sigmoids, stable even when the probability underflows in `f32`.
pub fn ordinal_nll(
    scores: Tensor<1>,
    cuts: Tensor<1>,
    ratings: Tensor<1>,
    scale: LikertScale,
) -> Tensor<1> {
    let device = cuts.device();
    let levels = rating_levels(ratings, scale);
    let upper = Tensor::cat(vec![cuts.clone(), Tensor::full([1], OUTER_CUT, &device)], 0);
    let lower = Tensor::cat(vec![Tensor::full([1], -OUTER_CUT, &device), cuts], 0);
    let a = upper.select(0, levels.clone());
    let b = lower.select(0, levels);
    let gap_term = (b.clone() - a.clone()).clamp_max(-1e-6).exp().neg().log1p();
    let log_p = log_sigmoid(a - scores.clone()) + log_sigmoid(scores - b) + gap_term;
    log_p.neg()
}

/// Squared error per item `[N]` between the score and the rating rescaled to `[0, 1]`.
pub fn mse_likert(scores: Tensor<1>, ratings: Tensor<1>, scale: LikertScale) -> Tensor<1> {
    let target = ratings
        .sub_scalar(scale.min as f32)
        .div_scalar(scale.span() as f32);
    (scores - target).powi_scalar(2)
}

/// Rating `[N]` predicted by an MSE head: `min + clamp(s, 0, 1) * (max - min)`.
pub fn mse_rating(scores: Tensor<1>, scale: LikertScale) -> Tensor<1> {
    scores
        .clamp(0.0, 1.0)
        .mul_scalar(scale.span() as f32)
        .add_scalar(scale.min as f32)
}

/// How an ordinal head's rating distribution becomes one rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RatingMode {
    /// Expected value `sum_k k P(y = k)`: continuous, best for correlation metrics.
    #[default]
    Expected,
    /// Most probable level: always a valid rating, best for accuracy metrics.
    Argmax,
}

/// Rating `[N]` on `scale` from level probabilities `[N, K]`.
pub fn rating_from_probs(probs: Tensor<2>, scale: LikertScale, mode: RatingMode) -> Tensor<1> {
    let [_, k] = probs.dims();
    let device = probs.device();
    match mode {
        RatingMode::Expected => {
            let levels = Tensor::<1, Int>::arange(0..k as i64, &device)
                .float()
                .add_scalar(scale.min as f32)
                .unsqueeze_dim::<2>(0);
            (probs * levels).sum_dim(1).squeeze_dim::<1>(1)
        }
        RatingMode::Argmax => probs
            .argmax(1)
            .float()
            .add_scalar(scale.min as f32)
            .squeeze_dim::<1>(1),
    }
}

/// One pairwise comparison between two images of the same batch (indices into the batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    /// Index of the preferred image (either one for a tie).
    pub better: usize,
    /// Index of the other image.
    pub worse: usize,
    /// Whether annotators judged the two equal (target 0.5 instead of 1).
    pub tie: bool,
}

impl Pair {
    /// `better` strictly preferred over `worse`.
    pub fn strict(better: usize, worse: usize) -> Self {
        Self {
            better,
            worse,
            tie: false,
        }
    }

    /// `a` and `b` judged equal.
    pub fn tie(a: usize, b: usize) -> Self {
        Self {
            better: a,
            worse: b,
            tie: true,
        }
    }
}

/// Pairwise targets of a batch, as tensors: index tensors into the batch's images, the
/// Bradley-Terry target (1 or 0.5) and a weight per pair.
///
/// A batch without pairs is represented by one dummy pair `(0, 0)` of weight 0, because
/// zero-length tensors are not supported everywhere; [`Pairs::new`] does this for you and the
/// masked mean turns it into an exact zero loss.
#[derive(Debug, Clone)]
pub struct Pairs {
    /// Preferred image index per pair `[P]`.
    pub better: Tensor<1, Int>,
    /// Other image index per pair `[P]`.
    pub worse: Tensor<1, Int>,
    /// Probability that `better` wins: 1 strict, 0.5 tie `[P]`.
    pub target: Tensor<1>,
    /// Weight of each pair in the mean `[P]` (0 for padding).
    pub weight: Tensor<1>,
}

impl Pairs {
    /// Tensors for `pairs` on `device`, each of weight 1 (an empty list gives one weight-0 pair).
    pub fn new(pairs: &[Pair], device: &Device) -> Self {
        if pairs.is_empty() {
            return Self::empty(device);
        }
        let n = pairs.len();
        let idx = |f: fn(&Pair) -> usize| -> Tensor<1, Int> {
            let v: Vec<i64> = pairs.iter().map(|p| f(p) as i64).collect();
            Tensor::from_data(TensorData::new(v, [n]), device)
        };
        let target: Vec<f32> = pairs
            .iter()
            .map(|p| if p.tie { 0.5 } else { 1.0 })
            .collect();
        Self {
            better: idx(|p| p.better),
            worse: idx(|p| p.worse),
            target: Tensor::from_data(TensorData::new(target, [n]), device),
            weight: Tensor::ones([n], device),
        }
    }

    /// No pairs: one dummy pair of weight 0.
    pub fn empty(device: &Device) -> Self {
        Self {
            better: Tensor::zeros([1], device),
            worse: Tensor::zeros([1], device),
            target: Tensor::ones([1], device),
            weight: Tensor::zeros([1], device),
        }
    }

    /// Masked-mean Bradley-Terry loss `[1]` of the per-image scores `[B]`.
    pub fn loss(&self, scores: Tensor<1>) -> Tensor<1> {
        let rb = scores.clone().select(0, self.better.clone());
        let rw = scores.select(0, self.worse.clone());
        masked_mean(
            bradley_terry(rb, rw, self.target.clone()),
            self.weight.clone(),
        )
    }
}

/// Likert labels of one criterion for a batch.
#[derive(Debug, Clone)]
pub struct LikertTarget {
    /// Rating per image `[B]` on the dataset's scale; anything (even NaN) where unlabelled.
    pub ratings: Tensor<1>,
    /// 1 where the image has a rating, 0 where it has none `[B]`.
    pub mask: Tensor<1>,
}

impl LikertTarget {
    /// Tensors for per-image ratings, `None` meaning unlabelled.
    pub fn new(ratings: &[Option<f32>], device: &Device) -> Self {
        let n = ratings.len();
        let r: Vec<f32> = ratings.iter().map(|r| r.unwrap_or(0.0)).collect();
        let m: Vec<f32> = ratings
            .iter()
            .map(|r| f32::from(u8::from(r.is_some())))
            .collect();
        Self {
            ratings: Tensor::from_data(TensorData::new(r, [n]), device),
            mask: Tensor::from_data(TensorData::new(m, [n]), device),
        }
    }
}

/// Likert labels of a batch, one optional [`LikertTarget`] per criterion (`overall` is ignored).
pub type LikertLabels = PerCriterion<LikertTarget>;

/// Losses of one batch.
#[derive(Debug, Clone)]
pub struct LossBreakdown {
    /// Weighted sum of the per-head losses `[1]`: call `backward` on this.
    pub total: Tensor<1>,
    /// Unweighted loss `[1]` of every head that was given targets (`overall`: pairs).
    pub per_head: PerCriterion<Tensor<1>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Device {
        Device::flex()
    }

    fn vec1(t: Tensor<1>) -> Vec<f32> {
        t.into_data().try_into_vec_as::<f32>().unwrap()
    }

    fn sig(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    #[test]
    fn bradley_terry_value_and_gradient_match_closed_form() {
        let ad = dev().autodiff();
        let rb = Tensor::<1>::from_floats([2.0, -1.0, 0.5, 3.0], &ad).require_grad();
        let rw = Tensor::<1>::from_floats([1.0, 1.0, 0.5, -1.0], &ad).require_grad();
        let t = Tensor::<1>::from_floats([1.0, 1.0, 0.5, 0.5], &ad);
        let per_pair = bradley_terry(rb.clone(), rw.clone(), t);
        let values = vec1(per_pair.clone().detach());
        let grads = per_pair.sum().backward();
        let gb = vec1(rb.grad(&grads).unwrap());
        let gw = vec1(rw.grad(&grads).unwrap());
        let d = [1.0f64, -2.0, 0.0, 4.0];
        let tt = [1.0f64, 1.0, 0.5, 0.5];
        for k in 0..4 {
            let expect = -(tt[k] * sig(d[k]).ln() + (1.0 - tt[k]) * sig(-d[k]).ln());
            assert!(
                (values[k] as f64 - expect).abs() < 1e-5,
                "loss {k}: {} vs {expect}",
                values[k]
            );
            let g = sig(d[k]) - tt[k];
            assert!(
                (gb[k] as f64 - g).abs() < 1e-5,
                "grad {k}: {} vs {g}",
                gb[k]
            );
            assert!((gw[k] as f64 + g).abs() < 1e-5);
        }
    }

    #[test]
    fn tie_is_symmetric_with_zero_gradient_at_equal_scores() {
        let ad = dev().autodiff();
        let half = Tensor::<1>::from_floats([0.5, 0.5], &ad);
        let a = vec1(bradley_terry(
            Tensor::from_floats([1.3, -0.2], &ad),
            Tensor::from_floats([0.0, 0.0], &ad),
            half.clone(),
        ));
        let b = vec1(bradley_terry(
            Tensor::from_floats([0.0, 0.0], &ad),
            Tensor::from_floats([1.3, -0.2], &ad),
            half.clone(),
        ));
        for k in 0..2 {
            assert!((a[k] - b[k]).abs() < 1e-6);
        }
        let r = Tensor::<1>::from_floats([0.7, 0.7], &ad).require_grad();
        let s = Tensor::<1>::from_floats([0.7, 0.7], &ad).require_grad();
        let loss = bradley_terry(r.clone(), s.clone(), half).sum();
        let v = loss.clone().detach().into_scalar::<f32>();
        assert!((v - 2.0 * std::f32::consts::LN_2).abs() < 1e-6);
        let grads = loss.backward();
        assert!(vec1(r.grad(&grads).unwrap()).iter().all(|g| g.abs() < 1e-7));
        assert!(vec1(s.grad(&grads).unwrap()).iter().all(|g| g.abs() < 1e-7));
    }

    #[test]
    fn empty_pairs_give_zero_loss_and_finite_gradient() {
        let ad = dev().autodiff();
        let scores = Tensor::<1>::from_floats([0.3, -2.0, 5.0], &ad).require_grad();
        let loss = Pairs::new(&[], &ad).loss(scores.clone());
        assert_eq!(loss.clone().detach().into_scalar::<f32>(), 0.0);
        let grads = loss.backward();
        let g = scores.grad(&grads).map(vec1).unwrap_or_default();
        assert!(g.iter().all(|x| *x == 0.0));

        let pairs = Pairs::new(&[Pair::strict(2, 0), Pair::tie(1, 2)], &ad);
        let v = pairs.loss(scores.detach()).into_scalar::<f32>() as f64;
        let expect = (-(sig(4.7).ln()) - 0.5 * (sig(-7.0).ln() + sig(7.0).ln())) / 2.0;
        assert!((v - expect).abs() < 1e-5, "{v} vs {expect}");
    }

    #[test]
    fn cutpoints_stay_ordered() {
        let raw = Tensor::<1>::from_floats([3.0, -40.0, 0.0, 5.0, -3.0, -100.0], &dev());
        let c = vec1(ordinal_cutpoints(raw));
        assert_eq!(c[0], 3.0);
        for w in c.windows(2) {
            assert!(w[1] > w[0], "cut-points not ordered: {c:?}");
        }
        let init = initial_cut_raw(7);
        let c = vec1(ordinal_cutpoints(Tensor::from_floats(
            init.as_slice(),
            &dev(),
        )));
        let expect = [-2.5f32, -1.5, -0.5, 0.5, 1.5, 2.5];
        for (a, b) in c.iter().zip(expect) {
            assert!((a - b).abs() < 1e-4, "{c:?}");
        }
    }

    #[test]
    fn ordinal_probabilities_sum_to_one_and_match_nll() {
        let device = dev();
        let scale = LikertScale::new(1, 5);
        let cuts = ordinal_cutpoints(Tensor::from_floats([-1.0, 0.2, -1.0, 0.5], &device));
        let scores = Tensor::<1>::from_floats([-3.0, 0.0, 0.4, 2.0, 9.0], &device);
        let probs = ordinal_probs(scores.clone(), cuts.clone());
        assert_eq!(probs.dims(), [5, 5]);
        let p = probs.clone().into_data().try_into_vec_as::<f32>().unwrap();
        assert!(p.iter().all(|x| *x >= 0.0));
        for row in p.chunks(5) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
        }
        // nll at every label equals -ln of the matching probability
        for label in 1..=5 {
            let ratings = Tensor::<1>::full([5], label as f32, &device);
            let nll = vec1(ordinal_nll(scores.clone(), cuts.clone(), ratings, scale));
            for (i, v) in nll.iter().enumerate() {
                let pr = p[i * 5 + label - 1].max(1e-30);
                if pr > 1e-6 {
                    assert!(
                        (v + pr.ln()).abs() < 1e-3,
                        "label {label} item {i}: {v} vs {}",
                        -pr.ln()
                    );
                } else {
                    assert!(v.is_finite() && *v > 10.0);
                }
            }
        }
    }

    #[test]
    fn ordinal_nll_hand_computed() {
        // K = 3 on a 1..3 scale, cut-points (-1, 1), score 0.5.
        let device = dev();
        let scale = LikertScale::new(1, 3);
        let cuts = Tensor::<1>::from_floats([-1.0, 1.0], &device);
        let s = Tensor::<1>::from_floats([0.5, 0.5, 0.5], &device);
        let r = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device);
        let nll = vec1(ordinal_nll(s, cuts, r, scale));
        let expect = [
            -sig(-1.5).ln(),
            -(sig(0.5) - sig(-1.5)).ln(),
            -(1.0 - sig(0.5)).ln(),
        ];
        for k in 0..3 {
            assert!(
                (nll[k] as f64 - expect[k]).abs() < 1e-5,
                "{nll:?} vs {expect:?}"
            );
        }
        // fractional and out-of-scale ratings round / clamp to a level
        let lv = rating_levels(Tensor::from_floats([0.0, 1.4, 2.6, 9.0], &device), scale);
        let lv: Vec<i64> = lv.into_data().try_into_vec_as::<i64>().unwrap();
        assert_eq!(lv, vec![0, 0, 2, 2]);
    }

    #[test]
    fn ordinal_expected_and_argmax_ratings() {
        let device = dev();
        let scale = LikertScale::new(1, 7);
        let cuts = ordinal_cutpoints(Tensor::from_floats(initial_cut_raw(7).as_slice(), &device));
        let scores = Tensor::<1>::from_floats([-50.0, 0.0, 50.0], &device);
        let probs = ordinal_probs(scores, cuts);
        let e = vec1(rating_from_probs(
            probs.clone(),
            scale,
            RatingMode::Expected,
        ));
        let a = vec1(rating_from_probs(probs, scale, RatingMode::Argmax));
        assert!(
            (e[0] - 1.0).abs() < 1e-3 && (e[1] - 4.0).abs() < 1e-3 && (e[2] - 7.0).abs() < 1e-3,
            "{e:?}"
        );
        assert_eq!(a, vec![1.0, 4.0, 7.0]);
    }

    #[test]
    fn mse_rating_stays_in_scale_and_loss_is_normalised() {
        let device = dev();
        let scale = LikertScale::new(1, 5);
        let s = Tensor::<1>::from_floats([-3.0, 0.0, 0.5, 1.0, 7.0], &device);
        let r = vec1(mse_rating(s.clone(), scale));
        assert_eq!(r, vec![1.0, 1.0, 3.0, 5.0, 5.0]);
        let l = vec1(mse_likert(
            s,
            Tensor::from_floats([1.0, 1.0, 3.0, 5.0, 2.0], &device),
            scale,
        ));
        let expect = [9.0f32, 0.0, 0.0, 0.0, 6.75 * 6.75];
        for k in 0..5 {
            assert!((l[k] - expect[k]).abs() < 1e-4, "{l:?}");
        }
    }

    #[test]
    fn masked_mean_ignores_masked_values() {
        let device = dev();
        let v = Tensor::<1>::from_floats([1.0, 100.0, 3.0], &device);
        let m = Tensor::<1>::from_floats([1.0, 0.0, 1.0], &device);
        assert_eq!(masked_mean(v.clone(), m).into_scalar::<f32>(), 2.0);
        assert_eq!(
            masked_mean(v, Tensor::zeros([3], &device)).into_scalar::<f32>(),
            0.0
        );
    }

    #[test]
    fn matching_loss_prefers_the_own_prompt() {
        let device = dev();
        let own = Tensor::<1>::from_floats([2.0, 0.0], &device);
        let other = Tensor::<1>::from_floats([0.0, 0.0], &device);
        let l = vec1(matching_loss(own.clone(), other.clone()))[0];
        // mean of -log σ(2) and -log σ(0)
        let want = (-(1.0f32 / (1.0 + (-2.0f32).exp())).ln() + 2f32.ln()) / 2.0;
        assert!((l - want).abs() < 1e-5, "{l} vs {want}");
        let worse = vec1(matching_loss(other, own))[0];
        assert!(worse > l);
    }
}
