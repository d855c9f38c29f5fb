//! Replicas behind a router, and disaggregated prefill/decode pools.
//!
//! A pool is `R` identical replicas (each a [`Replica`], the scheduler of `sim`) fed by a
//! router that sends each arrival to one replica:
//! - round-robin: request `i` to replica `i mod R`. No replica's routing depends on another's
//!   state, so each is simulated on its own share (in parallel);
//! - least-loaded: to the replica with the fewest requests in flight (routed to it, not
//!   finished) at the arrival's time, ties to the lowest index. This needs every replica's
//!   state at each arrival, so the replicas advance together: before routing an arrival at `a`,
//!   each runs the iterations that start before `a` (an iteration starting at `a` would
//!   already include it). Only a replica's last iteration can end after `a`; the requests it
//!   finishes are still in flight at `a` ([`Replica::in_flight_at`]).
//!
//! A replica of `pp` pipeline stages runs `pp` engines (vLLM's virtual engines): each has its
//! own scheduler and `1/pp` of the replica's KV blocks, and each iteration is its batch sent
//! down the pipeline as one microbatch, taking every stage's time for it
//! ([`StepModel::evaluate_microbatch`](crate::roofline::StepModel::evaluate_microbatch)); the
//! engines' batches follow each other through the stages, so `pp` iterations are in flight at
//! once and each stage is kept busy. Assumed: stages balanced, so the engines interleave
//! without waiting on each other. The router spreads arrivals over all engines (engine `e`
//! belongs to replica `e / pp`); a closed loop needs one engine (pp = 1). Busy time is the
//! stages' (the engines' over pp); the peak KV is one engine's.
//!
//! A disaggregated deployment (DistServe, Splitwise) is two pools: prefill replicas produce each
//! request's first token, then its prompt's KV cache moves over the scale-out network
//! ([`StepCost::kv_transfer_seconds`]) and it joins the decode pool, in order of arrival there.

use rayon::prelude::*;

use super::sim::{simulate, validate, Arrivals, Iterations, Replica, Requests, Scheduler, Served};
use super::{IterationCost, StepCost};
use crate::control::Control;
use crate::error::{Error, Result};

/// How a pool spreads arrivals over its replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Router {
    /// Request `i` to replica `i mod replicas`.
    RoundRobin,
    /// To the replica with the fewest requests in flight at the arrival (ties: lowest index).
    LeastLoaded,
}

impl Router {
    /// Parse `"round-robin"` or `"least-loaded"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "round-robin" => Ok(Self::RoundRobin),
            "least-loaded" => Ok(Self::LeastLoaded),
            _ => Err(Error::invalid("router", s, "one of round-robin, least-loaded")),
        }
    }
}

/// A pool's run: per request (in input order) as [`Served`], iterations concatenated replica by
/// replica, and who served what.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pool {
    /// The run; summaries summed over replicas (the peak KV: the largest of any one replica).
    pub served: Served,
    /// Per request, the replica that produced its last token.
    pub replica: Vec<u32>,
    /// Per iteration of the timeline, its replica.
    pub it_replica: Vec<u32>,
}

fn extend(to: &mut Iterations, from: Iterations) {
    to.start.extend(from.start);
    to.seconds.extend(from.seconds);
    to.sequences.extend(from.sequences);
    to.tokens.extend(from.tokens);
    to.prefill_tokens.extend(from.prefill_tokens);
    to.kv_blocks.extend(from.kv_blocks);
}

