//! The BERT config reader and the model's invariants, on a tiny randomly initialised model.

use std::path::Path;

use burn::tensor::activation::gelu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde_json::json;

use super::*;

fn parse(json: serde_json::Value) -> Result<BertConfig, PretrainedError> {
    let serde_json::Value::Object(map) = json else {
        panic!("test config must be an object")
    };
    BertConfig::from_json(&map, Path::new("config.json"))
}

fn config_message(json: serde_json::Value) -> String {
    match parse(json) {
        Err(e @ PretrainedError::Config { .. }) => e.to_string(),
        other => panic!("expected a config error, got {other:?}"),
    }
}

fn tiny_config() -> BertConfig {
    parse(json!({
        "vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 3, "num_attention_heads": 4,
        "intermediate_size": 32, "max_position_embeddings": 12, "type_vocab_size": 2,
    }))
    .unwrap()
}

fn ids(rows: &[&[i64]]) -> Tensor<2, Int> {
    let len = rows[0].len();
    let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), len]), &Device::flex())
}

fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

#[test]
fn config_keeps_transformers_defaults_for_absent_fields() {
    let config = parse(json!({"hidden_size": 384, "num_attention_heads": 12,
                              "architectures": ["BertModel"], "pad_token_id": null}))
    .unwrap();
    assert_eq!(config.hidden_size, 384);
    assert_eq!(config.head_dim(), 32);
    assert_eq!(config.num_hidden_layers, 12);
    assert_eq!(config.layer_norm_eps, 1e-12);
    assert_eq!(config.hidden_act, HiddenAct::Gelu);
    assert_eq!(config.pad_token_id, None);
    assert!(!config.add_pooling_layer);
    assert_eq!(config.attention_mask_value, f32::MIN);
    assert_eq!(parse(json!({})).unwrap(), BertConfig::default());
}

#[test]
fn config_errors_name_the_file_and_field() {
    let message = config_message(json!({"hidden_size": "wide"}));
    assert!(message.starts_with("config.json:"), "{message}");
    assert!(message.contains("field `hidden_size`"), "{message}");
    let message = config_message(json!({"hidden_act": "quick_gelu"}));
    assert!(message.contains("field `hidden_act`"), "{message}");
    let message = config_message(json!({"hidden_size": 100, "num_attention_heads": 12}));
    assert!(message.contains("field `num_attention_heads`"), "{message}");
    let message = config_message(json!({"position_embedding_type": "relative_key"}));
    assert!(
        message.contains("field `position_embedding_type`"),
        "{message}"
    );
    let message = config_message(json!({"intermediate_size": 0}));
    assert!(message.contains("field `intermediate_size`"), "{message}");
}

#[test]
fn hidden_act_names() {
    assert_eq!(HiddenAct::from_name("gelu"), Some(HiddenAct::Gelu));
    assert_eq!(
        HiddenAct::from_name("gelu_pytorch_tanh"),
        Some(HiddenAct::GeluTanh)
    );
    assert_eq!(HiddenAct::from_name("swish"), Some(HiddenAct::Silu));
    assert_eq!(HiddenAct::from_name("quick_gelu"), None);
}

#[test]
fn gelu_is_the_exact_erf_form() {
    // BERT's "gelu" is x * Φ(x); the tanh approximation gives 0.841192 at 1.
    let x = Tensor::<1>::from_floats([1.0, -0.5], &Device::flex());
    let y = gelu(x).into_data().try_to_vec::<f32>().unwrap();
    assert!((y[0] - 0.841_344_7).abs() < 1e-6, "{y:?}");
    assert!((y[1] + 0.154_268_5).abs() < 1e-6, "{y:?}");
}

#[test]
fn attention_bias_shifts_only_padding() {
    let model = tiny_config()
        .with_attention_mask_value(-10000.0)
        .init(&Device::flex());
    let bias = model.attention_bias(ids(&[&[1, 1, 0]]));
    assert_eq!(bias.dims(), [1, 1, 1, 3]);
    assert_eq!(
        bias.into_data().try_to_vec::<f32>().unwrap(),
        vec![0.0, 0.0, -10000.0]
    );
}

#[test]
fn layers_run_in_pieces_equal_the_whole() {
    let model = tiny_config().init(&Device::flex());
    assert_eq!(model.num_layers(), 3);
    assert_eq!(model.hidden_size(), 16);
    let (tokens, mask) = (
        ids(&[&[2, 7, 9, 3], &[2, 5, 3, 0]]),
        ids(&[&[1; 4], &[1, 1, 1, 0]]),
    );
    let whole = model.forward(tokens.clone(), mask.clone());
    assert_eq!(whole.dims(), [2, 4, 16]);
    let frozen = model.forward_layers(model.embed(tokens, None), mask.clone(), 0..2);
    let pieces = model.forward_layers(frozen, mask, 2..3);
    assert!(max_abs_diff(whole, pieces) < 1e-6);
}

#[test]
fn padding_does_not_change_the_real_tokens() {
    let model = tiny_config().init(&Device::flex());
    let alone = model.forward(ids(&[&[2, 7, 3]]), ids(&[&[1, 1, 1]]));
    // Padded with arbitrary ids: masked keys must not leak into the real positions.
    let padded = model.forward(ids(&[&[2, 7, 3, 11, 40]]), ids(&[&[1, 1, 1, 0, 0]]));
    let diff = max_abs_diff(alone, padded.narrow(1, 0, 3));
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn token_types_change_the_embedding() {
    let model = tiny_config().init(&Device::flex());
    let tokens = ids(&[&[2, 7, 3]]);
    let zero = model.embed(tokens.clone(), None);
    let explicit_zero = model.embed(tokens.clone(), Some(ids(&[&[0, 0, 0]])));
    let second = model.embed(tokens, Some(ids(&[&[0, 1, 1]])));
    assert!(max_abs_diff(zero.clone(), explicit_zero) < 1e-7);
    assert!(max_abs_diff(zero, second) > 1e-3);
}

#[test]
fn pooler_only_when_asked_for() {
    let device = Device::flex();
    let without = tiny_config().init(&device);
    let hidden = Tensor::<3>::ones([2, 4, 16], &device);
    assert!(without.pool(hidden.clone()).is_none());
    let with = tiny_config().with_pooler(true).init(&device);
    let pooled = with.pool(hidden).unwrap();
    assert_eq!(pooled.dims(), [2, 16]);
    assert!(pooled.abs().max().into_scalar::<f32>() <= 1.0);
}
