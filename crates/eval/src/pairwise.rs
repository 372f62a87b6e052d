//! Pairwise preference accuracy under the field's protocols. Papers report "preference accuracy"
//! under different rules (ImageReward issues #68 and #73 ask how a number was computed); each
//! function here is one rule, named and defined exactly.
//!
//! Pairs are every pair of images of a prompt that one annotator ranked both of (C(k,2) per
//! annotator and prompt); a pair is *strict* when its two rank tiers differ and a *tie* when they
//! are equal. With several annotators a prompt contributes each annotator's pairs.
//!
//! | function | pairs | a model tie | a human tie |
//! |---|---|---|---|
//! | [`accuracy_pooled`] (ImageReward) | strict, pooled over prompts | wrong | dropped |
//! | [`accuracy_per_prompt`] (HPSv2 on ImageReward's test set) | strict, mean of per-prompt accuracies | wrong | dropped |
//! | [`tie_aware_accuracy`] (PickScore) | all | predicted when \|p0 - p1\| <= t | counted |
//! | [`acc_eq`] / [`tie_calibration`] (acc23, Deutsch et al. 2023) | all | predicted when \|s0 - s1\| <= eps | counted |

use crate::prompt::RankedPrompt;

/// Strict pairs a scorer orders right, and all strict pairs, of one prompt. Right means the
/// better image scores strictly higher: a predicted tie is wrong.
pub fn strict_counts(p: &RankedPrompt) -> (usize, usize) {
    let s = p.scores();
    p.pairs().filter(|q| !q.tie).fold((0, 0), |(right, n), q| {
        (right + usize::from(s[q.better] > s[q.worse]), n + 1)
    })
}

/// **Pairwise accuracy, ImageReward protocol**: the share of strict human pairs (ties dropped)
/// that the scores order the same way, pooled over all pairs of all prompts; a predicted tie
/// (equal scores) counts as wrong. `None` without strict pairs.
pub fn accuracy_pooled<'a>(prompts: impl IntoIterator<Item = &'a RankedPrompt>) -> Option<f64> {
    let (right, n) = prompts
        .into_iter()
        .map(strict_counts)
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    (n > 0).then(|| right as f64 / n as f64)
}

/// **Pairwise accuracy averaged per prompt** (as HPSv2 reports it on ImageReward's test set): the
/// accuracy of each prompt over its strict pairs (ImageReward's rule within the prompt), averaged
/// over the prompts that have strict pairs, each prompt weighing the same.
pub fn accuracy_per_prompt<'a>(prompts: impl IntoIterator<Item = &'a RankedPrompt>) -> Option<f64> {
    mean(prompts.into_iter().filter_map(|p| {
        let (right, n) = strict_counts(p);
        (n > 0).then(|| right as f64 / n as f64)
    }))
}

/// `|p0 - p1|` where `(p0, p1)` is the softmax over two scores; equal to `tanh(|a - b| / 2)`,
/// which is how it is computed (no overflow for large scores).
pub fn softmax_gap(a: f64, b: f64) -> f64 {
    ((a - b).abs() / 2.0).tanh()
}

/// One pair's credit under a tie rule, by whether the scorer predicts a tie.
#[derive(Clone, Copy, Debug)]
struct Credit {
    /// How far apart the scorer puts the two images (softmax gap or score difference).
    gap: f64,
    if_tie: f64,
    if_strict: f64,
}

/// PickScore's credits: 1 when prediction and label agree, 0.5 when exactly one is a tie.
fn pickscore_credits(p: &RankedPrompt) -> impl Iterator<Item = Credit> + '_ {
    let s = p.scores();
    p.pairs().map(move |q| {
        let (a, b) = (s[q.better], s[q.worse]);
        if q.tie {
            Credit {
                gap: softmax_gap(a, b),
                if_tie: 1.0,
                if_strict: 0.5,
            }
        } else {
            Credit {
                gap: softmax_gap(a, b),
                if_tie: 0.5,
                if_strict: if a > b { 1.0 } else { 0.0 },
            }
        }
    })
}

/// acc_eq's credits: 1 for a concordant pair or a tie in both, 0 otherwise.
fn acc_eq_credits(p: &RankedPrompt) -> impl Iterator<Item = Credit> + '_ {
    let s = p.scores();
    p.pairs().map(move |q| {
        let (a, b) = (s[q.better], s[q.worse]);
        Credit {
            gap: (a - b).abs(),
            if_tie: if q.tie { 1.0 } else { 0.0 },
            if_strict: if !q.tie && a > b { 1.0 } else { 0.0 },
        }
    })
}

fn score_at(credits: impl Iterator<Item = Credit>, threshold: f64) -> Option<f64> {
    let (sum, n) = credits.fold((0.0, 0usize), |(sum, n), c| {
        let credit = if c.gap <= threshold {
            c.if_tie
        } else {
            c.if_strict
        };
        (sum + credit, n + 1)
    });
    (n > 0).then(|| sum / n as f64)
}

/// A threshold chosen to maximise a tie-aware accuracy, and the accuracy it gives there.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Calibrated {
    pub threshold: f64,
    pub accuracy: f64,
}