/// Assemble replica runs: `parts[k]` served the requests `members[k]` (indices into `n`).
fn assemble(n: usize, parts: Vec<(Vec<usize>, Served)>) -> Pool {
    let mut out = Served {
        arrival: vec![f64::NAN; n],
        scheduled: vec![f64::NAN; n],
        first_token: vec![f64::NAN; n],
        finish: vec![f64::NAN; n],
        preemptions: vec![0; n],
        cached: vec![0; n],
        ..Served::default()
    };
    let mut replica = vec![0u32; n];
    let mut it_replica = Vec::new();
    for (k, (members, s)) in parts.into_iter().enumerate() {
        for (j, &i) in members.iter().enumerate() {
            out.arrival[i] = s.arrival[j];
            out.scheduled[i] = s.scheduled[j];
            out.first_token[i] = s.first_token[j];
            out.finish[i] = s.finish[j];
            out.preemptions[i] = s.preemptions[j];
            out.cached[i] = s.cached[j];
            replica[i] = k as u32;
        }
        it_replica.extend(std::iter::repeat_n(k as u32, s.iterations.start.len()));
        extend(&mut out.iterations, s.iterations);
        out.n_iterations += s.n_iterations;
        out.busy += s.busy;
        out.busy_prefill += s.busy_prefill;
        out.peak_kv_blocks = out.peak_kv_blocks.max(s.peak_kv_blocks);
        out.swapped_tokens += s.swapped_tokens;
    }
    Pool { served: out, replica, it_replica }
}

/// Run `r`'s iterations that start before `until`, checking `control` as they go.
fn advance(r: &mut Replica, cost: &impl IterationCost, until: f64, control: &Control) -> Result<()> {
    while r.step(cost, until)? {
        r.check(control)?;
    }
    Ok(())
}

fn check_replicas(replicas: u64) -> Result<()> {
    if replicas == 0 || replicas > 1 << 20 {
        return Err(Error::invalid("replicas", replicas, "an integer in [1, 2^20]"));
    }
    Ok(())
}

/// Simulate `requests` on `replicas` replicas behind `router` (a closed loop: one replica of
/// one stage only). A replica of `pp` stages runs `pp` engines (see the module docs).
#[allow(clippy::too_many_arguments)]
pub fn simulate_pool(
    requests: Requests<'_>,
    arrivals: Arrivals<'_>,
    scheduler: Scheduler,
    cost: &(impl IterationCost + Sync),
    replicas: u64,
    router: Router,
    timeline: bool,
    control: &Control,
) -> Result<Pool> {
    let depth = cost.pipeline_depth().max(1);
    if depth == 1 {
        return engines(requests, arrivals, scheduler, cost, replicas, router, timeline, control);
    }
    if let Arrivals::Closed { .. } = arrivals {
        return Err(Error::invalid(
            "clients",
            "a closed loop",
            format!("open arrivals: a replica of {depth} pipeline stages runs {depth} engines"),
        ));
    }
    check_replicas(replicas)?;
    let s = Scheduler { kv_blocks: scheduler.kv_blocks / depth, ..scheduler };
    let mut p = engines(requests, arrivals, s, cost, replicas * depth, router, timeline, control)?;
    let d = depth as u32;
    p.replica.iter_mut().chain(p.it_replica.iter_mut()).for_each(|r| *r /= d);
    // An engine's iteration keeps each stage busy for 1/pp of it: the replicas' busy time is
    // the engines' summed over pp (the stages' mean), not their sum.
    p.served.busy /= depth as f64;
    p.served.busy_prefill /= depth as f64;
    Ok(p)
}

