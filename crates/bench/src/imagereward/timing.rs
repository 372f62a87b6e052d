//! The timing of ImageReward's scoring: the Rust side of the
//! comparison with the official code (`scripts/bench_imagereward_official.py`), on the same real-size
//! random-weight checkpoint, the same prompt and the same decoded images.
//!
//! The images are the eight of the shared data folder whose decoding both sides agree on byte for
//! byte (seven PNGs and a lossless WebP; the parity tests check them against the official
//! preprocessing), so that the rewards of the two sides can be compared too.
//!
//! A figure is images per second, the median over timed repeats after warm-up runs; every repeat
//! scores all the images, preprocessing included, and reads the rewards back to the host.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::DynamicImage;

use pretrained::PretrainedError;
use pretrained::imagereward::ImageReward;
use pretrained::preprocess::load_image;

use crate::cpu::process_cpu_seconds;
use crate::timing::{Repeats, median};

/// The prompt both sides score (the one of the ImageReward README's example).
pub const BENCH_PROMPT: &str =
    "a painting of an ocean with clouds and birds, day time, low depth field effect";

/// The benchmark's images, relative to the shared data folder: lossless formats only (as when
/// the JPEG decoder was not yet Pillow's; kept so that timings stay comparable).
pub const BENCH_IMAGES: [&str; 8] = [
    "captioned-images/astronaut.png",
    "captioned-images/camera.png",
    "captioned-images/chelsea.png",
    "captioned-images/coffee.png",
    "captioned-images/horse.png",
    "captioned-images/motorcycle_right.png",
    "captioned-images/page.png",
    "imagereward-assets/1.webp",
];

/// [`BENCH_IMAGES`] under a shared data folder.
pub fn bench_image_paths(data: &Path) -> Vec<PathBuf> {
    BENCH_IMAGES.iter().map(|name| data.join(name)).collect()
}

/// Decodes images as Pillow opens them (each in its own mode).
pub fn load_images<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<DynamicImage>, PretrainedError> {
    paths.iter().map(load_image).collect()
}

/// What timing the scoring of a prompt with a set of images found.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoringTiming {
    /// Images per second: the median over the timed runs.
    pub images_per_s: f64,
    /// Seconds of each timed run, in order.
    pub repeats_s: Vec<f64>,
    /// CPU seconds (all threads of the process, user and system) of each timed run, where the
    /// system tells ([`process_cpu_seconds`]): steadier than wall-clock time on a shared machine.
    pub repeats_cpu_s: Option<Vec<f64>>,
    /// The rewards of the last run, one per image.
    pub rewards: Vec<f32>,
}

/// Times `model.score(prompt, images)` (at the model's batch size, see
/// [`ImageReward::with_batch_size`]): `repeats.warmup` untimed runs, then `repeats.repeats` timed
/// ones. `progress` receives a line per run.
///
/// # Errors
///
/// [`PretrainedError::Input`] for no images or no timed run; any error of [`ImageReward::score`].
pub fn time_scoring(
    model: &ImageReward,
    prompt: &str,
    images: &[DynamicImage],
    repeats: Repeats,
    mut progress: impl FnMut(&str),
) -> Result<ScoringTiming, PretrainedError> {
    if images.is_empty() || repeats.repeats == 0 {
        return Err(PretrainedError::Input {
            message: format!(
                "a benchmark needs images and timed runs, not {} images and {} runs",
                images.len(),
                repeats.repeats
            ),
        });
    }
    let mut rewards = Vec::new();
    for i in 0..repeats.warmup {
        let t0 = Instant::now();
        rewards = model.score(prompt, images)?;
        progress(&format!(
            "warm-up {}/{}: {:.2} s",
            i + 1,
            repeats.warmup,
            t0.elapsed().as_secs_f64()
        ));
    }
    let mut repeats_s = Vec::with_capacity(repeats.repeats);
    let mut repeats_cpu_s = Some(Vec::with_capacity(repeats.repeats));
    for i in 0..repeats.repeats {
        let (t0, c0) = (Instant::now(), process_cpu_seconds());
        rewards = model.score(prompt, images)?;
        let seconds = t0.elapsed().as_secs_f64();
        repeats_s.push(seconds);
        repeats_cpu_s = match (repeats_cpu_s, c0, process_cpu_seconds()) {
            (Some(mut cpu), Some(c0), Some(c1)) => {
                cpu.push(c1 - c0);
                Some(cpu)
            }
            _ => None,
        };
        progress(&format!(
            "repeat {}/{}: {seconds:.2} s, {:.3} images/s",
            i + 1,
            repeats.repeats,
            images.len() as f64 / seconds
        ));
    }
    let rates: Vec<f64> = repeats_s.iter().map(|s| images.len() as f64 / s).collect();
    Ok(ScoringTiming {
        images_per_s: median(&rates),
        repeats_s,
        repeats_cpu_s,
        rewards,
    })
}

