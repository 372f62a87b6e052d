//! The machine a benchmark runs on, as every `bench` header prints it: the CPU model, the widest
//! vector instruction set the CPU offers, the one the matrix kernels actually run, and the
//! threads. Figures from two machines of this project's kind (an AMD EPYC one day, an Intel Xeon
//! with AVX-512 another) differ by up to 2x, so no figure is quoted without this line.

use serde::Serialize;

/// The widest float32 vector instruction set the CPU offers, as far as matrix products go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VectorIsa {
    /// AVX-512F: 16 float32 lanes per fused multiply-add.
    Avx512,
    /// AVX2 with FMA: 8 lanes.
    Avx2Fma,
    /// Arm NEON: 4 lanes.
    Neon,
    /// No vector FMA the benchmarks use.
    Scalar,
}

impl VectorIsa {
    /// What this CPU offers (detected at run time, as the kernels' own dispatch does).
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Self::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Self::Avx2Fma;
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            if std::arch::is_aarch64_feature_detected!("neon") {
                return Self::Neon;
            }
        }
        Self::Scalar
    }

    /// float32 lanes of one vector FMA.
    pub fn lanes(self) -> usize {
        match self {
            Self::Avx512 => 16,
            Self::Avx2Fma => 8,
            Self::Neon => 4,
            Self::Scalar => 1,
        }
    }

    /// The name the header prints, with the x86-64 micro-architecture level it belongs to.
    pub fn label(self) -> &'static str {
        match self {
            Self::Avx512 => "AVX-512 (x86-64-v4)",
            Self::Avx2Fma => "AVX2+FMA (x86-64-v3)",
            Self::Neon => "NEON",
            Self::Scalar => "scalar",
        }
    }
}

/// The family of micro-kernels that burn's flex backend multiplies float32 matrices with: the
/// `gemm` crate's (0.19) choice at its first product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GemmKernel {
    /// `gemm_f32`'s `avx512f` kernels (16 x 4-register tiles of 16 lanes).
    Avx512f,
    /// Its `fma` kernels (AVX2, 8 lanes).
    Fma,
    /// Its `neon` kernels.
    Neon,
    /// Its portable scalar kernels.
    Scalar,
}

/// Whether `gemm_f32` was built with its AVX-512 kernels (`x86-v4`). Without that feature, gemm
/// runs its AVX2 kernels even on an AVX-512 CPU: half the lanes, which measured 169-186 GFLOP/s
/// against PyTorch's 345-357 on an Intel Xeon of this project's kind.
///
/// The constant names an item that exists only when the feature is on
/// (`gemm_f32::microkernel::avx512f`), so dropping the feature is a build error here, not a
/// silent halving of the matrix speed.
#[cfg(target_arch = "x86_64")]
pub const GEMM_HAS_AVX512_KERNELS: bool = gemm_f32::microkernel::avx512f::f32::MR_DIV_N > 0;
/// Whether `gemm_f32` was built with its AVX-512 kernels: never off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub const GEMM_HAS_AVX512_KERNELS: bool = false;

impl GemmKernel {
    /// The kernels gemm runs on this CPU. This follows `init_gemm_fn` of gemm-common 0.19
    /// (`src/gemm.rs`): the `avx512f` kernels when they are compiled in and the CPU has
    /// AVX-512F, else `fma` when the CPU has FMA, else scalar (x86-64); `neon` on Arm. Both
    /// checks are made at run time, so one binary falls back on a CPU without AVX-512.
    pub fn detect() -> Self {
        Self::for_cpu(VectorIsa::detect(), cpu_has_fma())
    }

    /// The choice for a CPU offering `isa` (and FMA or not), given how gemm was built.
    pub fn for_cpu(isa: VectorIsa, fma: bool) -> Self {
        match isa {
            VectorIsa::Avx512 if GEMM_HAS_AVX512_KERNELS => Self::Avx512f,
            VectorIsa::Neon => Self::Neon,
            _ if fma => Self::Fma,
            _ => Self::Scalar,
        }
    }

    /// float32 lanes of the kernels' vectors.
    pub fn lanes(self) -> usize {
        match self {
            Self::Avx512f => 16,
            Self::Fma => 8,
            Self::Neon => 4,
            Self::Scalar => 1,
        }
    }

