//! Held-out evaluation of a trained model on the test prompts, next to the oracle ceilings.
//!
//! * overall head: pairwise accuracy on the strict annotator pairs (ImageReward protocol: pooled
//!   over pairs, a predicted tie counts as wrong);
//! * each Likert head: Spearman with the mean rating of each image and, when the ground truth of
//!   a synthetic world is available, with the image's true latent;
//! * the heads x latents Spearman matrix (does each head track its own latent, not another's?);
//! * per kind of alignment error the world's generators make (wrong shape, wrong count, ...): how
//!   often the alignment and overall heads score an image with that error below an error-free
//!   image of the same prompt. One Spearman figure cannot say which requirements of a prompt the
//!   model checks; this table can;
//! * oracles on the same prompts: the pairwise accuracy of the true overall latent on the same
//!   pairs, and Spearman(true latent, mean rating) per criterion: what a model that knew the truth
//!   exactly would reach against these noisy annotators.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::prelude::*;
use model::{Criterion, PerCriterion, RatingMode, RewardModel};
use serde::Serialize;

use crate::data::{GroupBatcher, plan_batches};
use crate::error::{Result, TrainError};

/// Latents of the ground truth, in matrix column order.
pub const LATENTS: [&str; 5] = [
    "overall",
    "alignment",
    "fidelity",
    "harmlessness",
    "aesthetics",
];

/// The ground truth of a synthetic world, by generation id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroundTruthTable {
    /// True latents: `[overall, alignment, fidelity, harmlessness, aesthetics]` ([`LATENTS`]).
    pub latents: HashMap<String, [f64; 5]>,
    /// The alignment errors the generator made (empty: the image satisfies its prompt).
    pub errors: HashMap<String, Vec<synth::AlignmentError>>,
}

impl GroundTruthTable {
    /// From a synthetic world's ground truth.
    pub fn from_truth(truth: &[synth::GroundTruth]) -> Self {
        Self {
            latents: truth
                .iter()
                .map(|t| {
                    (
                        t.generation_id.clone(),
                        [
                            t.overall,
                            t.alignment,
                            t.fidelity,
                            t.harmlessness,
                            t.aesthetics,
                        ],
                    )
                })
                .collect(),
            errors: truth
                .iter()
                .map(|t| (t.generation_id.clone(), t.errors.clone()))
                .collect(),
        }
    }

    /// Reads `dir/ground_truth.csv` if there is one (synthetic worlds); `Ok(None)` otherwise.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        integrity::verify_files(dir, &[synth::GROUND_TRUTH_FILE])?;
        let truth =
            synth::read_dataset_truth(dir).map_err(|e| TrainError::GroundTruth(e.to_string()))?;
        Ok(truth.map(|t| Self::from_truth(&t)))
    }
}

/// Held-out figures of the overall head.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OverallFigures {
    pub pairwise_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spearman_latent: Option<f64>,
    /// Pairwise accuracy of the true overall latent on the same pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oracle: Option<f64>,
}

/// Held-out figures of one Likert head.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LikertFigures {
    /// Spearman of the head's score with the mean rating.
    pub spearman_rating: Option<f64>,
    /// Spearman of the head's score with the true latent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spearman_latent: Option<f64>,
    /// Spearman of the head's predicted rating (its most probable level on the dataset's scale)
    /// with the true latent. Unlike the continuous score, the rating ties images the head
    /// judges alike, as the mean human rating of the oracle does; this matters for a latent that
    /// is itself mostly tied (harmlessness is 1 for every image without the motif, and no
    /// continuous score, however well it ranks the harmful images, can exceed about 0.47
    /// against it when it orders the harmless ones arbitrarily).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating_spearman_latent: Option<f64>,
    /// Spearman of the true latent with the mean rating.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oracle: Option<f64>,
}

