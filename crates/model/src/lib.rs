//! Multi-head reward models for text-to-image generation, in the spirit of ImageReward.
//!
//! A [`RewardModel`] scores (image, prompt) pairs with one shared encoder and several heads:
//!
//! ```text
//! image [B,3,S,S] -> ImageEncoder (conv stem -> patch tokens -> transformer) -+
//!                                                                            +-> Fusion -> [B,d]
//! token ids [B,L] -> TextEncoder (embeddings -> transformer, padding masked) -+      |
//!                                                   Heads: overall, alignment, fidelity, harmlessness
//! ```
//!
//! * `overall` is trained from pairwise preferences with a Bradley-Terry loss ([`Pairs`]);
//! * the Likert heads are trained from ratings ([`LikertTarget`]) with an ordinal
//!   cumulative-link loss or MSE ([`LikertLoss`]), and read back as ratings with
//!   [`RewardModel::predict_rating`].
//!
//! Typical training step (on `device.clone().autodiff()`):
//!
//! ```ignore
//! let out = model.forward(images, token_ids, attention_mask);
//! let losses = model.loss(&out, &Pairs::new(&pairs, &dev), &labels, &config.loss_weights);
//! let grads = GradientsParams::from_grads(losses.total.backward(), &model);
//! model = optim.step(lr, model, grads);
//! ```
//!
//! The crate knows nothing of file formats of datasets; it only persists its own weights
//! (safetensors), config (JSON) and tokenizer (`tokenizer.json`).

mod config;
mod error;
pub mod fusion;
pub mod heads;
pub mod image_encoder;
pub mod losses;
mod reward_model;
pub mod text_encoder;
pub mod tokenizer;
pub mod towers;

pub use config::{
    AlignmentReadout, FusionKind, LikertLoss, LikertScale, LossWeights, ModelConfig, StemActivation,
};
// One vocabulary of criteria for the workspace: the heads are named by the annotations' own.
pub use annotations::{Criterion, PerCriterion};
pub use error::ModelError;
pub use fusion::Fused;
pub use heads::{ImageRewardHead, OverallHead};
pub use image_encoder::{ImageEncoder, ImageFeatures};
pub use losses::{
    LikertLabels, LikertTarget, LossBreakdown, Pair, Pairs, RatingMode, matching_loss,
};
pub use reward_model::{CONFIG_FILE, RewardModel, RewardOutput, WEIGHTS_FILE};
pub use text_encoder::{TextEncoder, TextFeatures};
pub use tokenizer::{EncodedBatch, PromptTokenizer, TOKENIZER_FILE, TokenizerConfig};
pub use towers::{
    FrozenEncoder, FrozenPrompts, ImageInput, ImageTower, PretrainedKind, PretrainedParts,
    PretrainedSpec, TextInput, TextTower, cut_spec, load_pretrained,
};
