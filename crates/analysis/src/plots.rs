//! The report's figures, written as SVG and PNG by the workspace's one figure writer
//! ([`plot::save`]):
//!
//! * [`Figure::Bars`]: small multiples of bar charts (rating histograms, images per prompt);
//! * [`Figure::Heatmap`]: a matrix with its values written in the cells (correlations,
//!   agreement between annotators);
//! * [`Figure::Forest`]: estimates with 95% intervals against a zero line (prompt effects).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use plot::{DrawResult, FAMILY, Picture};

use crate::error::{AnalysisError, Result};

const BAR: RGBColor = RGBColor(66, 111, 168);
const WIDTH: u32 = 960;

/// One panel of bars: a title, and a value per labelled bar.
#[derive(Clone, Debug)]
pub struct BarPanel {
    pub title: String,
    pub labels: Vec<String>,
    pub values: Vec<f64>,
}

/// One row of a forest plot.
#[derive(Clone, Debug)]
pub struct ForestRow {
    pub label: String,
    pub estimate: f64,
    pub ci95: Option<[f64; 2]>,
}

#[derive(Clone, Debug)]
pub enum Figure {
    Bars {
        title: String,
        y_label: String,
        panels: Vec<BarPanel>,
    },
    Heatmap {
        title: String,
        labels: Vec<String>,
        /// `values[row][column]`, on -1..1 (a diverging scale) or 0..1.
        values: Vec<Vec<Option<f64>>>,
        diverging: bool,
    },
    Forest {
        title: String,
        x_label: String,
        panels: Vec<(String, Vec<ForestRow>)>,
    },
}

impl Picture for Figure {
    fn size(&self) -> (u32, u32) {
        match self {
            Figure::Bars { panels, .. } => {
                let rows = panels.len().div_ceil(2).max(1) as u32;
                (WIDTH, 60 + 300 * rows)
            }
            Figure::Heatmap { labels, .. } => {
                let side = (240 + 60 * labels.len() as u32).clamp(480, 1100);
                (side + 60, side)
            }
            Figure::Forest { panels, .. } => {
                let rows: usize = panels.iter().map(|(_, r)| r.len()).max().unwrap_or(1);
                let per_panel = 90 + 26 * rows as u32;
                (WIDTH, 50 + per_panel * panels.len().max(1) as u32)
            }
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        draw(root, self)
    }
}

/// Writes `dir/name.svg` and `dir/name.png`; returns both paths.
pub fn save(fig: &Figure, dir: &Path, name: &str) -> Result<[PathBuf; 2]> {
    plot::save(fig, dir, name).map_err(|e| AnalysisError::Plot {
        name: name.to_string(),
        message: e.to_string(),
    })
}

/// `n` segments, one per bar or cell (a segmented `0..k` holds `k + 1` segments; one bar gets
/// two, since an empty range cannot be drawn).
fn segments(
    n: usize,
) -> plotters::coord::ranged1d::SegmentedCoord<plotters::coord::types::RangedCoordusize> {
    (0..n.saturating_sub(1).max(1)).into_segmented()
}

const LIGHT: RGBColor = RGBColor(238, 238, 238);

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    match fig {
        Figure::Bars {
            title,
            y_label,
            panels,
        } => {
            let body = root.titled(title, (FAMILY, 24))?;
            let rows = panels.len().div_ceil(2).max(1);
            let cols = if panels.len() > 1 { 2 } else { 1 };
            let areas = body.split_evenly((rows, cols));
            for (area, panel) in areas.iter().zip(panels) {
                bars(area, panel, y_label)?;
            }
        }
        Figure::Heatmap {
            title,
            labels,
            values,
            diverging,
        } => heatmap(root, title, labels, values, *diverging)?,
        Figure::Forest {
            title,
            x_label,
            panels,
        } => {
            let body = root.titled(title, (FAMILY, 24))?;
            let areas = body.split_evenly((panels.len().max(1), 1));
            for (area, (name, rows)) in areas.iter().zip(panels) {
                forest(area, name, rows, x_label)?;
            }
        }
    }
    Ok(())
}

fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &BarPanel,
    y_label: &str,
) -> DrawResult<DB> {
    let n = p.values.len().max(1);
    let top = p.values.iter().copied().fold(0.0f64, f64::max).max(1e-9) * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FAMILY, 18))
        .margin(10)
        .x_label_area_size(34)
        .y_label_area_size(56)
        .build_cartesian_2d(segments(n), 0.0..top)?;
    let labels = &p.labels;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.min(24))
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc(y_label)
        .light_line_style(LIGHT)
        .y_max_light_lines(1)
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .draw()?;
    chart.draw_series(p.values.iter().enumerate().map(|(i, &v)| {
        let mut r = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), v),
            ],
            BAR.filled(),
        );
        r.set_margin(0, 0, 4, 4);
        r
    }))?;
    Ok(())
}

