//! Prompt tokenizer: a WordPiece vocabulary built offline from the dataset's own prompts (no
//! download from a model hub), saved as a standard `tokenizer.json`, and a batch encoder that
//! pads or truncates every prompt to a fixed length for the [`TextEncoder`](crate::TextEncoder).
//!
//! Text is lower-cased and split on whitespace and punctuation (BERT's normaliser and
//! pre-tokenizer); `[CLS] ... [SEP]` are added around each prompt so that even an empty prompt
//! has tokens to attend to; `[PAD]` is id 0, which the model's masks rely on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use burn::prelude::*;
use tokenizers::{
    AddedToken, PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams,
    decoders::wordpiece::WordPiece as WordPieceDecoder, models::wordpiece::WordPiece,
    normalizers::BertNormalizer, pre_tokenizers::bert::BertPreTokenizer,
    processors::bert::BertProcessing,
};

use crate::ModelError;

/// Padding token; always id 0.
pub const PAD_TOKEN: &str = "[PAD]";
/// Unknown-token marker.
pub const UNK_TOKEN: &str = "[UNK]";
/// Token put before every prompt.
pub const CLS_TOKEN: &str = "[CLS]";
/// Token put after every prompt.
pub const SEP_TOKEN: &str = "[SEP]";
/// Id of [`PAD_TOKEN`].
pub const PAD_ID: u32 = 0;
/// Conventional file name of a saved tokenizer.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Settings for training a [`PromptTokenizer`].
#[derive(Config, Debug)]
pub struct TokenizerConfig {
    /// Largest vocabulary, special tokens included (small corpora give fewer).
    #[config(default = 4096)]
    pub vocab_size: usize,
    /// Length every encoded prompt is padded or truncated to, `[CLS]`/`[SEP]` included.
    #[config(default = 32)]
    pub max_len: usize,
    /// Minimum count of a whole word to enter the vocabulary (characters always do).
    #[config(default = 1)]
    pub min_frequency: u64,
}

/// Prompts encoded for the model: row-major `[batch_size, seq_len]` ids and attention mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBatch {
    /// Token ids, `batch_size * seq_len` values, padded with 0.
    pub ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding, same layout as `ids`.
    pub attention_mask: Vec<i64>,
    /// Number of prompts.
    pub batch_size: usize,
    /// Tokens per prompt.
    pub seq_len: usize,
}

impl EncodedBatch {
    /// `(token_ids, attention_mask)` as `[batch_size, seq_len]` Int tensors on `device`.
    pub fn to_tensors(&self, device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
        let shape = [self.batch_size, self.seq_len];
        (
            Tensor::from_data(TensorData::new(self.ids.clone(), shape), device),
            Tensor::from_data(TensorData::new(self.attention_mask.clone(), shape), device),
        )
    }
}

/// A WordPiece tokenizer for prompts with fixed-length padding and truncation.
#[derive(Clone)]
pub struct PromptTokenizer {
    inner: Tokenizer,
    max_len: usize,
    /// Where it came from (its file, or "trained"), for the errors of encoding.
    source: String,
}

impl std::fmt::Debug for PromptTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptTokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("max_len", &self.max_len)
            .finish()
    }
}

fn tok_err(context: &str, e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer(format!("{context}: {e}"))
}

/// The tokens of [`PromptTokenizer::train`]'s vocabulary, in id order.
fn word_vocabulary<S: AsRef<str>>(
    texts: &[S],
    specials: &[&str],
    config: &TokenizerConfig,
) -> Vec<String> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut chars: BTreeSet<char> = BTreeSet::new();
    for text in texts {
        let lower = text.as_ref().to_lowercase();
        let mut word = String::new();
        for ch in lower.chars().chain(std::iter::once(' ')) {
            if ch.is_alphanumeric() {
                word.push(ch);
                continue;
            }
            if !word.is_empty() {
                *counts.entry(std::mem::take(&mut word)).or_default() += 1;
            }
            if !ch.is_whitespace() {
                *counts.entry(ch.to_string()).or_default() += 1;
            }
        }
        chars.extend(lower.chars().filter(|c| !c.is_whitespace()));
    }
    let mut tokens: Vec<String> = specials.iter().map(|t| t.to_string()).collect();
    for c in &chars {
        tokens.push(c.to_string());
        if c.is_alphanumeric() {
            tokens.push(format!("##{c}"));
        }
    }
    let mut words: Vec<(&String, &u64)> = counts
        .iter()
        .filter(|(w, n)| w.chars().count() > 1 && **n >= config.min_frequency)
        .collect();
    words.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let limit = config.vocab_size.max(tokens.len());
    let room = limit - tokens.len();
    tokens.extend(words.into_iter().map(|(w, _)| w.clone()).take(room));
    tokens
}

