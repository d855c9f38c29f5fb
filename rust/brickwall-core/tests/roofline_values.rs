//! Closed-form values of the roofline and the collectives, worked out by hand in each test: the
//! batch-1 weight read (kipply's 2P/BW), the crossover batch, KV bytes per chip for MHA, GQA,
//! MQA and MLA under tensor parallelism, overlap as a max against a sum, routed experts read,
//! pipeline latency and throughput, and the alpha-beta collectives.

use brickwall_core::collectives::{cost, hierarchical_all_reduce, time, times, Algorithm, Collective, Link};
use brickwall_core::roofline::{Chip, ModelCosts, Plan, Profile, Step, StepModel};

const BW: f64 = 2.0e12; // bytes/s
const PEAK: f64 = 1.0e15; // FLOP/s
const UP: Link = Link { latency_s: 1e-6, bandwidth_bytes_s: 400e9 };
const OUT: Link = Link { latency_s: 5e-6, bandwidth_bytes_s: 50e9 };

fn chip(eff_flops: f64, eff_memory: f64, eff_network: f64) -> Chip {
    Chip {
        memory: 80e9,
        memory_bandwidth: BW,
        peak_flops: PEAK,
        scale_up: UP,
        scale_up_domain: 8.0,
        scale_out: OUT,
        price_per_s: 2.0 / 3600.0,
        eff_flops,
        eff_memory,
        eff_network,
        // The hand formulas below are the aggregate roofline: no shape effects or floors.
        profile: Profile::AGGREGATE,
    }
}

fn ideal() -> Chip {
    chip(1.0, 1.0, 1.0)
}

fn plan(tp: f64, pp: f64, ep: f64) -> Plan {
    Plan {
        tp,
        pp,
        ep,
        weight_bytes: 2.0,
        kv_bytes: 2.0,
        act_bytes: 2.0,
        kv_batch_sharded: false,
        overlap: false,
        touched_experts: f64::NAN,
        expert_imbalance: 1.0,
        all_reduce: Algorithm::Ring,
    }
}

/// A dense model: 7e9 parameters, all in matrix products, 32 layers, `kv_heads` heads of 128 (K
/// and V) cached per layer.
fn dense(kv_heads: f64) -> ModelCosts {
    ModelCosts {
        layers: 32.0,
        moe_layers: 0.0,
        experts: 0.0,
        top_k: 0.0,
        dense_params: 7e9,
        expert_params_per_layer: 0.0,
        matmul_params_active: 7e9,
        attn_flops_per_context_token: 2.0 * 32.0 * 32.0 * 256.0,
        kv_elements_per_token: 32.0 * kv_heads * 256.0,
        kv_heads,
        d_model: 4096.0,
        ffn_width: 11008.0,
    }
}

/// A MoE model: 1e9 dense parameters, 16 experts of 1e8 per layer in 10 MoE layers, top 2.
fn moe() -> ModelCosts {
    ModelCosts {
        layers: 10.0,
        moe_layers: 10.0,
        experts: 16.0,
        top_k: 2.0,
        dense_params: 1e9,
        expert_params_per_layer: 1e8,
        matmul_params_active: 1e9 + 2.0 * 10.0 * 1e8,
        attn_flops_per_context_token: 0.0,
        kv_elements_per_token: 10.0 * 256.0,
        kv_heads: 8.0,
        d_model: 2048.0,
        ffn_width: 2.0 * 4096.0,
    }
}

fn step(m: ModelCosts, p: Plan, c: Chip, batch: f64, context: f64, n: f64) -> Step {
    StepModel::new(m, p, c).unwrap().evaluate(batch, context, n)
}

fn close(got: f64, want: f64) {
    assert!((got - want).abs() <= 1e-12 * want.abs(), "got {got}, want {want}");
}