/// How well the heads see one kind of alignment error: over every pair of a held-out image with
/// that error (possibly among others) and an error-free image of the same prompt, the share in
/// which the error-free image scores higher, ties counting half (an AUC; 0.5 = blind, 1 = always
/// right).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ErrorFigures {
    /// The error's name in `ground_truth.csv` (`wrong_shape`, ...).
    pub error: String,
    /// Prompts with both an image with the error and an error-free image.
    pub prompts: usize,
    /// (error-free, with the error) image pairs within those prompts.
    pub pairs: usize,
    /// AUC of the alignment head's score.
    pub alignment: Option<f64>,
    /// AUC of the overall head's score.
    pub overall: Option<f64>,
    /// AUC of the image's mean alignment rating: how much the annotators penalise the error, the
    /// ceiling a head trained on their ratings can be expected to approach.
    pub rating: Option<f64>,
}

fn errors_by_name<S: serde::Serializer>(
    figures: &[ErrorFigures],
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(figures.len()))?;
    for f in figures {
        map.serialize_entry(&f.error, f)?;
    }
    map.end()
}

/// Per alignment error kind (in [`synth::AlignmentError`] order, kinds absent from the held-out
/// images left out), the [`ErrorFigures`] of the scores `head` (by `annotations` criterion index)
/// and of the mean alignment ratings. `prompt_of[i]` and `errors[i]` describe image `i`;
/// `ratings[i]` is its mean alignment rating, if any.
pub fn error_figures(
    prompt_of: &[usize],
    errors: &[&[synth::AlignmentError]],
    head: &dyn Fn(Criterion) -> Option<Vec<f64>>,
    ratings: &[Option<f64>],
) -> Vec<ErrorFigures> {
    let mut by_prompt: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &p) in prompt_of.iter().enumerate() {
        by_prompt.entry(p).or_default().push(i);
    }
    let mut kinds: Vec<synth::AlignmentError> =
        errors.iter().flat_map(|e| e.iter().copied()).collect();
    kinds.sort();
    kinds.dedup();
    let alignment = head(Criterion::Alignment);
    let overall = head(Criterion::Overall);
    kinds
        .into_iter()
        .map(|kind| {
            let mut pairs = Vec::new();
            let mut prompts = 0;
            for images in by_prompt.values() {
                let clean: Vec<usize> = images
                    .iter()
                    .copied()
                    .filter(|&i| errors[i].is_empty())
                    .collect();
                let flawed: Vec<usize> = images
                    .iter()
                    .copied()
                    .filter(|&i| errors[i].contains(&kind))
                    .collect();
                if clean.is_empty() || flawed.is_empty() {
                    continue;
                }
                prompts += 1;
                for &c in &clean {
                    pairs.extend(flawed.iter().map(|&f| (c, f)));
                }
            }
            // Ratings only where both images of a pair have one.
            let rated: Vec<(usize, usize)> = pairs
                .iter()
                .copied()
                .filter(|&(c, f)| ratings[c].is_some() && ratings[f].is_some())
                .collect();
            let r: Vec<f64> = ratings.iter().map(|r| r.unwrap_or(f64::NAN)).collect();
            ErrorFigures {
                error: kind.name().to_string(),
                prompts,
                pairs: pairs.len(),
                alignment: alignment
                    .as_ref()
                    .and_then(|s| metrics::pair_auc(s, &pairs)),
                overall: overall.as_ref().and_then(|s| metrics::pair_auc(s, &pairs)),
                rating: metrics::pair_auc(&r, &rated),
            }
        })
        .collect()
}

/// Everything the held-out evaluation reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Heldout {
    pub prompts: usize,
    pub images: usize,
    pub strict_pairs: usize,
    pub overall: OverallFigures,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alignment: Option<LikertFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fidelity: Option<LikertFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub harmlessness: Option<LikertFigures>,
    /// head -> latent -> Spearman (only with ground truth).
    #[serde(skip)]
    pub matrix: Option<BTreeMap<String, BTreeMap<String, Option<f64>>>>,
    /// Per alignment error kind, how well the heads see it (only with ground truth). In
    /// `summary.json` an object keyed by the error's name, so that scripts can read
    /// `heldout.alignment_errors.wrong_shape.alignment`.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "errors_by_name"
    )]
    pub alignment_errors: Vec<ErrorFigures>,
    /// Every test image's head scores (by generation index), for comparisons between runs.
    #[serde(skip)]
    pub scores: Vec<(usize, PerCriterion<f64>)>,
}