impl PromptTokenizer {
    /// Builds a WordPiece vocabulary from `texts`: the special tokens (ids 0 to 3), every
    /// character seen (alone and as a `##` continuation, so that any word of those characters
    /// can be spelled), then whole words seen at least `min_frequency` times, by decreasing count
    /// (ties by spelling), up to `vocab_size` tokens.
    ///
    /// Words are counted as BERT's pre-tokenizer cuts them after lower-casing: runs of
    /// alphanumerics, and single punctuation marks. The vocabulary depends only on the texts and
    /// the config, so the same prompts always give the same ids (tokenizers' own WordPiece
    /// trainer breaks ties between merges of equal counts in hash-map order, which differs from
    /// one process to the next).
    pub fn train<S: AsRef<str> + Sync>(
        texts: &[S],
        config: &TokenizerConfig,
    ) -> Result<Self, ModelError> {
        if config.max_len < 2 {
            return Err(tok_err(
                "max_len",
                "must leave room for [CLS] and [SEP] (>= 2)",
            ));
        }
        let specials = [PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, SEP_TOKEN];
        if config.vocab_size < specials.len() + 1 {
            return Err(tok_err("vocab_size", "too small for the special tokens"));
        }
        let tokens = word_vocabulary(texts, &specials, config);
        let vocab: ahash::AHashMap<String, u32> = tokens
            .into_iter()
            .enumerate()
            .map(|(id, token)| (token, id as u32))
            .collect();
        let model = WordPiece::builder()
            .vocab(vocab)
            .unk_token(UNK_TOKEN.to_string())
            .build()
            .map_err(|e| tok_err("vocabulary", e))?;
        let mut inner = Tokenizer::new(model);
        inner
            .with_normalizer(Some(BertNormalizer::new(true, true, None, true)))
            .map_err(|e| tok_err("normalizer", e))?;
        inner.with_pre_tokenizer(Some(BertPreTokenizer));
        inner.with_decoder(Some(WordPieceDecoder::default()));
        inner
            .add_special_tokens(specials.iter().map(|t| AddedToken::from(*t, true)))
            .map_err(|e| tok_err("special tokens", e))?;
        Self::finish(
            inner,
            config.max_len,
            "the tokenizer trained on these prompts".into(),
        )
    }

