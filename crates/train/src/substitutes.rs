//! One-word substitutes mined from the training prompts, for image-text matching negatives that
//! differ from the image's own prompt in exactly one word ("a red circle" -> "a blue circle").
//!
//! Two words substitute for each other when two training prompts are identical but for that one
//! word. Nothing about the vocabulary is hard-coded: on the synthetic world this finds the
//! colours, shapes, counts, sizes, styles and backgrounds; on real prompts it finds whatever the
//! prompts vary. A negative that changes one requirement teaches the alignment head that
//! requirement (NegCLIP, Yuksekgonul et al. 2023, makes such negatives by hand-written rules);
//! the nearest other prompt of a batch usually differs in several.

use std::collections::{BTreeMap, BTreeSet};

/// The words of a prompt as the mining sees them: lower-cased runs of letters and digits, and
/// every other non-space character on its own (so "ring," is "ring" and ",").
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut run = String::new();
    for ch in text.chars() {
        if ch.is_alphanumeric() {
            run.extend(ch.to_lowercase());
            continue;
        }
        if !run.is_empty() {
            out.push(std::mem::take(&mut run));
        }
        if !ch.is_whitespace() {
            out.push(ch.to_string());
        }
    }
    if !run.is_empty() {
        out.push(run);
    }
    out
}

/// For every word, the words that replace it in some pair of prompts differing only there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Substitutes {
    by_word: BTreeMap<String, BTreeSet<String>>,
}

impl Substitutes {
    /// Mines the substitutes of a set of prompts (the training prompts: held-out prompts must not
    /// shape training).
    pub fn mine<S: AsRef<str>>(prompts: &[S]) -> Self {
        // Every prompt with one position blanked out -> the words seen at that position.
        let mut slots: BTreeMap<(Vec<String>, Vec<String>), BTreeSet<String>> = BTreeMap::new();
        for p in prompts {
            let w = words(p.as_ref());
            for k in 0..w.len() {
                slots
                    .entry((w[..k].to_vec(), w[k + 1..].to_vec()))
                    .or_default()
                    .insert(w[k].clone());
            }
        }
        let mut by_word: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for seen in slots.into_values().filter(|s| s.len() > 1) {
            for a in &seen {
                let others = seen.iter().filter(|b| *b != a).cloned();
                by_word.entry(a.clone()).or_default().extend(others);
            }
        }
        Self { by_word }
    }

    /// The words that substitute for `word` (lower-cased), in sorted order.
    pub fn of(&self, word: &str) -> impl Iterator<Item = &str> {
        self.by_word
            .get(word)
            .into_iter()
            .flat_map(|s| s.iter().map(String::as_str))
    }

    /// Number of words that have at least one substitute.
    pub fn len(&self) -> usize {
        self.by_word.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_word.is_empty()
    }

    /// Up to `n` distinct variants of `text`, each with one word replaced by one of its
    /// substitutes, drawn from `rng` (every possible variant is equally likely). The variants
    /// are the prompt's words joined by single spaces; `text` without any substitutable word has
    /// none.
    pub fn variants(&self, text: &str, n: usize, rng: &mut prng::Rng) -> Vec<String> {
        let w = words(text);
        let mut all: Vec<(usize, &str)> = w
            .iter()
            .enumerate()
            .flat_map(|(k, word)| self.of(word).map(move |s| (k, s)))
            .collect();
        rng.shuffle(&mut all);
        all.truncate(n);
        all.into_iter()
            .map(|(k, s)| {
                let mut v = w.clone();
                v[k] = s.to_string();
                v.join(" ")
            })
            .collect()
    }
}

/// `text` with the words of each pair exchanged ("left" <-> "right"), its words joined by single
/// spaces as in [`Substitutes::variants`]; `None` when no word of a pair occurs.
pub fn swap_words(text: &str, pairs: &[[String; 2]]) -> Option<String> {
    let mut w = words(text);
    let mut changed = false;
    for word in &mut w {
        for [a, b] in pairs {
            let other = if word == &a.to_lowercase() {
                b
            } else if word == &b.to_lowercase() {
                a
            } else {
                continue;
            };
            *word = other.to_lowercase();
            changed = true;
            break;
        }
    }
    changed.then(|| w.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_punctuation_and_lower_case() {
        assert_eq!(
            words("A small Ring, 8k!"),
            vec!["a", "small", "ring", ",", "8k", "!"]
        );
        assert!(words("  ").is_empty());
    }

    #[test]
    fn swapped_words_exchange_both_ways() {
        let pairs = [["left".to_string(), "right".to_string()]];
        assert_eq!(
            swap_words("a star to the Left of a ring, right?", &pairs).as_deref(),
            Some("a star to the right of a ring , left ?")
        );
        assert_eq!(swap_words("a star above a ring", &pairs), None);
    }

    #[test]
    fn substitutes_come_from_prompts_differing_in_one_word() {
        let s = Substitutes::mine(&[
            "a red circle",
            "a blue circle",
            "a red square, 8k",
            "a red square, 4k",
            "two red circles above a star",
        ]);
        assert_eq!(s.of("red").collect::<Vec<_>>(), vec!["blue"]);
        assert_eq!(s.of("blue").collect::<Vec<_>>(), vec!["red"]);
        assert_eq!(s.of("8k").collect::<Vec<_>>(), vec!["4k"]);
        // "circle" and "square" never stand in otherwise identical prompts
        assert_eq!(s.of("circle").count(), 0);
        assert_eq!(s.len(), 4);

        let mut rng = prng::Rng::new(1);
        let v = s.variants("a Red circle", 5, &mut rng);
        assert_eq!(v, vec!["a blue circle"]);
        let v = s.variants("a red square, 8k", 5, &mut rng);
        let mut sorted = v.clone();
        sorted.sort();
        assert_eq!(sorted, vec!["a blue square , 8k", "a red square , 4k"]);
        assert!(s.variants("a green star", 3, &mut rng).is_empty());
        // seeded: the same stream gives the same variants
        let draw = |seed| s.variants("a red square, 8k", 1, &mut prng::Rng::new(seed));
        assert_eq!(draw(7), draw(7));
    }
}
