//! Weight files: SafeTensors (pretrained encoders through the strict loader, and a run's own
//! `model.safetensors`), PyTorch checkpoints (ImageReward.pt's format), and OpenCLIP checkpoints
//! (HPSv2's, through the key map that splits and transposes tensors).

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::Device;
use model::ModelConfig;
use pretrained::clip::{ClipModel, OpenClipConfig};
use pretrained::load::{load_pytorch, load_safetensors, safetensors_shapes};

use crate::scratch;

/// A module with the two layer kinds whose PyTorch layout differs from burn's, as the loader's
/// own tests use; its checkpoint keys are `dense.{weight,bias}` and `LayerNorm.{weight,bias}`.
#[derive(Module, Debug)]
pub struct Tiny {
    dense: Linear,
    layer_norm: LayerNorm,
}

/// The module the targets load into, on the CPU.
pub fn tiny() -> Tiny {
    let device = Device::flex();
    Tiny {
        dense: LinearConfig::new(3, 2).init(&device),
        layer_norm: LayerNormConfig::new(2).init(&device),
    }
}

/// The key map of a Hugging Face checkpoint onto [`Tiny`], and a buffer it does not use.
pub const REMAP: &[(&str, &str)] = &[(r"^LayerNorm\.", "layer_norm.")];
pub const IGNORE: &[&str] = &[r"position_ids$"];

/// Accepted when either loader takes the file.
pub fn safetensors(data: &[u8]) -> bool {
    let path = scratch::file("model.safetensors", data);
    let _ = scratch::named(safetensors_shapes(&path), &path);
    let tiny = scratch::named(load_safetensors(tiny(), &path, REMAP, IGNORE), &path);
    // The same bytes as a run's weights, loaded into the smallest reward model.
    let run_model = ModelConfig::tiny().init(&Device::flex());
    let run = scratch::named(run_model.load_weights(&path), &path);
    tiny.is_some() || run.is_some()
}

pub fn pytorch(data: &[u8]) -> bool {
    let path = scratch::file("ImageReward.pt", data);
    scratch::named(load_pytorch(tiny(), &path, REMAP, IGNORE), &path).is_some()
}

/// The tiny HPSv2 fixture's config (`tests/fixtures/hpsv2/open_clip_config.json`), which its
/// checkpoint, the seed, fits.
const TINY_OPEN_CLIP: &str = r#"{"embed_dim": 20,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 40, "head_width": 8, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 12, "heads": 3, "layers": 2}}"#;

/// An HPSv2 checkpoint (`--model hpsv2 --checkpoint FILE`), loaded as the tiny model.
pub fn open_clip_checkpoint(data: &[u8]) -> bool {
    let path = scratch::file("HPS_v2_compressed.pt", data);
    let config = OpenClipConfig::from_json_str(TINY_OPEN_CLIP, std::path::Path::new("tiny.json"))
        .expect("the tiny config is valid");
    scratch::named(
        ClipModel::from_open_clip_checkpoint(&path, &config, &Device::flex()),
        &path,
    )
    .is_some()
}
