//! `report.md` with every table and plot, and the headline tables printed to stdout.

use polars::prelude::*;

use crate::error::{Context, Result};
use crate::util::{fmt_opt, markdown};
use crate::{Analysis, distributions::ALL};

fn plot(names: &[&str], name: &str, alt: &str) -> String {
    if names.contains(&name) {
        format!("![{alt}](plots/{name}.png)\n\n(vector: [plots/{name}.svg](plots/{name}.svg))\n\n")
    } else {
        String::new()
    }
}

fn skipped_under(a: &Analysis, prefix: &str) -> String {
    a.skipped
        .iter()
        .filter(|s| s.statistic == prefix || s.statistic.starts_with(&format!("{prefix}.")))
        .map(|s| format!("*Skipped* `{}`: {}.\n\n", s.statistic, s.reason))
        .collect()
}

/// Correlation matrix as a markdown table.
fn matrix_md(labels: &[&str], m: &[Vec<Option<f64>>]) -> String {
    let mut s = format!(
        "| | {} |\n|---|{}\n",
        labels.join(" | "),
        "---|".repeat(labels.len())
    );
    for (i, l) in labels.iter().enumerate() {
        let cells: Vec<String> = m[i].iter().map(|v| fmt_opt(*v)).collect();
        s += &format!("| **{l}** | {} |\n", cells.join(" | "));
    }
    s
}

/// The headline tables that `rewardlab analyze` prints: structure, rating summary, Spearman
/// matrix, rank vs rating, agreement and the listed terms' effects.
pub fn headline(a: &Analysis) -> Result<String> {
    let s = &a.structure;
    let mut out = format!(
        "## {} ({}), scale {}..{}\n\n",
        a.name, a.source, a.scale.min, a.scale.max
    );
    out += &format!(
        "prompts {}, generations {}, judgments {}, annotators {}, categories {}\n",
        s.prompts, s.generations, s.judgments, s.annotators, s.categories
    );
    if s.tie_rate.is_some() {
        out += &format!(
            "pairs: {} strict, {} tied; tie rate {}\n",
            s.strict_pairs,
            s.tied_pairs,
            fmt_opt(s.tie_rate)
        );
    }
    out += "\n";
    if let Some(d) = &a.distributions {
        let all = d
            .summary
            .clone()
            .lazy()
            .filter(col("category").eq(lit(ALL)))
            .collect()
            .ctx("rating summary")?;
        out += "### Ratings\n\n";
        out += &markdown(&all, 20);
        out += "\n";
    }
    if let Some(c) = &a.correlations {
        let labels: Vec<&str> = c.criteria.iter().map(|c| c.name()).collect();
        out += "### Spearman correlation between criteria\n\n";
        out += &matrix_md(&labels, &c.spearman);
        out += "\n";
    }
    if !a.rank_vs_rating.is_empty() {
        out += "### Rank tier vs rating\n\n";
        out += &markdown(
            &crate::relations::rank_vs_rating_table(&a.rank_vs_rating)?,
            10,
        );
        out += "\n";
    }
    if let Some(g) = &a.agreement {
        out += "### Agreement between annotators\n\n";
        out += &markdown(&g.table, 10);
        out += "\n";
    }
    if let Some(e) = &a.effects {
        out +=
            "### Prompt effects (first criterion; every term and criterion in the table files)\n\n";
        let first = e
            .table
            .clone()
            .lazy()
            .filter(col("criterion").eq(lit(e.effects.first().map_or("", |x| x.criterion.name()))))
            .collect()
            .ctx("prompt effects")?;
        out += &markdown(&first, 30);
        out += "\n";
    }
    for sk in &a.skipped {
        out += &format!("skipped {}: {}\n", sk.statistic, sk.reason);
    }
    Ok(out)
}

