//! Views of the Python-side cost dicts (`brickwall.inference.cost_view`, `plan_view`, `chip_view`),
//! read by key and turned into core structs.

use brickwall_core::collectives::Algorithm;
use brickwall_core::collectives::Link;
use brickwall_core::error::Error;
use brickwall_core::roofline::{Chip, ModelCosts, Plan, Profile};
use pyo3::prelude::*;

#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct ModelCostsView {
    layers: f64,
    moe_layers: f64,
    experts: f64,
    top_k: f64,
    dense_params: f64,
    expert_params_per_layer: f64,
    matmul_params_active: f64,
    attn_flops_per_context_token: f64,
    kv_elements_per_token: f64,
    kv_heads: f64,
    d_model: f64,
    ffn_width: f64,
}

impl From<ModelCostsView> for ModelCosts {
    fn from(v: ModelCostsView) -> Self {
        ModelCosts {
            layers: v.layers,
            moe_layers: v.moe_layers,
            experts: v.experts,
            top_k: v.top_k,
            dense_params: v.dense_params,
            expert_params_per_layer: v.expert_params_per_layer,
            matmul_params_active: v.matmul_params_active,
            attn_flops_per_context_token: v.attn_flops_per_context_token,
            kv_elements_per_token: v.kv_elements_per_token,
            kv_heads: v.kv_heads,
            d_model: v.d_model,
            ffn_width: v.ffn_width,
        }
    }
}

#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct PlanView {
    tp: f64,
    pp: f64,
    ep: f64,
    weight_bytes: f64,
    kv_bytes: f64,
    act_bytes: f64,
    kv_batch_sharded: bool,
    overlap: bool,
    touched_experts: f64,
    expert_imbalance: f64,
    all_reduce: String,
}

impl TryFrom<PlanView> for Plan {
    type Error = Error;

    fn try_from(v: PlanView) -> Result<Self, Error> {
        Ok(Plan {
            tp: v.tp,
            pp: v.pp,
            ep: v.ep,
            weight_bytes: v.weight_bytes,
            kv_bytes: v.kv_bytes,
            act_bytes: v.act_bytes,
            kv_batch_sharded: v.kv_batch_sharded,
            overlap: v.overlap,
            touched_experts: v.touched_experts,
            expert_imbalance: v.expert_imbalance,
            all_reduce: Algorithm::parse(&v.all_reduce).map_err(|e| match e {
                Error::Invalid { value, expected, .. } => {
                    Error::Invalid { field: "all_reduce".into(), value, expected }
                }
                e => e,
            })?,
        })
    }
}

#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct ChipView {
    memory: f64,
    memory_bandwidth: f64,
    peak_flops: f64,
    scale_up_bandwidth: f64,
    scale_up_latency: f64,
    scale_up_domain: f64,
    scale_out_bandwidth: f64,
    scale_out_latency: f64,
    price_per_s: f64,
    eff_flops: f64,
    eff_memory: f64,
    eff_network: f64,
    gemm_m_half: f64,
    kernel_overhead_s: f64,
    elementwise: bool,
}

impl From<ChipView> for Chip {
    fn from(v: ChipView) -> Self {
        Chip {
            memory: v.memory,
            memory_bandwidth: v.memory_bandwidth,
            peak_flops: v.peak_flops,
            scale_up: Link { latency_s: v.scale_up_latency, bandwidth_bytes_s: v.scale_up_bandwidth },
            scale_up_domain: v.scale_up_domain,
            scale_out: Link { latency_s: v.scale_out_latency, bandwidth_bytes_s: v.scale_out_bandwidth },
            price_per_s: v.price_per_s,
            eff_flops: v.eff_flops,
            eff_memory: v.eff_memory,
            eff_network: v.eff_network,
            profile: Profile {
                gemm_m_half: v.gemm_m_half,
                kernel_overhead_s: v.kernel_overhead_s,
                elementwise: v.elementwise,
            },
        }
    }
}
