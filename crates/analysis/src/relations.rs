//! Relations between labels: Spearman and Pearson correlation matrices between the criteria
//! (over judgments that rate both), and how rank tiers agree with ratings: per-ranking Kendall
//! tau-b between rank and rating (averaged and pooled, with `eval`'s tau-b) and how often a rank
//! contradicts the rating.

use annotations::Criterion;
use eval::correlation::KendallCounts;
use polars::prelude::*;

use crate::error::{Context, Result};
use crate::frames::Frames;
use crate::pairs::verdict;
use crate::util::{count_if, f64_at, u64_at};

#[derive(Clone, Debug)]
pub struct Correlations {
    /// The rated criteria, in order; the matrices are indexed by them.
    pub criteria: Vec<Criterion>,
    pub spearman: Vec<Vec<Option<f64>>>,
    pub pearson: Vec<Vec<Option<f64>>>,
    /// Judgments rating both criteria.
    pub n: Vec<Vec<u64>>,
    /// `criterion_a`, `criterion_b`, `n`, `spearman`, `pearson` for every ordered pair.
    pub table: DataFrame,
}

/// Spearman (average ranks, scipy's `spearmanr`) and Pearson correlation of every two rated
/// criteria over the judgments that rate both; `None` with fewer than two rated criteria.
pub fn correlations(f: &Frames) -> Result<Option<Correlations>> {
    let crit = &f.rated;
    if crit.len() < 2 {
        return Ok(None);
    }
    let mut exprs = Vec::new();
    let nulls = |c: &Criterion| f.judgments.column(c.name()).map_or(1, |c| c.null_count());
    for (i, a) in crit.iter().enumerate() {
        for b in &crit[i + 1..] {
            let both = col(a.name()).is_not_null().and(col(b.name()).is_not_null());
            // Pairwise-complete rows; when neither column has a null, all rows (no filter).
            let (x, y) = if nulls(a) == 0 && nulls(b) == 0 {
                (col(a.name()), col(b.name()))
            } else {
                (
                    col(a.name()).filter(both.clone()),
                    col(b.name()).filter(both.clone()),
                )
            };
            let key = format!("{}|{}", a.name(), b.name());
            exprs.push(count_if(both).alias(format!("n|{key}")));
            let spearman = if nulls(a) == 0 && nulls(b) == 0 {
                pearson_corr(
                    col(format!("rank_{}", a.name())),
                    col(format!("rank_{}", b.name())),
                )
            } else {
                spearman_rank_corr(x.clone(), y.clone(), false)
            };
            exprs.push(spearman.alias(format!("s|{key}")));
            exprs.push(pearson_corr(x, y).alias(format!("p|{key}")));
        }
    }
    // Criteria without nulls are ranked once (average ranks), and Spearman is the Pearson
    // correlation of the ranks: twelve sorts of the column pairs become four.
    let ranks: Vec<Expr> = crit
        .iter()
        .filter(|c| nulls(c) == 0)
        .map(|c| {
            col(c.name())
                .rank(
                    RankOptions {
                        method: RankMethod::Average,
                        descending: false,
                    },
                    None,
                )
                .cast(DataType::Float64)
                .alias(format!("rank_{}", c.name()))
        })
        .collect();
    let row = f
        .lazy()
        .with_columns(ranks)
        .select(exprs)
        .collect()
        .ctx("correlations")?;
    let k = crit.len();
    let mut spearman = vec![vec![None; k]; k];
    let mut pearson = vec![vec![None; k]; k];
    let mut n = vec![vec![0u64; k]; k];
    let (mut ta, mut tb, mut tn, mut ts, mut tp) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..k {
        for j in 0..k {
            let (s, p, m) = if i == j {
                let m = f
                    .judgments
                    .column(crit[i].name())
                    .map(|c| (c.len() - c.null_count()) as u64)
                    .unwrap_or(0);
                (Some(1.0), Some(1.0), m)
            } else {
                let (lo, hi) = (i.min(j), i.max(j));
                let key = format!("{}|{}", crit[lo].name(), crit[hi].name());
                (
                    f64_at(&row, &format!("s|{key}"), 0),
                    f64_at(&row, &format!("p|{key}"), 0),
                    u64_at(&row, &format!("n|{key}"), 0),
                )
            };
            spearman[i][j] = s;
            pearson[i][j] = p;
            n[i][j] = m;
            ta.push(crit[i].name());
            tb.push(crit[j].name());
            tn.push(m);
            ts.push(s);
            tp.push(p);
        }
    }
    let table = df!(
        "criterion_a" => ta, "criterion_b" => tb, "n" => tn, "spearman" => ts, "pearson" => tp
    )
    .ctx("correlation table")?;
    Ok(Some(Correlations {
        criteria: crit.clone(),
        spearman,
        pearson,
        n,
        table,
    }))
}