#[test]
fn batch_one_step_is_two_p_over_bandwidth() {
    let m = dense(32.0);
    let kv_token = 32.0 * 32.0 * 256.0 * 2.0; // the new token's K and V, 2 bytes each
    for (eff, bw) in [(1.0, BW), (0.8, 0.8 * BW)] {
        let s = step(m, plan(1.0, 1.0, 1.0), chip(1.0, eff, 1.0), 1.0, 0.0, 1.0);
        close(s.t_weights, 2.0 * 7e9 / bw);
        close(s.t_kv, kv_token / bw);
        close(s.latency, (2.0 * 7e9 + kv_token) / bw);
        close(s.t_compute, (2.0 * 7e9 + 2.0 * 32.0 * 32.0 * 256.0) / PEAK);
        assert_eq!(s.t_comm, 0.0);
        assert_eq!(s.bound, 0);
        close(s.tokens_per_s, 1.0 / s.latency);
        close(s.mem_weights, 2.0 * 7e9);
    }
    // 8-bit weights: half the read
    let mut p8 = plan(1.0, 1.0, 1.0);
    p8.weight_bytes = 1.0;
    close(step(m, p8, ideal(), 1.0, 0.0, 1.0).t_weights, 7e9 / BW);
}

#[test]
fn crossover_batch_is_peak_over_bandwidth() {
    // no KV, no attention: memory 2P/BW per step, compute 2P b / peak; equal at b = peak / BW
    let mut m = dense(1.0);
    (m.kv_elements_per_token, m.attn_flops_per_context_token) = (0.0, 0.0);
    let b_star = PEAK / BW; // 500 at 2 bytes per parameter and 2 FLOP per parameter
    let below = step(m, plan(1.0, 1.0, 1.0), ideal(), b_star - 1.0, 0.0, 1.0);
    let above = step(m, plan(1.0, 1.0, 1.0), ideal(), b_star + 1.0, 0.0, 1.0);
    assert_eq!((below.bound, above.bound), (0, 2));
    close(below.latency, 2.0 * 7e9 / BW);
    close(above.latency, (b_star + 1.0) * 2.0 * 7e9 / PEAK);
    close(above.mfu, 1.0);
    // at 60% of peak compute the crossover falls to 300
    let c = chip(0.6, 1.0, 1.0);
    assert_eq!(step(m, plan(1.0, 1.0, 1.0), c, 299.0, 0.0, 1.0).bound, 0);
    assert_eq!(step(m, plan(1.0, 1.0, 1.0), c, 301.0, 0.0, 1.0).bound, 2);
    close(step(m, plan(1.0, 1.0, 1.0), c, 301.0, 0.0, 1.0).mfu, 0.6);
}

#[test]
fn kv_bytes_per_chip_under_tp() {
    let (batch, context) = (3.0, 1000.0);
    // (kv heads, tp, chips sharing the cache): MHA 32 heads over 8; GQA 8 over 8; GQA 4 heads
    // over tp 8 (each head on 2 chips); MQA and MLA's latent (1 "head") replicated on all 8
    for (heads, tp, shard) in
        [(32.0, 8.0, 8.0), (8.0, 8.0, 8.0), (8.0, 4.0, 4.0), (4.0, 8.0, 4.0), (1.0, 8.0, 1.0)]
    {
        let m = dense(heads);
        let elements = 32.0 * heads * 256.0;
        let s = step(m, plan(tp, 1.0, 1.0), ideal(), batch, context, 1.0);
        let want = batch * (context + 1.0) * elements * 2.0 / shard;
        close(s.mem_kv, want);
        close(s.t_kv, want / BW);
        // sharded over the batch: every layout splits over all of tp
        let mut pb = plan(tp, 1.0, 1.0);
        pb.kv_batch_sharded = true;
        close(
            step(m, pb, ideal(), batch, context, 1.0).mem_kv,
            batch * (context + 1.0) * elements * 2.0 / tp,
        );
        // pipeline stages divide the cache; a speculative step caches its gamma + 1 tokens too
        close(step(m, plan(tp, 2.0, 1.0), ideal(), batch, context, 1.0).mem_kv, want / 2.0);
        close(step(m, plan(tp, 1.0, 1.0), ideal(), batch, context, 5.0).mem_kv, want * 1005.0 / 1001.0);
    }
    // MLA: 61 layers x (512 latent + 64 rope key), one shared "head", 8-bit
    let mut mla = dense(1.0);
    mla.kv_elements_per_token = 61.0 * (512.0 + 64.0);
    let mut p = plan(8.0, 1.0, 1.0);
    p.kv_bytes = 1.0;
    close(step(mla, p, ideal(), 2.0, 4095.0, 1.0).mem_kv, 2.0 * 4096.0 * 61.0 * 576.0);
}

