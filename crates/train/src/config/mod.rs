//! `TrainConfig`: every knob of a training run, read from TOML (`experiments/*.toml`).
//!
//! Sections: `[data]` (splits, ties, data-size ablation, default synthetic world), `[model]` (a
//! [`model::ModelConfig`] but for the fields taken from elsewhere, see [`model_section`]: the
//! Likert scale comes from the dataset's declared scale, vocabulary size and text length from the
//! trained tokenizer, the pretrained towers from `[encoder]`),
//! `[optim]` (Adam, batch size, epochs, early stopping, seed) and `[tokenizer]`.
//!
//! Every table rejects unknown keys, so that a typo (`learning_rate` for `lr`) is an error naming
//! the key rather than a silently ignored setting. Missing keys take the defaults below, which
//! are those of `experiments/default.toml`.

use annotations::splits::SplitSpec;
use model::{LikertScale, ModelConfig, PretrainedKind, TokenizerConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// The default experiment, compiled in so that `rewardlab train` works from any folder.
pub const DEFAULT_TOML: &str = include_str!("../../../../experiments/default.toml");
/// A tiny experiment that trains in seconds (tests, CI).
pub const SMOKE_TOML: &str = include_str!("../../../../experiments/smoke.toml");

/// A whole training configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub data: DataConfig,
    /// `[model]`: the model, but for the fields its tokenizer, dataset and encoder fill in.
    #[serde(with = "model_section")]
    pub model: ModelConfig,
    pub optim: OptimConfig,
    pub tokenizer: TokenizerSection,
    pub encoder: EncoderSection,
}

/// `[encoder]`: a pretrained shared encoder, the share of its layers kept frozen, and the
/// embedding cache of the frozen part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderSection {
    /// Where the shared encoder's towers come from: `None` (written `"scratch"`) for the small
    /// encoders of `[model]` trained from scratch; else the pretrained checkpoint's kind
    /// (`"clip"`, `"bert"`, `"blip"`), as the model crate names it.
    #[serde(with = "encoder_kind")]
    pub kind: Option<PretrainedKind>,
    /// The checkpoint folder (`config.json`, `model.safetensors`), or for `blip` the checkpoint
    /// file; required unless `scratch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<std::path::PathBuf>,
    /// Share of each tower's transformer layers kept frozen, counted from the input side with
    /// the embeddings (ImageReward froze 70%). 1.0 trains only the projections, fusion and heads.
    pub freeze: f64,
    /// An embedding cache written by `rewardlab embed` for this encoder, freeze and dataset: the
    /// frozen layers' outputs are read from it instead of being computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<std::path::PathBuf>,
    /// Images per forward pass of the frozen layers, in training and in `rewardlab embed`
    /// (`--batch-size`). 16 suits the CPU; a GPU wants 64 or more. A cache records the batch it
    /// was made with: a matrix product's rounding depends on its batch, so a run on a cache
    /// equals a run without one when both used the same.
    pub embed_batch: usize,
}

/// `encoder.kind` in a config file: `"scratch"`, or a [`PretrainedKind`]'s name.
mod encoder_kind {
    use model::PretrainedKind;
    use serde::{Deserialize, Deserializer, Serializer};

    const NAMES: [&str; 4] = ["scratch", "clip", "bert", "blip"];

    pub fn name(kind: Option<PretrainedKind>) -> &'static str {
        kind.map_or("scratch", PretrainedKind::name)
    }

    pub fn serialize<S: Serializer>(
        kind: &Option<PretrainedKind>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(name(*kind))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<PretrainedKind>, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "scratch" => Ok(None),
            "clip" => Ok(Some(PretrainedKind::Clip)),
            "bert" => Ok(Some(PretrainedKind::Bert)),
            "blip" => Ok(Some(PretrainedKind::Blip)),
            other => Err(serde::de::Error::unknown_variant(other, &NAMES)),
        }
    }
}

/// The name `encoder.kind` is written with: `scratch`, `clip`, `bert` or `blip`.
pub fn encoder_kind_name(kind: Option<PretrainedKind>) -> &'static str {
    encoder_kind::name(kind)
}

impl Default for EncoderSection {
    fn default() -> Self {
        Self {
            kind: None,
            path: None,
            freeze: 0.7,
            cache: None,
            embed_batch: crate::embed::EMBED_BATCH,
        }
    }
}

