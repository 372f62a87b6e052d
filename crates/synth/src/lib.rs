//! The synthetic preference world: rewardlab's embedded default dataset, generated
//! deterministically in seconds, with known ground truth.
//!
//! Prompts are drawn from a compositional grammar of coloured shapes ([`grammar`]); simulated
//! generators of different skills ([`generators`]) draw each prompt 4..9 times with visible
//! alignment errors, fidelity defects, compositional taste and, sometimes, a harmful motif; the
//! images are rendered procedurally ([`render`]); their latent qualities are known exactly
//! ([`truth`]); simulated annotators with their own biases, scale use and noise rate and rank
//! them ([`annotators`]) into canonical [`annotations::Row`]s. [`WorldSummary`] reports the
//! oracle ceilings: what a perfect model of the latent truth reaches against these annotators.
//!
//! ```no_run
//! let world = synth::generate(&synth::WorldConfig::small(60, 0));
//! world.write_files("out/world".as_ref()).unwrap();
//! println!("{}", world.summary.oracle_pairwise_accuracy);
//! ```

pub mod annotators;
pub mod config;
pub mod error;
pub mod generators;
pub mod grammar;
pub mod render;
pub mod summary;
pub mod truth;
pub mod world;

pub use annotators::{AnnotatorProfile, ScaleUse, annotator_pool, rank_tiers};
pub use config::WorldConfig;
pub use error::SynthError;
pub use generators::{
    AlignmentError, Defects, DrawnObject, Generation, GeneratorProfile, Motif, generator_pool,
};
pub use grammar::{
    Background, Category, Colour, ObjectSpec, PromptSpec, Relation, SceneSpec, Shape, Size, Style,
    sample_prompt, scene_text,
};
pub use render::render;
pub use summary::{WorldSummary, spearman};
pub use truth::{
    GROUND_TRUTH_FILE, GroundTruth, ground_truth_csv, latents_by_generation,
    parse_ground_truth_csv, read_dataset_truth, read_ground_truth_csv, write_ground_truth_csv,
};
pub use world::{World, encode_png, generate, image_path};

#[cfg(test)]
mod tests;
