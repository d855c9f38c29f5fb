//! Time of one optimizer step of a training plan, composed from the step model, the pipeline
//! module and the collectives - none of which it re-derives.
//!
//! **Forward.** One microbatch's forward on one pipeline stage is the step model's
//! ([`StepModel::prepare`]) prefill of `microbatch x ep` sequences of `n = seq_len / cp` new
//! tokens after `(seq_len - n) / 2` cached ones on the stage's share of the model (see
//! [`super::stages`]: the first, busiest middle and last stages are priced, the slowest sets the
//! pipeline's period) with the plan's `tp` and `ep`: its time holds GEMM and attention compute,
//! weight reads and the tensor-parallel (and expert all-to-all) collectives. The context makes
//! each context-parallel rank's attention `s (s + 1) / (2 cp)` pairs per sequence, its exact share
//! of the causal attention under Megatron's load-balanced split (`cp = 1`: a plain prefill). With
//! sequence parallelism the all-reduces become reduce-scatter + all-gather pairs of the same
//! volume (Korthikanti et al. 2022 s4.2.2), so the step model's all-reduce prices both.
//! Collectives are not overlapped with compute.
//!
//! **Context parallelism** (ring attention; Liu et al. 2023, Megatron-Core's CP, Llama 3 s3.3.2):
//! each layer passes every rank's K and V chunk (`kv_elements / layer` per token, 16-bit, split
//! over `min(tp, kv_heads)`) `cp - 1` times around the ring of `cp` ranks (tensor-parallel ranks
//! fastest, then context-parallel: inside the scale-up domain when `tp x cp` fits it, else over
//! the scale-out network), a point-to-point hop per step; the backward passes K, V and their
//! gradients, twice the bytes. Assumption: each hop overlaps the attention of the chunk already
//! received, so only the ring's excess over the stage's attention compute is exposed (forward:
//! `max(0, t_ring - t_attention)`, backward twice that).
//!
//! **fp8** ([`super::plan::Precision::Fp8`]): the GEMMs run at the chip's fp8 peak, attention and
//! the rest at bf16: the stage's forward is the fp8 step model's with its attention operator
//! replaced by the bf16 model's. MFU and HFU of an fp8 plan are over the fp8 dense peak (the
//! GEMMs' peak), so they stay below the compute efficiency.
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
//! **Data parallelism** (ZeRO paper s7 volumes; 16-bit gradients and weights of the stage holding
//! the most parameters), over the data-parallel group (dense parameters, `dp x cp` ranks: the
//! context-parallel ranks hold the same weights and reduce their gradients together, as in
//! Megatron) and the expert-data-parallel group (routed experts, `dp x cp / ep` ranks),
//! hierarchical when the group leaves the scale-up domain (ranks ordered tensor-parallel fastest,
//! then context-, then data-parallel, as Megatron does):
//! - ZeRO 0 and 1: one gradient all-reduce per step (stage 1's reduce-scatter + all-gather moves
//!   the same bytes), bucketed and overlapped with the last microbatch's backward: exposed is
//!   `max(t - backward, t x last bucket share)`;
//! - ZeRO 2: each microbatch's gradient reduce-scatter overlaps its backward (the backward takes
//!   the longer of the two), and the updated weights are all-gathered once, overlapped with the
//!   next step's first forward except the last bucket;
//! - ZeRO 3: each microbatch also all-gathers the weights for its forward and again for its
//!   backward; the forward's gathers overlap only the forward, the backward's gathers and
//!   reduce-scatters only the backward (each pass takes the longer), and the step's first gather
//!   bucket (no compute before it) and last reduce-scatter bucket (none after it) are exposed.
//!
//! Where the traffic stretches a pass, the stretch (and the bubble's growth with it) is reported
//! as exposed data-parallel time, not as compute: `t_forward` / `t_backward` are the passes'
//! own times.
//!
//! The last bucket is Megatron's default bucket of `max(4e7, 1e6 x dp)` parameters
//! (megatron/core/distributed/distributed_data_parallel.py).
//!
//! **Optimizer.** Adam's update is memory-bound: per parameter of the optimizer's shard it reads
//! the fp32 master weight, momentum, variance and the 16-bit gradient (14 bytes) and writes the
//! three fp32 states and the 16-bit weight (14 bytes): 28 bytes over the achievable bandwidth.
//! With the states offloaded to host memory the update still runs on the GPU, and the 12 bytes
//! of states per parameter cross the host link in and back out each step (full duplex: 12 bytes
//! per parameter over the link's per-direction bandwidth x the network efficiency), not
//! overlapped (an assumption; ZeRO-Offload instead runs the update on the CPU).
//!
//! **Utilisation.** MFU counts the model's FLOPs, `3 x` the forward's (`6 N` per token for the
//! matrix products plus the attention term, from the cost view's counts; `brickwall.Model.
//! training_flops_per_token` is the same count), over the step time and the cluster's dense peak
//! in the GEMMs' precision; HFU adds the recomputed FLOPs (Korthikanti et al. 2022 s5.3).

