//! Validation of a dataset: every problem found in one pass, each naming the file, the 1-based
//! row and the field, so a researcher can fix the source in one go. [`quarantine`] drops the
//! offending rows instead, keeping each with its reason, for `--skip-invalid`.
//!
//! Rules: ratings outside the declared scale or NaN; duplicate or conflicting ids; a rank outside
//! 1..n for its prompt and annotator; a prompt whose image count disagrees with the declared
//! count; a prompt with fewer than two images; empty prompt text or ids; images that are missing,
//! empty or undecodable (when the dataset declares its images present).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

use crate::{Criterion, Dataset, ImagesState, Row};

/// One thing wrong with the data.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    pub file: String,
    /// 1-based record number in `file`.
    pub row: Option<usize>,
    pub field: String,
    pub message: String,
    /// Row indices (into `Dataset::rows`) that this problem makes unusable.
    #[serde(skip)]
    pub rows: Vec<usize>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.row {
            Some(r) => write!(
                f,
                "{}: row {}: field `{}`: {}",
                self.file, r, self.field, self.message
            ),
            None => write!(f, "{}: field `{}`: {}", self.file, self.field, self.message),
        }
    }
}

/// What to check besides the annotations themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checks {
    /// Open and decode every image (PNG, JPEG, WebP). Skipped for datasets without images.
    pub images: bool,
}

impl Default for Checks {
    fn default() -> Self {
        Self { images: true }
    }
}

struct Collector<'a> {
    ds: &'a Dataset,
    file: String,
    problems: Vec<Problem>,
}

impl Collector<'_> {
    fn push(&mut self, rows: Vec<usize>, field: &str, message: String) {
        let row = rows.first().map(|&r| self.ds.rows[r].source_row);
        self.problems.push(Problem {
            file: self.file.clone(),
            row,
            field: self.ds.meta.source_field(field),
            message,
            rows,
        });
    }
}

/// All problems of a dataset, in row order within each rule.
pub fn validate(ds: &Dataset, checks: Checks) -> Vec<Problem> {
    let mut c = Collector {
        ds,
        file: ds.origin.display().to_string(),
        problems: Vec::new(),
    };
    for p in &ds.read_problems {
        c.push(vec![p.row], &p.field, p.message.clone());
    }
    if ds.rows.is_empty() && ds.read_problems.is_empty() {
        c.push(
            Vec::new(),
            "prompt",
            "no rows: the file holds no annotations to import or train on".into(),
        );
    }
    check_rows(&mut c);
    check_ids(&mut c);
    let ix = ds.index();
    check_prompts(&mut c, &ix);
    check_ranks(&mut c, &ix);
    if checks.images && ds.meta.images == ImagesState::Present {
        check_images(&mut c, &ix);
    }
    c.problems
}

fn check_rows(c: &mut Collector) {
    let scale = c.ds.meta.scale;
    for (i, row) in c.ds.rows.iter().enumerate() {
        if row.prompt_id.trim().is_empty() {
            c.push(vec![i], "prompt_id", "empty prompt id".into());
        }
        if row.generation_id.trim().is_empty() {
            c.push(vec![i], "generation_id", "empty generation id".into());
        }
        if row.prompt.trim().is_empty() {
            c.push(vec![i], "prompt", "empty prompt text".into());
        }
        for crit in Criterion::ALL {
            if let Some(v) = row.rating(crit)
                && !scale.contains(v)
            {
                c.push(
                    vec![i],
                    crit.name(),
                    format!(
                        "rating {v} is outside the declared scale {}..{}",
                        scale.min, scale.max
                    ),
                );
            }
        }
        if let Some(img) = &row.image
            && (img.is_empty()
                || Path::new(img).is_absolute()
                || img.split(['/', '\\']).any(|s| s == ".."))
        {
            c.push(
                vec![i],
                "image",
                format!(
                    "image path `{img}` must be relative to the dataset folder and stay inside it"
                ),
            );
        }
    }
}

