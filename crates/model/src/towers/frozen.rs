//! The frozen part of a pretrained encoder: embeddings and layers before the cut, run once per
//! image and prompt (or read back from an embedding cache).

use super::*;

/// The frozen bottom of a pretrained encoder (embeddings and the first `k` layers of each
/// pretrained tower), with the tokenizer and image preprocessing of its checkpoint.
#[derive(Debug)]
pub struct FrozenEncoder {
    pub(super) spec: PretrainedSpec,
    pub(super) device: Device,
    pub(super) vision: Option<FrozenVision>,
    pub(super) text: FrozenText,
}

// One value per loaded encoder: the size difference of the variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum FrozenVision {
    Clip(ClipVisionTransformer, ClipImageProcessor),
    /// The ViT's embeddings and first blocks, and the side its images are resized to.
    Blip(BlipVisionTransformer, u32),
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum FrozenText {
    Clip(ClipTextTransformer, ClipTokenizer),
    Bert(BertModel, SentenceEncoder),
    /// BLIP's text layers cannot run before the image tokens exist: only the tokenizer.
    Blip(BlipTokenizer),
}

/// Hidden states of a batch of prompts after the frozen layers, with the tokens they came from.
#[derive(Debug, Clone)]
pub struct FrozenPrompts {
    /// `[T, L, D]`; `None` for BLIP, whose text layers run in the model (they read the image).
    pub hidden: Option<Tensor<3>>,
    /// Token ids `[T, L]` and mask `[T, L]` (1 = token).
    pub ids: Tensor<2, Int>,
    pub mask: Tensor<2, Int>,
}

impl FrozenEncoder {
    /// Loads the frozen bottom a saved model's spec describes (to score new images with it).
    pub fn load(spec: &PretrainedSpec, device: &Device) -> Result<Self, ModelError> {
        let parts = load_pretrained(spec.kind, &spec.path, spec.freeze, 1, device)?;
        if parts.spec.image_frozen != spec.image_frozen
            || parts.spec.text_frozen != spec.text_frozen
        {
            return Err(config_error(
                spec,
                "the checkpoint now has another number of layers than when the model was trained",
            ));
        }
        Ok(parts.frozen)
    }

    /// The spec of the cut.
    pub fn spec(&self) -> &PretrainedSpec {
        &self.spec
    }

    /// Whether the images go through the pretrained vision tower.
    pub fn has_vision(&self) -> bool {
        self.vision.is_some()
    }

    /// `(tokens, width)` of an image's hidden state, when the vision tower is pretrained.
    pub fn image_shape(&self) -> Option<(usize, usize)> {
        match self.vision.as_ref()? {
            FrozenVision::Clip(..) => {
                let vision = self.spec.clip_config().ok()?.vision_config;
                Some((vision.num_positions(), vision.hidden_size))
            }
            FrozenVision::Blip(..) => {
                let vit = self.spec.imagereward_config().ok()?.vit;
                Some((vit.num_tokens(), vit.embed_dim))
            }
        }
    }

    /// Hidden states `[B, T, D]` of decoded images after the frozen vision layers.
    pub fn image_hidden(&self, images: &[image::DynamicImage]) -> Result<Tensor<3>, ModelError> {
        let vision = self.vision.as_ref().ok_or_else(|| {
            ModelError::InvalidConfig("this encoder has no pretrained vision tower".into())
        })?;
        let k = self.spec.image_frozen.unwrap_or(0);
        match vision {
            FrozenVision::Clip(vision, processor) => {
                let pixels = processor
                    .preprocess(images, &self.device)
                    .map_err(pretrained_error)?;
                let state = vision.embed(pixels).map_err(pretrained_error)?;
                let state = vision.advance(state, k).map_err(pretrained_error)?;
                Ok(state.hidden)
            }
            FrozenVision::Blip(vit, size) => {
                let prepared: Vec<_> = images.iter().map(|i| prepare_image(i, *size)).collect();
                let pixels = stack_prepared(&prepared, &self.device).map_err(pretrained_error)?;
                vit.forward_blocks(vit.embed(pixels), 0..k)
                    .map_err(pretrained_error)
            }
        }
    }

    /// Tokenizes prompts and runs the frozen text layers: hidden states `[T, L, D]`, padded to
    /// the longest prompt (BERT) or CLIP's context length.
    pub fn text_hidden(&self, texts: &[&str]) -> Result<FrozenPrompts, ModelError> {
        let k = self.spec.text_frozen;
        match &self.text {
            FrozenText::Clip(text, tokenizer) => {
                let batch = tokenizer.encode_batch(texts).map_err(pretrained_error)?;
                let (ids, mask) = batch.to_tensors(&self.device);
                let state = text
                    .embed(ids.clone(), Some(mask.clone()))
                    .map_err(pretrained_error)?;
                let state = text.advance(state, k).map_err(pretrained_error)?;
                Ok(FrozenPrompts {
                    hidden: Some(state.hidden),
                    ids,
                    mask,
                })
            }
            FrozenText::Bert(bert, enc) => {
                let batch = enc.tokenize(texts).map_err(pretrained_error)?;
                let hidden = bert.embed(batch.ids.clone(), None);
                let hidden = bert.forward_layers(hidden, batch.mask.clone(), 0..k);
                Ok(FrozenPrompts {
                    hidden: Some(hidden),
                    ids: batch.ids,
                    mask: batch.mask,
                })
            }
            FrozenText::Blip(tokenizer) => {
                let (mut ids, mut mask) = (Vec::new(), Vec::new());
                for text in texts {
                    let t = tokenizer.encode(text).map_err(pretrained_error)?;
                    ids.extend(t.input_ids.iter().map(|&i| i64::from(i)));
                    mask.extend(t.attention_mask.iter().map(|&m| i64::from(m)));
                }
                let shape = [texts.len(), tokenizer.max_length()];
                Ok(FrozenPrompts {
                    hidden: None,
                    ids: Tensor::from_data(TensorData::new(ids, shape), &self.device),
                    mask: Tensor::from_data(TensorData::new(mask, shape), &self.device),
                })
            }
        }
    }
}