/// The largest absolute difference between two reward lists of the same length, else `None`.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> Option<f32> {
    (a.len() == b.len()).then(|| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    })
}

#[cfg(test)]
mod tests {
    use pretrained::blip::{BlipTokenizer, BlipVitConfig, MedConfig};
    use pretrained::imagereward::ImageRewardConfig;

    use super::*;

    /// The tiny ImageReward the official code made (its 40-wide image encoder is not one of
    /// BLIP's, so the configuration comes from the fixture's own record).
    fn tiny_model(dir: &Path) -> ImageReward {
        let fixture: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("fixture_config.json")).unwrap(),
        )
        .unwrap();
        let vit: BlipVitConfig = serde_json::from_value(fixture["model"]["vit"].clone()).unwrap();
        let med = MedConfig::from_file(dir.join("med_config.json")).unwrap();
        let config = ImageRewardConfig::new(vit, med);
        let tokenizer =
            BlipTokenizer::from_file(dir.join("tokenizer.json"), config.max_length).unwrap();
        let device = burn::tensor::Device::flex();
        ImageReward::from_checkpoint_with(dir.join("ImageReward.pt"), config, tokenizer, &device)
            .unwrap()
    }

    #[test]
    fn median_and_differences() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(max_abs_diff(&[1.0, 2.0], &[1.5, 1.0]), Some(1.0));
        assert_eq!(max_abs_diff(&[1.0], &[1.0, 2.0]), None);
    }

    /// The timed runs score as `score` does, and a benchmark without images or timed runs is a
    /// typed error.
    #[test]
    fn timing_scores_as_score_does() {
        let (Some(dir), Some(data)) = (
            paths::shared_or_skip!("fixtures/tiny-imagereward"),
            paths::shared_or_skip!("data"),
        ) else {
            return;
        };
        let model = tiny_model(&dir).with_batch_size(3);
        let images = load_images(&bench_image_paths(&data)).unwrap();
        let mut lines = 0;
        let once = Repeats {
            warmup: 1,
            repeats: 2,
        };
        let timing = time_scoring(&model, BENCH_PROMPT, &images, once, |_| lines += 1).unwrap();
        assert_eq!(lines, 3);
        assert_eq!(timing.rewards, model.score(BENCH_PROMPT, &images).unwrap());
        assert_eq!(timing.repeats_s.len(), 2);
        assert!(timing.images_per_s > 0.0);
        let none = Repeats {
            warmup: 0,
            repeats: 0,
        };
        assert!(matches!(
            time_scoring(&model, BENCH_PROMPT, &images, none, |_| ()),
            Err(PretrainedError::Input { .. })
        ));
        assert!(matches!(
            time_scoring(&model, BENCH_PROMPT, &[], once, |_| ()),
            Err(PretrainedError::Input { .. })
        ));
    }

    #[test]
    fn bench_images_are_lossless_and_present() {
        let Some(data) = paths::shared_or_skip!("data") else {
            return;
        };
        let paths = bench_image_paths(&data);
        assert!(
            paths
                .iter()
                .all(|p| p.extension().is_some_and(|e| e == "png" || e == "webp"))
        );
        assert_eq!(load_images(&paths).unwrap().len(), BENCH_IMAGES.len());
    }
}
