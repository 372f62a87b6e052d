//! Parity with THUDM's official ImageReward code on the tiny random checkpoint in
//! `shared/fixtures/tiny-imagereward/` (saved by `image-reward` 1.5 exactly as the official
//! `ImageReward.pt` is): token ids, preprocessing facts, a layer-by-layer trace, features,
//! rewards and `inference_rank`, from both the PyTorch file and its SafeTensors copy; and the
//! key layout of the real-size model against `state_dict_layout.json`, without allocating it.
//!
//! The fixture sits beside the checkout (`$REWARDLAB_SHARED`, else `<workspace>/../shared`); each
//! test skips, saying why, when it is absent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use serde_json::Value;

use super::*;
use crate::blip::{BlipVitConfig, IMAGEREWARD_MAX_LENGTH, MedConfig, extended_attention_mask};

const FEATURE_TOLERANCE: f32 = 1e-4;
const REWARD_TOLERANCE: f32 = 1e-6;
const TRACE_TOLERANCE: f32 = 1e-4;

/// Whether the reference image at `index` is a JPEG: JPEG files go through another decoder
/// than PNG and WebP (libjpeg-turbo's code, see `crate::jpeg`), so their differences are
/// reported apart, against the same bounds.
fn is_jpeg(reference: &Value, index: usize) -> bool {
    reference["images"][index]["format"].as_str() == Some("JPEG")
}

/// The fixture folder, or `None` with the reason printed.
fn fixture() -> Option<PathBuf> {
    paths::shared_or_skip!("fixtures/tiny-imagereward/reference.json")
        .and_then(|p| p.parent().map(Path::to_path_buf))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")) as f32)
        .collect()
}

fn ints(value: &Value) -> Vec<u64> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_u64().unwrap_or_else(|| panic!("not an integer: {v}")))
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap()
}

/// The fixture's config: the image encoder's sizes as `fixture_config.json` records them (the
/// number of heads is in no tensor), the text encoder from `med_config.json`.
fn tiny_config(dir: &Path) -> ImageRewardConfig {
    let fixture = read_json(&dir.join("fixture_config.json"));
    let vit: BlipVitConfig = serde_json::from_value(fixture["model"]["vit"].clone()).unwrap();
    let med = MedConfig::from_file(dir.join("med_config.json")).unwrap();
    let config = ImageRewardConfig::new(vit, med);
    assert_eq!(
        config.reward_mean,
        fixture["model"]["reward_mean"].as_f64().unwrap()
    );
    assert_eq!(
        config.reward_std,
        fixture["model"]["reward_std"].as_f64().unwrap()
    );
    config
}

pub(super) fn tiny_model(dir: &Path, weights: &str) -> ImageReward {
    let config = tiny_config(dir);
    let tokenizer =
        BlipTokenizer::from_file(dir.join("tokenizer.json"), config.max_length).unwrap();
    ImageReward::from_checkpoint_with(dir.join(weights), config, tokenizer, &Device::flex())
        .unwrap_or_else(|e| panic!("{weights}: {e}"))
}

