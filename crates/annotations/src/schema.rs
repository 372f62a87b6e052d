//! The canonical schema: criteria, rating scale, judgment rows, dataset metadata (`dataset.toml`)
//! and the grouped view ([`Index`]) that pairs, splits and training read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{AnnotationError, Criterion, PerCriterion};

/// The Likert scale a dataset's ratings use, inclusive. ImageRewardDB uses 1..7, TIFA 1..5; a
/// dataset keeps its own scale rather than being rescaled, so that statistics stay comparable
/// with the papers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    pub min: u8,
    pub max: u8,
}

impl Default for Scale {
    fn default() -> Self {
        Self { min: 1, max: 7 }
    }
}

impl Scale {
    pub fn levels(self) -> usize {
        (self.max - self.min) as usize + 1
    }
    pub fn contains(self, v: f32) -> bool {
        v.is_finite() && v >= self.min as f32 && v <= self.max as f32
    }
}

/// `MIN..MAX`, as `rewardlab import table --scale` takes it.
impl std::str::FromStr for Scale {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once("..").ok_or("expected MIN..MAX, e.g. 1..7")?;
        let bound = |t: &str| -> Result<u8, String> {
            t.trim()
                .parse()
                .map_err(|_| format!("`{t}` is not a number"))
        };
        let (min, max) = (bound(a)?, bound(b)?);
        if min >= max {
            return Err(format!("scale {min}..{max} is empty"));
        }
        Ok(Scale { min, max })
    }
}

/// Whether the dataset's images are on disk. ImageReward's `test.json` is released without its
/// images: such a dataset is still valid for analysis and for evaluating external scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImagesState {
    #[default]
    Present,
    Absent,
}

impl ImagesState {
    /// `Absent` when none of the listed images is on disk (an annotation-only release); otherwise
    /// `Present`, so that validation reports each image that is missing.
    pub fn detect<'a>(root: &Path, images: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        let found = images.into_iter().flatten().any(|p| root.join(p).is_file());
        if found {
            ImagesState::Present
        } else {
            ImagesState::Absent
        }
    }
}

/// `dataset.toml`: what a canonical dataset folder says about itself. An unknown key is an error
/// naming it: a misspelt `rank_tiers` or `[columns]` ignored would change what is read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetMeta {
    pub name: String,
    /// The format it was imported from (`synth`, `imagereward-test`, `hpd`, `tifa`, ...).
    pub source: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub scale: Scale,
    #[serde(default)]
    pub images: ImagesState,
    /// Number of rank tiers the source's annotators ranked into, when it is fixed: ImageRewardDB
    /// ranks into 5 tiers, so a prompt of 4 images may have rank 5. `None`: ranks run 1..n for a
    /// prompt of n images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank_tiers: Option<u32>,
    /// Canonical field -> the column it came from, so that problems name the user's own column.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub columns: HashMap<String, String>,
}

impl DatasetMeta {
    pub fn new(name: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            source: source.into(),
            description: String::new(),
            scale: Scale::default(),
            images: ImagesState::Present,
            rank_tiers: None,
            columns: HashMap::new(),
        }
    }

    pub fn read(path: &Path) -> Result<Self, AnnotationError> {
        let text = std::fs::read_to_string(path).map_err(|e| AnnotationError::io(path, e))?;
        let meta: Self = toml::from_str(&text).map_err(|e| AnnotationError::Meta {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if meta.scale.min >= meta.scale.max {
            return Err(AnnotationError::Meta {
                path: path.to_path_buf(),
                message: format!(
                    "scale min {} must be below max {}",
                    meta.scale.min, meta.scale.max
                ),
            });
        }
        Ok(meta)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("DatasetMeta always serialises")
    }

    /// The name of the source column behind a canonical field, for error messages.
    pub fn source_field(&self, canonical: &str) -> String {
        self.columns
            .get(canonical)
            .cloned()
            .unwrap_or_else(|| canonical.to_string())
    }
}

/// One judgment: one generation as seen by one annotator (or by the pooled annotators when the
/// source has no annotator ids). Prompt and generation fields repeat on each of their rows, as in
/// the flat `annotations.parquet`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub prompt_id: String,
    pub prompt: String,
    pub category: Option<String>,
    /// Image count the source declares for the prompt (ImageRewardDB's `image_amount_in_total`).
    pub expected_images: Option<u32>,
    pub generation_id: String,
    /// Image path relative to the dataset root.
    pub image: Option<String>,
    pub annotator: Option<String>,
    /// Rank tier within the prompt for this annotator: 1 = best, equal tiers are ties.
    pub rank: Option<u32>,
    /// Likert ratings, per criterion.
    pub ratings: PerCriterion<f32>,
    /// 1-based record number in the file it was read from (JSON entry, table row), for errors.
    pub source_row: usize,
}

impl Row {
    pub fn rating(&self, c: Criterion) -> Option<f32> {
        self.ratings[c]
    }
}

/// A dataset in memory: metadata, the file it was read from and its judgment rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub meta: DatasetMeta,
    /// The file the rows came from (named in every problem report).
    pub origin: PathBuf,
    /// The folder that image paths are relative to.
    pub root: PathBuf,
    pub rows: Vec<Row>,
    /// Values a reader could not parse (a rating that is not a number, ...), reported by
    /// validation like any other problem and quarantined with their rows.
    pub read_problems: Vec<ReadProblem>,
}

/// A value a reader could not turn into the canonical type.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadProblem {
    /// Index into [`Dataset::rows`].
    pub row: usize,
    /// Canonical field name.
    pub field: String,
    pub message: String,
}