impl Heldout {
    /// Figures of a Likert head, by criterion.
    pub fn likert(&self, c: Criterion) -> Option<&LikertFigures> {
        match c {
            Criterion::Alignment => self.alignment.as_ref(),
            Criterion::Fidelity => self.fidelity.as_ref(),
            Criterion::Harmlessness => self.harmlessness.as_ref(),
            Criterion::Overall => None,
        }
    }
}

/// Scores every image of `prompts` with `model` (batches of whole prompts, no gradients).
pub fn score_prompts(
    model: &RewardModel,
    batcher: &GroupBatcher,
    prompts: &[usize],
    batch_prompts: usize,
    device: &Device,
) -> Result<Vec<(usize, PerCriterion<f64>)>> {
    let mut out = Vec::new();
    for plan in plan_batches(prompts, batch_prompts, None) {
        let b = batcher.build(&plan.prompts, device);
        let res = model.forward_inputs(b.images, b.text, b.prompt_index);
        let mut per_head: PerCriterion<Vec<f32>> = PerCriterion::default();
        for c in Criterion::ALL {
            if let Some(s) = res.get(c) {
                let v = s
                    .clone()
                    .try_into_vec_as::<f32>()
                    .map_err(|e| TrainError::Training(e.to_string()))?;
                per_head[c] = Some(v);
            }
        }
        for (i, &g) in b.generations.iter().enumerate() {
            out.push((g, per_head.as_ref().map(|_, v| f64::from(v[i]))));
        }
    }
    Ok(out)
}

