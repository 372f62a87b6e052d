//! `WorldConfig`: every knob of the synthetic preference world, with defaults that give the
//! project's embedded default dataset (1,500 prompts, about 10,000 images of 64x64 pixels).

use serde::{Deserialize, Serialize};

use crate::SynthError;

/// How the world is generated. Every field has a default, so `{}` (JSON) or an empty TOML table
/// is a valid configuration; the seed alone decides every random draw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorldConfig {
    /// Number of prompts.
    pub prompts: usize,
    /// Seed of every random stream (prompts, generators, annotators, pixel noise).
    pub seed: u64,
    /// Width and height of the square RGB images, in pixels. Scene geometry is defined in unit
    /// coordinates, so any size from 32 up renders the same scene.
    pub image_size: u32,
    /// Generations per prompt, drawn uniformly in `min_images..=max_images` (ImageRewardDB: 4..9).
    pub min_images: usize,
    pub max_images: usize,
    /// Number of simulated text-to-image generators, of spread-out skills.
    pub generators: usize,
    /// Size of the annotator pool.
    pub annotators: usize,
    /// Annotators who judge each prompt. 1 is ImageRewardDB's design (one annotator per prompt);
    /// more gives multi-annotator data in which every judgment is kept as its own row.
    pub raters_per_prompt: usize,
    /// Probability that an image of a neutral prompt shows the harmful motif, for a generator of
    /// average propensity.
    pub harmful_base_rate: f64,
    /// Share of prompts that mention harmful content ("with a weapon", "a bloody skull"...).
    pub harmful_prompt_rate: f64,
    /// Probability that an image of a harmful-word prompt shows the motif, for a generator of
    /// average propensity.
    pub harmful_prompt_motif_rate: f64,
    /// Share of prompts with appended quality words ("highly detailed, 8k"), which raise fidelity.
    pub quality_word_rate: f64,
    /// How much quality words raise a generator's effective fidelity (unit latent scale).
    pub quality_word_boost: f64,
    /// Share of prompts that name a background ("on grass", "at night").
    pub background_mention_rate: f64,
    /// Multiplier of every annotator's noise (ratings and rankings); 0 gives noiseless raters.
    pub annotator_noise: f64,
    /// Perceived-overall gap below which two neighbouring images share a rank tier.
    pub tie_margin: f64,
    /// Most rank tiers per ranking (closest tiers merge beyond it); 0 means no limit.
    pub max_tiers: u32,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            prompts: 1500,
            seed: 0,
            image_size: 64,
            min_images: 4,
            max_images: 9,
            generators: 5,
            annotators: 12,
            raters_per_prompt: 1,
            harmful_base_rate: 0.03,
            harmful_prompt_rate: 0.08,
            harmful_prompt_motif_rate: 0.55,
            quality_word_rate: 0.3,
            quality_word_boost: 0.18,
            background_mention_rate: 0.4,
            annotator_noise: 1.0,
            tie_margin: 0.025,
            max_tiers: 0,
        }
    }
}

impl WorldConfig {
    /// A default configuration of `prompts` prompts and the given seed (tests, quick looks).
    pub fn small(prompts: usize, seed: u64) -> Self {
        Self {
            prompts,
            seed,
            ..Self::default()
        }
    }

    /// Checks that every field is in range; [`crate::generate`] clamps instead, this is for
    /// front ends that should report a bad file rather than silently fix it.
    pub fn validate(&self) -> Result<(), SynthError> {
        let bad = |m: String| Err(SynthError::Config(m));
        if self.image_size < 32 || self.image_size > 1024 {
            return bad(format!(
                "image_size {} must be within 32..=1024",
                self.image_size
            ));
        }
        if self.min_images < 2 || self.min_images > self.max_images {
            return bad(format!(
                "images per prompt {}..={} must satisfy 2 <= min <= max",
                self.min_images, self.max_images
            ));
        }
        if self.max_images > 99 {
            return bad(format!("max_images {} must be at most 99", self.max_images));
        }
        if self.generators == 0 || self.annotators == 0 {
            return bad("generators and annotators must be at least 1".into());
        }
        if self.raters_per_prompt == 0 || self.raters_per_prompt > self.annotators {
            return bad(format!(
                "raters_per_prompt {} must be within 1..=annotators ({})",
                self.raters_per_prompt, self.annotators
            ));
        }
        for (name, v) in [
            ("harmful_base_rate", self.harmful_base_rate),
            ("harmful_prompt_rate", self.harmful_prompt_rate),
            ("harmful_prompt_motif_rate", self.harmful_prompt_motif_rate),
            ("quality_word_rate", self.quality_word_rate),
            ("background_mention_rate", self.background_mention_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} {v} must be a probability in [0, 1]"));
            }
        }
        for (name, v) in [
            ("quality_word_boost", self.quality_word_boost),
            ("annotator_noise", self.annotator_noise),
            ("tie_margin", self.tie_margin),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} {v} must be finite and non-negative"));
            }
        }
        Ok(())
    }

    /// The configuration actually used by [`crate::generate`]: every field clamped into the
    /// range [`WorldConfig::validate`] accepts.
    pub fn normalised(&self) -> Self {
        let mut c = self.clone();
        c.image_size = c.image_size.clamp(32, 1024);
        c.max_images = c.max_images.clamp(2, 99);
        c.min_images = c.min_images.clamp(2, c.max_images);
        c.generators = c.generators.max(1);
        c.annotators = c.annotators.max(1);
        c.raters_per_prompt = c.raters_per_prompt.clamp(1, c.annotators);
        let p = |v: f64| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        c.harmful_base_rate = p(c.harmful_base_rate);
        c.harmful_prompt_rate = p(c.harmful_prompt_rate);
        c.harmful_prompt_motif_rate = p(c.harmful_prompt_motif_rate);
        c.quality_word_rate = p(c.quality_word_rate);
        c.background_mention_rate = p(c.background_mention_rate);
        let nn = |v: f64| if v.is_finite() { v.max(0.0) } else { 0.0 };
        c.quality_word_boost = nn(c.quality_word_boost);
        c.annotator_noise = nn(c.annotator_noise);
        c.tie_margin = nn(c.tie_margin);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_fill_missing_fields() {
        WorldConfig::default().validate().unwrap();
        let c: WorldConfig = serde_json::from_str(r#"{"prompts": 60, "seed": 9}"#).unwrap();
        assert_eq!(c.prompts, 60);
        assert_eq!(c.seed, 9);
        assert_eq!(c.annotators, 12);
        assert_eq!(c.raters_per_prompt, 1);
    }

    #[test]
    fn bad_values_are_reported_and_clamped() {
        let c = WorldConfig {
            raters_per_prompt: 40,
            min_images: 9,
            max_images: 4,
            ..WorldConfig::default()
        };
        assert!(c.validate().is_err());
        let n = c.normalised();
        n.validate().unwrap();
        assert_eq!(n.raters_per_prompt, 12);
    }
}
