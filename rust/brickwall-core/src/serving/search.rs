//! Capacity search: which deployments serve a workload within an SLO, each candidate simulated
//! on rayon's threads.
//!
//! A candidate is a replica layout (plan and chip) with a replica count, aggregated or split
//! into prefill and decode pools. Those that cannot run are sorted out exactly before any
//! simulation: a plan the step model refuses, weights and activations that leave no room for a
//! KV cache, a cache too small for the longest request, a disaggregated pair with no scale-out
//! network, swap preemption without a host link. The rest serve the same requests; the verdict is the `quantile`-th percentile TTFT
//! and TPOT against the SLO. Each candidate's run depends only on its inputs and the results come
//! back in candidate order, so nothing depends on the thread count.

use rayon::prelude::*;

use super::cluster::{simulate_disaggregated, simulate_pool, Pool, Router};
use super::sim::{Arrivals, Policy, Preemption, Requests, Scheduler, Speculation};
use super::{kv_blocks, IterationCost, StepCost};
use crate::control::Control;
use crate::error::{Error, Result};
use crate::roofline::{Chip, ModelCosts, Plan};

/// One deployment to try.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Each replica's layout.
    pub plan: Plan,
    /// Its chip.
    pub chip: Chip,
    /// Replicas (aggregated), or prefill replicas when `decode > 0`.
    pub replicas: u64,
    /// Decode replicas of a disaggregated deployment; 0 for an aggregated one.
    pub decode: u64,
    /// Device-host bandwidth per chip per direction, bytes/s (0: none): swap preemption's link.
    pub host_bandwidth: f64,
}

/// The scheduler of every candidate; `kv_blocks` None sizes each candidate's cache from the
/// memory its weights and activations leave ([`kv_blocks`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchScheduler {
    /// The batching policy.
    pub policy: Policy,
    /// Most sequences per iteration.
    pub max_seqs: u64,
    /// Most new tokens per iteration.
    pub max_batched_tokens: u64,
    /// Tokens per KV block.
    pub block_size: u64,
    /// A forced cache size, or None.
    pub kv_blocks: Option<u64>,
    /// Cache shared prefixes ([`Scheduler::prefix_cache`]).
    pub prefix_cache: bool,
    /// What preemption does with the victim's cache.
    pub preemption: Preemption,
    /// Speculative decoding, if any (its draft model: [`search`]'s `draft`).
    pub speculation: Option<Speculation>,
}

/// The service level: the `quantile`-th percentile of TTFT and of TPOT at most these seconds
/// (infinite: no bound).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    /// Percentile, in (0, 100].
    pub quantile: f64,
    /// Seconds to first token.
    pub ttft: f64,
    /// Seconds per output token after the first.
    pub tpot: f64,
}

/// What became of a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Simulated; it meets the SLO.
    Met = 0,
    /// Simulated; it misses the SLO.
    Missed = 1,
    /// The step model refuses the plan on this chip (not simulated).
    BadPlan = 2,
    /// Weights and activations leave no memory for a KV cache (not simulated).
    NoMemory = 3,
    /// The cache cannot hold the longest request (not simulated).
    CacheTooSmall = 4,
    /// Disaggregated without a scale-out network to move the cache (not simulated).
    NoNetwork = 5,
    /// Swap preemption on a chip without a known host link (not simulated).
    NoHostLink = 6,
}

/// A candidate's verdict. Latencies and times are NaN for candidates not simulated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// What became of it.
    pub status: Status,
    /// KV blocks per replica (0 when not sized).
    pub kv_blocks: u64,
    /// The SLO's percentile of TTFT, seconds.
    pub ttft: f64,
    /// The SLO's percentile of TPOT, seconds (NaN when every request has one token).
    pub tpot: f64,
    /// First arrival to last finish, seconds.
    pub duration: f64,
    /// Seconds the replicas ran iterations, summed.
    pub busy: f64,
    /// USD per second of the whole deployment (0 when the price is unknown).
    pub usd_per_s: f64,
}

