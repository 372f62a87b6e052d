//! OpenCLIP's tokenizer (`open_clip.tokenize`, OpenAI's `simple_tokenizer.py`), which HPSv2
//! scores with: CLIP's BPE ([`ClipTokenizer`]) after OpenAI's text cleaning, padded with 0, its
//! start and end tokens spelled `<start_of_text>` and `<end_of_text>` (OpenCLIP renamed them, so
//! a prompt that contains `<|endoftext|>` is tokenized as the characters it is).
//!
//! OpenAI cleans a prompt with `html.unescape(html.unescape(ftfy.fix_text(text)))` before the
//! whitespace clean-up and lower-casing that transformers' pipeline does too. Of `ftfy.fix_text`
//! this implements what changes a prompt a person typed: HTML entities (`&amp;`, `&#8217;`), curly
//! quotes made straight, Latin ligatures split (`ﬁ` to `fi`), full-width forms made ASCII
//! (`ＡＢＣ`), C1 controls read as Windows-1252, terminal colour codes and control characters
//! removed. It does not repair mojibake (UTF-8 decoded as Latin-1, `Ã©` for `é`), which ftfy
//! guesses at with heuristics; such a prompt can tokenize differently. Named HTML entities are
//! the common ones ([`NAMED_ENTITIES`]); numeric ones are all decoded, with Python's rules.

use std::path::Path;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use crate::PretrainedError;
use crate::clip_tokenizer::{ClipTokenizer, SpecialTokens, TokenBatch};

/// The named HTML entities decoded (Python's `html.unescape` knows 2,231; these are the ones
/// seen in prompts), and whether Python also takes them without the closing semicolon (the
/// Latin-1 ones, for HTML 4's sake). An unknown name is left as written, as Python leaves it.
pub const NAMED_ENTITIES: &[(&str, char, bool)] = &[
    ("amp", '&', true),
    ("lt", '<', true),
    ("gt", '>', true),
    ("quot", '"', true),
    ("apos", '\'', false),
    ("nbsp", '\u{a0}', true),
    ("copy", '©', true),
    ("reg", '®', true),
    ("trade", '™', false),
    ("hellip", '…', false),
    ("mdash", '—', false),
    ("ndash", '–', false),
    ("lsquo", '‘', false),
    ("rsquo", '’', false),
    ("ldquo", '“', false),
    ("rdquo", '”', false),
    ("laquo", '«', true),
    ("raquo", '»', true),
    ("deg", '°', true),
    ("times", '×', true),
    ("middot", '·', true),
    ("bull", '•', false),
];

/// Windows-1252 for bytes 0x80..=0x9F (Python's `html._invalid_charrefs`, and ftfy's
/// `fix_c1_controls`); 0 where the code page has no character.
const CP1252_C1: [u32; 32] = [
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
    0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC,
    0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
];

/// OpenCLIP's tokenizer: OpenAI's cleaning, then CLIP's BPE with start and end tokens, truncated
/// to the context length with the end token kept, padded with 0.
#[derive(Debug, Clone)]
pub struct OpenClipTokenizer {
    bpe: ClipTokenizer,
}

impl OpenClipTokenizer {
    /// Builds it from OpenAI's `bpe_simple_vocab_16e6.txt.gz` (see
    /// [`ClipTokenizer::from_bpe_file`]).
    ///
    /// # Errors
    ///
    /// When the file cannot be read or is not CLIP's merges.
    pub fn from_bpe_file(path: impl AsRef<Path>) -> Result<Self, PretrainedError> {
        Ok(Self {
            bpe: ClipTokenizer::from_bpe_file_with(path, SpecialTokens::OpenClip)?,
        })
    }

    /// The same tokenizer with `context_length` tokens per prompt.
    ///
    /// # Errors
    ///
    /// When it is under 2.
    pub fn with_context_length(self, context_length: usize) -> Result<Self, PretrainedError> {
        Ok(Self {
            bpe: self.bpe.with_context_length(context_length)?,
        })
    }

