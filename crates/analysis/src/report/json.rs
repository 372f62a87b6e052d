//! `analysis.json`: the whole analysis as JSON, what `analyze --json` prints.

use serde_json::{Map, Value, json};

use crate::Analysis;
use crate::util::{json_opt, records};

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
