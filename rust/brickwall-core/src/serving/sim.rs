//! The scheduler and event loop of one replica (see the module docs of [`super`]).
//!
//! Each iteration, at time `t`:
//! 1. requests that arrived by `t` join the waiting queue (in index order);
//! 2. running requests, oldest first, take `min(remaining, budget)` tokens (a decode: 1); one
//!    that needs KV blocks when none are free preempts the newest running request (its blocks
//!    freed, its cache dropped, back to the head of the queue) until the blocks are free or it
//!    was itself the newest;
//! 3. if nothing was preempted, waiting requests join, first come first served, while there are
//!    sequence slots, budget and blocks (continuous: whole prompts only; static: only into an
//!    empty batch, reserving blocks for the request's whole length);
//! 4. the iteration lasts [`IterationCost::seconds`] of its [`Mix`]; at its end each request
//!    whose cache caught up with its tokens samples one token, and finished ones free their
//!    blocks. With nothing to run, time jumps to the next arrival.

use std::collections::VecDeque;

use super::workload::MAX_REQUESTS;
use super::{add_run, IterationCost, Mix, NO_WORK};
use crate::control::Control;
use crate::error::{non_negative, Error, Result};

/// Iterations between Ctrl-C checks.
const CHECK_EVERY: u64 = 1 << 8;

/// The batching policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// A new batch only when the running one has finished; blocks reserved for full lengths.
    Static,
    /// Iteration-level batching with whole prompts (Orca, vLLM).
    Continuous,
    /// Iteration-level batching with prompts split to fill the token budget (Sarathi).
    Chunked,
}

impl Policy {
    /// Parse `"static"`, `"continuous"` or `"chunked"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "static" => Ok(Self::Static),
            "continuous" => Ok(Self::Continuous),
            "chunked" => Ok(Self::Chunked),
            _ => Err(Error::invalid("scheduler", s, "one of static, continuous, chunked")),
        }
    }
}

/// Scheduler limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheduler {
    /// The batching policy.
    pub policy: Policy,
    /// Most sequences in one iteration (>= 1).
    pub max_seqs: u64,
    /// Most new tokens in one iteration (>= 1; the chunk budget of [`Policy::Chunked`]).
    pub max_batched_tokens: u64,
    /// Tokens per KV block (>= 1).
    pub block_size: u64,
    /// KV blocks in the replica (see [`super::kv_blocks`]).
    pub kv_blocks: u64,
}

/// The requests: token counts, one per request.
#[derive(Debug, Clone, Copy)]
pub struct Requests<'a> {
    /// Prompt tokens (>= 1).
    pub input: &'a [u64],
    /// Tokens to generate (>= 1).
    pub output: &'a [u64],
    /// Empty, or per request whether it arrives prefilled (a decode pool of a disaggregated
    /// deployment): its prompt's KV cache transferred in and its first token sampled, so it
    /// needs blocks for the prompt at admission and only decodes (`output >= 2`).
    pub prefilled: &'a [bool],
}

/// When requests arrive.
#[derive(Debug, Clone, Copy)]
pub enum Arrivals<'a> {
    /// At these times (seconds, nondecreasing), one per request.
    Open(&'a [f64]),
    /// A closed loop of `clients`: each sends its first request at `t = 0` and its next one
    /// `think` seconds after a request of the loop finishes (requests in index order).
    Closed {
        /// Concurrent clients (>= 1).
        clients: u64,
        /// Seconds between a finish and the next request.
        think: f64,
    },
}

/// Per-iteration timeline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Iterations {
    /// Start, seconds.
    pub start: Vec<f64>,
    /// Duration, seconds.
    pub seconds: Vec<f64>,
    /// Sequences scheduled.
    pub sequences: Vec<u32>,
    /// New tokens processed.
    pub tokens: Vec<u64>,
    /// Of which prefill (prompt chunks and recomputation), the rest being one decode token per
    /// decoding sequence.
    pub prefill_tokens: Vec<u64>,
    /// KV blocks held during the iteration.
    pub kv_blocks: Vec<u64>,
}

