//! A study file: a base training config crossed with axes and seeds.
//!
//! ```toml
//! [ablation]
//! name = "fusion"                       # default: the file name
//! question = "Cross-attention or concatenation?"
//! base = "default.toml"                 # optional: a training config file, relative to this file;
//!                                       # the inline [data] [model] [optim] [tokenizer] override it
//! seeds = [0, 1, 2]                     # every cell is trained once per seed (sets optim.seed)
//! metrics = ["overall.pairwise_accuracy", "alignment.spearman_latent"]  # the first is the main one
//! resamples = 1000                      # bootstrap resamples of the intervals
//!
//! [[ablation.axes]]
//! key = "model.fusion"                  # any key of the training config, by dotted path
//! values = ["cross_attention", "concat"]
//! labels = ["cross-attention", "concat"] # optional: names in tables, plots and folder names
//! name = "fusion"                        # optional: the axis name (default: the key's last part)
//!
//! [model]                               # the base config, same schema as experiments/default.toml
//! fusion = "cross_attention"
//! ```
//!
//! Every cell's config is checked when the study is read, so a misspelt key or a value of the
//! wrong type is reported (with the study file and the key) before anything trains.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use train::TrainConfig;

use crate::error::{Result, StudyError};
use crate::figures::{MAIN_METRIC, known_metric, metric_names};

/// Default number of bootstrap resamples.
pub const DEFAULT_RESAMPLES: usize = 1000;

/// The most cells a study may have (seeds times the levels of every axis).
pub const MAX_CELLS: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AblationSection {
    name: Option<String>,
    question: Option<String>,
    base: Option<String>,
    seeds: Vec<u64>,
    #[serde(default)]
    metrics: Vec<String>,
    resamples: Option<usize>,
    #[serde(default)]
    axes: Vec<AxisSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AxisSection {
    key: String,
    name: Option<String>,
    values: Vec<toml::Value>,
    labels: Option<Vec<String>>,
}

/// One value of an axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    /// How tables, plots and folder names show it.
    pub label: String,
    pub value: toml::Value,
}

/// A config key varied over levels.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// Dotted path of the config key (`model.fusion`).
    pub key: String,
    /// Short name (column name in the tables).
    pub name: String,
    pub levels: Vec<Level>,
}

/// One training run of the grid: a level of every axis and a seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// Folder name: `axis=label__...__seed=S`.
    pub id: String,
    /// The id without the seed: the cells of a group differ only in their seed.
    pub group: String,
    /// The level index of every axis, in axis order.
    pub levels: Vec<usize>,
    pub seed: u64,
    pub config: TrainConfig,
}

/// A parsed and checked study.
#[derive(Clone, Debug)]
pub struct Study {
    /// The study file.
    pub path: PathBuf,
    pub name: String,
    pub question: Option<String>,
    /// The base training config, with every key resolved.
    pub base: TrainConfig,
    pub seeds: Vec<u64>,
    /// Metrics shown first and plotted; the first is the main one.
    pub metrics: Vec<String>,
    pub resamples: usize,
    pub axes: Vec<Axis>,
    /// Every cell: axes in order (the last varies fastest), then seeds.
    pub cells: Vec<Cell>,
}

fn read_table(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path).map_err(StudyError::io(path))?;
    toml::from_str(&text).map_err(|e| StudyError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// `over` merged into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Sets `key` (a dotted path) in `table`, creating the tables on the way. Fails when a part of
/// the path is a value rather than a table.
fn set_path(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err("a key is a dotted path of names, like `model.fusion`".into());
    }
    let mut t = table;
    for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
        let entry = t
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry {
            toml::Value::Table(inner) => t = inner,
            _ => {
                return Err(format!(
                    "`{}` is a value, not a table of keys",
                    parts[..=i].join(".")
                ));
            }
        }
    }
    t.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// A short label of a value: strings as they are, arrays joined with `+`.
fn label_of(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(a) => a.iter().map(label_of).collect::<Vec<_>>().join("+"),
        other => other.to_string(),
    }
}

/// A label made safe for a folder name.
fn folder_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The message of a training-config error without its origin prefix.
fn config_message(e: &train::TrainError) -> String {
    match e {
        train::TrainError::ConfigParse { message, .. }
        | train::TrainError::InvalidConfigIn { message, .. } => message.trim().to_string(),
        other => other.to_string(),
    }
}

