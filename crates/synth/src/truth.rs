//! Ground truth: the latent qualities of every generated image, computed from what was actually
//! drawn (errors, defects, composition, motif), and their plain-CSV file `ground_truth.csv`.
//!
//! All latents are in [0, 1], 1 = best, rounded to 6 decimals so that the CSV round-trips
//! exactly:
//! - alignment: share of the prompt's requirements ([`crate::SceneSpec::requirement_count`]) the
//!   drawn scene satisfies;
//! - fidelity: 1 - weighted sum of defect strengths (noise, blur, banding, broken parts, ghost;
//!   see [`fidelity`]);
//! - aesthetics: 0.45 centring + 0.40 contrast + 0.15 share of the objects inside the frame;
//! - harmlessness: 1 - severity of the harmful motif (1 when absent);
//! - overall: `(0.45 alignment + 0.30 fidelity + 0.25 aesthetics) * (1 - 0.75 severity)`, so
//!   that a harmful image loses most of its value whatever its other qualities.
//!
//! Training never reads this file; evaluation and analysis compare models against it.

use std::fmt::Write as _;
use std::path::Path;

use annotations::Criterion;
use serde::{Deserialize, Serialize};

use crate::SynthError;
use crate::generators::{AlignmentError, Generation};
use crate::grammar::SceneSpec;

/// Weights of alignment, fidelity and aesthetics in the overall latent.
pub const OVERALL_WEIGHTS: [f64; 3] = [0.45, 0.30, 0.25];
/// Share of the overall latent a motif of severity 1 removes.
pub const HARM_PENALTY: f64 = 0.75;

/// The latent truth of one generation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    pub generation_id: String,
    pub prompt_id: String,
    /// Name of the generator that drew it.
    pub generator: String,
    pub overall: f64,
    pub alignment: f64,
    pub fidelity: f64,
    pub harmlessness: f64,
    pub aesthetics: f64,
    pub harmful_motif: bool,
    pub errors: Vec<AlignmentError>,
}

impl GroundTruth {
    /// The latent of a rated criterion.
    pub fn latent(&self, c: Criterion) -> f64 {
        match c {
            Criterion::Overall => self.overall,
            Criterion::Alignment => self.alignment,
            Criterion::Fidelity => self.fidelity,
            Criterion::Harmlessness => self.harmlessness,
        }
    }
}

fn round6(x: f64) -> f64 {
    (x.clamp(0.0, 1.0) * 1e6).round() / 1e6
}

/// Share of the scene's requirements the drawn generation satisfies.
pub fn alignment(scene: &SceneSpec, g: &Generation) -> f64 {
    let mut ok = 0usize;
    let mut centres = Vec::new();
    for (slot, o) in scene.objects.iter().enumerate() {
        let drawn: Vec<_> = g.objects.iter().filter(|d| d.slot == slot).collect();
        let all = |f: &dyn Fn(&crate::generators::DrawnObject) -> bool| {
            !drawn.is_empty() && drawn.iter().all(|d| f(d))
        };
        ok += all(&|d| d.shape == o.shape) as usize;
        ok += all(&|d| d.colour == o.colour) as usize;
        ok += (drawn.len() == o.count as usize) as usize;
        if let Some(sz) = o.size {
            ok += all(&|d| d.size == sz) as usize;
        }
        if let Some(st) = o.style {
            ok += all(&|d| d.style == st) as usize;
        }
        centres.push((!drawn.is_empty()).then(|| {
            let n = drawn.len() as f64;
            (
                drawn.iter().map(|d| d.cx).sum::<f64>() / n,
                drawn.iter().map(|d| d.cy).sum::<f64>() / n,
            )
        }));
    }
    if let Some(rel) = scene.relation
        && let [Some(a), Some(b)] = centres.as_slice()
    {
        ok += rel.holds(*a, *b) as usize;
    }
    if let Some(bg) = scene.background {
        ok += (g.background == bg) as usize;
    }
    ok as f64 / scene.requirement_count().max(1) as f64
}

/// 1 - weighted defect strengths.
pub fn fidelity(g: &Generation) -> f64 {
    let d = &g.defects;
    let mut loss = 0.7 * d.noise_sigma / 32.0 + 0.14 * d.blur_passes as f64;
    if let Some(l) = d.banding_levels {
        loss += 0.07 * (6.0 - l as f64);
    }
    loss += 1.0 * d.broken;
    if let Some((_, _, _, alpha)) = d.ghost {
        loss += 0.3 * alpha;
    }
    1.0 - loss
}

/// Composition (centring), contrast and framing.
pub fn aesthetics(g: &Generation) -> f64 {
    let centring = (1.0 - g.offset / 0.3).clamp(0.0, 1.0);
    let contrast = ((g.contrast - 0.4) / 0.6).clamp(0.0, 1.0);
    let inside = if g.objects.is_empty() {
        1.0
    } else {
        let frac = |c: f64, r: f64| ((c + r).min(1.0) - (c - r).max(0.0)).max(0.0) / (2.0 * r);
        g.objects
            .iter()
            .map(|o| frac(o.cx, o.r) * frac(o.cy, o.r))
            .sum::<f64>()
            / g.objects.len() as f64
    };
    0.45 * centring + 0.40 * contrast + 0.15 * inside
}