/// The simulated run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Served {
    /// Arrival of each request, seconds (the input's, or the closed loop's).
    pub arrival: Vec<f64>,
    /// Start of the first iteration that scheduled it.
    pub scheduled: Vec<f64>,
    /// End of the iteration that produced its first token.
    pub first_token: Vec<f64>,
    /// End of the iteration that produced its last token.
    pub finish: Vec<f64>,
    /// Times it was preempted.
    pub preemptions: Vec<u32>,
    /// The timeline (empty unless asked for).
    pub iterations: Iterations,
    /// Iterations run.
    pub n_iterations: u64,
    /// Seconds the replica was running iterations.
    pub busy: f64,
    /// Sum over iterations of seconds x prefill tokens / tokens: busy time attributable to
    /// prefill by token share.
    pub busy_prefill: f64,
    /// Largest number of KV blocks held at once.
    pub peak_kv_blocks: u64,
}

fn blocks_for(tokens: u64, block_size: u64) -> u64 {
    tokens.div_ceil(block_size)
}

pub(super) fn validate(req: &Requests<'_>, arrivals: &Arrivals<'_>, s: &Scheduler) -> Result<()> {
    let n = req.input.len();
    if n > MAX_REQUESTS {
        return Err(Error::TooLarge {
            what: format!("requests = {n}"),
            detail: format!("at most {MAX_REQUESTS}"),
        });
    }
    crate::error::same_len("output", req.output.len(), n)?;
    if !req.prefilled.is_empty() {
        crate::error::same_len("prefilled", req.prefilled.len(), n)?;
        if let Some(i) = (0..n).find(|&i| req.prefilled[i] && req.output[i] < 2) {
            return Err(Error::invalid(
                format!("output[{i}]"),
                req.output[i],
                ">= 2 for a prefilled request (its first token came with it)",
            ));
        }
    }
    for (f, x) in
        [("max_seqs", s.max_seqs), ("max_batched_tokens", s.max_batched_tokens), ("block_size", s.block_size)]
    {
        if x == 0 {
            return Err(Error::invalid(f, 0, "an integer >= 1"));
        }
    }
    match *arrivals {
        Arrivals::Open(t) => {
            crate::error::same_len("arrival", t.len(), n)?;
            let mut prev = 0.0;
            for (i, &x) in t.iter().enumerate() {
                if !(x.is_finite() && x >= prev) {
                    return Err(Error::invalid(
                        format!("arrival[{i}]"),
                        x,
                        format!("a finite time >= 0 and >= the previous arrival ({prev})"),
                    ));
                }
                prev = x;
            }
        }
        Arrivals::Closed { clients, think } => {
            if clients == 0 {
                return Err(Error::invalid("clients", 0, "an integer >= 1"));
            }
            non_negative("think", think)?;
        }
    }
    let limit = 1u64 << 40;
    for i in 0..n {
        let (a, b) = (req.input[i], req.output[i]);
        if !(1..=limit).contains(&a) {
            return Err(Error::invalid(format!("input[{i}]"), a, format!("an integer in [1, {limit}]")));
        }
        if !(1..=limit).contains(&b) {
            return Err(Error::invalid(format!("output[{i}]"), b, format!("an integer in [1, {limit}]")));
        }
        // The longest prompt it may have to (re)compute: its input and all but its last token.
        let longest = a + b - 1;
        if blocks_for(longest, s.block_size) > s.kv_blocks {
            return Err(Error::invalid(
                "kv_blocks",
                s.kv_blocks,
                format!(
                    "at least {} blocks of {} tokens to hold request {i} ({a} + {b} tokens); fewer never complete it",
                    blocks_for(longest, s.block_size),
                    s.block_size
                ),
            ));
        }
        // Static batching never preempts, so it only ever prefills the input.
        let prompt = if s.policy == Policy::Static { a } else { longest };
        if s.policy != Policy::Chunked && prompt > s.max_batched_tokens {
            return Err(Error::invalid(
                "max_batched_tokens",
                s.max_batched_tokens,
                format!(">= {prompt}, the longest prompt request {i} may (re)compute in one iteration without chunked prefill"),
            ));
        }
    }
    Ok(())
}

/// Mutable state of one request.
#[derive(Clone, Copy)]
struct Req {
    input: u64,
    output: u64,
    /// Tokens whose KV is cached.
    computed: u64,
    /// Tokens generated so far.
    generated: u64,
    /// KV blocks held.
    blocks: u64,
}

