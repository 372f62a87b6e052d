//! The analysis as files and text: every table as Parquet and CSV (`tables/`), the figures as
//! SVG and PNG (`plots/`), `report.md` with every table and plot, `analysis.json` (what
//! `--json` prints) and the headline tables printed to stdout.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde_json::{Map, Value, json};

use crate::error::{AnalysisError, Context, Result};
use crate::plots::{BarPanel, Figure, ForestRow, save};
use crate::util::{floats, fmt_num, fmt_opt, json_opt, markdown, records, strings};
use crate::{Analysis, distributions::ALL};

/// Where [`write_outputs`] put things.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    pub report: PathBuf,
    pub json: PathBuf,
    pub tables: Vec<PathBuf>,
    pub plots: Vec<PathBuf>,
}

/// Every table of the analysis, by file name.
pub fn tables(a: &Analysis) -> Result<Vec<(&'static str, DataFrame)>> {
    let s = &a.structure;
    let summary = df!(
        "statistic" => ["prompts", "generations", "judgments", "annotators", "categories",
            "rankings", "strict_pairs", "tied_pairs", "tie_rate", "mean_images_per_prompt",
            "mean_judgments_per_image"],
        "value" => [Some(s.prompts as f64), Some(s.generations as f64), Some(s.judgments as f64),
            Some(s.annotators as f64), Some(s.categories as f64), Some(s.rankings as f64),
            Some(s.strict_pairs as f64), Some(s.tied_pairs as f64), s.tie_rate,
            s.mean_images_per_prompt, s.mean_judgments_per_image],
    )
    .ctx("structure table")?;
    let mut out = vec![
        ("structure", summary),
        ("images_per_prompt", s.images_per_prompt.clone()),
        ("categories", s.categories_table.clone()),
        ("prompt_length", s.prompt_length.clone()),
    ];
    if let Some(t) = &s.annotators_per_prompt {
        out.push(("annotators_per_prompt", t.clone()));
    }
    if let Some(t) = &s.tiers {
        out.push(("rank_tiers", t.clone()));
    }
    if let Some(d) = &a.distributions {
        out.push(("rating_summary", d.summary.clone()));
        out.push(("rating_histogram", d.histogram.clone()));
    }
    if let Some(c) = &a.correlations {
        out.push(("correlations", c.table.clone()));
    }
    if !a.rank_vs_rating.is_empty() {
        out.push((
            "rank_vs_rating",
            crate::relations::rank_vs_rating_table(&a.rank_vs_rating)?,
        ));
    }
    if let Some(g) = &a.agreement {
        out.push(("agreement", g.table.clone()));
        out.push(("agreement_annotator_pairs", g.annotator_pairs.clone()));
        out.push(("agreement_annotators", g.annotators.clone()));
    }
    if let Some(e) = &a.effects {
        out.push(("prompt_effects", e.table.clone()));
    }
    let skipped = df!(
        "statistic" => a.skipped.iter().map(|s| s.statistic.as_str()).collect::<Vec<_>>(),
        "reason" => a.skipped.iter().map(|s| s.reason.as_str()).collect::<Vec<_>>(),
    )
    .ctx("skipped table")?;
    out.push(("skipped", skipped));
    Ok(out)
}

fn matrix_json(labels: &[&str], m: &[Vec<Option<f64>>]) -> Value {
    let mut outer = Map::new();
    for (i, a) in labels.iter().enumerate() {
        let mut inner = Map::new();
        for (j, b) in labels.iter().enumerate() {
            inner.insert(b.to_string(), json_opt(m[i][j]));
        }
        outer.insert(a.to_string(), Value::Object(inner));
    }
    Value::Object(outer)
}

/// Inserts `key: value` when the value is known (the key is left out otherwise, and the reason
/// is in `skipped`).
fn put(m: &mut Map<String, Value>, key: &str, v: Option<f64>) {
    if let Some(v) = v {
        m.insert(key.to_string(), json_opt(Some(v)));
    }
}

