//! Prompt effects: does a word in the prompt go with higher ratings? For each term of a list (by
//! default quality words such as "highly detailed" or "8k", which ImageReward found to raise
//! ratings) and for the prompts' most frequent n-grams: how many prompts contain it, the mean
//! rating of the judgments of those prompts and of the others, and the difference, with a 95%
//! bootstrap interval that resamples prompts (`eval`'s stream and percentiles), per criterion.
//!
//! A term matches a prompt when its words occur in the prompt's words in order and adjacent
//! (see [`crate::frames::words`]), so "8k" does not match "128k". Means pool judgments, so a
//! prompt weighs by its number of ratings; the bootstrap resamples whole prompts because the
//! judgments of one prompt are not independent.

use std::collections::HashSet;

use annotations::Criterion;
use polars::prelude::*;
use rayon::prelude::*;

use crate::error::{AnalysisError, Context, Result};
use crate::frames::{Frames, normalize_term};
use crate::util::{floats, strings};

/// Quality words of text-to-image prompts (ImageReward, section 5: "8k", "highly detailed" and
/// their kin raise ratings), checked by default.
pub const DEFAULT_TERMS: &[&str] = &[
    "highly detailed",
    "8k",
    "4k",
    "trending on artstation",
    "realistic",
    "masterpiece",
    "photorealistic",
    "sharp focus",
    "intricate",
    "concept art",
    "octane render",
    "unreal engine",
];

#[derive(Clone, Debug)]
pub struct EffectOptions {
    /// Terms to check (their words are matched; see the module docs).
    pub terms: Vec<String>,
    /// How many of the most frequent n-grams to add.
    pub ngrams: usize,
    /// Longest n-gram counted.
    pub ngram_max: usize,
    /// An n-gram must occur in at least this many prompts.
    pub min_prompts: usize,
    pub resamples: usize,
    pub seed: u64,
}

impl Default for EffectOptions {
    fn default() -> Self {
        Self {
            terms: DEFAULT_TERMS.iter().map(|s| s.to_string()).collect(),
            ngrams: 10,
            ngram_max: 3,
            min_prompts: 5,
            resamples: eval::bootstrap::DEFAULT_RESAMPLES,
            seed: 0,
        }
    }
}

/// One term's effect on one criterion.
#[derive(Clone, Debug, PartialEq)]
pub struct Effect {
    pub term: String,
    /// `list` (a listed term) or `ngram` (a frequent n-gram).
    pub source: &'static str,
    pub criterion: Criterion,
    /// Prompts containing the term (with a rating of the criterion or not).
    pub prompts: u64,
    /// Ratings of the criterion on those prompts.
    pub judgments_with: u64,
    pub mean_with: Option<f64>,
    pub mean_without: Option<f64>,
    /// `mean_with - mean_without`.
    pub difference: Option<f64>,
    pub ci95: Option<[f64; 2]>,
}

#[derive(Clone, Debug)]
pub struct Effects {
    pub effects: Vec<Effect>,
    /// The effects as a table (`ci_low`, `ci_high` for the interval).
    pub table: DataFrame,
}

/// `(p, ngram, n, stop_first, stop_last)` for every n-gram of every prompt, n = 1..=max.
fn ngram_frame(f: &Frames, max: usize) -> Result<LazyFrame> {
    let tokens = f.tokens.clone().lazy();
    // Tokens are in prompt order: the k-th next token is a plain shift, kept only where it
    // belongs to the same prompt (a window per prompt would be several times slower).
    let mut shifted = vec![col("p"), col("token"), col("stop")];
    for k in 1..max {
        let k_lit = lit(-(k as i64));
        let same = col("p").shift(k_lit.clone()).eq(col("p"));
        shifted.push(
            when(same.clone())
                .then(col("token").shift(k_lit.clone()))
                .otherwise(lit(NULL).cast(DataType::String))
                .alias(format!("t{k}")),
        );
        shifted.push(
            when(same)
                .then(col("stop").shift(k_lit))
                .otherwise(lit(NULL).cast(DataType::Boolean))
                .alias(format!("s{k}")),
        );
    }
    let wide = tokens.select(shifted);
    let parts: Vec<LazyFrame> = (1..=max)
        .map(|n| {
            let mut gram = col("token");
            for k in 1..n {
                gram = gram + lit(" ") + col(format!("t{k}"));
            }
            let last = if n == 1 {
                col("stop")
            } else {
                col(format!("s{}", n - 1))
            };
            wide.clone().select([
                col("p"),
                gram.alias("ngram"),
                lit(n as u32).alias("n"),
                col("stop").alias("stop_first"),
                last.alias("stop_last"),
            ])
        })
        .collect();
    Ok(concat(parts, UnionArgs::default())
        .ctx("n-grams")?
        .filter(col("ngram").is_not_null())
        .unique(Some(cols(["p", "ngram"])), UniqueKeepStrategy::First))
}

