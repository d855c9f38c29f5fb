//! Training plans against the modules they compose: the pipeline simulator (bubble, hops and
//! in-flight microbatches), the grid engine (a search row is the point's step), and the
//! properties the issue names (pp = 1 has no bubble, MFU <= the compute efficiency, more
//! recomputation never adds activation memory nor removes time, ZeRO stage k never uses more
//! memory than k - 1).

use brickwall_core::collectives::Link;
use brickwall_core::pareto::Keep;
use brickwall_core::pipeline::{Pipeline, Schedule};
use brickwall_core::roofline::{Chip, ModelCosts};
use brickwall_core::training::{
    evaluate, Axes, Objective, Precision, Recompute, Search, TrainingChip, TrainingModel, TrainingPlan,
};
use brickwall_core::Control;
use proptest::prelude::*;

fn model(moe: bool) -> TrainingModel {
    let (l, h) = (24.0, 2048.0);
    let costs = ModelCosts {
        layers: l,
        moe_layers: if moe { l } else { 0.0 },
        experts: if moe { 8.0 } else { 0.0 },
        top_k: if moe { 2.0 } else { 0.0 },
        dense_params: 12.0 * l * h * h + 50257.0 * h,
        expert_params_per_layer: if moe { 8.0 * h * h } else { 0.0 },
        // Dense matrices plus the top-2 experts' (each 8 h^2) in every layer when MoE.
        matmul_params_active: 12.0 * l * h * h + 50257.0 * h + if moe { 2.0 * l * 8.0 * h * h } else { 0.0 },
        attn_flops_per_context_token: 4.0 * l * h,
        kv_elements_per_token: 2.0 * l * h,
        kv_heads: 16.0,
        d_model: h,
        ffn_width: 4.0 * h,
    };
    TrainingModel::new(costs, 16.0)
}

/// The model with its vocabulary: the embedding on the first stage, the head on the last.
fn with_vocab(moe: bool) -> TrainingModel {
    let m = model(moe);
    TrainingModel { vocab: 50257.0, embedding_params: 50257.0 * 2048.0, head_params: 0.0, ..m }
}

fn h100() -> TrainingChip {
    TrainingChip { chip: h100_chip(), fp8_flops: 1979e12, host_bandwidth: 64e9 }
}

fn h100_chip() -> Chip {
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
        eff_network: 0.8,
        profile: brickwall_core::roofline::Profile::DEFAULT,
    }
}

fn plan(tp: u64, pp: u64, dp: u64, schedule: Schedule, chunks: u64, mb: u64, gb: u64) -> TrainingPlan {
    TrainingPlan {
        tp,
        pp,
        dp,
        ep: 1,
        sequence_parallel: tp > 1,
        schedule,
        chunks,
        microbatch: mb,
        global_batch: gb,
        seq_len: 2048,
        recompute: Recompute::Selective,
        zero: 1,
        cp: 1,
        precision: Precision::Bf16,
        offload: false,
    }
}

fn simulate(p: &TrainingPlan, f: f64, b: f64, hop: f64) -> (f64, Vec<f64>) {
    let pl = Pipeline {
        schedule: p.schedule,
        stages: p.pp as usize,
        microbatches: p.microbatches() as usize,
        chunks: p.chunks as usize,
        forward: &[f],
        backward: &[b],
        weight_grad: None,
        p2p: hop,
    };
    let s = pl.simulate(&Control::new()).unwrap();
    (s.makespan, s.peak_in_flight)
}

