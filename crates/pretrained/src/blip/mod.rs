//! The BLIP backbone that ImageReward scores with (salesforce/BLIP, as vendored by
//! THUDM/ImageReward under `ImageReward/models/BLIP/`): the ViT image encoder of `vit.py`, the
//! MED text encoder of `med.py` that cross-attends to the image tokens, and the BERT tokenizer of
//! `blip.py`'s `init_tokenizer`.

pub mod med;
pub mod tokenizer;
pub mod vit;

pub use med::{MED_KEY_REMAP, MedConfig, MedLayer, MedTextEncoder, extended_attention_mask};
pub use tokenizer::{BlipTokenizer, IMAGEREWARD_MAX_LENGTH, TokenizedPrompt};
pub use vit::{BlipVisionTransformer, BlipVitConfig, VitBlock};

/// Checks that `range` selects existing layers of a stack of `count` `what`s.
pub(crate) fn check_range(
    range: &std::ops::Range<usize>,
    count: usize,
    what: &str,
) -> Result<(), crate::PretrainedError> {
    if range.start <= range.end && range.end <= count {
        Ok(())
    } else {
        Err(crate::PretrainedError::Input {
            message: format!(
                "{what} {}..{} do not exist: there are {count}",
                range.start, range.end
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;

    use super::*;
    use crate::PretrainedError;

    fn tiny_vit() -> BlipVitConfig {
        BlipVitConfig {
            image_size: 32,
            patch_size: 8,
            embed_dim: 16,
            depth: 3,
            num_heads: 2,
            mlp_ratio: 4.0,
            qkv_bias: true,
            layer_norm_eps: 1e-6,
        }
    }

    fn tiny_med() -> MedConfig {
        MedConfig {
            vocab_size: 50,
            hidden_size: 12,
            num_hidden_layers: 3,
            num_attention_heads: 3,
            intermediate_size: 20,
            max_position_embeddings: 16,
            add_cross_attention: true,
            ..MedConfig::default()
        }
    }

    fn max_diff(a: Tensor<3>, b: Tensor<3>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    /// Running the layers in two ranges (as a caller caching frozen layers does) is the whole
    /// forward pass, and a range past the end is an error, not a panic.
    #[test]
    fn split_forward_equals_forward() {
        let device = Device::flex();
        let vit = tiny_vit().init(&device);
        let pixels =
            Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &device);
        let whole = vit.forward(pixels.clone());
        let head = vit.forward_blocks(vit.embed(pixels.clone()), 0..2).unwrap();
        let split = vit.final_norm(vit.forward_blocks(head, 2..3).unwrap());
        assert_eq!(whole.dims(), [2, 17, 16]);
        assert!(max_diff(whole.clone(), split) < 1e-6);
        assert!(matches!(
            vit.forward_blocks(vit.embed(pixels), 2..4),
            Err(PretrainedError::Input { .. })
        ));

        let text = tiny_med().init(16, &device);
        let ids = Tensor::<2, Int>::from_ints([[1, 5, 7, 2, 0], [1, 9, 2, 0, 0]], &device);
        let mask = Tensor::<2, Int>::from_ints([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], &device);
        let full = text.forward(ids.clone(), mask.clone(), whole.clone());
        let extended = extended_attention_mask(mask);
        let hidden = text.embeddings.forward(ids);
        let hidden = text
            .forward_layers(hidden, &extended, &whole, 0..1)
            .unwrap();
        let hidden = text
            .forward_layers(hidden, &extended, &whole, 1..3)
            .unwrap();
        assert_eq!(full.dims(), [2, 5, 12]);
        assert!(max_diff(full, hidden.clone()) < 1e-6);
        assert!(
            text.forward_layers(hidden, &extended, &whole, 3..4)
                .is_err()
        );
    }

    /// A padded position changes nothing at the others: the -10000 mask hides it.
    #[test]
    fn padding_is_masked() {
        let device = Device::flex();
        let text = tiny_med().init(16, &device);
        let image = Tensor::<3>::random([1, 5, 16], burn::tensor::Distribution::Default, &device);
        let mask = Tensor::<2, Int>::from_ints([[1, 1, 1, 0]], &device);
        let a = text.forward(
            Tensor::from_ints([[1, 5, 2, 0]], &device),
            mask.clone(),
            image.clone(),
        );
        let b = text.forward(Tensor::from_ints([[1, 5, 2, 33]], &device), mask, image);
        assert!(max_diff(a.narrow(1, 0, 3), b.narrow(1, 0, 3)) < 1e-6);
    }

    #[test]
    fn configs_are_validated() {
        assert!(tiny_vit().validate().is_ok());
        assert!(
            BlipVitConfig {
                num_heads: 3,
                ..tiny_vit()
            }
            .validate()
            .is_err()
        );
        assert!(
            BlipVitConfig {
                image_size: 30,
                ..tiny_vit()
            }
            .validate()
            .is_err()
        );
        assert!(tiny_med().validate().is_ok());
        assert!(
            MedConfig {
                num_attention_heads: 5,
                ..tiny_med()
            }
            .validate()
            .is_err()
        );
        assert!(
            MedConfig {
                add_cross_attention: false,
                ..tiny_med()
            }
            .validate()
            .is_err()
        );
        assert!(
            MedConfig {
                hidden_act: "relu".into(),
                ..tiny_med()
            }
            .validate()
            .is_err()
        );
        let path = std::path::Path::new("med_config.json");
        let parsed = MedConfig::from_json_str(r#"{"hidden_size": 768, "add_cross_attention": true, "vocab_size": 30524, "encoder_width": 1024}"#, path).unwrap();
        assert_eq!(
            parsed,
            MedConfig {
                encoder_width: 1024,
                ..MedConfig::bert_base()
            }
        );
        assert!(matches!(
            MedConfig::from_json_str(r#"{"hidden_size": "wide"}"#, path),
            Err(PretrainedError::Config { .. })
        ));
    }
}
