//! The analysis' view of a dataset as polars frames: one row per judgment with integer ids (so
//! that the joins of pair statistics compare integers, not strings), one row per prompt, and one
//! row per prompt token (for prompt effects). Built once from the canonical [`Dataset`]; every
//! statistic is a lazy query over these frames.

use annotations::{Criterion, Dataset, Index, Scale};
use polars::prelude::*;

use crate::error::{Context, Result};

/// Annotator id of judgments without an annotator (`test.json`, ImageRewardDB): one anonymous
/// ranking per prompt. Agreement statistics leave these rows out.
pub const ANONYMOUS: u32 = u32::MAX;

/// Label used for a missing category.
pub const NO_CATEGORY: &str = "(none)";

/// Function words that do not make an n-gram on their own: an n-gram that starts or ends with
/// one ("of a", "the") says nothing about a prompt's content or style.
pub const STOPWORDS: &[&str] = &[
    "a", "an", "the", "of", "in", "on", "at", "with", "and", "or", "to", "for", "by", "from", "is",
    "are", "be", "its", "it", "as", "into", "this", "that", "his", "her", "their", "very",
];

/// The frames and what the dataset holds.
#[derive(Clone, Debug)]
pub struct Frames {
    /// Ordered by `p`, then `g`: `p` (prompt index), `g` (generation index, numbered prompt by
    /// prompt), `a` (annotator index, [`ANONYMOUS`] when the
    /// row has none), `category` (text, [`NO_CATEGORY`] when null), `rank` and one column per
    /// criterion (`overall`, ...; all `f64`, null where missing or not finite).
    pub judgments: DataFrame,
    /// `p`, `prompt_id`, `prompt`, `category`, `words` (token count), `chars`.
    pub prompts: DataFrame,
    /// `p`, `token`, `stop` (a stop word), in the prompt's word order.
    pub tokens: DataFrame,
    /// Annotator names; `a` indexes this list.
    pub annotators: Vec<String>,
    /// Criteria with at least one rating, in [`Criterion::ALL`] order.
    pub rated: Vec<Criterion>,
    /// Whether any judgment has a rank tier.
    pub ranked: bool,
    pub scale: Scale,
}

/// Lowercase words of a prompt: split on anything but letters, digits, `-` and `'` (which are
/// then trimmed from the ends), so that "8K," and "8k" are one word and "trending on artstation"
/// three.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .map(|w| w.trim_matches(|c| c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A term as the prompt-effect tables match it: its words joined by single spaces.
pub fn normalize_term(term: &str) -> String {
    words(term).join(" ")
}

impl Frames {
    pub fn new(ds: &Dataset, ix: &Index) -> Result<Self> {
        let n = ds.rows.len();
        let mut p = Vec::with_capacity(n);
        let mut g = Vec::with_capacity(n);
        let mut a = Vec::with_capacity(n);
        let mut category = Vec::with_capacity(n);
        let mut rank = Vec::with_capacity(n);
        let mut ratings: [Vec<Option<f64>>; 4] = std::array::from_fn(|_| Vec::with_capacity(n));
        let annotator_index: std::collections::HashMap<&str, u32> = ix
            .annotators
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i as u32))
            .collect();
        let categories: Vec<&str> = ix
            .prompts
            .iter()
            .map(|e| e.category.as_deref().unwrap_or(NO_CATEGORY))
            .collect();
        // Generations numbered prompt by prompt, so that the judgment rows come ordered by
        // prompt and then generation: the agreement statistics read a unit's (or a prompt's)
        // rows as one run, without sorting.
        let ordered = ix
            .prompts
            .iter()
            .flat_map(|e| e.generations.iter().copied());
        for (gi, gen_entry) in ordered.map(|g| &ix.generations[g]).enumerate() {
            for &r in &gen_entry.rows {
                let row = &ds.rows[r];
                p.push(gen_entry.prompt as u32);
                g.push(gi as u32);
                a.push(
                    row.annotator
                        .as_deref()
                        .and_then(|s| annotator_index.get(s).copied())
                        .unwrap_or(ANONYMOUS),
                );
                category.push(categories[gen_entry.prompt]);
                // Rank 0 is invalid (validation reports it) and takes no part, as in `eval`.
                rank.push(row.rank.filter(|&r| r > 0).map(f64::from));
                for c in Criterion::ALL {
                    ratings[c.index()].push(row.rating(c).filter(|v| v.is_finite()).map(f64::from));
                }
            }
        }
        let rated: Vec<Criterion> = Criterion::ALL
            .into_iter()
            .filter(|c| ratings[c.index()].iter().any(Option::is_some))
            .collect();
        let ranked = rank.iter().any(Option::is_some);
        let [overall, alignment, fidelity, harmlessness] = ratings;
        let judgments = df!(
            "p" => p,
            "g" => g,
            "a" => a,
            "category" => category,
            "rank" => rank,
            "overall" => overall,
            "alignment" => alignment,
            "fidelity" => fidelity,
            "harmlessness" => harmlessness,
        )
        .ctx("building the judgment table")?;

        let mut tp = Vec::new();
        let mut tt = Vec::new();
        let mut ts = Vec::new();
        let mut word_counts = Vec::with_capacity(ix.prompts.len());
        for (pi, e) in ix.prompts.iter().enumerate() {
            let w = words(&e.text);
            word_counts.push(w.len() as u32);
            for t in w {
                tp.push(pi as u32);
                ts.push(STOPWORDS.contains(&t.as_str()));
                tt.push(t);
            }
        }
        let prompts = df!(
            "p" => (0..ix.prompts.len() as u32).collect::<Vec<_>>(),
            "prompt_id" => ix.prompts.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            "prompt" => ix.prompts.iter().map(|e| e.text.as_str()).collect::<Vec<_>>(),
            "category" => categories,
            "words" => word_counts,
            "chars" => ix.prompts.iter().map(|e| e.text.chars().count() as u32).collect::<Vec<_>>(),
        )
        .ctx("building the prompt table")?;
        let tokens = df!("p" => tp, "token" => tt, "stop" => ts).ctx("building the token table")?;
        Ok(Self {
            judgments,
            prompts,
            tokens,
            annotators: ix.annotators.clone(),
            rated,
            ranked,
            scale: ds.meta.scale,
        })
    }

    /// Whether any judgment names its annotator.
    pub fn has_annotators(&self) -> bool {
        !self.annotators.is_empty()
    }

    pub fn lazy(&self) -> LazyFrame {
        self.judgments.clone().lazy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercase_and_trimmed() {
        assert_eq!(
            words("A cat, 8K, Trending on ArtStation -- highly-detailed!"),
            vec![
                "a",
                "cat",
                "8k",
                "trending",
                "on",
                "artstation",
                "highly-detailed"
            ]
        );
        assert_eq!(normalize_term("  Highly   Detailed "), "highly detailed");
    }
}
