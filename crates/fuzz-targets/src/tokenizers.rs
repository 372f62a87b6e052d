//! Tokenizer files: a `tokenizer.json` (a run's own WordPiece, a CLIP folder's BPE) and OpenAI's
//! CLIP merges file; each tokenizer read then encodes prompts as scoring does. And prompts
//! themselves, through OpenCLIP's text cleaning (HPSv2's), which any dataset's text reaches.

use model::PromptTokenizer;
use pretrained::clip_tokenizer::ClipTokenizer;

use crate::scratch;

/// Prompts of the kinds users write: plain, accented, emoji, very long, empty.
fn prompts() -> Vec<String> {
    vec![
        "a photo of an astronaut riding a horse".into(),
        "Café in Zürich, 8k, trending on artstation".into(),
        "🚀 a rocket — launching!!".into(),
        "word ".repeat(300),
        String::new(),
    ]
}

/// Accepted when either tokenizer takes the file and encodes the prompts.
pub fn tokenizer_json(data: &[u8]) -> bool {
    let path = scratch::file("tokenizer.json", data);
    let prompts = prompts();
    let run = scratch::named(PromptTokenizer::load(&path), &path)
        .and_then(|tokenizer| scratch::named(tokenizer.encode_batch(&prompts), &path))
        .is_some();
    let clip = scratch::named(ClipTokenizer::from_file(&path), &path).is_some_and(|tokenizer| {
        let texts: Vec<&str> = prompts.iter().map(String::as_str).collect();
        let Some(batch) = scratch::named(tokenizer.encode_batch(&texts), &path) else {
            return false;
        };
        for i in 0..texts.len() {
            assert_eq!(batch.row(i).len(), tokenizer.context_length());
        }
        true
    });
    run || clip
}

/// The merges as OpenAI ships them (gzip) or uncompressed, which the fuzzer mutates better.
pub fn clip_bpe(data: &[u8]) -> bool {
    let path = scratch::file("bpe_simple_vocab_16e6.txt", data);
    let Some(tokenizer) = scratch::named(ClipTokenizer::from_bpe_file(&path), &path) else {
        return false;
    };
    let prompts = prompts();
    let texts: Vec<&str> = prompts.iter().map(String::as_str).collect();
    scratch::named(tokenizer.encode_batch(&texts), &path).is_some()
}

/// A prompt (any dataset's text, as bytes read lossily) through OpenAI's cleaning, which HPSv2's
/// tokenizer applies before its BPE. Always accepted: no text is refused.
pub fn open_clip_text(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let cleaned = pretrained::open_clip_tokenizer::basic_clean(&text);
    assert_eq!(
        cleaned.trim(),
        cleaned,
        "the cleaned text keeps outer whitespace"
    );
    true
}
