//! The multi-head reward model: shared image and text encoders, a fusion module, and one head per
//! criterion; plus its batch loss and its safetensors + JSON persistence.

use std::path::{Path, PathBuf};

use burn::{
    prelude::*,
    store::{ModuleSnapshot, SafetensorsStore},
};

use crate::{
    Criterion, LossWeights, ModelConfig, ModelError, PerCriterion,
    fusion::Fusion,
    heads::{Heads, LikertHead},
    losses::{LikertLabels, LossBreakdown, Pairs, RatingMode, masked_mean},
    text_encoder::TextFeatures,
    towers::{ImageInput, ImageTower, TextInput, TextTower},
};

/// File name of the weights inside a model directory written by [`RewardModel::save`].
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// File name of the config inside a model directory written by [`RewardModel::save`].
pub const CONFIG_FILE: &str = "model_config.json";

/// Scores of a batch: one `[B]` tensor per head the model has (`None` for absent heads).
///
/// Scores are unbounded reals; higher is better. Use [`RewardModel::predict_rating`] to read a
/// Likert head as a rating.
pub type RewardOutput = PerCriterion<Tensor<1>>;

/// Multi-head reward model for text-to-image generation.
///
/// Built with [`ModelConfig::init`]; see the crate docs for the data flow.
#[derive(Module, Debug)]
pub struct RewardModel {
    image: ImageTower,
    text: TextTower,
    /// `None` with BLIP, whose text encoder is the fusion.
    fusion: Option<Fusion>,
    heads: Heads,
}

impl ModelConfig {
    /// Builds a freshly initialised model on `device` (use `device.clone().autodiff()` to train).
    ///
    /// # Panics
    /// If the config is invalid; use [`ModelConfig::try_init`] for configs read from files.
    pub fn init(&self, device: &Device) -> RewardModel {
        match self.try_init(device) {
            Ok(model) => model,
            Err(e) => panic!("{e}"),
        }
    }

    /// Validates the config, then builds a freshly initialised model on `device`.
    pub fn try_init(&self, device: &Device) -> Result<RewardModel, ModelError> {
        self.validate()?;
        Ok(RewardModel {
            image: ImageTower::new(self, device)?,
            text: TextTower::new(self, device)?,
            fusion: (!self.is_blip()).then(|| Fusion::new(self, device)),
            heads: Heads::new(self, device),
        })
    }
}

impl RewardModel {
    /// Scores B (image, prompt) pairs.
    ///
    /// * `images`: `[B, 3, S, S]`, `S = image_size`, values roughly in `[-1, 1]`;
    /// * `token_ids`: `[B, L]` prompt token ids of each image (pad id 0);
    /// * `attention_mask`: `[B, L]`, 1 for tokens, 0 for padding.
    pub fn forward(
        &self,
        images: Tensor<4>,
        token_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
    ) -> RewardOutput {
        let [t, _] = token_ids.dims();
        let index = Tensor::arange(0..t as i64, &token_ids.device());
        self.forward_inputs(
            ImageInput::Pixels(images),
            TextInput::Ids {
                ids: token_ids,
                mask: attention_mask,
            },
            index,
        )
    }

    /// Like [`forward`](Self::forward), but encodes each distinct prompt once: `token_ids` and
    /// `attention_mask` are `[T, L]` for T prompts and `prompt_index` `[B]` says which prompt
    /// (row) belongs to each image. Worth it when a batch holds several images per prompt.
    pub fn forward_with_prompts(
        &self,
        images: Tensor<4>,
        token_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
        prompt_index: Tensor<1, Int>,
    ) -> RewardOutput {
        self.forward_inputs(
            ImageInput::Pixels(images),
            TextInput::Ids {
                ids: token_ids,
                mask: attention_mask,
            },
            prompt_index,
        )
    }