/// Rank tiers against one criterion's ratings.
#[derive(Clone, Debug, PartialEq)]
pub struct RankVsRating {
    pub criterion: Criterion,
    /// Rankings (prompt x annotator) with a defined tau-b.
    pub rankings: usize,
    /// Mean over rankings of Kendall tau-b between minus the rank and the rating.
    pub tau_b_mean: Option<f64>,
    /// tau-b over every ranking's pairs pooled (counts summed, as `eval`'s pooled tau-b).
    pub tau_b_pooled: Option<f64>,
    /// Strict rank pairs (different tiers) with both ratings.
    pub strict_pairs: u64,
    /// Share of strict rank pairs whose ratings order them the same way.
    pub agree_rate: Option<f64>,
    /// Share of strict rank pairs whose ratings order them the opposite way.
    pub contradiction_rate: Option<f64>,
    /// Share of strict rank pairs whose ratings tie.
    pub rating_tie_rate: Option<f64>,
}

/// Rank vs rating for every rated criterion (the ratings of the same judgment as the rank).
/// Pairs are a ranking's pairs (one annotator, one prompt), so tau is computed per ranking;
/// with one annotator per prompt that is per prompt.
pub fn rank_vs_rating(f: &Frames, pairs: &DataFrame) -> Result<Vec<RankVsRating>> {
    let per_ranking = match ranking_counts_in_runs(f, pairs)? {
        Some(k) => k,
        None => ranking_counts_grouped(f, pairs)?,
    };
    let mut out = Vec::new();
    for (&c, counts) in f.rated.iter().zip(per_ranking) {
        let mut pooled = KendallCounts::default();
        let mut taus = Vec::new();
        for k in counts {
            if let Some(t) = k.tau_b() {
                taus.push(t);
            }
            pooled.concordant += k.concordant;
            pooled.discordant += k.discordant;
            pooled.pairs += k.pairs;
            pooled.tied_x += k.tied_x;
            pooled.tied_y += k.tied_y;
        }
        let strict = pooled.pairs - pooled.tied_x;
        // Among strict rank pairs: concordant = agree, discordant = contradict, the rest tie in
        // the rating.
        let share = |k: u64| (strict > 0).then(|| k as f64 / strict as f64);
        let rating_ties = strict - pooled.concordant - pooled.discordant;
        out.push(RankVsRating {
            criterion: c,
            rankings: taus.len(),
            tau_b_mean: (!taus.is_empty()).then(|| taus.iter().sum::<f64>() / taus.len() as f64),
            tau_b_pooled: pooled.tau_b(),
            strict_pairs: strict,
            agree_rate: share(pooled.concordant),
            contradiction_rate: share(pooled.discordant),
            rating_tie_rate: share(rating_ties),
        });
    }
    Ok(out)
}

/// Per rated criterion, the Kendall counts of every ranking, when the pair frame comes in runs
/// of one ranking ([`crate::pairs::pairs`] writes it so): one pass over the runs. `None` when
/// it does not.
fn ranking_counts_in_runs(
    f: &Frames,
    pairs: &DataFrame,
) -> Result<Option<Vec<Vec<KendallCounts>>>> {
    let pa: Vec<u64> = pairs
        .column("pa")
        .and_then(|c| {
            c.u64()
                .map(|ca| ca.iter().map(|v| v.unwrap_or(0)).collect())
        })
        .ctx("rank vs rating")?;
    if !pa.windows(2).all(|w| w[0] <= w[1]) {
        return Ok(None);
    }
    let verdicts = |label: &str| -> Result<Vec<Option<i32>>> {
        pairs
            .column(&verdict(label))
            .and_then(|c| c.i32().map(|ca| ca.iter().collect()))
            .ctx("rank vs rating")
    };
    let vr = verdicts("rank")?;
    let mut out = Vec::new();
    for c in &f.rated {
        let vc = verdicts(c.name())?;
        let mut counts = Vec::new();
        let mut i = 0;
        while i < pa.len() {
            let mut j = i;
            let mut k = KendallCounts::default();
            let mut any_rank = false;
            while j < pa.len() && pa[j] == pa[i] {
                if let Some(r) = vr[j] {
                    any_rank = true;
                    if let Some(v) = vc[j] {
                        k.pairs += 1;
                        k.concordant += u64::from(r * v > 0);
                        k.discordant += u64::from(r * v < 0);
                        k.tied_x += u64::from(r == 0);
                        k.tied_y += u64::from(v == 0);
                    }
                }
                j += 1;
            }
            // A ranking takes part where one of its pairs has a rank verdict (the grouped
            // query's filter).
            if any_rank {
                counts.push(k);
            }
            i = j;
        }
        out.push(counts);
    }
    Ok(Some(out))
}