use super::memory::{local_params, memory, Memory, OPTIMIZER_BYTES};
use super::plan::{Precision, Recompute, TrainingPlan};
use super::stages::{stages, Stage};
use crate::collectives::{self, Algorithm, Collective, Link};
use crate::error::{Error, Result};
use crate::pipeline::{bubble_fraction, Schedule};
use crate::roofline::{Chip, ModelCosts, Plan, StepModel};

/// Bytes Adam moves per parameter of its shard in one update (see the module docs).
pub const ADAM_BYTES_MOVED: f64 = 28.0;

/// A model as training sees it: the cost view's counts, the attention heads (for the
/// activation formulas) and the vocabulary with its tables (for the first and last stages).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingModel {
    /// The cost view (`brickwall.deployment.cost_view`).
    pub costs: ModelCosts,
    /// Attention (query) heads.
    pub heads: f64,
    /// Vocabulary size (0: unknown; every stage is then an even share and no logits are held).
    pub vocab: f64,
    /// Input embedding parameters (inside `costs.dense_params`).
    pub embedding_params: f64,
    /// Untied output-head parameters (inside `costs.dense_params`; 0 when tied).
    pub head_params: f64,
}

impl TrainingModel {
    /// A model without vocabulary information (every stage an even share).
    pub fn new(costs: ModelCosts, heads: f64) -> Self {
        Self { costs, heads, vocab: 0.0, embedding_params: 0.0, head_params: 0.0 }
    }
}

/// A chip as training sees it: the step model's chip in bf16, the fp8 dense peak and the host
/// link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingChip {
    /// The chip with its bf16 dense peak.
    pub chip: Chip,
    /// Dense fp8 FLOP/s (0: the chip has no fp8).
    pub fp8_flops: f64,
    /// Host (PCIe or C2C) bandwidth per direction, bytes/s (0: unknown).
    pub host_bandwidth: f64,
}

impl From<Chip> for TrainingChip {
    fn from(chip: Chip) -> Self {
        Self { chip, fp8_flops: 0.0, host_bandwidth: 0.0 }
    }
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
    /// Memory per GPU (the stage needing the most).
    pub memory: Memory,
    /// Device memory minus `memory.total`, bytes (negative when it does not fit).
    pub headroom: f64,
    /// `memory.total <= device memory`.
    pub fits: bool,
    /// USD per step (0 when the price is unknown).
    pub cost_per_step: f64,
    /// Context-parallel ring traffic of one microbatch's forward on one stage, before overlap.
    pub t_cp_comm: f64,
    /// Its part not hidden behind attention, forward plus backward of one microbatch.
    pub t_cp_exposed: f64,
    /// Offloaded optimizer states crossing the host link.
    pub t_offload: f64,
}

/// Names of [`TrainingStep::to_row`]'s entries.
pub const TRAINING_COLUMNS: [&str; 32] = [
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
    "t_cp_comm",
    "t_cp_exposed",
    "t_offload",
    "mem_logits",
    "mem_stage",
];

