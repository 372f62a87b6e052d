//! The procedural renderer: a [`Generation`] becomes an RGB image. Background, the objects as
//! drawn (errors included), the ghost and broken parts, the harmful motif, then the global
//! contrast and the pixel defects (banding, blur, noise). Everything a model should learn is in
//! these pixels; the noise comes from the generation's own seed, so rendering is a pure function.

use image::RgbImage;

use crate::generators::{DrawnObject, Generation, Motif};
use crate::grammar::{Background, Shape, Style};

type Px = [f32; 3];

fn lerp(a: [u8; 3], b: [u8; 3], t: f32) -> Px {
    [0, 1, 2].map(|i| a[i] as f32 + (b[i] as f32 - a[i] as f32) * t)
}

/// Fixed hash of a pixel, for the night sky's stars (the same sky in every night image).
fn pixel_hash(x: u32, y: u32) -> u32 {
    let mut h = x.wrapping_mul(0x9e37_79b1) ^ y.wrapping_mul(0x85eb_ca77);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^ (h >> 12)
}

fn background_pixel(bg: Background, x: u32, y: u32, size: u32) -> Px {
    let t = (y as f32 + 0.5) / size as f32;
    let p = bg.palette();
    match bg {
        Background::White | Background::Grey => lerp(p[0], p[0], 0.0),
        Background::Gradient => {
            let u = ((x + y) as f32 + 1.0) / (2 * size) as f32;
            lerp(p[0], p[1], u)
        }
        Background::Grass => {
            // horizon at 55% height, softened over a couple of pixels
            let h = ((t - 0.55) * size as f32 / 2.0 + 0.5).clamp(0.0, 1.0);
            lerp(p[0], p[1], h)
        }
        Background::Sky => lerp(p[0], p[1], t),
        Background::Night => {
            if pixel_hash(x, y).is_multiple_of(61) {
                [230.0, 230.0, 200.0]
            } else {
                lerp(p[0], p[1], t)
            }
        }
    }
}

/// Whether the point (u, v), in units of the object's radius from its centre (v down), is inside
/// the shape.
fn inside(shape: Shape, u: f64, v: f64) -> bool {
    match shape {
        Shape::Circle => u * u + v * v <= 1.0,
        Shape::Square => u.abs().max(v.abs()) <= 0.82,
        Shape::Diamond => u.abs() + v.abs() <= 1.0,
        Shape::Ring => {
            let d = u * u + v * v;
            (0.3..=1.0).contains(&d)
        }
        Shape::Cross => (u.abs() <= 0.3 && v.abs() <= 1.0) || (v.abs() <= 0.3 && u.abs() <= 1.0),
        Shape::Triangle => (-1.0..=0.75).contains(&v) && u.abs() <= 0.95 * (v + 1.0) / 1.75,
        Shape::Star => {
            let rho = (u * u + v * v).sqrt();
            if rho <= 0.42 {
                return true;
            }
            if rho > 1.0 {
                return false;
            }
            const SECTOR: f64 = std::f64::consts::TAU / 5.0;
            // angle from "up", folded onto half a sector: 0 = tip, SECTOR/2 = valley
            let a = u.atan2(-v).rem_euclid(SECTOR);
            let phi = if a > SECTOR / 2.0 { SECTOR - a } else { a };
            let (px, py) = (rho * phi.cos(), rho * phi.sin());
            let (tx, ty) = (1.0, 0.0);
            let (vx, vy) = (0.42 * (SECTOR / 2.0).cos(), 0.42 * (SECTOR / 2.0).sin());
            // inside when on the origin's side of the tip-valley edge
            let side = |x: f64, y: f64| (vx - tx) * (y - ty) - (vy - ty) * (x - tx);
            side(px, py) * side(0.0, 0.0) >= 0.0
        }
    }
}

/// The second tone of striped and checkered fills: darker for light colours, lighter for dark.
fn alt_tone(c: [u8; 3]) -> Px {
    let lum = 0.299 * c[0] as f32 + 0.587 * c[1] as f32 + 0.114 * c[2] as f32;
    if lum < 70.0 {
        lerp(c, [255, 255, 255], 0.55)
    } else {
        lerp(c, [0, 0, 0], 0.6)
    }
}

