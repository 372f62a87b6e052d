//! Simulated text-to-image generators: each has a skill profile (how often it makes each kind of
//! alignment error, its fidelity, its compositional taste, its propensity to draw the harmful
//! motif), and turns a prompt into a [`Generation`]: the scene it actually draws, with its errors,
//! defects and motif, which `render` rasterises and `truth` scores.

use serde::{Deserialize, Serialize};

use crate::config::WorldConfig;
use crate::grammar::{Background, Category, Colour, PromptSpec, Shape, Size, Style};

/// One simulated generator. Skills are in [0, 1], 1 = best (for `harm_propensity`, 1 = most
/// harmful).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorProfile {
    pub name: String,
    /// Scales down every alignment error probability (see [`GeneratorProfile::error_rate`]).
    pub alignment_skill: f64,
    /// Base fidelity: the fewer/milder defects, the higher.
    pub fidelity: f64,
    /// Composition, centring and contrast.
    pub aesthetics: f64,
    pub harm_propensity: f64,
}

/// The alignment errors a generator can make; each one is visible in the pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlignmentError {
    WrongColour,
    WrongShape,
    WrongCount,
    WrongSize,
    WrongStyle,
    /// Colour binding failure: the two objects' colours are swapped.
    SwappedColours,
    ViolatedRelation,
    MissingObject,
    WrongBackground,
}

impl AlignmentError {
    pub fn name(self) -> &'static str {
        match self {
            AlignmentError::WrongColour => "wrong_colour",
            AlignmentError::WrongShape => "wrong_shape",
            AlignmentError::WrongCount => "wrong_count",
            AlignmentError::WrongSize => "wrong_size",
            AlignmentError::WrongStyle => "wrong_style",
            AlignmentError::SwappedColours => "swapped_colours",
            AlignmentError::ViolatedRelation => "violated_relation",
            AlignmentError::MissingObject => "missing_object",
            AlignmentError::WrongBackground => "wrong_background",
        }
    }

    /// Every error kind, in declaration order.
    pub const ALL: [AlignmentError; 9] = [
        AlignmentError::WrongColour,
        AlignmentError::WrongShape,
        AlignmentError::WrongCount,
        AlignmentError::WrongSize,
        AlignmentError::WrongStyle,
        AlignmentError::SwappedColours,
        AlignmentError::ViolatedRelation,
        AlignmentError::MissingObject,
        AlignmentError::WrongBackground,
    ];

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == s)
    }

    /// Probability of this error for a generator of perfect-to-zero skill: rate * (1 - skill).
    /// Relations and counts are the hardest, as for real diffusion models.
    fn base_rate(self) -> f64 {
        match self {
            AlignmentError::WrongColour => 0.35,
            AlignmentError::WrongShape => 0.35,
            AlignmentError::WrongCount => 0.7,
            AlignmentError::WrongSize => 0.45,
            AlignmentError::WrongStyle => 0.6,
            AlignmentError::SwappedColours => 0.5,
            AlignmentError::ViolatedRelation => 0.8,
            AlignmentError::MissingObject => 0.3,
            AlignmentError::WrongBackground => 0.45,
        }
    }
}

impl GeneratorProfile {
    /// Probability of an alignment error of kind `e` (per object group where it applies).
    pub fn error_rate(&self, e: AlignmentError) -> f64 {
        (e.base_rate() * (1.0 - self.alignment_skill)).clamp(0.0, 1.0)
    }
}

/// `n` generators with skills spread evenly over a ladder, each dimension permuted
/// independently (from the seed) so that a generator good at alignment need not be good at
/// fidelity: the reward model must look at both.
pub fn generator_pool(n: usize, seed: u64) -> Vec<GeneratorProfile> {
    let mut rng = prng::Rng::derive(seed, "generators");
    let ladder = |lo: f64, hi: f64, i: usize| {
        let v = if n == 1 {
            (lo + hi) / 2.0
        } else {
            lo + (hi - lo) * i as f64 / (n - 1) as f64
        };
        (v * 1000.0).round() / 1000.0
    };
    let mut perms: Vec<Vec<usize>> = Vec::new();
    for _ in 0..3 {
        let mut p: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut p);
        perms.push(p);
    }
    (0..n)
        .map(|i| GeneratorProfile {
            name: format!("gen-{}", i + 1),
            alignment_skill: ladder(0.2, 0.9, i),
            fidelity: ladder(0.3, 0.9, perms[0][i]),
            aesthetics: ladder(0.2, 0.9, perms[1][i]),
            harm_propensity: ladder(0.2, 0.8, perms[2][i]),
        })
        .collect()
}

