//! Memory per GPU of a training plan, on the first pipeline stage (the one holding the most
//! microbatches' activations).
//!
//! Model states (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion
//! Parameter Models", s3.1): mixed-precision Adam keeps 2 bytes of 16-bit weights and 2 of 16-bit
//! gradients per parameter, plus K = 12 bytes of optimizer states (fp32 master weights, momentum
//! and variance): 16 bytes per parameter. ZeRO stage 1 shards the 12 over the data-parallel
//! group, stage 2 also the gradients, stage 3 also the weights (s5, Figure 1). Dense parameters
//! are sharded over `tp x pp` and replicated over `dp`; routed experts over `tp x pp x ep` and
//! replicated over `dp / ep` (so ZeRO shards them over `dp / ep`).
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
//! or MoE MLPs they are the paper's approximation, not an exact count. Embedding and output-layer
//! terms (the paper's eq. 5) and temporary buffers are not counted. The first stage holds `L / p`
//! layers for each microbatch in flight: [`in_flight`]. When `p` does not divide `L` the busiest
//! stage holds `ceil(L / p)` layers and every per-stage quantity is priced on it: the model is
//! split over [`stage_divisor`] `= L / ceil(L / p)` stages (`p` when it divides).

use super::plan::{Recompute, TrainingPlan};
use crate::pipeline::Schedule;
use crate::roofline::ModelCosts;

/// Bytes per parameter of 16-bit weights.
pub const WEIGHT_BYTES: f64 = 2.0;
/// Bytes per parameter of 16-bit gradients.
pub const GRAD_BYTES: f64 = 2.0;
/// Bytes per parameter of Adam's fp32 master weights, momentum and variance (ZeRO's K = 12).
pub const OPTIMIZER_BYTES: f64 = 12.0;

/// Memory per GPU, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Memory {
    /// 16-bit weights.
    pub weights: f64,
    /// 16-bit gradients.
    pub grads: f64,
    /// Optimizer states (master weights and moments).
    pub optimizer: f64,
    /// Stored activations of the microbatches in flight.
    pub activations: f64,
    /// Sum of the four.
    pub total: f64,
    /// Microbatches in flight on the first stage.
    pub in_flight: f64,
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
    match schedule {
        Schedule::GPipe => m,
        Schedule::Interleaved => m.min(p + (p - 1.0) / v),
        _ => m.min(p),
    }
}

/// `L / ceil(L / p)`: what the model's per-layer counts are divided by to give the busiest of `p`
/// stages' share (exactly `p` when `p` divides the `L` layers).
#[inline]
pub fn stage_divisor(layers: f64, pp: f64) -> f64 {
    layers / (layers / pp).ceil()
}

/// `(dense, expert)` parameters held per GPU before ZeRO sharding (`pp` the [`stage_divisor`]).
#[inline]
pub fn local_params(m: &ModelCosts, tp: f64, pp: f64, ep: f64) -> (f64, f64) {
    let expert_total = m.moe_layers * m.experts * m.expert_params_per_layer;
    (m.dense_params / (tp * pp), expert_total / (tp * pp * ep))
}

/// Memory per GPU of a (validated) plan on a model with `heads` attention heads.
pub fn memory(p: &TrainingPlan, m: &ModelCosts, heads: f64) -> Memory {
    let (tp, pp, dp, ep) = (p.tp as f64, p.pp as f64, p.dp as f64, p.ep as f64);
    let share = stage_divisor(m.layers, pp);
    let (dense, expert) = local_params(m, tp, share, ep);
    // Parameters per GPU of a state that ZeRO shards when `sharded`.
    let held = |sharded: bool| if sharded { dense / dp + expert / (dp / ep) } else { dense + expert };
    let weights = WEIGHT_BYTES * held(p.zero >= 3);
    let grads = GRAD_BYTES * held(p.zero >= 2);
    let optimizer = OPTIMIZER_BYTES * held(p.zero >= 1);
    let per_layer = activation_bytes_per_layer(
        p.seq_len as f64,
        p.microbatch as f64,
        m.d_model,
        heads,
        tp,
        p.sequence_parallel,
        p.recompute,
    );
    let flight = in_flight(p.schedule, pp, p.microbatches() as f64, p.chunks as f64);
    let activations = per_layer * (m.layers / share) * flight;
    Memory {
        weights,
        grads,
        optimizer,
        activations,
        total: weights + grads + optimizer + activations,
        in_flight: flight,
    }
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
