//! Strict loading of a checkpoint's tensors into a burn module, from SafeTensors files (Hugging
//! Face `model.safetensors`) and PyTorch zip/pickle files (`.pt`, `.pth`, `.bin` state dicts).
//!
//! Built on burn-store: its `SafetensorsStore`/`PytorchStore` read the tensors lazily, and
//! `ModuleSnapshot::apply` with `PyTorchToBurnAdapter` puts them into the module (transposing
//! `Linear` weights from PyTorch's `[out, in]`, and finding a `LayerNorm`'s `gamma`/`beta` under
//! PyTorch's `weight`/`bias`). What is added here is strictness and diagnostics: burn-store's
//! `ApplyResult` is turned into one [`PretrainedError::Weights`] that names every tensor that
//! is missing, unexpected or misshaped, instead of leaving such a parameter at its random
//! initialisation.
//!
//! Key names: the module tree is expected to mirror the checkpoint's keys, so `remap` only has
//! to bridge small differences (`LayerNorm` -> `layer_norm`, a prefix). Each `(pattern,
//! replacement)` pair is a regex applied in order to every checkpoint key, exactly as burn-store's
//! `KeyRemapper` does (`regex::Regex::replace_all`, `$1` for groups). The remapping is done here
//! rather than inside the store so that every problem can be reported under the key as it is
//! written in the file, and so that two keys remapped onto the same name are an error instead of
//! one silently replacing the other.
//!
//! Precision: burn-store keeps a tensor's dtype as the file declares it (a half-precision file
//! would give the module F16/BF16 parameters, which the rest of a float32 model then mixes
//! with). Every float tensor is therefore cast on load, with burn-store's `FloatCastAdapter`, to
//! the float dtype of the module's device (F32 on the flex backend). F16 and BF16 checkpoints thus
//! load into an F32 module exactly (both widen to F32 without rounding). Integer tensors keep their
//! dtype.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::Module;
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{
    ApplyError, BurnToPyTorchAdapter, FloatCastAdapter, ModuleAdapter, ModuleSnapshot, ModuleStore,
    PyTorchToBurnAdapter, PytorchStore, PytorchStoreError, SafetensorsStore, SafetensorsStoreError,
};
use burn::tensor::DType;
use regex::Regex;

use crate::PretrainedError;

/// Loads a SafeTensors file into `module`, strictly.
///
/// `remap` holds `(regex, replacement)` pairs applied in order to each checkpoint key to give the
/// module path it loads into; `ignore` holds regexes of checkpoint keys (as written in the file,
/// before remapping) that are known to be unused, such as `position_ids` buffers or a pooler the
/// model does not have. Ignored tensors are dropped before loading: a module parameter that could
/// only have come from one is reported missing.
///
/// # Errors
///
/// [`PretrainedError::Io`] when the file cannot be read, and [`PretrainedError::Weights`] when
/// it does not parse, when a pattern is not a valid regex, or when the tensors do not fit the
/// module: the error lists every missing, unexpected, misshaped and wrongly typed tensor.
pub fn load_safetensors<M: Module>(
    module: M,
    path: &Path,
    remap: &[(&str, &str)],
    ignore: &[&str],
) -> Result<M, PretrainedError> {
    let mut store = SafetensorsStore::from_file(path);
    let tensors = store
        .get_all_tensors()
        .map_err(|e| safetensors_error(path, e))?
        .values()
        .cloned()
        .collect();
    load_tensors(module, path, tensors, remap, ignore)
}

/// Loads a PyTorch checkpoint (a state dict saved with `torch.save`, zip or legacy pickle
/// format) into `module`, strictly; `remap` and `ignore` as for [`load_safetensors`].
///
/// The file must hold the state dict at its top level (as `torch.save(model.state_dict())`
/// writes it). burn-store's renumbering of layer indices into a contiguous sequence is turned
/// off: keys are taken as written, and any renumbering is the caller's `remap`.
///
/// # Errors
///
/// As for [`load_safetensors`].
pub fn load_pytorch<M: Module>(
    module: M,
    path: &Path,
    remap: &[(&str, &str)],
    ignore: &[&str],
) -> Result<M, PretrainedError> {
    let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
    let tensors = store
        .get_all_tensors()
        .map_err(|e| pytorch_error(path, e))?
        .values()
        .cloned()
        .collect();
    load_tensors(module, path, tensors, remap, ignore)
}