#[test]
fn the_pipeline_terms_are_the_simulators() {
    let m = model(false);
    for (s, v) in [
        (Schedule::GPipe, 1),
        (Schedule::OneFOneB, 1),
        (Schedule::Interleaved, 2),
        (Schedule::Interleaved, 3),
    ] {
        for (pp, dp, gb) in [(1, 4, 64), (2, 2, 32), (4, 2, 64), (4, 1, 8)] {
            let p = plan(2, pp, dp, s, v, 2, gb);
            if p.validate(&m.costs, m.heads).is_err() {
                continue;
            }
            let st = evaluate(&m, &h100(), &p).unwrap();
            let (makespan, flight) = simulate(&p, st.t_forward, st.t_backward, 0.0);
            let ours = st.t_pipeline_busy + st.t_bubble;
            assert!(
                (makespan - ours).abs() <= 1e-12 * makespan,
                "{} pp={pp}: {makespan} vs {ours}",
                s.name()
            );
            assert!((flight[0] - st.memory.in_flight).abs() < 1e-12, "{} pp={pp}", s.name());
            if pp == 1 {
                assert_eq!((st.t_bubble, st.t_p2p, st.bubble_fraction), (0.0, 0.0, 0.0));
            }
            // With hop latency: exact for GPipe and interleaving, a lower bound for 1F1B.
            let hop = if pp > 1 { st.t_p2p / (2.0 * (pp * v - 1) as f64) } else { 0.0 };
            let (with_hops, _) = simulate(&p, st.t_forward, st.t_backward, hop);
            let ours = makespan + st.t_p2p;
            if s == Schedule::OneFOneB {
                assert!(with_hops >= ours * (1.0 - 1e-12));
            } else {
                assert!(
                    (with_hops - ours).abs() <= 1e-9 * ours,
                    "{} pp={pp}: {with_hops} vs {ours}",
                    s.name()
                );
            }
        }
    }
}

#[test]
fn bad_plans_name_their_field() {
    let m = model(true);
    let c = h100();
    let cases: [(TrainingPlan, &str); 6] = [
        (TrainingPlan { tp: 3, ..plan(3, 1, 1, Schedule::OneFOneB, 1, 1, 8) }, "tp"),
        (plan(1, 25, 1, Schedule::OneFOneB, 1, 1, 25), "pp"),
        (plan(1, 2, 4, Schedule::OneFOneB, 1, 3, 16), "global_batch"),
        (plan(1, 2, 4, Schedule::Interleaved, 1, 1, 16), "chunks"),
        (TrainingPlan { ep: 3, ..plan(1, 1, 6, Schedule::OneFOneB, 1, 1, 12) }, "ep"),
        (TrainingPlan { zero: 4, ..plan(1, 1, 1, Schedule::OneFOneB, 1, 1, 8) }, "zero"),
    ];
    for (p, field) in cases {
        let e = evaluate(&m, &c, &p).unwrap_err().to_string();
        assert!(e.starts_with(field), "{field}: {e}");
    }
}