impl TrainingStep {
    /// The step as one row of [`TRAINING_COLUMNS`] (`fits` as 0/1) for `gpus` chips.
    pub fn to_row(&self, gpus: f64) -> [f64; 32] {
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
            self.t_cp_comm,
            self.t_cp_exposed,
            self.t_offload,
            m.logits,
            m.stage,
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

/// What a stage's forward costs, as training reads it off the step model.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Forward {
    /// Seconds of the microbatch's forward on the stage (collectives included).
    pub latency: f64,
    /// Its compute seconds (GEMMs and attention).
    pub t_compute: f64,
    /// Its tensor- and expert-parallel collectives.
    pub t_comm: f64,
    /// Its attention compute seconds.
    pub t_attention: f64,
    /// The context-parallel ring's seconds, before overlap.
    pub t_ring: f64,
    /// The ring's exposed seconds in the forward.
    pub ring_exposed: f64,
}

/// One stage to price: its step model, and the bf16 one for attention when the GEMMs are fp8.
#[derive(Debug, Clone)]
struct StagePricer {
    stage: Stage,
    sm: StepModel,
    sm16: Option<StepModel>,
}

impl StagePricer {
    #[inline]
    fn forward(&self, batch: f64, context: f64, n: f64) -> Forward {
        let pre = self.sm.prepare(batch, n);
        let (t, st) = (pre.terms(context), pre.at(context));
        let Some(h) = &self.sm16 else {
            return Forward {
                latency: st.latency,
                t_compute: st.t_compute,
                t_comm: st.t_comm,
                t_attention: t.t_attn_c,
                ..Forward::default()
            };
        };
        let pre16 = h.prepare(batch, n);
        let (t16, st16) = (pre16.terms(context), pre16.at(context));
        Forward {
            latency: st.latency - st.t_attention + st16.t_attention,
            t_compute: t.t_c - t.t_attn_c + t16.t_attn_c,
            t_comm: st.t_comm,
            t_attention: t16.t_attn_c,
            ..Forward::default()
        }
    }
}

/// Everything of a plan fixed by `(tp, pp, dp, ep, cp)` and the precision: the stages' step
/// models and the groups. The plan search builds one per layout and evaluates its other axes
/// with [`Layout::evaluate`].
#[derive(Debug, Clone)]
pub struct Layout {
    model: TrainingModel,
    chip: TrainingChip,
    precision: Precision,
    tp: u64,
    pp: u64,
    dp: u64,
    ep: u64,
    cp: u64,
    stages: Vec<StagePricer>,
    all_stages: Vec<Stage>,
    /// `(dense, expert)` parameters per GPU of the stage holding the most.
    params: (f64, f64),
    dense: Group,
    expert: Group,
    hop: Link,
    ring: Link,
    kv_shard: f64,
}

impl Layout {
    /// Validate the layout's links and build the stages' step models.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: &TrainingModel,
        chip: &TrainingChip,
        tp: u64,
        pp: u64,
        dp: u64,
        ep: u64,
        cp: u64,
        precision: Precision,
    ) -> Result<Self> {
        Self::with_stages(model, chip, tp, pp, dp, ep, cp, precision, stages(model, pp))
    }

    /// [`Layout::new`] with the pipeline's [`stages`] already split (the plan search shares them
    /// between layouts of the same `pp`).
    #[allow(clippy::too_many_arguments)]
    pub fn with_stages(
        model: &TrainingModel,
        chip: &TrainingChip,
        tp: u64,
        pp: u64,
        dp: u64,
        ep: u64,
        cp: u64,
        precision: Precision,
        all_stages: Vec<Stage>,
    ) -> Result<Self> {
        let c = &chip.chip;
        if precision == Precision::Fp8 && (chip.fp8_flops.is_nan() || chip.fp8_flops <= 0.0) {
            return Err(Error::invalid(
                "precision",
                "fp8",
                "bf16 on this chip: it has no fp8 dense peak (fp8 training needs fp8 tensor cores: Hopper, Ada, Blackwell, MI300)",
            ));
        }
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
        let gemm_chip =
            if precision == Precision::Fp8 { Chip { peak_flops: chip.fp8_flops, ..*c } } else { *c };
        let mut pricers = Vec::with_capacity(all_stages.len());
        let mut params = (0.0, 0.0);
        for st in &all_stages {
            let sm = StepModel::new(st.costs, plan, gemm_chip)?;
            let sm16 =
                if precision == Precision::Fp8 { Some(StepModel::new(st.costs, plan, *c)?) } else { None };
            let (d, e) = local_params(&st.costs, tp as f64, ep as f64);
            if d + e > params.0 + params.1 {
                params = (d, e);
            }
            pricers.push(StagePricer { stage: *st, sm, sm16 });
        }
        let dense = Group::new(dp * cp, tp, c, "dp")?;
        let expert = Group::new(dp * cp / ep.max(1), tp * ep, c, "dp / ep")?;
        let gpus = (tp * cp * pp * dp) as f64;
        let raw = if gpus <= c.scale_up_domain { c.scale_up } else { c.scale_out };
        if pp > 1 && raw.bandwidth_bytes_s <= 0.0 {
            return Err(Error::invalid(
                "tp x cp x pp x dp",
                gpus,
                format!(
                    "<= the scale-up domain ({}) on hardware without a scale-out bandwidth",
                    c.scale_up_domain
                ),
            ));
        }
        let eff = |l: Link| Link {
            latency_s: l.latency_s,
            bandwidth_bytes_s: l.bandwidth_bytes_s.max(f64::MIN_POSITIVE) * c.eff_network,
        };
        let in_domain = (tp * cp) as f64 <= c.scale_up_domain;
        if cp > 1 && !in_domain && c.scale_out.bandwidth_bytes_s <= 0.0 {
            return Err(Error::invalid(
                "cp",
                cp,
                format!(
                    "tp x cp <= the scale-up domain ({}) on hardware without a scale-out bandwidth",
                    c.scale_up_domain
                ),
            ));
        }
        let ring = eff(if in_domain { c.scale_up } else { c.scale_out });
        let kv_shard = (tp as f64).min(model.costs.kv_heads.max(1.0));
        Ok(Self {
            model: *model,
            chip: *chip,
            precision,
            tp,
            pp,
            dp,
            ep,
            cp,
            stages: pricers,
            all_stages,
            params,
            dense,
            expert,
            hop: eff(raw),
            ring,
            kv_shard,
        })
    }