impl Study {
    /// Reads and checks a study file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let table = read_table(path)?;
        Self::from_table(table, path)
    }

    /// Parses a study from its text; `path` names it in errors and anchors a relative `base`.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self> {
        let table = toml::from_str(text).map_err(|e| StudyError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::from_table(table, path)
    }

    fn from_table(mut table: toml::Table, path: &Path) -> Result<Self> {
        let invalid = |key: &str, message: String| StudyError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let Some(section) = table.remove("ablation") else {
            return Err(invalid(
                "ablation",
                "a study file needs an [ablation] table (seeds and axes)".into(),
            ));
        };
        let section: AblationSection =
            section
                .try_into()
                .map_err(|e: toml::de::Error| StudyError::Parse {
                    path: path.to_path_buf(),
                    message: format!("[ablation]: {}", e.message()),
                })?;

        // The base config: the `base` file, then the inline sections over it.
        let mut base_table = match &section.base {
            Some(b) => {
                let p = path.parent().unwrap_or(Path::new(".")).join(b);
                read_table(&p)?
            }
            None => toml::Table::new(),
        };
        merge(&mut base_table, table);
        let base_text = toml::to_string(&base_table).expect("a TOML table serialises");
        let base =
            TrainConfig::from_toml_str(&base_text, &path.display().to_string()).map_err(|e| {
                StudyError::Base {
                    path: path.to_path_buf(),
                    message: config_message(&e),
                }
            })?;
        // From here on the resolved base, so that every cell is fully specified.
        let resolved: toml::Table = toml::from_str(&base.to_toml()).expect("resolved config");

        if section.seeds.is_empty() {
            return Err(invalid(
                "ablation.seeds",
                "give at least one seed, e.g. seeds = [0, 1, 2]".into(),
            ));
        }
        let mut seen = HashSet::new();
        if let Some(s) = section.seeds.iter().find(|s| !seen.insert(**s)) {
            return Err(invalid(
                "ablation.seeds",
                format!("seed {s} is listed twice"),
            ));
        }
        let metrics = if section.metrics.is_empty() {
            vec![MAIN_METRIC.to_string()]
        } else {
            section.metrics.clone()
        };
        if let Some(m) = metrics.iter().find(|m| !known_metric(m)) {
            return Err(invalid(
                "ablation.metrics",
                format!("unknown metric `{m}`; known: {}", metric_names().join(", ")),
            ));
        }
        let resamples = section.resamples.unwrap_or(DEFAULT_RESAMPLES);
        if resamples < 10 {
            return Err(invalid(
                "ablation.resamples",
                format!("{resamples} resamples are too few for an interval (use 1000)"),
            ));
        }

        let mut axes = Vec::new();
        let mut keys = HashSet::new();
        let mut names = HashSet::new();
        for a in section.axes {
            let key = a.key.trim().to_string();
            if key == "optim.seed" {
                return Err(invalid(
                    &key,
                    "seeds are set by [ablation] seeds, not by an axis".into(),
                ));
            }
            if !keys.insert(key.clone()) {
                return Err(invalid(&key, "two axes vary the same key".into()));
            }
            if a.values.is_empty() {
                return Err(invalid(&key, "an axis needs at least one value".into()));
            }
            let labels = match a.labels {
                Some(l) if l.len() != a.values.len() => {
                    return Err(invalid(
                        &key,
                        format!("{} labels for {} values", l.len(), a.values.len()),
                    ));
                }
                Some(l) => l,
                None => a.values.iter().map(label_of).collect(),
            };
            let mut distinct = HashSet::new();
            if let Some(l) = labels.iter().find(|l| !distinct.insert(folder_part(l))) {
                return Err(invalid(
                    &key,
                    format!("two values have the label `{l}`; give distinct labels"),
                ));
            }
            let name = a
                .name
                .unwrap_or_else(|| key.rsplit('.').next().unwrap_or(&key).to_string());
            if !names.insert(name.clone()) {
                return Err(invalid(
                    &key,
                    format!("two axes are named `{name}`; give one a `name`"),
                ));
            }
            // Each value checked on the base alone: the error then names this key.
            for v in &a.values {
                let mut t = resolved.clone();
                let check = set_path(&mut t, &key, v.clone()).and_then(|()| {
                    let text = toml::to_string(&t).map_err(|e| e.to_string())?;
                    TrainConfig::from_toml_str(&text, "cell")
                        .map(|_| ())
                        .map_err(|e| config_message(&e))
                });
                if let Err(message) = check {
                    return Err(StudyError::AxisKey {
                        path: path.to_path_buf(),
                        key: key.clone(),
                        value: v.to_string(),
                        message,
                    });
                }
            }
            axes.push(Axis {
                key,
                name,
                levels: labels
                    .into_iter()
                    .zip(a.values)
                    .map(|(label, value)| Level { label, value })
                    .collect(),
            });
        }

        // Counted before the grid is built: a few long axes would otherwise ask for more cells
        // than memory holds, and no one trains that many runs.
        let cells = axes
            .iter()
            .try_fold(section.seeds.len(), |n, a| n.checked_mul(a.levels.len()));
        if cells.is_none_or(|n| n > MAX_CELLS) {
            let sizes: Vec<String> = axes.iter().map(|a| a.levels.len().to_string()).collect();
            return Err(invalid(
                "ablation.axes",
                format!(
                    "{} seeds x {} levels make more than {MAX_CELLS} cells; split the study",
                    section.seeds.len(),
                    sizes.join(" x ")
                ),
            ));
        }

        let name = section.name.unwrap_or_else(|| {
            path.file_stem()
                .map_or("study".into(), |s| s.to_string_lossy().to_string())
        });
        let mut study = Study {
            path: path.to_path_buf(),
            name,
            question: section.question,
            base,
            seeds: section.seeds,
            metrics,
            resamples,
            axes,
            cells: Vec::new(),
        };
        study.cells = study.expand(&resolved)?;
        Ok(study)
    }

    /// Every combination of levels (the last axis fastest), each with every seed.
    fn expand(&self, resolved: &toml::Table) -> Result<Vec<Cell>> {
        let mut combos: Vec<Vec<usize>> = vec![Vec::new()];
        for axis in &self.axes {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    (0..axis.levels.len()).map(move |i| {
                        let mut c = c.clone();
                        c.push(i);
                        c
                    })
                })
                .collect();
        }
        let mut cells = Vec::new();
        for levels in combos {
            let mut t = resolved.clone();
            let mut parts = Vec::new();
            for (axis, &i) in self.axes.iter().zip(&levels) {
                let level = &axis.levels[i];
                set_path(&mut t, &axis.key, level.value.clone()).expect("checked above");
                parts.push(format!("{}={}", axis.name, folder_part(&level.label)));
            }
            let group = if parts.is_empty() {
                "base".to_string()
            } else {
                parts.join("__")
            };
            for &seed in &self.seeds {
                let mut t = t.clone();
                set_path(
                    &mut t,
                    "optim.seed",
                    toml::Value::Integer(seed.try_into().unwrap_or(i64::MAX)),
                )
                .expect("optim is a table");
                let text = toml::to_string(&t).expect("a TOML table serialises");
                let config = TrainConfig::from_toml_str(&text, "cell").map_err(|e| {
                    // Axes valid one by one may still clash together (e.g. the model shape).
                    StudyError::Invalid {
                        path: self.path.clone(),
                        key: "ablation.axes".into(),
                        message: format!("cell {group}: {}", config_message(&e)),
                    }
                })?;
                cells.push(Cell {
                    id: format!("{group}__seed={seed}"),
                    group: group.clone(),
                    levels: levels.clone(),
                    seed,
                    config,
                });
            }
        }
        Ok(cells)
    }

    /// The level labels of a cell, in axis order.
    pub fn labels(&self, cell: &Cell) -> Vec<String> {
        self.axes
            .iter()
            .zip(&cell.levels)
            .map(|(a, &i)| a.levels[i].label.clone())
            .collect()
    }

    /// The main metric.
    pub fn main_metric(&self) -> &str {
        &self.metrics[0]
    }

    /// The default output folder: `results/<file stem>` beside the study file.
    pub fn default_out(&self) -> PathBuf {
        let stem = self
            .path
            .file_stem()
            .map_or("study".into(), |s| s.to_string_lossy().to_string());
        self.path
            .parent()
            .unwrap_or(Path::new("."))
            .join("results")
            .join(stem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[data]
world_prompts = 40
[model]
d_model = 32
n_heads = 2
"#;

    fn study(ablation: &str) -> Result<Study> {
        Study::from_toml_str(
            &format!("{BASE}\n{ablation}"),
            Path::new("experiments/x.toml"),
        )
    }

    #[test]
    fn axes_cross_with_seeds_in_order() {
        let s = study(
            r#"
[ablation]
seeds = [3, 4]
[[ablation.axes]]
key = "model.heads"
values = [["overall"], ["overall", "alignment", "fidelity", "harmlessness"]]
labels = ["overall only", "all heads"]
[[ablation.axes]]
key = "data.train_prompts"
values = [10, 20]
"#,
        )
        .unwrap();
        assert_eq!(s.cells.len(), 8);
        assert_eq!(
            s.cells[0].id,
            "heads=overall-only__train_prompts=10__seed=3"
        );
        assert_eq!(
            s.cells[1].id,
            "heads=overall-only__train_prompts=10__seed=4"
        );
        assert_eq!(s.cells[2].group, "heads=overall-only__train_prompts=20");
        let last = s.cells.last().unwrap();
        assert_eq!(last.config.data.train_prompts, Some(20));
        assert_eq!(last.config.model.heads.len(), 4);
        assert_eq!(last.config.optim.seed, 4);
        // the base is kept where no axis changes it
        assert_eq!(last.config.model.d_model, 32);
        assert_eq!(s.labels(last), vec!["all heads", "20"]);
        assert_eq!(s.main_metric(), MAIN_METRIC);
        assert_eq!(s.default_out(), Path::new("experiments/results/x"));
    }

    #[test]
    fn a_grid_too_large_to_run_is_refused_before_it_is_built() {
        // 100 seeds x 10 x 11 levels: 11,000 cells, one more axis and it would not fit in memory.
        let seeds: Vec<String> = (0..100).map(|s| s.to_string()).collect();
        let err = study(&format!(
            "[ablation]\nseeds = [{}]\n[[ablation.axes]]\nkey = \"data.train_prompts\"\nvalues = [{}]\n[[ablation.axes]]\nkey = \"optim.epochs\"\nvalues = [{}]\n",
            seeds.join(", "),
            (1..=10).map(|v| v.to_string()).collect::<Vec<_>>().join(", "),
            (1..=11).map(|v| v.to_string()).collect::<Vec<_>>().join(", "),
        ))
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("experiments/x.toml"), "{msg}");
        assert!(msg.contains("100 seeds x 10 x 11 levels"), "{msg}");
    }

    #[test]
    fn bad_keys_name_the_file_and_the_key() {
        let err = study(
            "[ablation]\nseeds = [0]\n[[ablation.axes]]\nkey = \"model.fusoin\"\nvalues = [\"concat\"]\n",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("experiments/x.toml"), "{msg}");
        assert!(msg.contains("model.fusoin"), "{msg}");
        assert!(msg.contains("fusoin"), "{msg}");

        let err = study(
            "[ablation]\nseeds = [0]\n[[ablation.axes]]\nkey = \"model.fusion\"\nvalues = [\"sideways\"]\n",
        )
        .unwrap_err();
        assert!(matches!(err, StudyError::AxisKey { .. }), "{err}");
        assert!(err.to_string().contains("sideways"), "{err}");

        let err = study("[ablation]\nseeds = [0]\nseed = 1\n").unwrap_err();
        assert!(err.to_string().contains("seed"), "{err}");

        let err = study(
            "[ablation]\nseeds = [0]\n[[ablation.axes]]\nkey = \"optim.lr.x\"\nvalues = [1]\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("optim.lr"), "{err}");

        let err = study("[ablation]\nseeds = []\n").unwrap_err();
        assert!(err.to_string().contains("ablation.seeds"), "{err}");

        let err = study("[ablation]\nseeds = [0]\nmetrics = [\"accuracy\"]\n").unwrap_err();
        assert!(
            err.to_string().contains("unknown metric `accuracy`"),
            "{err}"
        );

        let err = Study::from_toml_str(
            "[ablation]\nseeds = [0]\n[optim]\nlearning_rate = 1.0\n",
            Path::new("s.toml"),
        )
        .unwrap_err();
        assert!(matches!(err, StudyError::Base { .. }), "{err}");
        assert!(err.to_string().contains("learning_rate"), "{err}");

        let err = Study::from_toml_str("[model]\nd_model = 32\n", Path::new("s.toml")).unwrap_err();
        assert!(err.to_string().contains("[ablation]"), "{err}");
    }

    #[test]
    fn a_base_file_is_read_relative_to_the_study() {
        let dir = std::env::temp_dir().join(format!("ablate-base-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("base.toml"),
            "[optim]\nepochs = 2\nlr = 0.01\n[data]\nworld_prompts = 50\n",
        )
        .unwrap();
        let s = Study::from_toml_str(
            "[ablation]\nbase = \"base.toml\"\nseeds = [0]\n[optim]\nlr = 0.02\n",
            &dir.join("study.toml"),
        )
        .unwrap();
        assert_eq!(s.base.optim.epochs, 2);
        assert_eq!(s.base.optim.lr, 0.02);
        assert_eq!(s.cells.len(), 1);
        assert_eq!(s.cells[0].id, "base__seed=0");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
