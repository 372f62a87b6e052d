//! Within-ranking pairs: every two generations of a prompt judged by the same annotator (one
//! anonymous "annotator" per prompt where the data has no ids), with each label's verdict on the
//! pair. Ties, rank-vs-rating consistency and annotator agreement all read this one frame.
//!
//! A verdict `v_L` is +1 when the first generation (`g`, the lower index) is better under label
//! `L`, -1 when the second (`g_r`) is, 0 for a tie and null when either judgment lacks `L`. For
//! ranks better means a lower tier; for ratings a higher rating.

use annotations::Criterion;
use polars::prelude::*;

use crate::error::{Context, Result};
use crate::util::floats;

/// Name of a label's verdict column.
pub fn verdict(label: &str) -> String {
    format!("v_{label}")
}

/// The pair frame of the judgments: `pa`, `p`, `a`, `g`, `g_r`, `gg`, `v_rank` and
/// `v_<criterion>` for each rated criterion. A generation judged twice by one annotator (a
/// validation error) never pairs with itself.
///
/// The judgment frame is ordered by prompt and then generation ([`crate::frames::Frames`]), so
/// a prompt's rows are one run: its rows are grouped by annotator (keeping the generation order)
/// and every two rows of one ranking with `g < g_r` make a pair, in one pass without the
/// self-join on the ranking (which would materialise every ordered pair first).
pub fn pairs(judgments: &DataFrame, rated: &[Criterion]) -> Result<DataFrame> {
    let ids = |c: &str| -> Result<Vec<u32>> {
        let s = judgments.column(c).ctx("within-ranking pairs")?;
        let ca = s.u32().ctx("within-ranking pairs")?;
        Ok(ca.iter().map(|v| v.unwrap_or(0)).collect())
    };
    let (p, g, a) = (ids("p")?, ids("g")?, ids("a")?);
    let mut labels = vec![floats(judgments, "rank")?];
    for c in rated {
        labels.push(floats(judgments, c.name())?);
    }
    let n = p.len();
    let mut out_p = Vec::new();
    let mut out_a = Vec::new();
    let mut out_g = Vec::new();
    let mut out_gr = Vec::new();
    let mut out_v: Vec<Vec<Option<i32>>> = labels.iter().map(|_| Vec::new()).collect();
    let mut order: Vec<(u32, usize)> = Vec::new();
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j < n && p[j] == p[i] {
            j += 1;
        }
        order.clear();
        order.extend((i..j).map(|k| (a[k], k)));
        order.sort_unstable();
        let mut s = 0;
        while s < order.len() {
            let mut e = s;
            while e < order.len() && order[e].0 == order[s].0 {
                e += 1;
            }
            for x in s..e {
                let l = order[x].1;
                for &(_, r) in &order[x + 1..e] {
                    if g[l] >= g[r] {
                        continue;
                    }
                    out_p.push(p[l]);
                    out_a.push(a[l]);
                    out_g.push(g[l]);
                    out_gr.push(g[r]);
                    for (k, v) in labels.iter().enumerate() {
                        // rank: better is lower (sign of rank_r - rank); ratings: better is
                        // higher (sign of rating - rating_r).
                        let d = match (v[l], v[r]) {
                            (Some(x), Some(y)) => Some(if k == 0 { y - x } else { x - y }),
                            _ => None,
                        };
                        out_v[k].push(d.map(|d| {
                            if d > 0.0 {
                                1
                            } else if d < 0.0 {
                                -1
                            } else {
                                0
                            }
                        }));
                    }
                }
            }
            s = e;
        }
        i = j;
    }
    let key = |hi: &[u32], lo: &[u32]| -> Vec<u64> {
        hi.iter()
            .zip(lo)
            .map(|(&h, &l)| (u64::from(h) << 32) + u64::from(l))
            .collect()
    };
    let pa = key(&out_p, &out_a);
    // One u64 key for the image pair (a generation belongs to one prompt), so that the
    // annotator-pair statistics of agreement sort on a single integer.
    let gg = key(&out_g, &out_gr);
    let mut columns = vec![
        Column::new("pa".into(), pa),
        Column::new("p".into(), out_p),
        Column::new("a".into(), out_a),
        Column::new("g".into(), out_g),
        Column::new("g_r".into(), out_gr),
        Column::new("gg".into(), gg),
    ];
    let mut names = vec!["rank"];
    names.extend(rated.iter().map(|c| c.name()));
    for (name, v) in names.into_iter().zip(out_v) {
        columns.push(Column::new(verdict(name).into(), v));
    }
    DataFrame::new_infer_height(columns).ctx("within-ranking pairs")
}

/// One u64 per ranking: prompt and annotator (a join on one integer is several times faster
/// than on two columns).
pub fn ranking_key() -> Expr {
    (col("p").cast(DataType::UInt64) * lit(1u64 << 32)) + col("a").cast(DataType::UInt64)
}
