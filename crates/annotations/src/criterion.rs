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

/// One optional value per [`Criterion`]: the one per-head container of the workspace (ratings of
/// a judgment row, head scores and losses, Likert labels, latents of a synthetic world), indexed
/// by criterion (`values[Criterion::Fidelity]`).
///
/// In JSON it is an object of the present values by criterion name, in [`Criterion::ALL`] order
/// (`{"overall": 1.2, "fidelity": 4.0}`); files that store rows positionally use
/// [`into_array`](Self::into_array) and [`from_array`](Self::from_array).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PerCriterion<T>([Option<T>; 4]);

impl<T> Default for PerCriterion<T> {
    fn default() -> Self {
        Self([None, None, None, None])
    }
}

impl<T> std::ops::Index<Criterion> for PerCriterion<T> {
    type Output = Option<T>;
    fn index(&self, criterion: Criterion) -> &Option<T> {
        &self.0[criterion.index()]
    }
}

impl<T> std::ops::IndexMut<Criterion> for PerCriterion<T> {
    fn index_mut(&mut self, criterion: Criterion) -> &mut Option<T> {
        &mut self.0[criterion.index()]
    }
}

impl<T> PerCriterion<T> {
    /// The value for `criterion`, if any.
    pub fn get(&self, criterion: Criterion) -> Option<&T> {
        self[criterion].as_ref()
    }

    /// The slot for `criterion`, to fill, replace or take a value.
    pub fn slot_mut(&mut self, criterion: Criterion) -> &mut Option<T> {
        &mut self[criterion]
    }

    /// Sets the value for `criterion`, returning the previous one.
    pub fn insert(&mut self, criterion: Criterion, value: T) -> Option<T> {
        self[criterion].replace(value)
    }

    /// The present values with their criterion, in [`Criterion::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Criterion, &T)> {
        Criterion::ALL
            .into_iter()
            .filter_map(move |c| self.get(c).map(|v| (c, v)))
    }

    /// Whether no criterion has a value.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// Applies `f` to every present value.
    pub fn map<U>(self, mut f: impl FnMut(Criterion, T) -> U) -> PerCriterion<U> {
        let mut out = PerCriterion::default();
        for (c, v) in Criterion::ALL.into_iter().zip(self.0) {
            out[c] = v.map(|v| f(c, v));
        }
        out
    }

    /// References to the values, in the same slots.
    pub fn as_ref(&self) -> PerCriterion<&T> {
        PerCriterion(self.0.each_ref().map(Option::as_ref))
    }

    /// The values in [`Criterion::ALL`] order, the `[Option<T>; 4]` row files and tables use.
    pub fn into_array(self) -> [Option<T>; 4] {
        self.0
    }

    /// From a row in [`Criterion::ALL`] order.
    pub fn from_array(row: [Option<T>; 4]) -> Self {
        Self(row)
    }

    /// A value for every criterion, from `f`.
    pub fn from_fn(mut f: impl FnMut(Criterion) -> Option<T>) -> Self {
        Self(Criterion::ALL.map(&mut f))
    }
}

impl<T: Serialize> Serialize for PerCriterion<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.iter().count()))?;
        for (c, v) in self.iter() {
            map.serialize_entry(c.name(), v)?;
        }
        map.end()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for PerCriterion<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let by_name = std::collections::BTreeMap::<Criterion, T>::deserialize(d)?;
        let mut out = PerCriterion::default();
        for (c, v) in by_name {
            out[c] = Some(v);
        }
        Ok(out)
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
        let row = doubled.into_array();
        assert_eq!(row, [Some(2), None, Some(6), None]);
        assert_eq!(PerCriterion::from_array(row), doubled);
    }

    #[test]
    fn per_criterion_indexes_by_criterion_and_is_a_json_object_by_name() {
        let mut p = PerCriterion::from_fn(|c| (c != Criterion::Alignment).then_some(c.index()));
        assert_eq!(p[Criterion::Fidelity], Some(2));
        p[Criterion::Overall] = None;
        assert_eq!(p.into_array(), [None, None, Some(2), Some(3)]);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"fidelity":2,"harmlessness":3}"#);
        assert_eq!(
            serde_json::from_str::<PerCriterion<usize>>(&json).unwrap(),
            p
        );
        assert!(serde_json::from_str::<PerCriterion<usize>>(r#"{"beauty":1}"#).is_err());
        assert!(PerCriterion::<u8>::default().is_empty() && !p.is_empty());
        assert_eq!(p.as_ref().get(Criterion::Harmlessness), Some(&&3));
    }
}
