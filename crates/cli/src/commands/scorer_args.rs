//! The flags that name the model that scores, shared by `score`, `rank` and `eval`: a run
//! folder (`--run`) or a pretrained model (`--model`, with `--checkpoint`, `--encoder`,
//! `--batch-size`).

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
    /// A pretrained model instead of a run: imagereward (with --checkpoint FILE) or clip (CLIP
    /// score, with --encoder DIR).
    #[arg(long, value_enum)]
    pub model: Option<ModelKind>,
    #[command(flatten)]
    pub pretrained: PretrainedArgs,
}

impl ScorerArgs {
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
        let stray = |flag: &str, wanted: &str| {
            anyhow::anyhow!("{flag} is for {wanted}; drop it or use that model")
        };
        match (&self.run, self.model_kind()) {
            (Some(run), _) => {
                if self.pretrained.checkpoint.is_some() {
                    return Err(stray("--checkpoint", "--model imagereward"));
                }
                if self.pretrained.encoder.is_some() {
                    return Err(stray("--encoder", "--model clip"));
                }
                self.load_run(run, device)
            }
            (None, Some(kind)) => {
                match kind {
                    PretrainedKind::ImageReward if self.pretrained.encoder.is_some() => {
                        return Err(stray("--encoder", "--model clip"));
                    }
                    PretrainedKind::ClipScore if self.pretrained.checkpoint.is_some() => {
                        return Err(stray("--checkpoint", "--model imagereward"));
                    }
                    _ => {}
                }
                Ok(AnyScorer::Pretrained(self.pretrained.load(kind, device)?))
            }
            (None, None) => bail!("give --run DIR or --model imagereward|clip"),
        }
    }
}

/// A pretrained model that scores without a training run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelKind {
    /// ImageReward (THUDM) from its official ImageReward.pt; give --checkpoint FILE.
    Imagereward,
    /// CLIP score, 2.5 * max(cosine, 0), with a Hugging Face CLIP folder; give --encoder DIR.
    Clip,
}

impl ModelKind {
    pub fn pretrained(self) -> PretrainedKind {
        match self {
            ModelKind::Imagereward => PretrainedKind::ImageReward,
            ModelKind::Clip => PretrainedKind::ClipScore,
        }
    }
}

/// Where the pretrained models are (shared by `score`, `rank` and `eval`).
#[derive(clap::Args, Clone, Debug)]
pub struct PretrainedArgs {
    /// ImageReward checkpoint: the official ImageReward.pt (or a .safetensors copy of its state
    /// dict), with med_config.json and bert-base-uncased's vocab.txt (or tokenizer.json) beside
    /// it.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Hugging Face CLIP folder (config.json, model.safetensors, preprocessor_config.json, and
    /// tokenizer.json or OpenAI's bpe_simple_vocab_16e6.txt.gz).
    #[arg(long, value_name = "DIR")]
    pub encoder: Option<PathBuf>,
    /// Images per forward pass (default: 64 for a run, 16 for a pretrained model). A GPU wants
    /// larger batches; one that does not fit in its memory is an error that says so.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
}

impl PretrainedArgs {
    /// `--batch-size`, refused when 0.
    pub fn batch(&self) -> Result<Option<usize>> {
        if self.batch_size == Some(0) {
            bail!("--batch-size must be at least 1");
        }
        Ok(self.batch_size)
    }

    pub fn paths(&self) -> Result<PretrainedPaths> {
        Ok(PretrainedPaths {
            encoder: self.encoder.clone(),
            checkpoint: self.checkpoint.clone(),
            batch_size: self.batch()?.unwrap_or(scoring::pretrained::DEFAULT_BATCH),
        })
    }

    /// The flag that gives a kind's model.
    pub fn flag(kind: PretrainedKind) -> &'static str {
        match kind {
            PretrainedKind::ImageReward => "--checkpoint FILE",
            PretrainedKind::ClipScore => "--encoder DIR",
        }
    }

    /// Loads `--model KIND` from its flag onto `device`, with the error naming the flag when it
    /// is missing.
    pub fn load(&self, kind: PretrainedKind, device: &Device) -> Result<PretrainedScorer> {
        let paths = self.paths()?;
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
    }
}
