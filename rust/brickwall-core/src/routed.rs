//! Steps priced at a quantile of the routing distribution instead of its expectation.
//!
//! A decode step of an MoE model reads the experts its microbatch's tokens touch and waits for
//! the busiest expert-parallel device. [`crate::roofline`] prices the uniform-routing mean; here
//! each distinct microbatch size `T` (the step model's own split, rounded up to whole tokens)
//! gets a Monte Carlo of [`crate::routing`] (uniform popularity, `ep` devices, seeded), and its
//! rows are priced with the touched experts and the busiest device's imbalance at quantile `q`.

use crate::control::Control;
use crate::error::{Error, Result};
use crate::roofline::{Chip, ModelCosts, Plan, StepModel, STEP_COLUMNS};
use crate::routing::{self, histogram_quantile, Popularity, Spec};

/// `plan` with `touched_experts` and `expert_imbalance` at quantile `q` of the routing of
/// `tokens` tokens (per MoE layer): the `q`-quantile of distinct experts touched, and the
/// `q`-quantile of the busiest device's load over the mean `k T / ep` (at least 1; 1 without
/// expert parallelism). [`routing::default_trials`] steps from `seed`.
pub fn quantile_plan(
    m: &ModelCosts,
    plan: &Plan,
    tokens: u64,
    q: f64,
    seed: u64,
    control: &Control,
) -> Result<Plan> {
    check_quantile(q)?;
    let (experts, top_k) = (m.experts as u64, m.top_k as u64);
    let devices = if plan.ep > 1.0 { plan.ep as u64 } else { 1 };
    let spec = Spec {
        experts,
        top_k,
        tokens,
        trials: routing::default_trials(tokens, top_k),
        seed,
        popularity: Popularity::Uniform,
        capacity: None,
        devices,
    };
    let h = routing::route(&spec, control)?;
    let imbalance = if devices > 1 {
        let mean_device = (tokens * top_k) as f64 / plan.ep;
        (histogram_quantile(&h.device_load, q) as f64 / mean_device).max(1.0)
    } else {
        1.0
    };
    Ok(Plan {
        touched_experts: histogram_quantile(&h.touched, q) as f64,
        expert_imbalance: imbalance,
        ..*plan
    })
}

fn check_quantile(q: f64) -> Result<()> {
    if q.is_finite() && q > 0.0 && q <= 1.0 {
        Ok(())
    } else {
        Err(Error::invalid("routing", q, "a quantile in (0, 1]"))
    }
}

/// [`StepModel::evaluate_table`] with every row priced at quantile `q` of its microbatch's
/// routing ([`quantile_plan`], one Monte Carlo per distinct microbatch size, smallest first).
#[allow(clippy::too_many_arguments)]
pub fn evaluate_table_at_quantile(
    m: ModelCosts,
    plan: Plan,
    chip: Chip,
    batch: &[f64],
    context: &[f64],
    n: &[f64],
    q: f64,
    seed: u64,
    out: &mut [f64],
    control: &Control,
) -> Result<()> {
    check_quantile(q)?;
    let base = StepModel::new(m, plan, chip)?;
    let rows = batch.len();
    // Validates the workload and the output's shape before any Monte Carlo runs.
    base.evaluate_table(batch, context, n, out)?;
    let tokens: Vec<u64> = (0..rows).map(|i| base.microbatch(batch[i], n[i]).2.ceil() as u64).collect();
    let mut sizes = tokens.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let width = STEP_COLUMNS.len();
    for t in sizes {
        let sm = StepModel::new(m, quantile_plan(&m, &plan, t, q, seed, control)?, chip)?;
        let idx: Vec<usize> = (0..rows).filter(|&i| tokens[i] == t).collect();
        let pick = |a: &[f64]| idx.iter().map(|&i| a[i]).collect::<Vec<f64>>();
        let mut part = vec![0.0; idx.len() * width];
        sm.evaluate_table(&pick(batch), &pick(context), &pick(n), &mut part)?;
        for (j, column) in part.chunks_exact(idx.len()).enumerate() {
            for (&i, &x) in idx.iter().zip(column) {
                out[j * rows + i] = x;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectives::Link;
    use crate::roofline::test_plan;

    fn moe() -> ModelCosts {
        ModelCosts {
            layers: 32.0,
            moe_layers: 32.0,
            experts: 8.0,
            top_k: 2.0,
            dense_params: 1.6e9,
            expert_params_per_layer: 176e6,
            matmul_params_active: 12.9e9,
            attn_flops_per_context_token: 2.0 * 32.0 * 4096.0,
            kv_elements_per_token: 32.0 * 2048.0,
            kv_heads: 8.0,
            d_model: 4096.0,
            ffn_width: 28672.0,
        }
    }

    fn chip() -> Chip {
        Chip {
            memory: 80e9,
            memory_bandwidth: 3.35e12,
            peak_flops: 989e12,
            scale_up: Link { latency_s: 1e-6, bandwidth_bytes_s: 450e9 },
            scale_up_domain: 8.0,
            scale_out: Link { latency_s: 5e-6, bandwidth_bytes_s: 50e9 },
            price_per_s: 0.0,
            eff_flops: 1.0,
            eff_memory: 1.0,
            eff_network: 1.0,
            profile: crate::step::Profile::DEFAULT,
        }
    }

    #[test]
    fn each_row_is_its_microbatch_quantile_plan() {
        let plan = test_plan(2.0, 2.0, 2.0);
        let (b, c, n) = ([1.0, 3.0, 8.0, 3.0], [0.0, 128.0, 64.0, 7.0], [1.0, 1.0, 2.0, 1.0]);
        let mut out = vec![0.0; b.len() * STEP_COLUMNS.len()];
        evaluate_table_at_quantile(moe(), plan, chip(), &b, &c, &n, 0.99, 3, &mut out, &Control::new())
            .unwrap();
        for i in 0..b.len() {
            let tokens = (b[i] / b[i].min(2.0) * n[i]).ceil() as u64;
            let p = quantile_plan(&moe(), &plan, tokens, 0.99, 3, &Control::new()).unwrap();
            assert!(p.touched_experts >= 1.0 && p.touched_experts <= 8.0 && p.expert_imbalance >= 1.0);
            let want = StepModel::new(moe(), p, chip()).unwrap().evaluate(b[i], c[i], n[i]).to_row();
            for (j, w) in want.iter().enumerate() {
                assert_eq!(out[j * b.len() + i], *w);
            }
        }
    }

    #[test]
    fn quantile_one_touches_at_most_every_expert_and_bad_q_is_an_error() {
        let plan = test_plan(1.0, 1.0, 1.0);
        let p = quantile_plan(&moe(), &plan, 64, 1.0, 0, &Control::new()).unwrap();
        assert_eq!(p.touched_experts, 8.0);
        assert_eq!(p.expert_imbalance, 1.0);
        for q in [0.0, 1.5, f64::NAN] {
            assert!(quantile_plan(&moe(), &plan, 4, q, 0, &Control::new()).is_err());
        }
    }
}