    /// Checks the special tokens and installs post-processing, padding and truncation.
    fn finish(mut inner: Tokenizer, max_len: usize, source: String) -> Result<Self, ModelError> {
        let id = |t: &str| {
            inner
                .token_to_id(t)
                .ok_or_else(|| tok_err("vocabulary", format!("no {t} token")))
        };
        if id(PAD_TOKEN)? != PAD_ID {
            return Err(tok_err(
                "vocabulary",
                format!("{PAD_TOKEN} must have id {PAD_ID}"),
            ));
        }
        let (cls, sep) = (id(CLS_TOKEN)?, id(SEP_TOKEN)?);
        inner.with_post_processor(Some(BertProcessing::new(
            (SEP_TOKEN.to_string(), sep),
            (CLS_TOKEN.to_string(), cls),
        )));
        inner.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(max_len),
            direction: PaddingDirection::Right,
            pad_id: PAD_ID,
            pad_token: PAD_TOKEN.to_string(),
            ..Default::default()
        }));
        // A tokenizer that cannot encode any prompt is refused here, where the file is known,
        // rather than at the first prompt: a WordPiece vocabulary without its unknown token
        // (found by `scripts/fuzz`) fails on every word it does not hold. Without truncation,
        // which stops the model at the length and so would hide a failure past it.
        inner
            .with_truncation(None)
            .map_err(|e| tok_err("truncation", e))?;
        let probe = format!("a photo of Zürich, 🚀 中文 {}", "x".repeat(300));
        inner
            .encode(probe, true)
            .map_err(|e| tok_err("encoding a test prompt", e))?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..Default::default()
            }))
            .map_err(|e| tok_err("truncation", e))?;
        Ok(Self {
            inner,
            max_len,
            source,
        })
    }

    /// Loads a `tokenizer.json` written by [`save`](Self::save). The encoded length is the
    /// file's truncation length (32 if it has none); see [`with_max_len`](Self::with_max_len).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        if let Err(source) = std::fs::metadata(path) {
            return Err(ModelError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path.display().to_string();
        let inner = pretrained::tokenizer_json::parse(&bytes).map_err(|e| tok_err(&name, e))?;
        let max_len = inner
            .get_truncation()
            .map(|t| t.max_length)
            .unwrap_or(TokenizerConfig::new().max_len);
        Self::finish(inner, max_len.max(2), name.clone()).map_err(|e| tok_err(&name, e))
    }

    /// Writes the tokenizer (vocabulary, normalisation, padding, truncation) as JSON.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        integrity::write_atomic_via(path, |tmp: &Path| {
            self.inner
                .save(tmp, true)
                .map_err(|e| tok_err(&path.display().to_string(), e))
        })
    }

    /// The same tokenizer encoding to `max_len` tokens.
    pub fn with_max_len(self, max_len: usize) -> Result<Self, ModelError> {
        if max_len < 2 {
            return Err(tok_err(
                "max_len",
                "must leave room for [CLS] and [SEP] (>= 2)",
            ));
        }
        Self::finish(self.inner, max_len, self.source)
    }

    /// Vocabulary size, special tokens included: the smallest valid `ModelConfig::vocab_size`.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Length of every encoded prompt.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The tokens of one prompt after padding and truncation (for inspection).
    pub fn tokens(&self, text: &str) -> Result<Vec<String>, ModelError> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| tok_err(&format!("{}: encoding", self.source), e))?;
        Ok(enc.get_tokens().to_vec())
    }

    /// Encodes prompts to `[texts.len(), max_len]` ids and attention mask.
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<EncodedBatch, ModelError> {
        let inputs: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
        let encodings = self
            .inner
            .encode_batch(inputs, true)
            .map_err(|e| tok_err(&format!("{}: encoding", self.source), e))?;
        let seq_len = self.max_len;
        let mut ids = Vec::with_capacity(texts.len() * seq_len);
        let mut attention_mask = Vec::with_capacity(texts.len() * seq_len);
        for enc in &encodings {
            // Fixed padding + truncation make every row max_len long; the resize only guards
            // against a hand-edited tokenizer.json that changed them.
            let row_ids = enc.get_ids().iter().map(|&i| i64::from(i));
            let row_mask = enc.get_attention_mask().iter().map(|&m| i64::from(m));
            let start = ids.len();
            ids.extend(row_ids.take(seq_len));
            attention_mask.extend(row_mask.take(seq_len));
            ids.resize(start + seq_len, i64::from(PAD_ID));
            attention_mask.resize(start + seq_len, 0);
        }
        Ok(EncodedBatch {
            ids,
            attention_mask,
            batch_size: encodings.len(),
            seq_len,
        })
    }

    /// Encodes prompts straight to `(token_ids, attention_mask)` tensors `[B, max_len]`.
    pub fn encode_tensors<S: AsRef<str>>(
        &self,
        texts: &[S],
        device: &Device,
    ) -> Result<(Tensor<2, Int>, Tensor<2, Int>), ModelError> {
        Ok(self.encode_batch(texts)?.to_tensors(device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMPTS: &[&str] = &[
        "a red cat sitting on a blue chair",
        "a photo of a dog running on the beach",
        "an oil painting of a lighthouse at sunset",
        "a cat and a dog playing chess, digital art",
        "a bowl of fruit on a wooden table",
        "portrait of an astronaut riding a horse",
        "a red car parked next to a blue house",
        "sunset over the mountains, highly detailed",
    ];

    /// The vocabulary is the documented one, whatever the process: special tokens, the characters
    /// seen (sorted, with `##` continuations for letters and digits), then words of two or more
    /// characters by count, ties by spelling.
    #[test]
    fn vocabulary_is_characters_then_words_by_count() {
        let cfg = TokenizerConfig::new().with_vocab_size(100).with_max_len(8);
        let tok = PromptTokenizer::train(&["bb a", "a cc!", "cc"], &cfg).unwrap();
        let mut vocab: Vec<(String, u32)> = tok.inner.get_vocab(true).into_iter().collect();
        vocab.sort_by_key(|(_, id)| *id);
        let tokens: Vec<&str> = vocab.iter().map(|(t, _)| t.as_str()).collect();
        let want = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "!", "a", "##a", "b", "##b", "c", "##c", "cc", "bb",
        ];
        assert_eq!(tokens, want);
        // whole words, and a longer word spelled from the longest pieces
        let ids = tok.encode_batch(&["BB cc a", "ccc"]).unwrap().ids;
        assert_eq!(&ids[..5], &[2, 12, 11, 5, 3]);
        assert_eq!(&ids[8..12], &[2, 11, 10, 3]);
        // a word seen once is left out at min_frequency 2; its characters stay
        let tok =
            PromptTokenizer::train(&["bb a", "a cc!", "cc"], &cfg.with_min_frequency(2)).unwrap();
        assert_eq!(tok.vocab_size(), 12);
        assert_eq!(tok.inner.token_to_id("bb"), None);
        // vocab_size caps the words, never the characters
        let small = TokenizerConfig::new().with_vocab_size(5).with_max_len(8);
        let tok = PromptTokenizer::train(&["bb a", "a cc!", "cc"], &small).unwrap();
        assert_eq!(tok.vocab_size(), 11);
    }

    #[test]
    fn a_vocabulary_without_its_unknown_token_is_refused_at_load_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("rewardlab-tok-unk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = TokenizerConfig::new().with_vocab_size(200).with_max_len(8);
        let path = dir.join(TOKENIZER_FILE);
        PromptTokenizer::train(PROMPTS, &cfg)
            .unwrap()
            .save(&path)
            .unwrap();
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let vocab = json["model"]["vocab"].as_object_mut().unwrap();
        let id = vocab.remove(UNK_TOKEN).unwrap();
        vocab.insert("[UNX]".into(), id);
        std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        // The library reads it, and fails only when a word is not in the vocabulary.
        let err = PromptTokenizer::load(&path).unwrap_err().to_string();
        assert!(
            err.contains(&path.display().to_string()) && err.contains("[UNK]"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn train_save_load_encode_round_trip() {
        let dir = std::env::temp_dir().join(format!("rewardlab-tok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = TokenizerConfig::new().with_vocab_size(200).with_max_len(8);
        let tok = PromptTokenizer::train(PROMPTS, &cfg).unwrap();
        assert!(
            tok.vocab_size() <= 200 && tok.vocab_size() > 20,
            "{}",
            tok.vocab_size()
        );
        for (t, id) in [
            (PAD_TOKEN, 0),
            (UNK_TOKEN, 1),
            (CLS_TOKEN, 2),
            (SEP_TOKEN, 3),
        ] {
            assert_eq!(tok.inner.token_to_id(t), Some(id), "{t}");
        }

        let path = dir.join(TOKENIZER_FILE);
        tok.save(&path).unwrap();
        let loaded = PromptTokenizer::load(&path).unwrap();
        assert_eq!(loaded.max_len(), 8);
        assert_eq!(loaded.vocab_size(), tok.vocab_size());

        let texts = [
            "A RED Cat!",
            "a red cat!",
            "a photo of a dog running on the beach at sunset with a red car",
            "",
        ];
        let a = tok.encode_batch(&texts).unwrap();
        let b = loaded.encode_batch(&texts).unwrap();
        assert_eq!(a, b);
        assert_eq!((a.batch_size, a.seq_len), (4, 8));
        assert_eq!(a.ids.len(), 32);
        let row = |r: usize| {
            (
                &a.ids[r * 8..(r + 1) * 8],
                &a.attention_mask[r * 8..(r + 1) * 8],
            )
        };

        // lower-casing: the two spellings encode identically
        assert_eq!(row(0), row(1));
        // short prompt: [CLS] a red cat [UNK] [SEP] then padding with id 0 and mask 0
        let (ids, mask) = row(0);
        assert_eq!(ids[0], 2);
        assert_eq!(mask, &[1, 1, 1, 1, 1, 1, 0, 0]);
        assert_eq!(ids[5], 3);
        assert_eq!(&ids[6..], &[0, 0]);
        // "!" appears in none of the prompts, so it is unknown; "," does
        assert_eq!(
            loaded.tokens("A RED Cat!").unwrap()[..6],
            ["[CLS]", "a", "red", "cat", "[UNK]", "[SEP]"]
        );
        assert_eq!(
            loaded.tokens("red, cat").unwrap()[..5],
            ["[CLS]", "red", ",", "cat", "[SEP]"]
        );
        // long prompt: truncated to 8 with [SEP] kept at the end, no padding
        let (ids, mask) = row(2);
        assert_eq!(mask, &[1; 8]);
        assert_eq!((ids[0], ids[7]), (2, 3));
        // empty prompt: just [CLS] [SEP]
        let (ids, mask) = row(3);
        assert_eq!(&ids[..3], &[2, 3, 0]);
        assert_eq!(mask.iter().sum::<i64>(), 2);
        // unseen characters map to [UNK]
        assert!(tok.encode_batch(&["€€"]).unwrap().ids.contains(&1));

        let (t_ids, t_mask) = a.to_tensors(&Device::flex());
        assert_eq!(t_ids.dims(), [4, 8]);
        assert_eq!(
            t_mask.sum().into_scalar::<i64>(),
            a.attention_mask.iter().sum::<i64>()
        );

        let longer = loaded.with_max_len(12).unwrap();
        assert_eq!(longer.encode_batch(&texts).unwrap().seq_len, 12);

        assert!(matches!(
            PromptTokenizer::load(dir.join("missing.json")),
            Err(ModelError::Io { .. })
        ));
        std::fs::write(dir.join("bad.json"), "{\"not\": \"a tokenizer\"}").unwrap();
        assert!(matches!(
            PromptTokenizer::load(dir.join("bad.json")),
            Err(ModelError::Tokenizer(_))
        ));
        std::fs::remove_dir_all(&dir).ok();
    }
}
