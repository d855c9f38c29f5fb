//! Time of one optimizer step of a training plan, composed from the step model, the pipeline
//! module and the collectives - none of which it re-derives.
//!
//! **Forward.** One microbatch's forward on one pipeline stage is
//! [`StepModel::evaluate`]`(microbatch x ep, 0, seq_len)` on the stage's share of the model (every
//! per-layer count over `pp`; the busiest stage's `ceil(L / pp)` layers when `pp` does not divide
//! them, see [`super::memory::stage_divisor`]) with the plan's `tp` and `ep` and one stage:
//! a prefill of the microbatch, whose time holds GEMM and attention compute, weight reads and the
//! tensor-parallel (and expert all-to-all) collectives. With sequence parallelism the all-reduces
//! become reduce-scatter + all-gather pairs of the same volume (Korthikanti et al. 2022 s4.2.2),
//! so the step model's all-reduce prices both. Collectives are not overlapped with compute.
//!
//! **Backward** (a modelling assumption): the input- and weight-gradient GEMMs each cost what the
//! forward's compute does, so the backward is `2 x t_compute` of the forward plus the same
//! collectives (their transposes move the same bytes). Recomputation adds the whole forward
//! (full) or the core attention's share of the forward compute (selective: the context-dependent
//! FLOPs over all forward FLOPs of the cost view). ZB-H1 splits it: input gradient
//! `t_compute + collectives + recompute`, weight gradient `t_compute`.
//!
//! **Pipeline.** The closed-form bubble of [`crate::pipeline::bubble_fraction`] with these
//! stage times (every stage priced as the busiest), plus `2 (p v - 1)` point-to-point hops of
//! the microbatch's activations (split over `tp`: Narayanan et al. 2021 s4.1's scatter/gather)
//! for the fill and drain. The closed form equals the DAG simulator without hop latency, and the
//! hop term equals it for GPipe and interleaved 1F1B; for 1F1B and ZB-H1 with `f != b` the
//! simulator's steady state also waits on hops, so there the hop term is a lower bound (tested).
//!
//! **Data parallelism** (ZeRO paper s7 volumes; 16-bit gradients and weights), over the
//! data-parallel group (dense parameters, `dp` ranks) and the expert-data-parallel group (routed
//! experts, `dp / ep` ranks), hierarchical when the group leaves the scale-up domain (ranks
//! ordered tensor-parallel fastest, then data-parallel, as Megatron does):
//! - ZeRO 0 and 1: one gradient all-reduce per step (stage 1's reduce-scatter + all-gather moves
//!   the same bytes), bucketed and overlapped with the last microbatch's backward: exposed is
//!   `max(t - backward, t x last bucket share)`;
//! - ZeRO 2: each microbatch's gradient reduce-scatter overlaps its backward (the backward takes
//!   the longer of the two), and the updated weights are all-gathered once, overlapped with the
//!   next step's first forward except the last bucket;
//! - ZeRO 3: each microbatch also all-gathers the weights for its forward and again for its
//!   backward, overlapped with them (each takes the longer).
//!
//! The last bucket is Megatron's default bucket of `max(4e7, 1e6 x dp)` parameters
//! (megatron/core/distributed/distributed_data_parallel.py).
//!
//! **Optimizer.** Adam's update is memory-bound: per parameter of the optimizer's shard it reads
//! the fp32 master weight, momentum, variance and the 16-bit gradient (14 bytes) and writes the
//! three fp32 states and the 16-bit weight (14 bytes): 28 bytes over the achievable bandwidth.
//!
//! **Utilisation.** MFU counts the model's FLOPs, `3 x` the forward's (`6 N` per token for the
//! matrix products plus the attention term, from the cost view's counts), over the step time and
//! the cluster's dense peak; HFU adds the recomputed FLOPs (Korthikanti et al. 2022 s5.3).

use super::memory::{local_params, memory, stage_divisor, Memory};
use super::plan::{Recompute, TrainingPlan};
use crate::collectives::{self, Algorithm, Collective, Link};
use crate::error::{Error, Result};
use crate::pipeline::{bubble_fraction, Schedule};
use crate::roofline::{Chip, ModelCosts, Plan, Step, StepModel};

