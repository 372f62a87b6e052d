//! What `train` and `embed` set up before they run: the training config (a file or the built-in
//! default) with the command line's `[encoder]` overrides, the dataset (by default the synthetic
//! world, generated into the cache), and the default run folder.

use std::path::{Path, PathBuf};

use anyhow::Result;
use model::PretrainedKind;
use train::{MatchingNegatives, TrainConfig};

/// `--config` and `--dataset`.
#[derive(clap::Args)]
pub struct ConfigArgs {
    /// Training config (TOML); default: the built-in experiments/default.toml.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Canonical dataset folder; default: the synthetic world of the config's [data] world_prompts
    /// and world_seed, generated into $REWARDLAB_CACHE (or ~/.cache/rewardlab) when absent.
    #[arg(long)]
    pub dataset: Option<PathBuf>,
}

impl ConfigArgs {
    /// `--config FILE`, or the built-in `experiments/default.toml`.
    pub fn read_config(&self) -> Result<TrainConfig> {
        Ok(match &self.config {
            Some(path) => TrainConfig::from_file(path)?,
            None => TrainConfig::default_experiment(),
        })
    }

    /// `--dataset DIR`, or the config's synthetic world in the cache, generated when absent.
    pub fn dataset_dir(&self, config: &TrainConfig) -> Result<PathBuf> {
        Ok(match &self.dataset {
            Some(d) => d.clone(),
            None => default_world(config.data.world_prompts, config.data.world_seed)?,
        })
    }
}

/// The `[encoder]` flags.
#[derive(clap::Args)]
pub struct EncoderArgs {
    /// Shared encoder ([encoder] kind): scratch, clip (a Hugging Face CLIP folder encodes images
    /// and prompts), bert (a BERT-family folder encodes the prompts) or blip (ImageReward's
    /// backbone, its head as the starting overall head).
    #[arg(long, value_parser = ["scratch", "clip", "bert", "blip"])]
    pub encoder: Option<String>,
    /// The pretrained checkpoint ([encoder] path): a folder with config.json and
    /// model.safetensors (clip, bert), or ImageReward.pt / its safetensors copy (blip).
    #[arg(long)]
    pub encoder_path: Option<PathBuf>,
    /// Share of the pretrained layers kept frozen ([encoder] freeze; ImageReward: 0.7).
    #[arg(long)]
    pub freeze: Option<f64>,
}

impl EncoderArgs {
    /// Whether any of the flags is given.
    pub fn given(&self) -> bool {
        self.encoder.is_some() || self.encoder_path.is_some() || self.freeze.is_some()
    }

    /// Applies the flags, and `cache` (`--embed-cache`), to `config`.
    pub fn apply(&self, config: &mut TrainConfig, cache: Option<&Path>) {
        if let Some(kind) = self.encoder.as_deref() {
            config.encoder.kind = match kind {
                "clip" => Some(PretrainedKind::Clip),
                "bert" => Some(PretrainedKind::Bert),
                "blip" => Some(PretrainedKind::Blip),
                _ => None,
            };
        }
        if let Some(path) = &self.encoder_path {
            config.encoder.path = Some(path.clone());
        }
        if let Some(freeze) = self.freeze {
            config.encoder.freeze = freeze;
        }
        if let Some(cache) = cache {
            config.encoder.cache = Some(cache.to_path_buf());
        }
        // A pretrained encoder chosen on the command line over a config written for the scratch one
        // (the built-in default): what it cannot do is turned off, and said, rather than refused.
        let e = config.encoder.kind;
        if self.encoder.is_some() && config.data.hflip && e.is_some() {
            config.data.hflip = false;
            eprintln!(
                "note: [data] hflip turned off: the {} encoder reads its frozen layers' outputs, \
                 computed once for the dataset as it is",
                train::config::encoder_kind_name(e)
            );
        }
        if self.encoder.is_some()
            && config.data.matching_negatives == MatchingNegatives::Substituted
            && e.is_some()
        {
            config.data.matching_negatives = MatchingNegatives::Similar;
            eprintln!(
                "note: [data] matching_negatives = \"similar\": substituted prompts are tokenised \
                 for the scratch text encoder, not the {} one",
                train::config::encoder_kind_name(e)
            );
        }
    }
}

/// The default synthetic world folder in the cache, generated when absent.
fn default_world(prompts: usize, seed: u64) -> Result<PathBuf> {
    Ok(experiments::world::default_world(
        &paths::cache_dir(),
        prompts,
        seed,
        true,
    )?)
}

/// `runs/<UTC date-time>`, from the system clock without a date library.
pub fn default_out() -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    PathBuf::from("runs").join(format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}
