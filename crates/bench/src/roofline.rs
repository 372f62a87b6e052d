//! The machine's measured roofline: its float32 peak (a loop of independent fused
//! multiply-adds, the fastest arithmetic the CPU has) and its memory bandwidth (STREAM's triad),
//! on the benchmark's own thread count. Every `bench` row divides its FLOP rate by this peak, so
//! that a figure says how much of the hardware it used, whichever machine of the kind ran it.

use std::hint::black_box;
use std::time::Instant;

use serde::Serialize;

use crate::BenchError;
use crate::machine::VectorIsa;
use crate::timing::thread_pool;

/// The roofline of this machine on a number of threads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Roofline {
    /// Threads measured together.
    pub threads: usize,
    /// The vector set the FMA loop ran (the widest the CPU offers).
    pub isa: VectorIsa,
    /// float32 GFLOP/s of the FMA loop on one thread alone.
    pub gflops_one_thread: f64,
    /// float32 GFLOP/s of the FMA loop on every thread at once: the peak the rows divide by.
    pub gflops: f64,
    /// GB/s of the triad `a = b + s * c` on every thread (12 bytes per element: two reads and a
    /// write; the write-allocate read is not counted, as in STREAM).
    pub bandwidth_gbs: f64,
}

impl Roofline {
    /// Measures the peak and the bandwidth on a pool of `threads` threads; `quick` measures for
    /// about 0.3 s instead of 1.5 s (the benchmarks' headers), at the cost of a few percent.
    ///
    /// # Errors
    ///
    /// [`BenchError::Threads`] when the pool cannot be built.
    pub fn measure(threads: usize, quick: bool) -> Result<Self, BenchError> {
        let pool = thread_pool(threads)?;
        let isa = VectorIsa::detect();
        let repeats = if quick { 3 } else { 7 };
        let seconds = if quick { 0.05 } else { 0.1 };
        let iters = calibrate(isa, seconds);
        // Wakes every worker (an idle virtual CPU can take milliseconds to be scheduled again,
        // which measured one thread's peak for two in a first try) before anything is timed.
        pool.broadcast(|_| fma_loop(isa, iters));
        let gflops_one_thread = best_of(repeats, || fma_gflops(isa, iters));
        // Every thread of the pool runs the loop at once; the slowest sets the wall-clock time.
        let gflops = best_of(repeats, || {
            let t0 = Instant::now();
            let flop: f64 = pool.broadcast(|_| fma_loop(isa, iters).1).into_iter().sum();
            flop / t0.elapsed().as_secs_f64() / 1e9
        });
        let elements = if quick { 1 << 23 } else { 1 << 25 };
        let bandwidth_gbs = pool.install(|| triad_bandwidth(elements, repeats));
        Ok(Self {
            threads,
            isa,
            gflops_one_thread,
            gflops,
            bandwidth_gbs,
        })
    }

    /// `gflops` as a percentage of the peak.
    pub fn percent(&self, gflops: f64) -> f64 {
        100.0 * gflops / self.gflops
    }

    /// The line the benchmarks print under their header.
    pub fn line(&self) -> String {
        format!(
            "measured roofline: float32 FMA peak {:.1} GFLOP/s on {} thread(s) ({:.1} on one; {}), \
             memory bandwidth {:.1} GB/s (triad)",
            self.gflops,
            self.threads,
            self.gflops_one_thread,
            self.isa.label(),
            self.bandwidth_gbs
        )
    }
}

fn best_of(repeats: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..repeats).map(|_| f()).fold(0.0, f64::max)
}

/// Loop iterations that take about `seconds` on one thread.
fn calibrate(isa: VectorIsa, seconds: f64) -> u64 {
    let mut iters = 1 << 12;
    loop {
        let t0 = Instant::now();
        fma_loop(isa, iters);
        let t = t0.elapsed().as_secs_f64();
        if t > seconds / 4.0 || iters > 1 << 40 {
            return ((iters as f64) * seconds / t.max(1e-9)).max(1.0) as u64;
        }
        iters *= 4;
    }
}

fn fma_gflops(isa: VectorIsa, iters: u64) -> f64 {
    let t0 = Instant::now();
    let (_, flop) = fma_loop(isa, iters);
    flop / t0.elapsed().as_secs_f64() / 1e9
}

/// Runs `iters` rounds of independent FMA chains in the widest vectors of `isa`; returns a value
/// that depends on every chain (so nothing is optimised away) and the FLOP count (2 per lane per
/// FMA).
fn fma_loop(isa: VectorIsa, iters: u64) -> (f32, f64) {
    let iters = black_box(iters);
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `VectorIsa::detect` saw AVX-512F on this CPU.
        VectorIsa::Avx512 => unsafe { x86::fma_avx512(iters) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `VectorIsa::detect` saw AVX2 and FMA on this CPU.
        VectorIsa::Avx2Fma => unsafe { x86::fma_avx2(iters) },
        _ => fma_portable(iters),
    }
}

