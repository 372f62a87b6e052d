//! End-to-end tests of the library on small synthetic worlds generated in memory (images in a
//! temp folder): batching, masked labels, resume exactness, learning vs shuffled labels, scoring.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use annotations::Dataset;
use annotations::splits::Split;
use burn::prelude::*;
use model::Criterion;

use crate::config::{MatchingNegatives, TiesRule, TrainConfig};
use crate::data::{GroupBatcher, plan_batches, prepare, train_tokenizer};
use crate::heldout::GroundTruthTable;
use crate::run::{TrainOptions, train};

struct TestWorld {
    ds: Dataset,
    truth: GroundTruthTable,
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rewardlab-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn make_world(prompts: usize, seed: u64) -> TestWorld {
    let dir = tmp(&format!("world-{prompts}-{seed}"));
    let world = synth::generate(&synth::WorldConfig::small(prompts, seed));
    world.write_files(&dir).unwrap();
    TestWorld {
        ds: world.dataset(&dir),
        truth: GroundTruthTable::from_truth(&world.truth),
    }
}

/// The world most tests share (written once per test process).
fn world() -> &'static TestWorld {
    static W: OnceLock<TestWorld> = OnceLock::new();
    W.get_or_init(|| make_world(100, 3))
}

fn opts(out: &Path, truth: Option<&GroundTruthTable>) -> TrainOptions {
    TrainOptions {
        out: out.to_path_buf(),
        ground_truth: truth.cloned(),
        ..Default::default()
    }
}

fn store_and_batcher(ds: &Dataset, config: &TrainConfig) -> GroupBatcher {
    let ix = ds.index();
    let (_, train, _, _) = crate::data::split(ds, &ix, config).unwrap();
    let path = tmp(&format!("tok-{}", ds.rows.len()));
    std::fs::create_dir_all(&path).unwrap();
    let tok = train_tokenizer(&ix, &train, config, &path.join("tokenizer.json")).unwrap();
    let store = std::sync::Arc::new(prepare(ds, config, &tok).unwrap());
    GroupBatcher {
        store,
        ties: config.data.ties,
        weights: model::LossWeights::new(),
        heads: Criterion::ALL.to_vec(),
        matching_every: config.data.matching_every,
        matching_negatives: config.data.matching_negatives,
        flips: None,
        grad_scale: 1.0,
    }
}

#[test]
fn batches_keep_prompt_groups_whole_and_pairs_in_range() {
    let w = world();
    let mut config = TrainConfig::smoke();
    for ties in [TiesRule::Drop, TiesRule::Half] {
        config.data.ties = ties;
        let batcher = store_and_batcher(&w.ds, &config);
        let st = batcher.store.clone();
        assert!(st.test.iter().all(|&p| st.splits[p] == Split::Test));
        let plans = plan_batches(st.prompts(Split::Train), 4, Some(1));
        let dev = Device::flex();
        let mut seen = 0;
        for plan in &plans {
            let b = batcher.build(&plan.prompts, &dev);
            let n = b.generations.len();
            let model::ImageInput::Pixels(pixels) = &b.images else {
                panic!("a scratch model's batch holds pixels")
            };
            assert_eq!(pixels.dims(), [n, 3, 32, 32]);
            // every generation of every planned prompt, consecutive, in prompt order
            let expect: Vec<usize> = plan
                .prompts
                .iter()
                .flat_map(|&p| st.index.prompts[p].generations.clone())
                .collect();
            assert_eq!(b.generations, expect);
            for &(bi, wi) in &b.strict {
                assert!(bi < n && wi < n && bi != wi);
                assert_eq!(
                    st.index.generations[b.generations[bi]].prompt,
                    st.index.generations[b.generations[wi]].prompt
                );
            }
            let n_pairs: usize = plan.prompts.iter().map(|&p| st.pairs[p].len()).sum();
            let n_strict: usize = plan
                .prompts
                .iter()
                .map(|&p| st.pairs[p].iter().filter(|l| !l.tie).count())
                .sum();
            assert_eq!(b.strict.len(), n_strict);
            let [pairs_in_loss] = b.pairs.better.dims();
            let expected = if ties == TiesRule::Half {
                n_pairs
            } else {
                n_strict
            };
            assert_eq!(pairs_in_loss, expected.max(1));
            let px = pixels.clone().into_data().try_into_vec_as::<f32>().unwrap();
            assert!(px.iter().all(|v| (-1.0..=1.0).contains(v)));
            seen += plan.prompts.len();
        }
        assert_eq!(seen, st.train.len());
    }
}

