//! Annotation analysis of text-to-image preference data: what `rewardlab analyze` computes.
//!
//! Studying how people rated images is half of what researchers do with such data: the
//! ImageReward paper looked at rating distributions per criterion and category and found that
//! words like "8k" raise ratings; HPSv2 and PickScore reported how often annotators agree. This
//! crate computes all of it on any canonical [`Dataset`], each statistic where the data has what
//! it needs, and says why it skipped the others:
//!
//! * [`structure`]: prompts, images, judgments, annotators; images and annotators per prompt,
//!   rank tiers and the tie rate, categories, prompt length;
//! * [`distributions`]: each criterion's histogram on the declared scale, mean, std and
//!   quantiles, overall and per category;
//! * [`relations`]: Spearman and Pearson matrices between criteria; Kendall tau-b between rank
//!   tier and rating per ranking (averaged and pooled) and how often a rank contradicts a rating;
//! * [`agreement`]: pairwise agreement between annotators, Krippendorff's alpha (ordinal) and
//!   the leave-one-out human ceiling of the `eval` crate;
//! * [`effects`]: the rating difference that quality words and frequent n-grams go with, with
//!   bootstrap intervals over prompts.
//!
//! Statistics are polars lazy queries over the frames of [`frames::Frames`]; the `eval` crate
//! supplies Kendall's tau-b, the human ceiling and the bootstrap stream, so that both commands
//! define them once. [`report`] writes `report.md`, every table as Parquet and CSV and the plots
//! ([`plots`]) as SVG and PNG.
//!
//! ```no_run
//! let ds = tables::read_dataset("data/hpd".as_ref()).unwrap();
//! let a = analysis::analyze(&ds, &analysis::Options::default()).unwrap();
//! if let Some(ag) = a.agreement.as_ref().and_then(|g| g.headline()) {
//!     println!("Krippendorff's alpha {:?}, human ceiling {:?}", ag.krippendorff_alpha, ag.loo_ceiling);
//! }
//! for s in &a.skipped {
//!     println!("skipped {}: {}", s.statistic, s.reason);
//! }
//! ```
//!
//! No burn in here: the model side never compiles polars or this crate.

pub mod agreement;
pub mod distributions;
pub mod effects;
pub mod error;
pub mod frames;
pub mod pairs;
pub mod plots;
pub mod relations;
pub mod report;
pub mod structure;
pub mod util;

use annotations::Dataset;
use polars::prelude::*;
use serde::Serialize;

pub use agreement::{Agreement, LabelAgreement};
pub use distributions::Distributions;
pub use effects::{DEFAULT_TERMS, Effect, EffectOptions, Effects};
pub use error::{AnalysisError, Result};
pub use frames::Frames;
pub use relations::{Correlations, RankVsRating};
pub use report::{Outputs, write_outputs};
pub use structure::Structure;

use crate::error::Context;

/// What to compute.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub effects: EffectOptions,
}

/// A statistic left out, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Skipped {
    pub statistic: String,
    pub reason: String,
}

