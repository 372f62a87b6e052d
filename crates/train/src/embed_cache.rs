//! The embedding cache: the outputs of a pretrained encoder's frozen layers, computed once per
//! image and prompt of a dataset and stored on disk, so that training reads them at memory speed
//! instead of running the frozen layers every epoch.
//!
//! A cache is a folder:
//!
//! ```text
//! embed.json              what was cached: encoder, its weights' fingerprint, frozen layers, sizes
//! text.safetensors        "hidden" [P, L, D] and "mask" [P, L] of every distinct prompt text
//! image-00000.safetensors "hidden" [n, L, D] of a chunk of images (keys in the metadata)
//! image-00001.safetensors ...
//! ```
//!
//! Each file is written under a temporary name and renamed when complete, so an interrupted
//! `rewardlab embed` resumes from its last complete chunk. A complete cache ends with
//! `manifest.json` (every file's SHA-256), which training checks the cache against; one
//! `rewardlab embed` at a time writes a cache folder (`.rewardlab.lock`). Rows are keyed by generation id
//! (images) and by prompt text (prompts), so a cache is found again whatever order the dataset
//! lists them in.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// File name of the cache's description.
pub const META_FILE: &str = "embed.json";
/// The `kind` of a cache's manifest.
pub const CACHE_KIND: &str = "embedding-cache";
/// File name of the prompts' hidden states.
pub const TEXT_FILE: &str = "text.safetensors";

/// Hidden states of some items: `keys.len()` rows of `tokens x dim` values, plus, for prompts,
/// the `tokens`-long mask (1 = token, 0 = padding) and token ids of each row.
#[derive(Clone, Debug, PartialEq)]
pub struct HiddenRows {
    pub tokens: usize,
    pub dim: usize,
    pub keys: Vec<String>,
    pub data: Vec<f32>,
    pub mask: Option<Vec<i64>>,
    pub ids: Option<Vec<i64>>,
}

impl HiddenRows {
    /// Empty rows of the given shape.
    pub fn new(tokens: usize, dim: usize, with_mask: bool) -> Self {
        Self {
            tokens,
            dim,
            keys: Vec::new(),
            data: Vec::new(),
            mask: with_mask.then(Vec::new),
            ids: with_mask.then(Vec::new),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Values of row `i` (`tokens * dim`).
    pub fn row(&self, i: usize) -> &[f32] {
        let n = self.tokens * self.dim;
        &self.data[i * n..(i + 1) * n]
    }

    /// Mask of row `i`, if the rows have one.
    pub fn row_mask(&self, i: usize) -> Option<&[i64]> {
        self.mask
            .as_ref()
            .map(|m| &m[i * self.tokens..(i + 1) * self.tokens])
    }

    /// Token ids of row `i`, if the rows have them.
    pub fn ids_of(&self, i: usize) -> Option<Vec<i64>> {
        self.ids
            .as_ref()
            .map(|m| m[i * self.tokens..(i + 1) * self.tokens].to_vec())
    }

    /// Appends the rows of `other` (same shape).
    pub fn extend(&mut self, other: HiddenRows) {
        self.keys.extend(other.keys);
        self.data.extend(other.data);
        if let (Some(m), Some(o)) = (self.mask.as_mut(), other.mask) {
            m.extend(o);
        }
        if let (Some(m), Some(o)) = (self.ids.as_mut(), other.ids) {
            m.extend(o);
        }
    }

    /// Row index of each key.
    pub fn positions(&self) -> HashMap<&str, usize> {
        self.keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect()
    }
}

/// What a cache holds; training refuses a cache whose description differs from its config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheMeta {
    /// Format version of the folder.
    pub version: u32,
    /// `clip` or `bert`.
    pub encoder: String,
    /// The checkpoint folder as given when the cache was made.
    pub encoder_path: PathBuf,
    /// Size and a hash of the checkpoint's config and weights, so a changed checkpoint at the
    /// same path is noticed.
    pub fingerprint: String,
    /// Frozen layers of the image tower (`None`: the images are not cached, e.g. BERT).
    pub image_frozen: Option<usize>,
    /// Frozen layers of the text tower.
    pub text_frozen: usize,
    /// Images per chunk file.
    pub chunk: usize,
    /// Images per forward pass they were computed in (caches older than the field: 16).
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Name of the dataset the cache was made from (informative).
    pub dataset: String,
}

fn default_batch() -> usize {
    crate::embed::EMBED_BATCH
}

fn cache_error(path: &Path, message: impl Into<String>) -> TrainError {
    TrainError::Cache {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Name of image chunk `k`.
pub fn image_chunk_file(k: usize) -> String {
    format!("image-{k:05}.safetensors")
}

fn to_bytes_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn to_bytes_i64(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes `rows` to `path` atomically (a temporary file renamed when complete).
pub fn write_rows(path: &Path, rows: &HiddenRows) -> Result<()> {
    let n = rows.len();
    let data = to_bytes_f32(&rows.data);
    let mask = rows.mask.as_deref().map(to_bytes_i64);
    let ids = rows.ids.as_deref().map(to_bytes_i64);
    let mut tensors: Vec<(&str, TensorView<'_>)> = vec![(
        "hidden",
        TensorView::new(Dtype::F32, vec![n, rows.tokens, rows.dim], &data)
            .map_err(|e| cache_error(path, e.to_string()))?,
    )];
    for (name, values) in [("mask", &mask), ("ids", &ids)] {
        if let Some(values) = values {
            tensors.push((
                name,
                TensorView::new(Dtype::I64, vec![n, rows.tokens], values)
                    .map_err(|e| cache_error(path, e.to_string()))?,
            ));
        }
    }
    let keys = serde_json::to_string(&rows.keys).expect("strings serialise");
    let meta = HashMap::from([("keys".to_string(), keys)]);
    // Serialised here and written by us: `serialize_to_file` goes through a temporary file of
    // its own (`.tmpXXXXXX`), which a killed `embed` left in the cache.
    let bytes = safetensors::serialize(tensors, Some(meta))
        .map_err(|e| cache_error(path, e.to_string()))?;
    Ok(integrity::write_atomic(path, &bytes)?)
}

/// Reads rows written by [`write_rows`].
pub fn read_rows(path: &Path) -> Result<HiddenRows> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    let (_, header) =
        SafeTensors::read_metadata(&bytes).map_err(|e| cache_error(path, e.to_string()))?;
    let keys: Vec<String> = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("keys"))
        .ok_or_else(|| cache_error(path, "no row keys in the metadata"))
        .and_then(|k| serde_json::from_str(k).map_err(|e| cache_error(path, e.to_string())))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| cache_error(path, e.to_string()))?;
    let hidden = st
        .tensor("hidden")
        .map_err(|e| cache_error(path, format!("tensor \"hidden\": {e}")))?;
    let shape = hidden.shape().to_vec();
    if hidden.dtype() != Dtype::F32 || shape.len() != 3 || shape[0] != keys.len() {
        return Err(cache_error(
            path,
            format!(
                "tensor \"hidden\" is {:?} {shape:?}; expected F32 [{}, tokens, dim]",
                hidden.dtype(),
                keys.len()
            ),
        ));
    }
    let data = hidden
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let int_rows = |name: &str| -> Result<Option<Vec<i64>>> {
        let Ok(m) = st.tensor(name) else {
            return Ok(None);
        };
        if m.dtype() != Dtype::I64 || m.shape() != [shape[0], shape[1]] {
            return Err(cache_error(
                path,
                format!("tensor {name:?} is {:?} {:?}", m.dtype(), m.shape()),
            ));
        }
        Ok(Some(
            m.data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
        ))
    };
    let mask = int_rows("mask")?;
    let ids = int_rows("ids")?;
    Ok(HiddenRows {
        tokens: shape[1],
        dim: shape[2],
        keys,
        data,
        mask,
        ids,
    })
}