/// A prompt and its generations, in first-seen order.
#[derive(Clone, Debug)]
pub struct PromptEntry {
    pub id: String,
    pub text: String,
    pub category: Option<String>,
    pub generations: Vec<usize>,
}

/// A generation and the rows that judge it.
#[derive(Clone, Debug)]
pub struct GenerationEntry {
    pub id: String,
    pub prompt: usize,
    pub image: Option<String>,
    pub rows: Vec<usize>,
}

/// The grouped view of a dataset's rows: prompts -> generations -> judgment rows.
#[derive(Clone, Debug, Default)]
pub struct Index {
    pub prompts: Vec<PromptEntry>,
    pub generations: Vec<GenerationEntry>,
    pub annotators: Vec<String>,
    pub prompt_by_id: HashMap<String, usize>,
    pub generation_by_id: HashMap<String, usize>,
}

impl Dataset {
    pub fn new(
        meta: DatasetMeta,
        origin: impl Into<PathBuf>,
        root: impl Into<PathBuf>,
        rows: Vec<Row>,
    ) -> Self {
        Self {
            meta,
            origin: origin.into(),
            root: root.into(),
            rows,
            read_problems: Vec::new(),
        }
    }

    /// Groups rows by prompt and generation (first occurrence wins for repeated fields; validation
    /// reports any disagreement).
    pub fn index(&self) -> Index {
        let mut ix = Index::default();
        let mut annotators: HashMap<&str, ()> = HashMap::new();
        // Rows usually come prompt by prompt: the previous row's prompt is checked first, and
        // ids are cloned only for new entries (a million rows would otherwise hash and clone
        // each id once more).
        let mut last_prompt: Option<usize> = None;
        for (r, row) in self.rows.iter().enumerate() {
            let p = match last_prompt {
                Some(p) if ix.prompts[p].id == row.prompt_id => p,
                _ => match ix.prompt_by_id.get(&row.prompt_id) {
                    Some(&p) => p,
                    None => {
                        ix.prompts.push(PromptEntry {
                            id: row.prompt_id.clone(),
                            text: row.prompt.clone(),
                            category: row.category.clone(),
                            generations: Vec::new(),
                        });
                        let p = ix.prompts.len() - 1;
                        ix.prompt_by_id.insert(row.prompt_id.clone(), p);
                        p
                    }
                },
            };
            last_prompt = Some(p);
            let g = match ix.generation_by_id.get(&row.generation_id) {
                Some(&g) => g,
                None => {
                    ix.generations.push(GenerationEntry {
                        id: row.generation_id.clone(),
                        prompt: p,
                        image: row.image.clone(),
                        rows: Vec::new(),
                    });
                    let g = ix.generations.len() - 1;
                    ix.generation_by_id.insert(row.generation_id.clone(), g);
                    ix.prompts[p].generations.push(g);
                    g
                }
            };
            ix.generations[g].rows.push(r);
            if let Some(a) = &row.annotator
                && annotators.insert(a, ()).is_none()
            {
                ix.annotators.push(a.clone());
            }
        }
        ix
    }

    /// Mean rating of a generation over its annotators, if any rated it.
    pub fn mean_rating(&self, generation: &GenerationEntry, c: Criterion) -> Option<f32> {
        let vals: Vec<f32> = generation
            .rows
            .iter()
            .filter_map(|&r| self.rows[r].rating(c))
            .collect();
        (!vals.is_empty()).then(|| vals.iter().sum::<f32>() / vals.len() as f32)
    }

    /// Number of rows carrying a rating for each criterion.
    pub fn rating_counts(&self) -> [usize; 4] {
        let mut n = [0; 4];
        for row in &self.rows {
            for c in Criterion::ALL {
                n[c.index()] += row.rating(c).is_some() as usize;
            }
        }
        n
    }

    /// The rows of the given prompts only (prompt ids), keeping the order.
    pub fn subset(&self, prompt_ids: &std::collections::HashSet<&str>) -> Dataset {
        let rows = self
            .rows
            .iter()
            .filter(|r| prompt_ids.contains(r.prompt_id.as_str()))
            .cloned()
            .collect();
        Dataset::new(
            self.meta.clone(),
            self.origin.clone(),
            self.root.clone(),
            rows,
        )
    }

    /// Absolute path of an image given relative to the dataset root.
    pub fn image_path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub fn row(prompt: &str, generation: &str, annotator: Option<&str>, rank: Option<u32>) -> Row {
        Row {
            prompt_id: prompt.into(),
            prompt: format!("text of {prompt}"),
            category: None,
            expected_images: None,
            generation_id: generation.into(),
            image: None,
            annotator: annotator.map(Into::into),
            rank,
            ratings: crate::PerCriterion::default(),
            source_row: 0,
        }
    }

    pub fn dataset(mut rows: Vec<Row>) -> Dataset {
        for (i, r) in rows.iter_mut().enumerate() {
            r.source_row = i + 1;
        }
        let mut meta = DatasetMeta::new("test", "test");
        meta.images = ImagesState::Absent;
        Dataset::new(meta, "test.json", ".", rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_parse_from_min_dot_dot_max() {
        assert_eq!("1..5".parse::<Scale>(), Ok(Scale { min: 1, max: 5 }));
        assert_eq!(" 0 .. 10".parse::<Scale>(), Ok(Scale { min: 0, max: 10 }));
        for (bad, says) in [("1-7", "MIN..MAX"), ("a..7", "`a`"), ("7..7", "empty")] {
            let err = bad.parse::<Scale>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