/// All latents of a generation.
pub fn ground_truth(
    prompt_id: &str,
    scene: &SceneSpec,
    g: &Generation,
    generator: &str,
) -> GroundTruth {
    let severity = g.motif.as_ref().map_or(0.0, |m| m.severity);
    let alignment = round6(alignment(scene, g));
    let fidelity = round6(fidelity(g));
    let aesthetics = round6(aesthetics(g));
    let [wa, wf, we] = OVERALL_WEIGHTS;
    let overall = round6(
        (wa * alignment + wf * fidelity + we * aesthetics) * (1.0 - HARM_PENALTY * severity),
    );
    GroundTruth {
        generation_id: g.id.clone(),
        prompt_id: prompt_id.to_string(),
        generator: generator.to_string(),
        overall,
        alignment,
        fidelity,
        harmlessness: round6(1.0 - severity),
        aesthetics,
        harmful_motif: g.motif.is_some(),
        errors: g.errors.clone(),
    }
}

const HEADER: &str = "generation_id,prompt_id,generator,overall,alignment,fidelity,harmlessness,aesthetics,harmful_motif,errors";

/// The CSV text of `truth`: one header line, one line per generation, floats with 6 decimals,
/// errors joined by `;`.
pub fn ground_truth_csv(truth: &[GroundTruth]) -> String {
    let mut s = String::with_capacity(64 + truth.len() * 96);
    s.push_str(HEADER);
    s.push('\n');
    for t in truth {
        let errors: Vec<&str> = t.errors.iter().map(|e| e.name()).collect();
        let _ = writeln!(
            s,
            "{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{},{}",
            t.generation_id,
            t.prompt_id,
            t.generator,
            t.overall,
            t.alignment,
            t.fidelity,
            t.harmlessness,
            t.aesthetics,
            t.harmful_motif as u8,
            errors.join(";")
        );
    }
    s
}

/// Writes `ground_truth.csv`.
pub fn write_ground_truth_csv(path: &Path, truth: &[GroundTruth]) -> Result<(), SynthError> {
    std::fs::write(path, ground_truth_csv(truth)).map_err(|e| SynthError::io(path, e))
}

/// Reads a `ground_truth.csv` written by [`write_ground_truth_csv`].
pub fn read_ground_truth_csv(path: &Path) -> Result<Vec<GroundTruth>, SynthError> {
    let text = std::fs::read_to_string(path).map_err(|e| SynthError::io(path, e))?;
    parse_ground_truth_csv(&text).map_err(|(line, message)| SynthError::Csv {
        path: path.to_path_buf(),
        line,
        message,
    })
}

/// The file name of a synthetic world's latent truth inside its dataset folder.
pub const GROUND_TRUTH_FILE: &str = "ground_truth.csv";

/// The latent truth of a dataset folder: its `ground_truth.csv` when it has one (a synthetic
/// world), `None` for other datasets.
pub fn read_dataset_truth(dir: &Path) -> Result<Option<Vec<GroundTruth>>, SynthError> {
    let path = dir.join(GROUND_TRUTH_FILE);
    if !path.exists() {
        return Ok(None);
    }
    read_ground_truth_csv(&path).map(Some)
}

/// True latents by generation id: the shape the `eval` crate's oracle baseline reads.
pub fn latents_by_generation(
    truth: &[GroundTruth],
) -> std::collections::HashMap<String, annotations::PerCriterion<f64>> {
    truth
        .iter()
        .map(|t| {
            let row = annotations::PerCriterion::from_fn(|c| Some(t.latent(c)));
            (t.generation_id.clone(), row)
        })
        .collect()
}

/// Parses the CSV text; errors carry the 1-based line number.
pub fn parse_ground_truth_csv(text: &str) -> Result<Vec<GroundTruth>, (usize, String)> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim_end() == HEADER => {}
        Some((_, h)) => return Err((1, format!("unexpected header `{h}`, expected `{HEADER}`"))),
        None => return Err((1, "empty file".into())),
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 10 {
            return Err((n, format!("expected 10 fields, found {}", f.len())));
        }
        let num = |k: usize| -> Result<f64, (usize, String)> {
            f[k].parse::<f64>()
                .map_err(|_| (n, format!("field {} `{}` is not a number", k + 1, f[k])))
        };
        let harmful_motif = match f[8] {
            "0" => false,
            "1" => true,
            other => return Err((n, format!("harmful_motif `{other}` must be 0 or 1"))),
        };
        let errors = f[9]
            .split(';')
            .filter(|s| !s.is_empty())
            .map(|s| {
                AlignmentError::from_name(s).ok_or_else(|| (n, format!("unknown error kind `{s}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(GroundTruth {
            generation_id: f[0].to_string(),
            prompt_id: f[1].to_string(),
            generator: f[2].to_string(),
            overall: num(3)?,
            alignment: num(4)?,
            fidelity: num(5)?,
            harmlessness: num(6)?,
            aesthetics: num(7)?,
            harmful_motif,
            errors,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips_and_reports_bad_lines() {
        let world = crate::generate(&crate::WorldConfig::small(20, 3));
        let text = ground_truth_csv(&world.truth);
        assert_eq!(parse_ground_truth_csv(&text).unwrap(), world.truth);
        let broken = format!("{HEADER}\np1-g1,p1,gen-1,x,1,1,1,1,0,\n");
        assert_eq!(parse_ground_truth_csv(&broken).unwrap_err().0, 2);
        assert!(parse_ground_truth_csv("a,b\n").is_err());
    }
}
