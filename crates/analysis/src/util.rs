//! Small helpers shared by the statistics: scalar reads from
//! collected frames, and plain formatting of numbers and frames for the report.

use polars::prelude::*;

use crate::error::{Context, Result};

/// `x` as a count of rows where the boolean expression holds.
pub(crate) fn count_if(e: Expr) -> Expr {
    e.cast(DataType::UInt64).sum()
}

/// The value of a numeric column at `row` as `f64` (`None`: null, NaN or absent).
pub(crate) fn f64_at(df: &DataFrame, column: &str, row: usize) -> Option<f64> {
    let c = df.column(column).ok()?;
    let c = c.cast(&DataType::Float64).ok()?;
    c.f64().ok()?.get(row).filter(|v| v.is_finite())
}

/// The value of a count column at `row` (0 when null).
pub(crate) fn u64_at(df: &DataFrame, column: &str, row: usize) -> u64 {
    f64_at(df, column, row).map_or(0, |v| v as u64)
}

/// The values of a text column.
pub(crate) fn strings(df: &DataFrame, column: &str) -> Result<Vec<String>> {
    let c = df
        .column(column)
        .and_then(|c| c.cast(&DataType::String))
        .ctx(column)?;
    let ca = c.str().ctx(column)?;
    Ok(ca.iter().map(|v| v.unwrap_or("").to_string()).collect())
}

/// The values of a numeric column as `f64` (`None` for nulls).
pub(crate) fn floats(df: &DataFrame, column: &str) -> Result<Vec<Option<f64>>> {
    let c = df
        .column(column)
        .and_then(|c| c.cast(&DataType::Float64))
        .ctx(column)?;
    let ca = c.f64().ctx(column)?;
    Ok(ca.iter().map(|v| v.filter(|x| x.is_finite())).collect())
}

/// A number as the report prints it: three decimals, or an integer as is.
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

pub fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), fmt_num)
}

fn cell(v: AnyValue) -> String {
    match v {
        AnyValue::Null => "–".into(),
        AnyValue::Float64(x) if x.is_finite() => fmt_num(x),
        AnyValue::Float32(x) if x.is_finite() => fmt_num(f64::from(x)),
        AnyValue::Float64(_) | AnyValue::Float32(_) => "–".into(),
        AnyValue::String(s) => s.replace('|', "\\|"),
        AnyValue::StringOwned(s) => s.replace('|', "\\|"),
        AnyValue::Boolean(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// A frame as a markdown table (at most `max_rows` rows, with a note when cut).
pub fn markdown(df: &DataFrame, max_rows: usize) -> String {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let mut out = format!("| {} |\n", names.join(" | "));
    out += &format!("|{}\n", "---|".repeat(names.len()));
    let rows = df.height().min(max_rows);
    for i in 0..rows {
        let cells: Vec<String> = df
            .columns()
            .iter()
            .map(|c| c.get(i).map(cell).unwrap_or_default())
            .collect();
        out += &format!("| {} |\n", cells.join(" | "));
    }
    if df.height() > rows {
        out += &format!(
            "\n({} of {} rows shown; the CSV and Parquet files hold all.)\n",
            rows,
            df.height()
        );
    }
    out
}

/// A frame as JSON records (`[{column: value}]`), numbers as numbers, nulls as null.
pub fn records(df: &DataFrame) -> serde_json::Value {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let rows = (0..df.height())
        .map(|i| {
            let mut m = serde_json::Map::new();
            for (name, c) in names.iter().zip(df.columns()) {
                let v = match c.get(i).unwrap_or(AnyValue::Null) {
                    AnyValue::Null => serde_json::Value::Null,
                    AnyValue::Boolean(b) => b.into(),
                    AnyValue::String(s) => s.into(),
                    AnyValue::StringOwned(s) => s.to_string().into(),
                    AnyValue::Float64(x) => json_f64(x),
                    AnyValue::Float32(x) => json_f64(f64::from(x)),
                    v if v.is_signed_integer() => v.extract::<i64>().into(),
                    v if v.is_unsigned_integer() => v.extract::<u64>().into(),
                    v => v.to_string().into(),
                };
                m.insert(name.clone(), v);
            }
            serde_json::Value::Object(m)
        })
        .collect();
    serde_json::Value::Array(rows)
}

/// A finite number, or null.
pub fn json_f64(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

pub fn json_opt(x: Option<f64>) -> serde_json::Value {
    x.map_or(serde_json::Value::Null, json_f64)
}
