//! CPU fast paths for element-wise activations of the encoders' feed-forward blocks.
//!
//! burn's flex backend computes the exact GELU with a scalar libm `erff` call per element, which
//! took more time than the widening matrix product before it (about a quarter of a MiniLM
//! forward), and CLIP's QuickGELU as three ops (scale, sigmoid with a scalar `expf` per element,
//! product). Here each runs as one vectorised loop over the tensor's own buffer, split over the
//! current rayon pool: `erf` is the rational approximation that Eigen and XLA use (max abs error
//! 4.5e-7 in f32 against the exact erf, so GELU stays within 2e-6 of the libm result), `exp` is
//! Cephes' `expf` (about 1 ulp).
//!
//! The fast path is taken only where it is exact in meaning and cheaper: an f32 tensor on the
//! flex device without autodiff (inference; gradients need burn's own ops in the graph). Anything
//! else goes to burn's ops unchanged.

use burn::tensor::activation;
use burn::tensor::{DType, Device, Tensor};
use rayon::prelude::*;

/// Elements per rayon task: large enough to amortise the split, small enough that two threads
/// share a MiniLM layer's 3.4M activations evenly.
const CHUNK: usize = 1 << 16;

/// The activations with a host fast path.
#[derive(Debug, Clone, Copy)]
enum Act {
    /// `x · Φ(x)` with the exact (erf) Φ.
    Gelu,
    /// OpenAI's `x · sigmoid(1.702 x)`.
    QuickGelu,
}

/// The exact (erf) GELU, `x · Φ(x)`, as [`activation::gelu`] computes it.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    apply(x, Act::Gelu, activation::gelu)
}

/// OpenAI's QuickGELU, `x · sigmoid(1.702 x)` (CLIP's activation). burn has no such op, and its
/// three-op form (scale, sigmoid with a scalar `expf` per element, product) made two passes
/// over the activations more than needed.
pub fn quick_gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    apply(x, Act::QuickGelu, |x| {
        x.clone() * activation::sigmoid(x * 1.702)
    })
}

/// `act` of `x`: in place on the host where [`host_path`] allows, else `fallback`.
fn apply<const D: usize>(
    x: Tensor<D>,
    act: Act,
    fallback: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    if !host_path(&x) {
        return fallback(x);
    }
    let device = x.device();
    // Zero-copy on flex when the tensor owns its contiguous buffer (a layer's fresh output);
    // otherwise `into_data` copies, which is still cheaper than the ops it replaces.
    let mut data = x.into_data();
    match data.as_mut_slice::<f32>() {
        Ok(values) => {
            values
                .par_chunks_mut(CHUNK)
                .for_each(|chunk| in_place(chunk, act));
            Tensor::from_data(data, &device)
        }
        // Not reachable after the dtype check; burn's ops are always correct.
        Err(_) => fallback(Tensor::from_data(data, &device)),
    }
}

/// Whether `x` can be computed on the host in place: f32, flex, no autodiff.
fn host_path<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && !x.is_autodiff() && on_flex(&x.device())
}

#[cfg(feature = "flex")]
fn on_flex(device: &Device) -> bool {
    *device == Device::flex()
}

#[cfg(not(feature = "flex"))]
fn on_flex(_device: &Device) -> bool {
    false
}

/// `act` of every element of `values`, in place, with the widest instructions the CPU has.
fn in_place(values: &mut [f32], act: Act) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function is compiled for (checked above).
        unsafe { in_place_avx2_fma(values, act) };
        return;
    }
    body::<false>(values, act);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn in_place_avx2_fma(values: &mut [f32], act: Act) {
    body::<true>(values, act);
}

/// The loops both paths share; `FMA` chooses fused multiply-adds (a libm call without the
/// instruction, so only where the CPU has it). Each loop is branch-free so that it vectorises.
#[inline(always)]
fn body<const FMA: bool>(values: &mut [f32], act: Act) {
    match act {
        Act::Gelu => {
            for v in values {
                let x = *v;
                *v = 0.5 * x * (1.0 + erf::<FMA>(x * std::f32::consts::FRAC_1_SQRT_2));
            }
        }
        Act::QuickGelu => {
            for v in values {
                let x = *v;
                *v = x / (1.0 + exp::<FMA>(-1.702 * x));
            }
        }
    }
}

/// `exp(x)` as Cephes' `expf` computes it (about 1 ulp): `x = n·ln 2 + r` with |r| <= ln 2 / 2,
/// a degree-6 polynomial for `e^r`, and `2^n` put into the exponent bits. The input is clamped
/// to [-87, 88] so that `2^n` stays a normal float: below, the true value is under 1.7e-38
/// (treated as that), above, over 1.6e38 (which only ever divides something here). NaN stays
/// NaN.
#[inline(always)]
fn exp<const FMA: bool>(x: f32) -> f32 {
    let madd = |a: f32, b: f32, c: f32| if FMA { a.mul_add(b, c) } else { a * b + c };
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest by the 1.5·2^23 trick: `f32::round` is a libm call without SSE4.1.
    const SHIFTER: f32 = 12_582_912.0;
    let n = madd(x, std::f32::consts::LOG2_E, SHIFTER) - SHIFTER;
    let r = madd(n, -0.693_359_4, x);
    let r = madd(n, 2.121_944_4e-4, r);
    let mut p = madd(1.987_569_1e-4, r, 1.398_199_9e-3);
    p = madd(p, r, 8.333_452e-3);
    p = madd(p, r, 4.166_579_6e-2);
    p = madd(p, r, 1.666_666_5e-1);
    p = madd(p, r, 0.5);
    let e_r = madd(p, r * r, r) + 1.0;
    // n is an integer in [-126, 127]: 2^n has biased exponent n + 127.
    let two_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    e_r * two_n
}