/// An iteration's work, summed as it is scheduled. Decodes (one token, the last generated one,
/// at position `p`) are summed as integers - exact, like every sum here below 2^53 - and join
/// the [`Mix`] once at the end.
struct Acc {
    mix: Mix,
    prefill: u64,
    decodes: u64,
    /// Sum over decodes of `p + 1`: what each attends to and holds after the iteration.
    decode_ctx: u64,
}

impl Acc {
    fn mix(&self) -> Mix {
        let (k, ctx) = (self.decodes as f64, self.decode_ctx as f64);
        Mix {
            sequences: self.mix.sequences + k,
            tokens: self.mix.tokens + k,
            attended: self.mix.attended + ctx,
            kv_read: self.mix.kv_read + ctx,
        }
    }
}

/// What an iteration does to a request it schedules, in one pass: the run of `c` tokens joins
/// `acc`; the request's cache grows; a caught-up request samples a token. Returns 1 if it
/// sampled its first token, 2 if its last (a one-token request: 3), else 0.
#[inline(always)]
fn advance(q: &mut Req, c: u64, acc: &mut Acc) -> u8 {
    let tokens = q.input + q.generated;
    let p = q.computed;
    if c == 1 && q.generated > 0 && p + 1 == tokens {
        acc.decodes += 1;
        acc.decode_ctx += p + 1;
    } else {
        add_run(&mut acc.mix, p, c);
        acc.prefill += c;
    }
    q.computed = p + c;
    if q.computed < tokens {
        return 0;
    }
    q.generated += 1;
    u8::from(q.generated == 1) | (u8::from(q.generated == q.output) << 1)
}

/// Simulate `requests` arriving as `arrivals` on one replica under `scheduler`, each iteration
/// priced by `cost`. `timeline` keeps the per-iteration arrays. Checks `control` every few
/// thousand iterations.
pub fn simulate(
    requests: Requests<'_>,
    arrivals: Arrivals<'_>,
    scheduler: Scheduler,
    cost: &impl IterationCost,
    timeline: bool,
    control: &Control,
) -> Result<Served> {
    let mut replica = Replica::new(requests, arrivals, scheduler, timeline)?;
    while replica.step(cost, f64::INFINITY)? {
        if replica.out.n_iterations % CHECK_EVERY == 0 {
            control.checkpoint(CHECK_EVERY)?;
        }
    }
    Ok(replica.finish())
}

/// One replica's state, advanced an iteration at a time ([`Replica::step`]): [`simulate`] runs
/// one to the end; a cluster (`super::cluster`) interleaves several, [`Replica::push`]ing to
/// each the requests routed to it.
#[derive(Clone)]
pub struct Replica {
    s: Scheduler,
    timeline: bool,
    /// A closed loop's think time; None for open arrivals.
    think: Option<f64>,
    reqs: Vec<Req>,
    out: Served,
    free: u64,
    waiting: VecDeque<u32>,
    running: Vec<u32>,
    /// Requests that sampled their first or last token this iteration (flags as `advance`).
    events: Vec<(u32, u8)>,
    /// Requests whose arrival time is known: all, or the closed loop's issued ones.
    issued: usize,
    /// The next request to join the queue.
    next: usize,
    done: usize,
    /// Requests done before the last iteration ran (see [`Replica::in_flight_at`]).
    done_before: usize,
    /// Start of the next iteration (the end of the last one, or an idle jump's arrival).
    t: f64,
}

impl Replica {
    /// A replica holding `requests` (validated with the scheduler and arrivals), at `t = 0`.
    pub fn new(
        requests: Requests<'_>,
        arrivals: Arrivals<'_>,
        scheduler: Scheduler,
        timeline: bool,
    ) -> Result<Self> {
        validate(&requests, &arrivals, &scheduler)?;
        let n = requests.input.len();
        let mut r = Self::empty(scheduler, timeline);
        for i in 0..n {
            let pre = requests.prefilled.get(i).copied().unwrap_or(false);
            let at = match arrivals {
                Arrivals::Open(t) => t[i],
                Arrivals::Closed { .. } => f64::NAN,
            };
            r.push(requests.input[i], requests.output[i], pre, at);
        }
        if let Arrivals::Closed { clients, think } = arrivals {
            // The closed loop's first `clients` arrive at t = 0; the rest when one finishes.
            let k = clients.min(n as u64) as usize;
            r.out.arrival[..k].fill(0.0);
            r.issued = k;
            r.think = Some(think);
        }
        Ok(r)
    }