/// What ties in the rankings become.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TiesRule {
    /// Dropped from training (ImageReward's rule).
    #[default]
    Drop,
    /// Kept with a Bradley-Terry target of 0.5 (PickScore's rule).
    Half,
}

/// `[data]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Prompt-level split: ratios, seed, stratification by category.
    pub split: SplitSpec,
    /// Keep only this many training prompts (a seeded subset), for data-size ablations.
    pub train_prompts: Option<usize>,
    /// What to do with tied pairs.
    pub ties: TiesRule,
    /// Prompts of the default synthetic world (used when no dataset is given).
    pub world_prompts: usize,
    /// Seed of the default synthetic world.
    pub world_seed: u64,
    /// Image-text matching negatives: every `matching_every`-th image of a batch is also scored
    /// against another prompt of the batch (used when `model.loss_weights.matching` > 0).
    pub matching_every: usize,
    /// Which other prompt of the batch an image is matched against.
    pub matching_negatives: MatchingNegatives,
    /// Mirror every training prompt's images left-right in a seeded half of the epochs (each
    /// prompt on its own draw), swapping the words of `flip_swap_words` in its text, so that the
    /// model sees twice the layouts. Label-preserving when mirroring changes no judged quality
    /// beyond those words.
    pub hflip: bool,
    /// Word pairs exchanged in a mirrored image's prompt ("left" <-> "right").
    pub flip_swap_words: Vec<[String; 2]>,
}

/// How image-text matching picks the prompt an image is mismatched with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchingNegatives {
    /// Another prompt of the (randomly ordered) batch: easy negatives.
    #[default]
    Random,
    /// The batch's prompt sharing the most words with the image's own (Jaccard overlap of
    /// token ids): hard negatives that differ in a few attributes, as BLIP mines its ITM
    /// negatives by similarity.
    Similar,
    /// The image's own prompt with one word replaced by a word that stands in its place in
    /// other training prompts ("a red circle" -> "a blue circle"; see [`crate::substitutes`]):
    /// each negative changes exactly one requirement. Needs the scratch text encoder.
    Substituted,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            split: SplitSpec::default(),
            train_prompts: None,
            ties: TiesRule::Drop,
            world_prompts: 1500,
            world_seed: 0,
            matching_every: 4,
            matching_negatives: MatchingNegatives::Random,
            hflip: false,
            flip_swap_words: vec![["left".into(), "right".into()]],
        }
    }
}

mod model_section;

/// Validation metric that early stopping watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopMetric {
    /// Total validation loss (lower is better).
    #[default]
    Loss,
    /// Validation pairwise accuracy of the overall head (higher is better).
    Accuracy,
}

/// How the learning rate moves over the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// `lr` throughout.
    #[default]
    Constant,
    /// Cosine annealing from `lr` down to `min_lr` over all `epochs` (SGDR without restarts):
    /// large steps while the model is far off, small ones to settle at the end.
    Cosine,
}

/// `[optim]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    /// Adam learning rate.
    pub lr: f64,
    /// L2 penalty added by Adam (0 = none).
    pub weight_decay: f64,
    /// Prompts per batch; every image of a prompt is in the same batch.
    pub batch_prompts: usize,
    /// Batches whose gradients are averaged into each optimiser step (on each device, when
    /// training on several): a larger effective batch than fits in memory at once.
    pub grad_accumulation: usize,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Stop after this many epochs without improvement of `stop_metric` (0 = never stop early).
    pub patience: usize,
    pub stop_metric: StopMetric,
    /// Learning-rate schedule.
    pub lr_schedule: LrSchedule,
    /// Final learning rate of the cosine schedule.
    pub min_lr: f64,
    /// Seed of weight initialisation and of the batch order.
    pub seed: u64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            weight_decay: 0.0,
            batch_prompts: 16,
            grad_accumulation: 1,
            epochs: 10,
            patience: 0,
            stop_metric: StopMetric::Loss,
            lr_schedule: LrSchedule::Constant,
            min_lr: 0.0,
            seed: 0,
        }
    }
}

/// `[tokenizer]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenizerSection {
    /// Largest vocabulary (special tokens included); small corpora give fewer.
    pub vocab_size: usize,
    /// Tokens per prompt, `[CLS]` and `[SEP]` included; longer prompts are cut.
    pub max_len: usize,
    /// Minimum count of a merge to enter the vocabulary.
    pub min_frequency: u64,
}

