//! Training data in memory: the prompt split, decoded images, tokenised prompts, per-generation
//! Likert labels and per-prompt pairs; and the batches built from them.
//!
//! A batch is a list of whole prompt groups: every image of a prompt is in the same batch, so
//! every pair of the prompt can be used, and each prompt is encoded once
//! ([`model::RewardModel::forward_with_prompts`]). The grouping of training prompts into batches
//! is a seeded random order fixed for the whole run: every epoch replays the same batches in the
//! same order. This is deliberate: burn's `DataLoader` shuffle state is not saved in checkpoints,
//! so a shuffled loader would feed a resumed run other batches than an uninterrupted one; with a
//! fixed order a resumed run retraces the uninterrupted one exactly.
//!
//! One job per file: this module holds the split and the in-memory [`Store`]; [`tokenizer`] the
//! run's tokenizer, [`images`] the decoding, [`batcher`] the batches.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use annotations::pairs::expand_pairs;
use annotations::splits::{Split, split_prompts};
use annotations::{Dataset, ImagesState, Index};
use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use model::{
    Criterion, ImageInput, LikertLabels, LikertTarget, LossWeights, Pair, Pairs, PerCriterion,
    PretrainedKind, PromptTokenizer, TextInput,
};

use crate::config::{MatchingNegatives, TiesRule, TrainConfig};
use crate::embed_cache::HiddenRows;
use crate::error::{Result, TrainError};
use crate::substitutes::{Substitutes, swap_words};

/// A pair inside one prompt group: positions in the prompt's generation list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalPair {
    pub better: usize,
    pub worse: usize,
    pub tie: bool,
}

/// Token ids and attention mask of one tokenised text (`seq_len` values each).
pub type TokenRow = (Vec<i64>, Vec<i64>);

/// Everything the batcher and the evaluation read, indexed like [`Index`].
#[derive(Debug)]
pub struct Store {
    pub index: Index,
    /// Split of every prompt.
    pub splits: Vec<Split>,
    /// Prompts of each split, in index order (train possibly limited by `train_prompts`).
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    pub test: Vec<usize>,
    /// Side of the stored images.
    pub image_size: usize,
    /// RGB u8 pixels (HWC) of each generation of a used prompt; empty for unused prompts.
    pub images: Vec<Vec<u8>>,
    /// Mean rating over annotators per generation and criterion.
    pub labels: Vec<PerCriterion<f32>>,
    /// Every pair (strict and tie) of each prompt, in local positions.
    pub pairs: Vec<Vec<LocalPair>>,
    /// Token ids and attention mask of each prompt, `seq_len` values each.
    pub token_ids: Vec<Vec<i64>>,
    pub token_mask: Vec<Vec<i64>>,
    pub seq_len: usize,
    /// With `substituted` matching negatives: token ids and mask of each training and
    /// validation prompt's one-word variants ([`crate::substitutes`]); empty otherwise.
    pub negatives: Vec<Vec<TokenRow>>,
    /// With `hflip`: token ids and mask of each prompt with its `flip_swap_words` exchanged, for
    /// its mirrored images (`None` where the prompt holds none of them, or without `hflip`).
    pub mirrored: Vec<Option<TokenRow>>,
    /// With a pretrained encoder: its frozen layers' outputs, which the model reads instead of
    /// pixels (CLIP) and token ids.
    pub frozen: Option<FrozenStore>,
}

/// Hidden states of a pretrained encoder's frozen layers for the images and prompts of a store
/// (computed by [`crate::embed::embed_store`] or read from an embedding cache).
#[derive(Debug, Clone, PartialEq)]
pub struct FrozenStore {
    /// Image rows and the row of each generation (`None` for unused generations); `None` when
    /// the images go through the scratch encoder (BERT).
    pub image: Option<(HiddenRows, Vec<Option<usize>>)>,
    /// Prompt rows (with their token mask) and the row of each prompt.
    pub text: (HiddenRows, Vec<Option<usize>>),
}