    /// A replica with no requests yet, at `t = 0`, to push open arrivals to.
    pub fn empty(scheduler: Scheduler, timeline: bool) -> Self {
        Self {
            s: scheduler,
            timeline,
            think: None,
            reqs: Vec::new(),
            out: Served::default(),
            free: scheduler.kv_blocks,
            waiting: VecDeque::new(),
            running: Vec::new(),
            events: Vec::new(),
            issued: 0,
            next: 0,
            done: 0,
            done_before: 0,
            t: 0.0,
        }
    }

    /// Add a request arriving at `arrival` (not before the last one pushed), with `input` and
    /// `output` tokens (`prefilled`: see [`Requests::prefilled`]). The caller validated it
    /// against the scheduler (as [`Replica::new`] does).
    pub fn push(&mut self, input: u64, output: u64, prefilled: bool, arrival: f64) {
        self.reqs.push(Req {
            input,
            output,
            computed: if prefilled { input } else { 0 },
            generated: u64::from(prefilled),
            blocks: 0,
        });
        let o = &mut self.out;
        o.arrival.push(arrival);
        o.scheduled.push(f64::NAN);
        o.first_token.push(f64::NAN);
        o.finish.push(f64::NAN);
        o.preemptions.push(0);
        self.issued += 1;
    }

    /// Start of the next iteration: the end of the last one (or an idle jump's arrival).
    pub fn clock(&self) -> f64 {
        self.t
    }

    /// Requests pushed, arrived by `at` and not finished by `at`, for an `at` no earlier than
    /// the start of the last iteration run (only the last one can end after `at`).
    pub fn in_flight_at(&self, at: f64) -> usize {
        self.issued - if self.t <= at { self.done } else { self.done_before }
    }

    /// The run so far.
    pub fn served(&self) -> &Served {
        &self.out
    }

    /// The run, once every request is done.
    pub fn finish(self) -> Served {
        self.out
    }

