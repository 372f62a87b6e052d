//! The datasets a study trains on: a given canonical folder, or the synthetic world of a cell's
//! `[data] world_prompts` and `world_seed`, generated once into the cache folder (the same
//! folder `rewardlab train` uses) and read once per study.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use annotations::{Dataset, Index};
use train::GroundTruthTable;

use crate::error::{Result, StudyError};
use crate::figures::Truth;

fn dataset_error(path: &Path, message: impl std::fmt::Display) -> StudyError {
    StudyError::Dataset {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The synthetic world of `prompts` prompts and `seed` in `cache/world-<prompts>-<seed>`,
/// generated when absent (into a temporary sibling, then renamed, so an interrupted generation
/// never leaves half a world behind).
pub fn default_world(cache: &Path, prompts: usize, seed: u64, print: bool) -> Result<PathBuf> {
    let dir = cache.join(format!("world-{prompts}-{seed}"));
    if dir.join("dataset.toml").exists() {
        return Ok(dir);
    }
    if print {
        println!(
            "generating the synthetic world ({prompts} prompts, seed {seed}) into {}",
            dir.display()
        );
    }
    let world = synth::generate(&synth::WorldConfig {
        prompts,
        seed,
        ..synth::WorldConfig::default()
    });
    // Built beside its place and moved there complete, replacing an incomplete one.
    let staged = integrity::StagedFolder::replacing(&dir, &tables::DATASET_ENTRIES)?;
    let tmp = staged.path();
    world.write_files(tmp).map_err(|e| dataset_error(tmp, e))?;
    tables::write_dataset(&world.dataset(tmp), tmp).map_err(|e| dataset_error(tmp, e))?;
    tables::seal_dataset(tmp).map_err(|e| dataset_error(tmp, e))?;
    staged.commit()?;
    Ok(dir)
}

/// A dataset read once, with what evaluation needs of it.
pub struct Loaded {
    pub dir: PathBuf,
    pub ds: Dataset,
    pub ix: Index,
    /// True latents, on synthetic worlds.
    pub truth: Option<Truth>,
    /// The same, as training's held-out summary wants them.
    pub ground_truth: Option<GroundTruthTable>,
}

impl Loaded {
    pub fn read(dir: &Path) -> Result<Self> {
        let ds = tables::read_dataset(dir).map_err(|e| dataset_error(dir, e))?;
        let ix = ds.index();
        // One read of ground_truth.csv serves training's held-out summary and the oracle.
        let latents = synth::read_dataset_truth(dir).map_err(|e| dataset_error(dir, e))?;
        let ground_truth = latents.as_deref().map(GroundTruthTable::from_truth);
        let truth = latents.as_deref().map(synth::latents_by_generation);
        Ok(Self {
            dir: dir.to_path_buf(),
            ds,
            ix,
            truth,
            ground_truth,
        })
    }
}

/// Datasets by folder, each read on first use.
pub struct Datasets {
    /// A dataset given for every cell (instead of the cells' synthetic worlds).
    pub given: Option<PathBuf>,
    pub cache: PathBuf,
    pub print: bool,
    loaded: HashMap<PathBuf, Loaded>,
}

impl Datasets {
    pub fn new(given: Option<PathBuf>, cache: PathBuf, print: bool) -> Self {
        Self {
            given,
            cache,
            print,
            loaded: HashMap::new(),
        }
    }

    /// The folder a config trains on.
    pub fn folder(&self, config: &train::TrainConfig) -> Result<PathBuf> {
        match &self.given {
            Some(d) => Ok(d.clone()),
            None => default_world(
                &self.cache,
                config.data.world_prompts,
                config.data.world_seed,
                self.print,
            ),
        }
    }

    /// The dataset a config trains on, read once.
    pub fn get(&mut self, config: &train::TrainConfig) -> Result<&Loaded> {
        let dir = self.folder(config)?;
        if !self.loaded.contains_key(&dir) {
            let l = Loaded::read(&dir)?;
            self.loaded.insert(dir.clone(), l);
        }
        Ok(&self.loaded[&dir])
    }
}
