//! rewardlab's benchmarks, kept apart from the libraries they measure (as ripgrep keeps its
//! benchsuite): each `rewardlab bench ...` subcommand is one module here with its options and a
//! `run`, and the CLI only calls it. Speed is checked here, by figures printed beside their
//! target and a reference side run on the same machine, never by timed tests.
//!
//! What every benchmark measures against: [`Machine`] (the CPU model, the vector instruction set
//! the CPU offers and the one burn's matrix kernels run, the threads) and its measured
//! [`Roofline`] (float32 FMA peak, memory bandwidth). Each prints the machine first and each
//! row's share of the peak, so that figures from different machines of this project's kind are
//! never compared as if they came from one.
//!
//! - the suites: [`analyze`], [`imagereward`], [`peak`], [`pretrained`], [`synth`], [`train`];
//! - what they share: [`timing`] (warm-ups, repeats, the one median, thread pools), [`cpu`] (the
//!   one CPU-time accounting), [`reference`] (the Python reference sides, through the one venv
//!   helper), [`report`] (the lines all of them print), [`workloads`] (the encoder workloads).

pub mod analyze;
pub mod cpu;
mod error;
pub mod imagereward;
pub mod machine;
pub mod peak;
pub mod pretrained;
pub mod reference;
pub mod report;
pub mod roofline;
pub mod synth;
pub mod timing;
pub mod train;
pub mod workloads;

pub use error::BenchError;
pub use machine::{GemmKernel, Machine, VectorIsa};
pub use roofline::Roofline;