/// An object as actually drawn, in unit image coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DrawnObject {
    /// The prompt object group it stands for.
    pub slot: usize,
    pub shape: Shape,
    pub colour: Colour,
    pub size: Size,
    pub style: Style,
    pub cx: f64,
    pub cy: f64,
    pub r: f64,
    /// A missing wedge (start angle, width in radians): a "broken part" defect.
    pub broken: Option<(f64, f64)>,
}

/// Fidelity defects of one image, each with its drawn strength.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Defects {
    /// Standard deviation of additive pixel noise, in 0..255 units.
    pub noise_sigma: f64,
    /// Number of 3x3 box-blur passes.
    pub blur_passes: u32,
    /// Posterisation to this many levels per channel (colour banding).
    pub banding_levels: Option<u32>,
    /// Share of an object's outline cut away (0 = none).
    pub broken: f64,
    /// A semi-transparent duplicate of one object: (object index, dx, dy, alpha).
    pub ghost: Option<(usize, f64, f64, f64)>,
}

/// The harmful motif: a skull glyph on a dark-red plate in one corner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Motif {
    /// 0 = top left, 1 = top right, 2 = bottom left, 3 = bottom right.
    pub corner: u8,
    /// Harm severity in (0, 1]; the glyph grows with it.
    pub severity: f64,
}

/// One generated image, fully described: what `render` draws and `truth` scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// `p00001-g3`: prompt id and 1-based index within the prompt.
    pub id: String,
    /// Index of the prompt in [`crate::World::prompts`].
    pub prompt: usize,
    /// Index of the generator in [`crate::World::generators`].
    pub generator: usize,
    pub background: Background,
    pub objects: Vec<DrawnObject>,
    /// The alignment errors applied, in the order they were drawn.
    pub errors: Vec<AlignmentError>,
    pub defects: Defects,
    /// Global contrast factor in (0, 1]: 1 = untouched, lower = washed out (poor aesthetics).
    pub contrast: f64,
    /// Distance of the composition's centre from the image centre (unit coordinates).
    pub offset: f64,
    pub motif: Option<Motif>,
    /// Seed of the pixel noise, so that rendering is a pure function of the generation.
    pub noise_seed: u64,
}

fn other<T: Copy + PartialEq>(rng: &mut prng::Rng, all: &[T], not: T) -> T {
    loop {
        let v = *rng.choose(all);
        if v != not {
            return v;
        }
    }
}

/// Draws whether error `e` happens (at `scale` times the generator's rate) and records it.
fn roll(
    rng: &mut prng::Rng,
    g: &GeneratorProfile,
    errors: &mut Vec<AlignmentError>,
    scale: f64,
    e: AlignmentError,
) -> bool {
    let hit = rng.bernoulli(g.error_rate(e) * scale);
    if hit {
        errors.push(e);
    }
    hit
}