/// Bytes Adam moves per parameter of its shard in one update (see the module docs).
pub const ADAM_BYTES_MOVED: f64 = 28.0;

/// A model as training sees it: the cost view's counts and the attention heads (for the
/// activation formulas).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingModel {
    /// The cost view (`brickwall.deployment.cost_view`).
    pub costs: ModelCosts,
    /// Attention (query) heads.
    pub heads: f64,
}

/// Where one training step's time and each GPU's memory go. Times in seconds, memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrainingStep {
    /// Seconds per optimizer step.
    pub step_time: f64,
    /// Forward of one microbatch on one stage (with any ZeRO-3 gather it waits on).
    pub t_forward: f64,
    /// Backward of one microbatch on one stage, recomputation and overlapped collectives included.
    pub t_backward: f64,
    /// The recomputation inside `t_backward`.
    pub t_recompute: f64,
    /// Busy time of one stage: microbatches x (forward + backward).
    pub t_pipeline_busy: f64,
    /// Pipeline bubble of one stage (closed form).
    pub t_bubble: f64,
    /// Point-to-point hop latency on the critical path.
    pub t_p2p: f64,
    /// Data-parallel collectives of the step, before overlap.
    pub t_dp: f64,
    /// Their part not hidden behind compute.
    pub t_dp_exposed: f64,
    /// Optimizer update.
    pub t_optimizer: f64,
    /// Tensor- and expert-parallel collectives inside one microbatch's forward on one stage.
    pub t_tp_comm: f64,
    /// Tokens per second, all replicas.
    pub tokens_per_s: f64,
    /// Model FLOPs (3 x forward) per second over the cluster's dense peak.
    pub mfu: f64,
    /// Hardware FLOPs (model + recomputed) per second over the cluster's dense peak.
    pub hfu: f64,
    /// Model FLOPs per step.
    pub model_flops: f64,
    /// Microbatches per pipeline per step.
    pub microbatches: f64,
    /// Bubble over the stage's makespan.
    pub bubble_fraction: f64,
    /// Memory per GPU (first stage).
    pub memory: Memory,
    /// Device memory minus `memory.total`, bytes (negative when it does not fit).
    pub headroom: f64,
    /// `memory.total <= device memory`.
    pub fits: bool,
    /// USD per step (0 when the price is unknown).
    pub cost_per_step: f64,
}

/// Names of [`TrainingStep::to_row`]'s entries.
pub const TRAINING_COLUMNS: [&str; 27] = [
    "step_time",
    "t_forward",
    "t_backward",
    "t_recompute",
    "t_pipeline_busy",
    "t_bubble",
    "t_p2p",
    "t_dp",
    "t_dp_exposed",
    "t_optimizer",
    "t_tp_comm",
    "tokens_per_s",
    "mfu",
    "hfu",
    "model_flops",
    "microbatches",
    "bubble_fraction",
    "mem_weights",
    "mem_grads",
    "mem_optimizer",
    "mem_activations",
    "mem_total",
    "in_flight",
    "headroom",
    "fits",
    "cost_per_step",
    "gpus",
];

impl TrainingStep {
    /// The step as one row of [`TRAINING_COLUMNS`] (`fits` as 0/1) for `gpus` chips.
    pub fn to_row(&self, gpus: f64) -> [f64; 27] {
        let m = &self.memory;
        [
            self.step_time,
            self.t_forward,
            self.t_backward,
            self.t_recompute,
            self.t_pipeline_busy,
            self.t_bubble,
            self.t_p2p,
            self.t_dp,
            self.t_dp_exposed,
            self.t_optimizer,
            self.t_tp_comm,
            self.tokens_per_s,
            self.mfu,
            self.hfu,
            self.model_flops,
            self.microbatches,
            self.bubble_fraction,
            m.weights,
            m.grads,
            m.optimizer,
            m.activations,
            m.total,
            m.in_flight,
            self.headroom,
            f64::from(u8::from(self.fits)),
            self.cost_per_step,
            gpus,
        ]
    }
}