/// Remaps, filters and applies `tensors` (named as in the checkpoint), then checks the result;
/// `remap` and `ignore` as for [`load_safetensors`].
pub(crate) fn load_tensors<M: Module>(
    mut module: M,
    path: &Path,
    tensors: Vec<PackTensor>,
    remap: &[(&str, &str)],
    ignore: &[&str],
) -> Result<M, PretrainedError> {
    let weights_error = |details: String| PretrainedError::Weights {
        path: path.to_path_buf(),
        details,
    };
    let compile = |pattern: &str, role: &str| {
        Regex::new(pattern).map_err(|e| weights_error(format!("invalid {role} pattern: {e}")))
    };
    let remap = remap
        .iter()
        .map(|&(pattern, replacement)| Ok((compile(pattern, "remap")?, replacement)))
        .collect::<Result<Vec<_>, PretrainedError>>()?;
    let ignore = ignore
        .iter()
        .map(|pattern| compile(pattern, "ignore"))
        .collect::<Result<Vec<_>, PretrainedError>>()?;

    let mut problems = Vec::new();
    // Module path -> (checkpoint key, shape in the file), to report problems in the file's terms.
    let mut origin: HashMap<String, (String, Vec<usize>)> = HashMap::new();
    let mut kept = Vec::new();
    for mut tensor in tensors {
        let key = tensor.name.clone();
        if ignore.iter().any(|pattern| pattern.is_match(&key)) {
            continue;
        }
        let mut name = key.clone();
        for (pattern, replacement) in &remap {
            if pattern.is_match(&name) {
                name = pattern.replace_all(&name, *replacement).into_owned();
            }
        }
        if let Some((other, _)) = origin.get(&name) {
            let (first, second) = if *other < key {
                (other.as_str(), key.as_str())
            } else {
                (key.as_str(), other.as_str())
            };
            problems.push(format!(
                "  ambiguous: checkpoint keys `{first}` and `{second}` both remap to `{name}`"
            ));
            continue;
        }
        origin.insert(name.clone(), (key, tensor.shape.to_vec()));
        tensor.name = name;
        kept.push(tensor);
    }

    let float = module
        .devices()
        .first()
        .cloned()
        .unwrap_or_default()
        .settings()
        .float_dtype;
    let adapter = PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::from(float)));
    // Checkpoints written by PyTorch never name enum variants in their keys.
    let result = module.apply(kept, None, Some(Box::new(adapter)), true);

    // A norm layer's `gamma`/`beta` is stored as `weight`/`bias`: name it as the file would.
    let source_of = |module_path: &str| -> Option<&(String, Vec<usize>)> {
        origin.get(module_path).or_else(|| {
            let (parent, param) = module_path.rsplit_once('.')?;
            let torch = match param {
                "gamma" => "weight",
                "beta" => "bias",
                _ => return None,
            };
            origin.get(&format!("{parent}.{torch}"))
        })
    };
    // Shapes of the module's parameters in PyTorch's layout, worked out only if needed.
    let mut torch_shapes: Option<HashMap<String, Vec<usize>>> = None;
    for (module_path, containers) in &result.missing {
        let is_norm = containers
            .rsplit('.')
            .next()
            .is_some_and(|c| c.ends_with("Norm"));
        let expected = match module_path.rsplit_once('.') {
            Some((parent, "gamma")) if is_norm => format!("{parent}.weight"),
            Some((parent, "beta")) if is_norm => format!("{parent}.bias"),
            _ => module_path.clone(),
        };
        problems.push(format!(
            "  missing: no checkpoint key (after remapping) for parameter `{expected}`"
        ));
    }
    for name in &result.unused {
        let key = origin.get(name).map_or(name.as_str(), |(key, _)| key);
        problems.push(format!(
            "  unexpected: checkpoint key `{key}` has no place in the model"
        ));
    }
    for error in &result.errors {
        problems.push(match error {
            ApplyError::ShapeMismatch {
                path: module_path,
                expected,
                found,
            } => {
                let (key, file_shape) = source_of(module_path)
                    .map(|(key, shape)| (key.clone(), shape.clone()))
                    .unwrap_or_else(|| (module_path.clone(), found.to_vec()));
                // Both shapes in the file's layout: the adapter transposed a Linear weight
                // before the check, so the expectation is the parameter as PyTorch lays it out.
                let expected = torch_shapes
                    .get_or_insert_with(|| torch_layout_shapes(&module))
                    .get(&torch_name(module_path))
                    .cloned()
                    .unwrap_or_else(|| expected.to_vec());
                format!(
                    "  misshaped: checkpoint key `{key}` has shape {file_shape:?}, the model \
                     expects {expected:?}"
                )
            }
            ApplyError::DTypeMismatch {
                path: module_path,
                expected,
                found,
            } => {
                let key = source_of(module_path).map_or(module_path.as_str(), |(key, _)| key);
                format!(
                    "  wrong dtype: checkpoint key `{key}` is {found:?}, the model expects a \
                     tensor like {expected:?}"
                )
            }
            ApplyError::AdapterError {
                path: module_path,
                message,
            }
            | ApplyError::LoadError {
                path: module_path,
                message,
            } => {
                let key = source_of(module_path).map_or(module_path.as_str(), |(key, _)| key);
                format!("  unreadable: checkpoint key `{key}`: {message}")
            }
        });
    }

    if problems.is_empty() {
        Ok(module)
    } else {
        problems.sort();
        Err(weights_error(problems.join("\n")))
    }
}