impl Default for TokenizerSection {
    fn default() -> Self {
        Self {
            vocab_size: 512,
            max_len: 24,
            min_frequency: 1,
        }
    }
}

impl TokenizerSection {
    pub fn to_tokenizer_config(&self) -> TokenizerConfig {
        TokenizerConfig::new()
            .with_vocab_size(self.vocab_size)
            .with_max_len(self.max_len)
            .with_min_frequency(self.min_frequency)
    }
}

impl TrainConfig {
    /// Parses and validates a TOML config; `origin` names it in errors (a path, "default").
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|e| TrainError::ConfigParse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|e| match e {
            TrainError::InvalidConfig(message) => TrainError::InvalidConfigIn {
                origin: origin.to_string(),
                message,
            },
            other => other,
        })?;
        Ok(config)
    }

    /// The run's model: `[model]` with a tokenizer of `vocab_size` tokens, `max_len` tokens per
    /// prompt and a dataset rated on `scale` (the pretrained towers are set by the caller).
    pub fn model_config(
        &self,
        vocab_size: usize,
        max_len: usize,
        scale: LikertScale,
    ) -> ModelConfig {
        self.model
            .clone()
            .with_vocab_size(vocab_size)
            .with_max_text_len(max_len)
            .with_likert_scale(scale)
    }

    /// Reads and validates a TOML config file.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// The compiled-in `experiments/default.toml`.
    pub fn default_experiment() -> Self {
        Self::from_toml_str(DEFAULT_TOML, "experiments/default.toml")
            .expect("the embedded default config is valid")
    }

    /// The compiled-in `experiments/smoke.toml`.
    pub fn smoke() -> Self {
        Self::from_toml_str(SMOKE_TOML, "experiments/smoke.toml")
            .expect("the embedded smoke config is valid")
    }

    /// The resolved config as TOML (written to the run folder as `config.toml`).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("TrainConfig always serialises")
    }

    /// Checks every value that the TOML types cannot: ratios, sizes, rates, the model shape.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::InvalidConfig(m));
        let s = &self.data.split;
        for (name, v) in [
            ("train", s.train),
            ("validation", s.validation),
            ("test", s.test),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("data.split.{name} = {v} must be finite and >= 0"));
            }
        }
        if s.train <= 0.0 || s.test <= 0.0 {
            return bad("data.split needs train > 0 and test > 0".into());
        }
        if self.data.train_prompts == Some(0) {
            return bad("data.train_prompts must be at least 1 when set".into());
        }
        if self.data.world_prompts < 10 {
            return bad(format!(
                "data.world_prompts = {} must be at least 10",
                self.data.world_prompts
            ));
        }
        let o = &self.optim;
        if !(o.lr.is_finite() && o.lr > 0.0 && o.lr <= 1.0) {
            return bad(format!("optim.lr = {} must be in (0, 1]", o.lr));
        }
        if !(o.min_lr.is_finite() && o.min_lr >= 0.0 && o.min_lr <= o.lr) {
            return bad(format!(
                "optim.min_lr = {} must be between 0 and optim.lr = {}",
                o.min_lr, o.lr
            ));
        }
        if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
            return bad(format!(
                "optim.weight_decay = {} must be >= 0",
                o.weight_decay
            ));
        }
        if o.batch_prompts == 0 {
            return bad("optim.batch_prompts must be at least 1".into());
        }
        if o.grad_accumulation == 0 {
            return bad("optim.grad_accumulation must be at least 1".into());
        }
        if o.epochs == 0 {
            return bad("optim.epochs must be at least 1".into());
        }
        if self.tokenizer.max_len < 2 {
            return bad("tokenizer.max_len must be at least 2 ([CLS] and [SEP])".into());
        }
        let e = &self.encoder;
        if !(e.freeze.is_finite() && (0.0..=1.0).contains(&e.freeze)) {
            return bad(format!("encoder.freeze = {} must be in [0, 1]", e.freeze));
        }
        if e.embed_batch == 0 {
            return bad("encoder.embed_batch must be at least 1".into());
        }
        if let (Some(kind), None) = (e.kind, &e.path) {
            return bad(format!(
                "encoder.kind = \"{}\" needs encoder.path (a checkpoint folder)",
                kind.name()
            ));
        }
        if self.data.hflip && e.kind.is_some() {
            return bad(format!(
                "data.hflip needs the scratch encoders (mirrored pixels, prompts with their swap \
                 words exchanged); encoder.kind = \"{}\" reads its frozen layers' outputs, \
                 computed once for the dataset as it is",
                encoder_kind_name(e.kind)
            ));
        }
        if self.data.matching_negatives == MatchingNegatives::Substituted && e.kind.is_some() {
            return bad(format!(
                "data.matching_negatives = \"substituted\" needs the scratch text encoder (its \
                 prompts are tokenised with the run's own tokenizer); encoder.kind = \"{}\" \
                 reads the checkpoint's (use \"similar\")",
                encoder_kind_name(e.kind)
            ));
        }
        if e.kind.is_none() && (e.path.is_some() || e.cache.is_some()) {
            return bad("encoder.path and encoder.cache need a pretrained encoder.kind".into());
        }
        if self.tokenizer.vocab_size < 8 {
            return bad("tokenizer.vocab_size must be at least 8".into());
        }
        self.model_config(
            self.tokenizer.vocab_size,
            self.tokenizer.max_len,
            LikertScale::default(),
        )
        .validate()
        .map_err(|e| TrainError::InvalidConfig(format!("[model]: {e}")))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_kinds_are_written_by_name_and_scratch_is_none() {
        for (name, kind) in [
            ("scratch", None),
            ("clip", Some(PretrainedKind::Clip)),
            ("bert", Some(PretrainedKind::Bert)),
            ("blip", Some(PretrainedKind::Blip)),
        ] {
            let mut cfg = TrainConfig::smoke();
            cfg.encoder.kind = kind;
            cfg.encoder.path = kind.map(|_| "ckpt".into());
            let text = cfg.to_toml();
            assert!(text.contains(&format!("kind = \"{name}\"")), "{text}");
            let again = TrainConfig::from_toml_str(&text, "round trip").unwrap();
            assert_eq!(again.encoder.kind, kind);
        }
        let err = TrainConfig::from_toml_str("[encoder]\nkind = \"dino\"\n", "bad.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.toml") && err.contains("dino") && err.contains("`scratch`"),
            "{err}"
        );
    }

    #[test]
    fn embedded_configs_parse_and_round_trip() {
        for cfg in [TrainConfig::default_experiment(), TrainConfig::smoke()] {
            let again = TrainConfig::from_toml_str(&cfg.to_toml(), "round trip").unwrap();
            assert_eq!(cfg, again);
        }
        // every knob of default.toml is written out explicitly
        let default: toml::Table = toml::from_str(DEFAULT_TOML).unwrap();
        let resolved: toml::Table =
            toml::from_str(&TrainConfig::default_experiment().to_toml()).unwrap();
        for (section, table) in &resolved {
            let written = default[section].as_table().unwrap();
            for key in table.as_table().unwrap().keys() {
                assert!(
                    written.contains_key(key),
                    "default.toml lacks [{section}] {key}"
                );
            }
        }
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let err =
            TrainConfig::from_toml_str("[optim]\nlearning_rate = 0.1\n", "x.toml").unwrap_err();
        assert!(matches!(err, TrainError::ConfigParse { .. }));
        assert!(err.to_string().contains("learning_rate"), "{err}");
        let err = TrainConfig::from_toml_str("[data.split]\ntrian = 0.8\n", "x.toml").unwrap_err();
        assert!(err.to_string().contains("trian"), "{err}");
        let err = TrainConfig::from_toml_str("[modle]\n", "x.toml").unwrap_err();
        assert!(err.to_string().contains("modle"), "{err}");
    }

    #[test]
    fn model_section_is_a_model_config_without_the_filled_in_fields() {
        let c = TrainConfig::from_toml_str(
            "[model]\nd_model = 48\n[model.loss_weights]\nmatching = 0.5\n",
            "x",
        )
        .unwrap();
        assert_eq!(
            c.model,
            ModelConfig::new()
                .with_d_model(48)
                .with_loss_weights(model::LossWeights::new().with_matching(0.5))
        );
        // in the model config's order, as default.toml writes them
        let text = c.to_toml();
        let at = |k: &str| text.find(&format!("\n{k} = ")).unwrap();
        assert!(
            at("d_model") < at("n_heads") && at("n_heads") < at("heads"),
            "{text}"
        );
        assert!(
            at("heads") < at("likert_loss") && at("overall") < at("matching"),
            "{text}"
        );
        let written: toml::Table = toml::from_str(&text).unwrap();
        let model = written["model"].as_table().unwrap();
        assert_eq!(model["d_model"].as_integer(), Some(48));
        for (key, _) in model_section::FILLED_IN {
            assert!(!model.contains_key(key), "{key} written into [model]");
        }
        for (toml, names) in [
            ("[model]\nvocab_size = 99\n", "tokenizer.vocab_size"),
            ("[model]\nmax_text_len = 9\n", "tokenizer.max_len"),
            (
                "[model]\nlikert_scale = { min = 1, max = 5 }\n",
                "rating scale",
            ),
            ("[model]\nd_modle = 64\n", "d_modle"),
            ("[model.loss_weights]\noverral = 1.0\n", "overral"),
        ] {
            let err = TrainConfig::from_toml_str(toml, "x.toml")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(names) && err.contains("x.toml"),
                "{toml}: {err}"
            );
        }
    }

    /// The `config.toml` of a run folder written before `[model]` was a `ModelConfig` (when it
    /// was its own `ModelSection` with a `LossWeightsSection`): every key it wrote, in its order.
    #[test]
    fn run_folders_written_by_model_section_still_load() {
        let old = r#"
[model]
d_model = 32
n_heads = 2
d_ff = 64
image_size = 32
patch_grid = 4
stem_depth = 1
stem_widen = 1
stem_activation = "relu"
context_stages = 0
text_film = true
image_layers = 1
text_layers = 1
fusion = "concat"
fusion_layers = 1
heads = ["overall", "alignment"]
alignment_readout = "tokens"
head_hidden = 16
dropout = 0.0
likert_loss = "ordinal"

[model.loss_weights]
overall = 2.0
alignment = 1.0
fidelity = 1.0
harmlessness = 0.5
matching = 0.25
"#;
        let c = TrainConfig::from_toml_str(old, "old/config.toml").unwrap();
        let expected = ModelConfig::tiny()
            .with_vocab_size(ModelConfig::new().vocab_size)
            .with_max_text_len(ModelConfig::new().max_text_len)
            .with_stem_activation(model::StemActivation::Relu)
            .with_text_film(true)
            .with_fusion(model::FusionKind::Concat)
            .with_heads(vec![model::Criterion::Overall, model::Criterion::Alignment])
            .with_alignment_readout(model::AlignmentReadout::Tokens)
            .with_loss_weights(
                model::LossWeights::new()
                    .with_overall(2.0)
                    .with_harmlessness(0.5)
                    .with_matching(0.25),
            );
        assert_eq!(c.model, expected);
    }

    #[test]
    fn partial_configs_take_defaults_and_bad_values_are_rejected() {
        let c = TrainConfig::from_toml_str("[optim]\nepochs = 3\n[data]\nties = \"half\"\n", "x")
            .unwrap();
        assert_eq!(c.optim.epochs, 3);
        assert_eq!(c.data.ties, TiesRule::Half);
        assert_eq!(c.model, ModelConfig::new());
        let c = TrainConfig::from_toml_str(
            "[data]\nhflip = true\nflip_swap_words = [[\"up\", \"down\"]]\n",
            "x",
        )
        .unwrap();
        assert_eq!(
            c.data.flip_swap_words,
            vec![["up".to_string(), "down".into()]]
        );
        // the same pretrained configs without mirroring or rewording are fine
        for good in [
            "[encoder]\nkind = \"clip\"\npath = \"c\"\n",
            "[data]\nmatching_negatives = \"similar\"\n[encoder]\nkind = \"bert\"\npath = \"b\"\n",
        ] {
            TrainConfig::from_toml_str(good, "x").unwrap();
        }
        for bad in [
            "[optim]\nlr = -1.0\n",
            "[optim]\nbatch_prompts = 0\n",
            "[data.split]\ntest = 0.0\n",
            "[model]\nn_heads = 5\n",
            "[model]\nheads = [\"fidelity\"]\n",
            "[data]\nties = \"maybe\"\n",
            "[model]\npatch_grid = 4\ncontext_stages = 3\n",
            // pretrained encoders read their frozen layers' outputs: nothing to mirror or reword
            "[data]\nhflip = true\n[encoder]\nkind = \"clip\"\npath = \"c\"\n",
            "[data]\nmatching_negatives = \"substituted\"\n[encoder]\nkind = \"bert\"\npath = \"b\"\n",
        ] {
            assert!(TrainConfig::from_toml_str(bad, "x").is_err(), "{bad}");
        }
    }
}