/// The `q`-th percentile (0..=100) of `x` as numpy's default ("linear"): the order statistics
/// at `(n - 1) q / 100` interpolated with numpy's two-sided lerp, so the verdict agrees with
/// `ServingResult.percentiles` to the last bit. NaN for no values.
pub fn percentile(x: &mut [f64], q: f64) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    x.sort_unstable_by(f64::total_cmp);
    let n = x.len();
    let v = (n - 1) as f64 * (q / 100.0);
    let lo = v.floor();
    let g = v - lo;
    let i = (lo as usize).min(n - 1);
    let (a, b) = (x[i], x[(i + 1).min(n - 1)]);
    let d = b - a;
    if g >= 0.5 {
        b - d * (1.0 - g)
    } else {
        a + d * g
    }
}

fn verdict(pool: &Pool, output: &[u64], slo: Slo, kv: u64, usd_per_s: f64) -> Verdict {
    let s = &pool.served;
    let mut ttft: Vec<f64> = s.first_token.iter().zip(&s.arrival).map(|(f, a)| f - a).collect();
    let mut tpot: Vec<f64> = (0..output.len())
        .filter(|&i| output[i] > 1)
        .map(|i| (s.finish[i] - s.first_token[i]) / (output[i] as f64 - 1.0))
        .collect();
    let (ttft, tpot) = (percentile(&mut ttft, slo.quantile), percentile(&mut tpot, slo.quantile));
    let first = s.arrival.iter().copied().fold(f64::INFINITY, f64::min);
    let last = s.finish.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let met = ttft <= slo.ttft && (tpot.is_nan() || tpot <= slo.tpot);
    Verdict {
        status: if met { Status::Met } else { Status::Missed },
        kv_blocks: kv,
        ttft,
        tpot,
        duration: last - first,
        busy: s.busy,
        usd_per_s,
    }
}

fn skipped(status: Status, kv_blocks: u64) -> Verdict {
    let nan = f64::NAN;
    Verdict { status, kv_blocks, ttft: nan, tpot: nan, duration: nan, busy: nan, usd_per_s: nan }
}

