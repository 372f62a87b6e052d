//! Reading a `tokenizer.json` without letting the tokenizers crate panic on it.
//!
//! tokenizers panics ("Helper") instead of returning an error when the `decoder` object of a
//! `tokenizer.json` is not JSON it can buffer: a syntax error inside it, bytes in a string that
//! are not UTF-8, or an escape that is no character (a lone surrogate, `"\ud800"`). `scripts/fuzz`
//! found the first two. So the whole file is
//! parsed as JSON first, strings decoded, and only a file that parses is given to tokenizers.
//! Both a run's tokenizer (`model::PromptTokenizer`) and a CLIP folder's read it here.

/// The tokenizer in a `tokenizer.json`'s bytes, or what is wrong with them.
///
/// # Errors
///
/// "not valid JSON: ..." with the line and column, or the tokenizers crate's own message.
pub fn parse(bytes: &[u8]) -> Result<tokenizers::Tokenizer, String> {
    // A full parse: `IgnoredAny` skips over strings without checking their bytes or escapes.
    serde_json::from_slice::<serde_json::Value>(bytes)
        .map_err(|e| format!("not valid JSON: {e}"))?;
    tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_not_utf8_a_lone_surrogate_or_a_syntax_error_in_the_decoder_are_errors() {
        let decoder = |inside: &str| {
            format!(
                r#"{{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
                    "normalizer": null, "pre_tokenizer": null, "post_processor": null,
                    "decoder": {inside},
                    "model": {{"type": "WordLevel", "vocab": {{"[UNK]": 0}}, "unk_token": "[UNK]"}}}}"#
            )
        };
        assert!(super::parse(decoder("null").as_bytes()).is_ok());
        // A byte that is not UTF-8 inside a string of the decoder (`?` is nowhere else).
        let mut bytes =
            decoder(r##"{"type": "WordPiece", "prefix": "#?", "cleanup": true}"##).into_bytes();
        let at = bytes.iter().position(|&b| b == b'?').unwrap();
        bytes[at] = 0x9e;
        let err = super::parse(&bytes).unwrap_err();
        assert!(
            err.starts_with("not valid JSON") && err.contains("line 3"),
            "{err}"
        );
        for (inside, says) in [
            (
                r##"{"type": "Strip", "content": "\ud800", "start": 0, "stop": 0}"##,
                "line 3",
            ),
            (
                r#"{"type": "WordPiece", "prefix": "@@",, "cleanup": true}"#,
                "line 3",
            ),
        ] {
            let err = super::parse(decoder(inside).as_bytes()).unwrap_err();
            assert!(
                err.starts_with("not valid JSON") && err.contains(says),
                "{err}"
            );
        }
    }
}