/// Writes the cache description.
pub fn write_meta(dir: &Path, meta: &CacheMeta) -> Result<()> {
    let path = dir.join(META_FILE);
    let text = serde_json::to_string_pretty(meta).expect("the cache description serialises");
    Ok(integrity::write_atomic(&path, (text + "\n").as_bytes())?)
}

/// Reads the cache description of `dir`.
pub fn read_meta(dir: &Path) -> Result<CacheMeta> {
    let path = dir.join(META_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| cache_error(&path, e.to_string()))
}

/// Every complete image chunk of `dir`, in order.
pub fn image_chunks(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for k in 0.. {
        let p = dir.join(image_chunk_file(k));
        if !p.exists() {
            break;
        }
        out.push(p);
    }
    Ok(out)
}

/// Reads all image rows of a cache (empty when the cache holds none).
pub fn read_image_rows(dir: &Path) -> Result<Option<HiddenRows>> {
    let mut all: Option<HiddenRows> = None;
    for p in image_chunks(dir)? {
        let rows = read_rows(&p)?;
        match all.as_mut() {
            None => all = Some(rows),
            Some(a) if a.tokens == rows.tokens && a.dim == rows.dim => a.extend(rows),
            Some(a) => {
                return Err(cache_error(
                    &p,
                    format!(
                        "rows are [{}, {}], earlier chunks [{}, {}]",
                        rows.tokens, rows.dim, a.tokens, a.dim
                    ),
                ));
            }
        }
    }
    Ok(all)
}

/// A cheap fingerprint of a checkpoint file: its size and an FNV-1a hash of its first and last
/// megabyte (the header and some weights), enough to notice a different file at the same path.
pub fn fingerprint(files: &[PathBuf]) -> Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut total = 0u64;
    for path in files {
        let mut f = std::fs::File::open(path).map_err(|e| TrainError::io(path, e))?;
        let len = f.metadata().map_err(|e| TrainError::io(path, e))?.len();
        total += len;
        let mut buf = Vec::new();
        f.by_ref()
            .take(1 << 20)
            .read_to_end(&mut buf)
            .map_err(|e| TrainError::io(path, e))?;
        if len > 2 << 20 {
            f.seek(SeekFrom::End(-(1 << 20)))
                .map_err(|e| TrainError::io(path, e))?;
            f.read_to_end(&mut buf)
                .map_err(|e| TrainError::io(path, e))?;
        }
        for b in buf {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok(format!("{total}:{h:016x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_bad_files_are_named_errors() {
        let dir = std::env::temp_dir().join(format!("rl-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut rows = HiddenRows::new(2, 3, true);
        rows.keys = vec!["a".into(), "b".into()];
        rows.data = (0..12).map(|i| i as f32 * 0.5 - 1.0).collect();
        rows.mask = Some(vec![1, 1, 1, 0]);
        rows.ids = Some(vec![5, 6, 7, 0]);
        let p = dir.join(image_chunk_file(0));
        write_rows(&p, &rows).unwrap();
        assert_eq!(read_rows(&p).unwrap(), rows);
        assert_eq!(read_rows(&p).unwrap().row(1), &rows.data[6..]);
        assert_eq!(read_image_rows(&dir).unwrap().unwrap().len(), 2);

        std::fs::write(&p, b"not a safetensors file").unwrap();
        let err = read_rows(&p).unwrap_err().to_string();
        assert!(err.contains("image-00000.safetensors"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
