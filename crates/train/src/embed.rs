//! Running a pretrained encoder's frozen layers over a dataset: in memory for one training run,
//! or into an embedding cache ([`crate::embed_cache`]) that later runs read instead.
//!
//! Both paths compute the same rows with the same code, so training on a cache gives exactly
//! the result of training through the frozen encoder (a test checks it).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use annotations::{Dataset, Index};
use burn::prelude::*;
use model::{FrozenEncoder, PretrainedSpec};

use crate::data::{FrozenStore, Store};
use crate::embed_cache::{
    CACHE_KIND, CacheMeta, HiddenRows, META_FILE, TEXT_FILE, fingerprint, image_chunk_file,
    image_chunks, read_image_rows, read_meta, read_rows, write_meta, write_rows,
};
use crate::error::{Result, TrainError};

/// Images per forward pass of the frozen layers unless `[encoder] embed_batch` says otherwise,
/// and of caches made before they recorded theirs.
pub const EMBED_BATCH: usize = 16;
/// Images per cache file: the unit of resumption.
pub const CACHE_CHUNK: usize = 256;

fn tensor_values(t: Tensor<3>) -> Result<Vec<f32>> {
    t.try_into_vec_as::<f32>()
        .map_err(|e| TrainError::Training(format!("reading hidden states: {e}")))
}

fn int_values(t: Tensor<2, Int>) -> Result<Vec<i64>> {
    t.try_into_vec_as::<i64>()
        .map_err(|e| TrainError::Training(format!("reading token ids: {e}")))
}

/// Hidden rows of the given prompt texts (one row per text, in order).
pub fn embed_texts(encoder: &FrozenEncoder, texts: &[&str]) -> Result<HiddenRows> {
    let out = encoder.text_hidden(texts)?;
    let [_, tokens] = out.ids.dims();
    // BLIP's text layers run in the model (they read the image): only the tokens are kept.
    let (dim, data) = match out.hidden {
        Some(hidden) => (hidden.dims()[2], tensor_values(hidden)?),
        None => (0, Vec::new()),
    };
    let mut rows = HiddenRows::new(tokens, dim, true);
    rows.keys = texts.iter().map(|t| t.to_string()).collect();
    rows.data = data;
    rows.mask = Some(int_values(out.mask)?);
    rows.ids = Some(int_values(out.ids)?);
    Ok(rows)
}

/// Hidden rows of the given images (`(key, path)`), `batch` per forward pass; `progress(done)`
/// is called after each pass.
pub fn embed_images(
    encoder: &FrozenEncoder,
    images: &[(String, PathBuf)],
    batch: usize,
    mut progress: impl FnMut(usize),
) -> Result<HiddenRows> {
    let (tokens, dim) = encoder.image_shape().ok_or_else(|| {
        TrainError::InvalidConfig("this encoder has no pretrained image tower".into())
    })?;
    let mut rows = HiddenRows::new(tokens, dim, false);
    for (done, pass) in images.chunks(batch.max(1)).enumerate() {
        let decoded = pass
            .iter()
            .map(|(_, p)| pretrained::preprocess::load_image(p))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let hidden = encoder.image_hidden(&decoded)?;
        rows.data.extend(tensor_values(hidden)?);
        rows.keys.extend(pass.iter().map(|(k, _)| k.clone()));
        progress(done * batch.max(1) + pass.len());
    }
    Ok(rows)
}

/// `(generation id, image path)` of the given generations.
fn image_refs(ds: &Dataset, ix: &Index, generations: &[usize]) -> Result<Vec<(String, PathBuf)>> {
    generations
        .iter()
        .map(|&g| {
            let entry = &ix.generations[g];
            let rel = entry.image.as_ref().ok_or_else(|| TrainError::Dataset {
                name: ds.meta.name.clone(),
                message: format!("generation {} has no image path", entry.id),
            })?;
            Ok((entry.id.clone(), ds.image_path(rel)))
        })
        .collect()
}