impl Store {
    /// The distinct token ids of prompt `p` (padding excluded): its words, as the choice of
    /// similar matching negatives compares them.
    pub fn token_set(&self, p: usize) -> std::collections::BTreeSet<i64> {
        self.token_ids[p]
            .iter()
            .zip(&self.token_mask[p])
            .filter(|&(_, &m)| m != 0)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Prompts of a split.
    pub fn prompts(&self, split: Split) -> &[usize] {
        match split {
            Split::Train => &self.train,
            Split::Validation => &self.valid,
            Split::Test => &self.test,
        }
    }
}

fn dataset_error(ds: &Dataset, message: impl Into<String>) -> TrainError {
    TrainError::Dataset {
        name: ds.meta.name.clone(),
        message: message.into(),
    }
}

/// Split of every prompt, then the train, validation and test prompts.
pub type SplitPrompts = (Vec<Split>, Vec<usize>, Vec<usize>, Vec<usize>);

/// Splits the dataset's prompts as the config says: `(splits per prompt, train, valid, test)`.
pub fn split(ds: &Dataset, ix: &Index, config: &TrainConfig) -> Result<SplitPrompts> {
    let splits = split_prompts(ix, &config.data.split);
    let of =
        |s: Split| -> Vec<usize> { (0..ix.prompts.len()).filter(|&p| splits[p] == s).collect() };
    let (mut train, valid, test) = (of(Split::Train), of(Split::Validation), of(Split::Test));
    if let Some(n) = config.data.train_prompts
        && n < train.len()
    {
        // A seeded subset that does not depend on row order: sort by id, shuffle, keep n.
        train.sort_by(|&a, &b| ix.prompts[a].id.cmp(&ix.prompts[b].id));
        prng::Rng::derive(config.data.split.seed, "train_prompts").shuffle(&mut train);
        train.truncate(n);
        train.sort_unstable();
    }
    if train.is_empty() || test.is_empty() {
        return Err(dataset_error(
            ds,
            format!(
                "{} prompts give {} training and {} test prompts; need at least one of each",
                ix.prompts.len(),
                train.len(),
                test.len()
            ),
        ));
    }
    Ok((splits, train, valid, test))
}

pub mod batcher;
pub mod images;
pub mod tokenizer;

pub use batcher::*;
pub use images::*;
pub use tokenizer::*;

/// Builds the in-memory store: split, images of every used prompt, labels, pairs, tokens.
pub fn prepare(ds: &Dataset, config: &TrainConfig, tokenizer: &PromptTokenizer) -> Result<Store> {
    if ds.meta.images == ImagesState::Absent {
        return Err(dataset_error(
            ds,
            "the dataset is declared without images; a reward model cannot be trained on it",
        ));
    }
    let ix = ds.index();
    if ix.prompts.is_empty() {
        return Err(dataset_error(ds, "no prompts"));
    }
    let (splits, train, valid, test) = split(ds, &ix, config)?;
    let used: HashSet<usize> = train.iter().chain(&valid).chain(&test).copied().collect();

    // Images of the used prompts, decoded once (not needed when a pretrained vision tower encodes
    // them: its frozen layers read the files themselves, at the checkpoint's resolution).
    let pixels_needed = matches!(config.encoder.kind, None | Some(PretrainedKind::Bert));
    let size = config.model.image_size;
    let mut wanted = Vec::new();
    let mut paths = Vec::new();
    for (g, gen_entry) in ix.generations.iter().enumerate() {
        if !used.contains(&gen_entry.prompt) {
            continue;
        }
        let Some(rel) = &gen_entry.image else {
            return Err(dataset_error(
                ds,
                format!("generation {} has no image path", gen_entry.id),
            ));
        };
        wanted.push(g);
        paths.push(ds.image_path(rel));
    }
    if !pixels_needed {
        paths.clear();
        wanted.clear();
    }
    let decoded = load_images(&paths, size)?;
    let mut images = vec![Vec::new(); ix.generations.len()];
    for (g, px) in wanted.into_iter().zip(decoded) {
        images[g] = px;
    }

    let labels: Vec<PerCriterion<f32>> = ix
        .generations
        .iter()
        .map(|g| PerCriterion::from_fn(|c| ds.mean_rating(g, c)))
        .collect();

    // Pairs, as positions within their prompt.
    let mut local = vec![0usize; ix.generations.len()];
    for p in &ix.prompts {
        for (k, &g) in p.generations.iter().enumerate() {
            local[g] = k;
        }
    }
    let mut pairs = vec![Vec::new(); ix.prompts.len()];
    for pair in expand_pairs(ds, &ix) {
        pairs[pair.prompt].push(LocalPair {
            better: local[pair.better],
            worse: local[pair.worse],
            tie: pair.tie,
        });
    }

    let texts: Vec<&str> = ix.prompts.iter().map(|p| p.text.as_str()).collect();
    let enc = tokenizer.encode_batch(&texts)?;
    let seq_len = enc.seq_len;
    let token_ids = enc
        .ids
        .chunks(seq_len.max(1))
        .map(<[i64]>::to_vec)
        .collect();
    let token_mask = enc
        .attention_mask
        .chunks(seq_len.max(1))
        .map(<[i64]>::to_vec)
        .collect();
    let mut mirrored = vec![None; ix.prompts.len()];
    if config.data.hflip {
        for (p, prompt) in ix.prompts.iter().enumerate() {
            if let Some(text) = swap_words(&prompt.text, &config.data.flip_swap_words) {
                let enc = tokenizer.encode_batch(&[text])?;
                mirrored[p] = Some((enc.ids, enc.attention_mask));
            }
        }
    }
    let negatives = if config.data.matching_negatives == MatchingNegatives::Substituted {
        substituted_negatives(&ix, &train, &valid, config.optim.seed, tokenizer)?
    } else {
        Vec::new()
    };

    Ok(Store {
        index: ix,
        splits,
        train,
        valid,
        test,
        image_size: size,
        images,
        labels,
        pairs,
        token_ids,
        token_mask,
        seq_len,
        negatives,
        mirrored,
        frozen: None,
    })
}

/// One-word variants of a prompt kept as its matching negatives.
const NEGATIVE_VARIANTS: usize = 8;

/// Token ids and masks of the one-word variants of every training and validation prompt, with
/// substitutes mined from the training prompts only.
fn substituted_negatives(
    ix: &Index,
    train: &[usize],
    valid: &[usize],
    seed: u64,
    tokenizer: &PromptTokenizer,
) -> Result<Vec<Vec<TokenRow>>> {
    let train_texts: Vec<&str> = train.iter().map(|&p| ix.prompts[p].text.as_str()).collect();
    let subs = Substitutes::mine(&train_texts);
    let mut negatives = vec![Vec::new(); ix.prompts.len()];
    for &p in train.iter().chain(valid) {
        let prompt = &ix.prompts[p];
        // Seeded by the prompt's id, so a prompt keeps its variants whatever the row order.
        let mut rng = prng::Rng::derive(seed, &format!("negatives/{}", prompt.id));
        let variants = subs.variants(&prompt.text, NEGATIVE_VARIANTS, &mut rng);
        if variants.is_empty() {
            continue;
        }
        let enc = tokenizer.encode_batch(&variants)?;
        let l = enc.seq_len.max(1);
        negatives[p] = enc
            .ids
            .chunks(l)
            .zip(enc.attention_mask.chunks(l))
            .map(|(ids, mask)| (ids.to_vec(), mask.to_vec()))
            .collect();
    }
    Ok(negatives)
}

impl Store {
    /// Generations of the used prompts (those of a split), in index order.
    pub fn used_generations(&self) -> Vec<usize> {
        let mut prompts: Vec<usize> = self
            .train
            .iter()
            .chain(&self.valid)
            .chain(&self.test)
            .copied()
            .collect();
        prompts.sort_unstable();
        prompts
            .into_iter()
            .flat_map(|p| self.index.prompts[p].generations.iter().copied())
            .collect()
    }

