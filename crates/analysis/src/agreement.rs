//! Agreement between annotators, for the rank tiers and for each rated criterion, wherever two
//! named annotators judged the same images:
//!
//! * **pairwise agreement**: over every pair of images of a prompt and every two annotators who
//!   both judged both images, the share of comparisons where both state a strict preference and
//!   it is the same (ties left out; `with ties`: the share of all comparisons with the same
//!   verdict, a tie matching a tie). From ratings the verdict is the higher rating;
//! * **Krippendorff's alpha** with the ordinal metric (Krippendorff 2011, "Computing
//!   Krippendorff's alpha-reliability"): units are generations, values the rank tiers or ratings
//!   given to them; `exact agreement` is the share of pairable values that are equal;
//! * the **leave-one-out human ceiling** of `eval` (each annotator's strict pairs against the
//!   mean rank of the others), on ratings too, read as rankings (a higher rating is a better
//!   tier), so a two-rater Likert study such as TIFA gets its ceiling.

use std::collections::HashMap;

use eval::{RankedPrompt, Ranking};
use polars::prelude::*;
use rayon::prelude::*;

use crate::error::{Context, Result};
use crate::frames::{ANONYMOUS, Frames};
use crate::pairs::verdict;
use crate::util::floats;

/// One label's agreement figures.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelAgreement {
    /// `rank` or a criterion name.
    pub label: String,
    /// Named annotators with at least one such label.
    pub annotators: usize,
    /// Generations that two or more named annotators labelled.
    pub units: u64,
    /// (image pair, annotator pair) comparisons.
    pub comparisons: u64,
    /// Comparisons where both annotators state a strict preference.
    pub strict_comparisons: u64,
    pub pairwise_agreement: Option<f64>,
    pub pairwise_agreement_with_ties: Option<f64>,
    pub krippendorff_alpha: Option<f64>,
    pub exact_agreement: Option<f64>,
    /// Leave-one-out human ceiling and the strict pairs it is computed on.
    pub loo_ceiling: Option<f64>,
    pub loo_pairs: usize,
}

#[derive(Clone, Debug)]
pub struct Agreement {
    pub labels: Vec<LabelAgreement>,
    /// The labels' figures as a table.
    pub table: DataFrame,
    /// `label`, `annotator_a`, `annotator_b`, `comparisons`, `strict_comparisons`,
    /// `pairwise_agreement`, `pairwise_agreement_with_ties`.
    pub annotator_pairs: DataFrame,
    /// `label`, `annotator`, `loo_pairs`, `loo_accuracy`: each annotator against the others.
    pub annotators: DataFrame,
}

impl Agreement {
    /// The label the headline figures come from: the rank tiers when several annotators ranked
    /// the same images, else the first criterion they rated in common.
    pub fn headline(&self) -> Option<&LabelAgreement> {
        self.labels.iter().find(|l| l.units > 0)
    }
}

/// Krippendorff's alpha (ordinal) and the exact agreement from the coincidence matrix: `values`
/// sorted ascending and `o[c][k]` the coincidences of value `c` with value `k`.
pub fn alpha_ordinal(o: &[Vec<f64>]) -> (Option<f64>, Option<f64>) {
    let k = o.len();
    let nc: Vec<f64> = o.iter().map(|row| row.iter().sum()).collect();
    let n: f64 = nc.iter().sum();
    if n <= 1.0 {
        return (None, None);
    }
    let exact = (0..k).map(|c| o[c][c]).sum::<f64>() / n;
    // Ordinal metric: delta²(c, k) = (sum of n_g for g from c to k - (n_c + n_k) / 2)².
    let delta2 = |c: usize, d: usize| {
        let (lo, hi) = (c.min(d), c.max(d));
        let s: f64 = nc[lo..=hi].iter().sum::<f64>() - (nc[lo] + nc[hi]) / 2.0;
        s * s
    };
    let (mut observed, mut expected) = (0.0, 0.0);
    for c in 0..k {
        for d in 0..k {
            let w = delta2(c, d);
            observed += o[c][d] * w;
            expected += nc[c] * nc[d] * w;
        }
    }
    let alpha = (expected > 0.0).then(|| 1.0 - (n - 1.0) * observed / expected);
    (alpha, Some(exact))
}