/// [`simulate_pool`] over `replicas` engines of one stage each.
#[allow(clippy::too_many_arguments)]
fn engines(
    requests: Requests<'_>,
    arrivals: Arrivals<'_>,
    scheduler: Scheduler,
    cost: &(impl IterationCost + Sync),
    replicas: u64,
    router: Router,
    timeline: bool,
    control: &Control,
) -> Result<Pool> {
    validate(&requests, &arrivals, &scheduler)?;
    let n = requests.input.len();
    check_replicas(replicas)?;
    // More replicas than requests: the rest never serve (either router fills the first n).
    let r = (replicas as usize).min(n.max(1));
    let arrival = match arrivals {
        Arrivals::Open(t) => t,
        Arrivals::Closed { .. } if r == 1 => &[],
        Arrivals::Closed { .. } => {
            return Err(Error::invalid(
                "replicas",
                replicas,
                "1 for a closed loop (routers split open traffic)",
            ))
        }
    };
    if r == 1 {
        let s = simulate(requests, arrivals, scheduler, cost, timeline, control)?;
        return Ok(assemble(n, vec![((0..n).collect(), s)]));
    }
    let pre = |i: usize| requests.prefilled.get(i).copied().unwrap_or(false);
    let parts: Vec<(Vec<usize>, Served)> = match router {
        Router::RoundRobin => (0..r)
            .into_par_iter()
            .map(|k| {
                let members: Vec<usize> = (k..n).step_by(r).collect();
                let pick = |x: &[u64]| members.iter().map(|&i| x[i]).collect::<Vec<u64>>();
                let (input, output) = (pick(requests.input), pick(requests.output));
                let prefilled: Vec<bool> = if requests.prefilled.is_empty() {
                    vec![]
                } else {
                    members.iter().map(|&i| pre(i)).collect()
                };
                let at: Vec<f64> = members.iter().map(|&i| arrival[i]).collect();
                let (prefix_id, prefix_tokens) = if requests.prefix_id.is_empty() {
                    (vec![], vec![])
                } else {
                    (pick(requests.prefix_id), pick(requests.prefix_tokens))
                };
                let req = Requests {
                    input: &input,
                    output: &output,
                    prefilled: &prefilled,
                    prefix_id: &prefix_id,
                    prefix_tokens: &prefix_tokens,
                };
                let s = simulate(req, Arrivals::Open(&at), scheduler, cost, timeline, control)?;
                Ok((members, s))
            })
            .collect::<Result<Vec<_>>>()?,
        Router::LeastLoaded => {
            let mut reps = vec![Replica::empty(scheduler, timeline); r];
            let mut members: Vec<Vec<usize>> = vec![Vec::new(); r];
            // Routing visits every replica per arrival: check about every 2^20 visits.
            let every = ((1u64 << 20) / r as u64).max(1);
            for (i, &a) in arrival.iter().enumerate() {
                let mut best = 0;
                let mut least = usize::MAX;
                for (k, rep) in reps.iter_mut().enumerate() {
                    advance(rep, cost, a, control)?;
                    let q = rep.in_flight_at(a);
                    if q < least {
                        (best, least) = (k, q);
                    }
                }
                reps[best].push(requests.get(i), a);
                members[best].push(i);
                if i as u64 % every == every - 1 {
                    control.checkpoint(1)?;
                }
            }
            // Every arrival is routed: each replica runs to its end on its own.
            reps.into_par_iter()
                .zip(members)
                .map(|(mut rep, m)| {
                    advance(&mut rep, cost, f64::INFINITY, control)?;
                    Ok((m, rep.finish()))
                })
                .collect::<Result<Vec<_>>>()?
        }
    };
    Ok(assemble(n, parts))
}

