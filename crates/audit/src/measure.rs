//! Running an audit: every image of the chosen prompts perturbed each way, the originals and the
//! perturbed images scored by one scorer, and the figures of [`crate::stats`] per perturbation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use annotations::Criterion;
use eval::{EvalData, RankedPrompt, Resamples};
use scoring::ImageScorer;
use serde::Serialize;

use crate::cache::PassCache;
use crate::error::{AuditError, Result};
use crate::perturb::Perturbation;
use crate::stats::{PerturbationFigures, PromptScores, figures, score_spread};

/// What orders the pairs that the overtake figure counts.
#[derive(Clone, Debug)]
pub enum Reference<'a> {
    /// The synthetic world's latent of the audited head (overall quality, alignment, ...), by
    /// generation id: what a faithful scorer should follow.
    GroundTruth(&'a HashMap<String, f64>),
    /// The people: the mean rank over annotators for the overall head, the mean rating of the
    /// head's criterion for a Likert head.
    People,
}

/// What to audit and how.
pub struct AuditPlan<'a> {
    pub data: &'a EvalData,
    /// The dataset's root: `data`'s image paths are relative to it.
    pub root: &'a Path,
    pub reference: Reference<'a>,
    pub head: Criterion,
    pub perturbations: &'a [Perturbation],
    /// Where the perturbed images are written (PNG, lossless, so that what is scored is exactly
    /// what the perturbation made).
    pub work: &'a Path,
    pub resamples: usize,
    pub seed: u64,
    /// Where finished passes are kept and found again (`None`: nothing kept).
    pub cache: Option<PassCache>,
}

/// One perturbation's row of the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditRow {
    pub perturbation: Perturbation,
    pub description: &'static str,
    #[serde(flatten)]
    pub figures: PerturbationFigures,
}

/// An audit: the rows and what they were computed on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Audit {
    pub scorer: String,
    pub head: String,
    /// `ground truth`, `human rankings` or `human ratings of CRITERION`.
    pub reference: String,
    pub prompts: usize,
    pub images: usize,
    /// Standard deviation of the original scores: the unit of `change_in_spread`.
    pub score_spread: Option<f64>,
    pub resamples: usize,
    pub seed: u64,
    pub rows: Vec<AuditRow>,
}

/// One image's scores, for `per_image.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageChange {
    pub generation: String,
    pub prompt: String,
    pub perturbation: Perturbation,
    pub original: f64,
    pub perturbed: f64,
}