/// The module's parameters by their PyTorch names (`weight`/`bias` for a norm's `gamma`/`beta`)
/// with their shapes in PyTorch's layout (`[out, in]` for a Linear weight).
fn torch_layout_shapes<M: Module>(module: &M) -> HashMap<String, Vec<usize>> {
    module
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .into_iter()
        .map(|tensor| (tensor.name, tensor.shape.to_vec()))
        .collect()
}

/// A module path with a norm's `gamma`/`beta` spelled as PyTorch spells them.
fn torch_name(module_path: &str) -> String {
    match module_path.rsplit_once('.') {
        Some((parent, "gamma")) => format!("{parent}.weight"),
        Some((parent, "beta")) => format!("{parent}.bias"),
        _ => module_path.to_string(),
    }
}

/// The store's error for a SafeTensors file, with the operating system's errors kept as such.
fn safetensors_error(path: &Path, error: SafetensorsStoreError) -> PretrainedError {
    match error {
        SafetensorsStoreError::Io(source) => PretrainedError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => PretrainedError::Weights {
            path: path.to_path_buf(),
            details: format!("  not a readable SafeTensors file: {other}"),
        },
    }
}

/// The store's error for a PyTorch file, with the operating system's errors kept as such.
fn pytorch_error(path: &Path, error: PytorchStoreError) -> PretrainedError {
    match error {
        PytorchStoreError::Io(source) => PretrainedError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => PretrainedError::Weights {
            path: path.to_path_buf(),
            details: format!("  not a readable PyTorch checkpoint: {other}"),
        },
    }
}

