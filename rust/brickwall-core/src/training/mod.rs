//! Training plans: memory per GPU, step time, MFU, the plan search and goodput under failures.
//!
//! A [`TrainingPlan`] lays a model over `tp x cp x pp x dp` chips (expert parallelism inside the
//! data-parallel group, context parallelism splitting each sequence) with a pipeline schedule, a
//! microbatch, recomputation, a ZeRO stage, a GEMM precision and optimizer offload.
//! [`stages`] says which layers, embedding and LM head each pipeline stage holds.
//! [`memory`] sizes each GPU's model states and activations by the published formulas,
//! [`step`] composes one optimizer step from the step model ([`crate::roofline::StepModel`]), the
//! pipeline's closed-form bubble and the collectives, [`search`] runs the grid engine over plans,
//! and [`goodput`] prices failures and checkpoints. One file per concern.

pub mod goodput;
pub mod memory;
pub mod plan;
pub mod search;
pub mod stages;
pub mod step;

pub use goodput::{daly_interval, young_interval, Failures};
pub use memory::Memory;
pub use plan::{Precision, Recompute, TrainingPlan};
pub use search::{Axes, Objective, Search};
pub use step::{
    evaluate, parse_schedule, Forward, Layout, TrainingChip, TrainingModel, TrainingStep, TRAINING_COLUMNS,
};