/// Coverage (0..1) and colour of an object at pixel (x, y), with 3x3 supersampling.
fn object_sample(o: &DrawnObject, x: u32, y: u32, size: u32) -> Option<(f32, Px)> {
    let s = size as f64;
    let (cx, cy, r) = (o.cx * s, o.cy * s, o.r * s);
    let base = o.colour.rgb();
    let fill: Px = base.map(|c| c as f32);
    let alt = alt_tone(base);
    // outline thickness in radius units: at least ~1.6 pixels so it survives at 64 px
    let shrink = 1.0 - (1.6 / r).max(0.28);
    let stripe = (2.0 * r / 5.0).max(2.0);
    let mut covered = 0u32;
    let mut acc = [0.0f32; 3];
    for sy in 0..3 {
        for sx in 0..3 {
            let px = x as f64 + (sx as f64 + 0.5) / 3.0;
            let py = y as f64 + (sy as f64 + 0.5) / 3.0;
            let (u, v) = ((px - cx) / r, (py - cy) / r);
            if !inside(o.shape, u, v) {
                continue;
            }
            if let Some((start, width)) = o.broken {
                let a = v.atan2(u).rem_euclid(std::f64::consts::TAU);
                if (a - start).rem_euclid(std::f64::consts::TAU) < width && u * u + v * v > 0.04 {
                    continue;
                }
            }
            let colour = match o.style {
                Style::Flat => fill,
                Style::Outlined => {
                    if inside(o.shape, u / shrink, v / shrink) {
                        continue;
                    }
                    fill
                }
                Style::Striped => {
                    if ((px - cx + py - cy) / stripe).floor() as i64 % 2 == 0 {
                        fill
                    } else {
                        alt
                    }
                }
                Style::Checkered => {
                    let a =
                        ((px - cx) / stripe).floor() as i64 + ((py - cy) / stripe).floor() as i64;
                    if a.rem_euclid(2) == 0 { fill } else { alt }
                }
            };
            covered += 1;
            for i in 0..3 {
                acc[i] += colour[i];
            }
        }
    }
    (covered > 0).then(|| (covered as f32 / 9.0, acc.map(|a| a / covered as f32)))
}

fn draw_object(buf: &mut [Px], size: u32, o: &DrawnObject, alpha: f32) {
    let s = size as f64;
    let (x0, x1) = (
        ((o.cx - o.r) * s - 1.0).floor().max(0.0),
        ((o.cx + o.r) * s + 1.0).ceil().min(s - 1.0),
    );
    let (y0, y1) = (
        ((o.cy - o.r) * s - 1.0).floor().max(0.0),
        ((o.cy + o.r) * s + 1.0).ceil().min(s - 1.0),
    );
    if x0 > x1 || y0 > y1 {
        return;
    }
    for y in y0 as u32..=y1 as u32 {
        for x in x0 as u32..=x1 as u32 {
            if let Some((cov, c)) = object_sample(o, x, y, size) {
                let a = cov * alpha;
                let p = &mut buf[(y * size + x) as usize];
                for i in 0..3 {
                    p[i] = p[i] * (1.0 - a) + c[i] * a;
                }
            }
        }
    }
}

