//! Structure of a dataset: how many prompts, images, judgments and annotators; images and
//! annotators per prompt; rank tiers and how often two images tie; categories; prompt length.

use polars::prelude::*;

use crate::error::{Context, Result};
use crate::frames::{ANONYMOUS, Frames};
use crate::util::{count_if, f64_at, u64_at};

/// Summary columns of one numeric expression: n, mean, std (ddof 1), min, quartiles, max
/// (quantiles interpolate linearly, numpy's default).
pub fn summary_exprs(e: Expr) -> Vec<Expr> {
    let q = |x: f64, name: &str| {
        e.clone()
            .quantile(lit(x), QuantileMethod::Linear)
            .alias(name)
    };
    vec![
        e.clone().count().alias("n"),
        e.clone().mean().alias("mean"),
        e.clone().std(1).alias("std"),
        e.clone().min().cast(DataType::Float64).alias("min"),
        q(0.25, "q25"),
        q(0.5, "median"),
        q(0.75, "q75"),
        e.max().cast(DataType::Float64).alias("max"),
    ]
}

/// What [`structure`] finds.
#[derive(Clone, Debug)]
pub struct Structure {
    pub prompts: usize,
    pub generations: usize,
    pub judgments: usize,
    pub annotators: usize,
    pub categories: usize,
    /// Rankings: (prompt, annotator) groups with at least one rank.
    pub rankings: u64,
    pub strict_pairs: u64,
    pub tied_pairs: u64,
    /// Tied pairs over all ranked pairs; `None` without ranks.
    pub tie_rate: Option<f64>,
    pub mean_images_per_prompt: Option<f64>,
    pub mean_judgments_per_image: Option<f64>,
    /// `images`, `prompts`, `share`.
    pub images_per_prompt: DataFrame,
    /// `annotators`, `prompts`, `share` (prompts by how many named annotators judged them).
    pub annotators_per_prompt: Option<DataFrame>,
    /// `rank`, `judgments`, `share`.
    pub tiers: Option<DataFrame>,
    /// `category`, `prompts`, `generations`, `judgments`.
    pub categories_table: DataFrame,
    /// `measure` (words, characters) and its summary columns.
    pub prompt_length: DataFrame,
}

/// `key`, `prompts`, `share` from a per-prompt count.
fn distribution(per_prompt: LazyFrame, key: &str) -> LazyFrame {
    per_prompt
        .group_by([col(key)])
        .agg([len().alias("prompts")])
        .with_column(
            (col("prompts").cast(DataType::Float64) / col("prompts").sum().cast(DataType::Float64))
                .alias("share"),
        )
        .sort([key], SortMultipleOptions::default())
}

/// The structure statistics from the frames and the pair frame ([`crate::pairs::pairs`]).
pub fn structure(f: &Frames, pairs: &DataFrame) -> Result<Structure> {
    let j = f.lazy();
    let counts = j
        .clone()
        .select([
            col("p").n_unique().alias("prompts"),
            col("g").n_unique().alias("generations"),
            len().alias("judgments"),
            col("category").n_unique().alias("categories"),
        ])
        .collect()
        .ctx("dataset counts")?;
    let per_prompt = j
        .clone()
        .group_by([col("p")])
        .agg([col("g").n_unique().cast(DataType::UInt32).alias("images")]);
    let images_per_prompt = distribution(per_prompt.clone(), "images")
        .collect()
        .ctx("images per prompt")?;
    let means = per_prompt
        .select([col("images").mean().alias("images")])
        .collect()
        .ctx("images per prompt")?;
    let per_image = j
        .clone()
        .group_by([col("g")])
        .agg([len().alias("n")])
        .select([col("n").mean()])
        .collect()
        .ctx("judgments per image")?;
    let annotators_per_prompt = if f.has_annotators() {
        Some(
            distribution(
                j.clone()
                    .filter(col("a").neq(lit(ANONYMOUS)))
                    .group_by([col("p")])
                    .agg([col("a")
                        .n_unique()
                        .cast(DataType::UInt32)
                        .alias("annotators")]),
                "annotators",
            )
            .collect()
            .ctx("annotators per prompt")?,
        )
    } else {
        None
    };
    let (tiers, rankings) = if f.ranked {
        let ranked = j.clone().filter(col("rank").is_not_null());
        let tiers = ranked
            .clone()
            .group_by([col("rank").cast(DataType::UInt32)])
            .agg([len().alias("judgments")])
            .with_column(
                (col("judgments").cast(DataType::Float64)
                    / col("judgments").sum().cast(DataType::Float64))
                .alias("share"),
            )
            .sort(["rank"], SortMultipleOptions::default())
            .collect()
            .ctx("rank tiers")?;
        let rankings = ranked
            .select([col("p"), col("a")])
            .unique(None, UniqueKeepStrategy::Any)
            .select([len().alias("n")])
            .collect()
            .ctx("rankings")?;
        (Some(tiers), u64_at(&rankings, "n", 0))
    } else {
        (None, 0)
    };
    let pair_counts = pairs
        .clone()
        .lazy()
        .filter(col("v_rank").is_not_null())
        .select([
            len().alias("pairs"),
            count_if(col("v_rank").eq(lit(0))).alias("ties"),
        ])
        .collect()
        .ctx("tied pairs")?;
    let all_pairs = u64_at(&pair_counts, "pairs", 0);
    let tied_pairs = u64_at(&pair_counts, "ties", 0);
    let categories_table = j
        .group_by([col("category")])
        .agg([
            col("p").n_unique().alias("prompts"),
            col("g").n_unique().alias("generations"),
            len().alias("judgments"),
        ])
        .sort_by_exprs(
            [col("prompts"), col("category")],
            SortMultipleOptions::default().with_order_descending_multi([true, false]),
        )
        .collect()
        .ctx("categories")?;
    let length = |column: &str, measure: &str| {
        let mut e = vec![lit(measure).alias("measure")];
        e.extend(summary_exprs(col(column).cast(DataType::Float64)));
        f.prompts.clone().lazy().select(e)
    };
    let prompt_length = concat(
        [length("words", "words"), length("chars", "characters")],
        UnionArgs::default(),
    )
    .and_then(LazyFrame::collect)
    .ctx("prompt length")?;
    Ok(Structure {
        prompts: u64_at(&counts, "prompts", 0) as usize,
        generations: u64_at(&counts, "generations", 0) as usize,
        judgments: u64_at(&counts, "judgments", 0) as usize,
        annotators: f.annotators.len(),
        categories: u64_at(&counts, "categories", 0) as usize,
        rankings,
        strict_pairs: all_pairs - tied_pairs,
        tied_pairs,
        tie_rate: (all_pairs > 0).then(|| tied_pairs as f64 / all_pairs as f64),
        mean_images_per_prompt: f64_at(&means, "images", 0),
        mean_judgments_per_image: f64_at(&per_image, "n", 0),
        images_per_prompt,
        annotators_per_prompt,
        tiers,
        categories_table,
        prompt_length,
    })
}
