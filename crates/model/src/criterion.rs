//! The judging criteria a reward model can score, and a small container holding one optional
//! value per criterion (scores, labels, losses), so the heads, the losses and the training loop
//! all index their per-head data the same way.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// One judging criterion, i.e. one head of the reward model.
///
/// `Overall` is the preference head trained from pairwise comparisons; the others are Likert
/// heads trained from ratings on a fixed scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Overall human preference (pairwise).
    Overall,
    /// Text-image alignment (Likert).
    Alignment,
    /// Image fidelity / quality (Likert).
    Fidelity,
    /// Harmlessness (Likert).
    Harmlessness,
}

impl Criterion {
    /// Every criterion, in the canonical order used for display and iteration.
    pub const ALL: [Criterion; 4] = [
        Criterion::Overall,
        Criterion::Alignment,
        Criterion::Fidelity,
        Criterion::Harmlessness,
    ];

    /// The criteria whose heads are trained from Likert ratings.
    pub const LIKERT: [Criterion; 3] = [
        Criterion::Alignment,
        Criterion::Fidelity,
        Criterion::Harmlessness,
    ];

    /// Lower-case name, as used in config files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Criterion::Overall => "overall",
            Criterion::Alignment => "alignment",
            Criterion::Fidelity => "fidelity",
            Criterion::Harmlessness => "harmlessness",
        }
    }

    /// Whether this head is trained from Likert ratings (every criterion but `Overall`).
    pub fn is_likert(self) -> bool {
        self != Criterion::Overall
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Criterion {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Criterion::ALL
            .into_iter()
            .find(|c| c.name() == wanted)
            .ok_or_else(|| ModelError::UnknownName {
                kind: "criterion",
                value: s.to_string(),
                expected: Criterion::ALL.map(Criterion::name).join(", "),
            })
    }
}

/// One optional value per [`Criterion`].
///
/// Used for head scores ([`RewardOutput`](crate::RewardOutput)), Likert labels and per-head
/// losses, so that a missing head or a missing label set is simply `None`.
#[derive(Debug, Clone)]
pub struct PerCriterion<T> {
    /// Value for [`Criterion::Overall`].
    pub overall: Option<T>,
    /// Value for [`Criterion::Alignment`].
    pub alignment: Option<T>,
    /// Value for [`Criterion::Fidelity`].
    pub fidelity: Option<T>,
    /// Value for [`Criterion::Harmlessness`].
    pub harmlessness: Option<T>,
}

impl<T> Default for PerCriterion<T> {
    fn default() -> Self {
        Self {
            overall: None,
            alignment: None,
            fidelity: None,
            harmlessness: None,
        }
    }
}

impl<T> PerCriterion<T> {
    /// The value for `criterion`, if any.
    pub fn get(&self, criterion: Criterion) -> Option<&T> {
        match criterion {
            Criterion::Overall => self.overall.as_ref(),
            Criterion::Alignment => self.alignment.as_ref(),
            Criterion::Fidelity => self.fidelity.as_ref(),
            Criterion::Harmlessness => self.harmlessness.as_ref(),
        }
    }

    /// The slot for `criterion`, to fill, replace or take a value.
    pub fn slot_mut(&mut self, criterion: Criterion) -> &mut Option<T> {
        match criterion {
            Criterion::Overall => &mut self.overall,
            Criterion::Alignment => &mut self.alignment,
            Criterion::Fidelity => &mut self.fidelity,
            Criterion::Harmlessness => &mut self.harmlessness,
        }
    }

    /// Sets the value for `criterion`, returning the previous one.
    pub fn insert(&mut self, criterion: Criterion, value: T) -> Option<T> {
        self.slot_mut(criterion).replace(value)
    }

    /// The present values with their criterion, in [`Criterion::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Criterion, &T)> {
        Criterion::ALL
            .into_iter()
            .filter_map(move |c| self.get(c).map(|v| (c, v)))
    }

    /// Applies `f` to every present value.
    pub fn map<U>(self, mut f: impl FnMut(Criterion, T) -> U) -> PerCriterion<U> {
        PerCriterion {
            overall: self.overall.map(|v| f(Criterion::Overall, v)),
            alignment: self.alignment.map(|v| f(Criterion::Alignment, v)),
            fidelity: self.fidelity.map(|v| f(Criterion::Fidelity, v)),
            harmlessness: self.harmlessness.map(|v| f(Criterion::Harmlessness, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Criterion::ALL {
            assert_eq!(c.name().parse::<Criterion>().unwrap(), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.name()));
        }
        assert_eq!(
            " Fidelity ".parse::<Criterion>().unwrap(),
            Criterion::Fidelity
        );
        assert!("aesthetics".parse::<Criterion>().is_err());
        assert!(!Criterion::Overall.is_likert());
        assert!(Criterion::LIKERT.iter().all(|c| c.is_likert()));
    }

    #[test]
    fn per_criterion_slots() {
        let mut p = PerCriterion::default();
        assert!(p.insert(Criterion::Fidelity, 2).is_none());
        p.insert(Criterion::Overall, 1);
        assert_eq!(p.insert(Criterion::Fidelity, 3), Some(2));
        let got: Vec<_> = p.iter().map(|(c, v)| (c, *v)).collect();
        assert_eq!(got, vec![(Criterion::Overall, 1), (Criterion::Fidelity, 3)]);
        let doubled = p.map(|_, v| v * 2);
        assert_eq!(doubled.get(Criterion::Fidelity), Some(&6));
        assert_eq!(doubled.get(Criterion::Alignment), None);
    }
}
