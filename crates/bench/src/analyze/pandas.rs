//! The pandas side of `bench analyze` (`scripts/bench_analyze_pandas.py`) and the headline
//! figures both sides compute, for the side-by-side check.

use std::path::Path;

use annotations::Criterion;

use crate::BenchError;
use crate::reference::Reference;

/// The pandas side, in its own venv with pandas, scipy and pyarrow from PyPI.
const PANDAS: Reference = Reference {
    side: "pandas",
    scripts: "bench-analyze-scripts",
    venv: "bench-venv",
    script: (
        "bench_analyze_pandas.py",
        include_str!("../../../../scripts/bench_analyze_pandas.py"),
    ),
    requirements: (
        "bench-analyze-requirements.txt",
        include_str!("../../../../scripts/bench-analyze-requirements.txt"),
    ),
};

/// Runs the pandas statistics on the dataset folder `data` (venv made with `python` on first use)
/// and reads its JSON.
///
/// # Errors
///
/// [`BenchError::Reference`] saying why the pandas side cannot run.
pub fn run_pandas(
    data: &Path,
    resamples: usize,
    python: &str,
) -> Result<serde_json::Value, BenchError> {
    let args = [
        data.join(tables::ANNOTATIONS_FILE).into_os_string(),
        resamples.to_string().into(),
    ];
    PANDAS.run(&args, &[], python)
}

/// Headline figures both sides compute, by the names the pandas script gives them.
pub fn figures(a: &analysis::Analysis) -> Vec<(&'static str, Option<f64>)> {
    let rvr = a
        .rank_vs_rating
        .iter()
        .find(|r| r.criterion == Criterion::Overall);
    let label = |name: &str| {
        a.agreement
            .as_ref()
            .and_then(|g| g.labels.iter().find(|l| l.label == name))
    };
    let rank = label("rank");
    let effect = a.effects.as_ref().and_then(|e| {
        e.effects
            .iter()
            .find(|x| x.term == "8k" && x.criterion == Criterion::Fidelity)
            .and_then(|x| x.difference)
    });
    let spearman = a.correlations.as_ref().and_then(|c| {
        let i = c.criteria.iter().position(|&x| x == Criterion::Overall)?;
        let j = c.criteria.iter().position(|&x| x == Criterion::Fidelity)?;
        c.spearman[i][j]
    });
    vec![
        ("tie_rate", a.structure.tie_rate),
        ("spearman_overall_fidelity", spearman),
        ("tau_b_mean_overall", rvr.and_then(|r| r.tau_b_mean)),
        (
            "contradiction_overall",
            rvr.and_then(|r| r.contradiction_rate),
        ),
        (
            "pairwise_agreement",
            rank.and_then(|r| r.pairwise_agreement),
        ),
        (
            "krippendorff_alpha",
            rank.and_then(|r| r.krippendorff_alpha),
        ),
        ("loo_ceiling", rank.and_then(|r| r.loo_ceiling)),
        (
            "loo_ceiling_fidelity",
            label("fidelity").and_then(|l| l.loo_ceiling),
        ),
        ("effect_8k_fidelity", effect),
    ]
}