fn check_ids(c: &mut Collector) {
    let rows = &c.ds.rows;
    let mut judgment: HashMap<(&str, Option<&str>), usize> = HashMap::new();
    let mut generation: HashMap<&str, usize> = HashMap::new();
    let mut prompt: HashMap<&str, usize> = HashMap::new();
    let mut found = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let key = (row.generation_id.as_str(), row.annotator.as_deref());
        if let Some(&first) = judgment.get(&key) {
            let who = row
                .annotator
                .as_deref()
                .map(|a| format!(" by annotator `{a}`"))
                .unwrap_or_default();
            found.push((
                i,
                "generation_id",
                format!(
                    "duplicate id: generation `{}`{who} already judged in row {}",
                    row.generation_id, rows[first].source_row
                ),
            ));
        } else {
            judgment.insert(key, i);
        }
        match generation.get(row.generation_id.as_str()) {
            Some(&first) if rows[first].prompt_id != row.prompt_id => found.push((
                i,
                "prompt_id",
                format!(
                    "generation `{}` belongs to prompt `{}` in row {} but to `{}` here",
                    row.generation_id, rows[first].prompt_id, rows[first].source_row, row.prompt_id
                ),
            )),
            Some(&first) if rows[first].image != row.image => found.push((
                i,
                "image",
                format!(
                    "generation `{}` has image {:?} in row {} but {:?} here",
                    row.generation_id, rows[first].image, rows[first].source_row, row.image
                ),
            )),
            Some(_) => {}
            None => {
                generation.insert(&row.generation_id, i);
            }
        }
        match prompt.get(row.prompt_id.as_str()) {
            Some(&first) if rows[first].prompt != row.prompt => found.push((
                i,
                "prompt",
                format!(
                    "prompt `{}` has a different text in row {}",
                    row.prompt_id, rows[first].source_row
                ),
            )),
            Some(_) => {}
            None => {
                prompt.insert(&row.prompt_id, i);
            }
        }
    }
    for (i, field, msg) in found {
        c.push(vec![i], field, msg);
    }
}

fn check_prompts(c: &mut Collector, ix: &crate::Index) {
    check_min_images(c, ix);
    for p in &ix.prompts {
        let rows = prompt_rows(ix, p);
        let n = p.generations.len();
        let declared = rows.iter().find_map(|&r| c.ds.rows[r].expected_images);
        if let Some(expected) = declared
            && expected as usize != n
        {
            c.push(
                rows,
                "expected_images",
                format!("prompt `{}` declares {expected} images but has {n}", p.id),
            );
        }
    }
}

/// Every row of a prompt, in row order.
fn prompt_rows(ix: &crate::Index, p: &crate::schema::PromptEntry) -> Vec<usize> {
    let mut rows: Vec<usize> = p
        .generations
        .iter()
        .flat_map(|&g| ix.generations[g].rows.iter().copied())
        .collect();
    rows.sort_unstable();
    rows
}

/// A prompt needs two images to be compared.
fn check_min_images(c: &mut Collector, ix: &crate::Index) {
    for p in &ix.prompts {
        let n = p.generations.len();
        if n < 2 {
            let rows = prompt_rows(ix, p);
            c.push(
                rows,
                "generation_id",
                format!(
                    "prompt `{}` has {n} image(s); at least two are needed to compare",
                    p.id
                ),
            );
        }
    }
}

fn check_ranks(c: &mut Collector, ix: &crate::Index) {
    for p in &ix.prompts {
        let mut groups: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
        for &g in &p.generations {
            for &r in &ix.generations[g].rows {
                let row = &c.ds.rows[r];
                if row.rank.is_none() {
                    continue;
                }
                let a = row.annotator.as_deref();
                match groups.iter_mut().find(|(ga, _)| *ga == a) {
                    Some((_, v)) => v.push(r),
                    None => groups.push((a, vec![r])),
                }
            }
        }
        for (annotator, rows) in groups {
            let n = rows
                .iter()
                .map(|&r| &c.ds.rows[r].generation_id)
                .collect::<HashSet<_>>()
                .len() as u32;
            let limit = n.max(c.ds.meta.rank_tiers.unwrap_or(0));
            for r in rows {
                let rank = c.ds.rows[r].rank.expect("filtered above");
                if rank < 1 || rank > limit {
                    let who = annotator
                        .map(|a| format!(" for annotator `{a}`"))
                        .unwrap_or_default();
                    let tiers =
                        c.ds.meta
                            .rank_tiers
                            .map(|t| format!(", ranked into {t} tiers"))
                            .unwrap_or_default();
                    c.push(vec![r], "rank", format!("rank {rank} is outside 1..{limit} (prompt `{}` has {n} ranked images{who}{tiers})", p.id));
                }
            }
        }
    }
}