/// What generator `g` draws for prompt `p`. All randomness comes from `rng`, the generation's
/// own stream.
pub fn generate_one(
    rng: &mut prng::Rng,
    id: String,
    prompt_index: usize,
    p: &PromptSpec,
    generator_index: usize,
    g: &GeneratorProfile,
    cfg: &WorldConfig,
) -> Generation {
    let scene = &p.scene;
    let mut errors = Vec::new();

    // Background: the named one unless the generator gets it wrong; otherwise any on which the
    // requested colours show.
    let background = match scene.background {
        Some(bg) if roll(rng, g, &mut errors, 1.0, AlignmentError::WrongBackground) => {
            // a wrong background that hid the objects would also look like a missing object
            let ok: Vec<Background> = Background::ALL
                .into_iter()
                .filter(|&b| b != bg && scene.objects.iter().all(|o| b.shows(o.colour)))
                .collect();
            if ok.is_empty() {
                other(rng, &Background::ALL, bg)
            } else {
                *rng.choose(&ok)
            }
        }
        Some(bg) => bg,
        None => {
            let ok: Vec<Background> = Background::ALL
                .into_iter()
                .filter(|b| scene.objects.iter().all(|o| b.shows(o.colour)))
                .collect();
            if ok.is_empty() {
                Background::Grey
            } else {
                *rng.choose(&ok)
            }
        }
    };

    // Object groups as drawn: (slot, shape, colour, size, style, count); None = missing.
    struct Group {
        shape: Shape,
        colour: Colour,
        size: Size,
        style: Style,
        count: u32,
    }
    let mut groups: Vec<Option<Group>> = Vec::new();
    let multi = scene.objects.len() > 1;
    for o in &scene.objects {
        // a lone object goes missing less often than one of two (attention leaks to the other)
        let missing_rate_scale = if multi { 1.0 } else { 0.3 };
        if roll(
            rng,
            g,
            &mut errors,
            missing_rate_scale,
            AlignmentError::MissingObject,
        ) {
            groups.push(None);
            continue;
        }
        let mut grp = Group {
            shape: o.shape,
            colour: o.colour,
            size: o
                .size
                .unwrap_or_else(|| *rng.choose(&[Size::Small, Size::Large])),
            style: o.style.unwrap_or(Style::Flat),
            count: o.count,
        };
        if roll(rng, g, &mut errors, 1.0, AlignmentError::WrongShape) {
            grp.shape = other(rng, &Shape::ALL, o.shape);
        }
        if roll(rng, g, &mut errors, 1.0, AlignmentError::WrongColour) {
            let visible: Vec<Colour> = Colour::ALL
                .into_iter()
                .filter(|&c| c != o.colour && background.shows(c))
                .collect();
            grp.colour = if visible.is_empty() {
                other(rng, &Colour::ALL, o.colour)
            } else {
                *rng.choose(&visible)
            };
        }
        // counts are a requirement of every group; single objects are duplicated more rarely
        let count_scale = if scene.category == Category::Counting {
            1.0
        } else {
            0.25
        };
        if roll(rng, g, &mut errors, count_scale, AlignmentError::WrongCount) {
            grp.count = if o.count == 1 || rng.bernoulli(0.5) {
                o.count + 1
            } else {
                o.count - 1
            };
        }
        if o.size.is_some() && roll(rng, g, &mut errors, 1.0, AlignmentError::WrongSize) {
            grp.size = grp.size.other();
        }
        if let Some(st) = o.style
            && roll(rng, g, &mut errors, 1.0, AlignmentError::WrongStyle)
        {
            grp.style = other(rng, &Style::ALL, st);
        }
        groups.push(Some(grp));
    }
    if scene.category == Category::ColourBinding
        && groups.iter().all(Option::is_some)
        && roll(rng, g, &mut errors, 1.0, AlignmentError::SwappedColours)
        && let [Some(a), Some(b)] = groups.as_mut_slice()
    {
        std::mem::swap(&mut a.colour, &mut b.colour);
    }

    // Layout: the composition's centre drifts from the image centre the worse the generator's
    // taste; a relation is realised along its axis, or broken by swapping or turning it.
    let taste = (g.aesthetics + 0.15 * rng.normal()).clamp(0.0, 1.0);
    let offset = (1.0 - taste) * rng.range_f64(0.1, 0.3);
    let angle = rng.range_f64(0.0, std::f64::consts::TAU);
    let (ox, oy) = (0.5 + offset * angle.cos(), 0.5 + offset * angle.sin());
    let mut objects: Vec<DrawnObject> = Vec::new();
    let place_group = |objects: &mut Vec<DrawnObject>,
                       slot: usize,
                       grp: &Group,
                       cx: f64,
                       cy: f64,
                       rng: &mut prng::Rng| {
        let n = grp.count.max(1) as usize;
        let r = grp.size.radius();
        let cols = (n as f64).sqrt().ceil() as usize;
        let rows = n.div_ceil(cols);
        let step = (2.4 * r).min(0.9 / cols as f64);
        for k in 0..n {
            let (row, col) = (k / cols, k % cols);
            // the last row of an uneven grid is centred
            let in_row = if row == rows - 1 {
                n - row * cols
            } else {
                cols
            };
            let x = cx + (col as f64 - (in_row as f64 - 1.0) / 2.0) * step;
            let y = cy + (row as f64 - (rows as f64 - 1.0) / 2.0) * step;
            objects.push(DrawnObject {
                slot,
                shape: grp.shape,
                colour: grp.colour,
                size: grp.size,
                style: grp.style,
                cx: x + rng.range_f64(-0.015, 0.015),
                cy: y + rng.range_f64(-0.015, 0.015),
                r,
                broken: None,
            });
        }
    };
    match groups.as_slice() {
        [Some(a), Some(b)] => {
            let (mut dx, mut dy) = match scene.relation {
                Some(rel) => rel.direction(),
                None => *rng.choose(&[(-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0)]),
            };
            if scene.relation.is_some()
                && roll(rng, g, &mut errors, 1.0, AlignmentError::ViolatedRelation)
            {
                if rng.bernoulli(0.6) {
                    (dx, dy) = (-dx, -dy);
                } else {
                    let s = if rng.bernoulli(0.5) { 1.0 } else { -1.0 };
                    (dx, dy) = (dy * s, dx * s);
                }
            }
            let half = (a.size.radius() + b.size.radius()) / 2.0 + 0.06;
            place_group(&mut objects, 0, a, ox + dx * half, oy + dy * half, rng);
            place_group(&mut objects, 1, b, ox - dx * half, oy - dy * half, rng);
        }
        _ => {
            for (slot, grp) in groups.iter().enumerate() {
                if let Some(grp) = grp {
                    place_group(&mut objects, slot, grp, ox, oy, rng);
                }
            }
        }
    }
    let contrast = 1.0 - (1.0 - taste) * rng.range_f64(0.2, 0.6);

    // Fidelity: quality words raise the generator's effective level, as ImageReward found.
    let boost = if p.quality_words.is_empty() {
        0.0
    } else {
        cfg.quality_word_boost
    };
    let q = (g.fidelity + boost + 0.12 * rng.normal()).clamp(0.0, 1.0);
    let d = 1.0 - q;
    let mut defects = Defects {
        noise_sigma: (32.0 * (d * rng.range_f64(0.7, 1.3) - 0.08)).clamp(0.0, 32.0),
        ..Defects::default()
    };
    if rng.bernoulli(d) {
        defects.blur_passes = 1 + rng.bernoulli(d * d) as u32;
    }
    if rng.bernoulli(0.6 * d) {
        defects.banding_levels = Some(rng.range_usize(3, 5) as u32);
    }
    if !objects.is_empty() && rng.bernoulli(0.6 * d) {
        let w = rng.range_f64(0.6, 1.6);
        let start = rng.range_f64(0.0, std::f64::consts::TAU);
        for o in objects.iter_mut() {
            o.broken = Some((start, w));
        }
        defects.broken = w / std::f64::consts::TAU;
    }
    if !objects.is_empty() && rng.bernoulli(0.45 * d) {
        let k = rng.below(objects.len());
        let r = objects[k].r;
        let a = rng.range_f64(0.0, std::f64::consts::TAU);
        defects.ghost = Some((
            k,
            r * 0.9 * a.cos(),
            r * 0.9 * a.sin(),
            rng.range_f64(0.35, 0.6),
        ));
    }

    // Harm: prompt-dependent, scaled by the generator's propensity (mean propensity 0.5 -> the
    // configured rate).
    let rate = if p.harmful_phrase.is_some() {
        cfg.harmful_prompt_motif_rate
    } else {
        cfg.harmful_base_rate
    };
    let motif = rng
        .bernoulli((rate * 2.0 * g.harm_propensity).min(0.95))
        .then(|| Motif {
            corner: rng.below(4) as u8,
            severity: rng.range_f64(0.4, 1.0),
        });

    Generation {
        id,
        prompt: prompt_index,
        generator: generator_index,
        background,
        objects,
        errors,
        defects,
        contrast,
        offset,
        motif,
        noise_seed: rng.next_u64(),
    }
}
