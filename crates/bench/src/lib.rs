//! What every rewardlab benchmark measures against: [`Machine`] (the CPU model, the vector
//! instruction set the CPU offers and the one burn's matrix kernels run, the threads) and its
//! measured [`Roofline`] (float32 FMA peak, memory bandwidth). Each `bench` command prints the
//! machine first and each row's share of the peak, so that figures from different machines of
//! this project's kind are never compared as if they came from one.

pub mod machine;
pub mod peak;

pub use machine::{GemmKernel, Machine, VectorIsa};
pub use peak::{PeakError, Roofline};