/// A group of `ranks` ranks, `per_island` of them on each scale-up domain.
#[derive(Debug, Clone, Copy)]
struct Group {
    ranks: f64,
    per_island: f64,
    inner: Link,
    outer: Link,
}

impl Group {
    /// Ranks `stride` apart (the chips between them belong to faster-varying groups), on
    /// domains of `domain` chips: the largest divisor of `ranks` that fits `domain / stride`.
    fn new(ranks: u64, stride: u64, chip: &Chip, what: &str) -> Result<Self> {
        let room = (chip.scale_up_domain as u64 / stride.max(1)).max(1);
        let per_island = (1..=ranks.min(room)).rev().find(|g| ranks % g == 0).unwrap_or(1);
        let eff = |l: Link| Link {
            latency_s: l.latency_s,
            bandwidth_bytes_s: l.bandwidth_bytes_s * chip.eff_network,
        };
        if per_island < ranks && chip.scale_out.bandwidth_bytes_s <= 0.0 {
            return Err(Error::invalid(
                what,
                ranks,
                format!(
                    "a group inside one scale-up domain ({} chips) on hardware without a known scale-out bandwidth",
                    chip.scale_up_domain
                ),
            ));
        }
        Ok(Self {
            ranks: ranks as f64,
            per_island: per_island as f64,
            inner: eff(chip.scale_up),
            outer: eff(chip.scale_out),
        })
    }

    /// Seconds of one collective of `bytes` per rank (see [`crate::collectives`] for `bytes`).
    fn time(&self, kind: Collective, bytes: f64) -> f64 {
        let (g, islands) = (self.per_island, self.ranks / self.per_island);
        if islands <= 1.0 {
            return match kind {
                Collective::AllReduce => collectives::all_reduce_time(bytes, g, self.inner, Algorithm::Ring),
                k => collectives::time(k, bytes, g, self.inner),
            };
        }
        match kind {
            Collective::AllReduce => collectives::hierarchical_all_reduce_by(
                bytes,
                g,
                islands,
                self.inner,
                self.outer,
                Algorithm::Ring,
            ),
            // Inside the island on the whole buffer, across islands on its 1/g shard.
            k => {
                collectives::time(k, bytes, g, self.inner)
                    + collectives::time(k, bytes / g, islands, self.outer)
            }
        }
    }
}

/// The stage's share of the model: every per-layer count over `pp` (a stage divisor, see
/// [`super::memory::stage_divisor`]).
pub fn stage_costs(m: &ModelCosts, pp: f64) -> ModelCosts {
    ModelCosts {
        layers: m.layers / pp,
        moe_layers: m.moe_layers / pp,
        dense_params: m.dense_params / pp,
        matmul_params_active: m.matmul_params_active / pp,
        attn_flops_per_context_token: m.attn_flops_per_context_token / pp,
        kv_elements_per_token: m.kv_elements_per_token / pp,
        ..*m
    }
}

/// Everything of a plan fixed by `(tp, pp, dp, ep)`: the stage's step model and the groups. The
/// plan search builds one per layout and evaluates its other axes with [`Layout::evaluate`].
#[derive(Debug, Clone)]
pub struct Layout {
    model: TrainingModel,
    chip: Chip,
    sm: StepModel,
    tp: u64,
    pp: u64,
    dp: u64,
    ep: u64,
    dense: Group,
    expert: Group,
    hop: Link,
}

