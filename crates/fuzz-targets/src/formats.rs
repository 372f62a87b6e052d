//! The JSON formats of public annotation sets (`rewardlab import imagereward-test|hpd|hpdv2-test|
//! hpdv2-train|tifa`),
//! and what every command does with a dataset once it is read.

use annotations::validate::{Checks, quarantine, validate};
use annotations::{Dataset, DatasetSummary, formats};

use crate::scratch;

pub fn imagereward_test(data: &[u8]) -> bool {
    let path = scratch::file("test.json", data);
    scratch::named(formats::imagereward_test::read(&path), &path)
        .map(after_reading)
        .is_some()
}

pub fn hpd(data: &[u8]) -> bool {
    let path = scratch::file("annotations.json", data);
    scratch::named(formats::hpd::read(&path), &path)
        .map(after_reading)
        .is_some()
}

pub fn hpdv2_test(data: &[u8]) -> bool {
    let path = scratch::file("test.json", data);
    scratch::named(formats::hpdv2::read_test(&path), &path)
        .map(after_reading)
        .is_some()
}

pub fn hpdv2_train(data: &[u8]) -> bool {
    let path = scratch::file("train.json", data);
    scratch::named(formats::hpdv2::read_train(&path), &path)
        .map(after_reading)
        .is_some()
}

pub fn tifa(data: &[u8]) -> bool {
    let path = scratch::file("human_annotations_with_scores.json", data);
    scratch::named(formats::tifa::read(&path), &path)
        .map(after_reading)
        .is_some()
}

/// What `import`, `validate`, `train` and `eval` do with a dataset that was read: validate it
/// (images not opened: the targets for images do that), summarise it, quarantine the bad rows
/// as `--skip-invalid` does, and go on with the clean rows as training and evaluation do: the
/// index, the pairs, the split, the evaluation data and the human agreement.
pub(crate) fn after_reading(ds: Dataset) {
    let checks = Checks { images: false };
    let problems = validate(&ds, checks);
    for p in &problems {
        assert!(!p.to_string().is_empty());
    }
    let _ = DatasetSummary::of(&ds, &problems);
    let (clean, _) = quarantine(ds, checks);
    // What is left may be empty (a problem of the whole file), never a bad row.
    let left = validate(&clean, checks);
    assert!(
        left.iter().all(|p| p.rows.is_empty()),
        "a row that quarantine kept is invalid: {}",
        left[0]
    );
    let ix = clean.index();
    let _ = annotations::pairs::expand_pairs(&clean, &ix);
    let _ = train::data::split(&clean, &ix, &train::TrainConfig::smoke());
    let all: Vec<usize> = (0..ix.prompts.len()).collect();
    let data = eval::EvalData::from_dataset(&clean, &ix, &all);
    let _ = data.pair_counts();
    // Every image scored alike: the rankings alone decide the human agreement.
    let scores: eval::scores::ScoreTable = data
        .prompts
        .iter()
        .flat_map(|p| &p.generations)
        .map(|g| (g.clone(), eval::scores::ImageScores::overall(0.0)))
        .collect();
    if let Ok(ranked) = data.ranked("fuzz", &scores) {
        let _ = eval::human_ceiling(&ranked);
    }
}
