//! `[model]` in a config file: a [`ModelConfig`] without [`FILLED_IN`], every other key
//! optional (the defaults are [`ModelConfig::new`]'s) and unknown keys refused, so that the
//! training config's `[model]` is the model crate's config rather than a copy of its fields.

use model::ModelConfig;
use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Fields of [`ModelConfig`] a run fills in: from its tokenizer (`vocab_size`,
/// `max_text_len`), its dataset's rating scale and `[encoder]`.
pub const FILLED_IN: [(&str, &str); 4] = [
    (
        "vocab_size",
        "the run's tokenizer (set tokenizer.vocab_size)",
    ),
    (
        "max_text_len",
        "the run's tokenizer (set tokenizer.max_len)",
    ),
    ("likert_scale", "the dataset's declared rating scale"),
    ("pretrained", "[encoder]"),
];

/// Writes the fields in [`ModelConfig`]'s declaration order (nested tables too), so that a run's
/// `config.toml` reads like `experiments/default.toml`.
pub fn serialize<S: Serializer>(config: &ModelConfig, s: S) -> Result<S::Ok, S::Error> {
    // serde_json's map sorts its keys; the JSON text keeps the order the fields were written in.
    let text = serde_json::to_string(config).map_err(S::Error::custom)?;
    let Ordered(fields): Ordered = serde_json::from_str(&text).map_err(S::Error::custom)?;
    let kept: Vec<(String, Node)> = fields
        .into_iter()
        .filter(|(key, _)| FILLED_IN.iter().all(|(f, _)| f != key))
        .collect();
    Ordered(kept).serialize(s)
}

/// A JSON object's entries in the order written.
struct Ordered(Vec<(String, Node)>);

/// A value of an [`Ordered`] object: a nested object, in order too, or any other value.
#[derive(Deserialize, Serialize)]
#[serde(untagged)]
enum Node {
    Object(Ordered),
    Other(Value),
}

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        d.deserialize_map(Visit)
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ModelConfig, D::Error> {
    let given = Map::<String, Value>::deserialize(d)?;
    let defaults = serde_json::to_value(ModelConfig::new()).map_err(D::Error::custom)?;
    refuse_unknown(&given, &defaults, "model").map_err(D::Error::custom)?;
    ModelConfig::over_defaults(Value::Object(given)).map_err(D::Error::custom)
}

/// An error naming the first key of `given` (at `path`) that `defaults` lacks, or that the
/// run fills in itself.
fn refuse_unknown(given: &Map<String, Value>, defaults: &Value, path: &str) -> Result<(), String> {
    for (key, value) in given {
        if path == "model"
            && let Some((_, from)) = FILLED_IN.iter().find(|(k, _)| k == key)
        {
            return Err(format!(
                "{path}.{key} is not set here: it comes from {from}"
            ));
        }
        match (defaults.get(key), value) {
            (None, _) => {
                let known: Vec<&str> = defaults
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.keys().map(String::as_str))
                    .filter(|k| path != "model" || FILLED_IN.iter().all(|(f, _)| f != k))
                    .collect();
                return Err(format!(
                    "unknown field `{key}` in [{path}], expected one of {}",
                    known.join(", ")
                ));
            }
            (Some(inner @ Value::Object(_)), Value::Object(nested)) => {
                refuse_unknown(nested, inner, &format!("{path}.{key}"))?
            }
            _ => {}
        }
    }
    Ok(())
}
