//! The benchmark table of `rewardlab bench analyze`: a synthetic annotation table of any size
//! (1,000,000 judgments by default) shaped like ImageRewardDB with several annotators per prompt:
//! 4 to 9 images per prompt, three annotators from a pool of 60 who each rank the images into
//! up to 5 tiers (with ties) and rate four criteria on 1..7, prompts in 8 categories, some with
//! quality words that raise fidelity. Deterministic from the seed; no images.

use annotations::{Dataset, DatasetMeta, ImagesState, Row};

const OBJECTS: &[&str] = &[
    "cat",
    "dog",
    "castle",
    "robot",
    "forest",
    "city",
    "dragon",
    "ship",
    "portrait",
    "car",
    "mountain",
    "flower",
    "bird",
    "house",
    "astronaut",
    "tree",
];
const ADJECTIVES: &[&str] = &[
    "red",
    "blue",
    "ancient",
    "tiny",
    "giant",
    "golden",
    "dark",
    "glowing",
    "wooden",
    "futuristic",
];
const SCENES: &[&str] = &[
    "on a hill",
    "in the rain",
    "at sunset",
    "under the sea",
    "in a library",
    "on the moon",
    "in a garden",
    "near a river",
];
const STYLES: &[&str] = &[
    "oil painting",
    "photo",
    "watercolor",
    "pixel art",
    "anime style",
    "3d render",
];
const QUALITY: &[&str] = &[
    "highly detailed",
    "8k",
    "4k",
    "trending on artstation",
    "masterpiece",
    "sharp focus",
];
const CATEGORIES: &[&str] = &[
    "animals",
    "architecture",
    "people",
    "fantasy",
    "vehicles",
    "nature",
    "objects",
    "space",
];

/// Annotators who judge each prompt, and the pool they come from.
pub const RATERS_PER_PROMPT: usize = 3;
pub const ANNOTATOR_POOL: usize = 60;

/// A dataset of exactly `judgments` rows (at least 2).
pub fn table(judgments: usize, seed: u64) -> Dataset {
    let mut rng = prng::Rng::derive(seed, "bench-analyze");
    let bias: Vec<f64> = (0..ANNOTATOR_POOL).map(|_| 0.4 * rng.normal()).collect();
    let mut rows = Vec::with_capacity(judgments);
    let mut remaining = judgments.max(2);
    let mut p = 0usize;
    while remaining > 0 {
        // Full prompts while at least 30 judgments remain (one takes at most 27, so at least 3
        // are left for a last prompt of one annotator).
        let (k, r) = if remaining >= 30 {
            (rng.range_usize(4, 9), RATERS_PER_PROMPT)
        } else {
            (remaining, 1)
        };
        remaining -= k * r;
        let quality = rng.bernoulli(0.3).then(|| *rng.choose(QUALITY));
        let mut text = format!(
            "a {} {} {}, {}",
            rng.choose(ADJECTIVES),
            rng.choose(OBJECTS),
            rng.choose(SCENES),
            rng.choose(STYLES)
        );
        if let Some(q) = quality {
            text = format!("{text}, {q}");
        }
        let category = CATEGORIES[p % CATEGORIES.len()];
        let boost = if quality.is_some() { 0.5 } else { 0.0 };
        // Latent qualities of each image: alignment, fidelity (raised by quality words),
        // harmlessness; overall mixes them.
        let latents: Vec<[f64; 3]> = (0..k)
            .map(|_| [rng.normal(), rng.normal() + boost, 1.5 + 0.5 * rng.normal()])
            .collect();
        let first = rng.below(ANNOTATOR_POOL);
        for j in 0..r {
            let a = (first + j * 7) % ANNOTATOR_POOL;
            let perceived: Vec<[f64; 4]> = latents
                .iter()
                .map(|l| {
                    let al = l[0] + 0.6 * rng.normal() + bias[a];
                    let fi = l[1] + 0.6 * rng.normal() + bias[a];
                    let ha = l[2] + 0.3 * rng.normal();
                    [
                        0.5 * al + 0.4 * fi + 0.1 * ha + 0.3 * rng.normal(),
                        al,
                        fi,
                        ha,
                    ]
                })
                .collect();
            let mut order: Vec<usize> = (0..k).collect();
            order.sort_by(|&x, &y| perceived[y][0].total_cmp(&perceived[x][0]));
            let tiers = rng.range_usize(3, 5).min(k);
            let mut rank = vec![0u32; k];
            for (pos, &i) in order.iter().enumerate() {
                rank[i] = (1 + pos * tiers / k) as u32;
            }
            for i in 0..k {
                let level = |x: f64| (4.0 + 1.3 * x).round().clamp(1.0, 7.0) as f32;
                let v = perceived[i];
                rows.push(Row {
                    prompt_id: format!("p{p}"),
                    prompt: text.clone(),
                    category: Some(category.to_string()),
                    expected_images: None,
                    generation_id: format!("p{p}/{i}"),
                    image: None,
                    annotator: Some(format!("a{a:02}")),
                    rank: Some(rank[i]),
                    ratings: annotations::PerCriterion::from_fn(|c| Some(level(v[c.index()]))),
                    source_row: rows.len() + 1,
                });
            }
        }
        p += 1;
    }
    let mut meta = DatasetMeta::new(format!("bench-{judgments}"), "bench");
    meta.description = "synthetic benchmark table of `rewardlab bench analyze`".into();
    meta.images = ImagesState::Absent;
    meta.rank_tiers = Some(5);
    Dataset::new(meta, "bench", ".", rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_exactly_the_judgments_asked_for_and_is_valid() {
        for n in [2, 29, 30, 1000] {
            let ds = table(n, 1);
            assert_eq!(ds.rows.len(), n.max(2));
            let problems = annotations::validate::validate(
                &ds,
                annotations::validate::Checks { images: false },
            );
            assert!(
                problems.is_empty(),
                "{n}: {:?}",
                &problems[..problems.len().min(3)]
            );
        }
        assert_eq!(table(500, 3).rows, table(500, 3).rows);
    }
}
