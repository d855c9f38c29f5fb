//! Memory per GPU of a training plan, on the pipeline stage that needs the most (the first holds
//! the most microbatches' activations, the last the LM head and its fp32 logits; see
//! [`super::stages`]).
//!
//! Model states (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion
//! Parameter Models", s3.1): mixed-precision Adam keeps 2 bytes of 16-bit weights and 2 of 16-bit
//! gradients per parameter, plus K = 12 bytes of optimizer states (fp32 master weights, momentum
//! and variance): 16 bytes per parameter. ZeRO stage 1 shards the 12 over the data-parallel
//! group, stage 2 also the gradients, stage 3 also the weights (s5, Figure 1). Dense parameters
//! are sharded over `tp x pp` and replicated over `dp x cp`; routed experts over `tp x pp x ep`
//! and replicated over `dp x cp / ep` (ZeRO shards over those groups). Offloaded optimizer states
//! (ZeRO-Offload, Ren et al. 2021) leave the GPU; an fp8 plan adds a 1-byte fp8 copy of its
//! weights.
//!
//! Activations (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
//! Models", s4 and Table 2), bytes per layer per microbatch of `b` sequences of `s` tokens, hidden
//! size `h`, `a` heads, tensor parallelism `t`, 16-bit activations:
//!
//! | | bytes per layer |
//! |---|---|
//! | no recompute, TP only (eq. 2) | `s b h (10 + 24/t + 5 a s / (h t))` |
//! | no recompute, TP + SP (eq. 3) | `s b h / t (34 + 5 a s / h)` |
//! | selective, TP only | `s b h (10 + 24/t)` |
//! | selective, TP + SP | `s b h / t 34` |
//! | full (layer input only) | `2 s b h` (`/ t` with SP, the input being sequence-sharded) |
//!
//! With `t = 1` the TP-only rows are the unparallelised `s b h (34 + 5 a s / h)` (eq. 1). The
//! formulas assume multi-head attention and a 4h two-matrix MLP, as the paper does: for GQA, gated
//! or MoE MLPs they are the paper's approximation, not an exact count. Context parallelism divides
//! them by `cp` (each rank holds `s / cp` of every sequence). The last stage adds one
//! microbatch's fp32 logits, [`logits_bytes`]; the embedding's own activations and other
//! temporary buffers are not counted. Stage `i` holds its layers for each microbatch in flight:
//! [`in_flight_at`]. Without a vocabulary every stage is the busiest of an even split,
//! `ceil(L / p)` layers: the model is split over [`stage_divisor`] `= L / ceil(L / p)` stages
//! (`p` when it divides).

use super::plan::{Precision, Recompute, TrainingPlan};
use super::stages::Stage;
use crate::pipeline::Schedule;
use crate::roofline::ModelCosts;

/// Bytes per parameter of 16-bit weights.
pub const WEIGHT_BYTES: f64 = 2.0;
/// Bytes per parameter of 16-bit gradients.
pub const GRAD_BYTES: f64 = 2.0;
/// Bytes per parameter of Adam's fp32 master weights, momentum and variance (ZeRO's K = 12).
pub const OPTIMIZER_BYTES: f64 = 12.0;
/// Bytes per parameter of the fp8 copy of the weights an fp8 plan's GEMMs read.
pub const FP8_COPY_BYTES: f64 = 1.0;

/// Memory per GPU, bytes, on the stage that needs the most.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Memory {
    /// 16-bit weights (and fp8 copies for an fp8 plan).
    pub weights: f64,
    /// 16-bit gradients.
    pub grads: f64,
    /// Optimizer states (master weights and moments) on the GPU (0 when offloaded).
    pub optimizer: f64,
    /// Stored activations of the microbatches in flight.
    pub activations: f64,
    /// The fp32 logits of one microbatch (last stage, vocabulary known).
    pub logits: f64,
    /// Sum of the five.
    pub total: f64,
    /// Microbatches in flight on that stage.
    pub in_flight: f64,
    /// The stage (0 = first).
    pub stage: f64,
}

/// Korthikanti et al. 2022 Table 2: activation bytes of one layer for one microbatch of `b`
/// sequences of `s` tokens (see the module docs).
#[inline]
pub fn activation_bytes_per_layer(s: f64, b: f64, h: f64, a: f64, t: f64, sp: bool, r: Recompute) -> f64 {
    let sbh = s * b * h;
    match (r, sp) {
        (Recompute::None, false) => sbh * (10.0 + 24.0 / t + 5.0 * a * s / (h * t)),
        (Recompute::None, true) => sbh / t * (34.0 + 5.0 * a * s / h),
        (Recompute::Selective, false) => sbh * (10.0 + 24.0 / t),
        (Recompute::Selective, true) => sbh / t * 34.0,
        (Recompute::Full, false) => 2.0 * sbh,
        (Recompute::Full, true) => 2.0 * sbh / t,
    }
}

/// Microbatches whose activations the first stage holds at once, in units of one microbatch
/// through the whole stage, with `m` microbatches: GPipe all `m`; 1F1B and ZB-H1 `min(p, m)`;
/// interleaved 1F1B `min(m, p + (p - 1)/v)` (Korthikanti et al. 2022 s4.2.3: the 1F1B memory
/// times `1 + (p - 1)/(p v)`). Equal to the pipeline simulator's `peak_in_flight[0]` (tested).
#[inline]
pub fn in_flight(schedule: Schedule, p: f64, m: f64, v: f64) -> f64 {
    in_flight_at(schedule, p, 0.0, m, v)
}