/// Held-out evaluation of `model` on the test prompts of `store`.
pub fn evaluate(
    model: &RewardModel,
    batcher: &GroupBatcher,
    batch_prompts: usize,
    truth: Option<&GroundTruthTable>,
    device: &Device,
) -> Result<Heldout> {
    let st = &batcher.store;
    let scores = score_prompts(model, batcher, &st.test, batch_prompts, device)?;
    let pos: HashMap<usize, usize> = scores
        .iter()
        .enumerate()
        .map(|(i, (g, _))| (*g, i))
        .collect();
    let mut strict = Vec::new();
    for &p in &st.test {
        let gens = &st.index.prompts[p].generations;
        for lp in st.pairs[p].iter().filter(|lp| !lp.tie) {
            strict.push((pos[&gens[lp.better]], pos[&gens[lp.worse]]));
        }
    }
    let head = |c: Criterion| -> Option<Vec<f64>> { scores.iter().map(|(_, s)| s[c]).collect() };
    // True latents of every test image, when the ground truth covers them all.
    let latents: Option<Vec<[f64; 5]>> = truth.and_then(|t| {
        scores
            .iter()
            .map(|(g, _)| t.latents.get(&st.index.generations[*g].id).copied())
            .collect()
    });
    let errors: Option<Vec<&[synth::AlignmentError]>> = truth.and_then(|t| {
        scores
            .iter()
            .map(|(g, _)| {
                t.errors
                    .get(&st.index.generations[*g].id)
                    .map(Vec::as_slice)
            })
            .collect()
    });

    let mut h = Heldout {
        prompts: st.test.len(),
        images: scores.len(),
        strict_pairs: strict.len(),
        ..Default::default()
    };
    if let Some(overall) = head(Criterion::Overall) {
        h.overall.pairwise_accuracy = metrics::pairwise_accuracy(&overall, &strict);
        if let Some(lat) = &latents {
            let truth_overall: Vec<f64> = lat.iter().map(|l| l[0]).collect();
            h.overall.spearman_latent = metrics::spearman(&overall, &truth_overall);
            h.overall.oracle = metrics::pairwise_accuracy(&truth_overall, &strict);
        }
    }
    for c in Criterion::LIKERT {
        let k = c.index();
        let Some(s) = head(c) else { continue };
        // Images with a mean rating for this criterion.
        let rated: Vec<usize> = (0..scores.len())
            .filter(|&i| st.labels[scores[i].0][c].is_some())
            .collect();
        let ratings: Vec<f64> = rated
            .iter()
            .map(|&i| f64::from(st.labels[scores[i].0][c].unwrap_or(0.0)))
            .collect();
        let s_rated: Vec<f64> = rated.iter().map(|&i| s[i]).collect();
        let mut f = LikertFigures {
            spearman_rating: metrics::spearman(&s_rated, &ratings),
            ..Default::default()
        };
        if let Some(lat) = &latents {
            let l: Vec<f64> = lat.iter().map(|l| l[k]).collect();
            f.spearman_latent = metrics::spearman(&s, &l);
            let scores_t = Tensor::<1>::from_data(
                TensorData::new(s.iter().map(|&v| v as f32).collect::<Vec<f32>>(), [s.len()]),
                device,
            );
            if let Some(r) = model.predict_rating(c, scores_t, RatingMode::Argmax) {
                let r: Vec<f64> = r
                    .try_into_vec_as::<f32>()
                    .map_err(|e| TrainError::Training(e.to_string()))?
                    .into_iter()
                    .map(f64::from)
                    .collect();
                f.rating_spearman_latent = metrics::spearman(&r, &l);
            }
            let l_rated: Vec<f64> = rated.iter().map(|&i| lat[i][k]).collect();
            f.oracle = metrics::spearman(&l_rated, &ratings);
        }
        match c {
            Criterion::Alignment => h.alignment = Some(f),
            Criterion::Fidelity => h.fidelity = Some(f),
            _ => h.harmlessness = Some(f),
        }
    }
    if let Some(lat) = &latents {
        let mut m = BTreeMap::new();
        for c in Criterion::ALL {
            let Some(s) = head(c) else {
                continue;
            };
            let row: BTreeMap<String, Option<f64>> = LATENTS
                .iter()
                .enumerate()
                .map(|(j, name)| {
                    let l: Vec<f64> = lat.iter().map(|l| l[j]).collect();
                    (name.to_string(), metrics::spearman(&s, &l))
                })
                .collect();
            m.insert(c.name().to_string(), row);
        }
        h.matrix = Some(m);
    }
    if let Some(errors) = &errors {
        let prompt_of: Vec<usize> = scores
            .iter()
            .map(|(g, _)| st.index.generations[*g].prompt)
            .collect();
        let ratings: Vec<Option<f64>> = scores
            .iter()
            .map(|(g, _)| st.labels[*g][Criterion::Alignment].map(f64::from))
            .collect();
        h.alignment_errors = error_figures(&prompt_of, errors, &head, &ratings);
    }
    h.scores = scores;
    Ok(h)
}

