//! The device every command that runs tensors uses, chosen once by the caller: `--device cpu`
//! (the default: burn's flex backend), `wgpu[:N|:cpu]`, `vulkan[:N|:cpu]` or `cuda[:N]`.
//!
//! `wgpu` picks the best adapter of whichever graphics API the machine offers (a discrete GPU
//! first); `wgpu:N` the N-th discrete GPU; `wgpu:cpu` a CPU adapter (Mesa's lavapipe, which runs
//! the GPU path on machines without one). `vulkan` is the same pinned to Vulkan, and so to the
//! SPIR-V compiler. `cuda:N` is the N-th CUDA device. A backend this build was compiled without is
//! an error naming the cargo feature to build with.

mod memory;

use std::fmt;
use std::str::FromStr;

pub use memory::{OutOfMemory, quiet_memory_panics, within_memory};

pub use burn::prelude::Device;

/// A device as the command line names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// burn's flex backend on the CPU's cores.
    #[default]
    Cpu,
    /// wgpu on any graphics API.
    Wgpu(Adapter),
    /// wgpu pinned to Vulkan.
    Vulkan(Adapter),
    /// The CUDA device of this index.
    Cuda(usize),
}

/// Which adapter of a graphics API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// The best one the API finds (a high-power GPU first).
    Best,
    /// The discrete GPU of this index.
    Discrete(usize),
    /// A CPU adapter, such as Mesa's lavapipe.
    Cpu,
}