/// The most frequent n-grams (by number of prompts) of the n-gram frame, content words at both
/// ends, at most `ngram_max` words, in at least
/// `min_prompts` prompts but not in every prompt, leaving out `exclude`.
pub fn frequent_ngrams(
    f: &Frames,
    grams: &DataFrame,
    o: &EffectOptions,
    exclude: &HashSet<String>,
) -> Result<Vec<(String, u64)>> {
    if o.ngrams == 0 {
        return Ok(Vec::new());
    }
    let total = f.prompts.height() as u32;
    let df = grams
        .clone()
        .lazy()
        .filter(
            col("stop_first")
                .not()
                .and(col("stop_last").not())
                .and(col("n").lt_eq(lit(o.ngram_max.max(1) as u32))),
        )
        .group_by([col("ngram")])
        .agg([len().alias("prompts")])
        .filter(
            col("prompts")
                .gt_eq(lit(o.min_prompts.max(1) as u32))
                .and(col("prompts").lt(lit(total))),
        )
        .sort_by_exprs(
            [col("prompts"), col("ngram")],
            SortMultipleOptions::default().with_order_descending_multi([true, false]),
        )
        .limit((o.ngrams + exclude.len()) as IdxSize)
        .collect()
        .ctx("frequent n-grams")?;
    let grams = strings(&df, "ngram")?;
    let counts = floats(&df, "prompts")?;
    Ok(grams
        .into_iter()
        .zip(counts)
        .filter(|(g, _)| !exclude.contains(g))
        .take(o.ngrams)
        .map(|(g, c)| (g, c.unwrap_or(0.0) as u64))
        .collect())
}