/// [`in_flight`] on stage `i`: 1F1B and ZB-H1 hold `min(p - i, m)` (the warm-up shrinks by one
/// per stage); interleaving `min(m, p - i + (p - 1)/v)` (an approximation: the chunked warm-up's
/// extra is taken as stage 0's on every stage); GPipe `m`.
#[inline]
pub fn in_flight_at(schedule: Schedule, p: f64, i: f64, m: f64, v: f64) -> f64 {
    match schedule {
        Schedule::GPipe => m,
        Schedule::Interleaved => m.min(p - i + (p - 1.0) / v),
        _ => m.min(p - i),
    }
}

/// `L / ceil(L / p)`: what the model's per-layer counts are divided by to give the busiest of `p`
/// stages' share (exactly `p` when `p` divides the `L` layers).
#[inline]
pub fn stage_divisor(layers: f64, pp: f64) -> f64 {
    layers / (layers / pp).ceil()
}

/// `(dense, expert)` parameters one GPU of a stage (`stage` its share of the model) holds before
/// ZeRO sharding.
#[inline]
pub fn local_params(stage: &ModelCosts, tp: f64, ep: f64) -> (f64, f64) {
    let expert_total = stage.moe_layers * stage.experts * stage.expert_params_per_layer;
    (stage.dense_params / tp, expert_total / (tp * ep))
}

/// Bytes of the fp32 logits of one microbatch on one GPU: `4 b s v / (t cp)` (vocab-parallel
/// over `tp`, sequence-split over `cp`; Megatron's cross-entropy upcasts the logits to fp32, and
/// the 1F1B last stage runs each microbatch's backward right after its forward, so one buffer).
#[inline]
pub fn logits_bytes(b: f64, s: f64, vocab: f64, tp: f64, cp: f64) -> f64 {
    4.0 * b * s * vocab / (tp * cp)
}

/// Memory of one GPU of `stage` under a (validated) plan, for a model of `heads` heads and
/// `vocab` tokens.
pub fn stage_memory(p: &TrainingPlan, stage: &Stage, heads: f64, vocab: f64) -> Memory {
    let (tp, pp, dp, ep, cp) = (p.tp as f64, p.pp as f64, p.dp as f64, p.ep as f64, p.cp as f64);
    let m = &stage.costs;
    let (dense, expert) = local_params(m, tp, ep);
    // ZeRO shards over the data-parallel ranks holding the same weights: dp x cp of them
    // (context-parallel ranks hold identical weights; Megatron's distributed optimizer shards
    // over the data-and-context-parallel group), dp x cp / ep for routed experts.
    let group = dp * cp;
    let held = |sharded: bool| if sharded { dense / group + expert / (group / ep) } else { dense + expert };
    let fp8_copy = if p.precision == Precision::Fp8 { FP8_COPY_BYTES } else { 0.0 };
    let weights = (WEIGHT_BYTES + fp8_copy) * held(p.zero >= 3);
    let grads = GRAD_BYTES * held(p.zero >= 2);
    let optimizer = if p.offload { 0.0 } else { OPTIMIZER_BYTES * held(p.zero >= 1) };
    let per_layer = activation_bytes_per_layer(
        p.seq_len as f64,
        p.microbatch as f64,
        m.d_model,
        heads,
        tp,
        p.sequence_parallel,
        p.recompute,
    );
    let flight = in_flight_at(p.schedule, pp, stage.index as f64, p.microbatches() as f64, p.chunks as f64);
    // Context parallelism splits every activation's sequence dimension over the cp ranks.
    let activations = per_layer * m.layers * flight / cp;
    let logits =
        if stage.logits { logits_bytes(p.microbatch as f64, p.seq_len as f64, vocab, tp, cp) } else { 0.0 };
    Memory {
        weights,
        grads,
        optimizer,
        activations,
        logits,
        total: weights + grads + optimizer + activations + logits,
        in_flight: flight,
        stage: stage.index as f64,
    }
}

/// Memory per GPU of a (validated) plan: the stage that needs the most of `stages`.
pub fn memory(p: &TrainingPlan, stages: &[Stage], heads: f64, vocab: f64) -> Memory {
    let mut best = stage_memory(p, &stages[0], heads, vocab);
    for s in &stages[1..] {
        let m = stage_memory(p, s, heads, vocab);
        if m.total > best.total {
            best = m;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_2_rows_agree_where_they_meet() {
        let (s, b, h, a) = (2048.0, 1.0, 12288.0, 96.0);
        let none = |t, sp| activation_bytes_per_layer(s, b, h, a, t, sp, Recompute::None);
        // Eq. 1 (no parallelism) from eq. 2 at t = 1, and SP at t = 1 is the same.
        let eq1 = s * b * h * (34.0 + 5.0 * a * s / h);
        assert!((none(1.0, false) - eq1).abs() <= 1e-9 * eq1);
        assert!((none(1.0, true) - eq1).abs() <= 1e-9 * eq1);
        for t in [2.0, 8.0] {
            assert!(none(t, true) < none(t, false));
            let sel = activation_bytes_per_layer(s, b, h, a, t, true, Recompute::Selective);
            let full = activation_bytes_per_layer(s, b, h, a, t, true, Recompute::Full);
            assert!(full < sel && sel < none(t, true));
        }
    }
}