    /// The name the header prints.
    pub fn label(self) -> &'static str {
        match self {
            Self::Avx512f => "gemm avx512f",
            Self::Fma => "gemm fma (AVX2)",
            Self::Neon => "gemm neon",
            Self::Scalar => "gemm scalar",
        }
    }
}

fn cpu_has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The machine a benchmark ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// `model name` of `/proc/cpuinfo` (e.g. "AMD EPYC 9R14", "Intel(R) Xeon(R) Platinum
    /// 8488C"), or "unknown CPU".
    pub cpu_model: String,
    /// Logical CPUs this process may use.
    pub cores: usize,
    /// Threads the benchmark runs on.
    pub threads: usize,
    /// The widest vector set the CPU offers.
    pub isa: VectorIsa,
    /// The matrix kernels that run.
    pub gemm: GemmKernel,
}

impl Machine {
    /// This machine, for a benchmark on `threads` threads.
    pub fn detect(threads: usize) -> Self {
        Self {
            cpu_model: cpu_model(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads,
            isa: VectorIsa::detect(),
            gemm: GemmKernel::detect(),
        }
    }

    /// The header line every `bench` prints first.
    pub fn header(&self) -> String {
        let warning = if self.isa.lanes() > self.gemm.lanes() {
            " (NARROWER THAN THE CPU OFFERS: gemm was built without its x86-v4 kernels)"
        } else {
            ""
        };
        format!(
            "machine: {}, {} core(s); vector ISA {}; matrix kernels {}{warning}; {} thread(s)",
            self.cpu_model,
            self.cores,
            self.isa.label(),
            self.gemm.label(),
            self.threads
        )
    }
}

/// The CPU's model name: the first `model name` line of `/proc/cpuinfo` on Linux x86-64; on Arm
/// machines that lack it, `CPU implementer`/`CPU part`; "unknown CPU" where nothing says.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| model_from_cpuinfo(&text))
        .unwrap_or_else(|| "unknown CPU".to_string())
}

fn model_from_cpuinfo(text: &str) -> Option<String> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_string())
        })
    };
    if let Some(model) = field("model name").filter(|m| !m.is_empty()) {
        return Some(model);
    }
    match (field("CPU implementer"), field("CPU part")) {
        (Some(i), Some(p)) => Some(format!("CPU implementer {i}, part {p}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_avx512_kernels_are_compiled_into_gemm_on_x86_64() {
        // The constant itself is the proof (it names a module that exists only with gemm's
        // `x86-v4` feature); this keeps it from being optimised into nothing unnoticed.
        assert_eq!(GEMM_HAS_AVX512_KERNELS, cfg!(target_arch = "x86_64"));
    }

    #[test]
    fn gemm_follows_the_cpu_and_falls_back_without_avx512() {
        let avx512 = GemmKernel::for_cpu(VectorIsa::Avx512, true);
        assert_eq!(
            avx512,
            if GEMM_HAS_AVX512_KERNELS {
                GemmKernel::Avx512f
            } else {
                GemmKernel::Fma
            }
        );
        assert_eq!(
            GemmKernel::for_cpu(VectorIsa::Avx2Fma, true),
            GemmKernel::Fma
        );
        assert_eq!(
            GemmKernel::for_cpu(VectorIsa::Scalar, false),
            GemmKernel::Scalar
        );
        assert_eq!(
            GemmKernel::for_cpu(VectorIsa::Neon, false),
            GemmKernel::Neon
        );
    }

    #[test]
    fn this_cpu_runs_the_widest_kernels_it_offers() {
        let m = Machine::detect(1);
        println!("{}", m.header());
        assert_eq!(m.gemm.lanes(), m.isa.lanes(), "{}", m.header());
        assert!(!m.header().contains("NARROWER"));
    }

    #[test]
    fn cpu_models_are_read_from_x86_and_arm_cpuinfo() {
        let x86 =
            "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\nflags: fma\n";
        assert_eq!(model_from_cpuinfo(x86).as_deref(), Some("AMD EPYC 9R14"));
        let arm = "processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n";
        assert_eq!(
            model_from_cpuinfo(arm).as_deref(),
            Some("CPU implementer 0x41, part 0xd0c")
        );
        assert_eq!(model_from_cpuinfo("processor: 0\n"), None);
    }
}
