//! Loading a pretrained checkpoint cut in two at a freeze ratio: the spec of the cut, the
//! frozen encoder and the trainable tops.

use super::*;

/// What [`load_pretrained`] returns: the frozen bottom and the trainable tops, with their spec.
#[derive(Debug)]
pub struct PretrainedParts {
    pub spec: PretrainedSpec,
    pub frozen: FrozenEncoder,
    /// CLIP's vision top (`None` for BERT).
    pub image: Option<ImageTower>,
    pub text: TextTower,
    /// BLIP: ImageReward's head, to start the overall head from.
    pub overall: Option<crate::heads::OverallHead>,
}

fn read_config_json(dir: &Path) -> Result<serde_json::Value, ModelError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text)
        .map_err(|e| ModelError::InvalidConfig(format!("{}: not valid JSON: {e}", path.display())))
}

pub(super) fn pretrained_error(e: PretrainedError) -> ModelError {
    ModelError::Pretrained(Box::new(e))
}

/// Where [`load_pretrained`] would cut the checkpoint in `dir`, from its `config.json` alone
/// (cheap: no weights are read), e.g. to check an embedding cache before a run starts.
pub fn cut_spec(
    kind: PretrainedKind,
    dir: &Path,
    freeze: f64,
) -> Result<PretrainedSpec, ModelError> {
    if kind == PretrainedKind::Blip {
        let cfg = ImageRewardConfig::beside(dir).map_err(pretrained_error)?;
        return Ok(PretrainedSpec {
            kind,
            path: dir.to_path_buf(),
            checkpoint_config: serde_json::to_value(&cfg)
                .map_err(|e| ModelError::InvalidConfig(format!("{}: {e}", dir.display())))?,
            freeze,
            image_frozen: Some(frozen_layer_count(cfg.vit.depth, freeze)),
            text_frozen: frozen_layer_count(cfg.med.num_hidden_layers, freeze),
            cls_pooling: false,
        });
    }
    let checkpoint_config = read_config_json(dir)?;
    let mut spec = PretrainedSpec {
        kind,
        path: dir.to_path_buf(),
        checkpoint_config,
        freeze,
        image_frozen: None,
        text_frozen: 0,
        cls_pooling: false,
    };
    match kind {
        PretrainedKind::Clip => {
            let c = spec.clip_config()?;
            spec.image_frozen = Some(frozen_layer_count(
                c.vision_config.num_hidden_layers,
                freeze,
            ));
            spec.text_frozen = frozen_layer_count(c.text_config.num_hidden_layers, freeze);
        }
        PretrainedKind::Bert => {
            spec.text_frozen = frozen_layer_count(spec.bert_config()?.num_hidden_layers, freeze);
        }
        PretrainedKind::Blip => {}
    }
    Ok(spec)
}

