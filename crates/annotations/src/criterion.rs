//! The judging criteria, one vocabulary for the whole workspace: what a rating is about, what a
//! head of the reward model scores, what an evaluation row reports. [`PerCriterion`] holds one
//! optional value per criterion (scores, labels, losses), so that every crate indexes its
//! per-head data the same way.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// One judging criterion. `Overall` is what rank tiers order by and the preference head is
/// trained on (pairwise comparisons); the others are Likert criteria, rated on a fixed scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criterion {
    /// Overall human preference (rank tiers, pairwise).
    Overall,
    /// Text-image alignment (Likert).
    Alignment,
    /// Image fidelity / quality (Likert).
    Fidelity,
    /// Harmlessness (Likert).
    Harmlessness,
}

/// A name that is not one of the four criteria.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown criterion `{0}` (expected overall, alignment, fidelity or harmlessness)")]
pub struct UnknownCriterion(pub String);

impl Criterion {
    /// Every criterion, in the canonical order used for display, iteration and
    /// [`Criterion::index`].
    pub const ALL: [Criterion; 4] = [
        Criterion::Overall,
        Criterion::Alignment,
        Criterion::Fidelity,
        Criterion::Harmlessness,
    ];

    /// The criteria rated on a Likert scale (every one but `Overall`).
    pub const LIKERT: [Criterion; 3] = [
        Criterion::Alignment,
        Criterion::Fidelity,
        Criterion::Harmlessness,
    ];

    /// Lower-case name, as used in files, config keys and reports.
    pub fn name(self) -> &'static str {
        match self {
            Criterion::Overall => "overall",
            Criterion::Alignment => "alignment",
            Criterion::Fidelity => "fidelity",
            Criterion::Harmlessness => "harmlessness",
        }
    }

    /// Position in [`Criterion::ALL`]: the slot of this criterion in a `[_; 4]` row.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether this criterion is rated on a Likert scale (every one but `Overall`).
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
    type Err = UnknownCriterion;

    /// Accepts the names in any case, with surrounding spaces, as people type them on a
    /// command line or in a config.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Criterion::ALL
            .into_iter()
            .find(|c| c.name() == wanted)
            .ok_or_else(|| UnknownCriterion(s.to_string()))
    }
}

/// One optional value per [`Criterion`].
///
/// Used for head scores, Likert labels and per-head losses, so that a missing head or a missing
/// label set is simply `None`.
#[derive(Debug, Clone, PartialEq)]
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

    /// The values in [`Criterion::ALL`] order, the `[Option<T>; 4]` row files and tables use.
    pub fn into_array(self) -> [Option<T>; 4] {
        [
            self.overall,
            self.alignment,
            self.fidelity,
            self.harmlessness,
        ]
    }

    /// From a row in [`Criterion::ALL`] order.
    pub fn from_array([overall, alignment, fidelity, harmlessness]: [Option<T>; 4]) -> Self {
        Self {
            overall,
            alignment,
            fidelity,
            harmlessness,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for c in Criterion::ALL {
            assert_eq!(c.name().parse::<Criterion>().unwrap(), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.name()));
            assert_eq!(serde_json::from_str::<Criterion>(&json).unwrap(), c);
            assert_eq!(Criterion::ALL[c.index()], c);
        }
        assert_eq!(
            " Fidelity ".parse::<Criterion>().unwrap(),
            Criterion::Fidelity
        );
        let err = "aesthetics".parse::<Criterion>().unwrap_err();
        assert!(err.to_string().contains("`aesthetics`"), "{err}");
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
        let row = doubled.clone().into_array();
        assert_eq!(row, [Some(2), None, Some(6), None]);
        assert_eq!(PerCriterion::from_array(row), doubled);
    }
}
