//! The flags that name the model that scores, shared by `score`, `rank` and `eval`: a run
//! folder (`--run`) or a pretrained model (`--model`, with `--checkpoint`, `--encoder`,
//! `--pickscore`, `--hpsv2`, `--batch-size`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use scoring::PretrainedScorerKind as PretrainedKind;
use scoring::{AnyScorer, Device, PretrainedPaths, PretrainedScorer};

/// A trained run or a pretrained model.
#[derive(clap::Args)]
pub struct ScorerArgs {
    /// Run folder written by `rewardlab train`.
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// A pretrained model instead of a run: imagereward or hpsv2 (with --checkpoint FILE), clip
    /// (CLIP score) or pickscore (with --encoder DIR).
    #[arg(long, value_enum)]
    pub model: Option<ModelKind>,
    #[command(flatten)]
    pub pretrained: PretrainedArgs,
}

impl ScorerArgs {
    /// The split evaluated when `--split` is not given: a run's held-out prompts (`test`, by its
    /// config.toml's split), every prompt for a model not trained here (`all`).
    pub fn default_split(&self) -> &'static str {
        if self.run.is_some() { "test" } else { "all" }
    }

    /// The pretrained model named, if one is.
    pub fn model_kind(&self) -> Option<PretrainedKind> {
        self.model.map(ModelKind::pretrained)
    }

    /// The model of the run folder `run`, scoring `--batch-size` images per forward pass.
    pub fn load_run(&self, run: &std::path::Path, device: &Device) -> Result<AnyScorer> {
        let scorer = scoring::run::RunScorer::load(run, device)
            .with_context(|| format!("loading the model of {}", run.display()))?;
        if let Some(note) = scorer.verified.note() {
            eprintln!("{note}");
        }
        let batch = self
            .pretrained
            .batch()?
            .unwrap_or(scoring::run::SCORE_BATCH);
        Ok(AnyScorer::Run(scorer.with_batch_size(batch)))
    }

    /// The run or the pretrained model the flags name; a model flag the scorer does not use is
    /// an error, not silently ignored.
    pub fn load(&self, device: &Device) -> Result<AnyScorer> {
        match (&self.run, self.model_kind()) {
            (Some(run), _) => {
                if let Some((flag, kinds)) = self.pretrained.given().first() {
                    return Err(stray(flag, kinds));
                }
                self.load_run(run, device)
            }
            (None, Some(kind)) => {
                if let Some((flag, kinds)) = self
                    .pretrained
                    .given()
                    .into_iter()
                    .find(|(_, kinds)| !kinds.contains(&kind))
                {
                    return Err(stray(flag, kinds));
                }
                Ok(AnyScorer::Pretrained(self.pretrained.load(kind, device)?))
            }
            (None, None) => bail!("give --run DIR or --model {}", model_choices()),
        }
    }
}

/// The error for a model flag that the scorer chosen does not use.
fn stray(flag: &str, kinds: &[PretrainedKind]) -> anyhow::Error {
    let wanted: Vec<String> = kinds
        .iter()
        .map(|k| format!("--model {}", model_flag_value(*k)))
        .collect();
    anyhow::anyhow!(
        "{flag} is for {}; drop it or use that model",
        wanted.join(" or ")
    )
}

/// A pretrained model that scores without a training run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelKind {
    /// ImageReward (THUDM) from its official ImageReward.pt; give --checkpoint FILE.
    Imagereward,
    /// CLIP score, 2.5 * max(cosine, 0), with a Hugging Face CLIP folder; give --encoder DIR.
    Clip,
    /// PickScore, exp(logit_scale) * cosine, with its Hugging Face folder; give --encoder DIR
    /// (or --pickscore DIR).
    Pickscore,
    /// HPSv2's score (HPSv2 or HPSv2.1), the cosine of image and prompt, from its OpenCLIP
    /// checkpoint; give --checkpoint FILE (or --hpsv2 FILE).
    Hpsv2,
}

impl ModelKind {
    pub fn pretrained(self) -> PretrainedKind {
        match self {
            ModelKind::Imagereward => PretrainedKind::ImageReward,
            ModelKind::Clip => PretrainedKind::ClipScore,
            ModelKind::Pickscore => PretrainedKind::PickScore,
            ModelKind::Hpsv2 => PretrainedKind::Hpsv2,
        }
    }
}

/// Where the pretrained models are (shared by `score`, `rank` and `eval`).
///
/// `--checkpoint` and `--encoder` give the model that `--model` names (a checkpoint file, a
/// Hugging Face folder); without `--model` they are ImageReward's and CLIP score's, as
/// `eval`'s baselines. The flags named after a model give that model alone, so that `eval` can
/// compare with several at once.
#[derive(clap::Args, Clone, Debug)]
pub struct PretrainedArgs {
    /// ImageReward checkpoint: the official ImageReward.pt (or a .safetensors copy of its state
    /// dict), with med_config.json and bert-base-uncased's vocab.txt (or tokenizer.json) beside
    /// it; with --model hpsv2, HPSv2's checkpoint.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Hugging Face CLIP folder (config.json, model.safetensors, preprocessor_config.json, and
    /// tokenizer.json or OpenAI's bpe_simple_vocab_16e6.txt.gz); with --model pickscore,
    /// PickScore's folder.
    #[arg(long, value_name = "DIR")]
    pub encoder: Option<PathBuf>,
    /// PickScore's Hugging Face folder (yuvalkirstain/PickScore_v1: config.json,
    /// model.safetensors; its processor's preprocessor_config.json and tokenizer.json beside
    /// them when you have them), for --model pickscore or --baseline pickscore.
    #[arg(long, value_name = "DIR")]
    pub pickscore: Option<PathBuf>,
    /// HPSv2's checkpoint (HPS_v2_compressed.pt or HPS_v2.1_compressed.pt, from the xswu/HPSv2
    /// Hugging Face repository), for --model hpsv2 or --baseline hpsv2.
    #[arg(long, value_name = "FILE")]
    pub hpsv2: Option<PathBuf>,
    /// Images per forward pass (default: 64 for a run, 16 for a pretrained model). A GPU wants
    /// larger batches; one that does not fit in its memory is an error that says so.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
}