/// The coincidence matrix of each label (a column of the judgments), named annotators only:
/// `(units, o)` per label, units being the generations that two or more annotators labelled.
///
/// Polars selects each label's named, non-null judgments; the judgment frame is ordered by
/// generation ([`Frames::judgments`]), so a unit's values are one run of rows and the
/// coincidences (products of a unit's few value counts) are accumulated in one pass over the
/// run, which is several times faster than a grouped self-join and gives the same matrix.
fn coincidences(f: &Frames, labels: &[String]) -> Result<Vec<(u64, Vec<Vec<f64>>)>> {
    let mut out = Vec::new();
    for label in labels {
        let df = f
            .lazy()
            .filter(
                col("a")
                    .neq(lit(ANONYMOUS))
                    .and(col(label.as_str()).is_not_null()),
            )
            .select([
                col("g"),
                col(label.as_str()).cast(DataType::Float64).alias("value"),
            ])
            .collect()
            .ctx("Krippendorff's alpha")?;
        let g = floats(&df, "g")?;
        let value: Vec<f64> = floats(&df, "value")?.into_iter().flatten().collect();
        if value.len() != g.len() {
            // a NaN slipped through; it takes no part
            return Ok(labels.iter().map(|_| (0, Vec::new())).collect());
        }
        let mut values = value.clone();
        values.sort_by(f64::total_cmp);
        values.dedup();
        let pos = |v: f64| values.binary_search_by(|x| x.total_cmp(&v)).unwrap_or(0);
        let mut o = vec![vec![0.0; values.len()]; values.len()];
        let mut units = 0u64;
        let mut counts: Vec<(usize, f64)> = Vec::new();
        let mut i = 0;
        while i < g.len() {
            let mut j = i;
            while j < g.len() && g[j] == g[i] {
                j += 1;
            }
            let m = (j - i) as f64;
            if m >= 2.0 {
                units += 1;
                counts.clear();
                for &v in &value[i..j] {
                    let c = pos(v);
                    match counts.iter_mut().find(|(k, _)| *k == c) {
                        Some((_, n)) => *n += 1.0,
                        None => counts.push((c, 1.0)),
                    }
                }
                for &(c, nc) in &counts {
                    for &(k, nk) in &counts {
                        o[c][k] += if c == k { nc * (nc - 1.0) } else { nc * nk } / (m - 1.0);
                    }
                }
            }
            i = j;
        }
        out.push((units, o));
    }
    Ok(out)
}

/// A verdict that is null in the pair frame (a judgment without the label).
const MISSING: i8 = i8::MIN;

