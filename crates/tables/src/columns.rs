//! Turning a data frame into canonical rows: each source column is read as text or number, and a
//! value that does not parse becomes a read problem naming its row, not an error for the file.

use std::path::Path;

use annotations::{Criterion, ReadProblem, Row};
use polars::prelude::*;

use crate::TableError;

/// Canonical fields, in the column order of `annotations.parquet`.
pub const FIELDS: [&str; 12] = [
    "prompt_id",
    "prompt",
    "category",
    "expected_images",
    "generation_id",
    "image",
    "annotator",
    "rank",
    "overall",
    "alignment",
    "fidelity",
    "harmlessness",
];

pub struct Extracted {
    pub rows: Vec<Row>,
    pub problems: Vec<ReadProblem>,
}

/// Source column name for each canonical field (`None`: the field is absent from the source).
pub type ColumnOf<'a> = dyn Fn(&str) -> Option<String> + 'a;

pub(crate) fn text(
    df: &DataFrame,
    path: &Path,
    column: &str,
) -> Result<Vec<Option<String>>, TableError> {
    let c = df.column(column).map_err(|_| missing(df, path, column))?;
    let s = c
        .cast(&DataType::String)
        .map_err(TableError::polars(path))?;
    let ca = s.str().map_err(TableError::polars(path))?;
    Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
}

pub(crate) fn missing(df: &DataFrame, path: &Path, column: &str) -> TableError {
    let available = df
        .get_column_names()
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    TableError::MissingColumn {
        path: path.to_path_buf(),
        column: column.to_string(),
        available,
    }
}

/// Numbers of a column; text that is not a number is reported for its row.
pub(crate) fn numbers(
    df: &DataFrame,
    path: &Path,
    column: &str,
    field: &str,
    problems: &mut Vec<ReadProblem>,
) -> Result<Vec<Option<f64>>, TableError> {
    let c = df.column(column).map_err(|_| missing(df, path, column))?;
    if c.dtype().is_primitive_numeric() {
        // A numeric column (every canonical file) holds no text that could fail to parse: cast
        // it as it is rather than printing and re-parsing each value, which gives the same
        // numbers (shortest round-trip text) at several times the cost.
        let s = c
            .cast(&DataType::Float64)
            .map_err(TableError::polars(path))?;
        let ca = s.f64().map_err(TableError::polars(path))?;
        return Ok(ca.iter().collect());
    }
    let raw = text(df, path, column)?;
    Ok(raw
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let v = v?;
            let t = v.trim();
            if t.is_empty() {
                return None;
            }
            match t.parse::<f64>() {
                Ok(x) => Some(x),
                Err(_) => {
                    problems.push(ReadProblem {
                        row: i,
                        field: field.into(),
                        message: format!("`{v}` is not a number"),
                    });
                    None
                }
            }
        })
        .collect())
}

fn integer(
    v: Option<f64>,
    row: usize,
    field: &str,
    problems: &mut Vec<ReadProblem>,
) -> Option<u32> {
    let x = v?;
    if x.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&x) {
        Some(x as u32)
    } else {
        problems.push(ReadProblem {
            row,
            field: field.into(),
            message: format!("`{x}` is not a whole non-negative number"),
        });
        // Keep an impossible rank so the row stays flagged rather than silently unranked.
        Some(0)
    }
}