/// The model flags, each with the models it can give (the first is the one it gives without
/// `--model`).
const MODEL_FLAGS: [(&str, &[PretrainedKind]); 4] = [
    (
        "--checkpoint",
        &[PretrainedKind::ImageReward, PretrainedKind::Hpsv2],
    ),
    (
        "--encoder",
        &[PretrainedKind::ClipScore, PretrainedKind::PickScore],
    ),
    ("--pickscore", &[PretrainedKind::PickScore]),
    ("--hpsv2", &[PretrainedKind::Hpsv2]),
];

impl PretrainedArgs {
    /// `--batch-size`, refused when 0.
    pub fn batch(&self) -> Result<Option<usize>> {
        if self.batch_size == Some(0) {
            bail!("--batch-size must be at least 1");
        }
        Ok(self.batch_size)
    }

    /// The value of a flag of [`MODEL_FLAGS`].
    fn value(&self, flag: &str) -> Option<&PathBuf> {
        match flag {
            "--checkpoint" => self.checkpoint.as_ref(),
            "--encoder" => self.encoder.as_ref(),
            "--pickscore" => self.pickscore.as_ref(),
            "--hpsv2" => self.hpsv2.as_ref(),
            _ => None,
        }
    }

    /// The model flags given, each with the models it can give.
    pub fn given(&self) -> Vec<(&'static str, &'static [PretrainedKind])> {
        MODEL_FLAGS
            .into_iter()
            .filter(|(flag, _)| self.value(flag).is_some())
            .collect()
    }

    /// Each pretrained model's path: `model`'s from its own flag or the generic one that can
    /// give it, every other from its own flag or the generic flag it is the default of. Two
    /// flags giving `model` are refused.
    pub fn paths(&self, model: Option<PretrainedKind>) -> Result<PretrainedPaths> {
        let mut paths = PretrainedPaths {
            batch_size: self.batch()?.unwrap_or(scoring::pretrained::DEFAULT_BATCH),
            ..PretrainedPaths::default()
        };
        let mut given_by: Vec<(PretrainedKind, &str)> = Vec::new();
        for (flag, kinds) in MODEL_FLAGS {
            let Some(path) = self.value(flag) else {
                continue;
            };
            let kind = match model {
                Some(m) if kinds.contains(&m) => m,
                _ => kinds[0],
            };
            if let Some((_, first)) = given_by.iter().find(|(k, _)| *k == kind) {
                bail!("{first} and {flag} both give {}; give one", kind.name());
            }
            given_by.push((kind, flag));
            *paths.slot(kind) = Some(path.clone());
        }
        Ok(paths)
    }

    /// The flags that give a kind's model.
    pub fn flag(kind: PretrainedKind) -> &'static str {
        match kind {
            PretrainedKind::ImageReward => "--checkpoint FILE",
            PretrainedKind::ClipScore => "--encoder DIR",
            PretrainedKind::PickScore => "--encoder DIR (or --pickscore DIR)",
            PretrainedKind::Hpsv2 => "--checkpoint FILE (or --hpsv2 FILE)",
        }
    }

    /// The flag that gives a kind's model to `eval` as a baseline, beside another `--model`.
    pub fn baseline_flag(kind: PretrainedKind) -> &'static str {
        match kind {
            PretrainedKind::ImageReward => "--checkpoint FILE",
            PretrainedKind::ClipScore => "--encoder DIR",
            PretrainedKind::PickScore => "--pickscore DIR",
            PretrainedKind::Hpsv2 => "--hpsv2 FILE",
        }
    }

    /// Loads `--model KIND` from its flag onto `device`, with the error naming the flag when it
    /// is missing.
    pub fn load(&self, kind: PretrainedKind, device: &Device) -> Result<PretrainedScorer> {
        let paths = self.paths(Some(kind))?;
        let Some(path) = paths.path(kind) else {
            bail!(
                "--model {} needs {}",
                model_flag_value(kind),
                Self::flag(kind)
            );
        };
        eprintln!("loading {} from {}", kind.name(), path.display());
        // The error names the file at fault.
        Ok(PretrainedScorer::load(
            kind,
            path,
            paths.batch_size,
            device,
        )?)
    }
}

/// How `--model` spells a kind.
pub fn model_flag_value(kind: PretrainedKind) -> &'static str {
    match kind {
        PretrainedKind::ImageReward => "imagereward",
        PretrainedKind::ClipScore => "clip",
        PretrainedKind::PickScore => "pickscore",
        PretrainedKind::Hpsv2 => "hpsv2",
    }
}

/// `--model`'s values, as an error lists them (`imagereward|clip|pickscore`).
pub fn model_choices() -> String {
    PretrainedKind::ALL
        .into_iter()
        .map(model_flag_value)
        .collect::<Vec<_>>()
        .join("|")
}
