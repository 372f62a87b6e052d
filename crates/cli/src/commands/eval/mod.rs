//! `rewardlab eval`: every figure of the `eval` crate, with bootstrap intervals, for a trained
//! run, a pretrained model (ImageReward, CLIP score, PickScore, HPSv2) or an external model's scores file on a
//! dataset's prompts, next to baselines (among them the pretrained ones); writes
//! `metrics.json`, `report.md`, `per_prompt.parquet`, the scored model's `scores.csv` and each
//! pretrained baseline's `scores-NAME.csv`.

mod args;
mod model;
mod outputs;

use std::path::Path;
use std::process::ExitCode;

use annotations::Dataset;
use annotations::splits::{Selection, Split};
use annotations::validate::{Checks, validate};
use anyhow::{Context, Result, bail};
use eval::{BaselineContext, EvalData, EvalLabels, EvalOptions, Registry};
use scoring::SplitEvaluation;

pub use args::Args;
use model::ModelScores;

pub fn run(args: Args, device: &scoring::Device) -> Result<ExitCode> {
    let ds = read_valid_dataset(&args.dataset)?;
    let ix = ds.index();
    let (split_name, selection) = args.selection()?;
    let paths = args.check()?;
    let chosen = model::choose(&args, &paths, &ds, &ix, &split_name, device)?;
    let out = args.out.clone().unwrap_or(chosen.default_out);
    super::ensure_writable(&out, args.force)?;

    let data = EvalData::from_dataset(&ds, &ix, &selection.prompts(&ix, &chosen.spec));
    if data.prompts.is_empty() {
        bail!(
            "the {split_name} split of {} has no prompts",
            args.dataset.display()
        );
    }
    // PickScore's threshold is chosen on validation prompts when the test (or train) split is
    // evaluated; otherwise on the evaluated prompts, and the report says so.
    let validation = match selection {
        Selection::Split(Split::Test | Split::Train) if args.tie_threshold.is_none() => {
            let v = Selection::Split(Split::Validation).prompts(&ix, &chosen.spec);
            (!v.is_empty()).then(|| EvalData::from_dataset(&ds, &ix, &v))
        }
        _ => None,
    };

    let mut registry = Registry::builtin();
    scoring::register(&mut registry, &paths, device);
    let truth = synth::read_dataset_truth(&args.dataset)
        .with_context(|| format!("reading the ground truth of {}", args.dataset.display()))?;
    let ctx = BaselineContext {
        seed: args.seed,
        truth: truth.as_deref().map(synth::latents_by_generation),
    };
    let baselines = registry.resolve(&args.baselines, &ctx, args.model_kind().map(|k| k.name()))?;

    let split = SplitEvaluation {
        data: &data,
        validation: validation.as_ref(),
        tie_threshold: args.tie_threshold,
        root: &ds.root,
        baselines: &baselines,
        options: EvalOptions {
            resamples: args.resamples,
            seed: args.seed,
            k: args.k,
            ..EvalOptions::default()
        },
        labels: EvalLabels {
            dataset: ds.meta.name.clone(),
            split: split_name.clone(),
            scored_by: chosen.scored_by,
        },
    };
    let model_scores = |d: &EvalData| chosen.scores.of(d, &ds.root);
    let evaluated = scoring::evaluate_split(&model_scores, &split)?;
    scoring::write_evaluation(&out, &evaluated.evaluation)?;
    outputs::write_prompt_table(&out, &data, &evaluated, args.k)?;
    let scored = matches!(chosen.scores, ModelScores::Scorer(_));
    outputs::write_scores(&out, &data, &evaluated, scored)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&evaluated.evaluation)?);
    } else {
        print!("{}", eval::report::markdown(&evaluated.evaluation));
    }
    eprintln!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// The dataset, refused when validation finds problems (figures on broken data would mislead).
pub(crate) fn read_valid_dataset(dir: &Path) -> Result<Dataset> {
    let ds = crate::commands::read_dataset(dir)?;
    let problems = validate(&ds, Checks { images: false });
    if !problems.is_empty() {
        let first: Vec<String> = problems.iter().take(3).map(|p| p.to_string()).collect();
        bail!(
            "{} has {} problem(s), e.g. {}; run `rewardlab validate {}` and fix or re-import it",
            dir.display(),
            problems.len(),
            first.join("; "),
            dir.display()
        );
    }
    Ok(ds)
}