/// Simulate `requests` arriving at `arrival` on `prefill` replicas that produce each first
/// token, then (for requests of two tokens or more) on `decode` replicas once the prompt's KV
/// cache has moved; both pools use `scheduler` and `router`. The timeline numbers prefill
/// replicas first, then decode ones; `first_token` is the prefill pool's finish.
#[allow(clippy::too_many_arguments)]
pub fn simulate_disaggregated(
    requests: Requests<'_>,
    arrival: &[f64],
    scheduler: Scheduler,
    cost: &StepCost,
    prefill: u64,
    decode: u64,
    router: Router,
    timeline: bool,
    control: &Control,
) -> Result<Pool> {
    if decode == 0 || decode > 1 << 20 {
        return Err(Error::invalid("decode_replicas", decode, "an integer in [1, 2^20]"));
    }
    let (input, output) = (requests.input, requests.output);
    let n = input.len();
    crate::error::same_len("output", output.len(), n)?;
    // The prefill pool: every request, for its first token only.
    let ones = vec![1u64; n];
    let first = Requests { output: &ones, prefilled: &[], ..requests };
    let pre =
        simulate_pool(first, Arrivals::Open(arrival), scheduler, cost, prefill, router, timeline, control)
            .map_err(|e| match e {
                Error::Invalid { field, value, expected } if field == "replicas" => {
                    Error::Invalid { field: "prefill_replicas".into(), value, expected }
                }
                e => e,
            })?;
    let mut out = pre;
    // The decode pool: the rest arrive when their cache has moved, in that order.
    let more: Vec<usize> = (0..n).filter(|&i| output[i] > 1).collect();
    out.served.first_token.clone_from(&out.served.finish);
    if more.is_empty() {
        return Ok(out);
    }
    let prompts: Vec<u64> = more.iter().map(|&i| input[i]).collect();
    let moved = cost.kv_transfer_seconds(&prompts)?;
    let at: Vec<f64> = more.iter().zip(&moved).map(|(&i, m)| out.served.finish[i] + m).collect();
    let mut order: Vec<usize> = (0..more.len()).collect();
    order.sort_by(|&a, &b| at[a].total_cmp(&at[b])); // stable: ties keep request order
    let d_in: Vec<u64> = order.iter().map(|&j| input[more[j]]).collect();
    let d_out: Vec<u64> = order.iter().map(|&j| output[more[j]]).collect();
    let d_at: Vec<f64> = order.iter().map(|&j| at[j]).collect();
    let all = vec![true; order.len()];
    let dec = simulate_pool(
        Requests { input: &d_in, output: &d_out, prefilled: &all, prefix_id: &[], prefix_tokens: &[] },
        Arrivals::Open(&d_at),
        scheduler,
        cost,
        decode,
        router,
        timeline,
        control,
    )
    .map_err(|e| match e {
        Error::Invalid { field, value, expected } if field == "replicas" => {
            Error::Invalid { field: "decode_replicas".into(), value, expected }
        }
        e => e,
    })?;
    let s = &mut out.served;
    for (j, &o) in order.iter().enumerate() {
        let i = more[o];
        s.finish[i] = dec.served.finish[j];
        s.preemptions[i] += dec.served.preemptions[j];
        out.replica[i] = prefill as u32 + dec.replica[j];
    }
    out.it_replica.extend(dec.it_replica.iter().map(|&k| prefill as u32 + k));
    extend(&mut s.iterations, dec.served.iterations);
    s.n_iterations += dec.served.n_iterations;
    s.busy += dec.served.busy;
    s.busy_prefill += dec.served.busy_prefill;
    s.peak_kv_blocks = s.peak_kv_blocks.max(dec.served.peak_kv_blocks);
    s.swapped_tokens += dec.served.swapped_tokens;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serving::{Mix, Policy};

    struct Toy;
    impl IterationCost for Toy {
        fn seconds(&self, m: &Mix) -> f64 {
            1.0 + 0.01 * m.tokens + 1e-4 * m.attended + 1e-5 * m.kv_read
        }
        fn swap_seconds(&self, tokens: u64) -> f64 {
            0.002 * tokens as f64
        }
    }

    fn sched() -> Scheduler {
        Scheduler::new(Policy::Continuous, 4, 200, 4, 60)
    }

    fn workload(n: usize) -> (Vec<u64>, Vec<u64>, Vec<f64>) {
        let input: Vec<u64> = (0..n as u64).map(|i| 3 + (i * 37) % 50).collect();
        let output: Vec<u64> = (0..n as u64).map(|i| 1 + (i * 11) % 23).collect();
        let arrival: Vec<f64> = (0..n).map(|i| (i / 3) as f64 * 0.7).collect();
        (input, output, arrival)
    }

    fn pool(n: usize, replicas: u64, router: Router) -> Pool {
        let (input, output, arrival) = workload(n);
        let req =
            Requests { input: &input, output: &output, prefilled: &[], prefix_id: &[], prefix_tokens: &[] };
        simulate_pool(req, Arrivals::Open(&arrival), sched(), &Toy, replicas, router, true, &Control::new())
            .unwrap()
    }

    #[test]
    fn one_replica_is_the_replica_whatever_the_router() {
        let (input, output, arrival) = workload(40);
        let req =
            Requests { input: &input, output: &output, prefilled: &[], prefix_id: &[], prefix_tokens: &[] };
        let one = simulate(req, Arrivals::Open(&arrival), sched(), &Toy, true, &Control::new()).unwrap();
        for router in [Router::RoundRobin, Router::LeastLoaded] {
            assert_eq!(pool(40, 1, router).served, one);
        }
    }

    #[test]
    fn least_loaded_conserves_work_and_balances_in_flight() {
        let p = pool(60, 3, Router::LeastLoaded);
        let s = &p.served;
        assert!(s.finish.iter().all(|f| f.is_finite()));
        let (input, output, arrival) = workload(60);
        let total: u64 = s.iterations.tokens.iter().sum();
        let once = input.iter().sum::<u64>() + output.iter().map(|o| o - 1).sum::<u64>();
        assert!(total >= once && (s.preemptions.iter().any(|&x| x > 0) || total == once));
        // At each arrival, its replica had the fewest in flight among the earlier requests.
        for (i, &a) in arrival.iter().enumerate() {
            let busy = |k: u32| (0..i).filter(|&j| p.replica[j] == k && s.finish[j] > a).count();
            let mine = busy(p.replica[i]);
            assert!((0..3).all(|k| busy(k) >= mine && (busy(k) > mine || k >= p.replica[i])), "{i}");
        }
        assert_eq!(p.it_replica.len(), s.iterations.start.len());
    }

    /// The toy cost of a replica of `self.0` pipeline stages.
    struct Staged(u64);
    impl IterationCost for Staged {
        fn seconds(&self, m: &Mix) -> f64 {
            Toy.seconds(m)
        }
        fn swap_seconds(&self, tokens: u64) -> f64 {
            Toy.swap_seconds(tokens)
        }
        fn pipeline_depth(&self) -> u64 {
            self.0
        }
    }

    #[test]
    fn a_pipelined_replica_is_its_engines_with_a_share_of_the_cache_each() {
        let (input, output, arrival) = workload(50);
        let req =
            Requests { input: &input, output: &output, prefilled: &[], prefix_id: &[], prefix_tokens: &[] };
        let c = Control::new();
        for router in [Router::RoundRobin, Router::LeastLoaded] {
            for (replicas, depth) in [(1u64, 2u64), (2, 3)] {
                let staged = simulate_pool(
                    req,
                    Arrivals::Open(&arrival),
                    sched(),
                    &Staged(depth),
                    replicas,
                    router,
                    true,
                    &c,
                )
                .unwrap();
                let s = Scheduler { kv_blocks: sched().kv_blocks / depth, ..sched() };
                let flat =
                    engines(req, Arrivals::Open(&arrival), s, &Toy, replicas * depth, router, true, &c)
                        .unwrap();
                let mut want = flat.served.clone();
                want.busy /= depth as f64;
                want.busy_prefill /= depth as f64;
                assert_eq!(staged.served, want);
                let d = depth as u32;
                assert!(staged.replica.iter().zip(&flat.replica).all(|(a, b)| *a == b / d));
                assert!(staged.replica.iter().all(|&r| u64::from(r) < replicas));
            }
        }
        // More engines finish sooner than one replica that runs one iteration at a time.
        let one =
            simulate_pool(req, Arrivals::Open(&arrival), sched(), &Toy, 1, Router::RoundRobin, false, &c)
                .unwrap();
        let two = simulate_pool(
            req,
            Arrivals::Open(&arrival),
            sched(),
            &Staged(2),
            1,
            Router::RoundRobin,
            false,
            &c,
        )
        .unwrap();
        let last = |p: &Pool| p.served.finish.iter().copied().fold(0.0, f64::max);
        assert!(last(&two) < last(&one));
        let closed = Arrivals::Closed { clients: 2, think: 0.0 };
        let e = simulate_pool(req, closed, sched(), &Staged(2), 1, Router::RoundRobin, false, &c);
        assert!(matches!(e, Err(Error::Invalid { field, .. }) if field == "clients"));
    }

    #[test]
    fn round_robin_is_independent_shares_and_closed_loops_refuse_pools() {
        let p = pool(30, 3, Router::RoundRobin);
        assert!((0..30).all(|i| p.replica[i] == (i % 3) as u32));
        let (input, output, _) = workload(4);
        let req =
            Requests { input: &input, output: &output, prefilled: &[], prefix_id: &[], prefix_tokens: &[] };
        let closed = Arrivals::Closed { clients: 2, think: 0.0 };
        let e = simulate_pool(req, closed, sched(), &Toy, 2, Router::LeastLoaded, false, &Control::new());
        assert!(matches!(e, Err(Error::Invalid { field, .. }) if field == "replicas"));
        assert!(Router::parse("random").is_err());
    }
}
