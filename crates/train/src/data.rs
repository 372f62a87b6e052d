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

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use annotations::pairs::expand_pairs;
use annotations::splits::{Split, split_prompts};
use annotations::{Dataset, ImagesState, Index};
use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use model::{
    Criterion, ImageInput, LikertLabels, LikertTarget, LossWeights, Pair, Pairs, PretrainedKind,
    PromptTokenizer, TextInput,
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
    /// Mean rating over annotators per generation and criterion (annotations order).
    pub labels: Vec<[Option<f32>; 4]>,
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

/// Trains the prompt tokenizer on the training prompts only (held-out prompt words stay unseen,
/// as they would be for a deployed model), writes it to `path` and returns it.
///
/// `model::PromptTokenizer::train` sets up normalisation, pre-tokenisation, special tokens,
/// padding and truncation; its WordPiece vocabulary, however, differs from one process to the
/// next (the underlying trainer breaks ties between merges of equal counts in hash-map order),
/// and the same seed must give the same model. So the vocabulary is replaced by a deterministic
/// one built from the same training prompts: the special tokens, every character seen (alone and
/// as a `##` continuation, so that any word of those characters can be spelled), then whole
/// words by decreasing count (ties by spelling) up to `vocab_size`.
pub fn train_tokenizer(
    ix: &Index,
    train: &[usize],
    config: &TrainConfig,
    path: &Path,
) -> Result<PromptTokenizer> {
    let texts: Vec<&str> = train.iter().map(|&p| ix.prompts[p].text.as_str()).collect();
    let tok = PromptTokenizer::train(&texts, &config.tokenizer.to_tokenizer_config())?;
    tok.save(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let bad = |m: &str| {
        TrainError::Model(model::ModelError::Tokenizer(format!(
            "{}: {m}",
            path.display()
        )))
    };
    let mut json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
    let vocab = json
        .pointer_mut("/model/vocab")
        .and_then(|v| v.as_object_mut())
        .ok_or_else(|| bad("no model.vocab"))?;
    let mut specials: Vec<(String, u64)> = vocab
        .iter()
        .filter_map(|(k, v)| v.as_u64().filter(|&i| i < 4).map(|i| (k.clone(), i)))
        .collect();
    specials.sort_by_key(|(_, i)| *i);
    if specials.len() != 4 {
        return Err(bad("expected the four special tokens at ids 0..4"));
    }
    // Words as the BERT pre-tokenizer cuts them (lower-cased): runs of alphanumerics, and single
    // punctuation marks.
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut chars: std::collections::BTreeSet<char> = std::collections::BTreeSet::new();
    for t in &texts {
        let lower = t.to_lowercase();
        let mut word = String::new();
        for ch in lower.chars().chain(std::iter::once(' ')) {
            if ch.is_alphanumeric() {
                word.push(ch);
                continue;
            }
            if !word.is_empty() {
                *counts.entry(std::mem::take(&mut word)).or_default() += 1;
            }
            if !ch.is_whitespace() {
                *counts.entry(ch.to_string()).or_default() += 1;
            }
        }
        chars.extend(lower.chars().filter(|c| !c.is_whitespace()));
    }
    let mut tokens: Vec<String> = specials.into_iter().map(|(k, _)| k).collect();
    for c in &chars {
        tokens.push(c.to_string());
        if c.is_alphanumeric() {
            tokens.push(format!("##{c}"));
        }
    }
    let mut words: Vec<(&String, &usize)> = counts
        .iter()
        .filter(|(w, _)| w.chars().count() > 1)
        .collect();
    words.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let limit = config.tokenizer.vocab_size.max(tokens.len());
    tokens.extend(
        words
            .into_iter()
            .map(|(w, _)| w.clone())
            .take(limit - tokens.len()),
    );
    vocab.clear();
    for (i, token) in tokens.into_iter().enumerate() {
        vocab.insert(token, serde_json::Value::from(i as u64));
    }
    let text = serde_json::to_string(&json).map_err(|e| bad(&e.to_string()))?;
    std::fs::write(path, text).map_err(|e| TrainError::io(path, e))?;
    Ok(PromptTokenizer::load(path)?.with_max_len(config.tokenizer.max_len)?)
}

/// Decodes one image file into RGB u8 pixels of `size` x `size` (resized if needed).
pub fn load_image(path: &Path, size: usize) -> Result<Vec<u8>> {
    let img = image::open(path).map_err(|e| TrainError::Image {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(to_pixels(img, size))
}

/// RGB u8 pixels (HWC) of a decoded image at `size` x `size`.
pub fn to_pixels(img: image::DynamicImage, size: usize) -> Vec<u8> {
    let rgb = img.to_rgb8();
    let s = size as u32;
    if rgb.width() == s && rgb.height() == s {
        rgb.into_raw()
    } else {
        image::imageops::resize(&rgb, s, s, image::imageops::FilterType::Triangle).into_raw()
    }
}

/// Decodes many images on the available cores (rayon's pool), in order.
pub fn load_images(paths: &[std::path::PathBuf], size: usize) -> Result<Vec<Vec<u8>>> {
    use rayon::prelude::*;
    paths.par_iter().map(|p| load_image(p, size)).collect()
}

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

    let labels: Vec<[Option<f32>; 4]> = ix
        .generations
        .iter()
        .map(|g| Criterion::ALL.map(|c| ds.mean_rating(g, c)))
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

/// One planned batch: the prompts it holds (an item of burn's dataset; the batcher turns it into
/// tensors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchPlan {
    pub prompts: Vec<usize>,
}

/// Groups prompts into batches of `batch_prompts`; with `seed`, in a seeded random order (the
/// training order, fixed for the run), else in the given order (evaluation).
pub fn plan_batches(prompts: &[usize], batch_prompts: usize, seed: Option<u64>) -> Vec<BatchPlan> {
    let mut order = prompts.to_vec();
    if let Some(seed) = seed {
        prng::Rng::derive(seed, "batch-order").shuffle(&mut order);
    }
    order
        .chunks(batch_prompts.max(1))
        .map(|c| BatchPlan {
            prompts: c.to_vec(),
        })
        .collect()
}

/// The tensors of one batch of whole prompt groups.
#[derive(Clone, Debug)]
pub struct GroupBatch {
    /// `[B, 3, S, S]` pixels in `[-1, 1]`, or a pretrained encoder's frozen outputs.
    pub images: ImageInput,
    /// The T prompts: token ids `[T, L]` and mask, or a pretrained encoder's frozen outputs.
    pub text: TextInput,
    /// `[B]`: which prompt row belongs to each image.
    pub prompt_index: Tensor<1, Int>,
    /// Pairs for the overall head's loss (strict, plus ties if the config keeps them).
    pub pairs: Pairs,
    /// Strict pairs (batch indices), for the accuracy metric.
    pub strict: Vec<(usize, usize)>,
    /// Likert labels per criterion (mean ratings, masked where missing).
    pub labels: LikertLabels,
    /// The same labels as plain values, for the correlation metrics.
    pub label_values: [Vec<Option<f32>>; 4],
    pub weights: LossWeights,
    /// Generation index of each image (evaluation maps scores back with it).
    pub generations: Vec<usize>,
    /// Image-text matching negatives: batch indices of some images `[M]` and, for each, the text
    /// row it is mismatched with `[M]`: another prompt of the batch, or (substituted negatives)
    /// one of the rows after the batch's T prompts. `None` when matching is off or finds no
    /// negative (a single-prompt batch, or prompts without substitutable words).
    pub mismatched: Option<(Tensor<1, Int>, Tensor<1, Int>)>,
}

/// Turns [`BatchPlan`]s into [`GroupBatch`]es.
#[derive(Clone, Debug)]
pub struct GroupBatcher {
    pub store: Arc<Store>,
    pub ties: TiesRule,
    pub weights: LossWeights,
    /// Criteria that have a head (labels of the others are not built).
    pub heads: Vec<Criterion>,
    /// Every how many images a matching negative is built (0 = never; see
    /// [`crate::DataConfig::matching_every`]).
    pub matching_every: usize,
    pub matching_negatives: MatchingNegatives,
    /// Left-right mirroring of training batches (`None`: never, as for validation).
    pub flips: Option<Flips>,
}

/// Which prompts of a training batch are mirrored: a seeded coin per prompt and epoch.
///
/// The loader hands the batcher no epoch, so it counts the batches it built: every epoch builds
/// each of its `batches_per_epoch` batches exactly once, so the count says the epoch whatever
/// the order within it. A resumed run starts the count at its first epoch's batches.
#[derive(Clone, Debug)]
pub struct Flips {
    pub built: Arc<std::sync::atomic::AtomicUsize>,
    pub batches_per_epoch: usize,
    pub seed: u64,
}

impl Flips {
    /// Starts counting at `epoch` (0-based).
    pub fn new(seed: u64, batches_per_epoch: usize, epoch: usize) -> Self {
        Self {
            built: Arc::new((epoch * batches_per_epoch).into()),
            batches_per_epoch: batches_per_epoch.max(1),
            seed,
        }
    }

    /// Whether prompt `id` is mirrored in 0-based `epoch`.
    pub fn mirrored(&self, epoch: usize, id: &str) -> bool {
        prng::Rng::derive(self.seed, &format!("hflip/{epoch}/{id}")).bernoulli(0.5)
    }

    /// The epoch of the next batch, counting it as built.
    fn next_epoch(&self) -> usize {
        let k = self
            .built
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        k / self.batches_per_epoch
    }
}

impl GroupBatcher {
    /// For each prompt row of a batch (at least two), the row of the prompt its images are
    /// mismatched with.
    fn matching_partners(&self, prompts: &[usize]) -> Vec<usize> {
        let t = prompts.len();
        match self.matching_negatives {
            MatchingNegatives::Random => (0..t).map(|r| (r + 1) % t).collect(),
            // Substituted negatives are built in `build`; this is never asked for them.
            MatchingNegatives::Similar | MatchingNegatives::Substituted => {
                let st = &self.store;
                let sets: Vec<std::collections::BTreeSet<i64>> = prompts
                    .iter()
                    .map(|&p| {
                        st.token_ids[p]
                            .iter()
                            .zip(&st.token_mask[p])
                            .filter(|&(_, &m)| m != 0)
                            .map(|(&id, _)| id)
                            .collect()
                    })
                    .collect();
                (0..t)
                    .map(|r| {
                        let jaccard = |o: usize| {
                            let inter = sets[r].intersection(&sets[o]).count();
                            let union = sets[r].union(&sets[o]).count().max(1);
                            inter as f64 / union as f64
                        };
                        // Identical prompt texts are not negatives; among the rest the most
                        // similar, the first on ties.
                        let mut best: Option<(usize, f64)> = None;
                        for o in (0..t).filter(|&o| o != r && sets[o] != sets[r]) {
                            let j = jaccard(o);
                            if best.is_none_or(|(_, b)| j > b) {
                                best = Some((o, j));
                            }
                        }
                        best.map_or((r + 1) % t, |(o, _)| o)
                    })
                    .collect()
            }
        }
    }

    /// Builds the batch of the given prompts on `device`.
    pub fn build(&self, prompts: &[usize], device: &Device) -> GroupBatch {
        let st = &self.store;
        let s = st.image_size;
        let plane = s * s;
        let mirror: Vec<bool> = match &self.flips {
            Some(flips) => {
                let epoch = flips.next_epoch();
                let ids = prompts.iter().map(|&p| &st.index.prompts[p].id);
                ids.map(|id| flips.mirrored(epoch, id)).collect()
            }
            None => vec![false; prompts.len()],
        };
        let mut generations = Vec::new();
        let mut prompt_rows = Vec::new();
        let mut pairs = Vec::new();
        let mut strict = Vec::new();
        for (row, &p) in prompts.iter().enumerate() {
            let offset = generations.len();
            for lp in &st.pairs[p] {
                let (b, w) = (offset + lp.better, offset + lp.worse);
                if lp.tie {
                    if self.ties == TiesRule::Half {
                        pairs.push(Pair::tie(b, w));
                    }
                } else {
                    pairs.push(Pair::strict(b, w));
                    strict.push((b, w));
                }
            }
            for &g in &st.index.prompts[p].generations {
                generations.push(g);
                prompt_rows.push(row as i64);
            }
        }
        let n = generations.len();
        let frozen = st.frozen.as_ref();
        let images = match frozen.and_then(|f| f.image.as_ref()) {
            Some((rows, of_gen)) => {
                let mut data = Vec::with_capacity(n * rows.tokens * rows.dim);
                for &g in &generations {
                    let r = of_gen[g].expect("every generation of a used prompt has a row");
                    data.extend_from_slice(rows.row(r));
                }
                ImageInput::Hidden(Tensor::from_data(
                    TensorData::new(data, [n, rows.tokens, rows.dim]),
                    device,
                ))
            }
            None => {
                // HWC u8 -> CHW f32 in [-1, 1].
                let mut pixels = vec![0f32; n * 3 * plane];
                for (i, &g) in generations.iter().enumerate() {
                    let src = &st.images[g];
                    let dst = &mut pixels[i * 3 * plane..(i + 1) * 3 * plane];
                    let flip = mirror[prompt_rows[i] as usize];
                    for (k, px) in src.chunks_exact(3).enumerate().take(plane) {
                        let k = if flip { k - k % s + (s - 1 - k % s) } else { k };
                        for c in 0..3 {
                            dst[c * plane + k] = f32::from(px[c]) / 127.5 - 1.0;
                        }
                    }
                }
                ImageInput::Pixels(Tensor::from_data(
                    TensorData::new(pixels, [n, 3, s, s]),
                    device,
                ))
            }
        };
        let t = prompts.len();
        let matching = self.matching_every > 0
            && self.weights.matching > 0.0
            && self.heads.contains(&Criterion::Alignment);
        // Image-text matching negatives: (image, prompt row) pairs. Deterministic, so a resumed
        // run sees the same negatives; substituted prompts become extra text rows after the T
        // prompts of the batch.
        let mut negative_rows: Vec<&TokenRow> = Vec::new();
        let mut mismatched: Vec<(i64, i64)> = Vec::new();
        if matching && self.matching_negatives == MatchingNegatives::Substituted {
            for (k, i) in (0..n).step_by(self.matching_every).enumerate() {
                let variants = &st.negatives[prompts[prompt_rows[i] as usize]];
                if !variants.is_empty() {
                    // Consecutive sampled images of a prompt take consecutive variants.
                    mismatched.push((i as i64, (t + negative_rows.len()) as i64));
                    negative_rows.push(&variants[k % variants.len()]);
                }
            }
        } else if matching && t >= 2 {
            // The batch order is seeded-random, so "the next prompt of the batch" is a random
            // other prompt.
            let partner = self.matching_partners(prompts);
            mismatched = (0..n)
                .step_by(self.matching_every)
                .map(|i| (i as i64, partner[prompt_rows[i] as usize] as i64))
                .collect();
        }
        let rows = t + negative_rows.len();
        let l = st.seq_len;
        // The T prompts (a mirrored one with its swap words exchanged), then the negatives.
        let text_rows: Vec<(&Vec<i64>, &Vec<i64>)> = prompts
            .iter()
            .zip(&mirror)
            .map(|(&p, &flip)| match &st.mirrored[p] {
                Some((ids, mask)) if flip => (ids, mask),
                _ => (&st.token_ids[p], &st.token_mask[p]),
            })
            .chain(negative_rows.iter().map(|(ids, mask)| (ids, mask)))
            .collect();
        let flat = |want_ids: bool| -> Vec<i64> {
            text_rows
                .iter()
                .flat_map(|&(ids, mask)| if want_ids { ids } else { mask }.iter().copied())
                .collect()
        };
        let mask = Tensor::from_data(TensorData::new(flat(false), [rows, l]), device);
        let text = match frozen.filter(|f| f.text.0.dim > 0) {
            Some(FrozenStore {
                text: (rows, of_prompt),
                ..
            }) => {
                let mut data = Vec::with_capacity(prompts.len() * rows.tokens * rows.dim);
                for &p in prompts {
                    let r = of_prompt[p].expect("every used prompt has a row");
                    data.extend_from_slice(rows.row(r));
                }
                TextInput::Hidden {
                    hidden: Tensor::from_data(
                        TensorData::new(data, [prompts.len(), rows.tokens, rows.dim]),
                        device,
                    ),
                    mask,
                }
            }
            // Scratch text encoder, or BLIP's (token ids: it reads the image too).
            None => TextInput::Ids {
                ids: Tensor::from_data(TensorData::new(flat(true), [rows, l]), device),
                mask,
            },
        };
        let mut labels = LikertLabels::default();
        let mut label_values: [Vec<Option<f32>>; 4] = Default::default();
        for c in Criterion::LIKERT {
            if !self.heads.contains(&c) {
                continue;
            }
            let k = c.index();
            let vals: Vec<Option<f32>> = generations.iter().map(|&g| st.labels[g][k]).collect();
            *labels.slot_mut(c) = Some(LikertTarget::new(&vals, device));
            label_values[k] = vals;
        }
        let mismatched = (!mismatched.is_empty()).then(|| {
            let m = mismatched.len();
            let (idx, other): (Vec<i64>, Vec<i64>) = mismatched.into_iter().unzip();
            (
                Tensor::from_data(TensorData::new(idx, [m]), device),
                Tensor::from_data(TensorData::new(other, [m]), device),
            )
        });
        GroupBatch {
            mismatched,
            images,
            text,
            prompt_index: Tensor::from_data(TensorData::new(prompt_rows, [n]), device),
            pairs: Pairs::new(&pairs, device),
            strict,
            labels,
            label_values,
            weights: self.weights.clone(),
            generations,
        }
    }
}

impl Batcher<BatchPlan, GroupBatch> for GroupBatcher {
    fn batch(&self, items: Vec<BatchPlan>, device: &Device) -> GroupBatch {
        // The loader hands one plan per batch; several are merged if it ever hands more.
        let prompts: Vec<usize> = items.into_iter().flat_map(|b| b.prompts).collect();
        self.build(&prompts, device)
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
