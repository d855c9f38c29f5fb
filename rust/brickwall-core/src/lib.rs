//! brickwall-core: the kernels behind brickwall, in pure Rust.
//!
//! Everything here takes plain slices and structs in SI units (bytes, seconds, FLOP, bytes/s)
//! and returns `Result`: bad input is an [`Error`], never a panic.
//!
//! - [`collectives`]: alpha-beta times of all-reduce (ring, tree, one-shot, two-shot, auto),
//!   all-gather, all-to-all, p2p, hierarchical.
//! - [`control`]: cancellation and progress for long kernels.
//! - [`par`]: parallel fills of element-wise arrays and column-major tables.
//! - [`roofline`]: time, throughput, memory and cost of a decode/prefill step on a partitioned cluster.
//! - [`pipeline`]: pipeline schedules (GPipe, 1F1B, interleaved, zero-bubble) simulated as a DAG,
//!   their closed-form bubbles, and layers per stage.
//! - [`rng`]: the seedable, replayable RNG of every Monte Carlo kernel.
//! - [`routing`]: Monte Carlo of MoE expert loads (per expert, per device, drops, touched experts).
//! - [`routing_exact`]: exact routing laws: inclusion probabilities, load pmf, drops, max-load CDF.
//! - [`routed`]: steps priced at a quantile of the routing distribution (Monte Carlo per microbatch).
//! - [`serving`]: serving under traffic: seeded workloads, a continuous-batching simulator of one
//!   replica (static, continuous, chunked prefill; paged KV, preemption), priced by the step model.
//! - [`speculative`]: speculative decoding: acceptance kernels, sampling simulation, token trees.
//! - [`pareto`]: streaming, mergeable reducers: exact Pareto frontier, top-k, all rows.
//! - [`grid`]: the grid engine: a mixed-radix grid enumerated by index in chunks on rayon, any
//!   [`grid::Evaluator`] over it, per-worker reducers merged as a parallel tree.
//! - [`sweep`]: deployments x batch x context through the roofline, the grid engine's evaluator.
//! - [`training`]: training plans: memory per GPU, step time and MFU, plan search, goodput.
//!
//! Cross-module tests (a sweep row is the roofline's point, the engine equals brute force at any
//! thread count, closed-form bubbles equal the simulator) live in `tests/`.
//!
//! ```
//! use brickwall_core::collectives::{time, Collective, Link};
//! let nvlink = Link::new(0.0, 450e9).unwrap();
//! // 8-way ring all-reduce of 1 GB moves 2 * 7/8 GB per rank.
//! let t = time(Collective::AllReduce, 1e9, 8.0, nvlink);
//! assert!((t - 1.75e9 / 450e9).abs() < 1e-15);
//! ```

pub mod collectives;
pub mod control;
pub mod error;
pub mod grid;
pub mod par;
pub mod pareto;
pub mod pipeline;
pub mod rng;
pub mod roofline;
pub mod routed;
pub mod routing;
pub mod routing_exact;
pub mod serving;
pub mod speculative;
pub mod step;
pub mod sweep;
pub mod training;

pub use control::Control;
pub use error::{Error, Result};