/// Every term's and frequent n-gram's effect on every rated criterion.
pub fn effects(f: &Frames, o: &EffectOptions) -> Result<Effects> {
    let mut terms: Vec<(String, String, &'static str)> = Vec::new();
    let mut seen = HashSet::new();
    for t in &o.terms {
        let norm = normalize_term(t);
        if norm.is_empty() {
            return Err(AnalysisError::Options(format!(
                "term `{t}` has no words (letters or digits)"
            )));
        }
        if seen.insert(norm.clone()) {
            terms.push((t.trim().to_string(), norm, "list"));
        }
    }
    // Every n-gram of every prompt, once, up to the longer of the n-gram limit and the longest
    // term.
    let longest = terms
        .iter()
        .map(|(_, n, _)| n.split(' ').count())
        .max()
        .unwrap_or(1)
        .max(o.ngram_max)
        .max(1);
    let grams = ngram_frame(f, longest)?.collect().ctx("n-grams")?;
    for (g, _) in frequent_ngrams(f, &grams, o, &seen)? {
        terms.push((g.clone(), g, "ngram"));
    }
    let n_prompts = f.prompts.height();

    // Which prompts contain which term.
    let term_frame = df!(
        "t" => (0..terms.len() as u32).collect::<Vec<_>>(),
        "ngram" => terms.iter().map(|(_, n, _)| n.as_str()).collect::<Vec<_>>(),
    )
    .ctx("terms")?;
    let presence = grams
        .lazy()
        .select([col("p"), col("ngram")])
        .join(
            term_frame.lazy(),
            [col("ngram")],
            [col("ngram")],
            JoinArgs::new(JoinType::Inner),
        )
        .select([col("t"), col("p")]);

    // Per prompt and criterion: sum and count of ratings.
    let mut aggs = Vec::new();
    for c in &f.rated {
        aggs.push(col(c.name()).sum().alias(format!("s_{}", c.name())));
        aggs.push(
            col(c.name())
                .count()
                .cast(DataType::Float64)
                .alias(format!("c_{}", c.name())),
        );
    }
    let wide = f
        .lazy()
        .group_by([col("p")])
        .agg(aggs)
        .collect()
        .ctx("prompt effects: per prompt")?;
    // One row per prompt and rated criterion: `p`, `ci`, `s` (sum of ratings), `c` (count).
    let parts: Vec<LazyFrame> = f
        .rated
        .iter()
        .map(|c| {
            wide.clone()
                .lazy()
                .select([
                    col("p"),
                    lit(c.index() as u32).cast(DataType::UInt32).alias("ci"),
                    col(format!("s_{}", c.name())).alias("s"),
                    col(format!("c_{}", c.name())).alias("c"),
                ])
                .filter(col("c").gt(lit(0.0)))
        })
        .collect();
    let pp = concat(parts, UnionArgs::default())
        .and_then(LazyFrame::collect)
        .ctx("prompt effects: per prompt")?;
    let per_prompt = pp.clone().lazy();
    // Point estimates as one query: sums over the prompts with each term, and totals.
    let totals = per_prompt
        .clone()
        .group_by([col("ci")])
        .agg([col("s").sum().alias("s_all"), col("c").sum().alias("c_all")]);
    let with = presence
        .clone()
        .join(
            per_prompt.clone(),
            [col("p")],
            [col("p")],
            JoinArgs::new(JoinType::Inner),
        )
        .group_by([col("t"), col("ci")])
        .agg([
            col("s").sum().alias("s_with"),
            col("c").sum().alias("c_with"),
        ]);
    let point = with
        .join(
            totals,
            [col("ci")],
            [col("ci")],
            JoinArgs::new(JoinType::Inner),
        )
        .select([
            col("t"),
            col("ci"),
            col("c_with"),
            (col("s_with") / col("c_with")).alias("mean_with"),
            ((col("s_all") - col("s_with")) / (col("c_all") - col("c_with"))).alias("mean_without"),
        ])
        .collect()
        .ctx("prompt effects")?;

    // Dense per-prompt sums for the bootstrap.
    let (pp_p, pp_c, pp_s, pp_n) = (
        floats(&pp, "p")?,
        floats(&pp, "ci")?,
        floats(&pp, "s")?,
        floats(&pp, "c")?,
    );
    let crit_pos = |ci: usize| f.rated.iter().position(|c| c.index() == ci);
    let k = f.rated.len();
    let mut sums = vec![vec![0.0f64; n_prompts]; k];
    let mut cnts = vec![vec![0.0f64; n_prompts]; k];
    for i in 0..pp.height() {
        if let (Some(p), Some(ci), Some(s), Some(n)) = (pp_p[i], pp_c[i], pp_s[i], pp_n[i])
            && let Some(c) = crit_pos(ci as usize)
        {
            sums[c][p as usize] = s;
            cnts[c][p as usize] = n;
        }
    }
    let pres = presence.collect().ctx("prompt effects: presence")?;
    let (pt, pprompt) = (floats(&pres, "t")?, floats(&pres, "p")?);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); terms.len()];
    for (t, p) in pt.iter().zip(&pprompt) {
        if let (Some(t), Some(p)) = (t, p) {
            members[*t as usize].push(*p as usize);
        }
    }
    for m in &mut members {
        m.sort_unstable();
        m.dedup();
    }
    let cis = bootstrap(&sums, &cnts, &members, o.resamples, o.seed);

    let (pt2, pci, pcw, pmw, pmo) = (
        floats(&point, "t")?,
        floats(&point, "ci")?,
        floats(&point, "c_with")?,
        floats(&point, "mean_with")?,
        floats(&point, "mean_without")?,
    );
    let mut effects = Vec::new();
    for (t, (display, _, source)) in terms.iter().enumerate() {
        let prompts = members[t].len() as u64;
        for (c, crit) in f.rated.iter().enumerate() {
            let row = (0..point.height())
                .find(|&i| pt2[i] == Some(t as f64) && pci[i] == Some(crit.index() as f64));
            let (n, mw, mo) = row.map_or((0, None, None), |i| {
                (pcw[i].unwrap_or(0.0) as u64, pmw[i], pmo[i])
            });
            let difference = match (mw, mo) {
                (Some(a), Some(b)) => Some(a - b),
                _ => None,
            };
            effects.push(Effect {
                term: display.clone(),
                source,
                criterion: *crit,
                prompts,
                judgments_with: n,
                mean_with: mw,
                mean_without: mo,
                difference,
                // An interval from one prompt (or all but one) only resamples that prompt's
                // multiplicity: leave it out.
                ci95: if difference.is_some() && prompts >= 2 && n_prompts as u64 - prompts >= 2 {
                    cis[t][c]
                } else {
                    None
                },
            });
        }
    }
    let table = effects_table(&effects)?;
    Ok(Effects { effects, table })
}