/// Pairwise agreement counts per annotator pair and label: `a`, `a_b` and for each label `L`
/// the columns `n_L` (comparisons), `s_L` (both strict), `as_L` (both strict, same), `ag_L`
/// (same verdict, ties included).
///
/// The named annotators' pairs are ordered by image pair; the comparisons of an image pair are
/// then the pairs of rows within its run, counted in one pass (a self-join on the image pair
/// would materialise every ordered annotator pair first, nine rows for three annotators).
fn annotator_pairs(pairs: &DataFrame, labels: &[String]) -> Result<DataFrame> {
    // Without nulls (the pair frame has none in its id columns) a column is read without the
    // per-value validity check.
    let u32s = |c: &str| -> Result<Vec<u32>> {
        let ca = pairs
            .column(c)
            .and_then(|c| c.u32().cloned())
            .ctx("pairwise agreement")?;
        Ok(if ca.null_count() == 0 {
            ca.into_no_null_iter().collect()
        } else {
            ca.iter().map(|v| v.unwrap_or(ANONYMOUS)).collect()
        })
    };
    let (p, a) = (u32s("p")?, u32s("a")?);
    let gg: Vec<u64> = {
        let ca = pairs
            .column("gg")
            .and_then(|c| c.u64().cloned())
            .ctx("pairwise agreement")?;
        if ca.null_count() == 0 {
            ca.into_no_null_iter().collect()
        } else {
            ca.iter().map(|v| v.unwrap_or(0)).collect()
        }
    };
    // Verdicts as one byte each (-1, 0, 1, or [`MISSING`]): five labels of three million pairs
    // are read many times below, and `Option<i32>` would take eight bytes each.
    let verdicts: Vec<Vec<i8>> = labels
        .iter()
        .map(|l| {
            let ca = pairs
                .column(&verdict(l))
                .and_then(|c| c.i32().cloned())
                .ctx("pairwise agreement")?;
            let byte = |v: i32| v.clamp(-1, 1) as i8;
            Ok(if ca.null_count() == 0 {
                ca.into_no_null_iter().map(byte).collect()
            } else {
                ca.iter().map(|v| v.map_or(MISSING, byte)).collect()
            })
        })
        .collect::<Result<_>>()?;
    // The named annotators' pairs ordered by image pair. The pair frame comes in runs of one
    // prompt ([`crate::pairs::pairs`]) and an image pair belongs to one prompt, so sorting each
    // prompt's run is enough (a sort of the whole frame otherwise). The rows are then read
    // through `order`, within one prompt's run at a time, rather than copied into that order.
    let mut order: Vec<usize> = (0..gg.len()).filter(|&i| a[i] != ANONYMOUS).collect();
    if p.windows(2).all(|w| w[0] <= w[1]) {
        let mut s = 0;
        while s < order.len() {
            let mut e = s;
            while e < order.len() && p[order[e]] == p[order[s]] {
                e += 1;
            }
            order[s..e].sort_unstable_by_key(|&i| gg[i]);
            s = e;
        }
    } else {
        order.sort_unstable_by_key(|&i| gg[i]);
    }
    let nl = labels.len();
    // Counts per annotator pair: a dense table while it is small (60 annotators: 3,600 pairs),
    // a map beyond.
    let n_ann = a
        .iter()
        .filter(|&&x| x != ANONYMOUS)
        .max()
        .map_or(0, |&m| m as usize + 1);
    let dense = n_ann <= 2048;
    let mut table = vec![0u64; if dense { n_ann * n_ann * 4 * nl } else { 0 }];
    let mut counts: HashMap<(u32, u32), Vec<u64>> = Default::default();
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && gg[order[j]] == gg[order[i]] {
            j += 1;
        }
        for x in i..j {
            let rx = order[x];
            for &ry in &order[x + 1..j] {
                if a[rx] == a[ry] {
                    continue;
                }
                let (lo, hi, first, second) = if a[rx] < a[ry] {
                    (a[rx], a[ry], rx, ry)
                } else {
                    (a[ry], a[rx], ry, rx)
                };
                let c = if dense {
                    let at = (lo as usize * n_ann + hi as usize) * 4 * nl;
                    &mut table[at..at + 4 * nl]
                } else {
                    counts
                        .entry((lo, hi))
                        .or_insert_with(|| vec![0; 4 * nl])
                        .as_mut_slice()
                };
                for (l, v) in verdicts.iter().enumerate() {
                    let (p, q) = (v[first], v[second]);
                    if p == MISSING || q == MISSING {
                        continue;
                    }
                    c[4 * l] += 1;
                    let strict = p != 0 && q != 0;
                    c[4 * l + 1] += u64::from(strict);
                    c[4 * l + 2] += u64::from(strict && p == q);
                    c[4 * l + 3] += u64::from(p == q);
                }
            }
        }
        i = j;
    }
    if dense {
        for lo in 0..n_ann {
            for hi in lo + 1..n_ann {
                let at = (lo * n_ann + hi) * 4 * nl;
                let c = &table[at..at + 4 * nl];
                if c.iter().any(|&x| x > 0) {
                    counts.insert((lo as u32, hi as u32), c.to_vec());
                }
            }
        }
    }
    let mut keys: Vec<(u32, u32)> = counts.keys().copied().collect();
    keys.sort_unstable();
    let mut columns = vec![
        Column::new("a".into(), keys.iter().map(|k| k.0).collect::<Vec<_>>()),
        Column::new("a_b".into(), keys.iter().map(|k| k.1).collect::<Vec<_>>()),
    ];
    for (l, label) in labels.iter().enumerate() {
        for (k, prefix) in ["n", "s", "as", "ag"].iter().enumerate() {
            columns.push(Column::new(
                format!("{prefix}_{label}").into(),
                keys.iter()
                    .map(|key| counts[key][4 * l + k])
                    .collect::<Vec<u64>>(),
            ));
        }
    }
    DataFrame::new_infer_height(columns).ctx("pairwise agreement")
}