    /// The general form of [`forward_with_prompts`](Self::forward_with_prompts): images and
    /// prompts as pixels and token ids (scratch towers) or as the hidden states of a pretrained
    /// encoder's frozen layers ([`FrozenEncoder`](crate::FrozenEncoder)); `prompt_index` `[B]`
    /// gives each image's prompt row.
    pub fn forward_inputs(
        &self,
        images: ImageInput,
        text: TextInput,
        prompt_index: Tensor<1, Int>,
    ) -> RewardOutput {
        if let TextTower::Blip(med) = &self.text {
            // BLIP: each image's prompt is read by the text encoder while it cross-attends to
            // the image tokens; the feature is its state at [CLS] (ImageReward's `txt_features`).
            let TextInput::Ids { ids, mask } = text else {
                panic!("BLIP's text encoder reads token ids")
            };
            let ids = ids.select(0, prompt_index.clone());
            let mask = mask.select(0, prompt_index);
            let image = self.image.forward(images, None);
            let hidden = med.forward(ids, mask, image.tokens);
            let [b, _, d] = hidden.dims();
            let joint = hidden.narrow(1, 0, 1).reshape([b, d]);
            return self.heads.forward(crate::Fused {
                joint,
                tokens: None,
            });
        }
        let text = self.text.forward(text);
        let text = TextFeatures {
            tokens: text.tokens.select(0, prompt_index.clone()),
            pad_mask: text.pad_mask.select(0, prompt_index.clone()),
            pooled: text.pooled.select(0, prompt_index),
        };
        let prompt = self.image.conditioned().then(|| text.pooled.clone());
        let image = self.image.forward(images, prompt);
        let fusion = self
            .fusion
            .as_ref()
            .expect("every backbone but BLIP has a fusion module");
        self.heads.forward(fusion.forward(&image, &text))
    }

    /// Replaces the towers with pretrained ones (from [`load_pretrained`](crate::load_pretrained),
    /// with the checkpoint's weights); `None` keeps the current image tower. The model must have
    /// been built from the config whose `pretrained` spec describes them.
    pub fn with_towers(mut self, image: Option<ImageTower>, text: TextTower) -> Self {
        if let Some(image) = image {
            self.image = image;
        }
        self.text = text;
        self
    }

    /// Replaces the overall head (ImageReward's, from [`load_pretrained`](crate::load_pretrained)
    /// with a BLIP backbone).
    pub fn with_overall_head(mut self, head: crate::heads::OverallHead) -> Self {
        self.heads.set_overall(head);
        self
    }

    /// The criteria this model scores, in [`Criterion::ALL`] order (always includes `overall`).
    pub fn criteria(&self) -> Vec<Criterion> {
        self.heads.criteria()
    }

    /// The Likert head for `criterion`, if the model has one (cut-points, scale, loss kind).
    pub fn likert_head(&self, criterion: Criterion) -> Option<&LikertHead> {
        self.heads.likert(criterion)
    }

    /// Losses of a batch whose scores are `output`.
    ///
    /// * `pairs`: pairwise preferences between images of the batch, for the `overall` head
    ///   ([`Pairs::empty`] when there are none);
    /// * `labels`: Likert ratings + masks per criterion; criteria without labels, without a head,
    ///   or `overall` are skipped;
    /// * `weights`: weight of each head's loss in `total` (usually `&config.loss_weights`).
    ///
    /// Each head's loss is a masked mean over its labelled items, so a head without any label in
    /// the batch contributes exactly 0.
    pub fn loss(
        &self,
        output: &RewardOutput,
        pairs: &Pairs,
        labels: &LikertLabels,
        weights: &LossWeights,
    ) -> LossBreakdown {
        let mut per_head = PerCriterion::default();
        if let Some(scores) = output.get(Criterion::Overall) {
            per_head.insert(Criterion::Overall, pairs.loss(scores.clone()));
        }
        for c in Criterion::LIKERT {
            let (Some(head), Some(scores), Some(target)) =
                (self.heads.likert(c), output.get(c), labels.get(c))
            else {
                continue;
            };
            let items = head.item_loss(scores.clone(), target.ratings.clone(), target.mask.clone());
            per_head.insert(c, masked_mean(items, target.mask.clone()));
        }
        let total = per_head
            .iter()
            .map(|(c, l)| l.clone().mul_scalar(weights.get(c) as f32))
            .reduce(|a, b| a + b)
            .expect("the overall head always exists");
        LossBreakdown { total, per_head }
    }

