//! The world: prompts, generations, annotator judgments (as canonical [`annotations::Row`]s),
//! ground truth and summary, generated in memory by [`generate`] and written by
//! [`World::write_files`] (images, `ground_truth.csv`, `world.json`; the annotation table itself
//! is written by the `tables` crate).

use std::path::Path;

use annotations::{Criterion, Dataset, DatasetMeta, ImagesState, Row, Scale};
use image::RgbImage;
use rayon::prelude::*;
use serde::Serialize;

use crate::SynthError;
use crate::annotators::{AnnotatorProfile, annotator_pool, rank_tiers};
use crate::config::WorldConfig;
use crate::generators::{Generation, GeneratorProfile, generate_one, generator_pool};
use crate::grammar::{PromptSpec, sample_prompt};
use crate::render::render;
use crate::summary::{WorldSummary, oracle};
use crate::truth::{GROUND_TRUTH_FILE, GroundTruth, ground_truth, write_ground_truth_csv};

/// A generated world. Images are rendered on demand ([`World::image`]) from their
/// [`Generation`], which keeps a 10,000-image world at a few megabytes in memory.
#[derive(Clone, Debug)]
pub struct World {
    /// The configuration actually used (normalised).
    pub config: WorldConfig,
    pub meta: DatasetMeta,
    pub prompts: Vec<PromptSpec>,
    pub generators: Vec<GeneratorProfile>,
    pub annotators: Vec<AnnotatorProfile>,
    /// Every generated image, prompt by prompt; parallel to `truth`.
    pub generations: Vec<Generation>,
    /// Judgment rows, prompt by prompt, then rater, then generation.
    pub rows: Vec<Row>,
    /// What each row's annotator perceived, per criterion (latent scale, before bias and
    /// thresholds); parallel to `rows`. Rank tiers order the perceived overall.
    pub perceived: Vec<[f64; 4]>,
    /// Ground truth per generation, parallel to `generations`.
    pub truth: Vec<GroundTruth>,
    pub summary: WorldSummary,
}

/// What `world.json` holds.
#[derive(Serialize)]
struct WorldFile<'a> {
    format: &'static str,
    version: u32,
    config: &'a WorldConfig,
    generators: &'a [GeneratorProfile],
    annotators: &'a [AnnotatorProfile],
    summary: &'a WorldSummary,
}

/// Generates the world of `cfg` (clamped by [`WorldConfig::normalised`]). Deterministic: every
/// prompt, generation and rating draws from its own stream derived from the seed and its id, so
/// the same configuration always gives the same world, and a smaller world is a prefix of a
/// larger one with the same seed.
pub fn generate(cfg: &WorldConfig) -> World {
    let cfg = cfg.normalised();
    let generators = generator_pool(cfg.generators, cfg.seed);
    let annotators = annotator_pool(cfg.annotators, cfg.seed, cfg.annotator_noise);
    let mut prompts = Vec::with_capacity(cfg.prompts);
    let mut generations = Vec::new();
    let mut truth = Vec::new();
    let mut rows = Vec::new();
    let mut perceived_rows = Vec::new();
    for p in 0..cfg.prompts {
        let id = format!("p{:05}", p + 1);
        let mut rng = prng::Rng::derive(cfg.seed, &format!("prompt/{id}"));
        let spec = sample_prompt(&mut rng, id.clone(), &cfg);
        let n = rng.range_usize(cfg.min_images, cfg.max_images);
        let first = generations.len();
        for k in 0..n {
            let gid = format!("{id}-g{}", k + 1);
            let gi = rng.below(generators.len());
            let mut grng = prng::Rng::derive(cfg.seed, &format!("generation/{gid}"));
            let g = generate_one(&mut grng, gid, p, &spec, gi, &generators[gi], &cfg);
            truth.push(ground_truth(&id, &spec.scene, &g, &generators[gi].name));
            generations.push(g);
        }
        let mut arng = prng::Rng::derive(cfg.seed, &format!("raters/{id}"));
        let mut pool: Vec<usize> = (0..annotators.len()).collect();
        arng.shuffle(&mut pool);
        let mut raters = pool[..cfg.raters_per_prompt].to_vec();
        raters.sort_unstable();
        for a in raters {
            let ann = &annotators[a];
            let perceived: Vec<[f64; 4]> = truth[first..]
                .iter()
                .map(|t| Criterion::ALL.map(|c| t.latent(c) + ann.noise[c.index()] * arng.normal()))
                .collect();
            let overall: Vec<f64> = perceived
                .iter()
                .map(|v| v[Criterion::Overall.index()])
                .collect();
            let tiers = rank_tiers(&overall, cfg.tie_margin, cfg.max_tiers);
            for (k, g) in generations[first..].iter().enumerate() {
                let ratings = annotations::PerCriterion::from_fn(|c| {
                    Some(ann.rate(c.index(), perceived[k][c.index()]) as f32)
                });
                rows.push(Row {
                    prompt_id: id.clone(),
                    prompt: spec.text.clone(),
                    category: Some(spec.scene.category.name().to_string()),
                    expected_images: None,
                    generation_id: g.id.clone(),
                    image: Some(image_path(&g.id)),
                    annotator: Some(ann.id.clone()),
                    rank: Some(tiers[k]),
                    ratings,
                    source_row: rows.len() + 1,
                });
                perceived_rows.push(perceived[k]);
            }
        }
        prompts.push(spec);
    }
    let summary = summarise(&prompts, &truth, &rows);
    let mut meta = DatasetMeta::new("synthetic-world", "synth");
    meta.scale = Scale { min: 1, max: 7 };
    meta.images = ImagesState::Present;
    meta.description = format!(
        "Synthetic preference world of rewardlab (seed {}, {} prompts, {} images of {}x{} pixels, \
         {} generators, {} annotators, {} rater(s) per prompt); latent truth in ground_truth.csv.",
        cfg.seed,
        prompts.len(),
        generations.len(),
        cfg.image_size,
        cfg.image_size,
        cfg.generators,
        cfg.annotators,
        cfg.raters_per_prompt
    );
    World {
        config: cfg,
        meta,
        prompts,
        generators,
        annotators,
        generations,
        rows,
        perceived: perceived_rows,
        truth,
        summary,
    }
}

