//! BLIP's text tokenizer as ImageReward calls it: bert-base-uncased WordPiece with BLIP's two
//! added tokens (`blip.py`'s `init_tokenizer`: `[DEC]` as `bos_token`, then `[ENC]` as an
//! additional special token, ids 30522 and 30523), and `ImageReward.score`'s call
//! `tokenizer(prompt, padding='max_length', truncation=True, max_length=35)`.
//!
//! Position 0 stays `[CLS]` (101): scoring does not swap in `[ENC]`, although BLIP's retrieval
//! code does.

use std::path::{Path, PathBuf};

use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{
    AddedToken, PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection,
    TruncationParams, TruncationStrategy,
};

use crate::PretrainedError;

/// `max_length` of `ImageReward.score`'s tokenizer call.
pub const IMAGEREWARD_MAX_LENGTH: usize = 35;

/// BLIP's decoder start token (`bos_token`).
pub const DEC_TOKEN: &str = "[DEC]";

/// BLIP's encoder token (`additional_special_tokens[0]`).
pub const ENC_TOKEN: &str = "[ENC]";

/// A prompt as token ids and attention mask, both `max_length` long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedPrompt {
    /// Token ids: `[CLS]`, the prompt's word pieces, `[SEP]`, then `[PAD]` (0).
    pub input_ids: Vec<u32>,
    /// 1 for a token, 0 for padding.
    pub attention_mask: Vec<u32>,
    /// The tokens the ids stand for.
    pub tokens: Vec<String>,
}

/// bert-base-uncased WordPiece with `[DEC]` and `[ENC]`, padding and truncating to a fixed
/// length.
#[derive(Clone)]
pub struct BlipTokenizer {
    tokenizer: Tokenizer,
    source: PathBuf,
    max_length: usize,
}

impl std::fmt::Debug for BlipTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlipTokenizer")
            .field("source", &self.source)
            .field("max_length", &self.max_length)
            .finish()
    }
}

impl BlipTokenizer {
    /// Loads a `tokenizer.json` (a fast BERT tokenizer such as bert-base-uncased's or the one
    /// saved beside an ImageReward fixture) or a WordPiece `vocab.txt`, by the file's extension,
    /// padding and truncating to `max_length` (use [`IMAGEREWARD_MAX_LENGTH`]).
    ///
    /// `[DEC]` and `[ENC]` are added after the vocabulary, in that order, when the file lacks
    /// them, as BLIP's `init_tokenizer` does.
    pub fn from_file(path: impl AsRef<Path>, max_length: usize) -> Result<Self, PretrainedError> {
        let path = path.as_ref();
        let error = |message: String| PretrainedError::Tokenizer {
            path: path.to_path_buf(),
            message,
        };
        if !path.is_file() {
            return Err(PretrainedError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        if max_length < 2 {
            return Err(error(format!(
                "max_length {max_length} leaves no room for [CLS] and [SEP]"
            )));
        }
        let mut tokenizer = if path.extension().is_some_and(|e| e == "json") {
            crate::error::read_tokenizer_json(path)?
        } else {
            from_vocab(path).map_err(error)?
        };
        for token in [DEC_TOKEN, ENC_TOKEN] {
            if tokenizer.token_to_id(token).is_none() {
                tokenizer
                    .add_special_tokens([AddedToken::from(token, true)])
                    .map_err(|e| error(e.to_string()))?;
            }
        }
        let pad_id = tokenizer
            .token_to_id("[PAD]")
            .ok_or_else(|| error("the vocabulary has no [PAD] token".into()))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(max_length),
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id,
            pad_type_id: 0,
            pad_token: "[PAD]".into(),
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| error(e.to_string()))?;
        Ok(Self {
            tokenizer,
            source: path.to_path_buf(),
            max_length,
        })
    }

    /// Tokenizes one prompt.
    pub fn encode(&self, prompt: &str) -> Result<TokenizedPrompt, PretrainedError> {
        let encoding =
            self.tokenizer
                .encode(prompt, true)
                .map_err(|e| PretrainedError::Tokenizer {
                    path: self.source.clone(),
                    message: format!("cannot encode {prompt:?}: {e}"),
                })?;
        Ok(TokenizedPrompt {
            input_ids: encoding.get_ids().to_vec(),
            attention_mask: encoding.get_attention_mask().to_vec(),
            tokens: encoding.get_tokens().to_vec(),
        })
    }

    /// The id of a token, if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    /// Number of ids, added tokens included: the model's embedding table must cover them.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// The fixed length every prompt is padded or truncated to.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The file the tokenizer was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }
}

/// transformers' `BertTokenizer(vocab, do_lower_case=True)`: BERT normalisation (lower-casing,
/// accents stripped, Chinese characters split), BERT pre-tokenisation, WordPiece, `[CLS] .. [SEP]`.
fn from_vocab(path: &Path) -> Result<Tokenizer, String> {
    let vocab = path
        .to_str()
        .ok_or_else(|| "the path is not valid UTF-8".to_string())?;
    let wordpiece = WordPiece::from_file(vocab)
        .unk_token("[UNK]".into())
        .build()
        .map_err(|e| e.to_string())?;
    let mut tokenizer = Tokenizer::new(wordpiece);
    let id = |tokenizer: &Tokenizer, token: &str| {
        tokenizer
            .token_to_id(token)
            .ok_or_else(|| format!("the vocabulary has no {token} token"))
    };
    let cls = id(&tokenizer, "[CLS]")?;
    let sep = id(&tokenizer, "[SEP]")?;
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(true, true, None, true)))
        .map_err(|e| e.to_string())?;
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), sep),
        ("[CLS]".into(), cls),
    )));
    // The slow tokenizer never splits its special tokens; as added tokens they are matched whole.
    let specials: Vec<AddedToken> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .into_iter()
        .filter(|token| tokenizer.token_to_id(token).is_some())
        .map(|token| AddedToken::from(token, true))
        .collect();
    tokenizer
        .add_special_tokens(specials)
        .map_err(|e| e.to_string())?;
    Ok(tokenizer)
}
