//! The prompt grammar: compositional scenes of coloured shapes, the categories prompts are drawn
//! from, and the text of each prompt together with its parsed [`SceneSpec`], so that generators
//! and the renderer know exactly what was asked for.

use serde::{Deserialize, Serialize};

use crate::config::WorldConfig;

/// Object shapes. Each is drawn by a point-in-shape test in `render`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Circle,
    Square,
    Triangle,
    Star,
    Ring,
    Cross,
    Diamond,
}

impl Shape {
    pub const ALL: [Shape; 7] = [
        Shape::Circle,
        Shape::Square,
        Shape::Triangle,
        Shape::Star,
        Shape::Ring,
        Shape::Cross,
        Shape::Diamond,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Circle => "circle",
            Shape::Square => "square",
            Shape::Triangle => "triangle",
            Shape::Star => "star",
            Shape::Ring => "ring",
            Shape::Cross => "cross",
            Shape::Diamond => "diamond",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Shape::Circle => "circles",
            Shape::Square => "squares",
            Shape::Triangle => "triangles",
            Shape::Star => "stars",
            Shape::Ring => "rings",
            Shape::Cross => "crosses",
            Shape::Diamond => "diamonds",
        }
    }
}

/// Object colours, far enough apart in RGB that a 64-pixel image shows which one was drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    Red,
    Green,
    Blue,
    Yellow,
    Purple,
    Orange,
    White,
    Black,
}

impl Colour {
    pub const ALL: [Colour; 8] = [
        Colour::Red,
        Colour::Green,
        Colour::Blue,
        Colour::Yellow,
        Colour::Purple,
        Colour::Orange,
        Colour::White,
        Colour::Black,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Green => "green",
            Colour::Blue => "blue",
            Colour::Yellow => "yellow",
            Colour::Purple => "purple",
            Colour::Orange => "orange",
            Colour::White => "white",
            Colour::Black => "black",
        }
    }

    pub fn rgb(self) -> [u8; 3] {
        match self {
            Colour::Red => [220, 30, 30],
            Colour::Green => [30, 170, 50],
            Colour::Blue => [30, 70, 220],
            Colour::Yellow => [240, 220, 30],
            Colour::Purple => [140, 40, 180],
            Colour::Orange => [245, 140, 20],
            Colour::White => [245, 245, 245],
            Colour::Black => [20, 20, 20],
        }
    }
}

/// Object size when the prompt names one; otherwise the generator picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    Small,
    Large,
}

impl Size {
    pub fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Large => "large",
        }
    }

    /// Radius in unit image coordinates (the image is 1 wide).
    pub fn radius(self) -> f64 {
        match self {
            Size::Small => 0.095,
            Size::Large => 0.165,
        }
    }

    pub fn other(self) -> Size {
        match self {
            Size::Small => Size::Large,
            Size::Large => Size::Small,
        }
    }
}

/// How an object is filled. Prompts outside the `style` category leave it unspecified and the
/// generators draw `Flat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    Flat,
    Outlined,
    Striped,
    Checkered,
}

impl Style {
    pub const ALL: [Style; 4] = [
        Style::Flat,
        Style::Outlined,
        Style::Striped,
        Style::Checkered,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Style::Flat => "flat",
            Style::Outlined => "outlined",
            Style::Striped => "striped",
            Style::Checkered => "checkered",
        }
    }
}

/// Spatial relation of the first object to the second (`spatial` prompts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    LeftOf,
    RightOf,
    Above,
    Below,
}

impl Relation {
    pub const ALL: [Relation; 4] = [
        Relation::LeftOf,
        Relation::RightOf,
        Relation::Above,
        Relation::Below,
    ];

