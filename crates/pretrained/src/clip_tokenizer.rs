//! CLIP's byte-level BPE tokenizer, built from OpenAI's `bpe_simple_vocab_16e6.txt.gz` the way
//! OpenAI's `clip/simple_tokenizer.py` lays out its vocabulary, and run with the pipeline of
//! transformers' `CLIPTokenizerFast` (`convert_slow_tokenizer.CLIPConverter`) on the `tokenizers`
//! crate; or loaded from a checkpoint's `tokenizer.json`.
//!
//! Pipeline: NFC, whitespace runs to one space, lower case; CLIP's split regex (special tokens,
//! contractions, letter runs, single digits, other symbol runs; whitespace dropped), then
//! byte-level encoding (GPT-2's byte-to-unicode map); BPE with `</w>` marking a word's end; `<|startoftext|>` (49406)
//! and `<|endoftext|>` (49407) around the text; truncation to 77 tokens keeping the end token;
//! padding to 77. OpenAI's own tokenizer also runs `ftfy.fix_text` and `html.unescape`, which
//! transformers does not; this follows transformers.

use std::io::Read;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde_json::{Value, json};
use tokenizers::{
    PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection,
    TruncationParams, TruncationStrategy,
};

use crate::PretrainedError;

/// Id of `<|startoftext|>`.
pub const START_OF_TEXT: u32 = 49406;
/// Id of `<|endoftext|>`.
pub const END_OF_TEXT: u32 = 49407;
/// CLIP's context length.
pub const CONTEXT_LENGTH: usize = 77;
/// The padding id of OpenAI's `clip.tokenize` (zeros; id 0 is `!`).
pub const OPENAI_PAD_ID: u32 = 0;
/// The padding id of transformers' CLIP tokenizers (`<|endoftext|>`).
pub const HF_PAD_ID: u32 = END_OF_TEXT;
/// Number of merges OpenAI's tokenizer reads: `lines[1 : 49152 - 256 - 2 + 1]`.
pub const NUM_MERGES: usize = 49152 - 256 - 2;

/// CLIP's split regex after its special tokens, as OpenAI's `simple_tokenizer.py` writes it
/// (case-folding is the normalizer's job here, so the pattern has no `re.IGNORECASE`).
const SPLIT_PATTERN_REST: &str = r"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

/// How the start and end tokens (ids 49406 and 49407) are spelled: the text a prompt must contain
/// to produce one, and the vocabulary's entries for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialTokens {
    /// `<|startoftext|>`, `<|endoftext|>`: OpenAI's CLIP and transformers'.
    OpenAi,
    /// `<start_of_text>`, `<end_of_text>`: OpenCLIP's (and so HPSv2's), where OpenAI's spelling
    /// is ordinary text.
    OpenClip,
}

impl SpecialTokens {
    /// The start and end tokens' text.
    pub fn texts(self) -> [&'static str; 2] {
        match self {
            Self::OpenAi => ["<|startoftext|>", "<|endoftext|>"],
            Self::OpenClip => ["<start_of_text>", "<end_of_text>"],
        }
    }
}

/// A batch of tokenized texts, padded to one length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    /// Token ids, row-major `[batch, len]`.
    pub input_ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding, `[batch, len]`.
    pub attention_mask: Vec<i64>,
    /// Number of texts.
    pub batch: usize,
    /// Tokens per text.
    pub len: usize,
}

impl TokenBatch {
    /// The ids and the mask as `[batch, len]` tensors.
    pub fn to_tensors(&self, device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
        let shape = [self.batch, self.len];
        (
            Tensor::from_data(TensorData::new(self.input_ids.clone(), shape), device),
            Tensor::from_data(TensorData::new(self.attention_mask.clone(), shape), device),
        )
    }

    /// Row `i`'s ids.
    pub fn row(&self, i: usize) -> &[i64] {
        &self.input_ids[i * self.len..(i + 1) * self.len]
    }
}

/// CLIP's tokenizer: a configured [`tokenizers::Tokenizer`] that truncates and pads to the
/// context length.
#[derive(Debug, Clone)]
pub struct ClipTokenizer {
    tokenizer: Tokenizer,
    /// Where it came from, for error messages.
    source: PathBuf,
    context_length: usize,
    pad_id: u32,
}