#[test]
fn matching_negatives_pair_each_image_with_another_prompt() {
    let w = world();
    let config = TrainConfig::smoke();
    let mut batcher = store_and_batcher(&w.ds, &config);
    let st = batcher.store.clone();
    let plan = &plan_batches(st.prompts(Split::Train), 4, Some(1))[0];
    let dev = Device::flex();
    // Off while the matching weight is 0.
    assert!(batcher.build(&plan.prompts, &dev).mismatched.is_none());
    batcher.weights = model::LossWeights::new().with_matching(1.0);
    batcher.matching_every = 2;
    let words = |p: usize| st.token_set(p);
    for negatives in [MatchingNegatives::Random, MatchingNegatives::Similar] {
        batcher.matching_negatives = negatives;
        let b = batcher.build(&plan.prompts, &dev);
        let (idx, other) = b.mismatched.expect("matching is on");
        let idx: Vec<i64> = idx.into_data().try_into_vec_as::<i64>().unwrap();
        let other: Vec<i64> = other.into_data().try_into_vec_as::<i64>().unwrap();
        let rows: Vec<i64> = b.prompt_index.into_data().try_into_vec_as::<i64>().unwrap();
        assert_eq!(idx, (0..rows.len() as i64).step_by(2).collect::<Vec<_>>());
        for (&i, &o) in idx.iter().zip(&other) {
            let own = rows[i as usize] as usize;
            assert_ne!(own, o as usize, "{negatives:?}");
            if negatives == MatchingNegatives::Similar {
                // no other prompt of the batch shares more words
                let jac = |a: &std::collections::BTreeSet<i64>,
                           b: &std::collections::BTreeSet<i64>| {
                    a.intersection(b).count() as f64 / a.union(b).count() as f64
                };
                let mine = words(plan.prompts[own]);
                let chosen = jac(&mine, &words(plan.prompts[o as usize]));
                for (r, &p) in plan.prompts.iter().enumerate() {
                    if r != own && words(p) != mine {
                        assert!(jac(&mine, &words(p)) <= chosen + 1e-12);
                    }
                }
            }
        }
    }
}