#[test]
fn overlap_takes_the_max_instead_of_the_sum() {
    let m = dense(8.0);
    let (batch, context, tp) = (64.0, 2048.0, 8.0);
    let c = chip(0.5, 0.8, 0.6);
    let off = step(m, plan(tp, 1.0, 1.0), c, batch, context, 1.0);
    // two ring all-reduces per layer of batch x d x 2 bytes over NVLink at 60%
    let msg = batch * 4096.0 * 2.0;
    let all_reduce = 2.0 * 7.0 * 1e-6 + 2.0 * 7.0 / 8.0 * msg / (400e9 * 0.6);
    close(off.t_comm, 32.0 * 2.0 * all_reduce);
    close(off.t_weights, 2.0 * 7e9 / tp / (BW * 0.8));
    close(off.t_kv, batch * (context + 1.0) * 32.0 * 8.0 * 256.0 * 2.0 / tp / (BW * 0.8));
    let flops = batch * (2.0 * 7e9 + 2.0 * 32.0 * 32.0 * 256.0 * (context + 1.0));
    close(off.t_compute, flops / (tp * PEAK * 0.5));
    let (memory, compute) = (off.t_weights + off.t_kv, off.t_compute);
    close(off.latency, memory.max(compute) + off.t_comm);
    let mut p = plan(tp, 1.0, 1.0);
    p.overlap = true;
    let on = step(m, p, c, batch, context, 1.0);
    close(on.latency, memory.max(compute).max(on.t_comm));
    close(off.latency - on.latency, off.t_comm);
    // a communication-bound step under overlap is its collectives alone
    let mut slow = c;
    slow.scale_up.bandwidth_bytes_s = 1e6;
    let s = step(m, p, slow, batch, context, 1.0);
    assert_eq!(s.bound, 3);
    close(s.latency, s.t_comm);
}

#[test]
fn routed_experts_read_what_the_batch_touches() {
    let m = moe();
    // one token touches exactly top_k = 2 of 16 experts in each of the 10 MoE layers
    let s = step(m, plan(1.0, 1.0, 1.0), ideal(), 1.0, 0.0, 1.0);
    close(s.t_weights, (1e9 + 10.0 * 2.0 * 1e8) * 2.0 / BW);
    // resident: every expert
    close(s.mem_weights, (1e9 + 10.0 * 16.0 * 1e8) * 2.0);
    // T tokens touch 16 (1 - (14/16)^T) in expectation
    let t = 5.0;
    let touched = 16.0 * (1.0 - (14.0f64 / 16.0).powf(t));
    close(
        step(m, plan(1.0, 1.0, 1.0), ideal(), t, 0.0, 1.0).t_weights,
        (1e9 + 10.0 * touched * 1e8) * 2.0 / BW,
    );
    // a fixed count overrides the expectation
    let mut p = plan(1.0, 1.0, 1.0);
    p.touched_experts = 7.0;
    close(step(m, p, ideal(), t, 0.0, 1.0).t_weights, (1e9 + 10.0 * 7.0 * 1e8) * 2.0 / BW);
    // expert parallelism 4: dense weights replicated, experts split over tp x ep
    let e4 = step(m, plan(1.0, 1.0, 4.0), ideal(), 1.0, 0.0, 1.0);
    close(e4.mem_weights, (1e9 + 10.0 * 16.0 * 1e8 / 4.0) * 2.0);
}