/// The threshold in `{0} ∪ {every pair's gap}` that maximises the mean credit (the smallest one
/// when several do), by one sweep over the pairs sorted by gap.
fn calibrate(mut credits: Vec<Credit>) -> Option<Calibrated> {
    if credits.is_empty() {
        return None;
    }
    credits.sort_by(|a, b| a.gap.total_cmp(&b.gap));
    let n = credits.len() as f64;
    // At threshold t a pair is a predicted tie iff gap <= t. Start below every gap (all strict),
    // then move each group of equal gaps over to "tie".
    let mut total: f64 = credits.iter().map(|c| c.if_strict).sum();
    let mut best: Option<Calibrated> = None;
    let mut i = 0;
    // Threshold 0 with no zero gaps predicts no tie at all: the all-strict total.
    if credits[0].gap > 0.0 {
        best = Some(Calibrated {
            threshold: 0.0,
            accuracy: total / n,
        });
    }
    while i < credits.len() {
        let gap = credits[i].gap;
        while i < credits.len() && credits[i].gap == gap {
            total += credits[i].if_tie - credits[i].if_strict;
            i += 1;
        }
        if best.is_none_or(|b| total / n > b.accuracy) {
            best = Some(Calibrated {
                threshold: gap,
                accuracy: total / n,
            });
        }
    }
    best
}

/// **Tie-aware accuracy as PickScore computes it**: over all pairs (strict and ties), the scorer
/// predicts a tie when `|p0 - p1| <= t`, `p` being the softmax over the two scores, and otherwise
/// prefers the higher score; a pair earns 1 when prediction and human label agree (same
/// preferred image, or both a tie), 0.5 when exactly one of them is a tie, 0 otherwise. Mean
/// credit over all pairs, pooled. `t` should be chosen on validation data
/// ([`choose_tie_threshold`]).
pub fn tie_aware_accuracy<'a>(
    prompts: impl IntoIterator<Item = &'a RankedPrompt>,
    t: f64,
) -> Option<f64> {
    score_at(prompts.into_iter().flat_map(pickscore_credits), t)
}

/// PickScore's tie threshold: the `t` in `{0} ∪ {every pair's |p0 - p1|}` that maximises
/// [`tie_aware_accuracy`] on these prompts (the smallest such `t`). Run it on validation prompts
/// and apply the result to the test prompts.
pub fn choose_tie_threshold<'a>(
    prompts: impl IntoIterator<Item = &'a RankedPrompt>,
) -> Option<Calibrated> {
    calibrate(prompts.into_iter().flat_map(pickscore_credits).collect())
}

/// **acc_eq** (Deutsch, Foster and Freitag, "Ties Matter", EMNLP 2023): over all pairs,
/// `(C + T_hm) / (C + D + T_h + T_m + T_hm)` with `C` concordant and `D` discordant pairs, `T_h`
/// pairs tied by the humans only, `T_m` tied by the scorer only and `T_hm` tied by both; the
/// scorer ties a pair when `|s0 - s1| <= eps`.
pub fn acc_eq<'a>(prompts: impl IntoIterator<Item = &'a RankedPrompt>, eps: f64) -> Option<f64> {
    score_at(prompts.into_iter().flat_map(acc_eq_credits), eps)
}

/// **acc23: acc_eq with tie calibration** (Deutsch et al. 2023, the WMT23 metrics task's
/// pairwise accuracy): acc_eq at the `eps` in `{0} ∪ {every pair's |s0 - s1|}` that maximises
/// it on the evaluated pairs themselves (the smallest such `eps`), which puts scorers that never
/// tie on the same footing as humans who do.
pub fn tie_calibration<'a>(
    prompts: impl IntoIterator<Item = &'a RankedPrompt>,
) -> Option<Calibrated> {
    calibrate(prompts.into_iter().flat_map(acc_eq_credits).collect())
}

pub(crate) fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(scores: &[f64], ranks: &[u32]) -> RankedPrompt {
        RankedPrompt::single(
            scores.to_vec(),
            ranks.iter().map(|&r| Some(f64::from(r))).collect(),
        )
        .unwrap()
    }

    #[test]
    fn predicted_ties_are_wrong_and_human_ties_dropped() {
        // pairs: (0,1) strict right, (0,2) strict but a predicted tie, (1,2) human tie
        let p = prompt(&[2.0, 1.0, 2.0], &[1, 2, 2]);
        assert_eq!(strict_counts(&p), (1, 2));
        assert_eq!(accuracy_pooled([&p]), Some(0.5));
        let q = prompt(&[0.0, 1.0], &[1, 2]);
        assert_eq!(accuracy_pooled([&p, &q]), Some(1.0 / 3.0));
        assert_eq!(accuracy_per_prompt([&p, &q]), Some(0.25));
        assert_eq!(accuracy_pooled(std::iter::empty()), None);
    }

    #[test]
    fn calibration_prefers_the_smallest_best_threshold() {
        // a human tie the model separates by 0.1, strict pairs separated by 1 and more
        let p = prompt(&[0.0, 0.1, 1.0, 3.0], &[2, 2, 1, 1]);
        let c = tie_calibration([&p]).unwrap();
        assert!((c.threshold - 0.1).abs() < 1e-12, "{c:?}");
        assert_eq!(acc_eq([&p], c.threshold), Some(c.accuracy));
        // never below the accuracy of predicting no tie
        assert!(c.accuracy >= acc_eq([&p], 0.0).unwrap());
        let t = choose_tie_threshold([&p]).unwrap();
        assert_eq!(tie_aware_accuracy([&p], t.threshold), Some(t.accuracy));
    }
}