/// Serve `requests` arriving at `arrival` on every candidate and judge each against `slo`;
/// verdicts in candidate order. `draft`: the speculative draft model, laid out as each
/// candidate's model (its steps priced and its memory charged). Fails on a bad scheduler or
/// workload (the same for every candidate), or when `control` is cancelled.
#[allow(clippy::too_many_arguments)]
pub fn search(
    model: ModelCosts,
    draft: Option<ModelCosts>,
    candidates: &[Candidate],
    requests: Requests<'_>,
    arrival: &[f64],
    scheduler: SearchScheduler,
    router: Router,
    slo: Slo,
    control: &Control,
) -> Result<Vec<Verdict>> {
    if !(slo.quantile > 0.0 && slo.quantile <= 100.0) {
        return Err(Error::invalid("quantile", slo.quantile, "in (0, 100]"));
    }
    for (f, x) in [("slo_ttft", slo.ttft), ("slo_tpot", slo.tpot)] {
        if x.is_nan() || x <= 0.0 {
            return Err(Error::invalid(f, x, "seconds > 0 (infinite: no bound)"));
        }
    }
    let (input, output) = (requests.input, requests.output);
    if input.is_empty() {
        return Err(Error::invalid("requests", 0, "at least one request"));
    }
    crate::error::same_len("output", output.len(), input.len())?;
    if scheduler.block_size == 0 {
        return Err(Error::invalid("block_size", 0, "an integer >= 1"));
    }
    let longest =
        input.iter().zip(output).map(|(a, b)| a.saturating_add(*b).saturating_sub(1)).max().unwrap_or(1);
    let needed = longest.div_ceil(scheduler.block_size);
    candidates
        .par_iter()
        .map(|c| {
            let v = judge(model, draft, c, requests, arrival, scheduler, router, slo, needed, control)?;
            control.checkpoint(1)?;
            Ok(v)
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn judge(
    model: ModelCosts,
    draft: Option<ModelCosts>,
    c: &Candidate,
    requests: Requests<'_>,
    arrival: &[f64],
    sch: SearchScheduler,
    router: Router,
    slo: Slo,
    needed: u64,
    control: &Control,
) -> Result<Verdict> {
    let Ok(mut cost) = StepCost::new(model, c.plan, c.chip) else {
        return Ok(skipped(Status::BadPlan, 0));
    };
    if let (Some(d), Some(_)) = (draft, sch.speculation) {
        let Ok(with) = cost.clone().with_draft(d, c.plan, c.chip) else {
            return Ok(skipped(Status::BadPlan, 0));
        };
        cost = with;
    }
    if sch.preemption == Preemption::Swap {
        let Ok(with) = cost.clone().with_host_bandwidth(c.host_bandwidth) else {
            return Ok(skipped(Status::NoHostLink, 0));
        };
        cost = with;
    }
    let kv = match sch.kv_blocks {
        Some(k) => k,
        None => match kv_blocks(&cost, sch.block_size, sch.max_batched_tokens as f64) {
            Ok(k) => k,
            Err(Error::Invalid { field, .. }) if field == "memory" => {
                return Ok(skipped(Status::NoMemory, 0))
            }
            Err(e) => return Err(e),
        },
    };
    // Each of a pipelined replica's engines holds its share of the cache (see `cluster`).
    if kv / cost.pipeline_depth().max(1) < needed {
        return Ok(skipped(Status::CacheTooSmall, kv));
    }
    let s = Scheduler {
        prefix_cache: sch.prefix_cache,
        preemption: sch.preemption,
        speculation: sch.speculation,
        ..Scheduler::new(sch.policy, sch.max_seqs, sch.max_batched_tokens, sch.block_size, kv)
    };
    let usd = cost.price_per_s() * (c.replicas + c.decode) as f64;
    let pool = if c.decode == 0 {
        simulate_pool(requests, Arrivals::Open(arrival), s, &cost, c.replicas, router, false, control)?
    } else {
        if cost.kv_transfer_seconds(&[1]).is_err() {
            return Ok(skipped(Status::NoNetwork, kv));
        }
        simulate_disaggregated(requests, arrival, s, &cost, c.replicas, c.decode, router, false, control)?
    };
    Ok(verdict(&pool, requests.output, slo, kv, usd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_skip_what_cannot_run_and_do_not_depend_on_threads() {
        use crate::serving::tests::{h100, llama70b};
        use crate::serving::Router;
        let plan = |tp: f64| crate::roofline::test_plan(tp, 1.0, 1.0);
        let cand = |tp: f64, replicas: u64, decode: u64| Candidate {
            plan: plan(tp),
            chip: h100(),
            replicas,
            decode,
            host_bandwidth: 0.0,
        };
        let mut cands = vec![cand(1.0, 1, 0)];
        for tp in [4.0, 8.0] {
            for (replicas, decode) in [(1, 0), (2, 0), (3, 0), (1, 1), (2, 1)] {
                cands.push(cand(tp, replicas, decode));
            }
        }
        let n = 60;
        let input: Vec<u64> = (0..n).map(|i| 200 + (i * 577) % 3000).collect();
        let output: Vec<u64> = (0..n).map(|i| 1 + (i * 37) % 200).collect();
        let arrival: Vec<f64> = (0..n).map(|i| i as f64 * 0.05).collect();
        let sch = SearchScheduler {
            policy: Policy::Chunked,
            max_seqs: 64,
            max_batched_tokens: 2048,
            block_size: 16,
            kv_blocks: None,
            prefix_cache: false,
            preemption: Preemption::Recompute,
            speculation: None,
        };
        let req =
            Requests { input: &input, output: &output, prefilled: &[], prefix_id: &[], prefix_tokens: &[] };
        let slo = Slo { quantile: 99.0, ttft: 1.0, tpot: 0.05 };
        let run = |threads: usize, router: Router| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                search(llama70b(), None, &cands, req, &arrival, sch, router, slo, &Control::new())
            })
            .unwrap()
        };
        for router in [Router::RoundRobin, Router::LeastLoaded] {
            let one = run(1, router);
            assert_eq!(one[0].status, Status::NoMemory);
            assert!(one[1..].iter().all(|v| matches!(v.status, Status::Met | Status::Missed)));
            assert!(
                one.iter().any(|v| v.status == Status::Met) && one.iter().any(|v| v.status == Status::Missed)
            );
            // NaN-free verdicts compare exactly: bit for bit at any thread count.
            let three = run(3, router);
            for (a, b) in one.iter().zip(&three) {
                assert_eq!(format!("{a:?}"), format!("{b:?}"));
            }
        }
        let forced = SearchScheduler { kv_blocks: Some(3), ..sch };
        let v = search(
            llama70b(),
            None,
            &cands[1..2],
            req,
            &arrival,
            forced,
            Router::RoundRobin,
            slo,
            &Control::new(),
        )
        .unwrap();
        assert_eq!(v[0].status, Status::CacheTooSmall);
        let bad = Slo { quantile: 0.0, ..slo };
        assert!(search(
            llama70b(),
            None,
            &cands,
            req,
            &arrival,
            sch,
            Router::RoundRobin,
            bad,
            &Control::new()
        )
        .is_err());
    }

    #[test]
    fn scheduler_options_are_the_simulators() {
        use crate::serving::tests::{h100, llama70b};
        use crate::serving::{simulate_pool, Router, MAX_DRAFT};
        let plan = crate::roofline::test_plan(8.0, 1.0, 1.0);
        let n = 80;
        let input: Vec<u64> = (0..n).map(|i| 300 + (i * 577) % 2000).collect();
        let output: Vec<u64> = (0..n).map(|i| 2 + (i * 37) % 300).collect();
        let arrival: Vec<f64> = (0..n).map(|i| i as f64 * 0.02).collect();
        let ids: Vec<u64> = (0..n).map(|i| i % 3).collect();
        let lens: Vec<u64> = ids.iter().map(|&i| 100 * (i + 1)).collect();
        let req = Requests {
            input: &input,
            output: &output,
            prefilled: &[],
            prefix_id: &ids,
            prefix_tokens: &lens,
        };
        let mut expected = [1.0; MAX_DRAFT + 1];
        expected[1..4].copy_from_slice(&[1.6, 2.0, 2.2]);
        let spec = Speculation { draft_tokens: 3, expected };
        let draft = ModelCosts { dense_params: 1e9, matmul_params_active: 0.9e9, ..llama70b() };
        // A cache small enough to preempt.
        let sch = SearchScheduler {
            policy: Policy::Chunked,
            max_seqs: 64,
            max_batched_tokens: 1024,
            block_size: 16,
            kv_blocks: Some(400),
            prefix_cache: true,
            preemption: Preemption::Swap,
            speculation: Some(spec),
        };
        let slo = Slo { quantile: 90.0, ttft: 1.0, tpot: 0.05 };
        let cand =
            |host_bandwidth: f64| Candidate { plan, chip: h100(), replicas: 2, decode: 0, host_bandwidth };
        let v = search(
            llama70b(),
            Some(draft),
            &[cand(64e9), cand(0.0)],
            req,
            &arrival,
            sch,
            Router::RoundRobin,
            slo,
            &Control::new(),
        )
        .unwrap();
        assert_eq!(v[1].status, Status::NoHostLink);
        let cost = StepCost::new(llama70b(), plan, h100())
            .and_then(|c| c.with_draft(draft, plan, h100()))
            .and_then(|c| c.with_host_bandwidth(64e9))
            .unwrap();
        let s = Scheduler {
            prefix_cache: true,
            preemption: Preemption::Swap,
            speculation: Some(spec),
            ..Scheduler::new(Policy::Chunked, 64, 1024, 16, 400)
        };
        let pool = simulate_pool(
            req,
            Arrivals::Open(&arrival),
            s,
            &cost,
            2,
            Router::RoundRobin,
            false,
            &Control::new(),
        )
        .unwrap();
        assert!(pool.served.swapped_tokens > 0 && pool.served.cached.iter().sum::<u64>() > 0);
        let want = verdict(&pool, &output, slo, 400, cost.price_per_s() * 2.0);
        assert_eq!(format!("{:?}", v[0]), format!("{want:?}"));
    }

    #[test]
    fn percentile_is_numpys_linear() {
        // numpy: np.percentile([3, 1, 2, 10], [0, 50, 99, 100]) = [1, 2.5, 9.79, 10]
        let mut x = vec![3.0, 1.0, 2.0, 10.0];
        assert_eq!(percentile(&mut x, 0.0), 1.0);
        assert_eq!(percentile(&mut x, 50.0), 2.5);
        assert!((percentile(&mut x, 99.0) - 9.79).abs() < 1e-12);
        assert_eq!(percentile(&mut x, 100.0), 10.0);
        assert!(percentile(&mut [], 50.0).is_nan());
    }
}
