//! The run's prompt tokenizer, trained on the training prompts only.

use super::*;

/// Trains the prompt tokenizer on the training prompts only (held-out prompt words stay unseen,
/// as they would be for a deployed model), writes it to `path` and returns it.
///
/// `model::PromptTokenizer::train` sets up normalisation, pre-tokenisation, special tokens,
/// padding and truncation; its WordPiece vocabulary, however, differs from one process to the
/// next (the underlying trainer breaks ties between merges of equal counts in hash-map order),
/// and the same seed must give the same model. So the vocabulary is replaced by a deterministic
/// one built from the same training prompts: the special tokens, every character seen (alone and
/// as a `##` continuation, so that any word of those characters can be spelled), then whole
/// words by decreasing count (ties by spelling) up to `vocab_size`.
pub fn train_tokenizer(
    ix: &Index,
    train: &[usize],
    config: &TrainConfig,
    path: &Path,
) -> Result<PromptTokenizer> {
    let texts: Vec<&str> = train.iter().map(|&p| ix.prompts[p].text.as_str()).collect();
    let tok = PromptTokenizer::train(&texts, &config.tokenizer.to_tokenizer_config())?;
    tok.save(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let bad = |m: &str| {
        TrainError::Model(model::ModelError::Tokenizer(format!(
            "{}: {m}",
            path.display()
        )))
    };
    let mut json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
    let vocab = json
        .pointer_mut("/model/vocab")
        .and_then(|v| v.as_object_mut())
        .ok_or_else(|| bad("no model.vocab"))?;
    let mut specials: Vec<(String, u64)> = vocab
        .iter()
        .filter_map(|(k, v)| v.as_u64().filter(|&i| i < 4).map(|i| (k.clone(), i)))
        .collect();
    specials.sort_by_key(|(_, i)| *i);
    if specials.len() != 4 {
        return Err(bad("expected the four special tokens at ids 0..4"));
    }
    // Words as the BERT pre-tokenizer cuts them (lower-cased): runs of alphanumerics, and single
    // punctuation marks.
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut chars: std::collections::BTreeSet<char> = std::collections::BTreeSet::new();
    for t in &texts {
        let lower = t.to_lowercase();
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
    let mut tokens: Vec<String> = specials.into_iter().map(|(k, _)| k).collect();
    for c in &chars {
        tokens.push(c.to_string());
        if c.is_alphanumeric() {
            tokens.push(format!("##{c}"));
        }
    }
    let mut words: Vec<(&String, &usize)> = counts
        .iter()
        .filter(|(w, _)| w.chars().count() > 1)
        .collect();
    words.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let limit = config.tokenizer.vocab_size.max(tokens.len());
    tokens.extend(
        words
            .into_iter()
            .map(|(w, _)| w.clone())
            .take(limit - tokens.len()),
    );
    vocab.clear();
    for (i, token) in tokens.into_iter().enumerate() {
        vocab.insert(token, serde_json::Value::from(i as u64));
    }
    let text = serde_json::to_string(&json).map_err(|e| bad(&e.to_string()))?;
    std::fs::write(path, text).map_err(|e| TrainError::io(path, e))?;
    Ok(PromptTokenizer::load(path)?.with_max_len(config.tokenizer.max_len)?)
}
