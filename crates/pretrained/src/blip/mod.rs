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