/// Loads a pretrained checkpoint folder and cuts it at `freeze`: the frozen bottom runs once per
/// image and prompt, the tops (with the checkpoint's weights, and fresh projections to
/// `d_model`) train inside the reward model.
pub fn load_pretrained(
    kind: PretrainedKind,
    dir: &Path,
    freeze: f64,
    d_model: usize,
    device: &Device,
) -> Result<PretrainedParts, ModelError> {
    let checkpoint_config = match kind {
        PretrainedKind::Blip => serde_json::Value::Null,
        _ => read_config_json(dir)?,
    };
    match kind {
        PretrainedKind::Clip => {
            let ck = ClipModel::from_folder(dir, device).map_err(pretrained_error)?;
            let tokenizer = match ck.tokenizer {
                Some(t) => t,
                None => ClipTokenizer::for_folder(dir).map_err(|e| {
                    ModelError::InvalidConfig(format!(
                        "{} has no tokenizer.json, and none can be built from OpenAI's BPE \
                         merges: {e}",
                        dir.display()
                    ))
                })?,
            };
            let image_size = ck.config.vision_config.image_size as u32;
            let processor = ck.processor.unwrap_or_else(|| ClipImageProcessor {
                resize: Some(ResizeTo::ShortestEdge(image_size)),
                center_crop: Some((image_size, image_size)),
                ..ClipImageProcessor::default()
            });
            let mut vision = ck.model.vision_model;
            let mut text = ck.model.text_model;
            let kv = frozen_layer_count(vision.encoder.layers.len(), freeze);
            let kt = frozen_layer_count(text.encoder.layers.len(), freeze);
            let vision_top = vision.encoder.layers.split_off(kv);
            let text_top = text.encoder.layers.split_off(kt);
            let spec = PretrainedSpec {
                kind,
                path: dir.to_path_buf(),
                checkpoint_config,
                freeze,
                image_frozen: Some(kv),
                text_frozen: kt,
                cls_pooling: false,
            };
            let image = ImageTower::Clip(ClipVisionTop {
                layers: vision_top,
                post_layernorm: vision.post_layernorm.clone(),
                proj: LinearConfig::new(ck.config.vision_config.hidden_size, d_model).init(device),
            });
            let text_tower = TextTower::Clip(ClipTextTop {
                layers: text_top,
                final_layer_norm: text.final_layer_norm.clone(),
                proj: LinearConfig::new(ck.config.text_config.hidden_size, d_model).init(device),
            });
            Ok(PretrainedParts {
                spec: spec.clone(),
                frozen: FrozenEncoder {
                    spec,
                    device: device.clone(),
                    // Frozen: no gradient is ever taken through them, so no graph is recorded.
                    vision: Some(FrozenVision::Clip(vision.no_grad(), processor)),
                    text: FrozenText::Clip(text.no_grad(), tokenizer),
                },
                image: Some(image),
                text: text_tower,
                overall: None,
            })
        }
        PretrainedKind::Blip => {
            let ir = ImageReward::from_checkpoint(dir, device).map_err(pretrained_error)?;
            let (model, tokenizer, cfg) = ir.into_parts();
            let mut vit = model.blip.visual_encoder;
            let kv = frozen_layer_count(vit.blocks.len(), freeze);
            let kt = frozen_layer_count(cfg.med.num_hidden_layers, freeze);
            let top_blocks = vit.blocks.split_off(kv);
            let spec = PretrainedSpec {
                kind,
                path: dir.to_path_buf(),
                checkpoint_config: serde_json::to_value(&cfg)
                    .map_err(|e| ModelError::InvalidConfig(format!("{}: {e}", dir.display())))?,
                freeze,
                image_frozen: Some(kv),
                text_frozen: kt,
                cls_pooling: false,
            };
            let image = ImageTower::Blip(BlipVisionTop {
                blocks: top_blocks,
                norm: vit.norm.clone(),
            });
            let text_tower = TextTower::Blip(freeze_med(model.blip.text_encoder, kt));
            let overall = crate::heads::OverallHead::ImageReward(crate::heads::ImageRewardHead {
                mlp: model.mlp,
                mean: model.reward_mean,
                std: model.reward_std,
            });
            Ok(PretrainedParts {
                spec: spec.clone(),
                frozen: FrozenEncoder {
                    spec,
                    device: device.clone(),
                    vision: Some(FrozenVision::Blip(vit.no_grad(), cfg.vit.image_size as u32)),
                    text: FrozenText::Blip(tokenizer),
                },
                image: Some(image),
                text: text_tower,
                overall: Some(overall),
            })
        }
        PretrainedKind::Bert => {
            let enc = SentenceEncoder::from_folder(dir, device).map_err(pretrained_error)?;
            let mut bert = enc.model().clone();
            let k = frozen_layer_count(bert.encoder.layer.len(), freeze);
            let top = bert.encoder.layer.split_off(k);
            let cls_pooling = enc.pooling() == Pooling::Cls;
            let spec = PretrainedSpec {
                kind,
                path: dir.to_path_buf(),
                checkpoint_config,
                freeze,
                image_frozen: None,
                text_frozen: k,
                cls_pooling,
            };
            let text_tower = TextTower::Bert(BertTop {
                layers: top,
                proj: LinearConfig::new(bert.hidden_size(), d_model).init(device),
                cls_pooling,
                mask_value: bert.attention_mask_value,
            });
            Ok(PretrainedParts {
                spec: spec.clone(),
                frozen: FrozenEncoder {
                    spec,
                    device: device.clone(),
                    vision: None,
                    text: FrozenText::Bert(bert.no_grad(), enc),
                },
                image: None,
                text: text_tower,
                overall: None,
            })
        }
    }
}