/// Reads every mapped field of `df` into rows. `prompt` is required; ids are derived when their
/// column is absent (prompt ids from the prompt text, generation ids from the image path or the
/// row number).
pub fn extract(df: &DataFrame, path: &Path, column_of: &ColumnOf) -> Result<Extracted, TableError> {
    let n = df.height();
    let mut problems = Vec::new();
    let get_text = |field: &str| -> Result<Option<Vec<Option<String>>>, TableError> {
        column_of(field).map(|c| text(df, path, &c)).transpose()
    };
    let prompt_col = column_of("prompt").ok_or_else(|| TableError::Invalid {
        path: path.to_path_buf(),
        message: "no column is mapped to the canonical field `prompt`".into(),
    })?;
    let mut prompt = text(df, path, &prompt_col)?;
    let mut prompt_id = get_text("prompt_id")?;
    let mut category = get_text("category")?;
    let mut generation_id = get_text("generation_id")?;
    let mut image = get_text("image")?;
    let mut annotator = get_text("annotator")?;
    let mut num = |field: &str| -> Result<Option<Vec<Option<f64>>>, TableError> {
        column_of(field)
            .map(|c| numbers(df, path, &c, field, &mut problems))
            .transpose()
    };
    let expected = num("expected_images")?;
    let rank = num("rank")?;
    let ratings: Vec<Option<Vec<Option<f64>>>> = Criterion::ALL
        .iter()
        .map(|c| num(c.name()))
        .collect::<Result<_, _>>()?;

    // Each row takes its strings out of the columns (moved, not cloned: a million judgments
    // would otherwise copy every text twice).
    let take = |v: &mut Option<Vec<Option<String>>>, i: usize| -> Option<String> {
        v.as_mut().and_then(|v| v[i].take())
    };
    let mut derived_prompt_ids = std::collections::HashMap::new();
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let prompt_text = prompt[i].take().unwrap_or_default();
        let pid = match &mut prompt_id {
            Some(ids) => ids[i].take().unwrap_or_default(),
            None => {
                let next = derived_prompt_ids.len() + 1;
                derived_prompt_ids
                    .entry(prompt_text.clone())
                    .or_insert_with(|| format!("p{next:05}"))
                    .clone()
            }
        };
        let img = take(&mut image, i);
        let gid = match &mut generation_id {
            Some(ids) => ids[i].take().unwrap_or_default(),
            None => img.clone().unwrap_or_else(|| format!("row{}", i + 1)),
        };
        let r = annotations::PerCriterion::from_fn(|c| {
            ratings[c.index()]
                .as_ref()
                .and_then(|v| v[i])
                .map(|x| x as f32)
        });
        rows.push(Row {
            prompt_id: pid,
            prompt: prompt_text,
            category: take(&mut category, i),
            expected_images: integer(
                expected.as_ref().and_then(|v| v[i]),
                i,
                "expected_images",
                &mut problems,
            ),
            generation_id: gid,
            image: img,
            annotator: take(&mut annotator, i),
            rank: integer(rank.as_ref().and_then(|v| v[i]), i, "rank", &mut problems),
            ratings: r,
            source_row: i + 1,
        });
    }
    Ok(Extracted { rows, problems })
}

/// The canonical flat table of a dataset's rows.
pub fn frame(rows: &[Row]) -> PolarsResult<DataFrame> {
    let s = |f: fn(&Row) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
    let int =
        |f: fn(&Row) -> Option<u32>| rows.iter().map(|r| f(r).map(i64::from)).collect::<Vec<_>>();
    let rating = |c: Criterion| rows.iter().map(|r| r.rating(c)).collect::<Vec<_>>();
    df!(
        "prompt_id" => rows.iter().map(|r| r.prompt_id.as_str()).collect::<Vec<_>>(),
        "prompt" => rows.iter().map(|r| r.prompt.as_str()).collect::<Vec<_>>(),
        "category" => s(|r| r.category.as_deref()),
        "expected_images" => int(|r| r.expected_images),
        "generation_id" => rows.iter().map(|r| r.generation_id.as_str()).collect::<Vec<_>>(),
        "image" => s(|r| r.image.as_deref()),
        "annotator" => s(|r| r.annotator.as_deref()),
        "rank" => int(|r| r.rank),
        "overall" => rating(Criterion::Overall),
        "alignment" => rating(Criterion::Alignment),
        "fidelity" => rating(Criterion::Fidelity),
        "harmlessness" => rating(Criterion::Harmlessness),
    )
}