fn image_paths(reference: &Value) -> Vec<PathBuf> {
    let data = paths::test_shared_dir!().join("data");
    reference["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|image| data.join(image["file"].as_str().unwrap()))
        .collect()
}

fn prompts(reference: &Value) -> Vec<String> {
    reference["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["prompt"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tokenizer_matches_official_ids_from_tokenizer_json_and_vocab_txt() {
    let Some(dir) = fixture() else { return };
    let reference = read_json(&dir.join("reference.json"));
    for file in ["tokenizer.json", "vocab.txt"] {
        let tokenizer = BlipTokenizer::from_file(dir.join(file), IMAGEREWARD_MAX_LENGTH).unwrap();
        assert_eq!(tokenizer.token_id("[DEC]"), Some(30522), "{file}");
        assert_eq!(tokenizer.token_id("[ENC]"), Some(30523), "{file}");
        let mut checked = 0;
        let items = reference["prompts"].as_array().unwrap().iter().chain(
            reference["tokenization_checks"]["items"]
                .as_array()
                .unwrap(),
        );
        for item in items {
            let text = item
                .get("prompt")
                .or(item.get("text"))
                .unwrap()
                .as_str()
                .unwrap();
            let encoded = tokenizer.encode(text).unwrap();
            let ids: Vec<u64> = encoded.input_ids.iter().map(|&i| u64::from(i)).collect();
            let mask: Vec<u64> = encoded
                .attention_mask
                .iter()
                .map(|&i| u64::from(i))
                .collect();
            assert_eq!(ids, ints(&item["input_ids"]), "{file}: ids of {text:?}");
            assert_eq!(
                mask,
                ints(&item["attention_mask"]),
                "{file}: mask of {text:?}"
            );
            let n = item["n_tokens"].as_u64().unwrap() as usize;
            let tokens: Vec<&str> = item["tokens"].as_array().unwrap()[..n]
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            assert_eq!(encoded.tokens[..n], tokens, "{file}: tokens of {text:?}");
            assert_eq!(encoded.input_ids[0], 101, "position 0 stays [CLS]");
            checked += 1;
        }
        assert_eq!(checked, 28, "{file}");
    }
}

#[test]
fn preprocessing_matches_official_facts() {
    let Some(dir) = fixture() else { return };
    let reference = read_json(&dir.join("reference.json"));
    let size = reference["model"]["vit"]["image_size"].as_u64().unwrap() as u32;
    let mut worst_mean = 0f32;
    let mut exact = 0;
    for (image, path) in reference["images"]
        .as_array()
        .unwrap()
        .iter()
        .zip(image_paths(&reference))
    {
        let name = path.display().to_string();
        let decoded = load_image(&path).unwrap();
        let prepared = prepare_image(&decoded, size);
        let resized = ints(&image["resized_wh"]);
        assert_eq!(
            [
                u64::from(prepared.resized_size.0),
                u64::from(prepared.resized_size.1)
            ],
            resized[..],
            "{name}: resized size"
        );
        let crop = ints(&image["crop_left_top"]);
        assert_eq!(
            [
                prepared.crop_offsets.0 as u64,
                prepared.crop_offsets.1 as u64
            ],
            crop[..],
            "{name}: crop offsets"
        );
        let grid = &image["rgb_u8_grid8x8"];
        let at = ints(&grid["rows_cols"]);
        for (r, row) in grid["values"].as_array().unwrap().iter().enumerate() {
            for (c, pixel) in row.as_array().unwrap().iter().enumerate() {
                let ours = prepared.pixels.get_pixel(at[c] as u32, at[r] as u32).0;
                let ours: Vec<u64> = ours.iter().map(|&v| u64::from(v)).collect();
                let theirs = ints(pixel);
                let levels = ours.iter().zip(&theirs).map(|(a, b)| a.abs_diff(*b)).max();
                assert!(
                    levels == Some(0),
                    "{name}: RGB at row {} col {}: {ours:?}, official {theirs:?}",
                    at[r],
                    at[c]
                );
            }
        }
        let mut sums = [0u64; 3];
        for pixel in prepared.pixels.pixels() {
            for (sum, &v) in sums.iter_mut().zip(&pixel.0) {
                *sum += u64::from(v);
            }
        }
        let official = ints(&image["rgb_u8_sum_per_channel"]);
        assert_eq!(sums[..], official[..], "{name}: RGB sums");
        exact += 1;
        let plane = (size * size) as usize;
        let means: Vec<f32> = prepared
            .pixel_values
            .chunks(plane)
            .map(|channel| {
                (channel.iter().map(|&v| f64::from(v)).sum::<f64>() / plane as f64) as f32
            })
            .collect();
        worst_mean = worst_mean.max(max_abs_diff(
            &means,
            &floats(&image["pixel_mean_per_channel"]),
        ));
    }
    assert_eq!(exact, 12, "PNG, WebP and JPEG images checked byte for byte");
    eprintln!("normalised pixel means: max abs diff {worst_mean:.2e}");
    assert!(
        worst_mean < 1e-6,
        "normalised pixel means differ by {worst_mean}"
    );
}

/// The layer-by-layer trace of prompt 0 with image 0, through the public backbone pieces.
#[test]
fn layer_trace_matches_official_activations() {
    let Some(dir) = fixture() else { return };
    let reference = read_json(&dir.join("reference.json"));
    let trace = &reference["trace_prompt0_image0"];
    let model = tiny_model(&dir, "ImageReward.pt");
    let pixels = model
        .preprocess(&[load_image(&image_paths(&reference)[0]).unwrap()])
        .unwrap();
    let vit = &model.model().blip.visual_encoder;
    let mut worst = 0f32;
    let mut check = |name: &str, ours: Vec<f32>, theirs: Vec<f32>| {
        let diff = max_abs_diff(&ours, &theirs);
        eprintln!("{name}: max abs diff {diff:.2e}");
        assert!(diff < TRACE_TOLERANCE, "{name} differs by {diff}");
        worst = worst.max(diff);
    };
    let token = |x: &Tensor<3>, i: usize| values(x.clone().narrow(1, i, 1));

    let patches = vit.patch_embed.forward(pixels.clone());
    let expected = trace["vit_patch_embed_tokens_0_and_195"]
        .as_array()
        .unwrap();
    check(
        "vit patch_embed token 0",
        token(&patches, 0),
        floats(&expected[0]),
    );
    check(
        "vit patch_embed token 195",
        token(&patches, 195),
        floats(&expected[1]),
    );
    let mut tokens = vit.embed(pixels);
    for i in 0..vit.blocks.len() {
        tokens = vit.forward_blocks(tokens, i..i + 1).unwrap();
        let name = format!("vit_block{i}_out_cls");
        check(&name, token(&tokens, 0), floats(&trace[&name]));
    }
    let image_embeds = vit.final_norm(tokens);
    check(
        "vit_final_norm_cls",
        token(&image_embeds, 0),
        floats(&trace["vit_final_norm_cls"]),
    );

    let text = &model.model().blip.text_encoder;
    let (ids, mask) = model.prompt_tensors(&prompts(&reference)[0], 1).unwrap();
    let mut hidden = text.embeddings.forward(ids);
    let expected = trace["bert_embeddings_out_pos0_pos1"].as_array().unwrap();
    check(
        "bert embeddings pos 0",
        token(&hidden, 0),
        floats(&expected[0]),
    );
    check(
        "bert embeddings pos 1",
        token(&hidden, 1),
        floats(&expected[1]),
    );
    let mask = extended_attention_mask(mask);
    for (i, layer) in text.encoder.layer.iter().enumerate() {
        let attended = layer.self_attention(hidden, &mask);
        let name = format!("bert_layer{i}_selfattn_out_pos0");
        check(&name, token(&attended, 0), floats(&trace[&name]));
        let crossed = layer.cross_attention(attended, &image_embeds);
        let name = format!("bert_layer{i}_crossattn_out_pos0");
        check(&name, token(&crossed, 0), floats(&trace[&name]));
        hidden = layer.feed_forward(crossed);
        let name = format!("bert_layer{i}_out_pos0");
        check(&name, token(&hidden, 0), floats(&trace[&name]));
    }
    eprintln!("layer trace: max abs diff {worst:.2e}");
}

/// Features, raw head outputs, rewards and ranks for 4 prompts x 12 images, each prompt's images
/// scored in one batch, from the PyTorch checkpoint and from its SafeTensors copy.
#[test]
fn scores_match_official_from_pt_and_safetensors() {
    let Some(dir) = fixture() else { return };
    let reference = read_json(&dir.join("reference.json"));
    let paths = image_paths(&reference);
    let images: Vec<DynamicImage> = paths.iter().map(|p| load_image(p).unwrap()).collect();
    for weights in ["ImageReward.pt", "model.safetensors"] {
        let model = tiny_model(&dir, weights);
        let pixels = model.preprocess(&images).unwrap();
        // Worst differences over the PNG and WebP images, and over the JPEG.
        let (mut feature, mut raw_head, mut reward) = ([0f32; 2], [0f32; 2], [0f32; 2]);
        for (p, prompt) in prompts(&reference).iter().enumerate() {
            let features = model.features(prompt, pixels.clone()).unwrap();
            let raw = values(model.model().raw_rewards(features.clone()));
            let rewards = values(model.model().rewards(features.clone()));
            let features = values(features);
            let width = features.len() / images.len();
            let official_raw = floats(&reference["mlp_raw"]["values"][p]);
            let official_rewards = floats(&reference["reward"]["values"][p]);
            for i in 0..images.len() {
                let k = usize::from(is_jpeg(&reference, i));
                let expected = floats(&reference["features"]["values"][p][i]);
                let ours = &features[i * width..(i + 1) * width];
                feature[k] = feature[k].max(max_abs_diff(ours, &expected));
                raw_head[k] = raw_head[k].max((raw[i] - official_raw[i]).abs());
                reward[k] = reward[k].max((rewards[i] - official_rewards[i]).abs());
            }
            // The public entry point gives the same numbers as the pieces.
            let scored = model.score(prompt, &images).unwrap();
            assert!(
                max_abs_diff(&scored, &rewards) <= 1e-7,
                "{weights}: score() vs pieces"
            );
        }
        for (k, kind) in ["PNG/WebP", "JPEG"].iter().enumerate() {
            eprintln!(
                "{weights}, {kind}: max abs diff features {:.2e}, raw head {:.2e}, rewards {:.2e}",
                feature[k], raw_head[k], reward[k]
            );
        }
        for (k, kind) in ["PNG/WebP", "JPEG"].iter().enumerate() {
            assert!(
                feature[k] < FEATURE_TOLERANCE,
                "{weights}: {kind} features differ by {}",
                feature[k]
            );
            assert!(
                reward[k] < REWARD_TOLERANCE,
                "{weights}: {kind} rewards differ by {}",
                reward[k]
            );
        }

        let prompts = prompts(&reference);
        for case in reference["inference_rank"].as_array().unwrap() {
            let prompt = &prompts[case["prompt_index"].as_u64().unwrap() as usize];
            let group: Vec<&Path> = ints(&case["image_indices"])
                .iter()
                .map(|&i| paths[i as usize].as_path())
                .collect();
            let (ranks, rewards) = model.inference_rank_paths(prompt, &group).unwrap();
            let expected: Vec<usize> = ints(&case["rank"]).iter().map(|&r| r as usize).collect();
            assert_eq!(
                ranks, expected,
                "{weights}: ranks of {} for {prompt:?}",
                case["group"]
            );
            let official = floats(&case["rewards"]);
            for (position, &i) in ints(&case["image_indices"]).iter().enumerate() {
                let diff = (rewards[position] - official[position]).abs();
                assert!(
                    diff < REWARD_TOLERANCE,
                    "{weights}: inference_rank reward of image {i} differs by {diff}"
                );
            }
        }
    }
}

#[test]
fn ranks_follow_official_inference_rank() {
    assert_eq!(ranks_of(&[0.1, 0.5, -1.0, 0.3]), vec![3, 1, 4, 2]);
    assert_eq!(ranks_of(&[]), Vec::<usize>::new());
    assert_eq!(ranks_of(&[2.0]), vec![1]);
    // Ties keep input order.
    assert_eq!(ranks_of(&[1.0, 1.0, 2.0]), vec![2, 3, 1]);
}

/// Parameter paths and shapes of a module as the checkpoint writes them, read without
/// initialising (allocating) any parameter: Linear weights back to `[out, in]`, a norm's
/// `gamma`/`beta` as `weight`/`bias`.
#[derive(Default)]
struct Layout {
    path: Vec<String>,
    containers: Vec<String>,
    entries: BTreeMap<String, Vec<usize>>,
}

impl Layout {
    fn record(&mut self, shape: Vec<usize>) {
        let container = self.containers.last().map(String::as_str).unwrap_or("");
        let mut path = self.path.clone();
        let mut shape = shape;
        match (container, path.last().map(String::as_str)) {
            ("Struct:Linear", Some("weight")) => shape.reverse(),
            ("Struct:LayerNorm", Some("gamma")) => *path.last_mut().unwrap() = "weight".into(),
            ("Struct:LayerNorm", Some("beta")) => *path.last_mut().unwrap() = "bias".into(),
            _ => {}
        }
        self.entries.insert(path.join("."), shape);
    }
}

impl ModuleVisitor for Layout {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.record(param.lazy_shape().to_vec());
    }
}

/// The checkpoint keys of `state_dict_layout.json[which]`, remapped onto module paths as loading
/// remaps them, without the expected-unused keys.
fn expected_layout(dir: &Path, which: &str) -> (BTreeMap<String, Vec<usize>>, usize) {
    let layout = read_json(&dir.join("state_dict_layout.json"));
    let ignore: Vec<regex::Regex> = EXPECTED_UNUSED_KEYS
        .iter()
        .map(|p| regex::Regex::new(p).unwrap())
        .collect();
    let remap: Vec<(regex::Regex, &str)> = MED_KEY_REMAP
        .iter()
        .map(|(p, r)| (regex::Regex::new(p).unwrap(), *r))
        .collect();
    let mut ignored = 0;
    let mut expected = BTreeMap::new();
    for entry in layout[which].as_array().unwrap() {
        let key = entry[0].as_str().unwrap();
        if ignore.iter().any(|p| p.is_match(key)) {
            ignored += 1;
            continue;
        }
        let mut name = key.to_string();
        for (pattern, replacement) in &remap {
            name = pattern.replace_all(&name, *replacement).into_owned();
        }
        let shape: Vec<usize> = ints(&entry[1]).iter().map(|&d| d as usize).collect();
        expected.insert(name, shape);
    }
    (expected, ignored)
}

#[test]
fn real_size_config_has_exactly_the_official_keys_and_shapes() {
    let Some(dir) = fixture() else { return };
    let device = Device::flex();
    for (which, config) in [
        ("real", ImageRewardConfig::v1()),
        ("tiny", tiny_config(&dir)),
    ] {
        config.validate().unwrap();
        let model = config.init(&device);
        let mut layout = Layout::default();
        model.visit(&mut layout);
        let (expected, ignored) = expected_layout(&dir, which);
        // position_ids, vision_proj.{weight,bias}, text_proj.{weight,bias}
        assert_eq!(ignored, 5, "{which}");
        let missing: Vec<_> = expected
            .keys()
            .filter(|k| !layout.entries.contains_key(*k))
            .collect();
        let extra: Vec<_> = layout
            .entries
            .keys()
            .filter(|k| !expected.contains_key(*k))
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{which}: missing {missing:?}, extra {extra:?}"
        );
        for (key, shape) in &expected {
            assert_eq!(&layout.entries[key], shape, "{which}: shape of {key}");
        }
        let params: usize = expected.values().map(|s| s.iter().product::<usize>()).sum();
        eprintln!(
            "{which}: {} tensors, {params} parameters, none allocated",
            expected.len()
        );
    }
    let layout = read_json(&dir.join("state_dict_layout.json"));
    assert_eq!(layout["real"].as_array().unwrap().len(), 625);
}

