//! Batches of whole prompt groups: the fixed seeded plan, the batch tensors, mirroring and
//! matching negatives.

use super::*;

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
    pub label_values: PerCriterion<Vec<Option<f32>>>,
    pub weights: LossWeights,
    /// Generation index of each image (evaluation maps scores back with it).
    pub generations: Vec<usize>,
    /// Image-text matching negatives: batch indices of some images `[M]` and, for each, the text
    /// row it is mismatched with `[M]`: another prompt of the batch, or (substituted negatives)
    /// one of the rows after the batch's T prompts. `None` when matching is off or finds no
    /// negative (a single-prompt batch, or prompts without substitutable words).
    pub mismatched: Option<(Tensor<1, Int>, Tensor<1, Int>)>,
    /// See [`GroupBatcher::grad_scale`].
    pub grad_scale: f64,
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
    /// What each batch's loss is multiplied by before its gradients are taken: 1 over the
    /// batches whose gradients are summed into one optimiser step (devices times accumulated
    /// steps), so that the step follows their mean, as one batch holding them all would.
    pub grad_scale: f64,
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
                let sets: Vec<_> = prompts.iter().map(|&p| self.store.token_set(p)).collect();
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
        let mirror = self.mirrored(prompts);
        let Gathered {
            generations,
            prompt_rows,
            pairs,
            strict,
        } = self.gather(prompts);
        let n = generations.len();
        let images = self.image_input(&generations, &prompt_rows, &mirror, device);
        let (negative_rows, mismatched) = self.matching_negatives(prompts, &prompt_rows);
        let text = self.text_input(prompts, &mirror, &negative_rows, device);
        let (labels, label_values) = self.likert_labels(&generations, device);
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
            grad_scale: self.grad_scale,
        }
    }

    /// Whether each prompt of the batch is seen mirrored this epoch.
    fn mirrored(&self, prompts: &[usize]) -> Vec<bool> {
        let st = &self.store;
        match &self.flips {
            Some(flips) => {
                let epoch = flips.next_epoch();
                let ids = prompts.iter().map(|&p| &st.index.prompts[p].id);
                ids.map(|id| flips.mirrored(epoch, id)).collect()
            }
            None => vec![false; prompts.len()],
        }
    }

    /// The batch's generations (prompt by prompt), the prompt row of each, and its pairs with
    /// the strict ones apart.
    fn gather(&self, prompts: &[usize]) -> Gathered {
        let st = &self.store;
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
        Gathered {
            generations,
            prompt_rows,
            pairs,
            strict,
        }
    }

    /// The images of `generations`: frozen hidden states from the store, else pixels in
    /// `[-1, 1]` (mirrored where the prompt is).
    fn image_input(
        &self,
        generations: &[usize],
        prompt_rows: &[i64],
        mirror: &[bool],
        device: &Device,
    ) -> ImageInput {
        let st = &self.store;
        let s = st.image_size;
        let plane = s * s;
        let n = generations.len();
        let frozen = st.frozen.as_ref();
        match frozen.and_then(|f| f.image.as_ref()) {
            Some((rows, of_gen)) => {
                let mut data = Vec::with_capacity(n * rows.tokens * rows.dim);
                for &g in generations {
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
        }
    }

    /// Image-text matching negatives: the substituted prompts' token rows (extra text rows after
    /// the batch's prompts) and the `(image, prompt row)` pairs that do not match.
    fn matching_negatives<'a>(
        &'a self,
        prompts: &[usize],
        prompt_rows: &[i64],
    ) -> (Vec<&'a TokenRow>, Vec<(i64, i64)>) {
        let st = &self.store;
        let n = prompt_rows.len();
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
        (negative_rows, mismatched)
    }

    /// The text rows: the batch's prompts (a mirrored one with its swap words exchanged), then
    /// the negatives; frozen hidden states from the store where the text encoder is frozen.
    fn text_input(
        &self,
        prompts: &[usize],
        mirror: &[bool],
        negative_rows: &[&TokenRow],
        device: &Device,
    ) -> TextInput {
        let st = &self.store;
        let t = prompts.len();
        let frozen = st.frozen.as_ref();
        let rows = t + negative_rows.len();
        let l = st.seq_len;
        // The T prompts (a mirrored one with its swap words exchanged), then the negatives.
        let text_rows: Vec<(&Vec<i64>, &Vec<i64>)> = prompts
            .iter()
            .zip(mirror)
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
        match frozen.filter(|f| f.text.0.dim > 0) {
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
        }
    }

    /// The Likert targets of the heads trained, and the raw values per criterion.
    fn likert_labels(
        &self,
        generations: &[usize],
        device: &Device,
    ) -> (LikertLabels, PerCriterion<Vec<Option<f32>>>) {
        let st = &self.store;
        let mut labels = LikertLabels::default();
        let mut label_values = PerCriterion::default();
        for c in Criterion::LIKERT {
            if !self.heads.contains(&c) {
                continue;
            }
            let vals: Vec<Option<f32>> = generations.iter().map(|&g| st.labels[g][c]).collect();
            labels[c] = Some(LikertTarget::new(&vals, device));
            label_values[c] = Some(vals);
        }
        (labels, label_values)
    }
}

/// What [`GroupBatcher::gather`] collects.
struct Gathered {
    generations: Vec<usize>,
    prompt_rows: Vec<i64>,
    pairs: Vec<Pair>,
    strict: Vec<(usize, usize)>,
}

impl Batcher<BatchPlan, GroupBatch> for GroupBatcher {
    fn batch(&self, items: Vec<BatchPlan>, device: &Device) -> GroupBatch {
        // The loader hands one plan per batch; several are merged if it ever hands more.
        let prompts: Vec<usize> = items.into_iter().flat_map(|b| b.prompts).collect();
        self.build(&prompts, device)
    }
}
