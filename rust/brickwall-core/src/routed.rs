//! Steps priced at a quantile of the routing distribution instead of its expectation.
//!
//! A decode step of an MoE model reads the experts its microbatch's tokens touch and waits for
//! the busiest expert-parallel device. [`crate::roofline`] prices the uniform-routing mean; here
//! each distinct microbatch size `T` (the step model's own split, rounded up to whole tokens)
//! gets a Monte Carlo of [`crate::routing`] (uniform popularity, `ep` devices, seeded), and its
//! rows are priced with the touched experts and the busiest device's imbalance at quantile `q`.
//!
//! Large microbatches skip the token-by-token Monte Carlo (its cost grows with `T k`; 2^23
//! tokens took a minute), where the answer is known without it:
//! - touched experts: `P(touched < E) <= E (1 - k/E)^T` (union bound over the untouched
//!   experts); when that is below `q` the `q`-quantile is `E` exactly;
//! - the busiest device, once `T k >= CLT_CHOICES` and each device's mean load `k T / ep` is at
//!   least `CLT_DEVICE_MEAN` tokens: a device's load sums `T` i.i.d. per-token counts (how many
//!   of a token's `k` experts it holds: hypergeometric, variance `k (1/D)(1 - 1/D)(E - k)/(E - 1)`,
//!   covariance `-k (1/D^2)(E - k)/(E - 1)` between devices), so by the central limit theorem the
//!   load vector is `mu + s (Z - mean Z)` with `Z` i.i.d. standard normals, `mu = k T / D` and
//!   `s^2 = T k (E - k) / (D (E - 1))` (the covariance `s^2 (I - J/D)`, the sum held at `k T`).
//!   The busiest device's quantile comes from a Monte Carlo of that D-vector instead of T tokens.

use crate::control::Control;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::roofline::{Chip, ModelCosts, Plan, StepModel, STEP_COLUMNS};
use crate::routing::{self, histogram_quantile, Popularity, Spec};

/// Routed choices per microbatch (`T k`) from which the busiest device's quantile comes from the
/// normal limit (module docs) rather than a token-by-token Monte Carlo (whose default trials then
/// cost at least 2,000 x 2^18 choices, seconds).
pub const CLT_CHOICES: u64 = 1 << 18;
/// Smallest mean load per device (tokens) for the normal limit: its tail error shrinks like the
/// per-token count's skewness over the square root of the load.
pub const CLT_DEVICE_MEAN: f64 = 1024.0;

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
    if every_expert_touched(experts, top_k, tokens, q) {
        let mean_device = top_k as f64 * tokens as f64 / devices as f64;
        let imbalance = if devices == 1 {
            Some(1.0)
        } else if tokens.saturating_mul(top_k) >= CLT_CHOICES && mean_device >= CLT_DEVICE_MEAN {
            Some(normal_busiest_device(experts, top_k, tokens, devices, q, seed, control)? / mean_device)
        } else {
            None
        };
        if let Some(imbalance) = imbalance {
            return Ok(Plan {
                touched_experts: experts as f64,
                expert_imbalance: imbalance.max(1.0),
                ..*plan
            });
        }
    }
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

/// Whether the `q`-quantile of the distinct experts `tokens` tokens touch (uniform top-k) is
/// every expert: `P(touched < E) <= E (1 - k/E)^T < q`.
pub fn every_expert_touched(experts: u64, top_k: u64, tokens: u64, q: f64) -> bool {
    let (e, k, t) = (experts as f64, top_k as f64, tokens as f64);
    let log_bound = e.ln() + t * (-k / e).ln_1p(); // -inf when k = E: always touched
    log_bound < q.ln()
}