#[test]
fn vision_sizes_are_inferred_from_the_tensors() {
    let Some(dir) = fixture() else { return };
    let layout = read_json(&dir.join("state_dict_layout.json"));
    let real: BTreeMap<String, Vec<usize>> = layout["real"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let shape = ints(&e[1]).iter().map(|&d| d as usize).collect();
            (e[0].as_str().unwrap().to_string(), shape)
        })
        .collect();
    assert_eq!(
        vit_config_from_shapes(&real).unwrap(),
        BlipVitConfig::vit_large_patch16_224()
    );

    // The tiny file, read both ways: every size but the heads is found; 40 is not a multiple of
    // BLIP's head width, so the number of heads is refused rather than guessed.
    let tiny = tiny_config(&dir).vit;
    for file in ["ImageReward.pt", "model.safetensors"] {
        let shapes = checkpoint_shapes(&dir.join(file)).unwrap();
        assert_eq!(shapes.len(), 139, "{file}");
        let error = vit_config_from_shapes(&shapes).unwrap_err();
        assert!(error.contains("40 wide"), "{error}");
        let mut widened = shapes.clone();
        widened.insert("blip.visual_encoder.cls_token".into(), vec![1, 1, 64]);
        widened.insert(
            "blip.visual_encoder.patch_embed.proj.weight".into(),
            vec![64, 3, 16, 16],
        );
        widened.insert("blip.visual_encoder.pos_embed".into(), vec![1, 197, 64]);
        widened.insert(
            "blip.visual_encoder.blocks.0.mlp.fc1.weight".into(),
            vec![256, 64],
        );
        let inferred = vit_config_from_shapes(&widened).unwrap();
        assert_eq!(
            (
                inferred.image_size,
                inferred.patch_size,
                inferred.depth,
                inferred.mlp_ratio,
                inferred.qkv_bias
            ),
            (
                tiny.image_size,
                tiny.patch_size,
                tiny.depth,
                tiny.mlp_ratio,
                tiny.qkv_bias
            )
        );
    }
    // from_checkpoint reads the sizes this way, so on the tiny file it fails with that reason.
    match ImageReward::from_checkpoint(dir.join("ImageReward.pt"), &Device::flex()) {
        Err(PretrainedError::Config { message, .. }) => {
            assert!(message.contains("heads"), "{message}")
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn loading_is_strict_and_ignores_only_the_expected_unused_keys() {
    let Some(dir) = fixture() else { return };
    // Every ignore pattern matches a key of the official file, so none is stale.
    let shapes = checkpoint_shapes(&dir.join("ImageReward.pt")).unwrap();
    for pattern in EXPECTED_UNUSED_KEYS {
        let pattern = regex::Regex::new(pattern).unwrap();
        assert!(
            shapes.keys().any(|k| pattern.is_match(k)),
            "{pattern} matches no key"
        );
    }
    let device = Device::flex();
    let load = |config: ImageRewardConfig, file: &str| {
        let tokenizer = BlipTokenizer::from_file(dir.join("vocab.txt"), config.max_length).unwrap();
        match ImageReward::from_checkpoint_with(dir.join(file), config, tokenizer, &device) {
            Err(PretrainedError::Weights { details, .. }) => details,
            other => panic!("expected a weights error, got {other:?}"),
        }
    };
    for file in ["ImageReward.pt", "model.safetensors"] {
        // One text layer fewer: its tensors are unexpected, named as in the file.
        let mut config = tiny_config(&dir);
        config.med.num_hidden_layers = 2;
        let details = load(config, file);
        assert!(
            details.contains("unexpected: checkpoint key `blip.text_encoder.encoder.layer.2.crossattention.self.key.weight`"),
            "{details}"
        );
        assert!(
            !details.contains("position_ids") && !details.contains("_proj"),
            "{details}"
        );
        // One vision block more: its parameters are missing.
        let mut config = tiny_config(&dir);
        config.vit.depth = 4;
        let details = load(config, file);
        assert!(details.contains("missing: no checkpoint key (after remapping) for parameter `blip.visual_encoder.blocks.3.attn.qkv.weight`"), "{details}");
        // A wider feed-forward layer: misshaped, both shapes in the file's layout.
        let mut config = tiny_config(&dir);
        config.med.intermediate_size = 32;
        let details = load(config, file);
        assert!(
            details.contains("`blip.text_encoder.encoder.layer.0.intermediate.dense.weight` has shape [64, 24], the model expects [32, 24]"),
            "{details}"
        );
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let Some(dir) = fixture() else { return };
    let model = tiny_model(&dir, "model.safetensors");
    let wrong = Tensor::<4>::zeros([1, 3, 32, 32], &Device::flex());
    assert!(matches!(
        model.score_pixels("a cat", wrong),
        Err(PretrainedError::Input { .. })
    ));
    assert_eq!(model.score("a cat", &[]).unwrap(), Vec::<f32>::new());
    let missing = dir.join("no-such-image.png");
    assert!(model.score_paths("a cat", &[missing]).is_err());
    let mut config = tiny_config(&dir);
    config.vit.num_heads = 3;
    let tokenizer = BlipTokenizer::from_file(dir.join("vocab.txt"), config.max_length).unwrap();
    assert!(matches!(
        ImageReward::from_checkpoint_with(
            dir.join("model.safetensors"),
            config,
            tokenizer,
            &Device::flex()
        ),
        Err(PretrainedError::Config { .. })
    ));
}
