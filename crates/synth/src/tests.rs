//! Whole-world tests: determinism, structure of the rows, and the statistical properties the
//! world promises (quality words raise fidelity, harmful words raise the motif rate, ratings
//! track the latents, errors are visible in the pixels).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use annotations::Criterion;

use crate::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synth-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every file under `dir`, relative path -> bytes, in sorted order.
fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn small(prompts: usize, seed: u64) -> World {
    generate(&WorldConfig::small(prompts, seed))
}

#[test]
fn same_seed_gives_identical_rows_and_bytes_different_seed_differs() {
    let a = small(40, 7);
    let b = small(40, 7);
    assert_eq!(a.rows, b.rows);
    assert_eq!(a.truth, b.truth);
    let (da, db) = (temp_dir("det-a"), temp_dir("det-b"));
    a.write_files(&da).unwrap();
    b.write_files(&db).unwrap();
    let (ta, tb) = (read_tree(&da), read_tree(&db));
    assert_eq!(
        ta.len(),
        a.generations.len() + 2,
        "images + ground_truth.csv + world.json"
    );
    assert!(ta.contains_key("ground_truth.csv") && ta.contains_key("world.json"));
    assert!(ta.keys().eq(tb.keys()));
    for (k, v) in &ta {
        assert!(v == &tb[k], "{k} differs between two runs of the same seed");
    }
    let c = small(40, 8);
    assert_ne!(a.rows, c.rows);
    let dc = temp_dir("det-c");
    c.write_files(&dc).unwrap();
    assert_ne!(
        ta.get("images/p00001-g1.png"),
        read_tree(&dc).get("images/p00001-g1.png")
    );
    for d in [da, db, dc] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn smaller_world_is_a_prefix_of_a_larger_one() {
    let a = small(10, 3);
    let b = small(25, 3);
    assert_eq!(a.rows[..], b.rows[..a.rows.len()]);
    assert_eq!(a.truth[..], b.truth[..a.truth.len()]);
}

#[test]
fn prompts_have_4_to_9_images_and_contiguous_tiers() {
    for raters in [1, 3] {
        let cfg = WorldConfig {
            raters_per_prompt: raters,
            ..WorldConfig::small(60, 1)
        };
        let w = generate(&cfg);
        let ds = w.dataset(Path::new("/nowhere"));
        let ix = ds.index();
        assert_eq!(ix.prompts.len(), 60);
        assert_eq!(ix.generations.len(), w.generations.len());
        for p in &ix.prompts {
            assert!(
                (4..=9).contains(&p.generations.len()),
                "{} has {}",
                p.id,
                p.generations.len()
            );
            // per annotator: one rank per generation, tiers 1..=k all used
            let mut by_annotator: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
            for &g in &p.generations {
                assert_eq!(ix.generations[g].rows.len(), raters);
                for &r in &ix.generations[g].rows {
                    let row = &ds.rows[r];
                    by_annotator
                        .entry(row.annotator.as_deref().unwrap())
                        .or_default()
                        .push(row.rank.unwrap());
                }
            }
            assert_eq!(by_annotator.len(), raters);
            for ranks in by_annotator.values() {
                assert_eq!(ranks.len(), p.generations.len());
                let max = *ranks.iter().max().unwrap();
                for t in 1..=max {
                    assert!(
                        ranks.contains(&t),
                        "{}: tiers {ranks:?} not contiguous",
                        p.id
                    );
                }
            }
        }
        assert!(ix.annotators.len() <= 12);
    }
}

#[test]
fn rows_follow_the_canonical_schema() {
    let w = small(20, 2);
    assert_eq!(w.meta.name, "synthetic-world");
    assert_eq!(w.meta.source, "synth");
    assert_eq!((w.meta.scale.min, w.meta.scale.max), (1, 7));
    assert!(w.meta.description.contains("seed 2"));
    assert_eq!(w.rows.len(), w.perceived.len());
    for (i, row) in w.rows.iter().enumerate() {
        assert_eq!(row.source_row, i + 1);
        assert!(
            row.generation_id
                .starts_with(&format!("{}-g", row.prompt_id))
        );
        assert_eq!(
            row.image.as_deref(),
            Some(format!("images/{}.png", row.generation_id).as_str())
        );
        let a = row.annotator.as_deref().unwrap();
        assert!(a.len() == 3 && a.starts_with('a'), "{a}");
        assert!(row.expected_images.is_none());
        for c in Criterion::ALL {
            let v = row.rating(c).unwrap();
            assert!(w.meta.scale.contains(v) && v.fract() == 0.0, "{v}");
        }
    }
    assert_eq!(w.rows[0].prompt_id, "p00001");
    assert_eq!(w.rows[0].generation_id, "p00001-g1");
}

#[test]
fn every_category_appears() {
    let w = small(60, 4);
    for c in Category::ALL {
        assert!(
            w.summary.categories.get(c.name()).copied().unwrap_or(0) > 0,
            "{}",
            c.name()
        );
        assert!(
            w.rows
                .iter()
                .any(|r| r.category.as_deref() == Some(c.name()))
        );
    }
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

#[test]
fn quality_words_raise_true_fidelity() {
    let w = small(400, 5);
    let with = |q: bool| {
        mean(
            w.truth
                .iter()
                .zip(&w.generations)
                .filter(|(_, g)| w.prompts[g.prompt].quality_words.is_empty() != q)
                .map(|(t, _)| t.fidelity),
        )
    };
    let (yes, no) = (with(true), with(false));
    assert!(
        yes > no + 0.05,
        "fidelity with quality words {yes:.3}, without {no:.3}"
    );
}

#[test]
fn harmful_words_raise_the_motif_rate() {
    let cfg = WorldConfig {
        harmful_prompt_rate: 0.3,
        ..WorldConfig::small(300, 6)
    };
    let w = generate(&cfg);
    let rate = |h: bool| {
        mean(
            w.truth
                .iter()
                .zip(&w.generations)
                .filter(|(_, g)| w.prompts[g.prompt].harmful_phrase.is_some() == h)
                .map(|(t, _)| t.harmful_motif as u8 as f64),
        )
    };
    let (yes, no) = (rate(true), rate(false));
    assert!(
        yes > 3.0 * no && yes > 0.2,
        "motif rate with harmful words {yes:.3}, without {no:.3}"
    );
    assert!(
        w.truth
            .iter()
            .all(|t| t.harmful_motif == (t.harmlessness < 1.0))
    );
}

#[test]
fn alignment_errors_lower_alignment_and_overall() {
    let w = small(200, 7);
    let clean: Vec<&GroundTruth> = w.truth.iter().filter(|t| t.errors.is_empty()).collect();
    let wrong: Vec<&GroundTruth> = w.truth.iter().filter(|t| !t.errors.is_empty()).collect();
    assert!(clean.len() > 50 && wrong.len() > 50);
    assert!(clean.iter().all(|t| t.alignment == 1.0));
    assert!(
        wrong.iter().all(|t| t.alignment < 1.0),
        "every applied error breaks a requirement"
    );
    let m = |v: &[&GroundTruth], f: fn(&GroundTruth) -> f64| mean(v.iter().map(|t| f(t)));
    assert!(m(&clean, |t| t.overall) > m(&wrong, |t| t.overall) + 0.05);
    // more errors, lower alignment
    let two: Vec<&GroundTruth> = wrong
        .iter()
        .copied()
        .filter(|t| t.errors.len() >= 2)
        .collect();
    let one: Vec<&GroundTruth> = wrong
        .iter()
        .copied()
        .filter(|t| t.errors.len() == 1)
        .collect();
    assert!(m(&two, |t| t.alignment) < m(&one, |t| t.alignment));
}

#[test]
fn ratings_track_latents_and_ceilings_are_sensible() {
    let w = small(120, 8);
    for c in Criterion::ALL {
        let lat: Vec<f64> = w.truth.iter().map(|t| t.latent(c)).collect();
        let rat: Vec<f64> = w.rows.iter().map(|r| r.rating(c).unwrap() as f64).collect();
        let rho = spearman(&lat, &rat);
        assert!(rho > 0.5, "{c}: Spearman {rho:.3}");
        let ceiling = w.summary.oracle_spearman[c].unwrap();
        assert!(ceiling > 0.5 && ceiling < 1.0, "{c}: ceiling {ceiling:.3}");
    }
    let acc = w.summary.oracle_pairwise_accuracy;
    assert!(acc > 0.5 && acc < 1.0, "{acc}");
    assert!(w.summary.pairs_strict > 0 && w.summary.pairs_tied > 0);
    // noiseless annotators make the ceiling perfect
    let exact = generate(&WorldConfig {
        annotator_noise: 0.0,
        tie_margin: 0.0,
        ..WorldConfig::small(60, 8)
    });
    let acc0 = exact.summary.oracle_pairwise_accuracy;
    assert!(acc0 > 0.999, "{acc0}");
}

#[test]
fn ranking_follows_perceived_overall() {
    let w = small(60, 9);
    let o = Criterion::Overall.index();
    for (i, a) in w.rows.iter().enumerate() {
        for (j, b) in w.rows.iter().enumerate().skip(i + 1) {
            if a.prompt_id != b.prompt_id || a.annotator != b.annotator {
                continue;
            }
            let (pa, pb) = (w.perceived[i][o], w.perceived[j][o]);
            let (ra, rb) = (a.rank.unwrap(), b.rank.unwrap());
            if ra < rb {
                assert!(
                    pa > pb,
                    "{} rank {ra} perceived {pa} vs {} rank {rb} perceived {pb}",
                    a.generation_id,
                    b.generation_id
                );
            } else if ra > rb {
                assert!(pa < pb);
            } else {
                // ties only between close perceptions (chained, so allow a few margins)
                assert!((pa - pb).abs() <= 9.0 * w.config.tie_margin);
            }
        }
    }
}

/// An edit of a generation, for the visibility test.
type Change = dyn Fn(&mut Generation);

fn pixel_distance(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.as_raw().len() as f64
}

#[test]
fn errors_defects_and_motif_are_visible_in_pixels() {
    let w = small(30, 10);
    // a clean, noiseless reference generation
    let base = w
        .generations
        .iter()
        .find(|g| !g.objects.is_empty())
        .unwrap()
        .clone();
    let mut clean = base.clone();
    clean.defects = Defects::default();
    clean.motif = None;
    clean.contrast = 1.0;
    clean.objects.iter_mut().for_each(|o| o.broken = None);
    let reference = render(&clean, 64);
    let variant = |f: &dyn Fn(&mut Generation)| {
        let mut g = clean.clone();
        f(&mut g);
        pixel_distance(&reference, &render(&g, 64))
    };
    let changes: [(&str, &Change); 8] = [
        ("colour", &|g| {
            g.objects.iter_mut().for_each(|o| {
                o.colour = if o.colour == Colour::Red {
                    Colour::Blue
                } else {
                    Colour::Red
                }
            })
        }),
        ("shape", &|g| {
            g.objects.iter_mut().for_each(|o| {
                o.shape = if o.shape == Shape::Cross {
                    Shape::Circle
                } else {
                    Shape::Cross
                }
            })
        }),
        ("missing", &|g| g.objects.clear()),
        ("style", &|g| {
            g.objects.iter_mut().for_each(|o| {
                o.style = if o.style == Style::Outlined {
                    Style::Flat
                } else {
                    Style::Outlined
                }
            })
        }),
        ("noise", &|g| g.defects.noise_sigma = 20.0),
        ("blur", &|g| g.defects.blur_passes = 2),
        ("motif", &|g| {
            g.motif = Some(Motif {
                corner: 3,
                severity: 0.7,
            })
        }),
        ("contrast", &|g| g.contrast = 0.5),
    ];
    for (name, f) in changes {
        let d = variant(f);
        assert!(d > 0.3, "{name}: mean abs pixel change {d:.3}");
    }
    // the images of a prompt all differ from one another
    let imgs: Vec<_> = (0..w.generations.len()).map(|i| w.image(i)).collect();
    for i in 0..imgs.len() {
        for j in i + 1..imgs.len() {
            if w.generations[i].prompt == w.generations[j].prompt {
                assert!(
                    imgs[i] != imgs[j],
                    "{} == {}",
                    w.generations[i].id,
                    w.generations[j].id
                );
            }
        }
    }
}

#[test]
fn files_read_back() {
    let w = small(15, 11);
    let dir = temp_dir("read-back");
    w.write_files(&dir).unwrap();
    assert_eq!(
        read_ground_truth_csv(&dir.join("ground_truth.csv")).unwrap(),
        w.truth
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("world.json")).unwrap()).unwrap();
    let cfg: WorldConfig = serde_json::from_value(json["config"].clone()).unwrap();
    assert_eq!(cfg, w.config);
    let summary: WorldSummary = serde_json::from_value(json["summary"].clone()).unwrap();
    // serde_json parses floats to within an ulp, not necessarily exactly
    assert_eq!(
        (summary.prompts, summary.pairs_strict, summary.pairs_tied),
        (15, w.summary.pairs_strict, w.summary.pairs_tied)
    );
    assert!((summary.oracle_pairwise_accuracy - w.summary.oracle_pairwise_accuracy).abs() < 1e-9);
    for c in Criterion::ALL {
        assert!(
            (summary.oracle_spearman[c].unwrap() - w.summary.oracle_spearman[c].unwrap()).abs()
                < 1e-9
        );
    }
    let img = image::open(dir.join(w.image_path(0))).unwrap().to_rgb8();
    assert_eq!(img, w.image(0));
    assert!(matches!(
        read_ground_truth_csv(&dir.join("missing.csv")),
        Err(SynthError::Io { .. })
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn edge_configurations_generate() {
    let empty = small(0, 1);
    assert!(empty.rows.is_empty() && empty.summary.generations == 0);
    let big = generate(&WorldConfig {
        image_size: 96,
        raters_per_prompt: 12,
        min_images: 2,
        max_images: 2,
        ..WorldConfig::small(3, 1)
    });
    assert_eq!(big.image(0).dimensions(), (96, 96));
    assert_eq!(big.rows.len(), 3 * 2 * 12);
    let clamped = generate(&WorldConfig {
        raters_per_prompt: 50,
        generators: 0,
        ..WorldConfig::small(3, 1)
    });
    assert_eq!(clamped.config.raters_per_prompt, 12);
    assert_eq!(clamped.generators.len(), 1);
}
