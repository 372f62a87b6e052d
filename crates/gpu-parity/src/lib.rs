//! The GPU path against the CPU. Its tests run the reward model's forward and backward, an
//! optimiser step, the pretrained encoders (MiniLM, the tiny CLIP, the tiny ImageReward) and a
//! short training run on a wgpu adapter and on burn's CPU backend, and require the same results
//! to a stated f32 tolerance.
//!
//! The adapter is `$REWARDLAB_GPU_TEST_DEVICE` (a `--device` value, default `wgpu`): a GPU, or
//! on a machine without one Mesa's lavapipe (`scripts/install-lavapipe`, and `XDG_RUNTIME_DIR`
//! set). Where the machine has no adapter the tests print why and pass, unless
//! `$REWARDLAB_REQUIRE_GPU_TESTS=1` (set by `.ci/run`), where they fail.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use device::DeviceChoice;

/// The variable naming the device under test.
pub const DEVICE_VAR: &str = "REWARDLAB_GPU_TEST_DEVICE";
/// The variable that turns a missing adapter from a skip into a failure.
pub const REQUIRE_VAR: &str = "REWARDLAB_REQUIRE_GPU_TESTS";

/// The device the GPU tests run on, or `None` (with the reason printed) where this machine has
/// none and the tests are not required.
///
/// # Panics
/// When the variable names no device, or when none is found and the tests are required.
pub fn device_under_test() -> Option<Device> {
    let name = std::env::var(DEVICE_VAR).unwrap_or_else(|_| "wgpu".to_string());
    let choice: DeviceChoice = name
        .parse()
        .unwrap_or_else(|e| panic!("${DEVICE_VAR}: {e}"));
    match choice.device() {
        Ok(device) => Some(device),
        Err(e) if std::env::var(REQUIRE_VAR).as_deref() == Ok("1") => {
            panic!("${REQUIRE_VAR}=1 and {e}")
        }
        Err(e) => {
            println!("skipped: {e}");
            None
        }
    }
}

/// The largest absolute difference between two equally long lists.
///
/// # Panics
/// When their lengths differ, or when either holds a NaN.
pub fn largest_difference(cpu: &[f32], gpu: &[f32]) -> f32 {
    assert_eq!(
        cpu.len(),
        gpu.len(),
        "the two devices gave lists of other lengths"
    );
    cpu.iter()
        .zip(gpu)
        .map(|(a, b)| {
            assert!(!a.is_nan() && !b.is_nan(), "NaN: cpu {a}, gpu {b}");
            (a - b).abs()
        })
        .fold(0.0, f32::max)
}

/// A tensor's values, read back to the host.
pub fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 values")
}

/// Every float parameter of a module, flattened in visiting order: two copies of one model on
/// two devices give lists to compare value by value.
pub fn parameters<M: Module>(module: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.extend(values(param.val()));
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod pretrained_tests;
#[cfg(test)]
mod training_tests;
