//! The sentence-transformers layout reader, and parity of all-MiniLM-L6-v2 with transformers on
//! the reference vectors of `tests/fixtures/pretrained/minilm/reference.json` (written by
//! `tests/fixtures/pretrained/make_minilm_reference.py`).

use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;
use crate::test_util::{fixtures_dir, shared_path};

/// A fresh folder in the temporary directory holding `files` (relative path, JSON).
fn folder(name: &str, files: &[(&str, Value)]) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("pretrained-sentence-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (relative, content) in files {
        let path = dir.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content.to_string()).unwrap();
    }
    dir
}

fn modules(kinds: &[(&str, &str)]) -> Value {
    Value::Array(
        kinds
            .iter()
            .enumerate()
            .map(|(i, (kind, path))| {
                json!({"idx": i, "name": i.to_string(), "path": path,
                       "type": format!("sentence_transformers.models.{kind}")})
            })
            .collect(),
    )
}

fn pooling(mean: bool, cls: bool, max: bool) -> Value {
    json!({"word_embedding_dimension": 8, "pooling_mode_mean_tokens": mean,
           "pooling_mode_cls_token": cls, "pooling_mode_max_tokens": max,
           "pooling_mode_mean_sqrt_len_tokens": false})
}

fn layout_message(dir: &Path) -> String {
    match Layout::read(dir) {
        Err(e @ PretrainedError::Config { .. }) => e.to_string(),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn plain_transformers_folder_pools_cls_without_normalising() {
    let dir = folder("plain", &[("config.json", json!({}))]);
    let layout = Layout::read(&dir).unwrap();
    assert_eq!(layout.pooling, Pooling::Cls);
    assert!(!layout.normalize);
    assert_eq!(layout.max_seq_length, None);
    assert_eq!(layout.transformer_dir, dir);
}

#[test]
fn sentence_transformers_files_set_pooling_normalisation_and_length() {
    let dir = folder(
        "st",
        &[
            (
                "modules.json",
                modules(&[
                    ("Transformer", ""),
                    ("Pooling", "pool"),
                    ("Normalize", "2_Normalize"),
                ]),
            ),
            ("pool/config.json", pooling(true, false, false)),
            (
                "sentence_bert_config.json",
                json!({"max_seq_length": 64, "do_lower_case": true}),
            ),
        ],
    );
    let layout = Layout::read(&dir).unwrap();
    assert_eq!(layout.pooling, Pooling::Mean);
    assert!(layout.normalize);
    assert_eq!(layout.max_seq_length, Some(64));
    assert!(layout.lowercase);

    let dir = folder(
        "st-cls",
        &[
            (
                "modules.json",
                modules(&[("Transformer", ""), ("Pooling", "1_Pooling")]),
            ),
            ("1_Pooling/config.json", pooling(false, true, false)),
        ],
    );
    let layout = Layout::read(&dir).unwrap();
    assert_eq!(layout.pooling, Pooling::Cls);
    assert!(!layout.normalize);
}

#[test]
fn unsupported_sentence_transformers_setups_are_named() {
    let dir = folder(
        "max",
        &[("1_Pooling/config.json", pooling(false, false, true))],
    );
    let message = layout_message(&dir);
    assert!(message.contains("config.json"), "{message}");
    assert!(
        message.contains("field `pooling_mode_max_tokens`"),
        "{message}"
    );

    let dir = folder(
        "both",
        &[("1_Pooling/config.json", pooling(true, true, false))],
    );
    assert!(layout_message(&dir).contains("both on"));

    let dir = folder(
        "dense",
        &[(
            "modules.json",
            modules(&[
                ("Transformer", ""),
                ("Pooling", "1_Pooling"),
                ("Dense", "2_Dense"),
            ]),
        )],
    );
    let message = layout_message(&dir);
    assert!(message.contains("modules.json"), "{message}");
    assert!(message.contains("Dense"), "{message}");

    let dir = folder(
        "length",
        &[(
            "sentence_bert_config.json",
            json!({"max_seq_length": "long"}),
        )],
    );
    assert!(layout_message(&dir).contains("field `max_seq_length`"));
}

#[test]
fn missing_tokenizer_is_named() {
    let dir = folder("no-tokenizer", &[("config.json", json!({}))]);
    match SentenceEncoder::from_folder(&dir, &Device::flex()) {
        Err(PretrainedError::Io { path, .. }) => assert!(path.ends_with("tokenizer.json")),
        other => panic!("expected an I/O error naming tokenizer.json, got {other:?}"),
    }
}

/// all-MiniLM-L6-v2 from the shared folder, or `None` when it has not been downloaded.
fn minilm() -> Option<SentenceEncoder> {
    let dir = shared_path("models/all-MiniLM-L6-v2")?;
    Some(SentenceEncoder::from_folder(&dir, &Device::flex()).unwrap())
}

fn rows(tensor: Tensor<2>) -> Vec<Vec<f32>> {
    let [_, dim] = tensor.dims();
    let flat = tensor.into_data().try_to_vec::<f32>().unwrap();
    flat.chunks(dim).map(<[f32]>::to_vec).collect()
}

fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn minilm_matches_transformers() {
    let Some(mut encoder) = minilm() else { return };
    let path = fixtures_dir().join("pretrained/minilm/reference.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(encoder.pooling(), Pooling::Mean);
    assert!(encoder.normalizes());
    assert_eq!(encoder.max_length(), 256);
    assert_eq!(encoder.embedding_dim(), 384);

    let sentences = reference["sentences"].as_array().unwrap();
    let texts: Vec<&str> = sentences
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 20);

    // Token ids: identical, truncation included.
    let batch = encoder.tokenize(&texts).unwrap();
    let [_, padded_len] = batch.ids.dims();
    assert_eq!(
        padded_len,
        reference["batch"]["padded_length"].as_u64().unwrap() as usize
    );
    let ids = batch
        .ids
        .clone()
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap();
    for (i, sentence) in sentences.iter().enumerate() {
        let expected: Vec<i64> = sentence["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(batch.lengths[i], expected.len(), "length of {:?}", texts[i]);
        let row = &ids[i * padded_len..i * padded_len + expected.len()];
        assert_eq!(row, expected.as_slice(), "ids of {:?}", texts[i]);
    }

    // The first states, to tell the embeddings from the layers should the pooled vectors drift.
    let trace = &reference["debug_trace"];
    let embedded = encoder.model().embed(batch.ids.clone(), None);
    let hidden = encoder.model().forward(batch.ids, batch.mask.clone());
    for (tensor, field) in [
        (embedded, "embeddings_output_0_4_8"),
        (hidden.clone(), "last_hidden_state_0_4_8"),
    ] {
        let ours = rows(tensor.slice([0..1, 0..4, 0..8]).reshape([4, 8]));
        for (ours, theirs) in ours.iter().zip(trace[field].as_array().unwrap()) {
            let diff = max_abs_diff(ours, &floats(theirs));
            assert!(diff < 1e-4, "{field}: max abs diff {diff}");
        }
    }

    // Mean-pooled before normalisation, then the public encode().
    encoder.normalize = false;
    let pooled = rows(encoder.pool(hidden, batch.mask));
    encoder.normalize = true;
    let embedded = rows(encoder.encode(&texts).unwrap());
    let (mut worst_pooled, mut worst_embedding) = (0.0f32, 0.0f32);
    for (i, sentence) in sentences.iter().enumerate() {
        worst_pooled =
            worst_pooled.max(max_abs_diff(&pooled[i], &floats(&sentence["mean_pooled"])));
        worst_embedding =
            worst_embedding.max(max_abs_diff(&embedded[i], &floats(&sentence["embedding"])));
    }
    eprintln!(
        "all-MiniLM-L6-v2 vs transformers, 20 sentences in one batch: max abs diff {worst_pooled:.2e} \
         (mean-pooled), {worst_embedding:.2e} (normalised)"
    );
    assert!(
        worst_pooled < 1e-4,
        "mean-pooled max abs diff {worst_pooled}"
    );
    assert!(
        worst_embedding < 1e-4,
        "embedding max abs diff {worst_embedding}"
    );
}

#[test]
fn minilm_embeddings_are_unit_and_independent_of_padding() {
    let Some(encoder) = minilm() else { return };
    let alone = rows(encoder.encode(&["A cat."]).unwrap());
    let long = "A watercolour painting of a lighthouse on a rocky coast at sunset, with gulls.";
    let batched = rows(encoder.encode(&[long, "A cat."]).unwrap());
    let diff = max_abs_diff(&alone[0], &batched[1]);
    assert!(diff < 1e-5, "padding changed the embedding by {diff}");
    for row in alone.iter().chain(&batched) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
    // Related sentences are closer than unrelated ones.
    let e = rows(
        encoder
            .encode(&[
                "a photo of a cat",
                "a picture of a kitten",
                "stock market report",
            ])
            .unwrap(),
    );
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(dot(&e[0], &e[1]) > dot(&e[0], &e[2]) + 0.2);
    assert_eq!(encoder.encode(&[]).unwrap().dims(), [0, 384]);
}

#[test]
fn minilm_truncates_to_max_seq_length() {
    let Some(encoder) = minilm() else { return };
    let long = "word ".repeat(400);
    let batch = encoder.tokenize(&[long.as_str(), "short"]).unwrap();
    assert_eq!(batch.ids.dims(), [2, 256]);
    assert_eq!(batch.lengths, vec![256, 3]);
}