    /// Chips of the layout.
    pub fn gpus(&self) -> u64 {
        self.tp * self.cp * self.pp * self.dp
    }

    /// The step of `plan`, whose `(tp, pp, dp, ep, cp)` and precision must be this layout's and
    /// which must have passed [`TrainingPlan::validate`] (trusted here: the search's hot path).
    pub fn evaluate(&self, plan: &TrainingPlan) -> TrainingStep {
        self.evaluate_with(plan, &self.forward(plan.microbatch, plan.seq_len))
    }

    /// One microbatch's forward on the slowest stage (see the module docs), with the
    /// context-parallel ring's exposed time included in its `latency`.
    #[inline]
    pub fn forward(&self, microbatch: u64, seq_len: u64) -> Forward {
        let (cp, s) = (self.cp as f64, seq_len as f64);
        let n = s / cp;
        let context = 0.5 * (s - n);
        let batch = microbatch as f64 * self.ep as f64;
        let mut slowest = Forward::default();
        for p in &self.stages {
            let mut f = p.forward(batch, context, n);
            if self.cp > 1 {
                let c = &p.stage.costs;
                let per_layer_kv = if c.layers > 0.0 { c.kv_elements_per_token / c.layers } else { 0.0 };
                let chunk = microbatch as f64 * n * per_layer_kv * 2.0 / self.kv_shard;
                let hop = collectives::time(Collective::PointToPoint, chunk, 2.0, self.ring);
                f.t_ring = c.layers * (cp - 1.0) * hop;
                f.ring_exposed = (f.t_ring - f.t_attention).max(0.0);
                f.latency += f.ring_exposed;
            }
            if f.latency > slowest.latency {
                slowest = f;
            }
        }
        slowest
    }

