//! Configuration files: `dataset.toml` and mappings, training configs, ablation studies, a
//! run's `model_config.json`, a CLIP folder's `preprocessor_config.json`, the OpenCLIP config
//! beside an HPSv2 checkpoint.

use annotations::DatasetMeta;
use model::ModelConfig;
use pretrained::clip::OpenClipConfig;
use pretrained::preprocess::ClipImageProcessor;
use train::TrainConfig;

use crate::scratch;

pub fn dataset_toml(data: &[u8]) -> bool {
    let path = scratch::file("dataset.toml", data);
    let Some(mapping) = scratch::named(tables::Mapping::from_toml(&path), &path) else {
        return false;
    };
    // What `import` writes is what a later command reads.
    let again = path.with_file_name("again.toml");
    scratch::write(&again, mapping.meta.to_toml().as_bytes());
    let back = DatasetMeta::read(&again).expect("a dataset.toml rewardlab wrote reads back");
    assert_eq!(back, mapping.meta, "dataset.toml changed on its way back");
    true
}

pub fn train_config(data: &[u8]) -> bool {
    let path = scratch::file("config.toml", data);
    let Some(config) = scratch::named(TrainConfig::from_file(&path), &path) else {
        return false;
    };
    // A run writes its resolved config, which `--resume` and the study cells read back.
    let text = config.to_toml();
    let back = TrainConfig::from_toml_str(&text, "config.toml")
        .unwrap_or_else(|e| panic!("a config rewardlab wrote does not read back: {e}\n{text}"));
    assert_eq!(back.to_toml(), text, "config.toml changed on its way back");
    true
}

pub fn study_config(data: &[u8]) -> bool {
    let path = scratch::file("study.toml", data);
    let Some(study) = scratch::named(experiments::Study::from_file(&path), &path) else {
        return false;
    };
    assert!(!study.cells.is_empty());
    assert!(study.cells.len() <= experiments::study::MAX_CELLS);
    true
}

pub fn model_config(data: &[u8]) -> bool {
    let path = scratch::file(model::CONFIG_FILE, data);
    let Some(config) = scratch::named(ModelConfig::load_json(&path), &path) else {
        return false;
    };
    let again = path.with_file_name("again.json");
    config
        .save_json(&again)
        .expect("the scratch file can be written");
    let back = ModelConfig::load_json(&again).expect("a config rewardlab wrote reads back");
    assert_eq!(back, config, "model_config.json changed on its way back");
    true
}

pub fn preprocessor_config(data: &[u8]) -> bool {
    let path = scratch::file("preprocessor_config.json", data);
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Some(processor) = scratch::named(ClipImageProcessor::from_json_str(text, &path), &path)
    else {
        return false;
    };
    // A small image through every step the config sets (resize, crop, rescale, normalise),
    // unless the config asks for sizes no image should be blown up to.
    if processor_is_small(&processor) {
        let image = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(7, 5, |x, y| {
            image::Rgb([(x * 30) as u8, (y * 50) as u8, 128])
        }));
        let _ = processor.prepare(&image);
    }
    true
}

/// Every size in the config at most 4096 pixels, so that a fuzzed crop of 2^31 pixels does
/// not ask for gigabytes: a limit of the target, not of rewardlab, where such a size is the
/// user's own choice.
fn processor_is_small(p: &ClipImageProcessor) -> bool {
    use pretrained::preprocess::ResizeTo;
    let resize = match p.resize {
        None => 0,
        Some(ResizeTo::ShortestEdge(n)) => n,
        Some(ResizeTo::Exact { width, height }) => width.max(height),
    };
    let crop = p.center_crop.map_or(0, |(w, h)| w.max(h));
    resize.max(crop) <= 4096
}

/// The OpenCLIP model config beside an HPSv2 checkpoint (`open_clip_config.json`): what it lets
/// through must be a model that can be built (the transformers-layout config it turns into
/// validates).
pub fn open_clip_config(data: &[u8]) -> bool {
    let path = scratch::file("open_clip_config.json", data);
    let Some(config) = scratch::named(OpenClipConfig::from_file(&path), &path) else {
        return false;
    };
    let clip = config.to_clip_config();
    clip.validate()
        .unwrap_or_else(|e| panic!("an accepted OpenCLIP config gives an invalid model: {e}"));
    assert_eq!(
        clip.vision_config.num_attention_heads * config.vision_cfg.head_width,
        config.vision_cfg.width
    );
    true
}
