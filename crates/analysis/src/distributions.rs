//! Rating distributions: each Likert criterion's histogram on the dataset's declared scale (the
//! share of each rating value), overall and per category, with mean, standard deviation and
//! quantiles.

use annotations::Criterion;
use polars::prelude::*;

use crate::error::{Context, Result};
use crate::frames::Frames;
use crate::structure::summary_exprs;

/// The category label of rows that summarise every category.
pub const ALL: &str = "(all)";

#[derive(Clone, Debug)]
pub struct Distributions {
    /// `criterion`, `category` ([`ALL`] first), `n`, `mean`, `std`, `min`, `q25`, `median`,
    /// `q75`, `max`.
    pub summary: DataFrame,
    /// `criterion`, `category`, `rating` (each level of the scale), `count`, `share`.
    pub histogram: DataFrame,
}

/// Rating value -> the scale level it counts under: the nearest level, halves up (ratings are
/// whole levels in every known source; a mean rating would fall between them). Scales start at
/// 0 or above, so truncating `value + 0.5` rounds (polars' `round` needs a feature we do not
/// build).
fn level(value: Expr) -> Expr {
    (value + lit(0.5)).cast(DataType::Int64)
}

/// The summaries and histograms, as queries over the wide judgment frame (one column per
/// criterion): per criterion one aggregation over all judgments and one group-by category, run
/// together as one union.
pub fn distributions(f: &Frames) -> Result<Distributions> {
    let stats = ["n", "mean", "std", "min", "q25", "median", "q75", "max"];
    let in_order = |lf: LazyFrame| {
        let mut c = vec![col("criterion"), col("ci"), col("category")];
        c.extend(stats.map(col));
        lf.select(c)
    };
    let tag = |c: &Criterion| {
        [
            lit(c.name()).alias("criterion"),
            lit(c.index() as u32).cast(DataType::UInt32).alias("ci"),
        ]
    };
    let mut parts = Vec::new();
    for c in &f.rated {
        parts.push(in_order(
            f.lazy()
                .select(summary_exprs(col(c.name())))
                .with_columns(tag(c))
                .with_column(lit(ALL).alias("category")),
        ));
        parts.push(in_order(
            f.lazy()
                .group_by([col("category")])
                .agg(summary_exprs(col(c.name())))
                .filter(col("n").gt(lit(0)))
                .with_columns(tag(c)),
        ));
    }
    let order = |lf: LazyFrame| {
        lf.with_column(col("category").eq(lit(ALL)).not().alias("_not_all"))
            .sort(
                ["ci", "_not_all", "category"],
                SortMultipleOptions::default(),
            )
    };
    let columns = [
        "criterion",
        "category",
        "n",
        "mean",
        "std",
        "min",
        "q25",
        "median",
        "q75",
        "max",
    ]
    .map(col);
    let summary = order(concat(parts, UnionArgs::default()).ctx("rating summary")?)
        .select(columns)
        .collect()
        .ctx("rating summary")?;

    // Every level of the scale for every criterion and category, so that an unused level shows
    // as a zero rather than disappearing from the histogram.
    let categories: Vec<String> = {
        let df = f
            .lazy()
            .select([col("category").unique().sort(SortOptions::default())])
            .collect()
            .ctx("categories")?;
        crate::util::strings(&df, "category")?
    };
    let (mut gc, mut gi, mut gk, mut gl) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for c in &f.rated {
        for k in std::iter::once(ALL.to_string()).chain(categories.iter().cloned()) {
            for l in f.scale.min..=f.scale.max {
                gc.push(c.name());
                gi.push(c.index() as u32);
                gk.push(k.clone());
                gl.push(i64::from(l));
            }
        }
    }
    let grid = df!("criterion" => gc, "ci" => gi, "category" => gk, "rating" => gl)
        .ctx("histogram levels")?
        .lazy();
    // Counts per category and level, criterion by criterion; the (all) rows sum them.
    let per_category: Vec<LazyFrame> = f
        .rated
        .iter()
        .map(|c| {
            f.lazy()
                .filter(col(c.name()).is_not_null())
                .group_by([col("category"), level(col(c.name())).alias("rating")])
                .agg([len().cast(DataType::UInt64).alias("count")])
                .select([
                    lit(c.name()).alias("criterion"),
                    col("category"),
                    col("rating"),
                    col("count"),
                ])
        })
        .collect();
    let per_category = concat(per_category, UnionArgs::default())
        .and_then(LazyFrame::collect)
        .ctx("rating histogram")?;
    let counts = concat(
        [
            per_category
                .clone()
                .lazy()
                .group_by([col("criterion"), col("rating")])
                .agg([col("count").sum()])
                .select([
                    col("criterion"),
                    lit(ALL).alias("category"),
                    col("rating"),
                    col("count"),
                ]),
            per_category.lazy(),
        ],
        UnionArgs::default(),
    )
    .ctx("rating histogram")?;
    let histogram = order(
        grid.join(
            counts,
            [col("criterion"), col("category"), col("rating")],
            [col("criterion"), col("category"), col("rating")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(col("count").fill_null(lit(0u32)).cast(DataType::UInt64)),
    )
    .with_column(
        (col("count").cast(DataType::Float64)
            / col("count")
                .sum()
                .over([col("criterion"), col("category")])
                .ctx("rating histogram")?
                .cast(DataType::Float64))
        .alias("share"),
    )
    .sort_by_exprs(
        [col("ci"), col("_not_all"), col("category"), col("rating")],
        SortMultipleOptions::default(),
    )
    .select([
        col("criterion"),
        col("category"),
        col("rating"),
        col("count"),
        col("share"),
    ])
    .collect()
    .ctx("rating histogram")?;
    // Ratings outside the scale (a validation error) have no level row and are left out of the
    // histogram; they still count in the summary.
    Ok(Distributions { summary, histogram })
}