/// Rankings of one label per prompt, named annotators only, as `eval` reads them: rank tiers as
/// they are, ratings as tiers `max + 1 - rating` (a higher rating is a better tier).
fn ranked_prompts(f: &Frames, label: &str) -> Result<Vec<RankedPrompt>> {
    let value = if label == "rank" {
        col("rank")
    } else {
        lit(f64::from(f.scale.max) + 1.0) - col(label)
    };
    let df = f
        .lazy()
        .filter(col("a").neq(lit(ANONYMOUS)).and(col(label).is_not_null()))
        .select([col("p"), col("g"), col("a"), value.alias("tier")])
        // Tiers must be positive; a rating above the scale (a validation error) takes no part.
        // The rows stay ordered by prompt ([`Frames::judgments`]).
        .filter(col("tier").gt(lit(0.0)))
        .collect()
        .ctx("leave-one-out ceiling")?;
    let ids = |c: &str| -> Result<Vec<u32>> {
        df.column(c)
            .and_then(|x| {
                x.u32()
                    .map(|ca| ca.iter().map(|v| v.unwrap_or(0)).collect())
            })
            .ctx("leave-one-out ceiling")
    };
    let (p, g, a) = (ids("p")?, ids("g")?, ids("a")?);
    let t = floats(&df, "tier")?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        let mut j = i;
        while j < p.len() && p[j] == p[i] {
            j += 1;
        }
        // Rows come ordered by generation within the prompt: a new generation is the next
        // position.
        let mut position = Vec::with_capacity(j - i);
        let mut images = 0usize;
        for k in i..j {
            if k > i && g[k] != g[k - 1] {
                images += 1;
            }
            position.push(images);
        }
        let images = images + 1;
        let mut rankings: Vec<Ranking> = Vec::new();
        for k in i..j {
            let Some(tv) = t[k] else { continue };
            let annotator = Some(a[k] as usize);
            let r = match rankings.iter().position(|r| r.annotator == annotator) {
                Some(r) => r,
                None => {
                    rankings.push(Ranking {
                        annotator,
                        ranks: vec![None; images],
                    });
                    rankings.len() - 1
                }
            };
            let slot = &mut rankings[r].ranks[position[k - i]];
            if slot.is_none() {
                *slot = Some(tv);
            }
        }
        if rankings.len() >= 2 {
            out.push(RankedPrompt::new(vec![0.0; images], rankings)?);
        }
        i = j;
    }
    Ok(out)
}

/// A label's leave-one-out ceiling, its strict pairs, and each annotator's (right, pairs).
type Loo = (Option<f64>, usize, Vec<(usize, (usize, usize))>);