/// [`ranking_counts_in_runs`] for a pair frame in any order: one group-by over the pairs for
/// every criterion.
fn ranking_counts_grouped(f: &Frames, pairs: &DataFrame) -> Result<Vec<Vec<KendallCounts>>> {
    let vr = col("v_rank");
    // Indicator columns first, then plain sums (polars' fast path for grouped sums).
    let mut indicators = Vec::new();
    let mut sums = Vec::new();
    for c in &f.rated {
        let vc = col(verdict(c.name()));
        let both = vr.clone().is_not_null().and(vc.clone().is_not_null());
        let n = c.name();
        for (name, e) in [
            (format!("pairs_{n}"), both.clone()),
            (
                format!("concordant_{n}"),
                both.clone().and((vr.clone() * vc.clone()).gt(lit(0))),
            ),
            (
                format!("discordant_{n}"),
                both.clone().and((vr.clone() * vc.clone()).lt(lit(0))),
            ),
            (
                format!("tied_rank_{n}"),
                both.clone().and(vr.clone().eq(lit(0))),
            ),
            (format!("tied_rating_{n}"), both.and(vc.eq(lit(0)))),
        ] {
            indicators.push(e.cast(DataType::UInt32).alias(name.as_str()));
            sums.push(col(name.as_str()).sum());
        }
    }
    let groups = pairs
        .clone()
        .lazy()
        .filter(vr.is_not_null())
        .with_columns(indicators)
        .group_by([col("pa")])
        .agg(sums)
        .collect()
        .ctx("rank vs rating")?;
    let col_u64 = |name: &str| -> Result<Vec<u64>> {
        let c = groups
            .column(name)
            .and_then(|c| c.cast(&DataType::UInt64))
            .ctx(name)?;
        Ok(c.u64().ctx(name)?.iter().map(|v| v.unwrap_or(0)).collect())
    };
    let mut out = Vec::new();
    for &c in &f.rated {
        let n = c.name();
        let (np, cc, dd, tx, ty) = (
            col_u64(&format!("pairs_{n}"))?,
            col_u64(&format!("concordant_{n}"))?,
            col_u64(&format!("discordant_{n}"))?,
            col_u64(&format!("tied_rank_{n}"))?,
            col_u64(&format!("tied_rating_{n}"))?,
        );
        out.push(
            (0..np.len())
                .map(|i| KendallCounts {
                    concordant: cc[i],
                    discordant: dd[i],
                    pairs: np[i],
                    tied_x: tx[i],
                    tied_y: ty[i],
                })
                .collect(),
        );
    }
    Ok(out)
}

/// The rank-vs-rating figures as a table.
pub fn rank_vs_rating_table(rows: &[RankVsRating]) -> Result<DataFrame> {
    df!(
        "criterion" => rows.iter().map(|r| r.criterion.name()).collect::<Vec<_>>(),
        "rankings" => rows.iter().map(|r| r.rankings as u64).collect::<Vec<_>>(),
        "tau_b_mean" => rows.iter().map(|r| r.tau_b_mean).collect::<Vec<_>>(),
        "tau_b_pooled" => rows.iter().map(|r| r.tau_b_pooled).collect::<Vec<_>>(),
        "strict_pairs" => rows.iter().map(|r| r.strict_pairs).collect::<Vec<_>>(),
        "agree_rate" => rows.iter().map(|r| r.agree_rate).collect::<Vec<_>>(),
        "contradiction_rate" => rows.iter().map(|r| r.contradiction_rate).collect::<Vec<_>>(),
        "rating_tie_rate" => rows.iter().map(|r| r.rating_tie_rate).collect::<Vec<_>>(),
    )
    .ctx("rank vs rating table")
}
