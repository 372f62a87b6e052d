//! Held-out evaluation of a trained model on the test prompts, next to the oracle ceilings.
//!
//! * overall head: pairwise accuracy on the strict annotator pairs (ImageReward protocol: pooled
//!   over pairs, a predicted tie counts as wrong);
//! * each Likert head: Spearman with the mean rating of each image and, when the ground truth of
//!   a synthetic world is available, with the image's true latent;
//! * the heads x latents Spearman matrix (does each head track its own latent, not another's?);
//! * oracles on the same prompts: the pairwise accuracy of the true overall latent on the same
//!   pairs, and Spearman(true latent, mean rating) per criterion: what a model that knew the truth
//!   exactly would reach against these noisy annotators.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::prelude::*;
use model::{Criterion, RatingMode, RewardModel};
use serde::Serialize;

use crate::data::{GroupBatcher, ann_criterion, plan_batches};
use crate::error::{Result, TrainError};

/// Latents of the ground truth, in matrix column order.
pub const LATENTS: [&str; 5] = [
    "overall",
    "alignment",
    "fidelity",
    "harmlessness",
    "aesthetics",
];

/// True latents per generation id: `[overall, alignment, fidelity, harmlessness, aesthetics]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroundTruthTable(pub HashMap<String, [f64; 5]>);

impl GroundTruthTable {
    /// From a synthetic world's ground truth.
    pub fn from_truth(truth: &[synth::GroundTruth]) -> Self {
        Self(
            truth
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
        )
    }

    /// Reads `dir/ground_truth.csv` if there is one (synthetic worlds); `Ok(None)` otherwise.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join("ground_truth.csv");
        if !path.exists() {
            return Ok(None);
        }
        let truth = synth::read_ground_truth_csv(&path)
            .map_err(|e| TrainError::GroundTruth(e.to_string()))?;
        Ok(Some(Self::from_truth(&truth)))
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
    /// Every test image's head scores (generation index -> scores by `annotations` criterion
    /// index), for comparisons between runs.
    #[serde(skip)]
    pub scores: Vec<(usize, [Option<f64>; 4])>,
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
) -> Result<Vec<(usize, [Option<f64>; 4])>> {
    let mut out = Vec::new();
    for plan in plan_batches(prompts, batch_prompts, None) {
        let b = batcher.build(&plan.prompts, device);
        let res = model.forward_inputs(b.images, b.text, b.prompt_index);
        let mut per_head: [Option<Vec<f32>>; 4] = Default::default();
        for c in Criterion::ALL {
            if let Some(s) = res.get(c) {
                let v = s
                    .clone()
                    .try_into_vec_as::<f32>()
                    .map_err(|e| TrainError::Training(e.to_string()))?;
                per_head[ann_criterion(c).index()] = Some(v);
            }
        }
        for (i, &g) in b.generations.iter().enumerate() {
            out.push((
                g,
                std::array::from_fn(|k| per_head[k].as_ref().map(|v| f64::from(v[i]))),
            ));
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
    let head = |k: usize| -> Option<Vec<f64>> { scores.iter().map(|(_, s)| s[k]).collect() };
    // True latents of every test image, when the ground truth covers them all.
    let latents: Option<Vec<[f64; 5]>> = truth.and_then(|t| {
        scores
            .iter()
            .map(|(g, _)| t.0.get(&st.index.generations[*g].id).copied())
            .collect()
    });

    let mut h = Heldout {
        prompts: st.test.len(),
        images: scores.len(),
        strict_pairs: strict.len(),
        ..Default::default()
    };
    if let Some(overall) = head(0) {
        h.overall.pairwise_accuracy = ::metrics::pairwise_accuracy(&overall, &strict);
        if let Some(lat) = &latents {
            let truth_overall: Vec<f64> = lat.iter().map(|l| l[0]).collect();
            h.overall.spearman_latent = ::metrics::spearman(&overall, &truth_overall);
            h.overall.oracle = ::metrics::pairwise_accuracy(&truth_overall, &strict);
        }
    }
    for c in Criterion::LIKERT {
        let k = ann_criterion(c).index();
        let Some(s) = head(k) else { continue };
        // Images with a mean rating for this criterion.
        let rated: Vec<usize> = (0..scores.len())
            .filter(|&i| st.labels[scores[i].0][k].is_some())
            .collect();
        let ratings: Vec<f64> = rated
            .iter()
            .map(|&i| f64::from(st.labels[scores[i].0][k].unwrap_or(0.0)))
            .collect();
        let s_rated: Vec<f64> = rated.iter().map(|&i| s[i]).collect();
        let mut f = LikertFigures {
            spearman_rating: ::metrics::spearman(&s_rated, &ratings),
            ..Default::default()
        };
        if let Some(lat) = &latents {
            let l: Vec<f64> = lat.iter().map(|l| l[k]).collect();
            f.spearman_latent = ::metrics::spearman(&s, &l);
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
                f.rating_spearman_latent = ::metrics::spearman(&r, &l);
            }
            let l_rated: Vec<f64> = rated.iter().map(|&i| lat[i][k]).collect();
            f.oracle = ::metrics::spearman(&l_rated, &ratings);
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
            let Some(s) = head(ann_criterion(c).index()) else {
                continue;
            };
            let row: BTreeMap<String, Option<f64>> = LATENTS
                .iter()
                .enumerate()
                .map(|(j, name)| {
                    let l: Vec<f64> = lat.iter().map(|l| l[j]).collect();
                    (name.to_string(), ::metrics::spearman(&s, &l))
                })
                .collect();
            m.insert(c.name().to_string(), row);
        }
        h.matrix = Some(m);
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
    s
}