impl ClipTokenizer {
    /// Builds the tokenizer from OpenAI's merges file (`bpe_simple_vocab_16e6.txt.gz`, or the
    /// same text uncompressed), padding with OpenAI's 0.
    ///
    /// # Errors
    ///
    /// When the file cannot be read or has fewer merges than CLIP's vocabulary needs.
    pub fn from_bpe_file(path: impl AsRef<Path>) -> Result<Self, PretrainedError> {
        Self::from_bpe_file_with(path, SpecialTokens::OpenAi)
    }

    /// [`Self::from_bpe_file`] with the start and end tokens spelled as `specials` says.
    ///
    /// # Errors
    ///
    /// As for [`Self::from_bpe_file`].
    pub fn from_bpe_file_with(
        path: impl AsRef<Path>,
        specials: SpecialTokens,
    ) -> Result<Self, PretrainedError> {
        let path = path.as_ref();
        let bytes = crate::error::read_bytes(path)?;
        // Gzip starts with 1f 8b; anything else is taken as the merges text itself.
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            // OpenAI's file inflates to 1.6 MB; a few kilobytes of gzip can inflate to gigabytes.
            const MOST: u64 = 64 << 20;
            let mut text = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .take(MOST + 1)
                .read_to_string(&mut text)
                .map_err(|e| tokenizer_error(path, format!("cannot decompress: {e}")))?;
            if text.len() as u64 > MOST {
                return Err(tokenizer_error(
                    path,
                    format!("inflates to over {} MiB: not a merges file", MOST >> 20),
                ));
            }
            text
        } else {
            String::from_utf8(bytes).map_err(|e| tokenizer_error(path, e.to_string()))?
        };
        Self::from_merges_text_with(&text, path, specials)
    }

    /// Builds the tokenizer from the merges file's text; `path` only names it in errors.
    ///
    /// # Errors
    ///
    /// When the text has fewer than [`NUM_MERGES`] merge lines after its header, or a line is
    /// not two symbols.
    pub fn from_merges_text(text: &str, path: &Path) -> Result<Self, PretrainedError> {
        Self::from_merges_text_with(text, path, SpecialTokens::OpenAi)
    }

    /// [`Self::from_merges_text`] with the start and end tokens spelled as `specials` says.
    ///
    /// # Errors
    ///
    /// As for [`Self::from_merges_text`].
    pub fn from_merges_text_with(
        text: &str,
        path: &Path,
        specials: SpecialTokens,
    ) -> Result<Self, PretrainedError> {
        let [sot, eot] = specials.texts();
        // OpenAI: `merges = lines[1:49152-256-2+1]`, the first line being a version header.
        let lines: Vec<&str> = text.split('\n').collect();
        if lines.len() < NUM_MERGES + 1 {
            return Err(tokenizer_error(
                path,
                format!(
                    "{} lines, CLIP needs {} merges after the header",
                    lines.len(),
                    NUM_MERGES
                ),
            ));
        }
        let mut merges = Vec::with_capacity(NUM_MERGES);
        for (i, line) in lines[1..=NUM_MERGES].iter().enumerate() {
            let pair: Vec<&str> = line.split_whitespace().collect();
            let [a, b] = pair[..] else {
                return Err(tokenizer_error(
                    path,
                    format!("line {} is not a merge of two symbols: {line:?}", i + 2),
                ));
            };
            merges.push((a.to_string(), b.to_string()));
        }

        // vocab = bytes_to_unicode values, the same with "</w>", each merge joined, then the two
        // special tokens; ids are positions.
        let bytes = bytes_to_unicode();
        let mut vocab: Vec<String> = bytes.iter().map(|c| c.to_string()).collect();
        vocab.extend(bytes.iter().map(|c| format!("{c}</w>")));
        vocab.extend(merges.iter().map(|(a, b)| format!("{a}{b}")));
        vocab.push(sot.into());
        vocab.push(eot.into());
        let vocab_map: serde_json::Map<String, Value> = vocab
            .iter()
            .enumerate()
            .map(|(id, token)| (token.clone(), json!(id)))
            .collect();
        if vocab_map.len() != vocab.len() {
            return Err(tokenizer_error(
                path,
                "the merges give duplicate vocabulary entries".into(),
            ));
        }

        let split_pattern = format!(
            "{}|{}|{SPLIT_PATTERN_REST}",
            regex::escape(sot),
            regex::escape(eot)
        );
        let special = |id: u32, content: &str| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        };
        let spec = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [
                special(START_OF_TEXT, sot),
                special(END_OF_TEXT, eot),
            ],
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "NFC"},
                {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "},
                {"type": "Lowercase"},
            ]},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                // Keep the matches, drop what lies between them (whitespace).
                {"type": "Split", "pattern": {"Regex": split_pattern}, "behavior": "Removed",
                 "invert": true},
                // transformers' CLIP pipeline keeps ByteLevel's own (GPT-2) split too; it only
                // re-splits pieces such as a lower-cased `<|STARTOFTEXT|>`.
                {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
                 "use_regex": true},
            ]},
            // transformers' "hack to have a ByteLevel and TemplateProcessor": RoBERTa's
            // processor with CLIP's tokens puts <|startoftext|> before and <|endoftext|> after.
            "post_processor": {"type": "RobertaProcessing",
                "sep": [eot, END_OF_TEXT], "cls": [sot, START_OF_TEXT],
                "trim_offsets": false, "add_prefix_space": false},
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true,
                        "use_regex": true},
            "model": {"type": "BPE", "dropout": null, "unk_token": eot,
                      "continuing_subword_prefix": "", "end_of_word_suffix": "</w>",
                      "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": vocab_map,
                      "merges": merges.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>()}
        });
        let tokenizer = Tokenizer::from_bytes(spec.to_string().as_bytes())
            .map_err(|e| tokenizer_error(path, e.to_string()))?;
        Self::configure(tokenizer, path, OPENAI_PAD_ID)
    }

    /// Loads a checkpoint's `tokenizer.json` (as transformers saves CLIP's), padding with the
    /// file's padding id when it sets one and with transformers' `<|endoftext|>` otherwise.
    ///
    /// # Errors
    ///
    /// When the file cannot be read or parsed.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, PretrainedError> {
        let path = path.as_ref();
        let tokenizer = crate::error::read_tokenizer_json(path)?;
        let pad_id = tokenizer.get_padding().map_or(HF_PAD_ID, |p| p.pad_id);
        Self::configure(tokenizer, path, pad_id)
    }

    /// The tokenizer of a CLIP folder that has no `tokenizer.json`: built from OpenAI's merges
    /// file ([`CLIP_BPE_FILE`]) in the folder, else from the shared folder's copy
    /// ([`Self::from_shared_data`]).
    ///
    /// # Errors
    ///
    /// As [`Self::from_shared_data`] when neither file is there, and as [`Self::from_bpe_file`].
    pub fn for_folder(dir: &Path) -> Result<Self, PretrainedError> {
        let beside = dir.join(CLIP_BPE_FILE);
        if beside.is_file() {
            Self::from_bpe_file(beside)
        } else {
            Self::from_shared_data()
        }
    }

    /// The tokenizer built from OpenAI's merges file in the shared folder
    /// ([`BPE_IN_SHARED`] under `$REWARDLAB_SHARED`), for a CLIP folder without `tokenizer.json`.
    ///
    /// # Errors
    ///
    /// [`PretrainedError::Tokenizer`] naming the variable to set when the file is not there, and
    /// as [`Self::from_bpe_file`].
    pub fn from_shared_data() -> Result<Self, PretrainedError> {
        let path = default_bpe_path().map_err(|e| PretrainedError::Tokenizer {
            path: PathBuf::from(BPE_IN_SHARED),
            message: e.to_string(),
        })?;
        Self::from_bpe_file(path)
    }

    /// Sets truncation and padding to the context length.
    fn configure(
        mut tokenizer: Tokenizer,
        path: &Path,
        pad_id: u32,
    ) -> Result<Self, PretrainedError> {
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| tokenizer_error(path, e.to_string()))?;
        let mut this = Self {
            tokenizer,
            source: path.to_path_buf(),
            context_length: CONTEXT_LENGTH,
            pad_id,
        };
        this.apply_lengths()?;
        Ok(this)
    }

    fn apply_lengths(&mut self) -> Result<(), PretrainedError> {
        // Truncation counts the tokens the post-processor adds, so the end token survives.
        self.tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: self.context_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| tokenizer_error(&self.source, e.to_string()))?;
        let pad_token = self
            .tokenizer
            .id_to_token(self.pad_id)
            .unwrap_or_else(|| "<|endoftext|>".into());
        self.tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(self.context_length),
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id: self.pad_id,
            pad_type_id: 0,
            pad_token,
        }));
        Ok(())
    }

    /// The same tokenizer padding with `pad_id` ([`OPENAI_PAD_ID`] or [`HF_PAD_ID`]).
    ///
    /// # Errors
    ///
    /// When `pad_id` is not in the vocabulary.
    pub fn with_pad_id(mut self, pad_id: u32) -> Result<Self, PretrainedError> {
        if self.tokenizer.id_to_token(pad_id).is_none() {
            return Err(tokenizer_error(
                &self.source,
                format!("pad id {pad_id} is not in the vocabulary"),
            ));
        }
        self.pad_id = pad_id;
        self.apply_lengths()?;
        Ok(self)
    }

    /// The same tokenizer truncating and padding to `context_length` tokens (at least 2, for
    /// the start and end tokens).
    ///
    /// # Errors
    ///
    /// When `context_length` is below 2.
    pub fn with_context_length(mut self, context_length: usize) -> Result<Self, PretrainedError> {
        if context_length < 2 {
            return Err(tokenizer_error(
                &self.source,
                format!(
                    "context length {context_length} leaves no room for the start and end tokens"
                ),
            ));
        }
        self.context_length = context_length;
        self.apply_lengths()?;
        Ok(self)
    }

    /// The padding id.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The length every encoding is truncated or padded to.
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// The underlying `tokenizers` tokenizer (with truncation and padding set).
    pub fn inner(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Token ids of one text, start and end tokens included, truncated but not padded.
    ///
    /// # Errors
    ///
    /// When the tokenizer fails on the text.
    pub fn encode_unpadded(&self, text: &str) -> Result<Vec<u32>, PretrainedError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| tokenizer_error(&self.source, e.to_string()))?;
        let mask = encoding.get_attention_mask();
        Ok(encoding
            .get_ids()
            .iter()
            .zip(mask)
            .filter(|&(_, &m)| m != 0)
            .map(|(&id, _)| id)
            .collect())
    }

    /// Tokenizes texts into one padded batch of `context_length` tokens each.
    ///
    /// # Errors
    ///
    /// When the tokenizer fails on a text.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<TokenBatch, PretrainedError> {
        let mut input_ids = Vec::with_capacity(texts.len() * self.context_length);
        let mut attention_mask = Vec::with_capacity(texts.len() * self.context_length);
        for text in texts {
            let encoding = self
                .tokenizer
                .encode(*text, true)
                .map_err(|e| tokenizer_error(&self.source, format!("{text:?}: {e}")))?;
            input_ids.extend(encoding.get_ids().iter().map(|&id| i64::from(id)));
            attention_mask.extend(encoding.get_attention_mask().iter().map(|&m| i64::from(m)));
        }
        Ok(TokenBatch {
            input_ids,
            attention_mask,
            batch: texts.len(),
            len: self.context_length,
        })
    }

    /// Text back from ids: special tokens dropped, `</w>` read as a space (OpenAI's `decode`).
    ///
    /// # Errors
    ///
    /// When the tokenizer fails on the ids.
    pub fn decode(&self, ids: &[u32]) -> Result<String, PretrainedError> {
        let text = self
            .tokenizer
            .decode(ids, true)
            .map_err(|e| tokenizer_error(&self.source, e.to_string()))?;
        Ok(text.replace("</w>", " ").trim_end().to_string())
    }
}