/// A `--device` value that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error(
        "unknown device `{0}`: expected cpu, wgpu, wgpu:N, wgpu:cpu, vulkan, vulkan:N, vulkan:cpu, \
         cuda or cuda:N"
    )]
    Unknown(String),
    #[error(
        "this rewardlab was built without the `{feature}` feature, so it cannot run on `{device}`; \
         build it with `cargo build --release --features {feature}` (docs/gpu.md says what the \
         machine needs)"
    )]
    NotBuilt {
        device: DeviceChoice,
        feature: &'static str,
    },
    #[error(
        "there is no `{device}` device on this machine ({reason}); `vulkaninfo --summary` lists \
         the Vulkan adapters that wgpu:N and vulkan:N count, `nvidia-smi -L` the CUDA devices, \
         and `--device cpu` runs on the CPU (docs/gpu.md)"
    )]
    Unavailable {
        device: DeviceChoice,
        reason: String,
    },
    #[error(
        "`{0}` is one adapter and has no numbered devices; --devices counts the GPUs of wgpu, \
         vulkan or cuda"
    )]
    NotNumbered(DeviceChoice),
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, DeviceError> {
        let unknown = || DeviceError::Unknown(s.to_string());
        let (name, which) = match s.trim().to_ascii_lowercase().split_once(':') {
            Some((name, which)) => (name.to_string(), Some(which.to_string())),
            None => (s.trim().to_ascii_lowercase(), None),
        };
        let adapter = |which: Option<String>| match which.as_deref() {
            None => Ok(Adapter::Best),
            Some("cpu") => Ok(Adapter::Cpu),
            Some(n) => n.parse().map(Adapter::Discrete).map_err(|_| unknown()),
        };
        match name.as_str() {
            "cpu" | "flex" if which.is_none() => Ok(DeviceChoice::Cpu),
            "wgpu" => adapter(which).map(DeviceChoice::Wgpu),
            "vulkan" => adapter(which).map(DeviceChoice::Vulkan),
            "cuda" => match which {
                None => Ok(DeviceChoice::Cuda(0)),
                Some(n) => n.parse().map(DeviceChoice::Cuda).map_err(|_| unknown()),
            },
            _ => Err(unknown()),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let adapter = |f: &mut fmt::Formatter<'_>, name: &str, a: &Adapter| match a {
            Adapter::Best => write!(f, "{name}"),
            Adapter::Discrete(n) => write!(f, "{name}:{n}"),
            Adapter::Cpu => write!(f, "{name}:cpu"),
        };
        match self {
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Wgpu(a) => adapter(f, "wgpu", a),
            DeviceChoice::Vulkan(a) => adapter(f, "vulkan", a),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl DeviceChoice {
    /// The cargo feature this device needs (`None`: always built).
    pub fn feature(self) -> Option<&'static str> {
        match self {
            DeviceChoice::Cpu => None,
            DeviceChoice::Wgpu(_) => Some("wgpu"),
            DeviceChoice::Vulkan(_) => Some("vulkan"),
            DeviceChoice::Cuda(_) => Some("cuda"),
        }
    }

    /// Device `index` of this backend, for `--devices`: `wgpu:index`, `vulkan:index`,
    /// `cuda:index`. The CPU has no numbered devices, and every index names the CPU again: a
    /// list of them runs the data-parallel code path on the CPU, to check it, not for speed.
    pub fn numbered(self, index: usize) -> Result<DeviceChoice, DeviceError> {
        match self {
            DeviceChoice::Cpu => Ok(DeviceChoice::Cpu),
            DeviceChoice::Wgpu(Adapter::Cpu) | DeviceChoice::Vulkan(Adapter::Cpu) => {
                Err(DeviceError::NotNumbered(self))
            }
            DeviceChoice::Wgpu(_) => Ok(DeviceChoice::Wgpu(Adapter::Discrete(index))),
            DeviceChoice::Vulkan(_) => Ok(DeviceChoice::Vulkan(Adapter::Discrete(index))),
            DeviceChoice::Cuda(_) => Ok(DeviceChoice::Cuda(index)),
        }
    }

    /// Whether this build can run on the device.
    pub fn is_built(self) -> bool {
        match self {
            DeviceChoice::Cpu => true,
            DeviceChoice::Wgpu(_) => cfg!(feature = "wgpu"),
            DeviceChoice::Vulkan(_) => cfg!(feature = "vulkan"),
            DeviceChoice::Cuda(_) => cfg!(feature = "cuda"),
        }
    }

    /// The burn device, once the machine is found to have it. This asks the driver which
    /// adapters exist but opens none: the backend comes up on the first tensor. Without the
    /// check, a missing adapter panics inside burn's device thread on first use.
    pub fn device(self) -> Result<Device, DeviceError> {
        if !self.is_built() {
            return Err(DeviceError::NotBuilt {
                device: self,
                feature: self.feature().unwrap_or_default(),
            });
        }
        self.check_present()?;
        Ok(self.build())
    }

    /// Whether the machine has the adapter, asked of the runtime without opening it.
    fn check_present(self) -> Result<(), DeviceError> {
        #[cfg(any(feature = "wgpu", feature = "cuda"))]
        use burn::backend::CubeDevice;
        let found: Result<(), String> = match self {
            DeviceChoice::Cpu => Ok(()),
            #[cfg(feature = "wgpu")]
            DeviceChoice::Wgpu(a) => CubeDevice::wgpu(a.cube_kind())
                .map(drop)
                .map_err(|e| e.to_string()),
            #[cfg(feature = "vulkan")]
            DeviceChoice::Vulkan(a) => CubeDevice::vulkan(a.cube_kind())
                .map(drop)
                .map_err(|e| e.to_string()),
            #[cfg(feature = "cuda")]
            DeviceChoice::Cuda(n) => CubeDevice::cuda(n).map(drop).map_err(|e| e.to_string()),
            #[allow(unreachable_patterns)]
            _ => Ok(()),
        };
        found.map_err(|reason| DeviceError::Unavailable {
            device: self,
            reason,
        })
    }

    /// The device of a backend that is built.
    #[allow(unreachable_code)] // every arm but the CPU's is compiled out without its feature
    fn build(self) -> Device {
        match self {
            DeviceChoice::Cpu => Device::flex(),
            #[cfg(feature = "wgpu")]
            DeviceChoice::Wgpu(a) => Device::wgpu(a.kind()),
            #[cfg(feature = "vulkan")]
            DeviceChoice::Vulkan(a) => Device::vulkan(a.kind()),
            #[cfg(feature = "cuda")]
            DeviceChoice::Cuda(n) => Device::cuda(n),
            #[allow(unreachable_patterns)]
            other => unreachable!("{other} is checked to be built first"),
        }
    }
}

impl Adapter {
    /// burn's name for the adapter.
    #[cfg(feature = "wgpu")]
    fn kind(self) -> burn::tensor::DeviceKind {
        match self {
            Adapter::Best => burn::tensor::DeviceKind::DefaultDevice,
            Adapter::Discrete(n) => burn::tensor::DeviceKind::DiscreteGpu(n),
            Adapter::Cpu => burn::tensor::DeviceKind::Cpu,
        }
    }

    /// cubecl's name for the adapter, which its availability check takes.
    #[cfg(feature = "wgpu")]
    fn cube_kind(self) -> burn::backend::WgpuDeviceKind {
        use burn::backend::WgpuDeviceKind as Kind;
        match self {
            Adapter::Best => Kind::DefaultDevice,
            Adapter::Discrete(n) => Kind::DiscreteGpu(n),
            Adapter::Cpu => Kind::Cpu,
        }
    }
}

/// What a device is, for the lines a run prints and the benchmarks' reports: the adapter's own
/// name and the compiler its kernels go through, such as `NVIDIA H100 PCIe (wgpu<spirv>)` or
/// `llvmpipe (LLVM 19.1.7, 256 bits) (wgpu<wgsl>)`. Opens the device.
pub fn describe(device: &Device) -> String {
    if *device == Device::flex() {
        return "CPU (burn flex)".to_string();
    }
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    if let Some(identity) = device.identity() {
        return format!("{} ({})", identity.name, identity.fingerprint);
    }
    format!("{device:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        for (text, choice) in [
            ("cpu", DeviceChoice::Cpu),
            ("wgpu", DeviceChoice::Wgpu(Adapter::Best)),
            ("wgpu:1", DeviceChoice::Wgpu(Adapter::Discrete(1))),
            ("wgpu:cpu", DeviceChoice::Wgpu(Adapter::Cpu)),
            ("vulkan", DeviceChoice::Vulkan(Adapter::Best)),
            ("vulkan:0", DeviceChoice::Vulkan(Adapter::Discrete(0))),
            ("vulkan:cpu", DeviceChoice::Vulkan(Adapter::Cpu)),
            ("cuda:2", DeviceChoice::Cuda(2)),
        ] {
            assert_eq!(text.parse::<DeviceChoice>(), Ok(choice), "{text}");
            assert_eq!(choice.to_string(), text);
        }
        assert_eq!("CUDA".parse(), Ok(DeviceChoice::Cuda(0)));
        assert_eq!("flex".parse(), Ok(DeviceChoice::Cpu));
        assert_eq!(DeviceChoice::default(), DeviceChoice::Cpu);
        for bad in ["gpu", "cuda:x", "wgpu:-1", "cpu:1", ""] {
            let err = bad.parse::<DeviceChoice>().unwrap_err();
            assert!(
                err.to_string().contains("expected cpu, wgpu"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn devices_are_numbered_within_their_backend() {
        let wgpu = DeviceChoice::Wgpu(Adapter::Best);
        assert_eq!(
            wgpu.numbered(1),
            Ok(DeviceChoice::Wgpu(Adapter::Discrete(1)))
        );
        assert_eq!(
            DeviceChoice::Vulkan(Adapter::Discrete(0)).numbered(2),
            Ok(DeviceChoice::Vulkan(Adapter::Discrete(2)))
        );
        assert_eq!(DeviceChoice::Cuda(0).numbered(3), Ok(DeviceChoice::Cuda(3)));
        assert_eq!(DeviceChoice::Cpu.numbered(1), Ok(DeviceChoice::Cpu));
        let err = DeviceChoice::Wgpu(Adapter::Cpu).numbered(1).unwrap_err();
        assert!(
            err.to_string().contains("`wgpu:cpu` is one adapter"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_adapter_is_an_error_before_any_tensor() {
        // No machine has a hundredth discrete GPU: without the check burn would panic on the
        // first tensor instead.
        let choice = DeviceChoice::Wgpu(Adapter::Discrete(99));
        match choice.device() {
            Err(DeviceError::Unavailable { device, reason }) => {
                assert_eq!(device, choice);
                let text = DeviceError::Unavailable { device, reason }.to_string();
                assert!(text.contains("no `wgpu:99` device"), "{text}");
                assert!(text.contains("--device cpu"), "{text}");
            }
            Err(DeviceError::NotBuilt { .. }) => assert!(!choice.is_built()),
            other => panic!("expected no wgpu:99, got {other:?}"),
        }
    }

    #[test]
    fn a_backend_the_build_lacks_names_its_feature() {
        assert!(DeviceChoice::Cpu.device().is_ok());
        for choice in [
            DeviceChoice::Wgpu(Adapter::Best),
            DeviceChoice::Vulkan(Adapter::Cpu),
            DeviceChoice::Cuda(0),
        ] {
            let feature = choice.feature().unwrap();
            match choice.device() {
                Ok(_) => assert!(choice.is_built()),
                Err(e) => {
                    assert!(!choice.is_built());
                    let text = e.to_string();
                    assert!(text.contains(&format!("--features {feature}")), "{text}");
                    assert!(text.contains(&choice.to_string()), "{text}");
                }
            }
        }
    }
}
