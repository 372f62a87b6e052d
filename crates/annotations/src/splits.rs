//! Prompt-level splits: train / validation / test by ratios and a seed, optionally stratified
//! by category. A prompt never lands in two splits, so no image of a held-out prompt is seen in
//! training, and a split depends only on the prompt ids, the ratios and the seed: not on row order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Index;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

impl std::str::FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "train" => Ok(Split::Train),
            "validation" | "valid" | "val" => Ok(Split::Validation),
            "test" => Ok(Split::Test),
            _ => Err(format!(
                "unknown split `{s}` (expected train, validation or test)"
            )),
        }
    }
}

/// How to split. Ratios are normalised, so `0.8/0.1/0.1` and `8/1/1` mean the same.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitSpec {
    pub train: f64,
    pub validation: f64,
    pub test: f64,
    pub seed: u64,
    /// Split each category separately, so each split has the category mix of the whole.
    pub stratify: bool,
}

impl Default for SplitSpec {
    fn default() -> Self {
        Self {
            train: 0.8,
            validation: 0.1,
            test: 0.1,
            seed: 0,
            stratify: true,
        }
    }
}

/// The split of every prompt, indexed like [`Index::prompts`].
///
/// # Panics
/// If all ratios are zero (configs are checked before they get here).
pub fn split_prompts(ix: &Index, spec: &SplitSpec) -> Vec<Split> {
    let total = spec.train + spec.validation + spec.test;
    assert!(total > 0.0, "split ratios must not all be zero");
    let mut groups: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (i, p) in ix.prompts.iter().enumerate() {
        let key = if spec.stratify {
            p.category.as_deref()
        } else {
            None
        };
        groups.entry(key).or_default().push(i);
    }
    // Sizes come from cumulative rounding across the groups, so the totals match the ratios even
    // when stratifying by many small categories (each of which would round to zero on its own).
    let mut out = vec![Split::Train; ix.prompts.len()];
    let n_all = ix.prompts.len() as f64;
    let (mut seen, mut test_before, mut val_before) = (0usize, 0usize, 0usize);
    for (key, mut members) in groups {
        members.sort_by(|&a, &b| ix.prompts[a].id.cmp(&ix.prompts[b].id));
        let mut rng = prng::Rng::derive(spec.seed, &format!("split/{}", key.unwrap_or("")));
        rng.shuffle(&mut members);
        seen += members.len();
        let share = seen as f64 / n_all;
        let test_after = (n_all * share * spec.test / total).round() as usize;
        let val_after = (n_all * share * spec.validation / total).round() as usize;
        let n_test = test_after - test_before;
        let n_val = (val_after - val_before).min(members.len() - n_test.min(members.len()));
        (test_before, val_before) = (test_after, val_after);
        for (k, &p) in members.iter().enumerate() {
            out[p] = if k < n_test {
                Split::Test
            } else if k < n_test + n_val {
                Split::Validation
            } else {
                Split::Train
            };
        }
    }
    out
}

/// The prompts of `split` (indices into [`Index::prompts`], in index order).
pub fn prompts_of(ix: &Index, spec: &SplitSpec, split: Split) -> Vec<usize> {
    let splits = split_prompts(ix, spec);
    (0..ix.prompts.len())
        .filter(|&p| splits[p] == split)
        .collect()
}

/// The prompts an evaluation reads: one split, or every prompt (`all`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    All,
    Split(Split),
}

impl std::str::FromStr for Selection {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "all" {
            return Ok(Selection::All);
        }
        s.parse()
            .map(Selection::Split)
            .map_err(|e| format!("{e}, or all"))
    }
}

impl Selection {
    /// The selected prompts, in index order.
    pub fn prompts(self, ix: &Index, spec: &SplitSpec) -> Vec<usize> {
        match self {
            Selection::All => (0..ix.prompts.len()).collect(),
            Selection::Split(split) => prompts_of(ix, spec, split),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tests_support::{dataset, row};

    fn world(n: usize) -> crate::Dataset {
        let mut rows = Vec::new();
        for p in 0..n {
            for g in 0..2 {
                let mut r = row(
                    &format!("p{p:03}"),
                    &format!("p{p:03}-{g}"),
                    None,
                    Some(g + 1),
                );
                r.category = Some(if p % 3 == 0 { "counting" } else { "spatial" }.into());
                rows.push(r);
            }
        }
        dataset(rows)
    }

    #[test]
    fn splits_are_disjoint_sized_and_deterministic() {
        let ds = world(300);
        let ix = ds.index();
        let spec = SplitSpec::default();
        let a = split_prompts(&ix, &spec);
        assert_eq!(a, split_prompts(&ix, &spec));
        let count = |s| a.iter().filter(|&&x| x == s).count();
        assert_eq!(count(Split::Test), 30);
        assert_eq!(count(Split::Validation), 30);
        assert_eq!(count(Split::Train), 240);
        let b = split_prompts(
            &ix,
            &SplitSpec {
                seed: 1,
                ..spec.clone()
            },
        );
        assert_ne!(a, b);
    }

    #[test]
    fn stratified_split_keeps_the_category_mix() {
        let ds = world(300);
        let ix = ds.index();
        let a = split_prompts(&ix, &SplitSpec::default());
        let counting_in_test = ix
            .prompts
            .iter()
            .zip(&a)
            .filter(|(p, s)| **s == Split::Test && p.category.as_deref() == Some("counting"))
            .count();
        assert_eq!(counting_in_test, 10);
    }

    #[test]
    fn many_small_categories_still_fill_every_split() {
        let mut ds = world(100);
        for (i, r) in ds.rows.iter_mut().enumerate() {
            r.category = Some(format!("c{}", i / 2 / 3)); // 34 categories of 3 prompts
        }
        let ix = ds.index();
        let a = split_prompts(&ix, &SplitSpec::default());
        assert_eq!(a.iter().filter(|&&s| s == Split::Test).count(), 10);
        assert_eq!(a.iter().filter(|&&s| s == Split::Validation).count(), 10);
    }

    #[test]
    fn split_does_not_depend_on_row_order() {
        let ds = world(50);
        let mut reversed = ds.clone();
        reversed.rows.reverse();
        let (ia, ib) = (ds.index(), reversed.index());
        let a = split_prompts(&ia, &SplitSpec::default());
        let b = split_prompts(&ib, &SplitSpec::default());
        for (i, p) in ia.prompts.iter().enumerate() {
            assert_eq!(a[i], b[ib.prompt_by_id[&p.id]], "{}", p.id);
        }
    }

    #[test]
    fn selections_partition_the_prompts() {
        let ds = world(40);
        let ix = ds.index();
        let spec = SplitSpec::default();
        let mut seen: Vec<usize> = ["train", "validation", "test"]
            .iter()
            .flat_map(|s| s.parse::<Selection>().unwrap().prompts(&ix, &spec))
            .collect();
        seen.sort_unstable();
        assert_eq!(
            seen,
            "all".parse::<Selection>().unwrap().prompts(&ix, &spec)
        );
        assert_eq!(seen, (0..40).collect::<Vec<_>>());
        let err = "tset".parse::<Selection>().unwrap_err();
        assert!(err.contains("tset") && err.ends_with("or all"), "{err}");
    }
}