/// Every statistic of a dataset.
#[derive(Clone, Debug)]
pub struct Analysis {
    pub name: String,
    pub source: String,
    pub scale: annotations::Scale,
    pub structure: Structure,
    pub distributions: Option<Distributions>,
    pub correlations: Option<Correlations>,
    pub rank_vs_rating: Vec<RankVsRating>,
    pub agreement: Option<Agreement>,
    pub effects: Option<Effects>,
    pub skipped: Vec<Skipped>,
    /// Seconds spent per section (frames, pairs, structure, ...), for the benchmark.
    pub timings: Vec<(&'static str, f64)>,
}

/// Runs every statistic the dataset allows. The dataset should be valid (`rewardlab analyze`
/// refuses one with problems); a generation judged twice by one annotator counts twice.
pub fn analyze(ds: &Dataset, o: &Options) -> Result<Analysis> {
    if ds.rows.is_empty() {
        return Err(AnalysisError::Empty);
    }
    let t0 = std::time::Instant::now();
    let ix = ds.index();
    let f = Frames::new(ds, &ix)?;
    let frames_s = t0.elapsed().as_secs_f64();
    let mut a = analyze_frames(&f, &ds.meta.name, &ds.meta.source, o)?;
    a.timings.insert(0, ("frames", frames_s));
    Ok(a)
}

/// [`analyze`] on frames already built.
pub fn analyze_frames(f: &Frames, name: &str, source: &str, o: &Options) -> Result<Analysis> {
    let mut timings = Vec::new();
    let mut clock = std::time::Instant::now();
    let mut lap = |name: &'static str| {
        timings.push((name, clock.elapsed().as_secs_f64()));
        clock = std::time::Instant::now();
    };
    let mut skipped = Vec::new();
    let mut skip = |statistic: &str, reason: String| {
        skipped.push(Skipped {
            statistic: statistic.to_string(),
            reason,
        })
    };
    let pairs = pairs::pairs(&f.judgments, &f.rated)?;
    lap("pairs");
    // Agreement and prompt effects are the two longest sections and depend on nothing but the
    // frames and the pair frame: they run beside the rest (rayon's join). Their Rust loops are
    // single-threaded and polars' queries here are short, so run one after the other they leave a
    // core idle much of the time.
    let no_ratings = "the dataset has no Likert ratings (rank tiers only)".to_string();
    let ((agreement, effects), rest) = rayon::join(
        || {
            rayon::join(
                || {
                    let t = std::time::Instant::now();
                    let a = if f.has_annotators() {
                        agreement::agreement(f, &pairs)
                    } else {
                        Ok(None)
                    };
                    (a, t.elapsed().as_secs_f64())
                },
                || {
                    let t = std::time::Instant::now();
                    let e = if f.rated.is_empty() {
                        Ok(None)
                    } else {
                        effects::effects(f, &o.effects).map(Some)
                    };
                    (e, t.elapsed().as_secs_f64())
                },
            )
        },
        || -> Result<_> {
            let structure = structure::structure(f, &pairs)?;
            lap("structure");
            if !f.ranked {
                skip(
                    "structure.tie_rate",
                    "the dataset has no rank tiers (ratings only), so no pair can tie".into(),
                );
            }
            if !f.has_annotators() {
                skip(
                    "structure.annotators_per_prompt",
                    "the dataset has no annotator ids".into(),
                );
            }
            let has_categories = !(structure.categories == 1
                && crate::util::strings(&structure.categories_table, "category")?
                    .first()
                    .is_some_and(|c| c == frames::NO_CATEGORY));

            let distributions = if f.rated.is_empty() {
                skip("distributions", no_ratings.clone());
                None
            } else {
                let mut d = distributions::distributions(f)?;
                if !has_categories {
                    skip(
                        "distributions.by_category",
                        "the dataset has no categories".into(),
                    );
                    let keep = |df: &DataFrame| {
                        df.clone()
                            .lazy()
                            .filter(col("category").eq(lit(distributions::ALL)))
                            .collect()
                            .ctx("distributions")
                    };
                    d.summary = keep(&d.summary)?;
                    d.histogram = keep(&d.histogram)?;
                }
                Some(d)
            };
            lap("distributions");

            let correlations = match f.rated.len() {
                0 => {
                    skip("correlations", no_ratings.clone());
                    None
                }
                1 => {
                    skip(
                        "correlations",
                        format!(
                            "only one criterion is rated ({}); a correlation needs two",
                            f.rated[0]
                        ),
                    );
                    None
                }
                _ => relations::correlations(f)?,
            };

            let rank_vs_rating = if !f.ranked {
                skip(
                    "rank_vs_rating",
                    "the dataset has no rank tiers to compare the ratings with".into(),
                );
                Vec::new()
            } else if f.rated.is_empty() {
                skip("rank_vs_rating", no_ratings.clone());
                Vec::new()
            } else {
                let r = relations::rank_vs_rating(f, &pairs)?;
                if r.iter().all(|x| x.strict_pairs == 0) {
                    skip(
                        "rank_vs_rating",
                        "no two judgments of one ranking carry both a rank and a rating".into(),
                    );
                    Vec::new()
                } else {
                    r
                }
            };

            lap("relations");
            Ok((structure, distributions, correlations, rank_vs_rating))
        },
    );
    let (structure, distributions, correlations, rank_vs_rating) = rest?;
    let ((agreement, agreement_s), (effects, effects_s)) = (agreement, effects);
    let (agreement, effects) = (agreement?, effects?);
    let agreement = if !f.has_annotators() {
        skip(
            "agreement",
            "the dataset has no annotator ids, so judgments cannot be compared between people"
                .into(),
        );
        None
    } else {
        let a = agreement;
        match &a {
            None => skip(
                "agreement",
                "no image was judged by two named annotators (one annotator per prompt)".into(),
            ),
            Some(a) => {
                if let Some(h) = a.headline() {
                    if h.loo_ceiling.is_none() {
                        skip(
                            "agreement.loo_ceiling",
                            format!(
                                "no annotator's strict {} pair is covered by another annotator",
                                h.label
                            ),
                        );
                    }
                    if h.krippendorff_alpha.is_none() {
                        skip(
                            "agreement.krippendorff_alpha",
                            format!("every {} value given is the same", h.label),
                        );
                    }
                    if h.pairwise_agreement.is_none() {
                        skip(
                            "agreement.pairwise_agreement",
                            format!(
                                "no two annotators both stated a strict {} preference on the same pair",
                                h.label
                            ),
                        );
                    }
                }
            }
        }
        a
    };

    let effects = if f.rated.is_empty() {
        skip(
            "prompt_effects",
            "the dataset has no Likert ratings: rank tiers only order the images of one prompt, \
         so a word of the prompt cannot move them"
                .into(),
        );
        None
    } else {
        effects
    };

    // Timings and skip reasons are filled in below, once `lap` and `skip` are done with them.
    let mut analysis = Analysis {
        timings: vec![("agreement", agreement_s), ("prompt effects", effects_s)],
        name: name.to_string(),
        source: source.to_string(),
        scale: f.scale,
        structure,
        distributions,
        correlations,
        rank_vs_rating,
        agreement,
        effects,
        skipped: Vec::new(),
    };
    timings.append(&mut analysis.timings);
    analysis.timings = timings;
    analysis.skipped = skipped;
    Ok(analysis)
}

#[cfg(test)]
mod real_data_tests;

#[cfg(test)]
mod reference_tests;
