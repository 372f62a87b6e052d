//! Baseline scorers that a model's figures are compared with, behind one trait and a registry of
//! names, so that `rewardlab eval --baseline NAME` can grow (CLIP score, when pretrained encoders
//! land, registers itself like the built-in ones) without the evaluation changing.
//!
//! Built in:
//! * `random`: a uniform score in [0, 1) per image and criterion, seeded and drawn from the
//!   generation id, so an image gets the same score whatever else is evaluated with it; what
//!   chance reaches (0.5 pairwise accuracy, minus the share of predicted ties, which is nil);
//! * `oracle`: the true latents of a synthetic world (`ground_truth.csv`): overall for the
//!   overall score, each criterion's latent for its head. What a model that knew the truth exactly
//!   reaches against these noisy annotators.

use std::collections::HashMap;
use std::path::PathBuf;

use annotations::{Criterion, PerCriterion};

use crate::error::{EvalError, Result};
use crate::scores::{ImageScores, ScoreTable};

/// One image a baseline is asked to score.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageRef<'a> {
    pub generation_id: &'a str,
    pub prompt: &'a str,
    /// Path of the image file, when the dataset has its images.
    pub image: Option<PathBuf>,
}

/// A scorer that needs no training run.
pub trait Baseline {
    /// The name it is selected by and reported under.
    fn name(&self) -> &str;
    /// Scores for the given images, one per image, in order.
    fn score(&self, images: &[ImageRef<'_>]) -> Result<Vec<ImageScores>>;

    /// The scores as a table by generation id.
    fn score_table(&self, images: &[ImageRef<'_>]) -> Result<ScoreTable> {
        let scores = self.score(images)?;
        Ok(images
            .iter()
            .zip(scores)
            .map(|(i, s)| (i.generation_id.to_string(), s))
            .collect())
    }
}

/// What a baseline may need from the evaluation: the seed and, on synthetic data, the truth.
#[derive(Clone, Debug, Default)]
pub struct BaselineContext {
    pub seed: u64,
    /// True latents per generation id, by [`Criterion::index`] (a synthetic world's
    /// `ground_truth.csv`).
    pub truth: Option<HashMap<String, PerCriterion<f64>>>,
}

/// Builds a baseline for a context, or says why it cannot run there.
pub type Factory = Box<dyn Fn(&BaselineContext) -> Result<Box<dyn Baseline>> + Send + Sync>;

struct Entry {
    name: String,
    summary: String,
    factory: Factory,
}

/// Baselines by name.
pub struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    /// The built-in baselines: `random` and `oracle`.
    pub fn builtin() -> Self {
        let mut r = Self {
            entries: Vec::new(),
        };
        r.register(
            "random",
            "uniform random scores, seeded by --seed and the generation id",
            Box::new(|ctx| Ok(Box::new(Random { seed: ctx.seed }) as Box<dyn Baseline>)),
        );
        r.register(
            "oracle",
            "the true latents of a synthetic world (needs ground_truth.csv)",
            Box::new(|ctx| match &ctx.truth {
                Some(t) => Ok(Box::new(Oracle { truth: t.clone() }) as Box<dyn Baseline>),
                None => Err(EvalError::BaselineUnavailable {
                    name: "oracle".into(),
                    reason:
                        "the dataset has no ground truth (ground_truth.csv of a synthetic world)"
                            .into(),
                }),
            }),
        );
        r
    }

    /// Adds (or replaces) a baseline.
    pub fn register(&mut self, name: &str, summary: &str, factory: Factory) {
        self.entries.retain(|e| e.name != name);
        self.entries.push(Entry {
            name: name.to_string(),
            summary: summary.to_string(),
            factory,
        });
    }

    /// `(name, summary)` of every baseline.
    pub fn list(&self) -> Vec<(&str, &str)> {
        self.entries
            .iter()
            .map(|e| (e.name.as_str(), e.summary.as_str()))
            .collect()
    }

    pub fn create(&self, name: &str, ctx: &BaselineContext) -> Result<Box<dyn Baseline>> {
        match self.entries.iter().find(|e| e.name == name) {
            Some(e) => (e.factory)(ctx),
            None => Err(EvalError::UnknownBaseline {
                name: name.to_string(),
                available: self
                    .entries
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// The baselines the user named (repeats once, `none` for none), or with no name the
    /// [defaults](Self::defaults) but `except` (an evaluated model is not its own baseline).
    pub fn resolve(
        &self,
        named: &[String],
        ctx: &BaselineContext,
        except: Option<&str>,
    ) -> Result<Vec<Box<dyn Baseline>>> {
        let mut names: Vec<String> = Vec::new();
        if named.is_empty() {
            names = self.defaults(ctx);
            names.retain(|n| Some(n.as_str()) != except);
        }
        for n in named {
            if n != "none" && !names.contains(n) {
                names.push(n.clone());
            }
        }
        names.iter().map(|n| self.create(n, ctx)).collect()
    }

    /// The baselines to run when the user names none: every one that can run in this context
    /// (on synthetic data `random` and `oracle`, elsewhere `random`).
    pub fn defaults(&self, ctx: &BaselineContext) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| (e.factory)(ctx).is_ok())
            .map(|e| e.name.clone())
            .collect()
    }
}

/// Uniform random scores.
pub struct Random {
    pub seed: u64,
}

impl Baseline for Random {
    fn name(&self) -> &str {
        "random"
    }

    fn score(&self, images: &[ImageRef<'_>]) -> Result<Vec<ImageScores>> {
        Ok(images
            .iter()
            .map(|im| {
                // One stream per image, so a score does not depend on the other images.
                let mut rng = prng::Rng::derive(self.seed, &format!("random/{}", im.generation_id));
                let mut s = ImageScores::default();
                for c in Criterion::ALL {
                    s.score[c] = Some(rng.uniform());
                }
                s
            })
            .collect())
    }
}

/// The true latents.
pub struct Oracle {
    pub truth: HashMap<String, PerCriterion<f64>>,
}

impl Baseline for Oracle {
    fn name(&self) -> &str {
        "oracle"
    }

    fn score(&self, images: &[ImageRef<'_>]) -> Result<Vec<ImageScores>> {
        let missing: Vec<String> = images
            .iter()
            .filter(|im| !self.truth.contains_key(im.generation_id))
            .map(|im| im.generation_id.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(EvalError::MissingScores {
                scorer: "oracle".into(),
                criterion: "true latent".into(),
                count: missing.len(),
                first: missing.into_iter().take(5).collect(),
            });
        }
        Ok(images
            .iter()
            .map(|im| ImageScores {
                score: self.truth[im.generation_id],
                rating: PerCriterion::default(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(ids: &[&'static str]) -> Vec<ImageRef<'static>> {
        ids.iter()
            .map(|id| ImageRef {
                generation_id: id,
                prompt: "p",
                image: None,
            })
            .collect()
    }

    #[test]
    fn random_scores_depend_only_on_seed_and_id() {
        let r = Registry::builtin();
        let ctx = BaselineContext {
            seed: 7,
            truth: None,
        };
        let b = r.create("random", &ctx).unwrap();
        let ab = b.score(&refs(&["a", "b"])).unwrap();
        let ba = b.score(&refs(&["b", "a"])).unwrap();
        assert_eq!(ab[0], ba[1]);
        assert_ne!(ab[0], ab[1]);
        assert_eq!(r.defaults(&ctx), vec!["random".to_string()]);
    }

    #[test]
    fn oracle_needs_truth_and_unknown_names_list_the_known_ones() {
        let r = Registry::builtin();
        let err = r
            .create("oracle", &BaselineContext::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("ground_truth.csv"), "{err}");
        let err = r.create("clip", &BaselineContext::default()).err().unwrap();
        assert!(err.to_string().contains("random, oracle"), "{err}");
        let ctx = BaselineContext {
            seed: 0,
            truth: Some(HashMap::from([(
                "a".to_string(),
                PerCriterion::from_array([Some(0.5); 4]),
            )])),
        };
        let o = r.create("oracle", &ctx).unwrap();
        assert_eq!(
            o.score(&refs(&["a"])).unwrap()[0].score[Criterion::Overall],
            Some(0.5)
        );
        assert!(o.score(&refs(&["b"])).is_err());
        assert_eq!(r.defaults(&ctx).len(), 2);
    }

    #[test]
    fn resolve_takes_the_named_baselines_once_or_the_defaults_but_the_model() {
        let r = Registry::builtin();
        let truth = HashMap::from([(
            "a".to_string(),
            PerCriterion::from_array([Some(1.0), None, None, None]),
        )]);
        let ctx = BaselineContext {
            seed: 0,
            truth: Some(truth),
        };
        let names = |named: &[&str], except| -> Vec<String> {
            let named: Vec<String> = named.iter().map(|n| n.to_string()).collect();
            r.resolve(&named, &ctx, except)
                .unwrap()
                .iter()
                .map(|b| b.name().to_string())
                .collect()
        };
        assert_eq!(names(&[], None), ["random", "oracle"]);
        assert_eq!(names(&[], Some("oracle")), ["random"]);
        assert_eq!(
            names(&["oracle", "oracle", "none"], Some("oracle")),
            ["oracle"]
        );
        assert!(names(&["none"], None).is_empty());
        assert!(r.resolve(&["nope".into()], &ctx, None).is_err());
    }
}