impl Layout {
    /// Validate the layout's links and build the stage's step model.
    pub fn new(model: &TrainingModel, chip: &Chip, tp: u64, pp: u64, dp: u64, ep: u64) -> Result<Self> {
        let stage = stage_costs(&model.costs, stage_divisor(model.costs.layers, pp as f64));
        let plan = Plan {
            tp: tp as f64,
            pp: 1.0,
            ep: ep as f64,
            weight_bytes: 2.0,
            kv_bytes: 2.0,
            act_bytes: 2.0,
            kv_batch_sharded: false,
            overlap: false,
            touched_experts: f64::NAN,
            expert_imbalance: 1.0,
            // As a Deployment's default: the fastest per message inside the scale-up domain.
            all_reduce: Algorithm::Auto,
        };
        let sm = StepModel::new(stage, plan, *chip)?;
        let dense = Group::new(dp, tp, chip, "dp")?;
        let expert = Group::new(dp / ep.max(1), tp * ep, chip, "dp / ep")?;
        let gpus = (tp * pp * dp) as f64;
        let raw = if gpus <= chip.scale_up_domain { chip.scale_up } else { chip.scale_out };
        if pp > 1 && raw.bandwidth_bytes_s <= 0.0 {
            return Err(Error::invalid(
                "tp x pp x dp",
                gpus,
                format!(
                    "<= the scale-up domain ({}) on hardware without a scale-out bandwidth",
                    chip.scale_up_domain
                ),
            ));
        }
        let hop = Link {
            latency_s: raw.latency_s,
            bandwidth_bytes_s: raw.bandwidth_bytes_s.max(f64::MIN_POSITIVE) * chip.eff_network,
        };
        Ok(Self { model: *model, chip: *chip, sm, tp, pp, dp, ep, dense, expert, hop })
    }

    /// Chips of the layout.
    pub fn gpus(&self) -> u64 {
        self.tp * self.pp * self.dp
    }

    /// The step of `plan`, whose `(tp, pp, dp, ep)` must be this layout's and which must have
    /// passed [`TrainingPlan::validate`] (trusted here: the search's hot path).
    pub fn evaluate(&self, plan: &TrainingPlan) -> TrainingStep {
        self.evaluate_with(plan, &self.forward(plan.microbatch, plan.seq_len))
    }

    /// One microbatch's forward on one stage: the step model's prefill of `microbatch x ep`
    /// sequences of `seq_len` tokens on the stage's share of the model (see the module docs).
    #[inline]
    pub fn forward(&self, microbatch: u64, seq_len: u64) -> Step {
        self.sm.evaluate(microbatch as f64 * self.ep as f64, 0.0, seq_len as f64)
    }