/// The merges file OpenAI ships with CLIP; a CLIP folder without `tokenizer.json` may hold it.
pub const CLIP_BPE_FILE: &str = "bpe_simple_vocab_16e6.txt.gz";

/// OpenAI's CLIP merges file inside the shared folder.
pub const BPE_IN_SHARED: &str = "data/clip-bpe/bpe_simple_vocab_16e6.txt.gz";

/// OpenAI's CLIP merges file in the shared folder (`$REWARDLAB_SHARED`/[`BPE_IN_SHARED`]); the
/// error names the variable to set.
pub fn default_bpe_path() -> Result<PathBuf, paths::MissingShared> {
    paths::shared_file(
        BPE_IN_SHARED,
        "OpenAI's CLIP BPE merges (bpe_simple_vocab_16e6.txt.gz)",
    )
}

/// GPT-2's reversible byte-to-unicode map, in OpenAI's order: the printable bytes `!`..`~`,
/// `¡`..`¬`, `®`..`ÿ` stand for themselves, the other 68 bytes map to U+0100 onwards in byte
/// order. The returned list is the map's values in that order (the first 256 vocabulary ids).
fn bytes_to_unicode() -> Vec<char> {
    let printable = |b: u32| {
        (u32::from('!')..=u32::from('~')).contains(&b)
            || (u32::from('¡')..=u32::from('¬')).contains(&b)
            || (u32::from('®')..=u32::from('ÿ')).contains(&b)
    };
    let mut values: Vec<u32> = (0..256).filter(|&b| printable(b)).collect();
    values.extend(
        (0..256)
            .filter(|&b| !printable(b))
            .zip(256..)
            .map(|(_, v)| v),
    );
    values
        .into_iter()
        .map(|v| char::from_u32(v).expect("byte-to-unicode values are below U+0144"))
        .collect()
}