/// Reads the names and shapes of the tensors in a SafeTensors file without loading their data,
/// sorted by name: for inspecting a checkpoint (and for configs that must be inferred from it).
///
/// # Errors
///
/// As for [`load_safetensors`] when the file cannot be read.
pub fn safetensors_shapes(path: &Path) -> Result<BTreeMap<String, Vec<usize>>, PretrainedError> {
    let mut store = SafetensorsStore::from_file(path);
    Ok(store
        .get_all_tensors()
        .map_err(|e| safetensors_error(path, e))?
        .iter()
        .map(|(name, tensor)| (name.clone(), tensor.shape.to_vec()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
    use burn::tensor::{Device, Tensor};
    use safetensors::Dtype;
    use safetensors::tensor::TensorView;
    use std::path::PathBuf;

    /// A module with the two layer types whose PyTorch layout differs from burn's.
    #[derive(Module, Debug)]
    struct Tiny {
        dense: Linear,
        layer_norm: LayerNorm,
    }

    fn tiny() -> Tiny {
        let device = Device::flex();
        Tiny {
            dense: LinearConfig::new(3, 2).init(&device),
            layer_norm: LayerNormConfig::new(2).init(&device),
        }
    }

    /// A tensor to write: name, dtype, shape and little-endian bytes.
    struct Entry(&'static str, Dtype, Vec<usize>, Vec<u8>);

    fn f32s(shape: &[usize], values: &[f32]) -> (Dtype, Vec<usize>, Vec<u8>) {
        assert_eq!(shape.iter().product::<usize>(), values.len());
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        (Dtype::F32, shape.to_vec(), bytes)
    }

    fn entry(name: &'static str, (dtype, shape, bytes): (Dtype, Vec<usize>, Vec<u8>)) -> Entry {
        Entry(name, dtype, shape, bytes)
    }

    /// The weights of [`Tiny`] as a PyTorch module with a `LayerNorm` attribute would save them.
    fn torch_entries() -> Vec<Entry> {
        vec![
            entry(
                "dense.weight",
                f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            ),
            entry("dense.bias", f32s(&[2], &[0.5, -0.5])),
            entry("LayerNorm.weight", f32s(&[2], &[2.0, 3.0])),
            entry("LayerNorm.bias", f32s(&[2], &[0.25, 0.75])),
        ]
    }

    /// Writes `entries` to a fresh file in the temporary directory.
    fn write(name: &str, entries: &[Entry]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pretrained-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.safetensors"));
        let views: Vec<(&str, TensorView<'_>)> = entries
            .iter()
            .map(|Entry(name, dtype, shape, bytes)| {
                (
                    *name,
                    TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
                )
            })
            .collect();
        safetensors::serialize_to_file(views, None, &path).unwrap();
        path
    }

    const REMAP: &[(&str, &str)] = &[(r"^LayerNorm\.", "layer_norm.")];

    fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.into_data().try_to_vec::<f32>().unwrap()
    }

    fn load_error(path: &Path, remap: &[(&str, &str)], ignore: &[&str]) -> String {
        match load_safetensors(tiny(), path, remap, ignore) {
            Ok(_) => panic!("loading {} should have failed", path.display()),
            Err(e @ PretrainedError::Weights { .. }) => e.to_string(),
            Err(other) => panic!("expected a weights error, got {other}"),
        }
    }

    #[test]
    fn loads_pytorch_layout_with_remap() {
        let path = write("ok", &torch_entries());
        let model = load_safetensors(tiny(), &path, REMAP, &[]).unwrap();
        // y = x W^T + b with W = [[1,2,3],[4,5,6]] as PyTorch stores it.
        let x = Tensor::<2>::from_floats([[1.0, 0.0, -1.0]], &Device::flex());
        assert_eq!(values(model.dense.forward(x)), vec![-2.0 + 0.5, -2.0 - 0.5]);
        assert_eq!(values(model.layer_norm.gamma.val()), vec![2.0, 3.0]);
        assert_eq!(
            values(model.layer_norm.beta.unwrap().val()),
            vec![0.25, 0.75]
        );
    }

    #[test]
    fn names_every_missing_tensor() {
        let mut entries = torch_entries();
        entries.retain(|Entry(name, ..)| !name.ends_with("bias"));
        let message = load_error(&write("missing", &entries), REMAP, &[]);
        assert!(message.contains("missing.safetensors"), "{message}");
        assert!(message.contains("`dense.bias`"), "{message}");
        // Named as the checkpoint would name it (after remapping), not burn's `beta`.
        assert!(message.contains("`layer_norm.bias`"), "{message}");
        assert_eq!(message.matches("missing:").count(), 2, "{message}");
    }

    #[test]
    fn names_every_unexpected_tensor_unless_ignored() {
        let mut entries = torch_entries();
        entries.push(entry("pooler.dense.weight", f32s(&[1, 1], &[1.0])));
        entries.push(entry("embeddings.position_ids", f32s(&[1], &[0.0])));
        let path = write("extra", &entries);
        let message = load_error(&path, REMAP, &[]);
        assert!(message.contains("`pooler.dense.weight`"), "{message}");
        assert!(message.contains("`embeddings.position_ids`"), "{message}");
        assert_eq!(message.matches("unexpected:").count(), 2, "{message}");

        let message = load_error(&path, REMAP, &[r"position_ids$"]);
        assert!(message.contains("`pooler.dense.weight`"), "{message}");
        assert!(!message.contains("position_ids"), "{message}");

        load_safetensors(tiny(), &path, REMAP, &[r"position_ids$", r"^pooler\."]).unwrap();
    }

    #[test]
    fn unexpected_keys_are_named_before_remapping() {
        let mut entries = torch_entries();
        entries.push(entry("LayerNorm.extra", f32s(&[1], &[1.0])));
        let message = load_error(&write("extra-remapped", &entries), REMAP, &[]);
        assert!(message.contains("`LayerNorm.extra`"), "{message}");
    }

    #[test]
    fn names_every_misshaped_tensor_with_both_shapes() {
        let mut entries = torch_entries();
        entries[0] = entry("dense.weight", f32s(&[2, 4], &[0.0; 8]));
        entries[3] = entry("LayerNorm.bias", f32s(&[3], &[0.0; 3]));
        let message = load_error(&write("misshaped", &entries), REMAP, &[]);
        // Both shapes in the file's [out, in] layout.
        assert!(
            message.contains("`dense.weight` has shape [2, 4], the model expects [2, 3]"),
            "{message}"
        );
        assert!(
            message.contains("`LayerNorm.bias` has shape [3], the model expects [2]"),
            "{message}"
        );
        assert_eq!(message.matches("misshaped:").count(), 2, "{message}");
        assert!(!message.contains("missing:"), "{message}");
    }

    #[test]
    fn reports_all_kinds_of_problem_at_once() {
        let mut entries = torch_entries();
        entries.remove(1); // dense.bias
        entries[0] = entry("dense.weight", f32s(&[3, 3], &[0.0; 9]));
        entries.push(entry("head.weight", f32s(&[1], &[0.0])));
        let message = load_error(&write("everything", &entries), REMAP, &[]);
        for expected in [
            "missing: no checkpoint key (after remapping) for parameter `dense.bias`",
            "unexpected: checkpoint key `head.weight`",
            // A square file shape gives no hint of the transposition: still the [out, in] layout.
            "misshaped: checkpoint key `dense.weight` has shape [3, 3], the model expects [2, 3]",
        ] {
            assert!(message.contains(expected), "{expected} not in {message}");
        }
    }

    #[test]
    fn keys_remapped_onto_one_name_are_an_error() {
        let mut entries = torch_entries();
        entries.push(entry("layer_norm.weight", f32s(&[2], &[2.0, 3.0])));
        let message = load_error(&write("collision", &entries), REMAP, &[]);
        assert!(
            message.contains(
                "ambiguous: checkpoint keys `LayerNorm.weight` and `layer_norm.weight` both remap \
                 to `layer_norm.weight`"
            ),
            "{message}"
        );
    }

    #[test]
    fn half_precision_tensors_load_as_f32() {
        // f16 bits of 1, -2, 0.5, 4, 0.25, 3 and bf16 bits of 0.5, -0.5.
        let f16 = [0x3C00u16, 0xC000, 0x3800, 0x4400, 0x3400, 0x4200];
        let bf16 = [0x3F00u16, 0xBF00];
        let bytes = |bits: &[u16]| bits.iter().flat_map(|b| b.to_le_bytes()).collect();
        let mut entries = torch_entries();
        entries[0] = Entry("dense.weight", Dtype::F16, vec![2, 3], bytes(&f16));
        entries[1] = Entry("dense.bias", Dtype::BF16, vec![2], bytes(&bf16));
        let model = load_safetensors(tiny(), &write("half", &entries), REMAP, &[]).unwrap();
        let weight = model.dense.weight.val();
        assert_eq!(weight.dtype(), DType::F32);
        // Stored transposed: burn's Linear weight is [in, out].
        assert_eq!(values(weight), vec![1.0, 4.0, -2.0, 0.25, 0.5, 3.0]);
        let bias = model.dense.bias.unwrap().val();
        assert_eq!(bias.dtype(), DType::F32);
        assert_eq!(values(bias), vec![0.5, -0.5]);
    }

    #[test]
    fn unreadable_files_are_typed_errors() {
        let absent = std::env::temp_dir().join("pretrained-load-absent.safetensors");
        assert!(matches!(
            load_safetensors(tiny(), &absent, &[], &[]),
            Err(PretrainedError::Io { .. })
        ));
        let garbage = write("garbage", &[]);
        std::fs::write(&garbage, b"not a safetensors file").unwrap();
        let message = load_error(&garbage, &[], &[]);
        assert!(
            message.contains("not a readable SafeTensors file"),
            "{message}"
        );
        let message = load_error(&write("bad-pattern", &torch_entries()), &[("(", "")], &[]);
        assert!(message.contains("invalid remap pattern"), "{message}");
        let not_torch = write("not-torch", &torch_entries());
        assert!(matches!(
            load_pytorch(tiny(), &not_torch, REMAP, &[]),
            Err(PretrainedError::Weights { .. })
        ));
    }

    /// `tests/fixtures/pretrained/load/tiny_state_dict.pt`, written by `torch.save` (see
    /// `make_tiny_state_dict.py` beside it): the weights of [`torch_entries`] with the norm's
    /// weight in f16 and bias in bf16, plus an int64 `position_ids` buffer.
    fn torch_file() -> PathBuf {
        crate::test_util::fixtures_dir().join("pretrained/load/tiny_state_dict.pt")
    }

    #[test]
    fn loads_a_torch_save_state_dict() {
        let model = load_pytorch(tiny(), &torch_file(), REMAP, &[r"^position_ids$"]).unwrap();
        let x = Tensor::<2>::from_floats([[1.0, 0.0, -1.0]], &Device::flex());
        assert_eq!(values(model.dense.forward(x)), vec![-2.0 + 0.5, -2.0 - 0.5]);
        let gamma = model.layer_norm.gamma.val();
        assert_eq!(gamma.dtype(), DType::F32);
        assert_eq!(values(gamma), vec![2.0, 3.0]);
        assert_eq!(
            values(model.layer_norm.beta.unwrap().val()),
            vec![0.25, 0.75]
        );
    }

    #[test]
    fn torch_checkpoint_problems_are_named() {
        let message = match load_pytorch(tiny(), &torch_file(), &[], &[]) {
            Err(e @ PretrainedError::Weights { .. }) => e.to_string(),
            other => panic!("expected a weights error, got {other:?}"),
        };
        assert!(message.contains("tiny_state_dict.pt"), "{message}");
        for expected in [
            "unexpected: checkpoint key `position_ids`",
            "unexpected: checkpoint key `LayerNorm.weight`",
            "missing: no checkpoint key (after remapping) for parameter `layer_norm.weight`",
        ] {
            assert!(message.contains(expected), "{expected} not in {message}");
        }
    }

    #[test]
    fn lists_shapes_without_loading() {
        let shapes = safetensors_shapes(&write("shapes", &torch_entries())).unwrap();
        assert_eq!(shapes["dense.weight"], vec![2, 3]);
        assert_eq!(shapes.len(), 4);
    }
}
