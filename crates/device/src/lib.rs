//! The device every command that runs tensors uses, chosen once by the caller: `--device cpu`
//! (the default: burn's flex backend), `wgpu[:N|:cpu]`, `vulkan[:N|:cpu]` or `cuda[:N]`.
//!
//! `wgpu` picks the best adapter of whichever graphics API the machine offers (a discrete GPU
//! first); `wgpu:N` the N-th discrete GPU; `wgpu:cpu` a CPU adapter (Mesa's lavapipe, which runs
//! the GPU path on machines without one). `vulkan` is the same pinned to Vulkan, and so to the
//! SPIR-V compiler. `cuda:N` is the N-th CUDA device. A backend this build was compiled without is
//! an error naming the cargo feature to build with.

use std::fmt;
use std::str::FromStr;

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

    /// Whether this build can run on the device.
    pub fn is_built(self) -> bool {
        match self {
            DeviceChoice::Cpu => true,
            DeviceChoice::Wgpu(_) => cfg!(feature = "wgpu"),
            DeviceChoice::Vulkan(_) => cfg!(feature = "vulkan"),
            DeviceChoice::Cuda(_) => cfg!(feature = "cuda"),
        }
    }

    /// The burn device. Creating it starts nothing: the backend comes up on the first tensor.
    pub fn device(self) -> Result<Device, DeviceError> {
        if !self.is_built() {
            return Err(DeviceError::NotBuilt {
                device: self,
                feature: self.feature().unwrap_or_default(),
            });
        }
        Ok(self.build())
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