/// `report.md`: every table and plot, each statistic defined where it appears.
pub fn markdown_report(a: &Analysis, plots: &[&str]) -> Result<String> {
    let s = &a.structure;
    let mut r = format!(
        "# Annotation analysis: {}\n\nSource format `{}`, rating scale {}..{}. Written by \
         `rewardlab analyze`; every table is also in `tables/` as Parquet and CSV, every plot in \
         `plots/` as SVG and PNG.\n\n",
        a.name, a.source, a.scale.min, a.scale.max
    );
    r += "## Structure\n\n";
    r += &format!(
        "{} prompts, {} generations (images), {} judgments, {} named annotators, {} categories. \
         A *ranking* is one annotator's rank tiers for one prompt (one anonymous ranking per \
         prompt without annotator ids); there are {}. Its pairs are the C(k,2) pairs of its ranked \
         images, and a pair is *tied* when both share a tier: {} strict, {} tied, tie rate {}.\n\n",
        s.prompts,
        s.generations,
        s.judgments,
        s.annotators,
        s.categories,
        s.rankings,
        s.strict_pairs,
        s.tied_pairs,
        fmt_opt(s.tie_rate)
    );
    r += &skipped_under(a, "structure");
    r += &plot(plots, "structure", "structure");
    r += "### Images per prompt\n\n";
    r += &markdown(&s.images_per_prompt, 30);
    if let Some(t) = &s.tiers {
        r += "\n### Rank tiers\n\n";
        r += &markdown(t, 30);
    }
    if let Some(t) = &s.annotators_per_prompt {
        r += "\n### Annotators per prompt\n\n";
        r += &markdown(t, 30);
    }
    r += "\n### Categories\n\n";
    r += &markdown(&s.categories_table, 30);
    r += "\n### Prompt length\n\nWords are runs of letters, digits, `-` and `'`.\n\n";
    r += &markdown(&s.prompt_length, 5);

    r += "\n## Rating distributions\n\n";
    r += &skipped_under(a, "distributions");
    if let Some(d) = &a.distributions {
        r += "Per criterion, over all judgments and per category: count, mean, standard \
              deviation (n - 1), minimum, quartiles (linear interpolation) and maximum; and the \
              share of each level of the scale.\n\n";
        r += &plot(plots, "ratings", "rating histograms");
        r += &plot(plots, "ratings_by_category", "mean rating by category");
        r += &markdown(&d.summary, 60);
        r += "\n### Histogram (all categories)\n\n";
        let all = d
            .histogram
            .clone()
            .lazy()
            .filter(col("category").eq(lit(ALL)))
            .collect()
            .ctx("histogram")?;
        r += &markdown(&all, 60);
    }

    r += "\n## Relations between labels\n\n";
    r += &skipped_under(a, "correlations");
    if let Some(c) = &a.correlations {
        let labels: Vec<&str> = c.criteria.iter().map(|c| c.name()).collect();
        r += "Correlations between criteria over the judgments that rate both (Spearman: \
              Pearson correlation of average ranks, as scipy's `spearmanr`).\n\n";
        r += &plot(plots, "correlations", "Spearman correlations");
        r += "**Spearman**\n\n";
        r += &matrix_md(&labels, &c.spearman);
        r += "\n**Pearson**\n\n";
        r += &matrix_md(&labels, &c.pearson);
        r += "\n";
    }
    r += &skipped_under(a, "rank_vs_rating");
    if !a.rank_vs_rating.is_empty() {
        r += "### Rank tier vs rating\n\nWithin each ranking, Kendall's tau-b between minus the \
              rank tier and the rating of the same judgments (`tau_b_mean`: averaged over \
              rankings where defined; `tau_b_pooled`: the pair counts of every ranking summed \
              first). Over the strict rank pairs: the share whose ratings order them the same \
              way (`agree_rate`), the opposite way (`contradiction_rate`: the rank contradicts \
              the rating) or tie (`rating_tie_rate`).\n\n";
        r += &markdown(
            &crate::relations::rank_vs_rating_table(&a.rank_vs_rating)?,
            10,
        );
    }

    r += "\n## Agreement between annotators\n\n";
    r += &skipped_under(a, "agreement");
    if let Some(g) = &a.agreement {
        r += "Per label (rank tiers, or a criterion's ratings), over the images that two or more \
              named annotators judged. *Pairwise agreement*: over every pair of images of a \
              prompt and every two annotators who judged both, the share of comparisons where \
              both prefer the same image (comparisons where either ties left out; \
              `with_ties`: a tie must match a tie). *Krippendorff's alpha*, ordinal metric, \
              units = images. *Exact agreement*: share of pairable values that are equal. \
              *Leave-one-out ceiling* (`rewardlab eval`'s human ceiling): each annotator's strict \
              pairs against the mean of the other annotators of the prompt, an equal mean \
              counting as wrong; ratings are read as tiers (higher is better).\n\n";
        if let Some(h) = g.headline() {
            r += &format!(
                "Headline ({}): pairwise agreement {}, Krippendorff's alpha {}, leave-one-out \
                 ceiling {}.\n\n",
                h.label,
                fmt_opt(h.pairwise_agreement),
                fmt_opt(h.krippendorff_alpha),
                fmt_opt(h.loo_ceiling)
            );
        }
        r += &markdown(&g.table, 10);
        r += "\n";
        r += &plot(plots, "agreement", "pairwise agreement between annotators");
        r += "### Each annotator against the others (leave-one-out)\n\n";
        r += &markdown(&g.annotators, 40);
        r += "\n### Annotator pairs\n\n";
        r += &markdown(&g.annotator_pairs, 60);
    }

    r += "\n## Prompt effects\n\n";
    r += &skipped_under(a, "prompt_effects");
    if let Some(e) = &a.effects {
        r += "For each listed term (`list`) and each of the most frequent n-grams (`ngram`): \
              the prompts containing it (its words, adjacent and in order), the mean rating of \
              their judgments and of all other judgments, the difference and its 95% bootstrap \
              interval (1,000 resamples of the prompts by default; left empty when the term is \
              in fewer than two prompts).\n\n";
        r += &plot(plots, "prompt_effects", "prompt effects");
        r += &markdown(&e.table, 200);
    }
    if !a.skipped.is_empty() {
        r += "\n## Skipped\n\n";
        for s in &a.skipped {
            r += &format!("- `{}`: {}\n", s.statistic, s.reason);
        }
    }
    Ok(r)
}