/// Audits `scorer`; `progress` hears one line per step (images perturbed, each pass scored).
pub fn audit(
    scorer: &dyn ImageScorer,
    plan: &AuditPlan<'_>,
    mut progress: impl FnMut(&str),
) -> Result<(Audit, Vec<ImageChange>)> {
    if !scorer.heads().contains(&plan.head) {
        let has: Vec<&str> = scorer.heads().iter().map(|c| c.name()).collect();
        return Err(AuditError::MissingHead {
            scorer: scorer.name().to_string(),
            head: plan.head.name().to_string(),
            has: has.join(", "),
        });
    }
    let originals = image_files(plan)?;
    if originals.is_empty() {
        return Err(AuditError::Empty(
            "the chosen prompts have no images".into(),
        ));
    }
    let perturbed = perturb_all(&originals, plan, &mut progress)?;
    let mut head_scores = |pass: &str, items: &[(String, PathBuf)]| -> Result<Vec<f64>> {
        if let Some(cache) = &plan.cache
            && let Some(scores) = cache.get(pass, items.len())
        {
            progress(&format!("{pass}: {} scores from the last run", items.len()));
            return Ok(scores);
        }
        progress(&format!("scoring {} images: {pass}", items.len()));
        let scores: Vec<f64> = scorer
            .score_files(items)?
            .iter()
            .map(|s| s.heads[plan.head].as_ref().map_or(f64::NAN, |h| h.score))
            .collect();
        if let Some(cache) = &plan.cache {
            cache.put(pass, &scores)?;
        }
        Ok(scores)
    };
    let original_scores = head_scores("original", &originals)?;
    let mut perturbed_scores = Vec::with_capacity(perturbed.len());
    for (p, items) in plan.perturbations.iter().zip(&perturbed) {
        perturbed_scores.push(head_scores(p.name(), items)?);
    }

    let mut prompts = Vec::with_capacity(plan.data.prompts.len());
    let mut changes = Vec::new();
    let mut at = 0;
    for prompt in &plan.data.prompts {
        let n = prompt.generations.len();
        let original = original_scores[at..at + n].to_vec();
        let perturbed: Vec<Vec<f64>> = perturbed_scores
            .iter()
            .map(|s| s[at..at + n].to_vec())
            .collect();
        for (k, p) in plan.perturbations.iter().enumerate() {
            for (i, g) in prompt.generations.iter().enumerate() {
                changes.push(ImageChange {
                    generation: g.clone(),
                    prompt: prompt.id.clone(),
                    perturbation: *p,
                    original: original[i],
                    perturbed: perturbed[k][i],
                });
            }
        }
        prompts.push(PromptScores {
            reference_pairs: reference_pairs(prompt, &plan.reference, plan.head),
            original,
            perturbed,
        });
        at += n;
    }
    let resamples = Resamples::draw(prompts.len(), plan.resamples, plan.seed);
    let rows = plan
        .perturbations
        .iter()
        .enumerate()
        .map(|(k, p)| AuditRow {
            perturbation: *p,
            description: p.describe(),
            figures: figures(&prompts, k, &resamples),
        })
        .collect();
    let audit = Audit {
        scorer: scorer.name().to_string(),
        head: plan.head.name().to_string(),
        reference: match (&plan.reference, plan.head) {
            (Reference::GroundTruth(_), _) => "ground truth".into(),
            (Reference::People, Criterion::Overall) => "human rankings".into(),
            (Reference::People, c) => format!("human ratings of {}", c.name()),
        },
        prompts: prompts.len(),
        images: originals.len(),
        score_spread: score_spread(&prompts),
        resamples: plan.resamples,
        seed: plan.seed,
        rows,
    };
    Ok((audit, changes))
}

/// `(prompt text, image file)` of every image, prompt by prompt; an image missing on disk is an
/// error naming its generation.
fn image_files(plan: &AuditPlan<'_>) -> Result<Vec<(String, PathBuf)>> {
    let mut items = Vec::new();
    for prompt in &plan.data.prompts {
        for (g, image) in prompt.generations.iter().zip(&prompt.images) {
            let path = image.as_ref().map(|rel| plan.root.join(rel));
            match path {
                Some(p) if p.is_file() => items.push((prompt.text.clone(), p)),
                path => {
                    return Err(AuditError::NoImage {
                        generation: g.clone(),
                        path,
                    });
                }
            }
        }
    }
    Ok(items)
}

/// Writes every image perturbed each way under `plan.work/NAME/`, numbered in order; returns
/// the items to score per perturbation.
fn perturb_all(
    originals: &[(String, PathBuf)],
    plan: &AuditPlan<'_>,
    progress: &mut impl FnMut(&str),
) -> Result<Vec<Vec<(String, PathBuf)>>> {
    let mut out: Vec<Vec<(String, PathBuf)>> = vec![Vec::new(); plan.perturbations.len()];
    for p in plan.perturbations {
        let dir = plan.work.join(p.name());
        std::fs::create_dir_all(&dir).map_err(|e| AuditError::Write {
            path: dir.clone(),
            message: e.to_string(),
        })?;
    }
    for (i, (prompt, path)) in originals.iter().enumerate() {
        if i % 100 == 0 {
            progress(&format!(
                "perturbing images {}..{} of {}",
                i + 1,
                (i + 100).min(originals.len()),
                originals.len()
            ));
        }
        let img = imagefile::decode(path)?.to_rgb8();
        for (k, p) in plan.perturbations.iter().enumerate() {
            let changed = p.apply(&img).map_err(|reason| AuditError::Perturb {
                path: path.clone(),
                perturbation: p.name(),
                reason,
            })?;
            let file = plan.work.join(p.name()).join(format!("{i:06}.png"));
            changed.save(&file).map_err(|e| AuditError::Write {
                path: file.clone(),
                message: e.to_string(),
            })?;
            out[k].push((prompt.clone(), file));
        }
    }
    Ok(out)
}