    /// [`Layout::evaluate`] with the forward `fwd = self.forward(plan.microbatch, plan.seq_len)`
    /// already computed (the plan search shares it between plans that differ only in schedule,
    /// recomputation, ZeRO stage, sequence parallelism or offload).
    #[inline]
    pub fn evaluate_with(&self, plan: &TrainingPlan, fwd: &Forward) -> TrainingStep {
        let m = &self.model.costs;
        let (pp, dp, ep, cp) = (self.pp as f64, self.dp as f64, self.ep as f64, self.cp as f64);
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
        let f = fwd.latency;
        // The backward passes K, V and their gradients around the ring: twice the forward's.
        let ring_b = 2.0 * fwd.ring_exposed;
        let (b_in, w) = if plan.schedule.splits_backward() {
            (t_c + comm + t_recompute + ring_b, t_c)
        } else {
            (2.0 * t_c + comm + t_recompute + ring_b, 0.0)
        };
        // Data-parallel traffic: 16-bit gradients / weights of the local shards.
        let (dense, expert) = self.params;
        let coll = |k: Collective| self.dense.time(k, 2.0 * dense) + self.expert.time(k, 2.0 * expert);
        let bucket = (4e7f64).max(1e6 * dp * cp);
        let last_bucket = (bucket / (dense + expert)).min(1.0);
        // Per-microbatch traffic stretches the pass it overlaps (`fd`, `bd`: the passes' times
        // with it); `edge` is the step's traffic that no compute hides.
        let (t_dp, fd, bd, edge);
        match plan.zero {
            0 | 1 => {
                t_dp = coll(Collective::AllReduce);
                (fd, bd) = (f, b_in);
                edge = (t_dp - (b_in + w)).max(t_dp * last_bucket);
            }
            2 => {
                let (rs, ag) = (coll(Collective::ReduceScatter), coll(Collective::AllGather));
                t_dp = rs + ag;
                (fd, bd) = (f, b_in.max(rs - w));
                edge = (ag - f).max(ag * last_bucket);
            }
            _ => {
                // The forward's gathers hide only behind the forward, the backward's gathers and
                // reduce-scatters only behind the backward; the first gather of the step has no
                // compute before it and the last reduce-scatter bucket none after it.
                let (rs, ag) = (coll(Collective::ReduceScatter), coll(Collective::AllGather));
                t_dp = 2.0 * ag + rs;
                (fd, bd) = (f.max(ag), b_in.max(ag + rs - w));
                edge = (ag + rs) * last_bucket;
            }
        }
        // ZB-H1's closed form needs w <= min(f, b): w = t_compute <= both, and the collectives
        // above only grow f and b.
        let mb = plan.microbatches() as f64;
        let v = plan.chunks as f64;
        let pipeline = |f: f64, b: f64| {
            let bf = bubble_fraction(plan.schedule, pp, mb, v, f, b, w);
            let busy = mb * (f + b + w);
            (bf, busy, if bf > 0.0 { busy / (1.0 - bf) } else { busy })
        };
        let (bf, busy, makespan) = pipeline(f, b_in);
        // The traffic's stretch of every pass (and so of the bubble) is exposed data-parallel time.
        let stretched = if fd > f || bd > b_in { pipeline(fd, bd).2 } else { makespan };
        let t_dp_exposed = (stretched - makespan) + edge;
        let t_p2p = if self.pp > 1 {
            let bytes = b * s * m.d_model * 2.0 / (self.tp as f64 * cp);
            2.0 * (pp * v - 1.0) * collectives::time(Collective::PointToPoint, bytes, 2.0, self.hop)
        } else {
            0.0
        };
        let mem = memory(plan, &self.all_stages, self.model.heads, self.model.vocab);
        let group = dp * cp;
        let opt_params = if plan.zero >= 1 { dense / group + expert / (group / ep) } else { dense + expert };
        let c = &self.chip.chip;
        let t_optimizer = opt_params * ADAM_BYTES_MOVED / (c.memory_bandwidth * c.eff_memory);
        let t_offload = if plan.offload {
            opt_params * OPTIMIZER_BYTES / (self.chip.host_bandwidth.max(f64::MIN_POSITIVE) * c.eff_network)
        } else {
            0.0
        };
        // From the stretched pipeline, not makespan + exposed: equal, without the rounding that
        // would let more recomputation shorten a traffic-bound step by an ulp.
        let step_time = stretched + t_p2p + edge + t_optimizer + t_offload;
        let gb = plan.global_batch as f64;
        let model_flops = 3.0 * gb * fwd_seq;
        let recomputed = match plan.recompute {
            Recompute::None => 0.0,
            Recompute::Selective => gb * attn_seq,
            Recompute::Full => gb * fwd_seq,
        };
        let gpus = self.gpus() as f64;
        let gemm_peak = if self.precision == Precision::Fp8 { self.chip.fp8_flops } else { c.peak_flops };
        let peak = gpus * gemm_peak;
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
            headroom: c.memory - mem.total,
            fits: mem.total <= c.memory,
            cost_per_step: step_time * gpus * c.price_per_s,
            t_cp_comm: fwd.t_ring,
            t_cp_exposed: 3.0 * fwd.ring_exposed,
            t_offload,
        }
    }
}

/// Validate `plan` against the model and chip and price its step.
pub fn evaluate(model: &TrainingModel, chip: &TrainingChip, plan: &TrainingPlan) -> Result<TrainingStep> {
    plan.validate(&model.costs, model.heads)?;
    check_offload(plan.offload, chip)?;
    let layout = Layout::new(model, chip, plan.tp, plan.pp, plan.dp, plan.ep, plan.cp, plan.precision)?;
    Ok(layout.evaluate(plan))
}

/// Offload needs the host link's bandwidth.
pub fn check_offload(offload: bool, chip: &TrainingChip) -> Result<()> {
    if offload && (chip.host_bandwidth.is_nan() || chip.host_bandwidth <= 0.0) {
        return Err(Error::invalid(
            "offload",
            "true",
            "false on a chip without a known host bandwidth (give the hardware's host_bandwidth, chip-file key host_bandwidth_gb_s)",
        ));
    }
    Ok(())
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