/// Blue (-1) through white (0) to red (+1); for a 0..1 scale, white to blue.
fn cell_colour(v: f64, diverging: bool) -> RGBColor {
    let mix = |a: (f64, f64, f64), t: f64| {
        let t = t.clamp(0.0, 1.0);
        RGBColor(
            (255.0 + (a.0 - 255.0) * t) as u8,
            (255.0 + (a.1 - 255.0) * t) as u8,
            (255.0 + (a.2 - 255.0) * t) as u8,
        )
    };
    if diverging {
        if v >= 0.0 {
            mix((202.0, 64.0, 52.0), v)
        } else {
            mix((52.0, 101.0, 164.0), -v)
        }
    } else {
        mix((52.0, 101.0, 164.0), v)
    }
}

fn heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    labels: &[String],
    values: &[Vec<Option<f64>>],
    diverging: bool,
) -> DrawResult<DB> {
    let n = labels.len().max(1);
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4) as u32;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size((longest * 8 + 16).min(220))
        .build_cartesian_2d(segments(n), segments(n))?;
    let fmt = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    // Row 0 at the top, as a matrix is read.
    let flip = |i: usize| n - 1 - i;
    let fmt_y = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => labels.get(flip(*i)).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(n)
        .y_labels(n)
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt_y)
        .label_style((FAMILY, 13))
        .draw()?;
    let font_size = if n > 8 { 13 } else { 16 };
    // A 0..1 matrix is coloured over its own range, so that close values still differ.
    let (lo, hi) = values
        .iter()
        .flatten()
        .flatten()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let shade = |v: f64| {
        if diverging {
            v
        } else if hi > lo {
            0.15 + 0.85 * (v - lo) / (hi - lo)
        } else {
            0.5
        }
    };
    for (r, row) in values.iter().enumerate().take(n) {
        for (c, v) in row.iter().enumerate().take(n) {
            let y = flip(r);
            let v = v.map(|v| (v, shade(v)));
            let colour = v.map_or(RGBColor(230, 230, 230), |(_, t)| cell_colour(t, diverging));
            chart.draw_series(std::iter::once(Rectangle::new(
                [
                    (SegmentValue::Exact(c), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(c + 1), SegmentValue::Exact(y + 1)),
                ],
                colour.filled(),
            )))?;
            let text = v.map_or_else(|| "–".to_string(), |(v, _)| format!("{v:.2}"));
            let dark = v.is_some_and(|(_, t)| t.abs() > 0.6);
            let style = TextStyle::from((FAMILY, font_size).into_font())
                .color(if dark { &WHITE } else { &BLACK })
                .pos(Pos::new(HPos::Center, VPos::Center));
            chart.draw_series(std::iter::once(Text::new(
                text,
                (SegmentValue::CenterOf(c), SegmentValue::CenterOf(y)),
                style,
            )))?;
        }
    }
    Ok(())
}

fn forest<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    name: &str,
    rows: &[ForestRow],
    x_label: &str,
) -> DrawResult<DB> {
    let n = rows.len().max(1);
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for r in rows {
        let [a, b] = r.ci95.unwrap_or([r.estimate, r.estimate]);
        lo = lo.min(a).min(r.estimate);
        hi = hi.max(b).max(r.estimate);
    }
    let pad = ((hi - lo) * 0.08).max(0.05);
    let longest = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(4) as u32;
    let mut chart = ChartBuilder::on(area)
        .caption(name, (FAMILY, 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size((longest * 8 + 16).min(260))
        .build_cartesian_2d((lo - pad)..(hi + pad), segments(n))?;
    let flip = |i: usize| n - 1 - i;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => rows
                .get(flip(*i))
                .map(|r| r.label.clone())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc(x_label)
        .light_line_style(LIGHT)
        .x_max_light_lines(1)
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .draw()?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, SegmentValue::Exact(0)), (0.0, SegmentValue::Exact(n))],
        BLACK.stroke_width(1),
    )))?;
    for (i, r) in rows.iter().enumerate() {
        let y = SegmentValue::CenterOf(flip(i));
        if let Some([a, b]) = r.ci95 {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(a, y.clone()), (b, y.clone())],
                BAR.stroke_width(2),
            )))?;
        }
        chart.draw_series(std::iter::once(Circle::new(
            (r.estimate, y),
            4,
            BAR.filled(),
        )))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_written_as_svg_and_png() {
        let dir = std::env::temp_dir().join(format!("rewardlab-plots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fig = Figure::Bars {
            title: "t".into(),
            y_label: "share".into(),
            panels: vec![BarPanel {
                title: "overall".into(),
                labels: vec!["1".into(), "2".into()],
                values: vec![0.25, 0.75],
            }],
        };
        let [svg, png] = save(&fig, &dir, "bars").unwrap();
        let text = std::fs::read_to_string(svg).unwrap();
        assert!(text.contains("<svg") && text.contains("overall"));
        let img = image::open(png).unwrap();
        assert_eq!(img.width(), WIDTH);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