/// The pairs `(better, worse)` of a prompt's images the reference orders strictly.
fn reference_pairs(
    prompt: &eval::EvalPrompt,
    reference: &Reference<'_>,
    head: Criterion,
) -> Vec<(usize, usize)> {
    let n = prompt.generations.len();
    let goodness: Vec<Option<f64>> = match reference {
        Reference::GroundTruth(truth) => prompt
            .generations
            .iter()
            .map(|g| truth.get(g).copied())
            .collect(),
        Reference::People if head != Criterion::Overall => prompt.ratings[head.index()]
            .iter()
            .map(|r| (!r.is_empty()).then(|| r.iter().sum::<f64>() / r.len() as f64))
            .collect(),
        Reference::People => match RankedPrompt::new(vec![0.0; n], prompt.rankings.clone()) {
            Ok(p) if !prompt.rankings.is_empty() => {
                p.mean_ranks().into_iter().map(|r| r.map(|r| -r)).collect()
            }
            _ => vec![None; n],
        },
    };
    let mut pairs = Vec::new();
    for a in 0..n {
        for b in 0..n {
            if let (Some(x), Some(y)) = (goodness[a], goodness[b])
                && x > y
            {
                pairs.push((a, b));
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use annotations::PerCriterion;
    use eval::EvalPrompt;
    use scoring::{HeadScore, ImageScore};

    use super::*;

    /// Scores an image by its mean pixel value: a scorer that a white border fools and that
    /// contrast on a dark image does not.
    struct Brightness;

    impl ImageScorer for Brightness {
        fn name(&self) -> &str {
            "brightness"
        }

        fn heads(&self) -> Vec<Criterion> {
            vec![Criterion::Overall]
        }

        fn score_files(&self, items: &[(String, PathBuf)]) -> scoring::Result<Vec<ImageScore>> {
            Ok(items
                .iter()
                .map(|(prompt, path)| {
                    let img = imagefile::decode(path).unwrap().to_rgb8();
                    let sum: f64 = img.as_raw().iter().map(|v| f64::from(*v)).sum();
                    let score = sum / img.as_raw().len() as f64;
                    ImageScore {
                        prompt: prompt.clone(),
                        image: path.clone(),
                        heads: PerCriterion::from_fn(|c| {
                            (c == Criterion::Overall).then_some(HeadScore {
                                score,
                                rating: None,
                            })
                        }),
                    }
                })
                .collect())
        }
    }

    fn prompt(id: &str, images: &[&str]) -> EvalPrompt {
        EvalPrompt {
            id: id.into(),
            text: format!("prompt {id}"),
            category: None,
            generations: images.iter().map(|g| g.to_string()).collect(),
            images: images.iter().map(|g| Some(format!("{g}.png"))).collect(),
            rankings: Vec::new(),
            ratings: std::array::from_fn(|_| vec![Vec::new(); images.len()]),
        }
    }

    #[test]
    fn a_white_border_lifts_a_dark_image_over_a_better_one_for_a_brightness_scorer() {
        let root = std::env::temp_dir().join(format!("rewardlab-audit-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        for (g, v) in [("a1", 40u8), ("a2", 20), ("b1", 30), ("b2", 10)] {
            image::RgbImage::from_pixel(64, 64, image::Rgb([v; 3]))
                .save(root.join(format!("{g}.png")))
                .unwrap();
        }
        let data = EvalData {
            prompts: vec![prompt("a", &["a1", "a2"]), prompt("b", &["b1", "b2"])],
            annotators: Vec::new(),
            scale: (1.0, 7.0),
        };
        let truth: HashMap<String, f64> = [("a1", 0.9), ("a2", 0.1), ("b1", 0.8), ("b2", 0.2)]
            .map(|(g, t)| (g.to_string(), t))
            .into_iter()
            .collect();
        let work = root.join("work");
        let plan = AuditPlan {
            data: &data,
            root: &root,
            reference: Reference::GroundTruth(&truth),
            head: Criterion::Overall,
            perturbations: &[Perturbation::Border, Perturbation::Contrast],
            work: &work,
            resamples: 100,
            seed: 0,
            cache: Some(PassCache {
                dir: root.join("scores"),
                key: "brightness\n".into(),
            }),
        };
        let mut lines = Vec::new();
        let (report, changes) = audit(&Brightness, &plan, |l| lines.push(l.to_string())).unwrap();
        assert_eq!(
            (report.prompts, report.images, report.reference.as_str()),
            (2, 4, "ground truth")
        );
        let [border, contrast] = [&report.rows[0].figures, &report.rows[1].figures];
        // The border (255 over 5 px of each edge of 64) lifts every image, and each worse image
        // over its better one; contrast darkens dark images and wins nothing.
        assert_eq!(border.rises.value, Some(1.0));
        assert_eq!((border.overtakes.value, border.overtakes.n), (Some(1.0), 2));
        assert_eq!(contrast.rises.value, Some(0.0));
        assert_eq!(contrast.overtakes.value, Some(0.0));
        let a2 = changes
            .iter()
            .find(|c| c.generation == "a2" && c.perturbation == Perturbation::Border)
            .unwrap();
        let framed = (2916.0 * 20.0 + 1180.0 * 255.0) / 4096.0;
        assert!((a2.perturbed - framed).abs() < 1e-9, "{}", a2.perturbed);
        assert!(
            lines.contains(&"scoring 4 images: border".to_string()),
            "{lines:?}"
        );
        // A second run finds every pass kept, and gives the same report.
        let mut again = Vec::new();
        let (second, _) = audit(&Brightness, &plan, |l| again.push(l.to_string())).unwrap();
        assert_eq!(second, report);
        assert!(
            again.contains(&"border: 4 scores from the last run".to_string()),
            "{again:?}"
        );
        assert!(!again.iter().any(|l| l.starts_with("scoring")), "{again:?}");

        // A head the scorer does not have, and an image missing on disk, are errors naming them.
        let fidelity = AuditPlan {
            head: Criterion::Fidelity,
            ..plan
        };
        let err = audit(&Brightness, &fidelity, |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("brightness has no fidelity head; it has overall"),
            "{err}"
        );
        std::fs::remove_file(root.join("b2.png")).unwrap();
        let plan = AuditPlan {
            head: Criterion::Overall,
            ..fidelity
        };
        let err = audit(&Brightness, &plan, |_| {}).unwrap_err().to_string();
        assert!(
            err.contains("generation b2 has no image on disk") && err.contains("b2.png"),
            "{err}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_people_order_pairs_by_mean_rank_or_by_the_heads_mean_rating() {
        let mut p = prompt("a", &["a1", "a2", "a3"]);
        p.rankings = vec![
            eval::Ranking {
                annotator: Some(0),
                ranks: vec![Some(1.0), Some(2.0), Some(2.0)],
            },
            eval::Ranking {
                annotator: Some(1),
                ranks: vec![Some(2.0), Some(1.0), Some(3.0)],
            },
        ];
        // Mean ranks 1.5, 1.5, 2.5: a tie, then both above a3.
        assert_eq!(
            reference_pairs(&p, &Reference::People, Criterion::Overall),
            [(0, 2), (1, 2)]
        );
        p.ratings[Criterion::Fidelity.index()] = vec![vec![3.0, 5.0], vec![6.0], vec![]];
        assert_eq!(
            reference_pairs(&p, &Reference::People, Criterion::Fidelity),
            [(1, 0)]
        );
        assert!(reference_pairs(&p, &Reference::People, Criterion::Alignment).is_empty());
    }
}