/// The analysis as JSON (`rewardlab analyze --json`, `analysis.json`).
pub fn to_json(a: &Analysis) -> Value {
    let s = &a.structure;
    let mut structure = Map::new();
    for (k, v) in [
        ("prompts", s.prompts as u64),
        ("generations", s.generations as u64),
        ("judgments", s.judgments as u64),
        ("annotators", s.annotators as u64),
        ("categories", s.categories as u64),
        ("rankings", s.rankings),
        ("strict_pairs", s.strict_pairs),
        ("tied_pairs", s.tied_pairs),
    ] {
        structure.insert(k.into(), v.into());
    }
    put(&mut structure, "tie_rate", s.tie_rate);
    put(
        &mut structure,
        "mean_images_per_prompt",
        s.mean_images_per_prompt,
    );
    put(
        &mut structure,
        "mean_judgments_per_image",
        s.mean_judgments_per_image,
    );
    structure.insert("images_per_prompt".into(), records(&s.images_per_prompt));
    if let Some(t) = &s.tiers {
        structure.insert("rank_tiers".into(), records(t));
    }
    if let Some(t) = &s.annotators_per_prompt {
        structure.insert("annotators_per_prompt".into(), records(t));
    }
    structure.insert("categories_table".into(), records(&s.categories_table));
    structure.insert("prompt_length".into(), records(&s.prompt_length));

    let mut out = Map::new();
    out.insert("dataset".into(), a.name.clone().into());
    out.insert("source".into(), a.source.clone().into());
    out.insert("scale".into(), json!([a.scale.min, a.scale.max]));
    out.insert("structure".into(), Value::Object(structure));
    if let Some(d) = &a.distributions {
        out.insert(
            "distributions".into(),
            json!({"summary": records(&d.summary), "histogram": records(&d.histogram)}),
        );
    }
    if let Some(c) = &a.correlations {
        let labels: Vec<&str> = c.criteria.iter().map(|c| c.name()).collect();
        let n: Vec<Vec<Option<f64>>> =
            c.n.iter()
                .map(|r| r.iter().map(|&x| Some(x as f64)).collect())
                .collect();
        out.insert(
            "correlations".into(),
            json!({
                "spearman": matrix_json(&labels, &c.spearman),
                "pearson": matrix_json(&labels, &c.pearson),
                "n": matrix_json(&labels, &n),
            }),
        );
    }
    if !a.rank_vs_rating.is_empty() {
        let mut m = Map::new();
        for r in &a.rank_vs_rating {
            let mut x = Map::new();
            x.insert("rankings".into(), (r.rankings as u64).into());
            x.insert("strict_pairs".into(), r.strict_pairs.into());
            put(&mut x, "tau_b_mean", r.tau_b_mean);
            put(&mut x, "tau_b_pooled", r.tau_b_pooled);
            put(&mut x, "agree_rate", r.agree_rate);
            put(&mut x, "contradiction_rate", r.contradiction_rate);
            put(&mut x, "rating_tie_rate", r.rating_tie_rate);
            m.insert(r.criterion.name().into(), Value::Object(x));
        }
        out.insert("rank_vs_rating".into(), Value::Object(m));
    }
    if let Some(g) = &a.agreement {
        let label_json = |l: &crate::LabelAgreement| {
            let mut x = Map::new();
            x.insert("annotators".into(), (l.annotators as u64).into());
            x.insert("units".into(), l.units.into());
            x.insert("comparisons".into(), l.comparisons.into());
            x.insert("strict_comparisons".into(), l.strict_comparisons.into());
            put(&mut x, "pairwise_agreement", l.pairwise_agreement);
            put(
                &mut x,
                "pairwise_agreement_with_ties",
                l.pairwise_agreement_with_ties,
            );
            put(&mut x, "krippendorff_alpha", l.krippendorff_alpha);
            put(&mut x, "exact_agreement", l.exact_agreement);
            put(&mut x, "loo_ceiling", l.loo_ceiling);
            x.insert("loo_pairs".into(), (l.loo_pairs as u64).into());
            x
        };
        let mut m = match g.headline() {
            Some(h) => {
                let mut m = label_json(h);
                m.insert("basis".into(), h.label.clone().into());
                m
            }
            None => Map::new(),
        };
        let mut by = Map::new();
        for l in &g.labels {
            by.insert(l.label.clone(), Value::Object(label_json(l)));
        }
        m.insert("by_label".into(), Value::Object(by));
        m.insert("annotator_pairs".into(), records(&g.annotator_pairs));
        m.insert("annotators_loo".into(), records(&g.annotators));
        out.insert("agreement".into(), Value::Object(m));
    }
    if let Some(e) = &a.effects {
        let rows: Vec<Value> = e
            .effects
            .iter()
            .map(|e| {
                json!({
                    "term": e.term, "source": e.source, "criterion": e.criterion.name(),
                    "prompts": e.prompts, "judgments_with": e.judgments_with,
                    "mean_with": json_opt(e.mean_with), "mean_without": json_opt(e.mean_without),
                    "difference": json_opt(e.difference),
                    "ci95": e.ci95.map_or(Value::Null, |c| json!([c[0], c[1]])),
                })
            })
            .collect();
        out.insert("prompt_effects".into(), Value::Array(rows));
    }
    out.insert(
        "skipped".into(),
        serde_json::to_value(&a.skipped).unwrap_or(Value::Null),
    );
    Value::Object(out)
}

