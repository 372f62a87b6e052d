//! A figure along one axis of a study, written as SVG and PNG by the workspace's one figure
//! writer ([`plot::save`]): at each level of the axis,
//! the mean over seeds with its 95% interval as an error bar, each seed's value as a small
//! dot, and one series per combination of the other axes.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use plot::{DrawResult, FAMILY, Picture};

use crate::error::{Result, StudyError};

const SIZE: (u32, u32) = (900, 560);

const PALETTE: [RGBColor; 6] = [
    RGBColor(66, 111, 168),
    RGBColor(214, 110, 40),
    RGBColor(60, 150, 80),
    RGBColor(180, 60, 70),
    RGBColor(120, 90, 170),
    RGBColor(130, 130, 130),
];

/// One level of the axis in one series.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Level index on the axis.
    pub x: usize,
    pub mean: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    /// Each seed's value.
    pub seeds: Vec<f64>,
}

/// The points of one combination of the other axes.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<Point>,
}

/// A figure along one axis, as [`save_axis_plot`] draws it.
struct AxisPlot<'a> {
    title: &'a str,
    x_label: &'a str,
    levels: &'a [String],
    y_label: &'a str,
    series: &'a [Series],
}

impl Picture for AxisPlot<'_> {
    fn size(&self) -> (u32, u32) {
        SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        draw(
            root,
            self.title,
            self.x_label,
            self.levels,
            self.y_label,
            self.series,
        )
    }
}

/// Writes `dir/name.svg` and `dir/name.png`.
pub fn save_axis_plot(
    dir: &Path,
    name: &str,
    title: &str,
    x_label: &str,
    levels: &[String],
    y_label: &str,
    series: &[Series],
) -> Result<[PathBuf; 2]> {
    let picture = AxisPlot {
        title,
        x_label,
        levels,
        y_label,
        series,
    };
    plot::save(&picture, dir, name).map_err(|e| StudyError::Plot {
        name: name.to_string(),
        message: e.to_string(),
    })
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    levels: &[String],
    y_label: &str,
    series: &[Series],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| &s.points)
        .flat_map(|p| {
            p.ci95
                .into_iter()
                .flatten()
                .chain(p.mean)
                .chain(p.seeds.iter().copied())
        })
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.08).max(1e-3);
    let n = levels.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 18))
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), (lo - pad)..(hi + pad))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(y_label)
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .draw()?;
    // Level names under their positions (the x coordinate is continuous to dodge the series).
    let text = TextStyle::from((FAMILY, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    let bottom = lo - pad;
    for (i, l) in levels.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64, bottom));
        root.draw(&Text::new(l.clone(), (px, py + 8), text.clone()))?;
    }
    let (px, py) = chart.backend_coord(&((n as f64 - 1.0) / 2.0, bottom));
    root.draw(&Text::new(x_label.to_string(), (px, py + 30), text.clone()))?;

    let k = series.len().max(1);
    let width = 0.35f64.min(0.8 / k as f64 * (k as f64 - 1.0));
    for (si, s) in series.iter().enumerate() {
        let color = PALETTE[si % PALETTE.len()];
        let dx = if k == 1 {
            0.0
        } else {
            -width / 2.0 + width * si as f64 / (k as f64 - 1.0)
        };
        let mut pts: Vec<&Point> = s.points.iter().collect();
        pts.sort_by_key(|p| p.x);
        let line: Vec<(f64, f64)> = pts
            .iter()
            .filter_map(|p| p.mean.map(|m| (p.x as f64 + dx, m)))
            .collect();
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
            .label(s.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        for p in &pts {
            let x = p.x as f64 + dx;
            if let Some([a, b]) = p.ci95 {
                let cap = 0.04;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(x, a), (x, b)],
                    color.stroke_width(2),
                )))?;
                for y in [a, b] {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(x - cap, y), (x + cap, y)],
                        color.stroke_width(2),
                    )))?;
                }
            }
            chart.draw_series(
                p.seeds
                    .iter()
                    .map(|&v| Circle::new((x + 0.06, v), 3, color.mix(0.6).stroke_width(1))),
            )?;
        }
        chart.draw_series(
            line.iter()
                .map(|&(x, y)| Circle::new((x, y), 5, color.filled())),
        )?;
    }
    if series.len() > 1 {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FAMILY, 13))
            .draw()?;
    }
    Ok(())
}