#[test]
fn search_rows_are_the_points_steps_at_any_thread_count() {
    let m = model(true);
    let axes = Axes {
        tp: vec![1, 2, 4, 8],
        pp: vec![1, 2, 4],
        ep: vec![1, 2, 8],
        microbatch: vec![1, 2, 4],
        schedule: vec![(Schedule::OneFOneB, 1), (Schedule::Interleaved, 2), (Schedule::GPipe, 1)],
        recompute: vec![Recompute::None, Recompute::Selective, Recompute::Full],
        zero: vec![0, 1, 2, 3],
        sequence_parallel: vec![false, true],
        cp: vec![1, 2],
        precision: vec![Precision::Bf16, Precision::Fp8],
        offload: vec![false, true],
    };
    let objectives = vec![Objective::StepTime, Objective::Memory];
    let s = Search::new(m, h100(), 64, 256, 2048, axes, true, objectives, Keep::Pareto).unwrap();
    let out = s.run(0, s.len(), &Control::new()).unwrap();
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let again = one.install(|| s.run(0, s.len(), &Control::new()).unwrap());
    assert_eq!(out.feasible, again.feasible);
    let rows = out.reducer.into_rows();
    assert_eq!(rows, again.reducer.into_rows());
    assert!(!rows.is_empty() && out.feasible > 0 && out.feasible < s.len());
    // Brute force: the frontier's rows are the points' own steps and no feasible point beats them.
    let mut all = Vec::new();
    for i in 0..s.len() {
        if let Ok((p, st)) = s.row(i) {
            if st.fits {
                all.push((i, p, st));
            }
        }
    }
    assert_eq!(all.len() as u64, out.feasible);
    for r in &rows {
        let (_, st) = s.row(r.index).unwrap();
        assert_eq!(r.v[..2], [st.step_time, st.memory.total]);
        let (_, p, _) = all.iter().find(|(i, ..)| *i == r.index).unwrap();
        assert_eq!(evaluate(&m, &h100(), p).unwrap(), st);
        for (_, _, o) in &all {
            let dominates = o.step_time <= st.step_time
                && o.memory.total <= st.memory.total
                && (o.step_time < st.step_time || o.memory.total < st.memory.total);
            assert!(!dominates);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn more_recompute_and_zero_behave(
        tp in prop::sample::select(vec![1u64, 2, 4, 8]),
        pp in prop::sample::select(vec![1u64, 2, 3, 4, 5, 7]),
        dp in prop::sample::select(vec![1u64, 2, 8, 32]),
        mb in 1u64..4,
        per in 1u64..9,
        sp in any::<bool>(),
        moe in any::<bool>(),
        sched in prop::sample::select(vec![(Schedule::GPipe, 1u64), (Schedule::OneFOneB, 1), (Schedule::Interleaved, 2)]),
    ) {
        let m = model(moe);
        let gb = dp * mb * pp * per;
        let base = TrainingPlan { sequence_parallel: sp, ep: if moe && dp % 2 == 0 { 2 } else { 1 }, ..plan(tp, pp, dp, sched.0, sched.1, mb, gb) };
        prop_assume!(base.validate(&m.costs, m.heads).is_ok());
        let c = h100();
        let at = |r: Recompute, z: u8| evaluate(&m, &c, &TrainingPlan { recompute: r, zero: z, ..base }).unwrap();
        for z in 0..4u8 {
            let (n, s, f) = (at(Recompute::None, z), at(Recompute::Selective, z), at(Recompute::Full, z));
            prop_assert!(s.memory.activations <= n.memory.activations && f.memory.activations <= s.memory.activations);
            prop_assert!(s.step_time >= n.step_time && f.step_time >= s.step_time, "{z}: {n:?}\n{s:?}\n{f:?}");
            for st in [n, s, f] {
                prop_assert!(st.mfu <= c.chip.eff_flops * (1.0 + 1e-12) && st.mfu > 0.0);
                prop_assert!(st.hfu >= st.mfu && st.hfu <= c.chip.eff_flops * (1.0 + 1e-12));
                prop_assert!(st.step_time.is_finite() && st.step_time > 0.0);
                prop_assert!(pp > 1 || st.t_bubble == 0.0);
            }
            if z > 0 {
                let prev = at(Recompute::Selective, z - 1);
                prop_assert!(s.memory.total <= prev.memory.total * (1.0 + 1e-12));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn is_valid_is_validate_ok(
        tp in 0u64..10, pp in 0u64..10, dp in 0u64..10, ep in 0u64..5, chunks in 0u64..4,
        mb in 0u64..5, gb in 0u64..200, seq in prop::sample::select(vec![0u64, 1, 8, 12, 2048]), cp in 0u64..4, zero in 0u8..5, moe in any::<bool>(),
        sched in prop::sample::select(vec![Schedule::GPipe, Schedule::OneFOneB, Schedule::Interleaved, Schedule::ZbH1, Schedule::ZbH2]),
    ) {
        let m = model(moe);
        let p = TrainingPlan {
            tp, pp, dp, ep, sequence_parallel: true, schedule: sched, chunks, microbatch: mb,
            global_batch: gb, seq_len: seq, recompute: Recompute::Full, zero, cp,
            precision: Precision::Bf16, offload: false,
        };
        prop_assert_eq!(p.is_valid(&m.costs, m.heads), p.validate(&m.costs, m.heads).is_ok());
    }
}

#[test]
fn context_parallelism_splits_activations_and_prices_the_ring() {
    let m = with_vocab(false);
    let c = h100();
    let base = TrainingPlan { seq_len: 8192, ..plan(2, 2, 2, Schedule::OneFOneB, 1, 1, 16) };
    let one = evaluate(&m, &c, &base).unwrap();
    assert_eq!((one.t_cp_comm, one.t_cp_exposed), (0.0, 0.0));
    for cp in [2u64, 4] {
        let p = TrainingPlan { cp, ..base };
        let st = evaluate(&m, &c, &p).unwrap();
        // Same stage, so the activations (and logits) divide by cp exactly; the weights do not.
        assert_eq!(st.memory.stage, one.memory.stage);
        let ratio = one.memory.activations / st.memory.activations;
        assert!((ratio - cp as f64).abs() < 1e-9, "{ratio}");
        if one.memory.logits > 0.0 {
            assert!((one.memory.logits / st.memory.logits - cp as f64).abs() < 1e-9);
        }
        assert_eq!(st.memory.weights, one.memory.weights);
        assert!(st.t_cp_comm > 0.0 && st.t_cp_exposed >= 0.0);
        assert!(st.t_forward < one.t_forward, "a cp rank runs 1/cp of the tokens");
        assert_eq!(p.gpus(), 8 * cp);
    }
    let e = evaluate(&m, &c, &TrainingPlan { cp: 3, ..base }).unwrap_err().to_string();
    assert!(e.starts_with("seq_len"), "{e}");
}

#[test]
fn fp8_runs_the_gemms_faster_and_is_refused_without_fp8() {
    let m = with_vocab(false);
    let c = h100();
    let p = plan(2, 1, 4, Schedule::OneFOneB, 1, 4, 64);
    let bf = evaluate(&m, &c, &p).unwrap();
    let f8 = evaluate(&m, &c, &TrainingPlan { precision: Precision::Fp8, ..p }).unwrap();
    assert!(f8.t_forward < bf.t_forward && f8.step_time < bf.step_time);
    // Attention stays in bf16: not the whole 2x.
    assert!(f8.t_forward > 0.5 * bf.t_forward);
    assert!(f8.mfu <= c.chip.eff_flops && f8.memory.weights > bf.memory.weights);
    let no_fp8 = TrainingChip { fp8_flops: 0.0, ..c };
    let e = evaluate(&m, &no_fp8, &TrainingPlan { precision: Precision::Fp8, ..p }).unwrap_err().to_string();
    assert!(e.starts_with("precision") && e.contains("fp8"), "{e}");
}

#[test]
fn offload_moves_the_states_to_the_host_link() {
    let m = with_vocab(false);
    let c = h100();
    let p = plan(2, 2, 4, Schedule::OneFOneB, 1, 2, 64);
    let on = evaluate(&m, &c, &p).unwrap();
    let off = evaluate(&m, &c, &TrainingPlan { offload: true, ..p }).unwrap();
    assert_eq!(off.memory.optimizer, 0.0);
    assert!(off.memory.total < on.memory.total);
    // 12 bytes per parameter of the shard over the host link; Adam's 28 over HBM.
    let shard = on.t_optimizer * c.chip.memory_bandwidth * c.chip.eff_memory / 28.0;
    let expect = shard * 12.0 / (c.host_bandwidth * c.chip.eff_network);
    assert!((off.t_offload - expect).abs() <= 1e-9 * expect);
    assert!((off.step_time - on.step_time - expect).abs() <= 1e-9 * on.step_time);
    let unknown = TrainingChip { host_bandwidth: 0.0, ..c };
    let e = evaluate(&m, &unknown, &TrainingPlan { offload: true, ..p }).unwrap_err().to_string();
    assert!(e.starts_with("offload") && e.contains("host_bandwidth"), "{e}");
}

#[test]
fn the_lm_head_makes_the_last_stage_heavier() {
    let (plain, vocab) = (model(false), with_vocab(false));
    let c = h100();
    // One stage: the whole model either way, so the same time; the logits add memory.
    let p1 = plan(2, 1, 4, Schedule::OneFOneB, 1, 2, 64);
    let (a, b) = (evaluate(&plain, &c, &p1).unwrap(), evaluate(&vocab, &c, &p1).unwrap());
    assert_eq!(a.step_time, b.step_time);
    let logits = 4.0 * 2.0 * 2048.0 * 50257.0 / 2.0;
    assert!((b.memory.total - a.memory.total - logits).abs() <= 1e-6 * logits);
    assert_eq!(b.memory.logits, logits);
    // 24 layers over 4 stages: balance_layers gives the head's stage fewer layers, and the
    // slowest stage is at least the even split's time without the head.
    let p4 = plan(1, 4, 2, Schedule::OneFOneB, 1, 1, 64);
    let split = brickwall_core::training::stages::stages(&vocab, 4);
    assert_eq!(split.first().unwrap().index, 0);
    assert_eq!(split.last().unwrap().index, 3);
    let layers: f64 = split.iter().map(|s| s.costs.layers).sum();
    assert!(layers <= 24.0 && split.last().unwrap().costs.layers < split[0].costs.layers);
    let st = evaluate(&vocab, &c, &p4).unwrap();
    let even = evaluate(&plain, &c, &p4).unwrap();
    // The head is ~2 layers of GEMMs: the best split's slowest stage holds ~7 layers' worth, the
    // even split without it 6 layers and a quarter of the head each.
    assert!(st.t_forward > even.t_forward, "{} vs {}", st.t_forward, even.t_forward);
    assert!(st.mfu <= c.chip.eff_flops);
}