#[test]
fn expert_imbalance_slows_compute_and_all_to_all_costs() {
    let m = moe();
    let (batch, tokens) = (512.0, 512.0);
    let mut p = plan(1.0, 1.0, 4.0);
    let even = step(m, p, ideal(), batch, 0.0, 1.0);
    p.expert_imbalance = 1.5;
    let skew = step(m, p, ideal(), batch, 0.0, 1.0);
    // the busiest device's extra half of the routed FLOPs: 0.5 x 2 FLOP x top-2 x 10 x 1e8
    close(skew.t_compute - even.t_compute, tokens * 0.5 * 2.0 * 2.0 * 10.0 * 1e8 / (4.0 * PEAK));
    // dispatch + combine per MoE layer: all-to-all of (tokens / ep) x top-2 x d x 2 bytes
    let msg = tokens / 4.0 * 2.0 * 2048.0 * 2.0;
    let a2a = 3.0 * 1e-6 + 3.0 / 4.0 * msg / 400e9;
    close(even.t_comm, 10.0 * 2.0 * a2a);
}

#[test]
fn pipeline_latency_sums_stages_and_hops() {
    let m = dense(32.0);
    // pp 4, batch 8: 4 microbatches of 2 in flight; each stage reads its quarter of the weights
    // per microbatch; 3 hops of 2 tokens x d x 2 bytes between stages over NVLink (4 chips)
    let s = step(m, plan(1.0, 4.0, 1.0), ideal(), 8.0, 0.0, 1.0);
    let stage = (2.0 * 7e9 / 4.0 + 2.0 * 32.0 * 32.0 * 256.0 * 2.0 / 4.0) / BW;
    let hop = 1e-6 + 2.0 * 4096.0 * 2.0 / 400e9;
    close(s.latency, 4.0 * stage + 3.0 * hop);
    close(s.t_comm, 3.0 * hop);
    close(s.tokens_per_s, 8.0 / s.latency);
    // cost: 4 chips x $2/hour for one step over its 8 tokens
    close(s.cost_per_token, 4.0 * 2.0 / 3600.0 * s.latency / 8.0);
    // 16 stages span two 8-chip domains: hops go over the network
    let m16 = step(m, plan(1.0, 16.0, 1.0), ideal(), 1.0, 0.0, 1.0);
    let hop16 = 5e-6 + 4096.0 * 2.0 / 50e9;
    let stage16 = (2.0 * 7e9 / 16.0 + 32.0 * 32.0 * 256.0 * 2.0 / 16.0) / BW;
    close(m16.latency, 16.0 * stage16 + 15.0 * hop16);
    // MFU: the model FLOPs of the step over the cluster's peak for its latency
    let flops = 8.0 * (2.0 * 7e9 + 2.0 * 32.0 * 32.0 * 256.0);
    close(s.mfu, flops / s.latency / (4.0 * PEAK));
}

#[test]
fn memory_fits_at_the_boundary() {
    let m = dense(32.0);
    let (batch, context) = (4.0, 1023.0);
    let s = step(m, plan(1.0, 1.0, 1.0), ideal(), batch, context, 1.0);
    let kv = batch * 1024.0 * 32.0 * 32.0 * 256.0 * 2.0;
    let act = batch * (4.0 * 4096.0 + 2.0 * 11008.0) * 2.0;
    close(s.mem_kv, kv);
    close(s.mem_act, act);
    let used = 2.0 * 7e9 + kv + act;
    let mut c = ideal();
    c.memory = used;
    assert!(step(m, plan(1.0, 1.0, 1.0), c, batch, context, 1.0).fits);
    c.memory = used * (1.0 - 1e-9);
    assert!(!step(m, plan(1.0, 1.0, 1.0), c, batch, context, 1.0).fits);
}

