//! Per-operator step time: a layer runs as a sequence of kernels, each bound by its own
//! resource, so a stage costs the sum of per-operator maxima
//! `max(flops / (peak x e_c(op, shape)), bytes / (bandwidth x e_m)) + kernel overhead`, not the
//! maximum of the sums (the roofline of Williams, Waterman & Patterson, CACM 2009, applied per
//! kernel). The aggregate form is a lower bound of this sum and equals it when every operator is
//! bound by the same resource and the profile is [`Profile::AGGREGATE`].
//!
//! Operator classes of one stage and one microbatch (`T` tokens, `b` sequences):
//! - dense GEMMs (QKV, output projection, dense/shared FFN, router, LM head): FLOPs
//!   `2 T x dense matmul params`, bytes the dense weights; `M = T / ep` rows per device;
//! - routed expert GEMMs: FLOPs `2 T k x expert params` (the busiest device's share with the
//!   routing imbalance), bytes the touched experts; `M = T k / touched` rows per expert;
//! - attention: FLOPs the attended-token term, bytes the KV cache read;
//! - elementwise (norms, residual adds, rotary, activation): activation bytes only, no FLOPs
//!   (the model's FLOPs per token count matrix products only);
//! - a fixed overhead per launched kernel.
//!
//! Collectives are priced by the caller ([`crate::roofline`]) with [`crate::collectives`]: the
//! tensor-parallel all-reduce by the plan's algorithm (fastest per message by default).

/// Shape-dependent efficiency and floors shared by every chip: the chip's own
/// `Efficiency(flops, memory, network)` scales the plateaus, these set the shapes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// GEMM rows at which compute efficiency is half its plateau: `e_c(M) = e_flops M / (M +
    /// gemm_m_half)`. Tensor-core GEMMs tile M in blocks of 64-128 rows (CUTLASS / cuBLAS tile
    /// shapes; Hopper's wgmma has M = 64), so a GEMM with few rows runs partly empty tiles; 32
    /// gives 0.67 of the plateau at one 64-row tile, 0.8 at 128 rows and > 0.96 from 1024 rows.
    /// Decode GEMMs with few rows stay bound by their weight read on every catalog chip.
    pub gemm_m_half: f64,
    /// Seconds each launched kernel costs beyond its roofline (launch, prologue, tail wave, the
    /// gap to the next kernel): 3 us, the order CUDA-graph replays of small kernels show, which
    /// gives the "tens of microseconds per layer" floor of decode at small batch.
    pub kernel_overhead_s: f64,
    /// Price the elementwise operators' activation traffic.
    pub elementwise: bool,
}

impl Profile {
    /// The default for every chip (see the fields for the reasoning behind each value).
    pub const DEFAULT: Profile = Profile { gemm_m_half: 32.0, kernel_overhead_s: 3e-6, elementwise: true };
    /// No shape effects, floors or elementwise traffic: the per-operator sum of maxima over the
    /// GEMM and attention classes only.
    pub const AGGREGATE: Profile = Profile { gemm_m_half: 0.0, kernel_overhead_s: 0.0, elementwise: false };
}

impl Profile {
    /// Validate: a finite, non-negative half-efficiency row count and kernel overhead.
    pub fn check(&self) -> crate::error::Result<()> {
        crate::error::non_negative("efficiency.gemm_m_half", self.gemm_m_half)?;
        crate::error::non_negative("efficiency.kernel_overhead_s", self.kernel_overhead_s)?;
        Ok(())
    }
}

impl Default for Profile {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Kernels a dense transformer layer launches in decode and prefill: QKV projection, rotary +
/// KV write, attention, output projection, two (fused residual +) norms, gate/up projection,
/// activation, down projection.
pub const KERNELS_DENSE_LAYER: f64 = 9.0;
/// Extra kernels of a routed-MoE layer over a dense one: router GEMM, top-k softmax, token
/// permute and un-permute (the grouped GEMMs replace the dense FFN's).
pub const KERNELS_MOE_EXTRA: f64 = 4.0;
/// Collective kernels a layer launches per parallel group: tensor parallelism all-reduces after
/// attention and after the FFN; expert parallelism dispatches and combines per MoE layer. Each is
/// a kernel (with its own launch and the flag exchange that synchronises the ranks), so each pays
/// the per-kernel floor on top of its modelled transfer time.
pub const KERNELS_COLLECTIVE: f64 = 2.0;
/// Activation elements each token reads and writes per layer in `d_model` units: two fused
/// residual-add + norm passes (read x and residual, write sum and normed: 4 each) and rotary on
/// the query and key (read + write, at most 2 each).
pub const ELEMENTWISE_D_MODEL: f64 = 12.0;
/// ... and in FFN-width units per tensor-parallel shard: a gated activation reads gate and up
/// and writes one.
pub const ELEMENTWISE_FFN: f64 = 3.0;

/// Time of one operator: the slower of its compute and its memory traffic.
#[inline(always)]
pub fn op_time(compute_s: f64, memory_s: f64) -> f64 {
    compute_s.max(memory_s)
}

/// Compute seconds of a GEMM class with `rows` rows per device and `flops` FLOPs at plateau
/// `sec_per_flop`: `flops / (e(M) peak)` with `e(M) = M / (M + m_half)`. Written as
/// `flops + flops m_half / M` so that `m_half = 0` is exactly the plateau.
#[inline(always)]
pub fn gemm_compute_s(flops: f64, rows: f64, m_half: f64, sec_per_flop: f64) -> f64 {
    if m_half == 0.0 || rows <= 0.0 {
        flops * sec_per_flop
    } else {
        (flops + flops * m_half / rows) * sec_per_flop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_efficiency_rises_with_rows_to_the_plateau() {
        let plateau = gemm_compute_s(1e12, 1.0, 0.0, 1e-12);
        assert_eq!(plateau, 1.0);
        assert!((gemm_compute_s(1e12, 32.0, 32.0, 1e-12) - 2.0).abs() < 1e-12);
        let mut last = f64::INFINITY;
        for m in [1.0, 8.0, 64.0, 512.0, 8192.0] {
            let t = gemm_compute_s(1e12, m, 32.0, 1e-12);
            assert!(t < last && t > plateau);
            last = t;
        }
    }

    #[test]
    fn an_operator_costs_its_slower_resource() {
        assert_eq!(op_time(1.0, 2.0), 2.0);
        assert_eq!(op_time(3.0, 2.0), 3.0);
    }
}
