//! A sweep row is the roofline's point evaluation, and the sweep's kept rows are the best of
//! those points.

use brickwall_core::collectives::Link;
use brickwall_core::pareto::{Keep, Sense};
use brickwall_core::roofline::{Chip, ModelCosts, Plan, StepModel, STEP_COLUMNS};
use brickwall_core::sweep::{Constraints, Objective, Phase, Sweep, TABLE_WIDTH};
use brickwall_core::Control;

fn model() -> ModelCosts {
    ModelCosts {
        layers: 32.0,
        moe_layers: 32.0,
        experts: 8.0,
        top_k: 2.0,
        dense_params: 1.5e9,
        expert_params_per_layer: 1.8e8,
        matmul_params_active: 1.3e10,
        attn_flops_per_context_token: 32.0 * 4.0 * 4096.0,
        kv_elements_per_token: 32.0 * 2.0 * 1024.0,
        kv_heads: 8.0,
        d_model: 4096.0,
        ffn_width: 2.0 * 14336.0,
    }
}

fn chip() -> Chip {
    Chip {
        memory: 80e9,
        memory_bandwidth: 3.35e12,
        peak_flops: 989e12,
        scale_up: Link { latency_s: 2e-6, bandwidth_bytes_s: 450e9 },
        scale_up_domain: 8.0,
        scale_out: Link { latency_s: 5e-6, bandwidth_bytes_s: 50e9 },
        price_per_s: 2.0 / 3600.0,
        eff_flops: 0.7,
        eff_memory: 0.8,
        eff_network: 0.75,
        profile: brickwall_core::roofline::Profile::DEFAULT,
    }
}

fn step_model(tp: f64, pp: f64) -> StepModel {
    let plan = Plan {
        tp,
        pp,
        ep: 1.0,
        weight_bytes: 2.0,
        kv_bytes: 2.0,
        act_bytes: 2.0,
        kv_batch_sharded: false,
        overlap: true,
        touched_experts: f64::NAN,
        expert_imbalance: 1.0,
        all_reduce: brickwall_core::collectives::Algorithm::Auto,
    };
    StepModel::new(model(), plan, chip()).unwrap()
}

fn one_point(sm: StepModel, batch: f64, context: f64, phase: Phase) -> Sweep {
    let objectives = vec![(Objective::Cost, Sense::Min), (Objective::Latency, Sense::Min)];
    let c = Constraints { fits: false, ..Constraints::default() };
    Sweep::new(vec![sm], vec![batch], vec![context], phase, c, objectives, Keep::All(1)).unwrap()
}

#[test]
fn a_sweep_of_one_point_is_the_roofline_evaluation() {
    for (tp, pp) in [(1.0, 1.0), (2.0, 4.0), (8.0, 2.0)] {
        for (batch, context) in [(1.0, 0.0), (7.0, 3000.0), (64.0, 32768.0)] {
            let sm = step_model(tp, pp);
            let decode = one_point(sm.clone(), batch, context, Phase::Decode { new_tokens: 3.0 });
            let (step, metrics) = decode.row(0).unwrap();
            let want = sm.evaluate(batch, context, 3.0);
            assert_eq!(step, want);
            assert_eq!(metrics.latency, want.latency / 3.0);
            assert_eq!(metrics.tokens_per_s, want.tokens_per_s);
            assert_eq!(metrics.chips, sm.chips());
            // The roofline's own table holds the same row.
            let mut table = [0.0; STEP_COLUMNS.len()];
            sm.evaluate_table(&[batch], &[context], &[3.0], &mut table).unwrap();
            let mut sweep_table = [0.0; TABLE_WIDTH];
            decode.table(&[0], &mut sweep_table).unwrap();
            assert_eq!(sweep_table[..STEP_COLUMNS.len()], table);
            // Prefill reads the context axis as the prompt: the point (batch, 0 cached, prompt).
            let prompt = context.max(1.0);
            let prefill = one_point(sm.clone(), batch, prompt, Phase::Prefill);
            assert_eq!(prefill.row(0).unwrap().0, sm.evaluate(batch, 0.0, prompt));
            // The run keeps that one row, with the objectives the metrics give.
            let out = decode.run(0, 1, &Control::new()).unwrap();
            assert_eq!((out.evaluated, out.feasible), (1, 1));
            let rows = out.reducer.into_ranked();
            assert_eq!(decode.objective_values(&rows), vec![metrics.cost, metrics.latency]);
        }
    }
}

#[test]
fn top_k_is_the_best_of_every_point_evaluated() {
    let models: Vec<StepModel> =
        [(1.0, 1.0), (2.0, 1.0), (4.0, 2.0), (8.0, 4.0)].map(|(t, p)| step_model(t, p)).into();
    let batch: Vec<f64> = (0..50).map(|i| f64::from(1 + 13 * i)).collect();
    let context: Vec<f64> = (0..20).map(|i| f64::from(256 * i)).collect();
    let objectives = vec![(Objective::Cost, Sense::Min)];
    let s = Sweep::new(
        models.clone(),
        batch.clone(),
        context.clone(),
        Phase::Decode { new_tokens: 1.0 },
        Constraints::default(),
        objectives,
        Keep::Top(7),
    )
    .unwrap();
    let out = s.run(0, s.len(), &Control::new()).unwrap();
    // Brute force: every (deployment, batch, context) through the roofline.
    let mut all = Vec::new();
    for (m, sm) in models.iter().enumerate() {
        for (b, &x) in batch.iter().enumerate() {
            for (c, &y) in context.iter().enumerate() {
                let step = sm.evaluate(x, y, 1.0);
                if step.fits {
                    let i = ((m * batch.len() + b) * context.len() + c) as u64;
                    all.push((step.cost_per_token * 1e6, i));
                }
            }
        }
    }
    assert_eq!(out.feasible, all.len() as u64);
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let got: Vec<(f64, u64)> = out.reducer.into_ranked().iter().map(|r| (r.v[0], r.index)).collect();
    assert_eq!(got, all[..7]);
}