/// 95% percentile intervals of each term's difference per criterion, from `resamples` draws of
/// the prompts (`eval::bootstrap::draws`, so the stream is the one `rewardlab eval` uses);
/// resamples where a side is empty are left out.
///
/// Each draw becomes a count per prompt; the sums over a term's prompts then cost one pass over
/// its member list. Resamples are split between all cores, each drawn from its own place in the
/// stream ([`eval::bootstrap::resample_rng`]) and summed in prompt order, so the intervals do
/// not depend on the number of cores.
fn bootstrap(
    sums: &[Vec<f64>],
    cnts: &[Vec<f64>],
    members: &[Vec<usize>],
    resamples: usize,
    seed: u64,
) -> Vec<Vec<Option<[f64; 2]>>> {
    let n_prompts = sums.first().map_or(0, Vec::len);
    let k = sums.len();
    // Per prompt: the k sums then the k counts, contiguous.
    let mut data = vec![0.0f64; n_prompts * 2 * k];
    for p in 0..n_prompts {
        for c in 0..k {
            data[p * 2 * k + c] = sums[c][p];
            data[p * 2 * k + k + c] = cnts[c][p];
        }
    }
    // The figures of one resample, `[term][criterion]`.
    let one = |index: usize, w: &mut Vec<u32>| -> Vec<Vec<Option<f64>>> {
        w.clear();
        w.resize(n_prompts, 0);
        let mut rng = eval::bootstrap::resample_rng(n_prompts, seed, index);
        for _ in 0..n_prompts {
            w[rng.below(n_prompts)] += 1;
        }
        let mut total = vec![0.0f64; 2 * k];
        // No test for a zero count: a third of the prompts are not drawn, at random, and a
        // mispredicted branch costs more than the products it would skip (0 * v adds +0).
        for (row, &wp) in data.chunks_exact(2 * k).zip(w.iter()) {
            let x = f64::from(wp);
            total.iter_mut().zip(row).for_each(|(t, v)| *t += x * v);
        }
        members
            .iter()
            .map(|m| {
                let mut with = vec![0.0f64; 2 * k];
                for &p in m {
                    let x = f64::from(w[p]);
                    let row = &data[p * 2 * k..(p + 1) * 2 * k];
                    with.iter_mut().zip(row).for_each(|(t, v)| *t += x * v);
                }
                (0..k)
                    .map(|c| {
                        let (sw, nw) = (with[c], with[k + c]);
                        let (so, no) = (total[c] - sw, total[k + c] - nw);
                        (nw > 0.0 && no > 0.0).then(|| sw / nw - so / no)
                    })
                    .collect()
            })
            .collect()
    };
    let count = if n_prompts == 0 { 0 } else { resamples };
    // Each resample is drawn from its own index, so the split over threads changes nothing; the
    // weight buffer is reused within a thread.
    let results: Vec<Vec<Vec<Option<f64>>>> = (0..count)
        .into_par_iter()
        .map_init(Vec::new, |w, i| one(i, w))
        .collect();
    let mut values: Vec<Vec<Vec<f64>>> =
        vec![vec![Vec::with_capacity(resamples); k]; members.len()];
    for r in results {
        for (t, per_c) in r.into_iter().enumerate() {
            for (c, v) in per_c.into_iter().enumerate() {
                if let Some(v) = v {
                    values[t][c].push(v);
                }
            }
        }
    }
    values
        .into_iter()
        .map(|per_c| {
            per_c
                .into_iter()
                .map(|mut v| {
                    if v.is_empty() {
                        return None;
                    }
                    v.sort_by(f64::total_cmp);
                    Some([eval::percentile(&v, 2.5), eval::percentile(&v, 97.5)])
                })
                .collect()
        })
        .collect()
}

pub fn effects_table(effects: &[Effect]) -> Result<DataFrame> {
    df!(
        "term" => effects.iter().map(|e| e.term.as_str()).collect::<Vec<_>>(),
        "source" => effects.iter().map(|e| e.source).collect::<Vec<_>>(),
        "criterion" => effects.iter().map(|e| e.criterion.name()).collect::<Vec<_>>(),
        "prompts" => effects.iter().map(|e| e.prompts).collect::<Vec<_>>(),
        "judgments_with" => effects.iter().map(|e| e.judgments_with).collect::<Vec<_>>(),
        "mean_with" => effects.iter().map(|e| e.mean_with).collect::<Vec<_>>(),
        "mean_without" => effects.iter().map(|e| e.mean_without).collect::<Vec<_>>(),
        "difference" => effects.iter().map(|e| e.difference).collect::<Vec<_>>(),
        "ci_low" => effects.iter().map(|e| e.ci95.map(|c| c[0])).collect::<Vec<_>>(),
        "ci_high" => effects.iter().map(|e| e.ci95.map(|c| c[1])).collect::<Vec<_>>(),
    )
    .ctx("prompt effects table")
}