/// The leave-one-out figures of one label, from `eval`'s agreement counts (those behind
/// `eval::human_ceiling`): per annotator, their strict pairs against the others' mean tier; the
/// ceiling pools them (each pair belongs to one annotator, so the sums are the ceiling's).
fn leave_one_out(f: &Frames, label: &str) -> Result<Loo> {
    let prompts = ranked_prompts(f, label)?;
    let mut per: HashMap<usize, (usize, usize)> = HashMap::new();
    for p in &prompts {
        // One ranking per annotator and prompt ([`ranked_prompts`]), so a ranking's counts are
        // its annotator's.
        let counts = eval::annotators::ceiling_counts_by_ranking(p);
        for (r, (right, n)) in p.rankings().iter().zip(counts) {
            let Some(k) = r.annotator else { continue };
            let e = per.entry(k).or_default();
            e.0 += right;
            e.1 += n;
        }
    }
    let (right, n) = per
        .values()
        .fold((0, 0), |acc, &(r, n)| (acc.0 + r, acc.1 + n));
    let mut per: Vec<(usize, (usize, usize))> = per.into_iter().collect();
    per.sort_unstable();
    Ok(((n > 0).then(|| right as f64 / n as f64), n, per))
}

/// Every agreement figure, or `None` when no two named annotators judged the same image.
pub fn agreement(f: &Frames, pairs: &DataFrame) -> Result<Option<Agreement>> {
    if !f.has_annotators() {
        return Ok(None);
    }
    let mut labels_in = Vec::new();
    if f.ranked {
        labels_in.push("rank".to_string());
    }
    labels_in.extend(f.rated.iter().map(|c| c.name().to_string()));
    let mut labels = Vec::new();
    let mut pair_tables = Vec::new();
    let (mut al, mut aa, mut an, mut aacc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let coinc = coincidences(f, &labels_in)?;
    let by_pair_all = annotator_pairs(pairs, &labels_in)?;
    // The leave-one-out figures of the labels with units, side by side.
    let with_units: Vec<&String> = labels_in
        .iter()
        .zip(&coinc)
        .filter(|(_, (units, _))| *units > 0)
        .map(|(l, _)| l)
        .collect();
    let loo: Vec<Result<Loo>> = with_units.par_iter().map(|l| leave_one_out(f, l)).collect();
    let mut loo = loo.into_iter();
    for (label, (units, o)) in labels_in.into_iter().zip(coinc) {
        if units == 0 {
            continue;
        }
        let (alpha, exact) = alpha_ordinal(&o);
        let by_pair = by_pair_all
            .clone()
            .lazy()
            .select([
                col("a"),
                col("a_b"),
                col(format!("n_{label}")).alias("comparisons"),
                col(format!("s_{label}")).alias("strict_comparisons"),
                col(format!("as_{label}")).alias("agree_strict"),
                col(format!("ag_{label}")).alias("agree"),
            ])
            .filter(col("comparisons").gt(lit(0)))
            .collect()
            .ctx("pairwise agreement")?;
        let sum = |c: &str| -> u64 {
            by_pair
                .column(c)
                .ok()
                .and_then(|c| c.as_materialized_series().sum::<u64>().ok())
                .unwrap_or(0)
        };
        let (comparisons, strict, agree_strict, agree) = (
            sum("comparisons"),
            sum("strict_comparisons"),
            sum("agree_strict"),
            sum("agree"),
        );
        let annotators = f
            .lazy()
            .filter(col("a").neq(lit(ANONYMOUS)).and(col(&label).is_not_null()))
            .select([col("a").n_unique().alias("n")])
            .collect()
            .ctx("annotators")?;
        let (ceiling, loo_pairs, per) = match loo.next() {
            Some(x) => x?,
            None => (None, 0, Vec::new()),
        };
        for (k, (right, n)) in per {
            al.push(label.clone());
            aa.push(f.annotators.get(k).cloned().unwrap_or_default());
            an.push(n as u64);
            aacc.push((n > 0).then(|| right as f64 / n as f64));
        }
        let names = |c: &str| -> Result<Vec<String>> {
            Ok(floats(&by_pair, c)?
                .into_iter()
                .map(|v| {
                    v.and_then(|v| f.annotators.get(v as usize).cloned())
                        .unwrap_or_default()
                })
                .collect())
        };
        let share = |a: &str, b: &str| -> Result<Vec<Option<f64>>> {
            let (x, y) = (floats(&by_pair, a)?, floats(&by_pair, b)?);
            Ok(x.iter()
                .zip(&y)
                .map(|(x, y)| match (x, y) {
                    (Some(x), Some(y)) if *y > 0.0 => Some(x / y),
                    _ => None,
                })
                .collect())
        };
        let n_rows = by_pair.height();
        pair_tables.push(
            df!(
                "label" => vec![label.clone(); n_rows],
                "annotator_a" => names("a")?,
                "annotator_b" => names("a_b")?,
                "comparisons" => by_pair.column("comparisons").ctx("comparisons")?.as_materialized_series().clone(),
                "strict_comparisons" => by_pair.column("strict_comparisons").ctx("comparisons")?.as_materialized_series().clone(),
                "pairwise_agreement" => share("agree_strict", "strict_comparisons")?,
                "pairwise_agreement_with_ties" => share("agree", "comparisons")?,
            )
            .ctx("pairwise agreement table")?,
        );
        labels.push(LabelAgreement {
            label,
            annotators: crate::util::u64_at(&annotators, "n", 0) as usize,
            units,
            comparisons,
            strict_comparisons: strict,
            pairwise_agreement: (strict > 0).then(|| agree_strict as f64 / strict as f64),
            pairwise_agreement_with_ties: (comparisons > 0)
                .then(|| agree as f64 / comparisons as f64),
            krippendorff_alpha: alpha,
            exact_agreement: exact,
            loo_ceiling: ceiling,
            loo_pairs,
        });
    }
    if labels.is_empty() {
        return Ok(None);
    }
    let table = df!(
        "label" => labels.iter().map(|l| l.label.clone()).collect::<Vec<_>>(),
        "annotators" => labels.iter().map(|l| l.annotators as u64).collect::<Vec<_>>(),
        "units" => labels.iter().map(|l| l.units).collect::<Vec<_>>(),
        "comparisons" => labels.iter().map(|l| l.comparisons).collect::<Vec<_>>(),
        "pairwise_agreement" => labels.iter().map(|l| l.pairwise_agreement).collect::<Vec<_>>(),
        "pairwise_agreement_with_ties" => labels.iter().map(|l| l.pairwise_agreement_with_ties).collect::<Vec<_>>(),
        "krippendorff_alpha" => labels.iter().map(|l| l.krippendorff_alpha).collect::<Vec<_>>(),
        "exact_agreement" => labels.iter().map(|l| l.exact_agreement).collect::<Vec<_>>(),
        "loo_ceiling" => labels.iter().map(|l| l.loo_ceiling).collect::<Vec<_>>(),
        "loo_pairs" => labels.iter().map(|l| l.loo_pairs as u64).collect::<Vec<_>>(),
    )
    .ctx("agreement table")?;
    let annotator_pairs = concat(
        pair_tables
            .into_iter()
            .map(DataFrame::lazy)
            .collect::<Vec<_>>(),
        UnionArgs::default(),
    )
    .and_then(LazyFrame::collect)
    .ctx("pairwise agreement table")?;
    let annotators = df!(
        "label" => al, "annotator" => aa, "loo_pairs" => an, "loo_accuracy" => aacc
    )
    .ctx("per-annotator ceiling")?;
    Ok(Some(Agreement {
        labels,
        table,
        annotator_pairs,
        annotators,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_of_perfect_agreement_is_one() {
        // two values, each unit agreeing: o = diag
        let (a, e) = alpha_ordinal(&[vec![4.0, 0.0], vec![0.0, 6.0]]);
        assert_eq!(a, Some(1.0));
        assert_eq!(e, Some(1.0));
        assert_eq!(alpha_ordinal(&[vec![2.0]]).0, None);
    }
}
