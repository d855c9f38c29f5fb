//! The pipeline's stages as training prices them: which layers each holds, and the embedding
//! and LM head on the first and last.
//!
//! Without a vocabulary (`TrainingModel::vocab = 0`) every stage is the busiest of an even split,
//! `ceil(L / p)` layers, with an even share of every count ([`stage_costs`] over
//! [`super::memory::stage_divisor`]). With one, the input embedding (`embedding_params`) sits
//! on the first stage and the LM head (`vocab x d_model`, a copy of the embedding when tied, as
//! Megatron keeps one on the last stage) on the last, whose GEMM and fp32 logits make it the
//! heavier: the layers are split by [`crate::pipeline::balance_layers`] on GEMM FLOPs (each
//! layer `matmul_params_active - vocab d` over `L`, the head `vocab d` as the tail's extra; an
//! assumption: attention is ignored in the split), and the first, the last and the earliest
//! middle stage of each layer count are priced (any other holds as many layers and fewer
//! microbatches). The slowest of them sets the pipeline's period, the fullest the memory.

use super::step::TrainingModel;
use crate::pipeline::balance_layers;
use crate::roofline::ModelCosts;

/// One stage to price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// Position in the pipeline (0 = first).
    pub index: u64,
    /// Its share of the model (`dense_params` holds its embedding or head).
    pub costs: ModelCosts,
    /// Whether it computes the logits (the last stage, when the vocabulary is known).
    pub logits: bool,
}

/// Every per-layer count of `m` over `pp` (a stage divisor, see
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

/// The stages of a `pp`-stage pipeline that can bind: the first, the earliest middle stage of
/// each distinct layer count, the last.
pub fn stages(model: &TrainingModel, pp: u64) -> Vec<Stage> {
    let m = &model.costs;
    let layers = m.layers;
    let vh = model.vocab * m.d_model;
    if model.vocab <= 0.0 || (pp as f64) > layers {
        let costs = stage_costs(m, super::memory::stage_divisor(layers, pp as f64));
        return vec![Stage { index: 0, costs, logits: false }];
    }
    if pp == 1 {
        return vec![Stage { index: 0, costs: *m, logits: true }];
    }
    // Body layers: what is left without the embedding table and the output head.
    let body_dense = ((m.dense_params - model.embedding_params - model.head_params) / layers).max(0.0);
    let body_mm = ((m.matmul_params_active - vh) / layers).max(0.0);
    let tail = if body_mm > 0.0 { vh / body_mm } else { 0.0 };
    let n = layers as usize;
    let split = balance_layers(&vec![1.0; n], pp as usize, 0.0, tail)
        .unwrap_or_else(|_| vec![(layers / pp as f64).ceil() as u64; pp as usize]);
    let share = |k: u64, first: bool, last: bool| {
        let f = k as f64 / layers;
        ModelCosts {
            layers: k as f64,
            moe_layers: m.moe_layers * f,
            dense_params: body_dense * k as f64
                + if first { model.embedding_params } else { 0.0 }
                + if last { vh } else { 0.0 },
            matmul_params_active: body_mm * k as f64 + if last { vh } else { 0.0 },
            attn_flops_per_context_token: m.attn_flops_per_context_token * f,
            kv_elements_per_token: m.kv_elements_per_token * f,
            ..*m
        }
    };
    let p = pp as usize;
    let mut out = vec![Stage { index: 0, costs: share(split[0], true, false), logits: false }];
    // Middle stages: the earliest of each distinct layer count (it holds the most microbatches
    // of those; the largest count is the slowest).
    for i in 1..p.saturating_sub(1) {
        if !split[1..i].contains(&split[i]) {
            out.push(Stage { index: i as u64, costs: share(split[i], false, false), logits: false });
        }
    }
    out.push(Stage { index: pp - 1, costs: share(split[p - 1], false, true), logits: true });
    out
}
