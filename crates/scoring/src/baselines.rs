//! The pretrained scorers as evaluation baselines: each implements [`eval::Baseline`], and
//! [`register`] adds `clip-score` and `imagereward` to an [`eval::Registry`], available when
//! their model's path is given.

use std::cell::OnceCell;
use std::path::PathBuf;

use burn::prelude::Device;
use eval::{Baseline, EvalError, ImageRef, ImageScores, Registry};

use crate::error::{Result, ScoringError};
use crate::pretrained::{DEFAULT_BATCH, PretrainedScorer, PretrainedScorerKind};
use crate::{ImageScorer, image_items};

/// A pretrained scorer as an evaluation baseline. The model is loaded when it first scores,
/// so that listing the baselines that can run ([`Registry::defaults`]) loads nothing, and
/// loaded once however many times it scores (test and validation prompts).
pub struct PretrainedBaseline {
    kind: PretrainedScorerKind,
    path: PathBuf,
    batch_size: usize,
    device: Device,
    scorer: OnceCell<PretrainedScorer>,
}

impl PretrainedBaseline {
    pub fn new(
        kind: PretrainedScorerKind,
        path: PathBuf,
        batch_size: usize,
        device: &Device,
    ) -> Self {
        Self {
            kind,
            path,
            batch_size,
            device: device.clone(),
            scorer: OnceCell::new(),
        }
    }

    /// The scorer, loaded on first use.
    pub fn scorer(&self) -> Result<&PretrainedScorer> {
        if let Some(s) = self.scorer.get() {
            return Ok(s);
        }
        let loaded = PretrainedScorer::load(self.kind, &self.path, self.batch_size, &self.device)?;
        Ok(self.scorer.get_or_init(|| loaded))
    }
}

impl Baseline for PretrainedBaseline {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn score(&self, images: &[ImageRef<'_>]) -> Result<Vec<ImageScores>, EvalError> {
        let unavailable = |e: ScoringError| EvalError::BaselineUnavailable {
            name: self.kind.name().into(),
            reason: e.to_string(),
        };
        // Checked before loading: a dataset without images should not cost a model load.
        image_items(self.kind.name(), images).map_err(unavailable)?;
        self.scorer()
            .and_then(|s| s.score_refs(images))
            .map_err(unavailable)
    }
}

/// Where the pretrained baselines' models are; `None` leaves a baseline unavailable.
#[derive(Clone, Debug)]
pub struct PretrainedPaths {
    /// Hugging Face CLIP folder, for `clip-score`.
    pub encoder: Option<PathBuf>,
    /// ImageReward checkpoint, for `imagereward`.
    pub checkpoint: Option<PathBuf>,
    /// Images per forward pass.
    pub batch_size: usize,
}

impl Default for PretrainedPaths {
    fn default() -> Self {
        Self {
            encoder: None,
            checkpoint: None,
            batch_size: DEFAULT_BATCH,
        }
    }
}

impl PretrainedPaths {
    /// The path a kind's model is at, if given.
    pub fn path(&self, kind: PretrainedScorerKind) -> Option<&PathBuf> {
        match kind {
            PretrainedScorerKind::ClipScore => self.encoder.as_ref(),
            PretrainedScorerKind::ImageReward => self.checkpoint.as_ref(),
        }
    }
}

/// Registers `clip-score` and `imagereward`, to run on `device`. Each is available when its path is given and
/// exists; otherwise creating it says which flag (`--encoder DIR`, `--checkpoint FILE`) it needs.
pub fn register(registry: &mut Registry, paths: &PretrainedPaths, device: &Device) {
    for kind in PretrainedScorerKind::ALL {
        let (summary, flag) = match kind {
            PretrainedScorerKind::ClipScore => (
                "CLIP score, 2.5 * max(cos, 0), of a Hugging Face CLIP folder (needs --encoder DIR)",
                "--encoder DIR (a Hugging Face CLIP folder)",
            ),
            PretrainedScorerKind::ImageReward => (
                "ImageReward's reward from its official ImageReward.pt (needs --checkpoint FILE)",
                "--checkpoint FILE (ImageReward.pt with med_config.json and vocab.txt beside it)",
            ),
        };
        let path = paths.path(kind).cloned();
        let batch_size = paths.batch_size;
        let device = device.clone();
        registry.register(
            kind.name(),
            summary,
            Box::new(move |_ctx| {
                let unavailable = |reason: String| EvalError::BaselineUnavailable {
                    name: kind.name().into(),
                    reason,
                };
                match &path {
                    None => Err(unavailable(format!("it needs {flag}"))),
                    Some(p) if !p.exists() => {
                        Err(unavailable(format!("{} does not exist", p.display())))
                    }
                    Some(p) => Ok(Box::new(PretrainedBaseline::new(
                        kind,
                        p.clone(),
                        batch_size,
                        &device,
                    )) as Box<dyn Baseline>),
                }
            }),
        );
    }
}