/// `erf(x)` as a ratio of an odd degree-13 and an even degree-8 polynomial on [-4, 4] (erf is
/// ±1 in f32 beyond): Eigen's `generic_fast_erf_float`. NaN maps to ±1 here; [`body`]'s factor
/// `x` carries it to the output.
#[inline(always)]
fn erf<const FMA: bool>(x: f32) -> f32 {
    let madd = |a: f32, b: f32, c: f32| if FMA { a.mul_add(b, c) } else { a * b + c };
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = madd(x2, -2.726_142_4e-10, 2.770_681_5e-8);
    p = madd(x2, p, -2.101_024e-6);
    p = madd(x2, p, -5.692_506_2e-5);
    p = madd(x2, p, -7.349_906_4e-4);
    p = madd(x2, p, -2.954_6e-3);
    p = madd(x2, p, -1.609_603_3e-2);
    let mut q = madd(x2, -1.456_607_15e-5, -2.133_740_5e-4);
    q = madd(x2, q, -1.682_827e-3);
    q = madd(x2, q, -7.373_329_3e-3);
    q = madd(x2, q, -1.426_473_9e-2);
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn erf_is_within_5e_7_of_libm_on_both_paths() {
        let mut worst: [f32; 2] = [0.0; 2];
        for i in -80_000..=80_000 {
            let x = i as f32 * 1e-4;
            let exact = libm_erf(x);
            worst[0] = worst[0].max((erf::<false>(x) - exact).abs());
            worst[1] = worst[1].max((erf::<true>(x) - exact).abs());
        }
        assert!(worst.iter().all(|&w| w < 5e-7), "{worst:?}");
    }

    /// erf in f64 from its series and continued fraction would be a test of its own; the f64
    /// error function of the C library is exact enough to check an f32 approximation.
    fn libm_erf(x: f32) -> f32 {
        unsafe extern "C" {
            fn erf(x: f64) -> f64;
        }
        // SAFETY: `erf` from the C math library is a pure function of a double.
        unsafe { erf(f64::from(x)) as f32 }
    }

    #[test]
    fn exp_is_within_2_ulp_where_it_is_normal() {
        for (fma, worst) in [(false, worst_exp::<false>()), (true, worst_exp::<true>())] {
            assert!(worst < 2.5e-7, "fma {fma}: relative error {worst}");
        }
    }

    fn worst_exp<const FMA: bool>() -> f64 {
        (-870_000..=880_000)
            .map(|i| i as f32 * 1e-4)
            .map(|x| {
                let exact = f64::from(x).exp();
                ((f64::from(exp::<FMA>(x)) - exact) / exact).abs()
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn fast_quick_gelu_matches_the_three_op_form() {
        let device = Device::flex();
        let x = Tensor::<2>::random([300, 700], Distribution::Normal(0.0, 4.0), &device);
        let fast = values(quick_gelu(x.clone()));
        let reference = values(x.clone() * activation::sigmoid(x * 1.702));
        let worst = fast
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-6, "{worst}");
        let special = Tensor::<2>::from_data(
            TensorData::new(vec![f32::NAN, f32::INFINITY, -200.0, 0.0], [1, 4]),
            &device,
        );
        let out = values(quick_gelu(special));
        assert!(out[0].is_nan());
        assert_eq!(out[1], f32::INFINITY);
        assert!(out[2] <= 0.0 && out[2] > -1e-35, "{}", out[2]);
        assert_eq!(out[3], 0.0);
    }

    #[test]
    fn fast_gelu_matches_burns_on_flex_and_keeps_nan_and_infinities() {
        let device = Device::flex();
        let x = Tensor::<2>::random([300, 700], Distribution::Normal(0.0, 3.0), &device);
        let fast = values(gelu(x.clone()));
        let reference = values(activation::gelu(x));
        let worst = fast
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 2e-6, "{worst}");
        let special = Tensor::<2>::from_data(
            TensorData::new(
                vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0],
                [1, 4],
            ),
            &device,
        );
        let out = values(gelu(special));
        assert!(out[0].is_nan());
        assert_eq!(out[1], f32::INFINITY);
        assert_eq!(out[3], 0.0);
    }

    #[test]
    fn autodiff_tensors_take_burns_ops_and_get_gradients() {
        let ad = Device::flex().autodiff();
        let x =
            Tensor::<2>::from_data(TensorData::new(vec![1.0f32, -0.5], [1, 2]), &ad).require_grad();
        let grads = gelu(x.clone()).sum().backward();
        let g = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // d/dx x·Φ(x) = Φ(x) + x·φ(x): 1.0833155 at 1, 0.1325 at -0.5.
        assert!((g[0] - 1.083_315_5).abs() < 1e-5, "{g:?}");
        assert!((g[1] - 0.132_499_2).abs() < 1e-5, "{g:?}");
        let grads = quick_gelu(x.clone()).sum().backward();
        let g = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // d/dx x·σ(ax) = σ(ax) + a·x·σ(ax)·(1 - σ(ax)), a = 1.702.
        let want = |x: f32| {
            let s = 1.0 / (1.0 + (-1.702 * x).exp());
            s + 1.702 * x * s * (1.0 - s)
        };
        assert!((g[0] - want(1.0)).abs() < 1e-5, "{g:?}");
        assert!((g[1] - want(-0.5)).abs() < 1e-5, "{g:?}");
    }
}