    /// Attaches a pretrained encoder's frozen outputs; the prompts' token ids become the
    /// checkpoint tokenizer's (the similar-prompt negatives compare those).
    pub fn attach_frozen(&mut self, frozen: FrozenStore) {
        let (rows, of_prompt) = &frozen.text;
        if let Some(mask) = &rows.mask {
            self.seq_len = rows.tokens;
            for (p, row) in of_prompt.iter().enumerate() {
                if let Some(r) = row {
                    let m = mask[r * rows.tokens..(r + 1) * rows.tokens].to_vec();
                    self.token_ids[p] = rows.ids_of(*r).unwrap_or_else(|| m.clone());
                    self.token_mask[p] = m;
                } else {
                    self.token_ids[p] = vec![0; rows.tokens];
                    self.token_mask[p] = vec![0; rows.tokens];
                }
            }
        }
        self.frozen = Some(frozen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_plans_cover_every_prompt_once_and_are_seeded() {
        let prompts: Vec<usize> = (0..23).collect();
        let a = plan_batches(&prompts, 5, Some(3));
        assert_eq!(a, plan_batches(&prompts, 5, Some(3)));
        assert_ne!(a, plan_batches(&prompts, 5, Some(4)));
        assert_eq!(a.len(), 5);
        let mut all: Vec<usize> = a.iter().flat_map(|b| b.prompts.clone()).collect();
        all.sort_unstable();
        assert_eq!(all, prompts);
        assert_eq!(
            plan_batches(&prompts, 5, None)[0].prompts,
            vec![0, 1, 2, 3, 4]
        );
    }
}