#[test]
fn collectives_alpha_beta_by_hand() {
    let l = Link { latency_s: 2e-6, bandwidth_bytes_s: 1e11 };
    let (n, p) = (6e8, 6.0);
    close(time(Collective::AllReduce, n, p, l), 2.0 * 5.0 * 2e-6 + 2.0 * 5.0 / 6.0 * n / 1e11);
    close(time(Collective::ReduceScatter, n, p, l), 5.0 * 2e-6 + 5.0 / 6.0 * n / 1e11);
    close(time(Collective::AllGather, n, p, l), 5.0 * 2e-6 + 5.0 / 6.0 * n / 1e11);
    close(time(Collective::AllToAll, n, p, l), 5.0 * 2e-6 + 5.0 / 6.0 * n / 1e11);
    close(time(Collective::PointToPoint, n, 2.0, l), 2e-6 + n / 1e11);
    assert_eq!(time(Collective::AllReduce, 0.0, p, l), 0.0);
    assert_eq!(time(Collective::AllReduce, n, 1.0, l), 0.0);
    assert_eq!(cost(Collective::AllReduce, 1.0, l), (0.0, 0.0));
    let (fixed, per_byte) = cost(Collective::AllToAll, p, l);
    close(fixed, 5.0 * 2e-6);
    close(per_byte, 5.0 / 6.0 / 1e11);
    // two levels: reduce-scatter and all-gather inside islands of 8, all-reduce of 1/8 across 4
    let inner = Link { latency_s: 1e-6, bandwidth_bytes_s: 4e11 };
    let outer = Link { latency_s: 1e-5, bandwidth_bytes_s: 5e10 };
    let ring = 7.0 * 1e-6 + 7.0 / 8.0 * n / 4e11;
    let across = 2.0 * 3.0 * 1e-5 + 2.0 * 3.0 / 4.0 * (n / 8.0) / 5e10;
    close(hierarchical_all_reduce(n, 8.0, 4.0, inner, outer), 2.0 * ring + across);
    let got = times(Collective::AllGather, &[n, 0.0, n], &[6, 6, 1], l).unwrap();
    assert_eq!(got.len(), 3);
    close(got[0], 5.0 * 2e-6 + 5.0 / 6.0 * n / 1e11);
    assert_eq!((got[1], got[2]), (0.0, 0.0));
    for (name, kind) in [
        ("all-reduce", Collective::AllReduce),
        ("reduce-scatter", Collective::ReduceScatter),
        ("all-gather", Collective::AllGather),
        ("all-to-all", Collective::AllToAll),
        ("p2p", Collective::PointToPoint),
    ] {
        assert_eq!(Collective::parse(name).unwrap(), kind);
    }
}

#[test]
fn long_contexts_are_kv_bound() {
    // 64 sequences of 100k tokens: 64 x 100001 x 32 x 32 x 256 x 2 bytes of KV dwarf 14 GB of weights
    let s = step(dense(32.0), plan(1.0, 1.0, 1.0), ideal(), 64.0, 100_000.0, 1.0);
    assert!(s.t_kv > s.t_weights && s.t_kv + s.t_weights > s.t_compute);
    assert_eq!(s.bound, 1);
    close(s.latency, s.t_kv + s.t_weights);
}

#[test]
fn tensor_and_expert_parallel_shares() {
    let m = moe();
    // tp 2 x pp 2: dense weights over tp x pp, experts over tp x pp (x ep 1)
    let s = step(m, plan(2.0, 2.0, 1.0), ideal(), 1.0, 0.0, 1.0);
    close(s.mem_weights, (1e9 + 10.0 * 16.0 * 1e8) * 2.0 / 4.0);
    // activations: (4 d + 2 x ffn width / tp) x 2 bytes per token, over ep
    let t = step(m, plan(2.0, 1.0, 2.0), ideal(), 64.0, 0.0, 1.0);
    close(t.mem_act, 64.0 * (4.0 * 2048.0 + 2.0 * 8192.0 / 2.0) * 2.0 / 2.0);
    // tp 2 x ep 2, one stage: per layer 2 all-reduces of (64 / ep) tokens x d x 2 bytes over tp,
    // per MoE layer a dispatch and a combine all-to-all of (64 / ep) x top-2 x d x 2 bytes
    let act = 2048.0 * 2.0;
    let all_reduce = 2.0 * 1e-6 + (64.0 * act / 2.0) / 400e9;
    let all_to_all = 1e-6 + 0.5 * (64.0 * 2.0 * act / 2.0) / 400e9;
    close(t.t_comm, 10.0 * 2.0 * all_reduce + 10.0 * 2.0 * all_to_all);
    // pp 4 x tp 2 = 8 chips in one domain: hops carry a tp shard of 2 tokens' activations
    let d = dense(32.0);
    let p = step(d, plan(2.0, 4.0, 1.0), ideal(), 8.0, 0.0, 1.0);
    let hop = 1e-6 + 2.0 * 4096.0 * 2.0 / 2.0 / 400e9;
    let per_stage = 32.0 / 4.0 * 2.0 * (2.0 * 1e-6 + 2.0 * 4096.0 * 2.0 / 400e9);
    close(p.t_comm, 4.0 * per_stage + 3.0 * hop);
}

