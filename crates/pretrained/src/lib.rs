//! Pretrained encoders imported from the checkpoints researchers already have: BERT-family text
//! encoders and CLIP from Hugging Face folders (`config.json`, `model.safetensors`,
//! `tokenizer.json`), CLIP from OpenCLIP checkpoints (HPSv2's) with OpenCLIP's tokenizer and
//! transform, and the BLIP backbone of ImageReward from its official checkpoint.
//!
//! Every module tree mirrors its checkpoint's key names closely enough that loading is a key
//! remap, and loading is strict: a missing, unexpected or misshaped tensor is an error naming it.

pub mod bert;
pub mod blip;
pub mod clip;
pub mod clip_tokenizer;
pub mod error;
pub mod flop;
pub mod imagereward;
mod kernels;
pub mod load;
pub mod open_clip_tokenizer;
pub mod preprocess;
#[cfg(test)]
mod test_util;
pub mod tokenizer_json;

pub use error::PretrainedError;