/// Each item's row in `rows` by key; an item of `wanted` missing from `rows` is an error naming
/// it.
fn rows_of(
    rows: &HiddenRows,
    keys: &[Option<&str>],
    what: &str,
    cache: &Path,
) -> Result<Vec<Option<usize>>> {
    let pos = rows.positions();
    keys.iter()
        .map(|k| match k {
            None => Ok(None),
            Some(k) => pos
                .get(k)
                .copied()
                .map(Some)
                .ok_or_else(|| TrainError::Cache {
                    path: cache.to_path_buf(),
                    message: format!("no {what} {k:?} in the cache (made from another dataset?)"),
                }),
        })
        .collect()
}

/// Keys (prompt text; generation id) of the used prompts and generations of `store`, `None` for
/// the unused ones.
fn used_keys(store: &Store) -> (Vec<Option<&str>>, Vec<Option<&str>>) {
    let mut prompt_keys = vec![None; store.index.prompts.len()];
    let mut gen_keys = vec![None; store.index.generations.len()];
    for &p in store.train.iter().chain(&store.valid).chain(&store.test) {
        let prompt = &store.index.prompts[p];
        prompt_keys[p] = Some(prompt.text.as_str());
        for &g in &prompt.generations {
            gen_keys[g] = Some(store.index.generations[g].id.as_str());
        }
    }
    (prompt_keys, gen_keys)
}

fn print_progress(print: bool, what: &str, done: usize, total: usize, t0: Instant) {
    if print {
        let rate = done as f64 / t0.elapsed().as_secs_f64().max(1e-9);
        print!("\r{what}: {done}/{total} images ({rate:.1}/s)   ");
        let _ = std::io::stdout().flush();
        if done == total {
            println!();
        }
    }
}

/// The frozen outputs of every used image and prompt of `store`, computed now.
///
/// Every prompt and image of the dataset is run, in the batches [`write_cache`] uses, because a
/// matrix product's rounding depends on its batch: computing the same batches is what makes a
/// run on a cache identical to a run without one.
pub fn embed_store(
    ds: &Dataset,
    store: &Store,
    encoder: &FrozenEncoder,
    batch: usize,
    print: bool,
) -> Result<FrozenStore> {
    let text_rows = embed_texts(encoder, &all_texts(&store.index))?;
    let image_rows = if encoder.image_shape().is_some() {
        let gens: Vec<usize> = (0..store.index.generations.len()).collect();
        let refs = image_refs(ds, &store.index, &gens)?;
        let t0 = Instant::now();
        let mut rows: Option<HiddenRows> = None;
        for (k, chunk) in refs.chunks(CACHE_CHUNK).enumerate() {
            let part = embed_images(encoder, chunk, batch, |d| {
                print_progress(print, "frozen layers", k * CACHE_CHUNK + d, refs.len(), t0);
            })?;
            match rows.as_mut() {
                None => rows = Some(part),
                Some(r) => r.extend(part),
            }
        }
        let (tokens, dim) = encoder.image_shape().unwrap_or((0, 0));
        Some(rows.unwrap_or_else(|| HiddenRows::new(tokens, dim, false)))
    } else {
        None
    };
    frozen_store(store, text_rows, image_rows, Path::new("(in memory)"))
}

/// The rows of every used prompt and image of `store` among `text_rows` and `image_rows`
/// (computed, or read from the cache at `source`, which errors name).
fn frozen_store(
    store: &Store,
    text_rows: HiddenRows,
    image_rows: Option<HiddenRows>,
    source: &Path,
) -> Result<FrozenStore> {
    let (prompt_keys, gen_keys) = used_keys(store);
    let of_prompt = rows_of(&text_rows, &prompt_keys, "prompt", source)?;
    let image = match image_rows {
        Some(rows) => {
            let of_gen = rows_of(&rows, &gen_keys, "image", source)?;
            Some((rows, of_gen))
        }
        None => None,
    };
    Ok(FrozenStore {
        image,
        text: (text_rows, of_prompt),
    })
}

/// Every distinct prompt text of the dataset, sorted.
fn all_texts(ix: &Index) -> Vec<&str> {
    let mut texts: Vec<&str> = ix.prompts.iter().map(|p| p.text.as_str()).collect();
    texts.sort_unstable();
    texts.dedup();
    texts
}

