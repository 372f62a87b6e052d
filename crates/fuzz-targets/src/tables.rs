//! Tables read with polars (`import table`, `import imagerewarddb`, a dataset folder's
//! annotations) and the CSV files rewardlab parses itself (scores, ground truth).

use std::path::Path;

use annotations::DatasetMeta;
use tables::Mapping;

use crate::formats::after_reading;
use crate::scratch;

/// Every canonical field mapped onto the column of the same name, as `--map FIELD=FIELD` would.
fn mapping() -> Mapping {
    let pairs: Vec<String> = tables::FIELDS.iter().map(|f| format!("{f}={f}")).collect();
    Mapping {
        meta: DatasetMeta::new("fuzz", "table"),
    }
    .with_pairs(&pairs)
    .expect("the canonical fields are known")
}

fn mapped_table(name: &str, data: &[u8]) -> bool {
    crate::panic_hooks_as_the_cli();
    let path = scratch::file(name, data);
    scratch::named(tables::read_mapped(&path, &mapping()), &path)
        .map(after_reading)
        .is_some()
}

pub fn table_csv(data: &[u8]) -> bool {
    mapped_table("ratings.csv", data)
}

pub fn table_jsonl(data: &[u8]) -> bool {
    mapped_table("ratings.jsonl", data)
}

pub fn table_json(data: &[u8]) -> bool {
    mapped_table("ratings.json", data)
}

pub fn table_parquet(data: &[u8]) -> bool {
    mapped_table("ratings.parquet", data)
}

pub fn imagerewarddb(data: &[u8]) -> bool {
    crate::panic_hooks_as_the_cli();
    let path = scratch::file("train.json", data);
    scratch::named(tables::imagerewarddb(&path), &path)
        .map(after_reading)
        .is_some()
}

/// A Pick-a-Pic shard (`import pickapic`); its images are written into a folder beside it, which
/// must hold nothing else afterwards: no image may be written outside `images/`.
pub fn pickapic(data: &[u8]) -> bool {
    crate::panic_hooks_as_the_cli();
    let path = scratch::file("test-00000-of-00001.parquet", data);
    let building = path.with_file_name("dataset");
    let read = scratch::named(tables::pickapic(&path, Some(&building)), &path);
    let outside: Vec<_> = std::fs::read_dir(path.parent().expect("scratch files have a folder"))
        .expect("the scratch folder can be read")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert!(
        outside.len() <= 2,
        "files written beside the dataset folder: {outside:?}"
    );
    if building.exists() {
        for entry in std::fs::read_dir(&building).expect("the dataset folder can be read") {
            assert_eq!(entry.expect("an entry").file_name(), "images");
        }
    }
    read.map(after_reading).is_some()
}

/// The annotations of a dataset folder whose `dataset.toml` is sound.
pub fn annotations_parquet(data: &[u8]) -> bool {
    crate::panic_hooks_as_the_cli();
    let dir = scratch::folder();
    let mut meta = DatasetMeta::new("fuzz", "synth");
    meta.images = annotations::ImagesState::Absent;
    scratch::write(&dir.join(tables::META_FILE), meta.to_toml().as_bytes());
    let path = dir.join(tables::ANNOTATIONS_FILE);
    scratch::write(&path, data);
    scratch::named(tables::read_dataset(&dir), &path)
        .map(after_reading)
        .is_some()
}

pub fn scores_csv(data: &[u8]) -> bool {
    let path = scratch::file("scores.csv", data);
    // The ids of a dataset: short ones, so that both known and unknown ids are reachable.
    let known = |id: &str| id.len() <= 4;
    let Some(table) = scratch::named(eval::scores::read_scores_csv(&path, &known), &path) else {
        return false;
    };
    for (id, scores) in &table {
        assert!(known(id), "an unknown id `{id}` was let through");
        for (_, s) in scores.score.iter() {
            assert!(s.is_finite(), "a score that is not finite was let through");
        }
    }
    true
}

pub fn ground_truth_csv(data: &[u8]) -> bool {
    let path = scratch::file(synth::GROUND_TRUTH_FILE, data);
    let Some(truth) = scratch::named(synth::read_ground_truth_csv(&path), &path) else {
        return false;
    };
    let _ = train::GroundTruthTable::from_truth(&truth);
    written_back(&truth, &path);
    true
}

/// Ground truth that was read is written and read back the same.
fn written_back(truth: &[synth::GroundTruth], path: &Path) {
    let again = path.with_file_name("again.csv");
    synth::write_ground_truth_csv(&again, truth).expect("the scratch file can be written");
    let back = synth::read_ground_truth_csv(&again).expect("what was written reads back");
    assert_eq!(back.len(), truth.len());
}