fn check_images(c: &mut Collector, ix: &crate::Index) {
    for g in &ix.generations {
        let rows = g.rows.clone();
        let Some(rel) = &g.image else {
            c.push(rows, "image", format!("generation `{}` has no image path, but the dataset declares its images present", g.id));
            continue;
        };
        if let Err(msg) = check_image_file(&c.ds.image_path(rel)) {
            c.push(rows, "image", format!("{rel}: {msg}"));
        }
    }
}

/// Opens and decodes one image; the error says what is wrong with it.
pub fn check_image_file(path: &Path) -> Result<(), String> {
    // The decoder that training and scoring use, so that `validate` passes exactly the images
    // they can read.
    imagefile::decode(path).map(drop).map_err(|e| e.reason())
}

/// The most pixels an image may have (Pillow's limit); see [`imagefile::MAX_IMAGE_PIXELS`].
pub use imagefile::MAX_IMAGE_PIXELS;

/// A row set aside by `--skip-invalid`, with every reason it was dropped.
#[derive(Clone, Debug, PartialEq)]
pub struct Quarantined {
    pub row: Row,
    pub reasons: Vec<String>,
}

/// Splits a dataset into its valid rows and the quarantined ones. Dropping rows can invalidate
/// others (a prompt left with one image), so validation repeats until nothing more is dropped.
///
/// Only the first pass applies every rule: after rows are dropped, a prompt is judged by what it
/// was (its rank range and declared image count), and only a prompt left with fewer than two
/// images goes too, so that one bad rating costs one row, not its whole prompt. A prompt that
/// lost images is then described as kept ([`describe_as_kept`]), so that the clean rows pass
/// [`validate`], as `eval` and `train` require of an imported dataset.
pub fn quarantine(ds: Dataset, checks: Checks) -> (Dataset, Vec<Quarantined>) {
    let (mut clean, out) = drop_invalid_rows(ds, checks);
    describe_as_kept(&mut clean, &out);
    (clean, out)
}

/// The prompts that lost rows to `dropped`. A row counts in the prompt of its generation, which
/// its generation's first row names: a row naming another prompt (dropped for that) took its
/// ranking from the first row's prompt, not from the one it names.
fn prompts_that_lost_rows(ix: &crate::Index, dropped: &[Quarantined]) -> HashSet<String> {
    let mut touched = HashSet::new();
    for q in dropped {
        touched.insert(q.row.prompt_id.clone());
        if let Some(&g) = ix.generation_by_id.get(&q.row.generation_id) {
            touched.insert(ix.prompts[ix.generations[g].prompt].id.clone());
        }
    }
    touched
}

/// A prompt that lost rows to `dropped`, as its kept rows describe it: the declared image count
/// is the count left, and an annotator's ranks that now run past the images left (ranks 2 and 3
/// of three images whose first was dropped) are renumbered densely in their order, ties kept,
/// so that the pairs they give are exactly the pairs the kept rows gave before.
fn describe_as_kept(ds: &mut Dataset, dropped: &[Quarantined]) {
    if dropped.is_empty() {
        return;
    }
    let ix = ds.index();
    let touched = prompts_that_lost_rows(&ix, dropped);
    let tiers = ds.meta.rank_tiers.unwrap_or(0);
    for p in ix
        .prompts
        .iter()
        .filter(|p| touched.contains(p.id.as_str()))
    {
        let rows = prompt_rows(&ix, p);
        let n = p.generations.len();
        for &r in &rows {
            if let Some(e) = &mut ds.rows[r].expected_images {
                *e = n as u32;
            }
        }
        let mut groups: HashMap<Option<String>, Vec<usize>> = HashMap::new();
        for &r in rows.iter().filter(|&&r| ds.rows[r].rank.is_some()) {
            groups
                .entry(ds.rows[r].annotator.clone())
                .or_default()
                .push(r);
        }
        for group in groups.values() {
            let images: HashSet<&str> = group
                .iter()
                .map(|&r| ds.rows[r].generation_id.as_str())
                .collect();
            let limit = (images.len() as u32).max(tiers);
            if group.iter().all(|&r| ds.rows[r].rank <= Some(limit)) {
                continue;
            }
            let mut ranks: Vec<u32> = group.iter().filter_map(|&r| ds.rows[r].rank).collect();
            ranks.sort_unstable();
            ranks.dedup();
            for &r in group {
                let old = ds.rows[r].rank.expect("ranked rows only");
                ds.rows[r].rank = Some(ranks.partition_point(|&x| x < old) as u32 + 1);
            }
        }
    }
}