fn tokenizer_error(path: &Path, message: String) -> PretrainedError {
    PretrainedError::Tokenizer {
        path: path.to_path_buf(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_has_openai_order() {
        let chars = bytes_to_unicode();
        assert_eq!(chars.len(), 256);
        assert_eq!(chars[0], '!');
        assert_eq!(chars[93], '~');
        assert_eq!(chars[94], '¡');
        // The first unprintable byte (0) maps to U+0100, space (32) to U+0120 'Ġ'.
        assert_eq!(chars[188], '\u{100}');
        assert!(chars.contains(&'Ġ'));
    }

    #[test]
    fn a_saved_tokenizer_json_loads_back_with_its_padding() {
        let Some(bpe) = crate::test_util::shared_path("data/clip-bpe/bpe_simple_vocab_16e6.txt.gz")
        else {
            return;
        };
        let built = ClipTokenizer::from_bpe_file(bpe).unwrap();
        let dir = std::env::temp_dir().join(format!("pretrained-clip-tok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokenizer.json");
        built.inner().save(&path, false).unwrap();
        let loaded = ClipTokenizer::from_file(&path).unwrap();
        // The saved file pads with OpenAI's 0, so the loaded tokenizer does too.
        assert_eq!(loaded.pad_id(), OPENAI_PAD_ID);
        let text = ["a photo of a cat, 8k", "Crème brûlée"];
        assert_eq!(
            loaded.encode_batch(&text).unwrap(),
            built.encode_batch(&text).unwrap()
        );
        assert!(ClipTokenizer::from_file(dir.join("absent.json")).is_err());
        std::fs::write(&path, "{}").unwrap();
        let err = ClipTokenizer::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("tokenizer.json"), "{err}");
    }

    #[test]
    fn a_gzip_bomb_is_refused_after_64_mib() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let block = vec![b'a'; 1 << 20];
        for _ in 0..65 {
            gz.write_all(&block).unwrap();
        }
        let dir = std::env::temp_dir().join(format!("pretrained-bpe-bomb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bomb.txt.gz");
        let bytes = gz.finish().unwrap();
        assert!(bytes.len() < 1 << 20);
        std::fs::write(&path, bytes).unwrap();
        let err = ClipTokenizer::from_bpe_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("bomb.txt.gz") && err.contains("over 64 MiB"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn short_merges_files_are_errors() {
        let err =
            ClipTokenizer::from_merges_text("#version\na b\n", Path::new("x.txt")).unwrap_err();
        assert!(err.to_string().contains("x.txt"), "{err}");
    }
}