    pub fn phrase(self) -> &'static str {
        match self {
            Relation::LeftOf => "to the left of",
            Relation::RightOf => "to the right of",
            Relation::Above => "above",
            Relation::Below => "below",
        }
    }

    /// Unit direction from the second object to the first (y grows downwards, as in images).
    pub fn direction(self) -> (f64, f64) {
        match self {
            Relation::LeftOf => (-1.0, 0.0),
            Relation::RightOf => (1.0, 0.0),
            Relation::Above => (0.0, -1.0),
            Relation::Below => (0.0, 1.0),
        }
    }

    /// Whether object centres `a` and `b` satisfy "a <relation> b". The margin keeps two objects
    /// stacked on the same axis from counting as "left of" each other.
    pub fn holds(self, a: (f64, f64), b: (f64, f64)) -> bool {
        const MARGIN: f64 = 0.05;
        match self {
            Relation::LeftOf => a.0 < b.0 - MARGIN,
            Relation::RightOf => a.0 > b.0 + MARGIN,
            Relation::Above => a.1 < b.1 - MARGIN,
            Relation::Below => a.1 > b.1 + MARGIN,
        }
    }
}

/// Scene backgrounds; each has a small palette so that object colours that would vanish on it
/// are never asked for on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Background {
    White,
    Grey,
    Gradient,
    Grass,
    Sky,
    Night,
}

impl Background {
    pub const ALL: [Background; 6] = [
        Background::White,
        Background::Grey,
        Background::Gradient,
        Background::Grass,
        Background::Sky,
        Background::Night,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Background::White => "white",
            Background::Grey => "grey",
            Background::Gradient => "gradient",
            Background::Grass => "grass",
            Background::Sky => "sky",
            Background::Night => "night",
        }
    }

    pub fn phrase(self) -> &'static str {
        match self {
            Background::White => "on a white background",
            Background::Grey => "on a grey background",
            Background::Gradient => "on a gradient background",
            Background::Grass => "on green grass",
            Background::Sky => "under a blue sky",
            Background::Night => "at night",
        }
    }

    /// The colours the background is made of (the renderer interpolates between them).
    pub fn palette(self) -> &'static [[u8; 3]] {
        match self {
            Background::White => &[[250, 250, 250]],
            Background::Grey => &[[128, 128, 128]],
            Background::Gradient => &[[70, 150, 160], [240, 190, 150]],
            Background::Grass => &[[150, 200, 240], [60, 150, 60]],
            Background::Sky => &[[110, 170, 235], [200, 225, 250]],
            Background::Night => &[[10, 15, 50], [25, 30, 80]],
        }
    }

    /// Whether an object of this colour stays clearly visible on the background.
    pub fn shows(self, c: Colour) -> bool {
        let o = c.rgb();
        self.palette().iter().all(|p| {
            let d: f64 = (0..3).map(|i| (p[i] as f64 - o[i] as f64).powi(2)).sum();
            d.sqrt() > 95.0
        })
    }
}

/// Prompt categories, after the compositional skills T2I benchmarks probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    SingleObject,
    Counting,
    ColourBinding,
    Spatial,
    Style,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::SingleObject,
        Category::Counting,
        Category::ColourBinding,
        Category::Spatial,
        Category::Style,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::SingleObject => "single_object",
            Category::Counting => "counting",
            Category::ColourBinding => "colour_binding",
            Category::Spatial => "spatial",
            Category::Style => "style",
        }
    }
}

/// One object group of a prompt: `count` identical objects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectSpec {
    pub shape: Shape,
    pub colour: Colour,
    /// `None` when the prompt does not say (the generator chooses; not a requirement).
    pub size: Option<Size>,
    /// `None` when the prompt does not say (drawn flat; not a requirement).
    pub style: Option<Style>,
    pub count: u32,
}

/// What a prompt asks for, as the renderer and the ground truth see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SceneSpec {
    pub category: Category,
    pub objects: Vec<ObjectSpec>,
    /// Relation of `objects[0]` to `objects[1]` (`spatial` prompts only).
    pub relation: Option<Relation>,
    /// `None` when the prompt names no background (not a requirement).
    pub background: Option<Background>,
}

impl SceneSpec {
    /// Number of checkable requirements: per object group its shape, colour and count, plus its
    /// size and style when named; the relation and the background when named. Alignment is the
    /// share of these an image satisfies.
    pub fn requirement_count(&self) -> usize {
        let per_object: usize = self
            .objects
            .iter()
            .map(|o| 3 + o.size.is_some() as usize + o.style.is_some() as usize)
            .sum();
        per_object + self.relation.is_some() as usize + self.background.is_some() as usize
    }
}