    /// Run one iteration if one can start before `until`; false if none can (nothing to run,
    /// or the next would start at or after `until`). Arrivals join before it starts.
    pub fn step(&mut self, cost: &impl IterationCost, until: f64) -> Result<bool> {
        let s = self.s;
        let bs = s.block_size;
        let (out, reqs, waiting, running) =
            (&mut self.out, &mut self.reqs, &mut self.waiting, &mut self.running);
        let (next, issued) = (&mut self.next, self.issued);
        loop {
            while *next < issued && out.arrival[*next] <= self.t {
                waiting.push_back(*next as u32);
                *next += 1;
            }
            if !(running.is_empty() && waiting.is_empty()) {
                break;
            }
            if *next == issued {
                return Ok(false);
            }
            // Nothing to run: jump to the next arrival.
            self.t = out.arrival[*next];
        }
        let t = self.t;
        if t >= until {
            return Ok(false);
        }
        let mut free = self.free;
        let mut issued = issued;
        let events = &mut self.events;
        events.clear();
        self.done_before = self.done;
        let mut acc = Acc { mix: NO_WORK, prefill: 0, decodes: 0, decode_ctx: 0 };
        let mut budget = s.max_batched_tokens;
        let mut preempted = false;
        // Running requests, oldest first. Blocks freed by requests finishing now return after
        // the iteration, so the pass can advance each request as it schedules it.
        let mut i = 0;
        while i < running.len() && budget > 0 {
            let r = running[i] as usize;
            let q = reqs[r];
            let c = (q.input + q.generated - q.computed).min(budget);
            let after = q.computed + c;
            let need = if after > q.blocks * bs { after.div_ceil(bs) - q.blocks } else { 0 };
            if need > free {
                let mut evicted_self = false;
                while need > free {
                    let v = running.pop().expect("the request itself is running") as usize;
                    free += reqs[v].blocks;
                    reqs[v].blocks = 0;
                    reqs[v].computed = 0;
                    out.preemptions[v] += 1;
                    waiting.push_front(v as u32);
                    preempted = true;
                    if v == r {
                        evicted_self = true;
                        break;
                    }
                }
                if evicted_self {
                    break;
                }
            }
            free -= need;
            let q = &mut reqs[r];
            q.blocks += need;
            let e = advance(q, c, &mut acc);
            if e != 0 {
                events.push((r as u32, e));
            }
            budget -= c;
            i += 1;
        }
        // Waiting requests, first come first served.
        if !preempted && (s.policy != Policy::Static || running.is_empty()) {
            while let Some(&w) = waiting.front() {
                let r = w as usize;
                if running.len() as u64 >= s.max_seqs || budget == 0 {
                    break;
                }
                let q = reqs[r];
                // The prompt (with what it generated, after a preemption); a prefilled arrival
                // has it cached already and only decodes.
                let rem = q.input + q.generated - q.computed;
                if s.policy != Policy::Chunked && rem > budget {
                    break;
                }
                let c = rem.min(budget);
                let need = if s.policy == Policy::Static {
                    blocks_for(q.input + q.output - 1, bs)
                } else {
                    blocks_for(q.computed + c, bs).saturating_sub(q.blocks)
                };
                if need > free {
                    break;
                }
                waiting.pop_front();
                running.push(w);
                free -= need;
                if out.scheduled[r].is_nan() {
                    out.scheduled[r] = t;
                }
                let q = &mut reqs[r];
                q.blocks += need;
                let e = advance(q, c, &mut acc);
                if e != 0 {
                    events.push((w, e));
                }
                budget -= c;
            }
        }
        let (mix, prefill) = (acc.mix(), acc.prefill);
        if mix.sequences == 0.0 {
            // Unreachable when `validate` passed (the oldest running request, or the head of the
            // queue on an idle replica, always fits); an error rather than a hang if not.
            return Err(Error::invalid(
                "scheduler",
                format!("{s:?}"),
                "limits under which some request can run",
            ));
        }
        let dt = cost.seconds(&mix);
        let end = t + dt;
        let held = s.kv_blocks - free;
        out.peak_kv_blocks = out.peak_kv_blocks.max(held);
        if self.timeline {
            let it = &mut out.iterations;
            it.start.push(t);
            it.seconds.push(dt);
            it.sequences.push(mix.sequences as u32);
            it.tokens.push(mix.tokens as u64);
            it.prefill_tokens.push(prefill);
            it.kv_blocks.push(held);
        }
        out.busy += dt;
        out.busy_prefill += dt * (prefill as f64 / mix.tokens);
        let mut finished_any = false;
        for &(r, e) in events.iter() {
            let r = r as usize;
            if e & 1 != 0 {
                out.first_token[r] = end;
            }
            if e & 2 != 0 {
                out.finish[r] = end;
                free += reqs[r].blocks;
                reqs[r].blocks = 0;
                finished_any = true;
                self.done += 1;
                if let Some(think) = self.think {
                    if issued < reqs.len() {
                        out.arrival[issued] = end + think;
                        issued += 1;
                    }
                }
            }
        }
        if finished_any {
            let finish = &out.finish;
            running.retain(|&r| finish[r as usize].is_nan());
        }
        self.t = end;
        self.free = free;
        self.issued = issued;
        out.n_iterations += 1;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy cost: a fixed overhead plus per-token and per-attended terms, so tests can reason
    /// about times by hand.
    struct Toy;
    impl IterationCost for Toy {
        fn seconds(&self, m: &Mix) -> f64 {
            1.0 + 0.01 * m.tokens + 1e-4 * m.attended + 1e-5 * m.kv_read
        }
    }

    fn sched(policy: Policy, kv_blocks: u64) -> Scheduler {
        Scheduler { policy, max_seqs: 8, max_batched_tokens: 64, block_size: 4, kv_blocks }
    }

    fn run(input: &[u64], output: &[u64], arrival: &[f64], s: Scheduler) -> Served {
        simulate(
            Requests { input, output, prefilled: &[] },
            Arrivals::Open(arrival),
            s,
            &Toy,
            true,
            &Control::new(),
        )
        .unwrap()
    }

    #[test]
    fn a_lone_request_prefills_then_decodes() {
        let s = run(&[10], &[3], &[5.0], sched(Policy::Continuous, 100));
        let prefill = Toy.seconds(&Mix { sequences: 1.0, tokens: 10.0, attended: 55.0, kv_read: 10.0 });
        let d1 = Toy.seconds(&Mix { sequences: 1.0, tokens: 1.0, attended: 11.0, kv_read: 11.0 });
        let d2 = Toy.seconds(&Mix { sequences: 1.0, tokens: 1.0, attended: 12.0, kv_read: 12.0 });
        assert_eq!(s.first_token[0], 5.0 + prefill);
        assert_eq!(s.finish[0], 5.0 + prefill + d1 + d2);
        assert_eq!(s.iterations.tokens, vec![10, 1, 1]);
        assert_eq!(s.iterations.prefill_tokens, vec![10, 0, 0]);
        assert_eq!(s.iterations.kv_blocks, vec![3, 3, 3]);
    }

    #[test]
    fn every_policy_completes_everything_even_under_preemption() {
        let input: Vec<u64> = (0..40).map(|i| 3 + (i * 7) % 20).collect();
        let output: Vec<u64> = (0..40).map(|i| 1 + (i * 5) % 17).collect();
        let arrival: Vec<f64> = (0..40).map(|i| i as f64 * 0.3).collect();
        for policy in [Policy::Static, Policy::Continuous, Policy::Chunked] {
            for blocks in [10, 30, 1000] {
                let s = run(&input, &output, &arrival, sched(policy, blocks));
                assert!(s.finish.iter().all(|f| f.is_finite()));
                assert!(s.iterations.kv_blocks.iter().all(|&b| b <= blocks));
                // Every prompt token and every output token but the last is processed once, plus
                // what preemption recomputes.
                let total: u64 = s.iterations.tokens.iter().sum();
                let once = input.iter().sum::<u64>() + output.iter().map(|o| o - 1).sum::<u64>();
                let preempted = s.preemptions.iter().any(|&p| p > 0);
                assert!(
                    total >= once && (preempted || total == once),
                    "{policy:?} {blocks}: {total} vs {once}"
                );
                for i in 0..40 {
                    assert!(s.arrival[i] <= s.scheduled[i] && s.scheduled[i] < s.first_token[i]);
                    assert!(s.first_token[i] <= s.finish[i]);
                }
                if policy == Policy::Static {
                    assert!(s.preemptions.iter().all(|&p| p == 0));
                }
            }
        }
    }

    #[test]
    fn tiny_caches_preempt_and_static_waits_for_the_batch() {
        let input = [8u64; 6];
        let output = [20u64; 6];
        let arrival = [0.0; 6];
        let s = run(&input, &output, &arrival, sched(Policy::Continuous, 14));
        assert!(s.preemptions.iter().sum::<u32>() > 0);
        let st = run(&input, &output, &arrival, sched(Policy::Static, 14));
        // 7 blocks per request reserved: two at a time, three batches.
        let starts: Vec<f64> = st.scheduled.clone();
        assert_eq!(starts[0], starts[1]);
        assert!(starts[2] > starts[1] && starts[2] == st.finish[0].max(st.finish[1]));
    }

    #[test]
    fn chunked_prefill_splits_prompts_to_the_budget() {
        let mut s = sched(Policy::Chunked, 1000);
        s.max_batched_tokens = 16;
        let r = run(&[40], &[2], &[0.0], s);
        assert_eq!(r.iterations.tokens, vec![16, 16, 8, 1]);
        assert_eq!(r.iterations.prefill_tokens, vec![16, 16, 8, 0]);
    }

    #[test]
    fn closed_loop_issues_on_finish() {
        let input = [4u64; 5];
        let output = [2u64; 5];
        let s = simulate(
            Requests { input: &input, output: &output, prefilled: &[] },
            Arrivals::Closed { clients: 2, think: 0.5 },
            sched(Policy::Continuous, 100),
            &Toy,
            false,
            &Control::new(),
        )
        .unwrap();
        assert_eq!(&s.arrival[..2], &[0.0, 0.0]);
        assert_eq!(s.arrival[2], s.finish[0] + 0.5);
        assert!(s.finish.iter().all(|f| f.is_finite()));
    }

    #[test]
    fn prefilled_requests_only_decode_and_hold_their_prompt() {
        let s = simulate(
            Requests { input: &[10], output: &[3], prefilled: &[true] },
            Arrivals::Open(&[1.0]),
            sched(Policy::Continuous, 100),
            &Toy,
            true,
            &Control::new(),
        )
        .unwrap();
        assert_eq!(s.iterations.tokens, vec![1, 1]);
        assert_eq!(s.iterations.prefill_tokens, vec![0, 0]);
        assert_eq!(s.iterations.kv_blocks, vec![3, 3]);
        assert!(s.first_token[0].is_nan() && s.finish[0].is_finite());
        let bad = simulate(
            Requests { input: &[10], output: &[1], prefilled: &[true] },
            Arrivals::Open(&[1.0]),
            sched(Policy::Continuous, 100),
            &Toy,
            true,
            &Control::new(),
        );
        assert!(matches!(bad, Err(Error::Invalid { field, .. }) if field == "output[0]"));
    }

    proptest::proptest! {
        /// Over random workloads and limits: every request completes after it arrived, in causal
        /// order; the cache never overflows; the work is every prompt and every output token but
        /// the last, plus only what preemption made it recompute; static batching never preempts.
        #[test]
        fn random_runs_conserve_work(
            reqs in proptest::collection::vec((1u64..60, 1u64..20, 0.0f64..0.5), 1..30),
            policy in proptest::sample::select(vec![Policy::Static, Policy::Continuous, Policy::Chunked]),
            max_seqs in 1u64..8,
            block_size in 1u64..9,
            spare in 0u64..40,
            budget in 1u64..100,
        ) {
            let input: Vec<u64> = reqs.iter().map(|r| r.0).collect();
            let output: Vec<u64> = reqs.iter().map(|r| r.1).collect();
            let arrival: Vec<f64> = reqs.iter().scan(0.0, |t, r| { *t += r.2; Some(*t) }).collect();
            let longest = input.iter().zip(&output).map(|(a, b)| a + b - 1).max().unwrap();
            let kv_blocks = longest.div_ceil(block_size) + spare;
            let max_batched_tokens = if policy == Policy::Chunked { budget } else { longest + budget };
            let s = Scheduler { policy, max_seqs, max_batched_tokens, block_size, kv_blocks };
            let r = simulate(Requests { input: &input, output: &output, prefilled: &[] }, Arrivals::Open(&arrival), s, &Toy, true, &Control::new()).unwrap();
            for i in 0..input.len() {
                proptest::prop_assert!(r.arrival[i] <= r.scheduled[i] && r.scheduled[i] < r.first_token[i] && r.first_token[i] <= r.finish[i]);
            }
            proptest::prop_assert!(r.iterations.kv_blocks.iter().all(|&b| b <= kv_blocks));
            proptest::prop_assert!(r.iterations.sequences.iter().all(|&q| u64::from(q) <= max_seqs));
            proptest::prop_assert!(r.iterations.tokens.iter().all(|&t| t <= max_batched_tokens));
            let total: u64 = r.iterations.tokens.iter().sum();
            let once = input.iter().sum::<u64>() + output.iter().map(|o| o - 1).sum::<u64>();
            let preempted = r.preemptions.iter().any(|&p| p > 0);
            proptest::prop_assert!(total >= once && (preempted || total == once));
            proptest::prop_assert!(policy != Policy::Static || !preempted);
            for w in r.iterations.start.windows(2) {
                proptest::prop_assert!(w[0] < w[1]);
            }
        }
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let e = |input: &[u64], output: &[u64], arrival: &[f64], s: Scheduler| match simulate(
            Requests { input, output, prefilled: &[] },
            Arrivals::Open(arrival),
            s,
            &Toy,
            false,
            &Control::new(),
        ) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(e(&[1, 2], &[1, 1], &[1.0, 0.5], sched(Policy::Continuous, 10)), "arrival[1]");
        assert_eq!(e(&[0], &[1], &[0.0], sched(Policy::Continuous, 10)), "input[0]");
        assert_eq!(e(&[40], &[1], &[0.0], sched(Policy::Continuous, 5)), "kv_blocks");
        assert_eq!(e(&[100], &[1], &[0.0], sched(Policy::Continuous, 100)), "max_batched_tokens");
        let mut s = sched(Policy::Chunked, 10);
        s.max_seqs = 0;
        assert_eq!(e(&[1], &[1], &[0.0], s), "max_seqs");
    }
}