/// One bar panel per run of equal `titles` (rows come sorted by title), each holding the run's
/// `(label, value)` bars, at most `max_bars` of them.
fn bar_panels(
    titles: &[String],
    bars: impl Iterator<Item = (String, f64)>,
    max_bars: usize,
) -> Vec<BarPanel> {
    let mut panels: Vec<BarPanel> = Vec::new();
    for (title, (label, value)) in titles.iter().zip(bars) {
        if panels.last().is_none_or(|p| &p.title != title) {
            panels.push(BarPanel {
                title: title.clone(),
                labels: Vec::new(),
                values: Vec::new(),
            });
        }
        let p = panels.last_mut().expect("just pushed");
        if p.values.len() < max_bars {
            p.labels.push(label);
            p.values.push(value);
        }
    }
    panels
}

/// The figures the data allows, by file name.
pub fn figures(a: &Analysis) -> Result<Vec<(&'static str, Figure)>> {
    let mut out = Vec::new();
    if let Some(d) = &a.distributions {
        let h = d
            .histogram
            .clone()
            .lazy()
            .filter(col("category").eq(lit(ALL)))
            .collect()
            .ctx("rating histogram plot")?;
        let (crit, level, share) = (
            strings(&h, "criterion")?,
            floats(&h, "rating")?,
            floats(&h, "share")?,
        );
        let panels = bar_panels(
            &crit,
            (0..h.height()).map(|i| {
                (
                    level[i].map(fmt_num).unwrap_or_default(),
                    share[i].unwrap_or(0.0),
                )
            }),
            usize::MAX,
        );
        out.push((
            "ratings",
            Figure::Bars {
                title: format!("Rating distribution ({})", a.name),
                y_label: "share of ratings".into(),
                panels,
            },
        ));
        if a.structure.categories > 1 {
            let s = d
                .summary
                .clone()
                .lazy()
                .filter(col("category").neq(lit(ALL)))
                .collect()
                .ctx("ratings by category plot")?;
            let (crit, cat, mean) = (
                strings(&s, "criterion")?,
                strings(&s, "category")?,
                floats(&s, "mean")?,
            );
            // The first 12 categories alphabetically: a bar chart of hundreds reads as noise.
            let panels = bar_panels(
                &crit,
                (0..s.height()).map(|i| (cat[i].clone(), mean[i].unwrap_or(0.0))),
                12,
            );
            out.push((
                "ratings_by_category",
                Figure::Bars {
                    title: format!(
                        "Mean rating by category (scale {}..{})",
                        a.scale.min, a.scale.max
                    ),
                    y_label: "mean rating".into(),
                    panels,
                },
            ));
        }
    }
    if let Some(c) = &a.correlations {
        out.push((
            "correlations",
            Figure::Heatmap {
                title: "Spearman correlation between criteria".into(),
                labels: c.criteria.iter().map(|c| c.name().to_string()).collect(),
                values: c.spearman.clone(),
                diverging: true,
            },
        ));
    }
    let s = &a.structure;
    let mut panels = Vec::new();
    let bar = |title: &str, df: &DataFrame, key: &str, value: &str| -> Result<BarPanel> {
        Ok(BarPanel {
            title: title.into(),
            labels: floats(df, key)?
                .into_iter()
                .map(|v| v.map(fmt_num).unwrap_or_default())
                .collect(),
            values: floats(df, value)?
                .into_iter()
                .map(|v| v.unwrap_or(0.0))
                .collect(),
        })
    };
    panels.push(bar(
        "images per prompt",
        &s.images_per_prompt,
        "images",
        "share",
    )?);
    if let Some(t) = &s.tiers {
        panels.push(bar("rank tier of a judgment", t, "rank", "share")?);
    }
    if let Some(t) = &s.annotators_per_prompt {
        panels.push(bar("annotators per prompt", t, "annotators", "share")?);
    }
    if s.categories > 1 {
        let c = &s.categories_table;
        let total = s.prompts.max(1) as f64;
        panels.push(BarPanel {
            title: "prompts per category".into(),
            labels: strings(c, "category")?.into_iter().take(12).collect(),
            values: floats(c, "prompts")?
                .into_iter()
                .take(12)
                .map(|v| v.unwrap_or(0.0) / total)
                .collect(),
        });
    }
    out.push((
        "structure",
        Figure::Bars {
            title: format!("Structure ({})", a.name),
            y_label: "share".into(),
            panels,
        },
    ));
    if let Some(g) = &a.agreement
        && let Some(h) = g.headline()
    {
        let t = g
            .annotator_pairs
            .clone()
            .lazy()
            .filter(col("label").eq(lit(h.label.as_str())))
            .collect()
            .ctx("agreement plot")?;
        let (aa, ab, v) = (
            strings(&t, "annotator_a")?,
            strings(&t, "annotator_b")?,
            floats(&t, "pairwise_agreement")?,
        );
        let mut names: Vec<String> = aa.iter().chain(&ab).cloned().collect();
        names.sort();
        names.dedup();
        if names.len() >= 2 && names.len() <= 30 {
            let pos = |x: &String| names.iter().position(|n| n == x).unwrap_or(0);
            let mut m = vec![vec![None; names.len()]; names.len()];
            for i in 0..t.height() {
                let (x, y) = (pos(&aa[i]), pos(&ab[i]));
                m[x][y] = v[i];
                m[y][x] = v[i];
            }
            out.push((
                "agreement",
                Figure::Heatmap {
                    title: format!("Pairwise agreement between annotators ({})", h.label),
                    labels: names,
                    values: m,
                    diverging: false,
                },
            ));
        }
    }
    if let Some(e) = &a.effects {
        let mut panels: Vec<(String, Vec<ForestRow>)> = Vec::new();
        for eff in &e.effects {
            let Some(d) = eff.difference else { continue };
            let name = eff.criterion.name();
            let row = ForestRow {
                label: format!("{} ({})", eff.term, eff.prompts),
                estimate: d,
                ci95: eff.ci95,
            };
            match panels.iter_mut().find(|(n, _)| n == name) {
                Some((_, rows)) => rows.push(row),
                None => panels.push((name.to_string(), vec![row])),
            }
        }
        if !panels.is_empty() {
            out.push((
                "prompt_effects",
                Figure::Forest {
                    title:
                        "Mean rating with the term minus without (95% bootstrap CI over prompts)"
                            .into(),
                    x_label: "difference in mean rating".into(),
                    panels,
                },
            ));
        }
    }
    Ok(out)
}