/// The files whose contents the frozen outputs depend on.
fn checkpoint_files(spec: &PretrainedSpec) -> Vec<PathBuf> {
    match spec.kind {
        model::PretrainedKind::Blip => {
            let med = spec.path.with_file_name("med_config.json");
            vec![spec.path.clone(), med]
        }
        _ => vec![
            spec.path.join("config.json"),
            spec.path.join("model.safetensors"),
        ],
    }
}

/// The description a cache made with `encoder` from `ds` carries.
fn cache_meta(ds: &Dataset, spec: &PretrainedSpec, batch: usize) -> Result<CacheMeta> {
    let files = checkpoint_files(spec);
    Ok(CacheMeta {
        version: 1,
        encoder: spec.kind.name().to_string(),
        encoder_path: spec.path.clone(),
        fingerprint: fingerprint(&files)?,
        image_frozen: spec.image_frozen,
        text_frozen: spec.text_frozen,
        chunk: CACHE_CHUNK,
        batch,
        dataset: ds.meta.name.clone(),
    })
}

/// Checks that the cache in `dir` was made by this encoder cut at the same layers.
pub fn check_cache(dir: &Path, spec: &PretrainedSpec) -> Result<CacheMeta> {
    let meta = read_meta(dir)?;
    let files = checkpoint_files(spec);
    let fp = fingerprint(&files)?;
    let bad = |m: String| {
        Err(TrainError::Cache {
            path: dir.to_path_buf(),
            message: m,
        })
    };
    if meta.encoder != spec.kind.name() {
        return bad(format!(
            "made with a {} encoder, the config asks for {}",
            meta.encoder,
            spec.kind.name()
        ));
    }
    if meta.fingerprint != fp {
        return bad(format!(
            "made from other weights than {} (fingerprint {} vs {fp})",
            spec.path.display(),
            meta.fingerprint
        ));
    }
    if meta.image_frozen != spec.image_frozen || meta.text_frozen != spec.text_frozen {
        return bad(format!(
            "made with {:?} image / {} text frozen layers; the config freezes {:?} / {} \
             (encoder.freeze = {})",
            meta.image_frozen, meta.text_frozen, spec.image_frozen, spec.text_frozen, spec.freeze
        ));
    }
    Ok(meta)
}

/// The frozen outputs of the used images and prompts of `store`, read from the cache in `dir`.
pub fn load_store(dir: &Path, store: &Store, spec: &PretrainedSpec) -> Result<FrozenStore> {
    let chunks = image_chunks(dir)?;
    let mut files = vec![META_FILE.to_string(), TEXT_FILE.to_string()];
    files.extend(
        chunks
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())),
    );
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    if let Some(note) = integrity::verify_files(dir, &names)?.note() {
        eprintln!("{note}");
    }
    check_cache(dir, spec)?;
    let text_rows = read_rows(&dir.join(TEXT_FILE))?;
    let image_rows = if spec.image_frozen.is_some() {
        Some(read_image_rows(dir)?.ok_or_else(|| TrainError::Cache {
            path: dir.to_path_buf(),
            message:
                "holds no image chunk (was `rewardlab embed` interrupted before the first?)".into(),
        })?)
    } else {
        None
    };
    frozen_store(store, text_rows, image_rows, dir)
}

/// What [`write_cache`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheReport {
    pub prompts: usize,
    pub images: usize,
    /// Image chunks found complete from an earlier, interrupted run.
    pub chunks_reused: usize,
    pub chunks_written: usize,
}

