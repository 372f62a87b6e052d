//! The run-or-pretrained choice `rewardlab score`, `rank` and `eval` make: one scorer, whichever
//! the command line named, behind [`ImageScorer`].

use std::path::{Path, PathBuf};

use annotations::Criterion;
use burn::prelude::Device;

use crate::error::Result;
use crate::pretrained::{PretrainedScorer, PretrainedScorerKind};
use crate::run::RunScorer;
use crate::{ImageScore, ImageScorer};

/// A trained run's model or a pretrained model.
// A program holds one scorer; both variants are module handles (the weights live in tensors).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum AnyScorer {
    Run(RunScorer),
    Pretrained(PretrainedScorer),
}

impl AnyScorer {
    /// The model of a run folder written by `rewardlab train`.
    pub fn run(run_dir: &Path, device: &Device) -> Result<Self> {
        RunScorer::load(run_dir, device).map(Self::Run)
    }

    /// A pretrained model from its path (a CLIP or PickScore folder, an ImageReward or HPSv2 checkpoint), scoring
    /// `batch_size` images per forward pass.
    pub fn pretrained(
        kind: PretrainedScorerKind,
        path: &Path,
        batch_size: usize,
        device: &Device,
    ) -> Result<Self> {
        PretrainedScorer::load(kind, path, batch_size, device).map(Self::Pretrained)
    }

    /// What its numbers are, for a line under a table of them.
    pub fn legend(&self) -> &'static str {
        match self {
            Self::Run(_) => "score, and predicted rating in parentheses for the Likert heads",
            Self::Pretrained(p) => match p.kind() {
                PretrainedScorerKind::ImageReward => {
                    "ImageReward's reward, normalised as the official code does"
                }
                PretrainedScorerKind::ClipScore => {
                    "CLIP score, 2.5 * max(cosine, 0); the same number for both heads"
                }
                PretrainedScorerKind::PickScore => {
                    "PickScore, exp(logit_scale) * cosine, as its README computes it"
                }
                PretrainedScorerKind::Hpsv2 => {
                    "HPSv2's score, the cosine of image and prompt, as hpsv2.score computes it"
                }
            },
        }
    }

    fn inner(&self) -> &dyn ImageScorer {
        match self {
            Self::Run(s) => s,
            Self::Pretrained(s) => s,
        }
    }
}

impl ImageScorer for AnyScorer {
    fn name(&self) -> &str {
        self.inner().name()
    }

    fn heads(&self) -> Vec<Criterion> {
        self.inner().heads()
    }

    fn score_files(&self, items: &[(String, PathBuf)]) -> Result<Vec<ImageScore>> {
        self.inner().score_files(items)
    }
}