#[test]
fn substituted_negatives_are_extra_text_rows_one_word_away() {
    let w = world();
    let mut config = TrainConfig::smoke();
    config.data.matching_negatives = MatchingNegatives::Substituted;
    let mut batcher = store_and_batcher(&w.ds, &config);
    batcher.weights = model::LossWeights::new().with_matching(1.0);
    batcher.matching_every = 3;
    let st = batcher.store.clone();
    // Mined from the 70 training prompts of this small world, the substitutes (colours,
    // shapes...) give most training and validation prompts variants; test prompts get none.
    let used: Vec<usize> = [Split::Train, Split::Validation]
        .iter()
        .flat_map(|&s| st.prompts(s).iter().copied())
        .collect();
    let with = used
        .iter()
        .filter(|&&p| !st.negatives[p].is_empty())
        .count();
    assert!(with * 2 > used.len(), "{with} of {}", used.len());
    assert!(
        st.prompts(Split::Test)
            .iter()
            .all(|&p| st.negatives[p].is_empty())
    );

    let plan = &plan_batches(st.prompts(Split::Train), 4, Some(1))[0];
    let b = batcher.build(&plan.prompts, &Device::flex());
    let (idx, other) = b.mismatched.expect("matching is on");
    let idx: Vec<i64> = idx.into_data().try_into_vec_as::<i64>().unwrap();
    let other: Vec<i64> = other.into_data().try_into_vec_as::<i64>().unwrap();
    let own_rows: Vec<i64> = b.prompt_index.into_data().try_into_vec_as::<i64>().unwrap();
    let model::TextInput::Ids { ids, mask } = b.text else {
        panic!("the scratch encoder reads token ids")
    };
    let t = plan.prompts.len();
    assert_eq!(ids.dims(), [t + idx.len(), st.seq_len]);
    assert_eq!(mask.dims(), ids.dims());
    let ids: Vec<i64> = ids.into_data().try_into_vec_as::<i64>().unwrap();
    let row = |r: usize| &ids[r * st.seq_len..(r + 1) * st.seq_len];
    // every third image, skipping those whose prompt has no variant
    let sampled: Vec<i64> = (0..own_rows.len())
        .step_by(3)
        .filter(|&i| !st.negatives[plan.prompts[own_rows[i] as usize]].is_empty())
        .map(|i| i as i64)
        .collect();
    assert!(!sampled.is_empty());
    assert_eq!(idx, sampled);
    for (k, (&i, &o)) in idx.iter().zip(&other).enumerate() {
        // the k-th negative is the k-th extra row, one of the image's own prompt's variants
        assert_eq!(o as usize, t + k);
        let p = plan.prompts[own_rows[i as usize] as usize];
        assert_ne!(row(o as usize), row(own_rows[i as usize] as usize));
        assert!(
            st.negatives[p]
                .iter()
                .any(|(v, _)| v.as_slice() == row(o as usize))
        );
    }
}

