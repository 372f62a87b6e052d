//! The human labels of the evaluated prompts, gathered from a canonical [`Dataset`]: each
//! prompt's generations, every annotator's ranking of them and every rating per criterion.
//! Scorers are joined to it by generation id.

use std::collections::HashMap;
use std::path::Path;

use annotations::{Criterion, Dataset, Index};

use crate::baselines::ImageRef;
use crate::error::{EvalError, Result};
use crate::prompt::{RankedPrompt, Ranking};
use crate::ratings::{RatedImage, RatedPrompt};
use crate::scores::ScoreTable;

/// One evaluated prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalPrompt {
    pub id: String,
    pub text: String,
    pub category: Option<String>,
    /// Generation ids, in dataset order; every other per-image list follows this order.
    pub generations: Vec<String>,
    /// Image paths relative to the dataset root.
    pub images: Vec<Option<String>>,
    /// One ranking per annotator who ranked images of the prompt (one anonymous ranking when the
    /// data has no annotator ids).
    pub rankings: Vec<Ranking>,
    /// Every rating, by [`Criterion::index`], then image: `ratings[c][i]`.
    pub ratings: [Vec<Vec<f64>>; 4],
}

impl EvalPrompt {
    /// `(strict, tied)` human pairs.
    pub fn pair_counts(&self) -> (usize, usize) {
        match RankedPrompt::new(vec![0.0; self.generations.len()], self.rankings.clone()) {
            Ok(p) => p.pairs().fold(
                (0, 0),
                |(s, t), q| {
                    if q.tie { (s, t + 1) } else { (s + 1, t) }
                },
            ),
            Err(_) => (0, 0),
        }
    }
}

/// The evaluated prompts and what is known about them.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalData {
    pub prompts: Vec<EvalPrompt>,
    /// Annotator ids; [`Ranking::annotator`] indexes this list.
    pub annotators: Vec<String>,
    /// The rating scale, inclusive.
    pub scale: (f64, f64),
}

impl EvalData {
    /// The given prompts (indices into `ix.prompts`) of a dataset. A generation ranked twice by
    /// the same annotator (a validation error) counts once, as in pair expansion; ratings that
    /// are not finite numbers (also validation errors) are left out.
    pub fn from_dataset(ds: &Dataset, ix: &Index, prompts: &[usize]) -> Self {
        let mut annotators: Vec<String> = Vec::new();
        let mut annotator_index: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::with_capacity(prompts.len());
        for &p in prompts {
            let entry = &ix.prompts[p];
            let n = entry.generations.len();
            let mut rankings: Vec<Ranking> = Vec::new();
            let mut ratings: [Vec<Vec<f64>>; 4] = std::array::from_fn(|_| vec![Vec::new(); n]);
            for (i, &g) in entry.generations.iter().enumerate() {
                for &r in &ix.generations[g].rows {
                    let row = &ds.rows[r];
                    for c in Criterion::ALL {
                        if let Some(v) = row.rating(c).filter(|v| v.is_finite()) {
                            ratings[c.index()][i].push(f64::from(v));
                        }
                    }
                    let Some(rank) = row.rank else { continue };
                    let annotator = row.annotator.as_deref().map(|a| {
                        *annotator_index.entry(a).or_insert_with(|| {
                            annotators.push(a.to_string());
                            annotators.len() - 1
                        })
                    });
                    let k = match rankings.iter().position(|x| x.annotator == annotator) {
                        Some(k) => k,
                        None => {
                            rankings.push(Ranking {
                                annotator,
                                ranks: vec![None; n],
                            });
                            rankings.len() - 1
                        }
                    };
                    // Rank 0 is invalid input (validation reports it); it takes no part here.
                    if rankings[k].ranks[i].is_none() && rank > 0 {
                        rankings[k].ranks[i] = Some(f64::from(rank));
                    }
                }
            }
            out.push(EvalPrompt {
                id: entry.id.clone(),
                text: entry.text.clone(),
                category: entry.category.clone(),
                generations: entry
                    .generations
                    .iter()
                    .map(|&g| ix.generations[g].id.clone())
                    .collect(),
                images: entry
                    .generations
                    .iter()
                    .map(|&g| ix.generations[g].image.clone())
                    .collect(),
                rankings,
                ratings,
            });
        }
        Self {
            prompts: out,
            annotators,
            scale: (f64::from(ds.meta.scale.min), f64::from(ds.meta.scale.max)),
        }
    }