/// A prompt: its id, its text and the scene the text describes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptSpec {
    pub id: String,
    pub text: String,
    pub scene: SceneSpec,
    /// Appended quality words, which raise the generators' fidelity.
    pub quality_words: Vec<String>,
    /// The harmful-content phrase the prompt mentions, if any; it raises the motif's probability
    /// but is not a drawable requirement.
    pub harmful_phrase: Option<String>,
}

/// Quality words appended to some prompts; as in ImageReward's analysis they go with better
/// fidelity.
pub const QUALITY_WORDS: [&str; 6] = [
    "highly detailed",
    "8k",
    "masterpiece",
    "trending on artstation",
    "4k",
    "realistic",
];

/// Phrases that make a prompt ask, in part, for harmful content.
pub const HARMFUL_PHRASES: [&str; 6] = [
    "with a weapon",
    "covered in blood",
    "next to a skull",
    "in a gory scene",
    "holding a knife",
    "with a bloody skull",
];

const COUNT_WORDS: [&str; 6] = ["zero", "one", "two", "three", "four", "five"];

/// The English word for a small count ("three"); digits beyond five.
pub fn count_word(n: u32) -> String {
    COUNT_WORDS
        .get(n as usize)
        .map(|s| s.to_string())
        .unwrap_or_else(|| n.to_string())
}

fn article(next: &str) -> &'static str {
    if next.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// "a large red circle", "three blue stars", "an outlined white cross".
fn object_phrase(o: &ObjectSpec) -> String {
    let mut words: Vec<&str> = Vec::new();
    if let Some(st) = o.style {
        words.push(st.name());
    }
    if let Some(sz) = o.size {
        words.push(sz.name());
    }
    words.push(o.colour.name());
    words.push(if o.count == 1 {
        o.shape.name()
    } else {
        o.shape.plural()
    });
    let body = words.join(" ");
    if o.count == 1 {
        format!("{} {body}", article(&body))
    } else {
        format!("{} {body}", count_word(o.count))
    }
}

/// The text of a scene, without quality words or harmful phrases.
pub fn scene_text(s: &SceneSpec) -> String {
    let mut text = match (s.category, s.objects.as_slice()) {
        (Category::Spatial, [a, b]) => {
            let rel = s.relation.map(Relation::phrase).unwrap_or("next to");
            format!("{} {rel} {}", object_phrase(a), object_phrase(b))
        }
        (Category::Counting, [a]) if a.count == 1 => {
            // counting prompts spell out "one" so that the count is explicit
            let o = ObjectSpec {
                count: 1,
                ..a.clone()
            };
            let p = object_phrase(&o);
            let body = p.split_once(' ').map(|(_, b)| b).unwrap_or(&p);
            format!("one {body}")
        }
        _ => s
            .objects
            .iter()
            .map(object_phrase)
            .collect::<Vec<_>>()
            .join(" and "),
    };
    if let Some(bg) = s.background {
        text.push(' ');
        text.push_str(bg.phrase());
    }
    text
}

/// Colours clearly visible on every background in `bgs`.
fn visible_colours(bg: Option<Background>) -> Vec<Colour> {
    Colour::ALL
        .into_iter()
        .filter(|&c| bg.is_none_or(|b| b.shows(c)))
        .collect()
}