/// Independent chains per loop: enough to cover the FMA latency (4 cycles) times the FMA units (2)
/// with registers to spare, and no more than the vector registers hold.
const CHAINS_PORTABLE: usize = 8;

fn fma_portable(iters: u64) -> (f32, f64) {
    let (a, b) = (black_box(0.999_999_f32), black_box(1e-7_f32));
    let mut acc = [[1.0_f32; 4]; CHAINS_PORTABLE];
    for _ in 0..iters {
        for chain in &mut acc {
            for x in chain.iter_mut() {
                *x = x.mul_add(a, b);
            }
        }
    }
    let sum = acc.iter().flatten().sum();
    (sum, 2.0 * 4.0 * (CHAINS_PORTABLE as f64) * iters as f64)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// 24 chains of 16 lanes: AVX-512 has 32 registers, so these stay in registers beside the
    /// two operands.
    const CHAINS_512: usize = 24;
    /// 12 chains of 8 lanes: AVX2 has 16 registers.
    const CHAINS_256: usize = 12;

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fma_avx512(iters: u64) -> (f32, f64) {
        let a = _mm512_set1_ps(super::black_box(0.999_999));
        let b = _mm512_set1_ps(super::black_box(1e-7));
        let mut acc = [_mm512_set1_ps(1.0); CHAINS_512];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        let mut sum = _mm512_setzero_ps();
        for x in acc {
            sum = _mm512_add_ps(sum, x);
        }
        let sum = _mm512_reduce_add_ps(sum);
        (sum, 2.0 * 16.0 * CHAINS_512 as f64 * iters as f64)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn fma_avx2(iters: u64) -> (f32, f64) {
        let a = _mm256_set1_ps(super::black_box(0.999_999));
        let b = _mm256_set1_ps(super::black_box(1e-7));
        let mut acc = [_mm256_set1_ps(1.0); CHAINS_256];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut sum = _mm256_setzero_ps();
        for x in acc {
            sum = _mm256_add_ps(sum, x);
        }
        let mut lanes = [0.0_f32; 8];
        // SAFETY: `lanes` holds the 8 floats the store writes.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
        (
            lanes.iter().sum(),
            2.0 * 8.0 * CHAINS_256 as f64 * iters as f64,
        )
    }
}

/// STREAM's triad `a[i] = b[i] + s * c[i]` over `elements` float32s per array (far larger than
/// the caches), split over the current rayon pool; the best of `repeats` in GB/s.
fn triad_bandwidth(elements: usize, repeats: usize) -> f64 {
    use rayon::prelude::*;
    let chunk = 1 << 16;
    let b = vec![1.0_f32; elements];
    let c = vec![2.0_f32; elements];
    let mut a = vec![0.0_f32; elements];
    let s = black_box(3.0_f32);
    best_of(repeats.max(2), || {
        let t0 = Instant::now();
        a.par_chunks_mut(chunk)
            .zip(b.par_chunks(chunk))
            .zip(c.par_chunks(chunk))
            .for_each(|((a, b), c)| {
                for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
                    *a = b + s * c;
                }
            });
        black_box(&mut a);
        12.0 * elements as f64 / t0.elapsed().as_secs_f64() / 1e9
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fma_loop_counts_its_flop_and_converges_to_the_fixed_point() {
        // x <- 0.999999 x + 1e-7 tends to 0.1 from 1.0; whatever the chains' count and width,
        // the sum is (lanes x chains) times the same value, and the FLOP count 2 per lane-FMA.
        let iters = 1000;
        let check = |(sum, flop): (f32, f64), lanes_times_chains: f64| {
            assert_eq!(flop, 2.0 * lanes_times_chains * iters as f64);
            let one = (0..iters).fold(1.0_f32, |x, _| x.mul_add(0.999_999, 1e-7));
            let expected = one * lanes_times_chains as f32;
            assert!(
                (sum - expected).abs() <= 1e-4 * expected,
                "{sum} vs {expected}"
            );
        };
        check(fma_portable(iters), 4.0 * CHAINS_PORTABLE as f64);
        let isa = VectorIsa::detect();
        let (sum, flop) = fma_loop(isa, iters);
        let lanes_times_chains = flop / 2.0 / iters as f64;
        check((sum, flop), lanes_times_chains);
    }

    #[test]
    fn the_roofline_is_positive_and_the_threads_add_up() {
        let r = Roofline::measure(1, true).unwrap();
        println!("{}", r.line());
        assert!(r.gflops > 0.0 && r.gflops.is_finite());
        assert!(r.bandwidth_gbs > 0.0 && r.bandwidth_gbs.is_finite());
        assert!((r.percent(r.gflops) - 100.0).abs() < 1e-9);
        assert!(r.line().contains("GFLOP/s"));
    }
}