/// The `q`-quantile (tokens, rounded up to a whole token) of the busiest of `devices` devices'
/// loads in the normal limit (module docs): a Monte Carlo of `mu + s max_d (Z_d - mean Z)` over
/// about 2 x 10^7 normal draws (1,000 to 100,000 trials), seeded by `seed`.
pub fn normal_busiest_device(
    experts: u64,
    top_k: u64,
    tokens: u64,
    devices: u64,
    q: f64,
    seed: u64,
    control: &Control,
) -> Result<f64> {
    let (e, k, t, d) = (experts as f64, top_k as f64, tokens as f64, devices as f64);
    let mean = k * t / d;
    let s = (t * k * (e - k) / (d * (e - 1.0))).sqrt();
    let trials = (20_000_000 / devices).clamp(1_000, 100_000);
    const CHUNK: u64 = 1_000;
    let mut maxima = Vec::with_capacity(trials as usize);
    let mut z = vec![0.0; devices as usize];
    for chunk in 0..trials.div_ceil(CHUNK) {
        let mut rng = Rng::for_chunk(seed, chunk);
        for _ in 0..CHUNK.min(trials - chunk * CHUNK) {
            z.iter_mut().for_each(|x| *x = routing::normal(&mut rng));
            let centre = z.iter().sum::<f64>() / d;
            maxima.push(z.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x)) - centre);
        }
        control.checkpoint(CHUNK)?;
    }
    maxima.sort_unstable_by(f64::total_cmp);
    // The smallest sample with at least a fraction q of the samples at or below it.
    let rank = ((q * trials as f64).ceil() as usize).clamp(1, maxima.len());
    // No device holds more than min(k, E/D) of a token's experts.
    let most = t * k.min(e / d);
    Ok((mean + s * maxima[rank - 1]).ceil().min(most))
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
    fn union_bound_settles_touched_exactly_when_the_monte_carlo_sees_every_expert() {
        // 8 experts, top-2: (3/4)^T 8 < 0.99 from T = 8 on; the Monte Carlo agrees beyond it.
        assert!(!every_expert_touched(8, 2, 7, 0.99));
        assert!(every_expert_touched(8, 2, 8, 0.99));
        assert!(every_expert_touched(8, 8, 1, 1e-300));
        for tokens in [8, 16, 64] {
            let s = Spec {
                experts: 8,
                top_k: 2,
                tokens,
                trials: 20_000,
                seed: 1,
                popularity: Popularity::Uniform,
                capacity: None,
                devices: 1,
            };
            let h = routing::route(&s, &Control::new()).unwrap();
            assert_eq!(histogram_quantile(&h.touched, 0.99), 8);
        }
    }

    #[test]
    fn normal_limit_matches_the_token_monte_carlo() {
        // 8 experts on 4 devices, top-2, 8,192 tokens (a mean of 4,096 per device): the busiest
        // device's p50 / p99 from 4,000 token-level steps vs the normal limit, within a third of
        // the per-device standard deviation (51 tokens).
        let (experts, top_k, tokens, devices) = (8, 2, 8192, 4);
        let s = Spec {
            experts,
            top_k,
            tokens,
            trials: 4_000,
            seed: 5,
            popularity: Popularity::Uniform,
            capacity: None,
            devices,
        };
        let h = routing::route(&s, &Control::new()).unwrap();
        let sd = (tokens as f64 * 2.0 * (6.0 / 7.0) * 0.25 * 0.75).sqrt();
        for q in [0.5, 0.99] {
            let mc = histogram_quantile(&h.device_load, q) as f64;
            let clt = normal_busiest_device(experts, top_k, tokens, devices, q, 5, &Control::new()).unwrap();
            assert!((mc - clt).abs() < sd / 3.0, "q {q}: token Monte Carlo {mc} vs normal limit {clt}");
        }
    }

    #[test]
    fn huge_microbatches_take_the_fast_paths() {
        // 2^23 tokens of top-2 (the old Monte Carlo: a minute) and beyond its 2^24-choice limit.
        for tokens in [1u64 << 23, 1 << 30] {
            for ep in [1.0, 8.0] {
                let p = quantile_plan(&moe(), &test_plan(1.0, 1.0, ep), tokens, 0.99, 0, &Control::new())
                    .unwrap();
                assert_eq!(p.touched_experts, 8.0);
                assert!(p.expert_imbalance >= 1.0 && p.expert_imbalance < 1.01, "{}", p.expert_imbalance);
            }
        }
        let cancelled = Control::new();
        cancelled.cancel();
        let r = quantile_plan(&moe(), &test_plan(1.0, 1.0, 8.0), 1 << 23, 0.99, 0, &cancelled);
        assert!(matches!(r, Err(Error::Interrupted)));
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