/// The valid rows, and the dropped ones with their reasons (see [`quarantine`]).
fn drop_invalid_rows(mut ds: Dataset, checks: Checks) -> (Dataset, Vec<Quarantined>) {
    let mut out = Vec::new();
    let mut first = true;
    loop {
        let problems = if first {
            validate(&ds, checks)
        } else {
            let mut c = Collector {
                ds: &ds,
                file: ds.origin.display().to_string(),
                problems: Vec::new(),
            };
            check_min_images(&mut c, &ds.index());
            c.problems
        };
        first = false;
        if problems.is_empty() {
            return (ds, out);
        }
        let mut reasons: HashMap<usize, Vec<String>> = HashMap::new();
        for p in problems {
            for &r in &p.rows {
                reasons
                    .entry(r)
                    .or_default()
                    .push(format!("{}: {}", p.field, p.message));
            }
        }
        if reasons.is_empty() {
            return (ds, out);
        }
        let rows = std::mem::take(&mut ds.rows);
        let mut new_index = vec![None; rows.len()];
        for (i, row) in rows.into_iter().enumerate() {
            match reasons.remove(&i) {
                Some(r) => out.push(Quarantined { row, reasons: r }),
                None => {
                    new_index[i] = Some(ds.rows.len());
                    ds.rows.push(row);
                }
            }
        }
        ds.read_problems.retain_mut(|p| match new_index[p.row] {
            Some(n) => {
                p.row = n;
                true
            }
            None => false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tests_support::{dataset, row};

    fn good() -> Dataset {
        dataset(vec![
            row("p1", "g1", None, Some(1)),
            row("p1", "g2", None, Some(2)),
            row("p2", "g3", None, Some(1)),
            row("p2", "g4", None, Some(1)),
        ])
    }

    fn only(ds: &Dataset) -> Problem {
        let p = validate(ds, Checks::default());
        assert_eq!(p.len(), 1, "{p:#?}");
        p[0].clone()
    }

    #[test]
    fn a_good_dataset_has_no_problem() {
        assert!(validate(&good(), Checks::default()).is_empty());
    }

    #[test]
    fn rating_outside_scale_or_nan() {
        let mut ds = good();
        ds.rows[1].ratings[Criterion::Fidelity] = Some(8.0);
        let p = only(&ds);
        assert_eq!(
            (p.file.as_str(), p.row, p.field.as_str()),
            ("test.json", Some(2), "fidelity")
        );
        ds.rows[1].ratings[Criterion::Fidelity] = Some(f32::NAN);
        assert!(only(&ds).message.contains("NaN"));
        ds.rows[1].ratings[Criterion::Fidelity] = Some(0.0);
        assert_eq!(only(&ds).field, "fidelity");
    }

    #[test]
    fn source_column_names_are_reported() {
        let mut ds = good();
        ds.meta
            .columns
            .insert("alignment".into(), "image_text_alignment_rating".into());
        ds.rows[0].ratings[Criterion::Alignment] = Some(9.0);
        assert_eq!(only(&ds).field, "image_text_alignment_rating");
    }

    #[test]
    fn duplicate_ids() {
        let mut ds = good();
        ds.rows[3].generation_id = "g3".into();
        let problems = validate(&ds, Checks::default());
        assert!(
            problems.iter().any(|p| p.row == Some(4)
                && p.field == "generation_id"
                && p.message.contains("duplicate")),
            "{problems:#?}"
        );
        // the same generation under two prompts
        let mut ds = good();
        ds.rows[2].generation_id = "g1".into();
        let problems = validate(&ds, Checks::default());
        assert!(
            problems
                .iter()
                .any(|p| p.row == Some(3) && p.message.contains("belongs to prompt")),
            "{problems:#?}"
        );
        // conflicting prompt text
        let mut ds = good();
        ds.rows[1].prompt = "something else".into();
        assert_eq!(only(&ds).field, "prompt");
    }

    #[test]
    fn rank_outside_one_to_n() {
        let mut ds = good();
        ds.rows[1].rank = Some(3);
        let p = only(&ds);
        assert_eq!((p.row, p.field.as_str()), (Some(2), "rank"));
        ds.rows[1].rank = Some(0);
        assert_eq!(only(&ds).field, "rank");
        // a source that ranks into a fixed number of tiers (ImageRewardDB: 5) allows ranks up to it
        ds.rows[1].rank = Some(5);
        ds.meta.rank_tiers = Some(5);
        assert!(validate(&ds, Checks::default()).is_empty());
        ds.rows[1].rank = Some(6);
        assert!(only(&ds).message.contains("outside 1..5"));
    }

    #[test]
    fn image_count_disagrees_with_declared() {
        let mut ds = good();
        ds.rows[0].expected_images = Some(3);
        ds.rows[1].expected_images = Some(3);
        let p = only(&ds);
        assert_eq!((p.row, p.field.as_str()), (Some(1), "expected_images"));
        assert!(p.message.contains("declares 3 images but has 2"));
    }

    #[test]
    fn prompt_with_one_image() {
        let mut ds = good();
        ds.rows.pop();
        ds.rows[2].rank = Some(1);
        let p = only(&ds);
        assert_eq!((p.row, p.field.as_str()), (Some(3), "generation_id"));
        assert!(p.message.contains("at least two"));
    }

    #[test]
    fn empty_prompt_text() {
        let mut ds = good();
        ds.rows[2].prompt = " ".into();
        ds.rows[3].prompt = " ".into();
        let problems = validate(&ds, Checks::default());
        assert_eq!(problems.len(), 2);
        assert!(
            problems
                .iter()
                .all(|p| p.field == "prompt" && p.message == "empty prompt text")
        );
    }

    #[test]
    fn all_problems_are_reported_in_one_run() {
        let mut ds = good();
        ds.rows[0].ratings[Criterion::Overall] = Some(99.0);
        ds.rows[1].rank = Some(7);
        ds.rows[2].prompt = String::new();
        ds.rows[3].prompt = String::new();
        assert_eq!(validate(&ds, Checks::default()).len(), 4);
    }

    fn with_images(dir: &Path) -> Dataset {
        let mut ds = good();
        ds.meta.images = ImagesState::Present;
        ds.root = dir.to_path_buf();
        for (i, r) in ds.rows.iter_mut().enumerate() {
            r.image = Some(format!("images/{i}.png"));
        }
        std::fs::create_dir_all(dir.join("images")).unwrap();
        for i in 0..4 {
            image::RgbImage::from_pixel(4, 4, image::Rgb([i * 40, 0, 0]))
                .save(dir.join(format!("images/{i}.png")))
                .unwrap();
        }
        ds
    }

    #[test]
    fn missing_empty_and_undecodable_images() {
        let dir = std::env::temp_dir().join(format!("rewardlab-validate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ds = with_images(&dir);
        assert!(validate(&ds, Checks::default()).is_empty());
        std::fs::remove_file(dir.join("images/0.png")).unwrap();
        std::fs::write(dir.join("images/1.png"), b"").unwrap();
        std::fs::write(dir.join("images/2.png"), b"not a png at all").unwrap();
        let problems = validate(&ds, Checks::default());
        let msgs: Vec<_> = problems
            .iter()
            .map(|p| (p.row, p.field.clone(), p.message.clone()))
            .collect();
        assert_eq!(problems.len(), 3, "{msgs:#?}");
        assert!(msgs[0].2.contains("missing image file") && msgs[0].0 == Some(1));
        assert!(msgs[1].2.contains("0 bytes") && msgs[1].0 == Some(2));
        assert!(msgs[2].2.contains("undecodable") && msgs[2].0 == Some(3));
        // an annotation-only dataset is not checked for images
        let mut absent = ds.clone();
        absent.meta.images = ImagesState::Absent;
        assert!(validate(&absent, Checks::default()).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn quarantine_drops_rows_and_the_prompts_they_break() {
        let mut ds = good();
        ds.rows[3].ratings[Criterion::Overall] = Some(f32::NAN);
        let (clean, q) = quarantine(ds, Checks::default());
        // g4 is dropped for its rating, then p2 has one image left and g3 goes too
        assert_eq!(clean.rows.len(), 2);
        assert_eq!(q.len(), 2);
        assert!(q[0].reasons[0].starts_with("overall: rating NaN"));
        assert!(q[1].reasons[0].contains("at least two"));
        assert!(validate(&clean, Checks::default()).is_empty());
    }

    #[test]
    fn quarantine_costs_one_row_when_the_prompt_survives() {
        // p1 ranked 1,2,3 and declared 3 images; its rank-1 row has a bad rating
        let mut ds = good();
        ds.rows.insert(2, row("p1", "g5", None, Some(3)));
        for r in &mut ds.rows[0..3] {
            r.expected_images = Some(3);
        }
        ds.rows[0].ratings[Criterion::Overall] = Some(0.5);
        let (clean, q) = quarantine(ds, Checks::default());
        assert_eq!(q.len(), 1);
        assert_eq!(clean.rows.len(), 4);
        // Described as kept: two images declared, ranks 2 and 3 renumbered 1 and 2.
        assert_eq!(clean.rows[0].expected_images, Some(2));
        assert_eq!((clean.rows[0].rank, clean.rows[1].rank), (Some(1), Some(2)));
        assert!(validate(&clean, Checks::default()).is_empty());
    }

    #[test]
    fn quarantine_renumbers_the_prompt_a_row_was_ranked_in_not_the_one_it_names() {
        // b's row for g1 names p2, but g1 belongs to p1 (its first row): it is dropped for that,
        // and b's ranking in p1, where it counted, is left with g2 alone, ranked 2.
        let ds = dataset(vec![
            row("p1", "g1", Some("a"), Some(1)),
            row("p1", "g2", Some("a"), Some(2)),
            row("p2", "g1", Some("b"), Some(1)),
            row("p1", "g2", Some("b"), Some(2)),
        ]);
        let (clean, q) = quarantine(ds, Checks::default());
        assert_eq!(q.len(), 1);
        assert!(q[0].reasons[0].starts_with("prompt_id: generation `g1` belongs"));
        let ranks: Vec<_> = clean.rows.iter().map(|r| r.rank.unwrap()).collect();
        assert_eq!(ranks, [1, 2, 1]);
        let left = validate(&clean, Checks::default());
        assert!(left.iter().all(|p| p.rows.is_empty()), "{left:?}");
    }

    #[test]
    fn quarantine_renumbers_ranks_per_annotator_keeping_their_order_and_ties() {
        // Annotator a ranked four images 1, 2, 2, 4; its rank-1 image has a bad rating.
        let mut ds = dataset(vec![
            row("p1", "g1", Some("a"), Some(1)),
            row("p1", "g2", Some("a"), Some(2)),
            row("p1", "g3", Some("a"), Some(2)),
            row("p1", "g4", Some("a"), Some(4)),
            row("p1", "g2", Some("b"), Some(1)),
            row("p1", "g3", Some("b"), Some(2)),
        ]);
        ds.rows[0].ratings[Criterion::Overall] = Some(0.5);
        assert!(validate(&ds, Checks::default()).len() == 1);
        let (clean, q) = quarantine(ds, Checks::default());
        assert_eq!(q.len(), 1);
        let ranks: Vec<_> = clean.rows.iter().map(|r| r.rank.unwrap()).collect();
        // a: 2, 2, 4 become 1, 1, 2; b, within its range, is left as it was.
        assert_eq!(ranks, [1, 1, 2, 1, 2]);
        assert!(validate(&clean, Checks::default()).is_empty());
    }
}
