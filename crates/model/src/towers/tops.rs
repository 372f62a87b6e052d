//! The trainable tops of pretrained towers: the layers after the cut, the final norm and a
//! projection to `d_model` (CLIP vision and text, BLIP's ViT, a BERT-family encoder).

use super::*;

/// Layers `k..n` of CLIP's vision tower, its `post_layernorm` (applied to every token, not only
/// the class token, because the fusion reads all of them) and a projection to `d_model`.
#[derive(Module, Debug)]
pub struct ClipVisionTop {
    pub layers: Vec<ClipEncoderLayer>,
    pub post_layernorm: LayerNorm,
    pub proj: Linear,
}

impl ClipVisionTop {
    /// `hidden` `[B, T, D]` after the frozen layers -> tokens and the class token, in `d_model`.
    pub fn forward(&self, hidden: Tensor<3>) -> ImageFeatures {
        let x = self
            .layers
            .iter()
            .fold(hidden, |x, layer| layer.forward(x, None));
        let tokens = self.proj.forward(self.post_layernorm.forward(x));
        let [b, _, d] = tokens.dims();
        let pooled = tokens.clone().narrow(1, 0, 1).reshape([b, d]);
        ImageFeatures { tokens, pooled }
    }
}

/// Blocks `k..n` of BLIP's ViT and its final norm: the image tokens BLIP's text encoder
/// cross-attends to (no projection: the text encoder reads the ViT's width).
#[derive(Module, Debug)]
pub struct BlipVisionTop {
    pub blocks: Vec<VitBlock>,
    pub norm: LayerNorm,
}

impl BlipVisionTop {
    /// `hidden` `[B, T, W]` after the frozen blocks -> every token and the class token.
    pub fn forward(&self, hidden: Tensor<3>) -> ImageFeatures {
        let x = self.blocks.iter().fold(hidden, |x, block| block.forward(x));
        let tokens = self.norm.forward(x);
        let [b, _, d] = tokens.dims();
        let pooled = tokens.clone().narrow(1, 0, 1).reshape([b, d]);
        ImageFeatures { tokens, pooled }
    }
}

/// BLIP's text encoder with its first `k` layers (and embeddings) frozen in place: they cannot be
/// cached, since every layer cross-attends to the image tokens that the trainable ViT top makes.
pub(super) fn freeze_med(mut med: MedTextEncoder, k: usize) -> MedTextEncoder {
    med.embeddings = med.embeddings.no_grad();
    med.encoder.layer = med
        .encoder
        .layer
        .into_iter()
        .enumerate()
        .map(|(i, layer)| if i < k { layer.no_grad() } else { layer })
        .collect();
    med
}

/// Layers `k..n` of CLIP's text tower, its final norm and a projection to `d_model`; pooled at
/// the end-of-text token as CLIP pools (the last real token of each row).
#[derive(Module, Debug)]
pub struct ClipTextTop {
    pub layers: Vec<ClipEncoderLayer>,
    pub final_layer_norm: LayerNorm,
    pub proj: Linear,
}

/// `[T, 1, L, L]`: true where a query may not see a key (later positions, padding), as
/// `ClipTextTransformer::embed` builds it.
fn causal_padding_block(mask: &Tensor<2, Int>) -> Tensor<4, Bool> {
    let [t, l] = mask.dims();
    let device = mask.device();
    let causal: Vec<bool> = (0..l).flat_map(|q| (0..l).map(move |k| k > q)).collect();
    let causal = Tensor::<2, Bool>::from_data(TensorData::new(causal, [l, l]), &device)
        .reshape([1, 1, l, l])
        .expand([t, 1, l, l]);
    let pad = mask
        .clone()
        .equal_elem(0)
        .reshape([t, 1, 1, l])
        .expand([t, 1, l, l]);
    causal.bool_or(pad)
}

impl ClipTextTop {
    /// `hidden` `[T, L, D]` after the frozen layers and the prompts' mask `[T, L]`.
    pub fn forward(&self, hidden: Tensor<3>, mask: Tensor<2, Int>) -> TextFeatures {
        let blocked = causal_padding_block(&mask);
        let x = self
            .layers
            .iter()
            .fold(hidden, |x, layer| layer.forward(x, Some(blocked.clone())));
        let tokens = self.proj.forward(self.final_layer_norm.forward(x));
        let [t, _, d] = tokens.dims();
        // The end-of-text token is the last real one: rows are `<start> ... <end> pad...`.
        let last = mask
            .clone()
            .sum_dim(1)
            .sub_scalar(1)
            .clamp_min(0)
            .reshape([t, 1, 1])
            .expand([t, 1, d]);
        let pooled = tokens.clone().gather(1, last).reshape([t, d]);
        TextFeatures {
            tokens,
            pad_mask: mask.equal_elem(0),
            pooled,
        }
    }
}

/// Layers `k..n` of a BERT encoder and a projection to `d_model`, pooled as the checkpoint's
/// sentence-transformers config says (mean over tokens, or `[CLS]`).
#[derive(Module, Debug)]
pub struct BertTop {
    pub layers: Vec<BertLayer>,
    pub proj: Linear,
    /// Pooling by the `[CLS]` token rather than the mean.
    pub cls_pooling: bool,
    /// Additive attention bias at padding (the checkpoint's convention).
    pub mask_value: f32,
}

impl BertTop {
    /// `hidden` `[T, L, D]` after the frozen layers and the prompts' mask `[T, L]`.
    pub fn forward(&self, hidden: Tensor<3>, mask: Tensor<2, Int>) -> TextFeatures {
        let [t, l] = mask.dims();
        let bias = mask
            .clone()
            .float()
            .neg()
            .add_scalar(1.0)
            .mul_scalar(self.mask_value)
            .reshape([t, 1, 1, l]);
        let x = self
            .layers
            .iter()
            .fold(hidden, |x, layer| layer.forward(x, bias.clone()));
        let tokens = self.proj.forward(x);
        let pooled = if self.cls_pooling {
            let d = tokens.dims()[2];
            tokens.clone().narrow(1, 0, 1).reshape([t, d])
        } else {
            masked_mean_tokens(tokens.clone(), mask.clone().float())
        };
        TextFeatures {
            tokens,
            pad_mask: mask.equal_elem(0),
            pooled,
        }
    }
}