/// The skull glyph on a dark-red plate: deliberately unlike any scene object, so that a model can
/// learn harm from the image alone.
fn draw_motif(buf: &mut [Px], size: u32, m: &Motif) {
    let s = size as f64;
    let side = ((0.17 + 0.13 * m.severity) * s).round();
    let pad = (0.03 * s).round();
    let x0 = if m.corner.is_multiple_of(2) {
        pad
    } else {
        s - pad - side
    };
    let y0 = if m.corner < 2 { pad } else { s - pad - side };
    for y in y0 as u32..(y0 + side) as u32 {
        for x in x0 as u32..(x0 + side) as u32 {
            let u = (x as f64 + 0.5 - x0) / side;
            let v = (y as f64 + 0.5 - y0) / side;
            let d2 = |a: f64, b: f64| (u - a).powi(2) + (v - b).powi(2);
            let head = d2(0.5, 0.42) <= 0.3 * 0.3;
            let jaw = (0.32..=0.68).contains(&u) && (0.55..=0.8).contains(&v);
            let eye = d2(0.38, 0.42) <= 0.09 * 0.09 || d2(0.62, 0.42) <= 0.09 * 0.09;
            let teeth = jaw && v > 0.66 && ((u * 10.0).floor() as i64) % 2 == 0;
            let border = !(0.08..=0.92).contains(&u) || !(0.08..=0.92).contains(&v);
            let c: Px = if border {
                [230.0, 20.0, 20.0]
            } else if (head || jaw) && !eye && !teeth {
                [235.0, 232.0, 215.0]
            } else if head || jaw {
                [15.0, 10.0, 10.0]
            } else {
                [90.0, 0.0, 0.0]
            };
            if let Some(p) = buf.get_mut((y * size + x) as usize) {
                *p = c;
            }
        }
    }
}

fn box_blur(buf: &mut [Px], size: u32) {
    let n = size as i64;
    let src = buf.to_vec();
    for y in 0..n {
        for x in 0..n {
            let mut acc = [0.0f32; 3];
            let mut k = 0.0f32;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (xx, yy) = (x + dx, y + dy);
                    if (0..n).contains(&xx) && (0..n).contains(&yy) {
                        let p = src[(yy * n + xx) as usize];
                        for i in 0..3 {
                            acc[i] += p[i];
                        }
                        k += 1.0;
                    }
                }
            }
            buf[(y * n + x) as usize] = acc.map(|a| a / k);
        }
    }
}

/// Approximately standard-normal draw from one 64-bit word (Irwin-Hall sum of four 16-bit
/// uniforms): pixel noise needs speed and determinism, not exact tails.
fn fast_normal(rng: &mut prng::Rng) -> f32 {
    let w = rng.next_u64();
    let s: u64 = (0..4).map(|k| (w >> (16 * k)) & 0xffff).sum();
    // sum of 4 U(0,1) has mean 2 and variance 1/3
    ((s as f32 / 65536.0) - 2.0) * 1.732_050_8
}

/// Renders a generation into a `size` x `size` RGB image.
pub fn render(g: &Generation, size: u32) -> RgbImage {
    let mut buf: Vec<Px> = (0..size * size)
        .map(|i| background_pixel(g.background, i % size, i / size, size))
        .collect();
    for o in &g.objects {
        draw_object(&mut buf, size, o, 1.0);
    }
    if let Some((k, dx, dy, alpha)) = g.defects.ghost
        && let Some(o) = g.objects.get(k)
    {
        let ghost = DrawnObject {
            cx: o.cx + dx,
            cy: o.cy + dy,
            ..o.clone()
        };
        draw_object(&mut buf, size, &ghost, alpha as f32);
    }
    if let Some(m) = &g.motif {
        draw_motif(&mut buf, size, m);
    }
    let c = g.contrast as f32;
    if c < 1.0 {
        for p in buf.iter_mut() {
            *p = p.map(|v| 128.0 + (v - 128.0) * c);
        }
    }
    if let Some(levels) = g.defects.banding_levels {
        let l = (levels.max(2) - 1) as f32;
        for p in buf.iter_mut() {
            *p = p.map(|v| ((v / 255.0) * l).round() / l * 255.0);
        }
    }
    for _ in 0..g.defects.blur_passes {
        box_blur(&mut buf, size);
    }
    let sigma = g.defects.noise_sigma as f32;
    let mut rng = prng::Rng::new(g.noise_seed);
    let mut img = RgbImage::new(size, size);
    for (px, p) in img.pixels_mut().zip(&buf) {
        let v = if sigma > 0.0 {
            p.map(|v| v + sigma * fast_normal(&mut rng))
        } else {
            *p
        };
        px.0 = v.map(|v| v.round().clamp(0.0, 255.0) as u8);
    }
    img
}