    pub fn images(&self) -> usize {
        self.prompts.iter().map(|p| p.generations.len()).sum()
    }

    /// `(strict, tied)` human pairs over all prompts.
    pub fn pair_counts(&self) -> (usize, usize) {
        self.prompts
            .iter()
            .map(EvalPrompt::pair_counts)
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// Every image, for a baseline to score (paths resolved against the dataset `root`).
    pub fn image_refs(&self, root: &Path) -> Vec<ImageRef<'_>> {
        self.prompts
            .iter()
            .flat_map(|p| {
                p.generations
                    .iter()
                    .zip(&p.images)
                    .map(move |(g, im)| ImageRef {
                        generation_id: g,
                        prompt: &p.text,
                        image: im.as_ref().map(|im| root.join(im)),
                    })
            })
            .collect()
    }

    /// Whether the data has ratings of a criterion.
    pub fn has_ratings(&self, c: Criterion) -> bool {
        self.prompts
            .iter()
            .any(|p| p.ratings[c.index()].iter().any(|r| !r.is_empty()))
    }

    /// The ranking view of every prompt under a scorer's overall scores; an error names the
    /// images without a score.
    pub fn ranked(&self, scorer: &str, scores: &ScoreTable) -> Result<Vec<RankedPrompt>> {
        let overall = self.column(scorer, scores, Criterion::Overall)?;
        self.prompts
            .iter()
            .zip(overall)
            .map(|(p, s)| RankedPrompt::new(s, p.rankings.clone()))
            .collect()
    }

    /// The rating view of every prompt for one criterion, or `None` when the data has no rating
    /// of it or the scorer no score for it.
    pub fn rated(
        &self,
        scorer: &str,
        scores: &ScoreTable,
        c: Criterion,
    ) -> Result<Option<Vec<RatedPrompt>>> {
        if !self.has_ratings(c) {
            return Ok(None);
        }
        let any = self
            .prompts
            .iter()
            .flat_map(|p| &p.generations)
            .any(|g| scores.get(g).is_some_and(|s| s.score[c].is_some()));
        if !any {
            return Ok(None);
        }
        let col = self.column(scorer, scores, c)?;
        self.prompts
            .iter()
            .zip(col)
            .map(|(p, s)| {
                p.generations
                    .iter()
                    .enumerate()
                    .map(|(i, g)| {
                        let predicted = scores.get(g).and_then(|x| x.rating[c]);
                        RatedImage::new(s[i], predicted, p.ratings[c.index()][i].clone())
                    })
                    .collect()
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// One criterion's scores per prompt and image; every image must have one.
    fn column(&self, scorer: &str, scores: &ScoreTable, c: Criterion) -> Result<Vec<Vec<f64>>> {
        let mut missing = Vec::new();
        let mut out = Vec::with_capacity(self.prompts.len());
        for p in &self.prompts {
            let mut col = Vec::with_capacity(p.generations.len());
            for g in &p.generations {
                let v = scores.get(g).and_then(|s| s.score[c]);
                match v {
                    Some(v) if !v.is_finite() => {
                        return Err(EvalError::NonFinite {
                            scorer: scorer.to_string(),
                            generation: g.clone(),
                            value: v,
                        });
                    }
                    Some(v) => col.push(v),
                    None => missing.push(g.clone()),
                }
            }
            out.push(col);
        }
        if !missing.is_empty() {
            return Err(EvalError::MissingScores {
                scorer: scorer.to_string(),
                criterion: c.name().to_string(),
                count: missing.len(),
                first: missing.into_iter().take(5).collect(),
            });
        }
        Ok(out)
    }
}
