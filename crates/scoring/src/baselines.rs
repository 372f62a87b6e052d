//! The pretrained scorers as evaluation baselines: each implements [`eval::Baseline`], and
//! [`register`] adds `clip-score`, `imagereward`, `pickscore` and `hpsv2` to an [`eval::Registry`],
//! available when their model's path is given.

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
    pub clip_score: Option<PathBuf>,
    /// ImageReward checkpoint, for `imagereward`.
    pub imagereward: Option<PathBuf>,
    /// PickScore's Hugging Face folder, for `pickscore`.
    pub pickscore: Option<PathBuf>,
    /// HPSv2 or HPSv2.1 checkpoint, for `hpsv2`.
    pub hpsv2: Option<PathBuf>,
    /// Images per forward pass.
    pub batch_size: usize,
}

impl Default for PretrainedPaths {
    fn default() -> Self {
        Self {
            clip_score: None,
            imagereward: None,
            pickscore: None,
            hpsv2: None,
            batch_size: DEFAULT_BATCH,
        }
    }
}

impl PretrainedPaths {
    /// The path a kind's model is at, if given.
    pub fn path(&self, kind: PretrainedScorerKind) -> Option<&PathBuf> {
        match kind {
            PretrainedScorerKind::ClipScore => self.clip_score.as_ref(),
            PretrainedScorerKind::ImageReward => self.imagereward.as_ref(),
            PretrainedScorerKind::PickScore => self.pickscore.as_ref(),
            PretrainedScorerKind::Hpsv2 => self.hpsv2.as_ref(),
        }
    }

    /// Where a kind's path is kept.
    pub fn slot(&mut self, kind: PretrainedScorerKind) -> &mut Option<PathBuf> {
        match kind {
            PretrainedScorerKind::ClipScore => &mut self.clip_score,
            PretrainedScorerKind::ImageReward => &mut self.imagereward,
            PretrainedScorerKind::PickScore => &mut self.pickscore,
            PretrainedScorerKind::Hpsv2 => &mut self.hpsv2,
        }
    }
}

/// Registers the pretrained scorers ([`PretrainedScorerKind::ALL`]), to run on `device`. Each is
/// available when its path is given and exists; otherwise creating it says which flag
/// (`--encoder DIR`, `--checkpoint FILE`, `--pickscore DIR`, `--hpsv2 FILE`) it needs.
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
            PretrainedScorerKind::PickScore => (
                "PickScore, exp(logit_scale) * cos, of its Hugging Face folder (needs --pickscore DIR)",
                "--pickscore DIR (PickScore_v1's Hugging Face folder)",
            ),
            PretrainedScorerKind::Hpsv2 => (
                "HPSv2's score, the cosine of image and prompt, from HPS_v2_compressed.pt or HPSv2.1's (needs --hpsv2 FILE)",
                "--hpsv2 FILE (HPS_v2_compressed.pt or HPS_v2.1_compressed.pt)",
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