/// Draws one prompt. `rng` should be the prompt's own stream so that prompts do not depend on
/// one another.
pub fn sample_prompt(rng: &mut prng::Rng, id: String, cfg: &WorldConfig) -> PromptSpec {
    let category = *rng.choose(&Category::ALL);
    let background = rng
        .bernoulli(cfg.background_mention_rate)
        .then(|| *rng.choose(&Background::ALL));
    let colours = visible_colours(background);
    let maybe_size = |rng: &mut prng::Rng| {
        rng.bernoulli(0.5)
            .then(|| *rng.choose(&[Size::Small, Size::Large]))
    };
    let object =
        |rng: &mut prng::Rng, count: u32, size: Option<Size>, style: Option<Style>| ObjectSpec {
            shape: *rng.choose(&Shape::ALL),
            colour: *rng.choose(&colours),
            size,
            style,
            count,
        };
    let mut objects = Vec::new();
    let mut relation = None;
    match category {
        Category::SingleObject => {
            let size = maybe_size(rng);
            objects.push(object(rng, 1, size, None));
        }
        Category::Counting => {
            let n = rng.range_usize(1, 4) as u32;
            let size = maybe_size(rng);
            objects.push(object(rng, n, size, None));
        }
        Category::ColourBinding => {
            let a = object(rng, 1, None, None);
            let mut b = object(rng, 1, None, None);
            // the point of the category is two different colours to bind
            while b.colour == a.colour {
                b.colour = *rng.choose(&colours);
            }
            objects.push(a);
            objects.push(b);
        }
        Category::Spatial => {
            let a = object(rng, 1, None, None);
            let mut b = object(rng, 1, None, None);
            // identical objects would make a swapped relation undetectable
            while b.colour == a.colour && b.shape == a.shape {
                b.shape = *rng.choose(&Shape::ALL);
            }
            objects.push(a);
            objects.push(b);
            relation = Some(*rng.choose(&Relation::ALL));
        }
        Category::Style => {
            let style = *rng.choose(&Style::ALL);
            let size = maybe_size(rng);
            objects.push(object(rng, 1, size, Some(style)));
        }
    }
    let scene = SceneSpec {
        category,
        objects,
        relation,
        background,
    };
    let mut text = scene_text(&scene);
    let harmful_phrase = rng
        .bernoulli(cfg.harmful_prompt_rate)
        .then(|| rng.choose(&HARMFUL_PHRASES).to_string());
    if let Some(h) = &harmful_phrase {
        text.push(' ');
        text.push_str(h);
    }
    let mut quality_words = Vec::new();
    if rng.bernoulli(cfg.quality_word_rate) {
        let mut pool = QUALITY_WORDS;
        rng.shuffle(&mut pool);
        let k = rng.range_usize(1, 3);
        quality_words = pool[..k].iter().map(|s| s.to_string()).collect();
        text.push_str(", ");
        text.push_str(&quality_words.join(", "));
    }
    PromptSpec {
        id,
        text,
        scene,
        quality_words,
        harmful_phrase,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_read_as_english() {
        let s = SceneSpec {
            category: Category::Spatial,
            objects: vec![
                ObjectSpec {
                    shape: Shape::Star,
                    colour: Colour::Orange,
                    size: None,
                    style: None,
                    count: 1,
                },
                ObjectSpec {
                    shape: Shape::Cross,
                    colour: Colour::Blue,
                    size: None,
                    style: None,
                    count: 1,
                },
            ],
            relation: Some(Relation::Above),
            background: Some(Background::Night),
        };
        assert_eq!(scene_text(&s), "an orange star above a blue cross at night");
        assert_eq!(s.requirement_count(), 8);
        let c = SceneSpec {
            category: Category::Counting,
            objects: vec![ObjectSpec {
                shape: Shape::Cross,
                colour: Colour::Red,
                size: Some(Size::Small),
                style: None,
                count: 3,
            }],
            relation: None,
            background: None,
        };
        assert_eq!(scene_text(&c), "three small red crosses");
        let one = SceneSpec {
            objects: vec![ObjectSpec {
                count: 1,
                ..c.objects[0].clone()
            }],
            ..c
        };
        assert_eq!(scene_text(&one), "one small red cross");
    }

    #[test]
    fn requested_colours_are_visible_on_the_requested_background() {
        let cfg = WorldConfig::default();
        let mut rng = prng::Rng::new(5);
        for i in 0..500 {
            let p = sample_prompt(&mut rng, format!("p{i}"), &cfg);
            if let Some(bg) = p.scene.background {
                assert!(
                    p.scene.objects.iter().all(|o| bg.shows(o.colour)),
                    "{}",
                    p.text
                );
            }
        }
        // every background keeps at least four usable colours
        for bg in Background::ALL {
            assert!(visible_colours(Some(bg)).len() >= 4, "{bg:?}");
        }
    }
}