#[test]
fn collective_arrays_match_the_scalar_forms_past_the_parallel_threshold() {
    // 40,000 points: more than the 32,768 where the kernels go parallel, in chunks of 8,192
    let l = Link { latency_s: 1e-6, bandwidth_bytes_s: 1e10 };
    let n = 40_000;
    let bytes: Vec<f64> = (0..n).map(|i| 1e3 * (i as f64 + 1.0)).collect();
    let ranks: Vec<u64> = (0..n).map(|i| 1 + (i % 9) as u64).collect();
    let got = times(Collective::AllReduce, &bytes, &ranks, l).unwrap();
    for i in 0..n {
        let p = ranks[i] as f64;
        let want =
            if p == 1.0 { 0.0 } else { 2.0 * (p - 1.0) * 1e-6 + 2.0 * (p - 1.0) / p * bytes[i] / 1e10 };
        assert!((got[i] - want).abs() <= 1e-12 * want, "{i}: {} vs {want}", got[i]);
    }
    let islands: Vec<u64> = (0..n).map(|i| 1 + (i % 5) as u64).collect();
    let outer = Link { latency_s: 1e-5, bandwidth_bytes_s: 1e9 };
    let hier = brickwall_core::collectives::hierarchical_all_reduce_times(
        &bytes,
        &islands,
        4,
        l,
        outer,
        Algorithm::Ring,
    )
    .unwrap();
    for i in 0..n {
        let g = islands[i] as f64;
        let ring = 3.0 * 1e-6 + 0.75 * bytes[i] / 1e10;
        let across =
            if g == 1.0 { 0.0 } else { 2.0 * (g - 1.0) * 1e-5 + 2.0 * (g - 1.0) / g * bytes[i] / 4.0 / 1e9 };
        close(hier[i], 2.0 * ring + across);
    }
    // bad points are errors naming the index
    let bad = |b: &[f64], r: &[u64]| times(Collective::AllGather, b, r, l).unwrap_err().to_string();
    assert!(bad(&[1.0, -1.0], &[2, 2]).contains("bytes[1]"));
    assert!(bad(&[1.0, f64::INFINITY], &[2, 2]).contains("bytes[1]"));
    assert!(bad(&[1.0, 1.0], &[2, 0]).contains("ranks[1]"));
    assert!(brickwall_core::collectives::hierarchical_all_reduce_times(
        &[1.0],
        &[2],
        0,
        l,
        outer,
        Algorithm::Ring
    )
    .is_err());
}

#[test]
fn several_new_tokens_attend_causally() {
    // 2 sequences x 8 new tokens after 100 cached: 16 tokens of matmuls; token j attends to the
    // 100 cached and to j of the new ones: 8 x 100 + (1 + ... + 8) = 836 attended per sequence
    let s = step(dense(32.0), plan(1.0, 1.0, 1.0), ideal(), 2.0, 100.0, 8.0);
    let flops = 16.0 * 2.0 * 7e9 + 2.0 * 2.0 * 32.0 * 32.0 * 256.0 * (8.0 * 100.0 + 36.0);
    close(s.t_compute, flops / PEAK);
    close(s.tokens_per_s, 16.0 / s.latency);
    close(s.cost_per_token, 2.0 / 3600.0 * s.latency / 16.0);
}