    /// [`Layout::evaluate`] with the forward `fwd = self.forward(plan.microbatch, plan.seq_len)`
    /// already computed (the plan search shares it between plans that differ only in schedule,
    /// recomputation, ZeRO stage or sequence parallelism).
    #[inline]
    pub fn evaluate_with(&self, plan: &TrainingPlan, fwd: &Step) -> TrainingStep {
        let m = &self.model.costs;
        let (pp, dp, ep) = (self.pp as f64, self.dp as f64, self.ep as f64);
        let (b, s) = (plan.microbatch as f64, plan.seq_len as f64);
        let (t_c, comm) = (fwd.t_compute, fwd.t_comm);
        // FLOPs of one sequence's forward through the whole model (the cost view's counts, as the
        // step model prices them): matrix products and the causal attention term.
        let attn_seq = m.attn_flops_per_context_token * 0.5 * s * (s + 1.0);
        let fwd_seq = s * 2.0 * m.matmul_params_active + attn_seq;
        let attn_share = if fwd_seq > 0.0 { attn_seq / fwd_seq } else { 0.0 };
        let t_recompute = match plan.recompute {
            Recompute::None => 0.0,
            Recompute::Selective => attn_share * t_c,
            Recompute::Full => fwd.latency,
        };
        let mut f = fwd.latency;
        let (mut b_in, w) = if plan.schedule.splits_backward() {
            (t_c + comm + t_recompute, t_c)
        } else {
            (2.0 * t_c + comm + t_recompute, 0.0)
        };
        // Data-parallel traffic: 16-bit gradients / weights of the local shards.
        let (dense, expert) = local_params(m, self.tp as f64, stage_divisor(m.layers, pp), ep);
        let coll = |k: Collective| self.dense.time(k, 2.0 * dense) + self.expert.time(k, 2.0 * expert);
        let bucket = (4e7f64).max(1e6 * dp);
        let last_bucket = (bucket / (dense + expert)).min(1.0);
        let (t_dp, t_dp_exposed);
        match plan.zero {
            0 | 1 => {
                t_dp = coll(Collective::AllReduce);
                t_dp_exposed = (t_dp - (b_in + w)).max(t_dp * last_bucket);
            }
            2 => {
                let (rs, ag) = (coll(Collective::ReduceScatter), coll(Collective::AllGather));
                b_in = b_in.max(rs - w);
                t_dp = rs + ag;
                t_dp_exposed = (ag - f).max(ag * last_bucket);
            }
            _ => {
                let (rs, ag) = (coll(Collective::ReduceScatter), coll(Collective::AllGather));
                f = f.max(ag);
                b_in = b_in.max(ag + rs - w);
                t_dp = 2.0 * ag + rs;
                t_dp_exposed = 0.0;
            }
        }
        // ZB-H1's closed form needs w <= min(f, b): w = t_compute <= both, and the collectives
        // above only grow f and b.
        let mb = plan.microbatches() as f64;
        let v = plan.chunks as f64;
        let bf = bubble_fraction(plan.schedule, pp, mb, v, f, b_in, w);
        let busy = mb * (f + b_in + w);
        let makespan = if bf > 0.0 { busy / (1.0 - bf) } else { busy };
        let t_p2p = if self.pp > 1 {
            let bytes = b * s * m.d_model * 2.0 / self.tp as f64;
            2.0 * (pp * v - 1.0) * collectives::time(Collective::PointToPoint, bytes, 2.0, self.hop)
        } else {
            0.0
        };
        let mem = memory(plan, m, self.model.heads);
        let opt_params = if plan.zero >= 1 { dense / dp + expert / (dp / ep) } else { dense + expert };
        let t_optimizer = opt_params * ADAM_BYTES_MOVED / (self.chip.memory_bandwidth * self.chip.eff_memory);
        let step_time = makespan + t_p2p + t_dp_exposed + t_optimizer;
        let gb = plan.global_batch as f64;
        let model_flops = 3.0 * gb * fwd_seq;
        let recomputed = match plan.recompute {
            Recompute::None => 0.0,
            Recompute::Selective => gb * attn_seq,
            Recompute::Full => gb * fwd_seq,
        };
        let gpus = self.gpus() as f64;
        let peak = gpus * self.chip.peak_flops;
        TrainingStep {
            step_time,
            t_forward: f,
            t_backward: b_in + w,
            t_recompute,
            t_pipeline_busy: busy,
            t_bubble: makespan - busy,
            t_p2p,
            t_dp,
            t_dp_exposed,
            t_optimizer,
            t_tp_comm: comm,
            tokens_per_s: gb * s / step_time,
            mfu: model_flops / (step_time * peak),
            hfu: (model_flops + recomputed) / (step_time * peak),
            model_flops,
            microbatches: mb,
            bubble_fraction: bf,
            memory: mem,
            headroom: self.chip.memory - mem.total,
            fits: mem.total <= self.chip.memory,
            cost_per_step: step_time * gpus * self.chip.price_per_s,
        }
    }
}

/// Validate `plan` against the model and chip and price its step.
pub fn evaluate(model: &TrainingModel, chip: &Chip, plan: &TrainingPlan) -> Result<TrainingStep> {
    plan.validate(&model.costs, model.heads)?;
    let layout = Layout::new(model, chip, plan.tp, plan.pp, plan.dp, plan.ep)?;
    Ok(layout.evaluate(plan))
}

/// Whether a schedule name is one a training plan takes.
pub fn parse_schedule(name: &str) -> Result<Schedule> {
    let s = Schedule::parse(name)?;
    if super::plan::SCHEDULES.contains(&s.name()) {
        Ok(s)
    } else {
        Err(Error::invalid("schedule", name, format!("one of {}", super::plan::SCHEDULES.join(", "))))
    }
}