fn write_table(df: &DataFrame, dir: &Path, name: &str) -> Result<[PathBuf; 2]> {
    let pq = dir.join(format!("{name}.parquet"));
    let csv = dir.join(format!("{name}.csv"));
    let mut df = df.clone();
    ParquetWriter::new(File::create(&pq).map_err(AnalysisError::io(&pq))?)
        .finish(&mut df)
        .ctx(&format!("writing {}", pq.display()))?;
    CsvWriter::new(File::create(&csv).map_err(AnalysisError::io(&csv))?)
        .finish(&mut df)
        .ctx(&format!("writing {}", csv.display()))?;
    Ok([pq, csv])
}

/// Writes everything into `dir` (created if needed; existing files of the same names are
/// replaced, so the caller decides whether `dir` may be written).
pub fn write_outputs(a: &Analysis, dir: &Path) -> Result<Outputs> {
    let tdir = dir.join("tables");
    let pdir = dir.join("plots");
    for d in [dir, &tdir, &pdir] {
        std::fs::create_dir_all(d).map_err(AnalysisError::io(d))?;
    }
    let mut out = Outputs::default();
    for (name, df) in tables(a)? {
        out.tables.extend(write_table(&df, &tdir, name)?);
    }
    let figs = figures(a)?;
    for (name, fig) in &figs {
        out.plots.extend(save(fig, &pdir, name)?);
    }
    let names: Vec<&str> = figs.iter().map(|(n, _)| *n).collect();
    out.report = dir.join("report.md");
    std::fs::write(&out.report, markdown_report(a, &names)?)
        .map_err(AnalysisError::io(&out.report))?;
    out.json = dir.join("analysis.json");
    let text = serde_json::to_string_pretty(&to_json(a)).unwrap_or_default();
    std::fs::write(&out.json, text).map_err(AnalysisError::io(&out.json))?;
    Ok(out)
}

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
