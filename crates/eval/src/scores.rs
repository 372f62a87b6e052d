//! Scores of images by generation id: what any scorer (a trained run, a baseline, an external
//! model's scores file) hands to the evaluation, and the `generation_id,score` CSV that scripts
//! write for `rewardlab eval --scores`.

use std::collections::HashMap;
use std::path::Path;

use annotations::{Criterion, PerCriterion};

use crate::error::{EvalError, FileProblem, Result};

/// A scorer's output for one image, per criterion: a raw score (higher is better) and,
/// for heads that give one, a predicted rating on the dataset's scale. The overall score ranks
/// the images; the others are evaluated against the ratings of their criterion.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ImageScores {
    pub score: PerCriterion<f64>,
    pub rating: PerCriterion<f64>,
}

impl ImageScores {
    /// Only an overall score (a scores file, a single-output model).
    pub fn overall(score: f64) -> Self {
        let mut s = Self::default();
        s.score[Criterion::Overall] = Some(score);
        s
    }
}

/// Scores by generation id.
pub type ScoreTable = HashMap<String, ImageScores>;

/// Splits one CSV record into fields: commas separate, double quotes quote (`""` is a quote
/// inside a quoted field). A record spans one line.
fn fields(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(if was_quoted {
                    std::mem::take(&mut field)
                } else {
                    std::mem::take(&mut field).trim().to_string()
                });
                was_quoted = false;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed on its line".into());
    }
    out.push(if was_quoted {
        field
    } else {
        field.trim().to_string()
    });
    Ok(out)
}

/// Reads a scores file ([`parse_scores_csv`]).
pub fn read_scores_csv(path: &Path, is_known: &dyn Fn(&str) -> bool) -> Result<ScoreTable> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    parse_scores_csv(&text, path, is_known)
}