    /// Reads a Likert head's scores `[B]` as ratings `[B]` on the dataset's scale; `None` for
    /// `overall` or a head the model lacks. `mode` only matters for ordinal heads.
    pub fn predict_rating(
        &self,
        criterion: Criterion,
        scores: Tensor<1>,
        mode: RatingMode,
    ) -> Option<Tensor<1>> {
        self.heads
            .likert(criterion)
            .map(|head| head.rating(scores, mode))
    }

    /// Writes the weights to a safetensors file, replacing any existing file.
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        // Without enum variant names, so the scratch towers keep the key names of models saved
        // before the towers became an enum.
        // Written beside and renamed, so a crash never leaves half a weights file.
        integrity::write_atomic_via(path, |tmp: &Path| {
            let mut store = SafetensorsStore::from_file(tmp)
                .overwrite(true)
                .skip_enum_variants(true);
            self.save_into(&mut store)
                .map_err(|e| weights_error(path, e.to_string()))?;
            sort_safetensors_header(tmp).map_err(|e| weights_error(path, e.to_string()))
        })
    }

    /// Replaces the weights with those of a safetensors file written by
    /// [`save_weights`](Self::save_weights).
    ///
    /// The file must hold exactly this model's tensors with matching shapes; a file from a model
    /// with other sizes or other heads is an error, not a partial load.
    pub fn load_weights(mut self, path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        if let Err(source) = std::fs::metadata(path) {
            return Err(ModelError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
        let mut store = SafetensorsStore::from_file(path).skip_enum_variants(true);
        let result = self
            .load_from(&mut store)
            .map_err(|e| weights_error(path, e.to_string()))?;
        if !result.errors.is_empty() || !result.unused.is_empty() {
            return Err(weights_error(
                path,
                format!("does not match the model config:\n{result}"),
            ));
        }
        Ok(self)
    }

    /// Writes `dir/model.safetensors` and `dir/model_config.json`, creating `dir` if needed.
    ///
    /// `config` must be the config this model was built from.
    pub fn save(&self, config: &ModelConfig, dir: impl AsRef<Path>) -> Result<(), ModelError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        config.save_json(dir.join(CONFIG_FILE))?;
        self.save_weights(dir.join(WEIGHTS_FILE))
    }

    /// Rebuilds a model saved with [`save`](Self::save) on `device`, returning it with its config.
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<(Self, ModelConfig), ModelError> {
        let dir = dir.as_ref();
        let config = ModelConfig::load_json(dir.join(CONFIG_FILE))?;
        let model = config
            .try_init(device)?
            .load_weights(dir.join(WEIGHTS_FILE))?;
        Ok((model, config))
    }
}

/// Rewrites a safetensors file's header with its keys sorted. burn writes the header's
/// `__metadata__` from a hash map, in another order in each process, so the same weights gave
/// different bytes (and checksums) from run to run; sorted, a model's file is the same bytes
/// wherever and however often it is saved. The tensor data is copied as it is (its offsets are
/// relative to the end of the header).
fn sort_safetensors_header(path: &Path) -> std::io::Result<()> {
    use std::collections::BTreeMap;
    use std::io::{Read, Write};
    fn sorted(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let m: BTreeMap<String, serde_json::Value> =
                    m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
                serde_json::to_value(m).expect("a map of JSON values serialises")
            }
            other => other,
        }
    }
    let mut src = std::fs::File::open(path)?;
    let mut len = [0u8; 8];
    src.read_exact(&mut len)?;
    let mut header = vec![0u8; u64::from_le_bytes(len) as usize];
    src.read_exact(&mut header)?;
    let header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(std::io::Error::other)?;
    let header: BTreeMap<String, serde_json::Value> =
        header.into_iter().map(|(k, v)| (k, sorted(v))).collect();
    let mut text = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
    // The format pads the header with spaces to a multiple of 8 bytes.
    text.resize(text.len().div_ceil(8) * 8, b' ');
    let mut out_path = path.as_os_str().to_owned();
    out_path.push(".sorted");
    let out_path = PathBuf::from(out_path);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&out_path)?);
    out.write_all(&(text.len() as u64).to_le_bytes())?;
    out.write_all(&text)?;
    std::io::copy(&mut src, &mut out)?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&out_path, path)
}

