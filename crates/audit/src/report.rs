//! The audit as Markdown (`audit.md`, and what `rewardlab audit` prints) and its per-image table
//! as CSV (`per_image.csv`).

use std::fmt::Write as _;

use crate::measure::{Audit, ImageChange};
use crate::stats::Estimate;

fn cell(e: &Estimate, digits: usize) -> String {
    match (e.value, e.ci95) {
        (Some(v), Some([lo, hi])) => format!("{v:.digits$} [{lo:.digits$}, {hi:.digits$}]"),
        (Some(v), None) => format!("{v:.digits$}"),
        (None, _) => "n/a".into(),
    }
}

/// The report: one row per perturbation, every figure with its 95% interval.
pub fn markdown(a: &Audit) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Sensitivity audit of {}\n\n{} prompts, {} images, head `{}`; overtakes against the {}; \
         95% intervals from {} bootstrap resamples of the prompts (seed {}).\n",
        a.scorer, a.prompts, a.images, a.head, a.reference, a.resamples, a.seed
    );
    let _ = writeln!(
        s,
        "| perturbation | what | images whose score rises | mean change | mean change / score sd | overtakes (pairs) |\n|---|---|---|---|---|---|"
    );
    for r in &a.rows {
        let f = &r.figures;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} ({}) |",
            r.perturbation.name(),
            r.description,
            cell(&f.rises, 3),
            cell(&f.mean_change, 4),
            cell(&f.change_in_spread, 3),
            cell(&f.overtakes, 3),
            f.overtakes.n
        );
    }
    let sd = a
        .score_spread
        .map_or_else(|| "undefined".to_string(), |v| format!("{v:.4}"));
    let _ = writeln!(
        s,
        "\nScore sd over the original images: {sd}. None of these changes makes an image better \
         to a person: a faithful scorer's scores do not rise under them, and its overtakes (the \
         share of pairs it ordered as the {} does in which the worse image, perturbed, now beats \
         the better one) stay near 0.",
        a.reference
    );
    if a.reference == "ground truth" {
        s.push_str(
            "\nIn the synthetic world, contrast is part of the latent aesthetics (a washed-out \
             image is worse), so `contrast` may rightly raise the score of a washed-out image \
             there; its aesthetics also counts objects cut by the frame and an off-centre \
             composition against an image, as the crop makes them; no latent reads the \
             other changes.\n",
        );
    }
    s
}

/// `generation,prompt,perturbation,original,perturbed`, one line per image and perturbation.
pub fn per_image_csv(changes: &[ImageChange]) -> String {
    let mut s = String::from("generation_id,prompt_id,perturbation,original,perturbed\n");
    for c in changes {
        let _ = writeln!(
            s,
            "{},{},{},{},{}",
            quote(&c.generation),
            quote(&c.prompt),
            c.perturbation.name(),
            c.original,
            c.perturbed
        );
    }
    s
}

fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}