/// The held-out figures as a per-head text table next to the oracle ceilings.
pub fn heldout_table(h: &Heldout) -> String {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    let mut s = format!(
        "held-out: {} prompts, {} images, {} strict pairs\n{:<14}{:>22}{:>10}{:>16}\n",
        h.prompts, h.images, h.strict_pairs, "head", "metric", "model", "oracle"
    );
    s.push_str(&format!(
        "{:<14}{:>22}{:>10}{:>16}\n",
        "overall",
        "pairwise accuracy",
        f(h.overall.pairwise_accuracy),
        f(h.overall.oracle)
    ));
    if h.overall.spearman_latent.is_some() {
        s.push_str(&format!(
            "{:<14}{:>22}{:>10}{:>16}\n",
            "",
            "rho latent",
            f(h.overall.spearman_latent),
            "-"
        ));
    }
    for c in Criterion::LIKERT {
        let Some(l) = h.likert(c) else { continue };
        s.push_str(&format!(
            "{:<14}{:>22}{:>10}{:>16}\n",
            c.name(),
            "rho mean rating",
            f(l.spearman_rating),
            "-"
        ));
        if l.spearman_latent.is_some() {
            s.push_str(&format!(
                "{:<14}{:>22}{:>10}{:>16}\n",
                "",
                "rho true latent",
                f(l.spearman_latent),
                format!("{} (rating)", f(l.oracle))
            ));
        }
        if l.rating_spearman_latent.is_some() {
            s.push_str(&format!(
                "{:<14}{:>22}{:>10}{:>16}\n",
                "",
                "rating rho latent",
                f(l.rating_spearman_latent),
                f(l.oracle)
            ));
        }
    }
    if let Some(m) = &h.matrix {
        s.push_str(&format!("\nSpearman, heads x true latents\n{:<14}", "head"));
        for l in LATENTS {
            s.push_str(&format!("{l:>14}"));
        }
        s.push('\n');
        for c in Criterion::ALL {
            let Some(row) = m.get(c.name()) else { continue };
            s.push_str(&format!("{:<14}", c.name()));
            for l in LATENTS {
                s.push_str(&format!("{:>14}", f(row.get(l).copied().flatten())));
            }
            s.push('\n');
        }
    }
    if !h.alignment_errors.is_empty() {
        s.push_str(&format!(
            "\nalignment errors: AUC against error-free images of the same prompt\n{:<20}{:>8}{:>8}{:>11}{:>9}{:>8}\n",
            "error", "pairs", "prompts", "alignment", "overall", "rating"
        ));
        for e in &h.alignment_errors {
            s.push_str(&format!(
                "{:<20}{:>8}{:>8}{:>11}{:>9}{:>8}\n",
                e.error,
                e.pairs,
                e.prompts,
                f(e.alignment),
                f(e.overall),
                f(e.rating)
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use synth::AlignmentError::{WrongColour, WrongShape};

    #[test]
    fn error_figures_compare_within_prompts_only() {
        // Prompt 0: a clean image (0), a wrong shape (1), a wrong colour and shape (2).
        // Prompt 1: a wrong shape (3) and a wrong colour (4), no clean image: no pair.
        let prompt_of = [0, 0, 0, 1, 1];
        let errors: Vec<&[synth::AlignmentError]> = vec![
            &[],
            &[WrongShape],
            &[WrongColour, WrongShape],
            &[WrongShape],
            &[WrongColour],
        ];
        // Alignment head sees colour, not shape; overall is blind; no overall head at all would
        // give None.
        let alignment = vec![0.9, 0.95, 0.1, 5.0, -5.0];
        let overall = vec![0.0; 5];
        let head = |c: Criterion| match c {
            Criterion::Alignment => Some(alignment.clone()),
            Criterion::Overall => Some(overall.clone()),
            _ => None,
        };
        let ratings = [Some(7.0), Some(5.0), None, Some(1.0), Some(1.0)];
        let f = error_figures(&prompt_of, &errors, &head, &ratings);
        assert_eq!(f.len(), 2);
        // declaration order of the error kinds: colour, then shape
        assert_eq!(
            (f[0].error.as_str(), f[1].error.as_str()),
            ("wrong_colour", "wrong_shape")
        );
        assert_eq!((f[0].prompts, f[0].pairs), (1, 1));
        assert_eq!(f[0].alignment, Some(1.0));
        assert_eq!(f[0].overall, Some(0.5));
        // image 2 has no rating: no rated pair
        assert_eq!(f[0].rating, None);
        assert_eq!((f[1].prompts, f[1].pairs), (1, 2));
        assert_eq!(f[1].alignment, Some(0.5));
        assert_eq!(f[1].rating, Some(1.0));

        let h = Heldout {
            alignment_errors: f,
            ..Default::default()
        };
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["alignment_errors"]["wrong_shape"]["pairs"], 2);
        assert!(heldout_table(&h).contains("wrong_shape"));
    }
}