fn weights_error(path: &Path, message: String) -> ModelError {
    ModelError::Weights {
        path: PathBuf::from(path),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FusionKind, LikertLoss, LikertScale, Pair, losses::LikertTarget};
    use burn::{
        optim::{AdamConfig, GradientsParams},
        tensor::Distribution,
    };

    fn batch(
        cfg: &ModelConfig,
        b: usize,
        device: &Device,
    ) -> (Tensor<4>, Tensor<2, Int>, Tensor<2, Int>) {
        let s = cfg.image_size;
        let images = Tensor::<4>::random([b, 3, s, s], Distribution::Uniform(-1.0, 1.0), device);
        let l = cfg.max_text_len;
        let mut ids = Vec::with_capacity(b * l);
        let mut mask = Vec::with_capacity(b * l);
        for i in 0..b {
            let len = 2 + i % (l - 1);
            for j in 0..l {
                let tok = if j < len {
                    4 + ((i * 7 + j * 3) % (cfg.vocab_size - 4))
                } else {
                    0
                };
                ids.push(tok as i64);
                mask.push(i64::from(j < len));
            }
        }
        (
            images,
            Tensor::from_data(TensorData::new(ids, [b, l]), device),
            Tensor::from_data(TensorData::new(mask, [b, l]), device),
        )
    }

    fn tmp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rewardlab-model-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn vec1(t: Tensor<1>) -> Vec<f32> {
        t.into_data().try_into_vec_as::<f32>().unwrap()
    }

    #[test]
    fn forward_shapes_for_both_fusions_and_head_subsets() {
        let device = Device::flex();
        let subsets = [
            Criterion::ALL.to_vec(),
            vec![Criterion::Overall],
            vec![Criterion::Fidelity, Criterion::Overall],
        ];
        for fusion in [FusionKind::CrossAttention, FusionKind::Concat] {
            for heads in &subsets {
                let cfg = ModelConfig::tiny()
                    .with_fusion(fusion)
                    .with_heads(heads.clone());
                let model = cfg.init(&device);
                let (img, ids, mask) = batch(&cfg, 3, &device);
                let out = model.forward(img, ids, mask);
                for c in Criterion::ALL {
                    assert_eq!(out.get(c).is_some(), heads.contains(&c), "{fusion} {c}");
                    if let Some(s) = out.get(c) {
                        assert_eq!(s.dims(), [3]);
                        assert!(vec1(s.clone()).iter().all(|v| v.is_finite()));
                    }
                }
                let mut expect = heads.clone();
                expect.sort();
                assert_eq!(model.criteria(), expect);
            }
        }
    }

    #[test]
    fn film_token_readout_and_deeper_stem_depend_on_the_prompt_not_its_padding() {
        let device = Device::flex();
        let cfg = ModelConfig::tiny()
            .with_text_film(true)
            .with_stem_depth(2)
            .with_stem_widen(2)
            .with_alignment_readout(crate::AlignmentReadout::Tokens);
        let model = cfg.init(&device);
        // FiLM starts at identity (zero-initialised): perturb it so the prompt reaches the stem.
        let model = model.map(&mut Nudge);
        let (img, ids, mask) = batch(&cfg, 2, &device);
        let img = Tensor::cat(vec![img.clone().slice(0..1), img.slice(0..1)], 0);
        let out = model.forward(img.clone(), ids.clone(), mask.clone());
        let a = vec1(out[Criterion::Alignment].clone().unwrap());
        // Same image, two prompts: the scores differ.
        assert!((a[0] - a[1]).abs() > 1e-6, "{a:?}");
        // Changing a padded position changes nothing.
        let mut ids2: Vec<i64> = ids.clone().into_data().try_into_vec_as::<i64>().unwrap();
        let l = cfg.max_text_len;
        ids2[l - 1] = 7; // prompt 0 is 2 tokens long: position L-1 is padding
        let ids2 = Tensor::<2, Int>::from_data(TensorData::new(ids2, [2, l]), &device);
        let out2 = model.forward(img, ids2, mask);
        for c in Criterion::ALL {
            let (x, y) = (
                vec1(out.get(c).unwrap().clone()),
                vec1(out2.get(c).unwrap().clone()),
            );
            assert!((x[0] - y[0]).abs() < 1e-5, "{c}: {x:?} vs {y:?}");
        }
    }

    /// Adds a small constant to every parameter (moves zero-initialised FiLM off identity).
    struct Nudge;
    impl burn::module::ModuleMapper for Nudge {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            param.map(|t| t.add_scalar(0.05))
        }
    }

    #[test]
    fn forward_with_prompts_matches_forward() {
        let device = Device::flex();
        let cfg = ModelConfig::tiny();
        let model = cfg.init(&device);
        let (img, ids, mask) = batch(&cfg, 2, &device);
        // images 0,1,2 use prompts 1,0,1
        let idx = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 0, 1], [3]), &device);
        let img3 = Tensor::cat(vec![img.clone(), img.clone().slice(0..1)], 0);
        let a = model.forward_with_prompts(img3.clone(), ids.clone(), mask.clone(), idx.clone());
        let b = model.forward(img3, ids.select(0, idx.clone()), mask.select(0, idx));
        let (a, b) = (
            vec1(a[Criterion::Overall].clone().unwrap()),
            vec1(b[Criterion::Overall].clone().unwrap()),
        );
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn loss_masks_and_weights() {
        let ad = Device::flex().autodiff();
        let cfg = ModelConfig::tiny().with_likert_scale(LikertScale::new(1, 5));
        let model = cfg.init(&ad);
        let (img, ids, mask) = batch(&cfg, 4, &ad);
        let out = model.forward(img, ids, mask);
        let mut labels = LikertLabels::default();
        labels.insert(
            Criterion::Alignment,
            LikertTarget::new(&[Some(5.0), None, Some(2.0), None], &ad),
        );
        // a head whose labels are all missing, with NaN placeholders
        labels.insert(
            Criterion::Fidelity,
            LikertTarget {
                ratings: Tensor::full([4], f32::NAN, &ad),
                mask: Tensor::zeros([4], &ad),
            },
        );
        let pairs = Pairs::new(&[Pair::strict(0, 1), Pair::tie(2, 3)], &ad);
        let weights = LossWeights::new().with_alignment(2.0);
        let loss = model.loss(&out, &pairs, &labels, &weights);
        let get = |c| loss.per_head.get(c).unwrap().clone().into_scalar::<f32>();
        assert_eq!(get(Criterion::Fidelity), 0.0);
        assert!(loss.per_head.get(Criterion::Harmlessness).is_none());
        let total = loss.total.clone().into_scalar::<f32>();
        let expect = get(Criterion::Overall) + 2.0 * get(Criterion::Alignment);
        assert!((total - expect).abs() < 1e-5, "{total} vs {expect}");

        // masked-out labels contribute exactly nothing: changing them leaves the loss unchanged
        let align_scores = out[Criterion::Alignment].clone().unwrap();
        let head = model.likert_head(Criterion::Alignment).unwrap();
        let m = Tensor::<1>::from_floats([1.0, 0.0, 1.0, 0.0], &ad);
        let l1 = masked_mean(
            head.item_loss(
                align_scores.clone(),
                Tensor::from_floats([5.0, 1.0, 2.0, 1.0], &ad),
                m.clone(),
            ),
            m.clone(),
        );
        let l2 = masked_mean(
            head.item_loss(
                align_scores,
                Tensor::from_floats([5.0, 7.0, 2.0, f32::NAN], &ad),
                m.clone(),
            ),
            m,
        );
        assert_eq!(l1.into_scalar::<f32>(), l2.into_scalar::<f32>());
    }

    #[test]
    fn all_masked_gradient_is_finite_and_zero() {
        let ad = Device::flex().autodiff();
        let cfg = ModelConfig::tiny().with_heads(vec![Criterion::Overall, Criterion::Harmlessness]);
        let model = cfg.init(&ad);
        let (img, ids, mask) = batch(&cfg, 3, &ad);
        let out = model.forward(img, ids, mask);
        let head = model.likert_head(Criterion::Harmlessness).unwrap();
        // no pairs and a harmlessness head whose labels are all missing (NaN placeholders)
        let mut labels = LikertLabels::default();
        labels.insert(
            Criterion::Harmlessness,
            LikertTarget {
                ratings: Tensor::full([3], f32::NAN, &ad),
                mask: Tensor::zeros([3], &ad),
            },
        );
        let loss = model
            .loss(&out, &Pairs::empty(&ad), &labels, &LossWeights::new())
            .total;
        assert_eq!(loss.clone().into_scalar::<f32>(), 0.0);
        let grads = loss.backward();
        let cut_raw = head.cut_raw_param().unwrap();
        let g = vec1(cut_raw.grad(&grads).unwrap());
        assert!(g.iter().all(|v| *v == 0.0), "{g:?}");
    }

    #[test]
    fn ratings_stay_on_scale() {
        let device = Device::flex();
        for kind in [LikertLoss::Ordinal, LikertLoss::Mse] {
            let cfg = ModelConfig::tiny()
                .with_likert_loss(kind)
                .with_likert_scale(LikertScale::new(1, 5));
            let model = cfg.init(&device);
            let scores = Tensor::<1>::from_floats([-100.0, -1.0, 0.0, 0.5, 1.0, 100.0], &device);
            for mode in [RatingMode::Expected, RatingMode::Argmax] {
                let r = vec1(
                    model
                        .predict_rating(Criterion::Fidelity, scores.clone(), mode)
                        .unwrap(),
                );
                assert!(
                    r.iter().all(|v| (1.0..=5.0).contains(v)),
                    "{kind} {mode:?}: {r:?}"
                );
                assert!(
                    r.windows(2).all(|w| w[1] >= w[0] - 1e-6),
                    "not monotone: {r:?}"
                );
            }
            assert!(
                model
                    .predict_rating(Criterion::Overall, scores, RatingMode::Expected)
                    .is_none()
            );
        }
    }

    #[test]
    fn tiny_model_overfits_fixed_pairs() {
        let device = Device::flex();
        device.seed(7);
        let ad = device.autodiff();
        let cfg = ModelConfig::tiny().with_heads(vec![Criterion::Overall]);
        let mut model = cfg.init(&ad);
        let (img, ids, mask) = batch(&cfg, 6, &ad);
        // a fixed total order 0 > 1 > ... > 5 over six random images
        let mut list = Vec::new();
        for i in 0..6 {
            for j in i + 1..6 {
                list.push(Pair::strict(i, j));
            }
        }
        let pairs = Pairs::new(&list, &ad);
        let labels = LikertLabels::default();
        let weights = LossWeights::new();
        let mut optim = AdamConfig::new().init();
        let mut first = None;
        let mut last = 0.0;
        for _ in 0..40 {
            let out = model.forward(img.clone(), ids.clone(), mask.clone());
            let loss = model.loss(&out, &pairs, &labels, &weights).total;
            last = loss.clone().detach().into_scalar::<f32>();
            first.get_or_insert(last);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(3e-3, model, grads);
        }
        let first = first.unwrap();
        eprintln!("overfit: pairwise loss {first:.4} -> {last:.4}");
        assert!(
            last < 0.3 * first && last < 0.2,
            "pairwise loss {first} -> {last}"
        );
    }

    #[test]
    fn a_saved_weights_file_is_the_same_bytes_every_time() {
        let device = Device::flex();
        let config = ModelConfig::tiny();
        let model = config.try_init(&device).unwrap();
        let dir = tmp_dir("bytes");
        // The header's metadata comes from a hash map, whose order differs between its instances
        // as between processes: many saves would have shown different orders.
        let first = dir.join("a.safetensors");
        model.save_weights(&first).unwrap();
        let bytes = std::fs::read(&first).unwrap();
        for k in 0..8 {
            let p = dir.join(format!("{k}.safetensors"));
            model.save_weights(&p).unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), bytes, "save {k}");
        }
        let reloaded = ModelConfig::tiny()
            .try_init(&device)
            .unwrap()
            .load_weights(&first)
            .unwrap();
        let again = dir.join("again.safetensors");
        reloaded.save_weights(&again).unwrap();
        assert_eq!(std::fs::read(&again).unwrap(), bytes);
    }

    #[test]
    fn save_load_round_trip_gives_identical_scores() {
        let device = Device::flex();
        let dir = tmp_dir("roundtrip");
        for fusion in [FusionKind::CrossAttention, FusionKind::Concat] {
            let cfg = ModelConfig::tiny()
                .with_fusion(fusion)
                .with_heads(vec![Criterion::Overall, Criterion::Alignment]);
            let model = cfg.init(&device);
            let (img, ids, mask) = batch(&cfg, 3, &device);
            let before = model.forward(img.clone(), ids.clone(), mask.clone());
            model.save(&cfg, &dir).unwrap();
            model.save(&cfg, &dir).unwrap(); // overwriting works
            let (loaded, cfg2) = RewardModel::load(&dir, &device).unwrap();
            assert_eq!(cfg2.fusion, fusion);
            let after = loaded.forward(img, ids, mask);
            for c in [Criterion::Overall, Criterion::Alignment] {
                assert_eq!(
                    vec1(before.get(c).unwrap().clone()),
                    vec1(after.get(c).unwrap().clone())
                );
            }
        }

        // weights of another architecture are refused, missing and corrupt files are errors
        let other = ModelConfig::tiny()
            .with_heads(vec![Criterion::Overall])
            .init(&device);
        let err = other.load_weights(dir.join(WEIGHTS_FILE));
        assert!(matches!(err, Err(ModelError::Weights { .. })), "{err:?}");
        let wider = ModelConfig::tiny().with_d_model(48).init(&device);
        assert!(wider.load_weights(dir.join(WEIGHTS_FILE)).is_err());
        let fresh = ModelConfig::tiny().init(&device);
        assert!(matches!(
            fresh.clone().load_weights(dir.join("nope.safetensors")),
            Err(ModelError::Io { .. })
        ));
        std::fs::write(dir.join("junk.safetensors"), b"not a safetensors file").unwrap();
        assert!(fresh.load_weights(dir.join("junk.safetensors")).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Not a check: prints the default model's size and CPU step time
    /// (`cargo test --release -p rewardlab-model -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn default_config_step_time() {
        let device = Device::flex();
        let ad = device.autodiff();
        let cfg = ModelConfig::new();
        let mut model = cfg.init(&ad);
        println!("default model: {} parameters", model.num_params());
        let (img, ids, mask) = batch(&cfg, 64, &ad);
        let pairs: Vec<Pair> = (0..32).map(|i| Pair::strict(2 * i, 2 * i + 1)).collect();
        let pairs = Pairs::new(&pairs, &ad);
        let mut labels = LikertLabels::default();
        for c in Criterion::LIKERT {
            labels.insert(c, LikertTarget::new(&[Some(4.0); 64], &ad));
        }
        let mut optim = AdamConfig::new().init();
        for step in 0..6 {
            let t = std::time::Instant::now();
            let out = model.forward(img.clone(), ids.clone(), mask.clone());
            let loss = model.loss(&out, &pairs, &labels, &cfg.loss_weights).total;
            let v = loss.clone().detach().into_scalar::<f32>();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-3, model, grads);
            println!(
                "step {step}: loss {v:.4}, {:.0} ms for 64 images",
                t.elapsed().as_secs_f64() * 1e3
            );
        }
    }
}
