//! The run's prompt tokenizer, trained on the training prompts only.

use super::*;

/// Trains the prompt tokenizer on the training prompts only (held-out prompt words stay unseen,
/// as they would be for a deployed model), writes it to `path` and returns it.
pub fn train_tokenizer(
    ix: &Index,
    train: &[usize],
    config: &TrainConfig,
    path: &Path,
) -> Result<PromptTokenizer> {
    let texts: Vec<&str> = train.iter().map(|&p| ix.prompts[p].text.as_str()).collect();
    let tok = PromptTokenizer::train(&texts, &config.tokenizer.to_tokenizer_config())?;
    tok.save(path)?;
    Ok(tok)
}