    /// Tokens per prompt.
    pub fn context_length(&self) -> usize {
        self.bpe.context_length()
    }

    /// The prompts cleaned ([`basic_clean`]) and tokenized, `[texts, context_length]`.
    ///
    /// # Errors
    ///
    /// When the BPE fails on a text.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<TokenBatch, PretrainedError> {
        let cleaned: Vec<String> = texts.iter().map(|t| basic_clean(t)).collect();
        let refs: Vec<&str> = cleaned.iter().map(String::as_str).collect();
        self.bpe.encode_batch(&refs)
    }
}

/// OpenAI's `basic_clean`: `html.unescape(html.unescape(ftfy.fix_text(text))).strip()`, with
/// the part of `fix_text` described in the module's documentation. Whitespace runs, NFC and
/// lower case are left to the BPE's normalizer, which does them as OpenAI's code does.
pub fn basic_clean(text: &str) -> String {
    let fixed = fix_text(text);
    let once = html_unescape(&fixed);
    html_unescape(&once).trim().to_string()
}

/// The part of ftfy 6's `fix_text` that this port implements, in ftfy's order.
fn fix_text(text: &str) -> String {
    // ftfy unescapes HTML itself unless the text looks like HTML (has a '<').
    let mut text = if text.contains('<') {
        text.to_string()
    } else {
        html_unescape(text)
    };
    text = terminal_escapes().replace_all(&text, "").into_owned();
    text = text
        .chars()
        .map(|c| match u32::from(c) {
            // fix_c1_controls
            code @ 0x80..=0x9F => match CP1252_C1[(code - 0x80) as usize] {
                0 => c,
                mapped => char::from_u32(mapped).unwrap_or(c),
            },
            _ => c,
        })
        .collect();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            // fix_latin_ligatures
            'Ĳ' => out.push_str("IJ"),
            'ĳ' => out.push_str("ij"),
            'ŉ' => out.push_str("ʼn"),
            'Ǳ' => out.push_str("DZ"),
            'ǲ' => out.push_str("Dz"),
            'ǳ' => out.push_str("dz"),
            'Ǆ' => out.push_str("DŽ"),
            'ǅ' => out.push_str("Dž"),
            'ǆ' => out.push_str("dž"),
            'Ǉ' => out.push_str("LJ"),
            'ǈ' => out.push_str("Lj"),
            'ǉ' => out.push_str("lj"),
            'Ǌ' => out.push_str("NJ"),
            'ǋ' => out.push_str("Nj"),
            'ǌ' => out.push_str("nj"),
            'ﬀ' => out.push_str("ff"),
            'ﬁ' => out.push_str("fi"),
            'ﬂ' => out.push_str("fl"),
            'ﬃ' => out.push_str("ffi"),
            'ﬄ' => out.push_str("ffl"),
            'ﬅ' => out.push_str("ſt"),
            'ﬆ' => out.push_str("st"),
            // fix_character_width: the ideographic space and the full- and half-width forms.
            '\u{3000}' => out.push(' '),
            '\u{FF01}'..='\u{FFEE}' => out.extend(std::iter::once(c).nfkc()),
            // uncurl_quotes
            '\u{02BC}' | '\u{2018}'..='\u{201B}' => out.push('\''),
            '\u{201C}'..='\u{201F}' => out.push('"'),
            // remove_control_chars
            c if is_removed_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// ftfy's `CONTROL_CHARS`: removed outright (tab, newline, form feed and carriage return stay).
fn is_removed_control(c: char) -> bool {
    matches!(u32::from(c),
        0x00..=0x08 | 0x0B | 0x0E..=0x1F | 0x7F | 0x206A..=0x206F | 0xFEFF | 0xFFF9..=0xFFFC
        | 0x1D173..=0x1D17A | 0xE0000..=0xE007F)
}

/// ANSI terminal escapes (ftfy's `remove_terminal_escapes`).
fn terminal_escapes() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\x1b\[((?:\d|;)*)([a-zA-Z])").expect("a valid pattern"))
}

/// Python's `html.unescape` for numeric references and [`NAMED_ENTITIES`].
pub fn html_unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match entity(after) {
            Some((decoded, used)) => {
                out.push_str(&decoded);
                rest = &after[used..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The entity at the start of `s` (just after its `&`): what it decodes to and the bytes it
/// spans.
fn entity(s: &str) -> Option<(String, usize)> {
    if let Some(num) = s.strip_prefix('#') {
        let (digits, radix, skip) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 2),
            None => (num, 10, 1),
        };
        let len = digits
            .bytes()
            .take_while(|b| (*b as char).is_digit(radix))
            .count();
        if len == 0 {
            return None;
        }
        let used = skip + len + usize::from(digits[len..].starts_with(';'));
        let code = u32::from_str_radix(&digits[..len], radix).unwrap_or(u32::MAX);
        return Some((charref(code), used));
    }
    NAMED_ENTITIES.iter().find_map(|(name, c, bare)| {
        let tail = s.strip_prefix(name)?;
        let closed = tail.starts_with(';');
        (closed || *bare).then(|| (c.to_string(), name.len() + usize::from(closed)))
    })
}

/// Python's `_replace_charref` for a numeric reference.
fn charref(code: u32) -> String {
    const REPLACEMENT: &str = "\u{FFFD}";
    match code {
        0x80..=0x9F => match CP1252_C1[(code - 0x80) as usize] {
            0 => char::from_u32(code).map_or(REPLACEMENT.into(), String::from),
            mapped => char::from_u32(mapped).map_or(REPLACEMENT.into(), String::from),
        },
        0x0D => "\r".into(),
        0 | 0xD800..=0xDFFF | 0x110000.. => REPLACEMENT.into(),
        // Python drops the invalid code points it lists (controls and non-characters).
        0x01..=0x08 | 0x0B | 0x0E..=0x1F | 0x7F..=0x9F | 0xFDD0..=0xFDEF => String::new(),
        c if c & 0xFFFE == 0xFFFE => String::new(),
        c => char::from_u32(c).map_or(REPLACEMENT.into(), String::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_are_unescaped_as_python_does() {
        assert_eq!(html_unescape("a &amp; b"), "a & b");
        assert_eq!(html_unescape("&lt;tag&gt; &quot;x&quot;"), "<tag> \"x\"");
        assert_eq!(html_unescape("&#8217;s &#x41; &#65"), "\u{2019}s A A");
        assert_eq!(html_unescape("&#150;"), "\u{2013}");
        assert_eq!(html_unescape("&#0; &#xD800;"), "\u{FFFD} \u{FFFD}");
        assert_eq!(html_unescape("&unknown; & &#;"), "&unknown; & &#;");
        assert_eq!(html_unescape("AT&amp"), "AT&");
        assert_eq!(html_unescape("&hellip &hellip;"), "&hellip \u{2026}");
    }

    #[test]
    fn openai_cleaning_straightens_splits_and_narrows() {
        assert_eq!(
            basic_clean("  \u{201C}Hi\u{201D} it\u{2019}s "),
            "\"Hi\" it's"
        );
        assert_eq!(
            basic_clean("\u{FB01}sh \u{FF21}\u{FF22}\u{3000}c"),
            "fish AB c"
        );
        assert_eq!(basic_clean("&amp;amp;amp; x"), "& x");
        assert_eq!(basic_clean("<b>&amp;amp;</b>"), "<b>&</b>");
        assert_eq!(basic_clean("\x1b[31mred\x1b[0m\u{FEFF}"), "red");
        assert_eq!(basic_clean("caf\u{0096}e"), "caf\u{2013}e");
    }
}