fn summarise(prompts: &[PromptSpec], truth: &[GroundTruth], rows: &[Row]) -> WorldSummary {
    let mut categories = std::collections::BTreeMap::new();
    for p in prompts {
        *categories
            .entry(p.scene.category.name().to_string())
            .or_insert(0) += 1;
    }
    let (pairs_strict, pairs_tied, oracle_pairwise_accuracy, oracle_spearman, mean_rating) =
        oracle(rows, truth);
    let mean_latent = annotations::PerCriterion::from_fn(|c| {
        Some(if truth.is_empty() {
            0.0
        } else {
            truth.iter().map(|t| t.latent(c)).sum::<f64>() / truth.len() as f64
        })
    });
    let pairs = pairs_strict + pairs_tied;
    // six decimals keep world.json readable; nothing downstream needs more
    let r6 = |x: f64| (x * 1e6).round() / 1e6;
    let r6c = |p: annotations::PerCriterion<f64>| p.map(|_, x| r6(x));
    WorldSummary {
        prompts: prompts.len(),
        generations: truth.len(),
        rows: rows.len(),
        categories,
        quality_word_prompts: prompts
            .iter()
            .filter(|p| !p.quality_words.is_empty())
            .count(),
        harmful_word_prompts: prompts
            .iter()
            .filter(|p| p.harmful_phrase.is_some())
            .count(),
        harmful_images: truth.iter().filter(|t| t.harmful_motif).count(),
        misaligned_images: truth.iter().filter(|t| !t.errors.is_empty()).count(),
        pairs_strict,
        pairs_tied,
        tie_fraction: r6(if pairs > 0 {
            pairs_tied as f64 / pairs as f64
        } else {
            0.0
        }),
        mean_latent: r6c(mean_latent),
        mean_rating: r6c(mean_rating),
        oracle_pairwise_accuracy: r6(oracle_pairwise_accuracy),
        oracle_spearman: r6c(oracle_spearman),
    }
}

/// Relative path of a generation's image: `images/<generation id>.png`.
pub fn image_path(generation_id: &str) -> String {
    format!("images/{generation_id}.png")
}

/// PNG bytes of an image (fixed encoder settings, so the bytes depend only on the pixels).
pub fn encode_png(img: &RgbImage) -> Result<Vec<u8>, image::ImageError> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut bytes = Vec::with_capacity(img.as_raw().len() / 2);
    PngEncoder::new_with_quality(&mut bytes, CompressionType::Fast, FilterType::Adaptive)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )?;
    Ok(bytes)
}

impl World {
    /// Renders generation `i` (index into [`World::generations`]).
    pub fn image(&self, i: usize) -> RgbImage {
        render(&self.generations[i], self.config.image_size)
    }

    /// Relative path of generation `i`'s image.
    pub fn image_path(&self, i: usize) -> String {
        image_path(&self.generations[i].id)
    }

    /// Every (relative path, image), rendered lazily in generation order.
    pub fn images(&self) -> impl Iterator<Item = (String, RgbImage)> + '_ {
        (0..self.generations.len()).map(|i| (self.image_path(i), self.image(i)))
    }

    /// The prompt of generation `i`.
    pub fn prompt_of(&self, i: usize) -> &PromptSpec {
        &self.prompts[self.generations[i].prompt]
    }

    /// The rows as a canonical dataset rooted at `root` (where `write_files` put the images).
    pub fn dataset(&self, root: &Path) -> Dataset {
        Dataset::new(
            self.meta.clone(),
            root.join("annotations.parquet"),
            root,
            self.rows.clone(),
        )
    }

    /// `world.json`: the configuration, generator and annotator profiles, and the summary.
    pub fn world_json(&self) -> Result<String, serde_json::Error> {
        let file = WorldFile {
            format: "rewardlab-synthetic-world",
            version: 1,
            config: &self.config,
            generators: &self.generators,
            annotators: &self.annotators,
            summary: &self.summary,
        };
        serde_json::to_string_pretty(&file).map(|s| s + "\n")
    }

    /// Writes `images/*.png`, `ground_truth.csv` and `world.json` under `dir` (created if
    /// needed). The bytes depend only on the configuration: images are rendered in parallel,
    /// but each from its own seed and to its own file.
    pub fn write_files(&self, dir: &Path) -> Result<(), SynthError> {
        let images = dir.join("images");
        std::fs::create_dir_all(&images).map_err(|e| SynthError::io(&images, e))?;
        // Each image from its own seed into its own file, on rayon's pool.
        (0..self.generations.len()).into_par_iter().try_for_each(
            |i| -> Result<(), SynthError> {
                let path = dir.join(self.image_path(i));
                let bytes = encode_png(&self.image(i)).map_err(|source| SynthError::Image {
                    path: path.clone(),
                    source,
                })?;
                std::fs::write(&path, bytes).map_err(|e| SynthError::io(&path, e))
            },
        )?;
        write_ground_truth_csv(&dir.join(GROUND_TRUTH_FILE), &self.truth)?;
        let json_path = dir.join("world.json");
        let json = self.world_json().map_err(|source| SynthError::Json {
            path: json_path.clone(),
            source,
        })?;
        std::fs::write(&json_path, json).map_err(|e| SynthError::io(&json_path, e))?;
        Ok(())
    }
}