/// Parses a scores CSV: a header naming at least the columns `generation_id` and `score` (in any
/// order; other columns are ignored), then one row per image. Every bad row is reported with its
/// row (1-based, the header being row 0) and field: a missing or empty id, an id that
/// `is_known` rejects (not in the dataset), an id given twice, a score that is not a finite
/// number. Blank lines are skipped but keep their row number, so rows match the file's lines
/// minus one.
pub fn parse_scores_csv(
    text: &str,
    path: &Path,
    is_known: &dyn Fn(&str) -> bool,
) -> Result<ScoreTable> {
    let problem = |row: usize, field: &str, message: String| FileProblem {
        row,
        field: field.to_string(),
        message,
    };
    let fail = |problems: Vec<FileProblem>| EvalError::ScoresFile {
        path: path.to_path_buf(),
        problems,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate();
    let header = loop {
        match lines.next() {
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((_, l)) => break l,
            None => {
                return Err(fail(vec![problem(
                    0,
                    "generation_id",
                    "the file is empty; expected a header `generation_id,score`".into(),
                )]));
            }
        }
    };
    let names = fields(header).map_err(|m| fail(vec![problem(0, "header", m)]))?;
    let column = |name: &str| names.iter().position(|n| n == name);
    let (Some(id_col), Some(score_col)) = (column("generation_id"), column("score")) else {
        let missing = if column("generation_id").is_none() {
            "generation_id"
        } else {
            "score"
        };
        return Err(fail(vec![problem(
            0,
            missing,
            format!(
                "no `{missing}` column in the header (columns are: {}); expected `generation_id,score`",
                names.join(", ")
            ),
        )]));
    };
    let mut table = ScoreTable::new();
    let mut first_row: HashMap<String, usize> = HashMap::new();
    let mut problems = Vec::new();
    for (line_no, line) in lines {
        let row = line_no; // the header is on line 0 when counted from 0
        if line.trim().is_empty() {
            continue;
        }
        let f = match fields(line) {
            Ok(f) => f,
            Err(m) => {
                problems.push(problem(row, "generation_id", m));
                continue;
            }
        };
        let id = f.get(id_col).map(String::as_str).unwrap_or("");
        let raw = f.get(score_col).map(String::as_str);
        if id.is_empty() {
            problems.push(problem(row, "generation_id", "empty generation id".into()));
        } else if !is_known(id) {
            problems.push(problem(
                row,
                "generation_id",
                format!("`{id}` is not a generation of the dataset (see `rewardlab validate DATASET --list-generations`)"),
            ));
        } else if let Some(&first) = first_row.get(id) {
            problems.push(problem(
                row,
                "generation_id",
                format!("`{id}` is scored twice (first on row {first})"),
            ));
        }
        let score = match raw {
            None | Some("") => {
                problems.push(problem(row, "score", "missing score".into()));
                None
            }
            Some(v) => match v.parse::<f64>() {
                Ok(s) if s.is_finite() => Some(s),
                Ok(_) => {
                    problems.push(problem(
                        row,
                        "score",
                        format!("`{v}` is not a finite number"),
                    ));
                    None
                }
                Err(_) => {
                    problems.push(problem(row, "score", format!("`{v}` is not a number")));
                    None
                }
            },
        };
        if let Some(s) = score
            && !id.is_empty()
            && !first_row.contains_key(id)
        {
            first_row.insert(id.to_string(), row);
            table.insert(id.to_string(), ImageScores::overall(s));
        }
    }
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    if table.is_empty() {
        return Err(fail(vec![problem(
            0,
            "score",
            "no scores in the file (a header and no rows)".into(),
        )]));
    }
    Ok(table)
}

/// Quotes a CSV field when it needs it.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.trim() != s {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes scores as CSV: `generation_id,prompt_id,score` (the overall score, so that the file
/// feeds `rewardlab eval --scores` back), then `<criterion>_score` and `<criterion>_rating` for
/// every other criterion some image has. Rows in the order given.
pub fn scores_csv(rows: &[(&str, &str)], table: &ScoreTable) -> String {
    let extra: Vec<(Criterion, bool)> = Criterion::ALL[1..]
        .iter()
        .flat_map(|&c| [(c, false), (c, true)])
        .filter(|&(c, rating)| {
            table.values().any(|s| {
                if rating {
                    s.rating[c].is_some()
                } else {
                    s.score[c].is_some()
                }
            })
        })
        .collect();
    let mut out = String::from("generation_id,prompt_id,score");
    for (c, rating) in &extra {
        out.push_str(&format!(
            ",{}_{}",
            c.name(),
            if *rating { "rating" } else { "score" }
        ));
    }
    out.push('\n');
    let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
    for (id, prompt) in rows {
        let s = table.get(*id).copied().unwrap_or_default();
        out.push_str(&format!(
            "{},{},{}",
            csv_field(id),
            csv_field(prompt),
            num(s.score[Criterion::Overall])
        ));
        for (c, rating) in &extra {
            let v = if *rating { s.rating[*c] } else { s.score[*c] };
            out.push(',');
            out.push_str(&num(v));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ScoreTable> {
        parse_scores_csv(text, Path::new("s.csv"), &|id| id != "ghost")
    }

    #[test]
    fn reads_columns_in_any_order_with_quotes() {
        let t = parse("model,score,generation_id\nx,0.5,\"a,1\"\n\ny, -2 ,b\n").unwrap();
        assert_eq!(t["a,1"].score[Criterion::Overall], Some(0.5));
        assert_eq!(t["b"].score[Criterion::Overall], Some(-2.0));
        assert_eq!(
            fields("\"say \"\"hi\"\"\",2").unwrap(),
            vec!["say \"hi\"", "2"]
        );
    }

    #[test]
    fn every_bad_row_is_named_with_its_field() {
        let err = parse("generation_id,score\na,1\nb,abc\n,2\na,3\nghost,1\nc,NaN\n")
            .unwrap_err()
            .to_string();
        for want in [
            "s.csv",
            "row 2, field `score`: `abc` is not a number",
            "row 3, field `generation_id`: empty generation id",
            "row 4, field `generation_id`: `a` is scored twice (first on row 1)",
            "row 5, field `generation_id`: `ghost` is not a generation",
            "row 6, field `score`: `NaN` is not a finite number",
        ] {
            assert!(err.contains(want), "missing `{want}` in {err}");
        }
        let err = parse("id,score\na,1\n").unwrap_err().to_string();
        assert!(
            err.contains("row 0, field `generation_id`: no `generation_id` column"),
            "{err}"
        );
        assert!(parse("").is_err() && parse("generation_id,score\n").is_err());
    }

    #[test]
    fn written_scores_read_back() {
        let mut t = ScoreTable::new();
        let mut s = ImageScores::overall(1.25);
        s.score[Criterion::Fidelity] = Some(0.5);
        s.rating[Criterion::Fidelity] = Some(4.5);
        t.insert("g,1".into(), s);
        let text = scores_csv(&[("g,1", "p")], &t);
        assert!(text.starts_with("generation_id,prompt_id,score,fidelity_score,fidelity_rating\n"));
        let back = parse(&text).unwrap();
        assert_eq!(back["g,1"].score[Criterion::Overall], Some(1.25));
    }
}