#[test]
fn mirrored_prompts_flip_their_images_and_swap_their_words() {
    let w = world();
    let mut config = TrainConfig::smoke();
    config.data.hflip = true;
    let mut batcher = store_and_batcher(&w.ds, &config);
    let st = batcher.store.clone();
    let prompts = st.prompts(Split::Train).to_vec();
    let with_words: Vec<usize> = prompts
        .iter()
        .copied()
        .filter(|&p| st.mirrored[p].is_some())
        .collect();
    assert!(!with_words.is_empty(), "the world has left/right prompts");
    for &p in &with_words {
        let text = st.index.prompts[p].text.to_lowercase();
        assert!(text.contains("left") || text.contains("right"), "{text}");
    }
    let dev = Device::flex();
    let plain = batcher.build(&prompts, &dev);
    let pixels = |b: &crate::data::GroupBatch| match &b.images {
        model::ImageInput::Pixels(x) => x.clone(),
        _ => panic!("the scratch encoder reads pixels"),
    };
    let text_rows = |b: &crate::data::GroupBatch| match &b.text {
        model::TextInput::Ids { ids, .. } => ids.clone().into_data().try_into_vec_as::<i64>(),
        _ => panic!("the scratch encoder reads token ids"),
    };
    // One batch per epoch: each build is the next epoch.
    let flips = crate::data::Flips::new(5, 1, 0);
    batcher.flips = Some(flips.clone());
    let rows: Vec<i64> = plain
        .prompt_index
        .clone()
        .into_data()
        .try_into_vec_as()
        .unwrap();
    let mut seen = [false; 2];
    for epoch in 0..2 {
        let b = batcher.build(&prompts, &dev);
        let ids = text_rows(&b).unwrap();
        let plain_ids = text_rows(&plain).unwrap();
        let l = st.seq_len;
        for (i, &r) in rows.iter().enumerate() {
            let p = prompts[r as usize];
            let flip = flips.mirrored(epoch, &st.index.prompts[p].id);
            seen[flip as usize] = true;
            let got = pixels(&b).narrow(0, i, 1);
            let expected = if flip {
                pixels(&plain).narrow(0, i, 1).flip([3])
            } else {
                pixels(&plain).narrow(0, i, 1)
            };
            got.into_data().assert_eq(&expected.into_data(), true);
            let row = &ids[r as usize * l..(r as usize + 1) * l];
            match (&st.mirrored[p], flip) {
                (Some((swapped, _)), true) => assert_eq!(row, swapped.as_slice()),
                _ => assert_eq!(row, &plain_ids[r as usize * l..(r as usize + 1) * l]),
            }
        }
    }
    assert_eq!(seen, [true, true], "some prompts mirrored, some not");
    // the count carries the epoch: a batcher started at epoch 1 draws as the second build did
    assert_eq!(flips.built.load(std::sync::atomic::Ordering::Relaxed), 2);
    let resumed = crate::data::Flips::new(5, 1, 1);
    assert_eq!(resumed.built.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn missing_ratings_are_masked() {
    let w = world();
    let mut ds = w.ds.clone();
    // Remove every fidelity rating of the first prompt, and all harmlessness ratings.
    let first = ds.rows[0].prompt_id.clone();
    for r in &mut ds.rows {
        if r.prompt_id == first {
            r.ratings[Criterion::Fidelity] = None;
        }
        r.ratings[Criterion::Harmlessness] = None;
    }
    let config = TrainConfig::smoke();
    let batcher = store_and_batcher(&ds, &config);
    let st = batcher.store.clone();
    let p0 = st.index.prompt_by_id[&first];
    let others: Vec<usize> = (0..st.index.prompts.len())
        .filter(|&p| p != p0)
        .take(2)
        .collect();
    let prompts = [vec![p0], others].concat();
    let b = batcher.build(&prompts, &Device::flex());
    let k0 = st.index.prompts[p0].generations.len();
    let mask = |c| {
        b.labels
            .get(c)
            .unwrap()
            .mask
            .clone()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap()
    };
    let fid = mask(Criterion::Fidelity);
    assert!(
        fid[..k0].iter().all(|m| *m == 0.0) && fid[k0..].iter().all(|m| *m == 1.0),
        "{fid:?}"
    );
    assert!(mask(Criterion::Harmlessness).iter().all(|m| *m == 0.0));
    assert!(mask(Criterion::Alignment).iter().all(|m| *m == 1.0));
    let fv = b.label_values[Criterion::Fidelity].as_ref().unwrap();
    assert!(fv[..k0].iter().all(Option::is_none) && fv[k0..].iter().all(Option::is_some));
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let w = world();
    let out = tmp("bad");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("x"), "").unwrap();
    let err = train(
        &w.ds,
        &TrainConfig::smoke(),
        &opts(&out, None),
        &Device::flex(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    let err = train(
        &w.ds,
        &TrainConfig::smoke(),
        &TrainOptions {
            resume: true,
            ..opts(&out, None)
        },
        &Device::flex(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("config.toml"), "{err}");
    let mut absent = w.ds.clone();
    absent.meta.images = annotations::ImagesState::Absent;
    assert!(
        train(
            &absent,
            &TrainConfig::smoke(),
            &opts(&tmp("absent"), None),
            &Device::flex()
        )
        .is_err()
    );
    let mut missing = w.ds.clone();
    missing.rows[0].image = Some("images/none.png".into());
    assert!(
        train(
            &missing,
            &TrainConfig::smoke(),
            &opts(&tmp("missing"), None),
            &Device::flex()
        )
        .is_err()
    );
}

#[test]
fn resume_reaches_the_same_final_numbers() {
    let w = world();
    let mut config = TrainConfig::smoke();
    config.optim.epochs = 3;
    // The default model's extras must resume exactly too: FiLM, matching negatives, ReLU stem,
    // mirroring.
    config.model.text_film = true;
    config.model.stem_activation = model::StemActivation::Relu;
    config.model.loss_weights.matching = 1.0;
    config.data.matching_negatives = MatchingNegatives::Similar;
    // Mirroring counts batches to know the epoch: a resumed run must draw the same flips.
    config.data.hflip = true;
    let full_dir = tmp("full");
    let full = train(
        &w.ds,
        &config,
        &opts(&full_dir, Some(&w.truth)),
        &Device::flex(),
    )
    .unwrap();

    let part_dir = tmp("part");
    config.optim.epochs = 2;
    let first = train(
        &w.ds,
        &config,
        &opts(&part_dir, Some(&w.truth)),
        &Device::flex(),
    )
    .unwrap();
    assert_eq!(first.history.len(), 2);
    config.optim.epochs = 3;
    let resumed = train(
        &w.ds,
        &config,
        &TrainOptions {
            resume: true,
            ..opts(&part_dir, Some(&w.truth))
        },
        &Device::flex(),
    )
    .unwrap();
    assert_eq!(resumed.history.len(), 3);
    assert_eq!(resumed.summary["resumed_from"], 2);

    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * (1.0 + a.abs());
    for (a, b) in full.history.iter().zip(&resumed.history) {
        for (k, v) in &a.valid {
            let u = b.valid[k];
            assert!(
                close(*v, u) || (v.is_nan() && u.is_nan()),
                "epoch {} valid {k}: {v} vs {u}",
                a.epoch
            );
        }
    }
    assert_eq!(full.heldout.scores.len(), resumed.heldout.scores.len());
    for ((g1, s1), (g2, s2)) in full.heldout.scores.iter().zip(&resumed.heldout.scores) {
        assert_eq!(g1, g2);
        for k in Criterion::ALL {
            let (a, b) = (s1[k].unwrap(), s2[k].unwrap());
            assert!(close(a, b), "generation {g1} head {k}: {a} vs {b}");
        }
    }
    assert_eq!(
        full.heldout.overall.pairwise_accuracy,
        resumed.heldout.overall.pairwise_accuracy
    );
    // the run folder has everything
    for f in [
        "config.toml",
        "tokenizer.json",
        "metrics.csv",
        "model.safetensors",
        "model_config.json",
        "summary.json",
    ] {
        assert!(part_dir.join(f).exists(), "{f}");
    }
    let csv = std::fs::read_to_string(part_dir.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
}

/// Ratings and ranks permuted across all judgments: no signal left to learn.
fn shuffled(ds: &Dataset, seed: u64) -> Dataset {
    let mut ds = ds.clone();
    let mut labels: Vec<(Option<u32>, annotations::PerCriterion<f32>)> =
        ds.rows.iter().map(|r| (r.rank, r.ratings)).collect();
    prng::Rng::derive(seed, "shuffle-labels").shuffle(&mut labels);
    for (r, (rank, ratings)) in ds.rows.iter_mut().zip(labels) {
        r.rank = rank;
        r.ratings = ratings;
    }
    ds
}

#[test]
fn training_beats_chance_and_shuffled_labels_do_not() {
    let w = make_world(240, 11);
    let mut config = TrainConfig::smoke();
    config.data.split.test = 0.3;
    config.optim.epochs = 15;
    // The pairwise loss (about ln 2) is small next to the three ordinal losses: weigh it up so
    // the overall head learns within the few epochs of a test.
    config.model.loss_weights.overall = 4.0;
    let real = train(
        &w.ds,
        &config,
        &opts(&tmp("real"), Some(&w.truth)),
        &Device::flex(),
    )
    .unwrap();
    let acc = real.heldout.overall.pairwise_accuracy.unwrap();
    let fake = train(
        &shuffled(&w.ds, 1),
        &config,
        &opts(&tmp("shuffled"), Some(&w.truth)),
        &Device::flex(),
    )
    .unwrap();
    let fake_acc = fake.heldout.overall.pairwise_accuracy.unwrap();
    eprintln!(
        "held-out pairwise accuracy: real labels {acc:.3}, shuffled labels {fake_acc:.3} ({} pairs)",
        real.heldout.strict_pairs
    );
    // About 1,000 held-out pairs: chance is 0.5 +- 0.016 (one standard error).
    assert!(acc > 0.56, "real labels: {acc}");
    assert!(fake_acc < 0.55, "shuffled labels: {fake_acc}");
    assert!(acc - fake_acc > 0.04, "real {acc} vs shuffled {fake_acc}");
}

/// `../shared` beside the checkout (or `$REWARDLAB_SHARED`), when present.
fn shared_dir() -> Option<PathBuf> {
    let dir = paths::test_shared_dir!();
    dir.is_dir().then_some(dir)
}

/// The tiny CLIP (it has no tokenizer.json) with OpenAI's merges file from the shared folder
/// beside it, copied once into a temporary folder: the binary finds merges beside the model or
/// through `$REWARDLAB_SHARED`, never in the build tree. Call only where the shared folder is.
fn tiny_clip() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let src =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pretrained/tiny-clip");
        let dir = tmp("tiny-clip");
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "config.json",
            "model.safetensors",
            "preprocessor_config.json",
        ] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        let bpe = paths::test_shared_dir!().join(pretrained::clip_tokenizer::BPE_IN_SHARED);
        let beside = dir.join(pretrained::clip_tokenizer::CLIP_BPE_FILE);
        std::fs::copy(bpe, beside).unwrap();
        dir
    })
    .clone()
}

fn pretrained_config(kind: Option<model::PretrainedKind>, path: &Path, freeze: f64) -> TrainConfig {
    let mut config = TrainConfig::smoke();
    config.encoder.kind = kind;
    config.encoder.path = Some(path.to_path_buf());
    config.encoder.freeze = freeze;
    config.optim.epochs = 2;
    config
}

fn heldout_scores(run: &Path) -> String {
    std::fs::read_to_string(run.join("heldout_scores.csv")).unwrap()
}

#[test]
fn clip_towers_train_and_the_embedding_cache_gives_the_same_run() {
    // The tiny CLIP has no tokenizer.json: its tokenizer is built from OpenAI's BPE merges in
    // ../shared/data/clip-bpe.
    if shared_dir().is_none() {
        eprintln!("skipped: ../shared (CLIP's BPE merges) not found; set REWARDLAB_SHARED");
        return;
    }
    let w = world();
    let config = pretrained_config(Some(model::PretrainedKind::Clip), &tiny_clip(), 0.5);
    let direct = tmp("clip-direct");
    let report = train(
        &w.ds,
        &config,
        &opts(&direct, Some(&w.truth)),
        &Device::flex(),
    )
    .unwrap();
    let spec = report.model_config.pretrained.clone().unwrap();
    assert_eq!((spec.image_frozen, spec.text_frozen), (Some(1), 1));
    assert!(report.heldout.overall.pairwise_accuracy.is_some());
    // The tops (CLIP layers after the cut, projections) and heads learn.
    let loss = |e: usize| report.history[e].train["loss"];
    assert!(loss(1) < loss(0), "{} -> {}", loss(0), loss(1));

    // The same run from a cache written by `rewardlab embed` (loading draws lazy random weights
    // from burn's global generator: under the init lock, so concurrent tests stay reproducible).
    let cache = tmp("clip-cache");
    let guard = crate::run::INIT_LOCK
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let parts = model::load_pretrained(
        model::PretrainedKind::Clip,
        &tiny_clip(),
        0.5,
        config.model.d_model,
        &Device::flex(),
    )
    .unwrap();
    let written =
        crate::embed::write_cache(&w.ds, &parts.frozen, &cache, 16, false, false).unwrap();
    assert_eq!(written.images, w.ds.index().generations.len());
    assert_eq!(written.chunks_reused, 0);
    // Resuming finds every chunk complete.
    let again = crate::embed::write_cache(&w.ds, &parts.frozen, &cache, 16, false, false).unwrap();
    assert_eq!(again.chunks_written, 0);
    assert_eq!(again.chunks_reused, written.chunks_written);
    drop(guard);

    let mut cached_config = config.clone();
    cached_config.encoder.cache = Some(cache.clone());
    let cached = tmp("clip-cached");
    train(
        &w.ds,
        &cached_config,
        &opts(&cached, Some(&w.truth)),
        &Device::flex(),
    )
    .unwrap();
    assert_eq!(heldout_scores(&direct), heldout_scores(&cached));

    // A cache of another cut is refused, naming the mismatch.
    let mut other = config.clone();
    other.encoder.freeze = 1.0;
    other.encoder.cache = Some(cache.clone());
    let err = train(
        &w.ds,
        &other,
        &opts(&tmp("clip-other"), None),
        &Device::flex(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("frozen layers"), "{err}");

    for d in [direct, cache, cached] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// The tiny ImageReward of `../shared/fixtures` (made with THUDM's code) in a temp folder, with
/// the `vit_config.json` its 40-wide ViT needs (its number of heads is in no tensor).
fn tiny_imagereward(shared: &Path) -> PathBuf {
    let src = shared.join("fixtures/tiny-imagereward");
    let dir = tmp("tiny-imagereward");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["ImageReward.pt", "med_config.json", "tokenizer.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("fixture_config.json")).unwrap())
            .unwrap();
    std::fs::write(
        dir.join("vit_config.json"),
        fixture["model"]["vit"].to_string(),
    )
    .unwrap();
    dir.join("ImageReward.pt")
}

#[test]
fn blip_backbone_starts_as_imagereward_and_trains() {
    let Some(shared) = shared_dir() else {
        eprintln!(
            "skipped: ../shared (the tiny ImageReward fixture) not found; set REWARDLAB_SHARED"
        );
        return;
    };
    let checkpoint = tiny_imagereward(&shared);
    let w = world();
    let ix = w.ds.index();
    let prompt = &ix.prompts[0];
    let images: Vec<image::DynamicImage> = prompt
        .generations
        .iter()
        .map(|&g| {
            let rel = ix.generations[g].image.as_ref().unwrap();
            image::open(w.ds.image_path(rel)).unwrap()
        })
        .collect();

    // Before training, the overall head of the multi-head model is ImageReward: same rewards as
    // the official computation (pretrained::imagereward, proven against THUDM's code).
    let device = Device::flex();
    let guard = crate::run::INIT_LOCK
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let parts =
        model::load_pretrained(model::PretrainedKind::Blip, &checkpoint, 0.7, 64, &device).unwrap();
    assert_eq!(
        (parts.spec.image_frozen, parts.spec.text_frozen),
        (Some(2), 2)
    );
    let mut mc = TrainConfig::smoke().model_config(64, 16, model::LikertScale::new(1, 7));
    mc.pretrained = Some(parts.spec.clone());
    mc.d_model = 24;
    let net = mc
        .try_init(&device)
        .unwrap()
        .with_towers(parts.image, parts.text)
        .with_overall_head(parts.overall.unwrap());
    let hidden = parts.frozen.image_hidden(&images).unwrap();
    let prompts = parts.frozen.text_hidden(&[prompt.text.as_str()]).unwrap();
    let n = images.len();
    let out = net.forward_inputs(
        model::ImageInput::Hidden(hidden),
        model::TextInput::Ids {
            ids: prompts.ids,
            mask: prompts.mask,
        },
        Tensor::zeros([n], &device),
    );
    let ours = out
        .get(Criterion::Overall)
        .unwrap()
        .clone()
        .try_into_vec_as::<f32>()
        .unwrap();
    let official = pretrained::imagereward::ImageReward::from_checkpoint(&checkpoint, &device)
        .unwrap()
        .score(&prompt.text, &images)
        .unwrap();
    for (a, b) in ours.iter().zip(&official) {
        assert!((a - b).abs() < 1e-5, "{ours:?} vs {official:?}");
    }

    drop(guard);
    // Training (70% of each tower frozen, as ImageReward) learns, and a run on the embedding
    // cache of the frozen ViT blocks is the same run.
    let mut config = pretrained_config(Some(model::PretrainedKind::Blip), &checkpoint, 0.7);
    config.optim.epochs = 2;
    let direct = tmp("blip-direct");
    let report = train(
        &w.ds,
        &config,
        &opts(&direct, Some(&w.truth)),
        &Device::flex(),
    )
    .unwrap();
    assert_eq!(report.model_config.d_model, 24);
    let loss = |e: usize| report.history[e].train["loss"];
    assert!(loss(1) < loss(0), "{} -> {}", loss(0), loss(1));
    let cache = tmp("blip-cache");
    crate::embed::write_cache_for(&w.ds, &config, &cache, false, false, &Device::flex()).unwrap();
    let mut cached_config = config.clone();
    cached_config.encoder.cache = Some(cache.clone());
    let cached = tmp("blip-cached");
    train(
        &w.ds,
        &cached_config,
        &opts(&cached, Some(&w.truth)),
        &Device::flex(),
    )
    .unwrap();
    assert_eq!(heldout_scores(&direct), heldout_scores(&cached));
    for d in [direct, cache, cached] {
        let _ = std::fs::remove_dir_all(d);
    }
}

fn largest_heldout_difference(a: &crate::run::TrainReport, b: &crate::run::TrainReport) -> f64 {
    assert_eq!(a.heldout.scores.len(), b.heldout.scores.len());
    let mut largest = 0.0f64;
    for ((g1, x), (g2, y)) in a.heldout.scores.iter().zip(&b.heldout.scores) {
        assert_eq!(g1, g2);
        for c in Criterion::ALL {
            largest = largest.max((x[c].unwrap() - y[c].unwrap()).abs());
        }
    }
    largest
}

/// Data-parallel training on two devices is one device accumulating the same batches: each
/// step of two devices takes two consecutive plans and averages their gradients, as
/// `grad_accumulation = 2` does on one. burn's DDP strategy needs CUDA; its multi-device
/// strategy, used here, runs on any devices, two copies of the CPU included.
#[test]
fn two_devices_train_as_one_device_accumulating_their_batches() {
    let w = world();
    let mut config = TrainConfig::smoke();
    config.optim.epochs = 2;
    let mut accumulating = config.clone();
    accumulating.optim.grad_accumulation = 2;
    let one = train(
        &w.ds,
        &accumulating,
        &opts(&tmp("accumulating"), None),
        &Device::flex(),
    )
    .unwrap();
    let two = train(
        &w.ds,
        &config,
        &TrainOptions {
            replicas: vec![Device::flex()],
            ..opts(&tmp("two-devices"), None)
        },
        &Device::flex(),
    )
    .unwrap();
    let plain = train(
        &w.ds,
        &config,
        &opts(&tmp("one-step-per-batch"), None),
        &Device::flex(),
    )
    .unwrap();
    let same = largest_heldout_difference(&one, &two);
    let other = largest_heldout_difference(&one, &plain);
    println!(
        "held-out scores: two devices against one accumulating 2 batches {same:.1e}; against one \
         device stepping every batch {other:.1e}"
    );
    assert!(same < 1e-5, "{same}");
    assert!(other > 1e-3, "accumulating changed nothing: {other}");
    // The run folder says how it was trained.
    let written = std::fs::read_to_string(one.run_dir.join("config.toml")).unwrap();
    assert!(written.contains("grad_accumulation = 2"), "{written}");
}

#[test]
fn plans_are_dealt_so_each_step_takes_consecutive_plans() {
    use crate::run::{deal_to_devices, optimiser_steps};
    // burn-train hands device d the d-th contiguous slice: 7 plans on 2 devices are [0, 3) and
    // [3, 7), so step k takes positions k and 3 + k.
    let dealt = deal_to_devices((0..7).collect(), 2);
    assert_eq!(dealt, vec![0, 2, 4, 1, 3, 5, 6]);
    assert_eq!(deal_to_devices((0..5).collect(), 1), vec![0, 1, 2, 3, 4]);
    assert_eq!(deal_to_devices((0..6).collect(), 3), vec![0, 3, 1, 4, 2, 5]);
    assert_eq!(optimiser_steps(7, 2, 1), 4);
    assert_eq!(optimiser_steps(7, 1, 2), 4);
    assert_eq!(optimiser_steps(8, 2, 2), 2);
    assert_eq!(optimiser_steps(6, 3, 1), 2);
}
