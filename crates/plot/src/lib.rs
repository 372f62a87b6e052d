//! The one figure writer of the analysis report and of the experiments: a [`Picture`] drawn
//! twice with plotters, as SVG (text as text, for the browser to render) and as PNG (an in-memory
//! bitmap encoded with `image`; text drawn with ab_glyph from a DejaVu Sans subset embedded in
//! the binary, so no system font library is needed).

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

/// The font family every figure's text names (the embedded DejaVu Sans subset).
pub const FAMILY: &str = "sans-serif";

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans-subset.ttf");
static REGISTER: Once = Once::new();

/// What a drawing on any plotters backend returns.
pub type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A figure that can draw itself on any backend.
pub trait Picture {
    /// Width and height in pixels (the SVG's size too).
    fn size(&self) -> (u32, u32);

    /// Draws the whole figure on `root`.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

/// Why a figure could not be written; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Drawing failed (plotters' message).
    #[error("drawing {name}: {message}")]
    Draw { name: String, message: String },
    /// Writing a file failed.
    #[error("{}: {message}", path.display())]
    Write { path: PathBuf, message: String },
}

fn register_font() {
    REGISTER.call_once(|| {
        // The font is part of the binary and known to parse; a failure would only lose text.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Writes `dir/name.svg` and `dir/name.png` of the same drawing; returns both paths.
pub fn save(picture: &impl Picture, dir: &Path, name: &str) -> Result<[PathBuf; 2], PlotError> {
    register_font();
    let draw_err = |e: String| PlotError::Draw {
        name: name.to_string(),
        message: e,
    };
    let size = picture.size();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        picture.draw(&root).map_err(|e| draw_err(e.to_string()))?;
        root.present().map_err(|e| draw_err(e.to_string()))?;
    }
    let svg_path = dir.join(format!("{name}.svg"));
    std::fs::write(&svg_path, svg).map_err(|e| PlotError::Write {
        path: svg_path.clone(),
        message: e.to_string(),
    })?;
    let mut buf = vec![0u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        picture.draw(&root).map_err(|e| draw_err(e.to_string()))?;
        root.present().map_err(|e| draw_err(e.to_string()))?;
    }
    let png_path = dir.join(format!("{name}.png"));
    image::save_buffer(
        &png_path,
        &buf,
        size.0,
        size.1,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| PlotError::Write {
        path: png_path.clone(),
        message: e.to_string(),
    })?;
    Ok([svg_path, png_path])
}

/// Writes `text` onto `img` in the embedded font, `height` pixels tall, its top left corner at
/// `at`, in `colour`: the audit's text overlay, drawn with the figures' font so that no system
/// font is needed and every machine draws the same pixels.
pub fn stamp_text(
    img: &mut image::RgbImage,
    text: &str,
    at: (i32, i32),
    height: u32,
    colour: [u8; 3],
) -> Result<(), PlotError> {
    register_font();
    let size = img.dimensions();
    let colour = RGBColor(colour[0], colour[1], colour[2]);
    let style = TextStyle::from((FAMILY, f64::from(height)).into_font()).color(&colour);
    let root = BitMapBackend::with_buffer(img.as_mut(), size).into_drawing_area();
    let drawn = root
        .draw(&Text::new(text.to_string(), at, style))
        .and_then(|()| root.present());
    drawn.map_err(|e| PlotError::Draw {
        name: format!("the text `{text}`"),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Square;

    impl Picture for Square {
        fn size(&self) -> (u32, u32) {
            (40, 30)
        }

        fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
            root.fill(&WHITE)?;
            root.draw(&Rectangle::new([(5, 5), (20, 20)], RED.filled()))?;
            root.draw(&Text::new("x", (22, 5), (FAMILY, 12)))
        }
    }

    #[test]
    fn one_drawing_becomes_an_svg_and_a_png_of_its_size() {
        let dir = std::env::temp_dir().join(format!("rewardlab-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let [svg, png] = save(&Square, &dir, "square").unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(
            text.contains("<svg") && text.contains("width=\"40\""),
            "{text}"
        );
        let img = image::open(&png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (40, 30));
        assert_eq!(img.get_pixel(10, 10).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(35, 28).0, [255, 255, 255]);
        let err = save(&Square, &dir.join("missing"), "square").unwrap_err();
        assert!(err.to_string().contains("missing/square.svg"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stamped_text_changes_pixels_where_it_is_written_only() {
        let mut img = image::RgbImage::from_pixel(80, 40, image::Rgb([0, 0, 0]));
        stamp_text(&mut img, "TEXT", (4, 4), 20, [255, 255, 255]).unwrap();
        let lit = |x0: u32, x1: u32| {
            (x0..x1)
                .flat_map(|x| (0..40).map(move |y| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y).0[0] > 128)
                .count()
        };
        assert!(lit(0, 60) > 50, "{}", lit(0, 60));
        assert_eq!(lit(70, 80), 0);
    }
}
