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
use crate::util::sign;

/// Name of a label's verdict column.
pub fn verdict(label: &str) -> String {
    format!("v_{label}")
}

/// The pair frame of the judgments: `p`, `a`, `g`, `g_r`, `v_rank` and `v_<criterion>` for each
/// rated criterion. A generation judged twice by one annotator (a validation error) never pairs
/// with itself.
pub fn pairs(judgments: LazyFrame, rated: &[Criterion]) -> Result<DataFrame> {
    let mut right = vec![ranking_key().alias("pa"), col("g"), col("rank")];
    right.extend(rated.iter().map(|c| col(c.name())));
    let mut left = right.clone();
    left.extend([col("p"), col("a")]);
    let mut verdicts = vec![
        col("pa"),
        col("p"),
        col("a"),
        col("g"),
        col("g_r"),
        // One u64 key for the image pair (a generation belongs to one prompt), so that the
        // annotator-pair join of the agreement statistics joins on a single integer.
        ((col("g").cast(DataType::UInt64) * lit(1u64 << 32)) + col("g_r").cast(DataType::UInt64))
            .alias("gg"),
        sign(col("rank_r") - col("rank")).alias("v_rank"),
    ];
    verdicts.extend(
        rated
            .iter()
            .map(|c| sign(col(c.name()) - col(format!("{}_r", c.name()))).alias(verdict(c.name()))),
    );
    judgments
        .clone()
        .select(left)
        .join(
            judgments.select(right),
            [col("pa")],
            [col("pa")],
            JoinArgs::new(JoinType::Inner).with_suffix(Some("_r".into())),
        )
        .filter(col("g").lt(col("g_r")))
        .select(verdicts)
        .collect()
        .ctx("within-ranking pairs")
}

/// One u64 per ranking: prompt and annotator (a join on one integer is several times faster
/// than on two columns).
pub fn ranking_key() -> Expr {
    (col("p").cast(DataType::UInt64) * lit(1u64 << 32)) + col("a").cast(DataType::UInt64)
}