/// Runs the frozen layers over every prompt and image of `ds` and stores them in `dir`, one
/// file per [`CACHE_CHUNK`] images; chunks already complete from an interrupted run are kept.
/// A folder holding another encoder's cache is refused unless `force`.
pub fn write_cache(
    ds: &Dataset,
    encoder: &FrozenEncoder,
    dir: &Path,
    batch: usize,
    force: bool,
    print: bool,
) -> Result<CacheReport> {
    let spec = encoder.spec();
    let meta = cache_meta(ds, spec, batch)?;
    // One writer per cache, until this function returns; the manifest goes until it is whole.
    let lock = integrity::FolderLock::acquire(dir, "rewardlab embed")?;
    if let Some(note) = lock.reclaimed_note() {
        eprintln!("{note}");
    }
    integrity::Manifest::remove(dir)?;
    integrity::remove_stale_temporary_files(dir)?;
    match read_meta(dir) {
        Ok(old) if old == meta => {}
        Ok(_) if !force => {
            return Err(TrainError::Cache {
                path: dir.to_path_buf(),
                message: "holds the outputs of another encoder, cut, dataset or batch size; \
                          pass --force to replace them, or pick another folder"
                    .into(),
            });
        }
        _ => {
            // A fresh or replaced cache: old chunks must not be mistaken for this one's.
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().to_string();
                    if name.ends_with(".safetensors") || name.ends_with(".partial") {
                        std::fs::remove_file(e.path())
                            .map_err(|err| TrainError::io(&e.path(), err))?;
                    }
                }
            }
            write_meta(dir, &meta)?;
        }
    }

    let ix = ds.index();
    let texts = all_texts(&ix);
    let text_rows = embed_texts(encoder, &texts)?;
    write_rows(&dir.join(TEXT_FILE), &text_rows)?;

    let mut report = CacheReport {
        prompts: texts.len(),
        images: 0,
        chunks_reused: 0,
        chunks_written: 0,
    };
    if spec.image_frozen.is_none() {
        integrity::Manifest::of_folder(dir, CACHE_KIND)?.write(dir)?;
        return Ok(report);
    }
    let gens: Vec<usize> = (0..ix.generations.len()).collect();
    let refs = image_refs(ds, &ix, &gens)?;
    report.images = refs.len();
    let t0 = Instant::now();
    for (k, chunk) in refs.chunks(CACHE_CHUNK).enumerate() {
        let path = dir.join(image_chunk_file(k));
        let offset = k * CACHE_CHUNK;
        if path.exists() {
            let keys: HashMap<&str, ()> = chunk.iter().map(|(k, _)| (k.as_str(), ())).collect();
            let old = read_rows(&path)?;
            if old.len() == chunk.len() && old.keys.iter().all(|k| keys.contains_key(k.as_str())) {
                report.chunks_reused += 1;
                print_progress(print, "embedding", offset + chunk.len(), refs.len(), t0);
                continue;
            }
        }
        let rows = embed_images(encoder, chunk, batch, |d| {
            print_progress(print, "embedding", offset + d, refs.len(), t0);
        })?;
        write_rows(&path, &rows)?;
        report.chunks_written += 1;
    }
    // Last: a cache with a manifest is complete.
    integrity::Manifest::of_folder(dir, CACHE_KIND)?.write(dir)?;
    Ok(report)
}

/// Loads the pretrained encoder of `config`'s `[encoder]` section onto `device` and writes the
/// embedding cache of `ds` into `dir` (see [`write_cache`]); returns what it did and where the
/// cut is.
pub fn write_cache_for(
    ds: &Dataset,
    config: &crate::TrainConfig,
    dir: &Path,
    force: bool,
    print: bool,
    device: &Device,
) -> Result<(CacheReport, PretrainedSpec)> {
    let kind = config.encoder.kind.ok_or_else(|| {
        TrainError::InvalidConfig(
            "nothing to cache: encoder.kind = \"scratch\" trains its encoder from scratch".into(),
        )
    })?;
    let path = config.encoder.path.as_ref().ok_or_else(|| {
        TrainError::InvalidConfig("encoder.path (the checkpoint folder) is required".into())
    })?;
    let parts = model::load_pretrained(
        kind,
        path,
        config.encoder.freeze,
        config.model.d_model,
        device,
    )?;
    let report = write_cache(
        ds,
        &parts.frozen,
        dir,
        config.encoder.embed_batch,
        force,
        print,
    )?;
    Ok((report, parts.spec))
}
