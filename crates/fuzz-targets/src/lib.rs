//! The bodies of rewardlab's fuzz targets: one per reader of a file a user hands rewardlab.
//!
//! Each target writes the fuzzer's bytes to a scratch file named as the reader expects, calls the
//! reader as the command line does, and then what the command line does next with what was
//! read (validation, pairs, splits, encoding, preprocessing), so that a value the reader lets
//! through cannot panic further on either. The properties checked, besides "no panic, no hang,
//! no unbounded allocation" (libFuzzer's `-timeout` and `-rss_limit_mb`):
//! - an error names the file it is about (the scratch file's name appears in the message);
//! - what is accepted and written back out is accepted again (configs, `dataset.toml`).
//!
//! The targets are compiled for libFuzzer by `fuzz/` (`scripts/fuzz TARGET MINUTES`, on a
//! nightly toolchain) and replayed on stable by `tests/replay.rs` over their seeds and every
//! crash found, which are kept in `fuzz/regressions/TARGET/`.

mod configs;
mod formats;
mod images;
mod manifests;
pub mod scratch;
mod tables;
mod tokenizers;
mod weights;

/// Installs, once, the panic hook the CLI installs for polars reads (`main.rs`): a panic inside
/// polars that the reader catches and reports as an error is then no crash here either, as it is
/// none for a user; libFuzzer's hook stays beneath it for every other panic.
pub(crate) fn panic_hooks_as_the_cli() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(::tables::quiet_polars_panics);
}

/// A fuzz target: one reader and what follows it.
pub struct Target {
    /// The name `scripts/fuzz` and `cargo fuzz run` take.
    pub name: &'static str,
    /// What it reads, as users know it.
    pub reads: &'static str,
    run: fn(&[u8]) -> bool,
}

impl Target {
    /// Runs the target on one input: whether the reader accepted it. Panics on a bug (which
    /// libFuzzer reports as a crash).
    pub fn run(&self, data: &[u8]) -> bool {
        (self.run)(data)
    }
}

macro_rules! targets {
    ($($module:ident :: $name:ident => $reads:literal,)*) => {
        /// Every target, in the order `scripts/fuzz all` runs them.
        pub const TARGETS: &[Target] = &[$(Target {
            name: stringify!($name),
            reads: $reads,
            run: $module::$name,
        }),*];

        /// One function per target, for the `fuzz_target!` of `fuzz/fuzz_targets/NAME.rs`.
        pub mod run {
            $(pub use crate::$module::$name;)*
        }
    };
}

targets! {
    tables::table_csv => "a CSV table (`import table`; TSV goes through the same parser)",
    tables::table_jsonl => "a JSON-lines table (`import table`)",
    tables::table_json => "a JSON array-of-records table (`import table`)",
    tables::table_parquet => "a Parquet table (`import table`)",
    tables::imagerewarddb => "ImageRewardDB's per-split JSON (`import imagerewarddb`)",
    tables::pickapic => "a Pick-a-Pic Parquet shard, with or without its images (`import pickapic`)",
    tables::annotations_parquet => "a dataset folder's annotations.parquet (every command that takes --dataset)",
    formats::imagereward_test => "ImageReward's test.json (`import imagereward-test`)",
    formats::hpd => "HPD v2 style annotations.json (`import hpd`)",
    formats::hpdv2_test => "HPDv2's test.json (`import hpdv2-test`)",
    formats::hpdv2_train => "HPDv2's train.json (`import hpdv2-train`)",
    formats::tifa => "TIFA's human_annotations_with_scores.json (`import tifa`)",
    configs::dataset_toml => "dataset.toml, and a --mapping file (`import table --mapping`)",
    configs::train_config => "a training config (`train --config`)",
    configs::study_config => "an ablation study (`ablate STUDY`)",
    configs::model_config => "a run's model_config.json (`score --run`, `eval --run`)",
    configs::preprocessor_config => "a CLIP folder's preprocessor_config.json (`--encoder DIR`)",
    configs::open_clip_config => "the OpenCLIP config beside an HPSv2 checkpoint (open_clip_config.json)",
    tables::scores_csv => "a scores CSV (`eval --scores`)",
    tables::ground_truth_csv => "a synthetic world's ground_truth.csv",
    weights::safetensors => "SafeTensors weights (pretrained encoders, a run's model.safetensors)",
    weights::pytorch => "a PyTorch checkpoint (`.pt`, `.bin`: ImageReward.pt)",
    weights::open_clip_checkpoint => "an OpenCLIP checkpoint (`--model hpsv2 --checkpoint FILE`)",
    tokenizers::tokenizer_json => "tokenizer.json (a run's, a CLIP folder's)",
    tokenizers::clip_bpe => "OpenAI's CLIP merges file (bpe_simple_vocab_16e6.txt)",
    tokenizers::open_clip_text => "any prompt, through OpenCLIP's text cleaning (`--model hpsv2`)",
    images::image => "PNG, JPEG and WebP images (training, scoring, validation)",
    manifests::manifest => "a folder's manifest.json (every verified load, `verify`)",
}

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
