//! The scheduler and event loop of one replica (see the module docs of [`super`]).
//!
//! Each iteration, at time `t`:
//! 1. requests that arrived by `t` join the waiting queue (in index order);
//! 2. running requests, oldest first, take `min(remaining, budget)` tokens (a decode: 1, or
//!    `1 + g` to verify `g` draft tokens under speculation); one that needs KV blocks when none
//!    are free first evicts unreferenced cached prefixes (least recently released first), then
//!    preempts the newest running request (its blocks freed; recompute drops its cache, swap
//!    moves it to host memory; back to the head of the queue) until the blocks are free or it
//!    was itself the newest;
//! 3. if nothing was preempted, waiting requests join, first come first served, while there are
//!    sequence slots, budget and blocks (continuous: whole prompts only; static: only into an
//!    empty batch, reserving blocks for the request's whole length). A fresh request whose
//!    prefix is cached skips those tokens and shares the prefix's blocks; a swapped one comes
//!    back (its cache moved in from host memory);
//! 4. the iteration lasts [`IterationCost::seconds`] of its [`Mix`], plus the draft model's
//!    steps under speculation and the host transfers of swapped caches (assumed not overlapped
//!    with compute); at its end each request whose cache caught up with its tokens samples one
//!    token (a verification emits its expected tokens), a request that computed its prefix
//!    makes it resident for others, and finished ones free their blocks. With nothing to run,
//!    time jumps to the next arrival.

use std::collections::{HashMap, VecDeque};

use super::workload::MAX_REQUESTS;
use super::{add_run, IterationCost, Memo, Mix, NO_WORK};
use crate::control::Control;
use crate::error::{non_negative, Error, Result};

/// Work between Ctrl-C checks: request visits (a walked request, a draft step of one, an
/// iteration), so that a check comes every few milliseconds whatever the batch.
const CHECK_WORK: u64 = 1 << 20;

/// Longest timeline kept (iterations; 44 bytes each): a longer run needs `timeline = false`.
pub const MAX_TIMELINE: usize = 1 << 24;

/// Latest time a closed loop may issue a request, seconds: where a float64 still resolves
/// microseconds (the bound open arrivals have too).
pub const MAX_TIME: f64 = 8_589_934_592.0;

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

/// What preemption does with the victim's KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preemption {
    /// Drop it; the request recomputes its prompt and generated tokens when it resumes.
    Recompute,
    /// Move it to host memory ([`IterationCost::swap_seconds`]) and back before it resumes.
    /// Host memory is assumed large enough for every swapped cache.
    Swap,
}

impl Preemption {
    /// Parse `"recompute"` or `"swap"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "recompute" => Ok(Self::Recompute),
            "swap" => Ok(Self::Swap),
            _ => Err(Error::invalid("preemption", s, "one of recompute, swap")),
        }
    }
}

/// Longest draft a [`Speculation`] may verify.
pub const MAX_DRAFT: usize = 32;

/// Speculative decoding: every decode verifies up to `draft_tokens` drafted tokens per sequence
/// (fewer when the budget or the request's remaining output is smaller) and emits the expected
/// number of accepted tokens - deterministically: a request carries the fractional part of its
/// expected tokens forward, emitting `floor(carry + expected[g])` and keeping the rest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speculation {
    /// Draft length `k` (1..=[`MAX_DRAFT`]).
    pub draft_tokens: u64,
    /// `expected[g]`: expected tokens a verification of `g` drafts emits, for `g` in `0..=k`
    /// (the speculative module's closed form; `expected[0] = 1`, `1 <= expected[g] <= g + 1`).
    pub expected: [f64; MAX_DRAFT + 1],
}

/// Scheduler limits and options.
#[derive(Debug, Clone, Copy, PartialEq)]
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
    /// Keep the full blocks of shared prefixes resident for requests that carry the same
    /// prefix ([`Requests::prefix_id`]).
    pub prefix_cache: bool,
    /// What preemption does with the victim's cache.
    pub preemption: Preemption,
    /// Speculative decoding, if any.
    pub speculation: Option<Speculation>,
}

impl Scheduler {
    /// A scheduler without prefix caching or speculation, preempting by recomputation.
    pub fn new(
        policy: Policy,
        max_seqs: u64,
        max_batched_tokens: u64,
        block_size: u64,
        kv_blocks: u64,
    ) -> Self {
        Self {
            policy,
            max_seqs,
            max_batched_tokens,
            block_size,
            kv_blocks,
            prefix_cache: false,
            preemption: Preemption::Recompute,
            speculation: None,
        }
    }
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
    /// Empty, or per request the id of the shared prefix its prompt starts with (requests with
    /// the same id share their first `prefix_tokens`).
    pub prefix_id: &'a [u64],
    /// Empty, or per request the length of that prefix (0: none; < input; the same for every
    /// request of an id). Only its full KV blocks are cached.
    pub prefix_tokens: &'a [u64],
}

/// One request of [`Requests`], as a replica receives it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request {
    /// Prompt tokens.
    pub input: u64,
    /// Tokens to generate.
    pub output: u64,
    /// Whether it arrives prefilled ([`Requests::prefilled`]).
    pub prefilled: bool,
    /// Its shared prefix's id and length (0: none; [`Requests::prefix_id`]).
    pub prefix_id: u64,
    /// See [`Requests::prefix_tokens`].
    pub prefix_tokens: u64,
}

impl Requests<'_> {
    /// Request `i`.
    pub fn get(&self, i: usize) -> Request {
        Request {
            input: self.input[i],
            output: self.output[i],
            prefilled: self.prefilled.get(i).copied().unwrap_or(false),
            prefix_id: self.prefix_id.get(i).copied().unwrap_or(0),
            prefix_tokens: self.prefix_tokens.get(i).copied().unwrap_or(0),
        }
    }
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
    /// Of which prefill (prompt chunks and recomputation), the rest being decode tokens (one
    /// per decoding sequence, or `1 + g` per verification of `g` drafts).
    pub prefill_tokens: Vec<u64>,
    /// KV blocks held during the iteration (by requests and by cached prefixes).
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
    /// Prompt tokens it took from the prefix cache instead of prefilling (over its admissions).
    pub cached: Vec<u64>,
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
    /// Tokens of KV cache moved to and from host memory by swap preemption (both directions).
    pub swapped_tokens: u64,
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
    if !req.prefix_id.is_empty() || !req.prefix_tokens.is_empty() {
        crate::error::same_len("prefix_id", req.prefix_id.len(), n)?;
        crate::error::same_len("prefix_tokens", req.prefix_tokens.len(), n)?;
        let mut seen: HashMap<u64, u64> = HashMap::new();
        for i in 0..n {
            let (id, len) = (req.prefix_id[i], req.prefix_tokens[i]);
            if len == 0 {
                continue;
            }
            if len >= req.input[i] {
                return Err(Error::invalid(
                    format!("prefix_tokens[{i}]"),
                    len,
                    format!(
                        "< input = {} (a shared prefix leaves at least one token to prefill)",
                        req.input[i]
                    ),
                ));
            }
            if let Some(&l) = seen.get(&id) {
                if l != len {
                    return Err(Error::invalid(
                        format!("prefix_tokens[{i}]"),
                        len,
                        format!("{l}, the length prefix {id} has in an earlier request"),
                    ));
                }
            } else {
                seen.insert(id, len);
            }
        }
    }
    for (f, x) in
        [("max_seqs", s.max_seqs), ("max_batched_tokens", s.max_batched_tokens), ("block_size", s.block_size)]
    {
        if x == 0 {
            return Err(Error::invalid(f, 0, "an integer >= 1"));
        }
    }
    if let Some(sp) = s.speculation {
        if !(1..=MAX_DRAFT as u64).contains(&sp.draft_tokens) {
            return Err(Error::invalid(
                "draft_tokens",
                sp.draft_tokens,
                format!("an integer in [1, {MAX_DRAFT}]"),
            ));
        }
        for g in 0..=sp.draft_tokens as usize {
            let e = sp.expected[g];
            let hi = if g == 0 { 1.0 } else { g as f64 + 1.0 };
            if !(e.is_finite() && (1.0..=hi).contains(&e)) {
                return Err(Error::invalid(
                    format!("expected_tokens[{g}]"),
                    e,
                    format!("a number in [1, {hi}]"),
                ));
            }
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

/// No prefix.
const NONE: u32 = u32::MAX;

/// Mutable state of one request.
#[derive(Clone, Copy)]
struct Req {
    input: u64,
    output: u64,
    /// Tokens whose KV is cached (shared prefix included).
    computed: u64,
    /// Tokens generated so far.
    generated: u64,
    /// KV blocks held privately.
    blocks: u64,
    /// Its prefix (an index into the prefix table), or [`NONE`].
    prefix: u32,
    /// Whether it holds a reference to its prefix's resident blocks (which then count as its
    /// first blocks).
    shared: bool,
    /// Whether its cache is in host memory (swap preemption).
    swapped: bool,
    /// Fractional expected tokens carried between verifications.
    carry: f64,
    /// Whether it is running (admitted, not finished, not preempted since).
    running: bool,
    /// Its admission's number: the running requests' order, oldest first.
    seq: u64,
    /// The iteration from which it is parked (see [`Replica`]), or [`NOT_PARKED`]; while parked,
    /// `computed` and `generated` are as of that iteration.
    park: u64,
    /// The iteration a parked request wakes: it samples its last token (or needs a block, when
    /// its blocks cannot be counted by `residue`).
    wake: u64,
    /// A parked request takes a block at the iterations `it` with `it % block_size == residue`
    /// ([`Parked::cross`]), or [`NO_RESIDUE`].
    residue: u32,
}

/// [`Req::residue`] of a request whose blocks are not counted while it is parked.
const NO_RESIDUE: u32 = u32::MAX;

/// [`Req::park`] of a request that is not parked.
const NOT_PARKED: u64 = u64::MAX;

/// A shared prefix.
#[derive(Clone, Copy)]
struct Prefix {
    /// Its full blocks: what is cached and shared.
    blocks: u64,
    resident: bool,
    /// Running requests holding it.
    refs: u32,
    /// When it was last released (an increasing counter; the LRU order).
    stamp: u64,
}

/// The prefix cache: resident prefixes, and those no request holds in least-recently-released
/// order (stale entries skipped lazily).
#[derive(Clone)]
struct Cache {
    prefixes: Vec<Prefix>,
    lru: VecDeque<(u32, u64)>,
    /// Blocks of resident prefixes no request holds (evictable).
    evictable: u64,
    clock: u64,
}

impl Cache {
    /// Blocks of `q`'s prefix while it shares them.
    #[inline(always)]
    fn shared_blocks(&self, q: &Req) -> u64 {
        if q.shared {
            self.prefixes[q.prefix as usize].blocks
        } else {
            0
        }
    }

    fn acquire(&mut self, x: u32) {
        let p = &mut self.prefixes[x as usize];
        if p.refs == 0 {
            self.evictable -= p.blocks;
        }
        p.refs += 1;
    }

    fn release(&mut self, x: u32) {
        let p = &mut self.prefixes[x as usize];
        p.refs -= 1;
        if p.refs == 0 {
            self.clock += 1;
            p.stamp = self.clock;
            self.lru.push_back((x, self.clock));
            self.evictable += p.blocks;
        }
    }

    /// Evict the least recently released unheld prefix; its blocks.
    fn evict(&mut self) -> u64 {
        while let Some((x, stamp)) = self.lru.pop_front() {
            let p = &mut self.prefixes[x as usize];
            if p.resident && p.refs == 0 && p.stamp == stamp {
                p.resident = false;
                self.evictable -= p.blocks;
                return p.blocks;
            }
        }
        unreachable!("evict is called only while evictable > 0")
    }
}

/// An iteration's work, summed as it is scheduled. Decodes (one token, the last generated one,
/// at position `p`) are summed as integers - exact, like every sum here below 2^53 - and join
/// the [`Mix`] once at the end.
#[derive(Clone)]
struct Acc {
    mix: Mix,
    prefill: u64,
    decodes: u64,
    /// Sum over decodes of `p + 1`: what each attends to and holds after the iteration.
    decode_ctx: u64,
    /// Under speculation, per draft step `j`: sequences drafting and the sum of their `p + j + 1`.
    draft_seqs: [u64; MAX_DRAFT],
    draft_ctx: [u64; MAX_DRAFT],
    /// Draft steps this iteration (the longest draft).
    drafts: usize,
}

impl Acc {
    fn new() -> Self {
        Self {
            mix: NO_WORK,
            prefill: 0,
            decodes: 0,
            decode_ctx: 0,
            draft_seqs: [0; MAX_DRAFT],
            draft_ctx: [0; MAX_DRAFT],
            drafts: 0,
        }
    }

    /// Empty again, for the next iteration (only the draft steps used are cleared).
    fn clear(&mut self) {
        self.draft_seqs[..self.drafts].fill(0);
        self.draft_ctx[..self.drafts].fill(0);
        (self.mix, self.prefill, self.decodes, self.decode_ctx, self.drafts) = (NO_WORK, 0, 0, 0, 0);
    }

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

/// Tokens an iteration with `budget` left runs for a request whose cache holds `start` tokens:
/// the rest of its prompt up to the budget, or a decode (with speculation, the last token and
/// up to `k` drafts - no more than the budget or the tokens it still needs).
#[inline(always)]
fn run_len(q: &Req, start: u64, budget: u64, spec: &Option<Speculation>) -> u64 {
    let rem = q.input + q.generated - start;
    if rem == 1 && q.generated > 0 {
        if let Some(sp) = spec {
            return 1 + sp.draft_tokens.min(budget - 1).min(q.output - q.generated - 1);
        }
    }
    rem.min(budget)
}

/// What an iteration does to a request it schedules, in one pass: the run of `c` tokens joins
/// `acc`; the request's cache grows; a caught-up request samples a token (a verification its
/// expected tokens). Returns 1 if it sampled its first token, 2 if its last (both: 3), else 0.
#[inline(always)]
fn advance(q: &mut Req, c: u64, acc: &mut Acc, spec: &Option<Speculation>) -> u8 {
    let tokens = q.input + q.generated;
    let p = q.computed;
    if q.generated > 0 && p + 1 == tokens {
        // A decode of the last token, verifying `c - 1` drafts.
        let e = match spec {
            None => {
                acc.decodes += 1;
                acc.decode_ctx += p + 1;
                1
            }
            Some(sp) => {
                let g = (c - 1) as usize;
                if g == 0 {
                    acc.decodes += 1;
                    acc.decode_ctx += p + 1;
                } else {
                    add_run(&mut acc.mix, p, c);
                }
                for j in 0..g {
                    acc.draft_seqs[j] += 1;
                    acc.draft_ctx[j] += p + j as u64 + 1;
                }
                acc.drafts = acc.drafts.max(g);
                let x = q.carry + sp.expected[g];
                let e = x.floor();
                q.carry = x - e;
                (e as u64).min(q.output - q.generated)
            }
        };
        q.computed = p + e;
        q.generated += e;
        return u8::from(q.generated == q.output) << 1;
    }
    add_run(&mut acc.mix, p, c);
    acc.prefill += c;
    q.computed = p + c;
    if q.computed < tokens {
        return 0;
    }
    q.generated += 1;
    u8::from(q.generated == 1) | (u8::from(q.generated == q.output) << 1)
}

/// Whether a request just scheduled holds a private copy of its prefix: if the prefix is not
/// resident at the iteration's end, that copy becomes the resident one.
#[inline(always)]
fn computes_prefix(q: &Req, cache: &Cache, bs: u64) -> bool {
    q.prefix != NONE && !q.shared && q.computed >= cache.prefixes[q.prefix as usize].blocks * bs
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
        replica.check(control)?;
    }
    Ok(replica.finish())
}

/// One replica's state, advanced an iteration at a time ([`Replica::step`]): [`simulate`] runs
/// one to the end; a cluster (`super::cluster`) interleaves several, [`Replica::push`]ing to
/// each the requests routed to it.
///
/// Most running requests, most iterations, are plain decodes: one token within the blocks they
/// hold, far from their last. Such a request is *parked* from the iteration after it becomes one
/// until the iteration it wakes (it needs a block, or samples its last token): its decodes are
/// summed into [`Parked`] in O(1) per iteration instead of being walked, and the walk visits only
/// the *active* requests. That is exact while every running request gets its tokens (the
/// iteration's token budget covers them all); an iteration where it does not unparks everyone
/// and walks them all, oldest first.
#[derive(Clone)]
pub struct Replica {
    s: Scheduler,
    timeline: bool,
    /// A closed loop's think time; None for open arrivals.
    think: Option<f64>,
    reqs: Vec<Req>,
    out: Served,
    /// Prefixes with at least one full block, numbered by first appearance.
    cache: Cache,
    ids: HashMap<u64, u32>,
    free: u64,
    waiting: VecDeque<u32>,
    /// Running requests oldest first, with finished ones left in place until compacted.
    order: Vec<u32>,
    /// Running requests.
    live: usize,
    /// Running requests not parked, oldest first.
    active: Vec<u32>,
    parked: Parked,
    /// Admissions so far (the next [`Req::seq`]).
    admitted: u64,
    acc: Acc,
    memo: Memo,
    /// Whether plain decodes park (off only to test that parking changes nothing).
    parking: bool,
    /// Requests that sampled their first or last token this iteration (flags as `advance`).
    events: Vec<(u32, u8)>,
    /// Requests that computed their (not yet resident) prefix this iteration.
    computed_prefix: Vec<u32>,
    /// Scratch: requests woken this iteration.
    woken: Vec<u32>,
    /// Requests whose arrival time is known: all, or the closed loop's issued ones.
    issued: usize,
    /// The next request to join the queue.
    next: usize,
    done: usize,
    /// Requests done before the last iteration ran (see [`Replica::in_flight_at`]).
    done_before: usize,
    /// Start of the next iteration (the end of the last one, or an idle jump's arrival).
    t: f64,
    /// Work since the last Ctrl-C check ([`CHECK_WORK`]).
    work: u64,
}

/// Iterations ahead a request may park: wakes go in a ring of this many buckets. A longer run
/// wakes early and parks again. Small, as every replica with running requests holds a ring.
const RING: u64 = 64;

/// Largest block size whose block crossings are counted per residue ([`Parked::cross`]);
/// beyond it a parked request wakes when it needs a block (rarely: every `block_size` tokens).
const MAX_RESIDUES: u64 = 64;

/// The parked requests: when each wakes, their decodes summed, and the blocks they take.
#[derive(Clone)]
struct Parked {
    /// Bucket `w % RING`: requests that wake at iteration `w`; entries of requests unparked
    /// early are stale (their `park` or `wake` no longer match) and skipped.
    ring: Vec<Vec<u32>>,
    n: u64,
    /// Sum over parked requests of `computed + 1 - park` (as of parking): at iteration `it`
    /// their decodes attend `ctx + n it` positions in all.
    ctx: i64,
    /// Per residue `x` of the block size, the parked requests that take a block at iterations
    /// `it` with `it % block_size == x`: those whose decode then crosses into a new block (a
    /// decode at a cached length that is a multiple of the block size). Empty for block sizes
    /// over [`MAX_RESIDUES`].
    cross: Vec<u32>,
    /// The block size, the length `cross` takes at the first park.
    residues: u64,
}

impl Parked {
    /// None parked; the ring and the residues are allocated at the first park (a pool may hold
    /// a replica per request).
    fn new(block_size: u64) -> Self {
        Self { ring: Vec::new(), n: 0, ctx: 0, cross: Vec::new(), residues: block_size }
    }

    /// Park request `r` from iteration `park` if it stays a plain decode there: `held` blocks
    /// (its own and a shared prefix's) of `bs` tokens; false if it wakes at once.
    fn add(&mut self, q: &mut Req, r: u32, park: u64, held: u64, bs: u64) -> bool {
        if self.ring.is_empty() {
            self.ring = vec![Vec::new(); RING as usize];
            self.cross = vec![0; if self.residues <= MAX_RESIDUES { self.residues as usize } else { 0 }];
        }
        // Tokens until its cache needs a block, and decodes before its last.
        let (room, left) = (held * bs - q.computed, q.output - q.generated - 1);
        let counted = room < bs && !self.cross.is_empty();
        let lazy = if counted { left } else { left.min(room) }.min(RING - 1);
        if lazy == 0 {
            return false;
        }
        (q.park, q.wake) = (park, park + lazy);
        self.ring[(q.wake % RING) as usize].push(r);
        self.n += 1;
        self.ctx += q.computed as i64 + 1 - park as i64;
        q.residue = if counted {
            // Its cache fills a block after `room` decodes and every `bs` after that.
            let x = ((park + room) % bs) as u32;
            self.cross[x as usize] += 1;
            x
        } else {
            NO_RESIDUE
        };
        true
    }

    /// Blocks the parked requests take at iteration `it`.
    #[inline]
    fn crossing(&self, it: u64) -> u64 {
        if self.cross.is_empty() {
            0
        } else {
            u64::from(self.cross[(it % self.cross.len() as u64) as usize])
        }
    }

    /// Unpark `q`, its counts brought up to the start of iteration `it`: `k` decodes since it
    /// parked, and the blocks they filled (`shared` of them its prefix's).
    fn remove(&mut self, q: &mut Req, it: u64, bs: u64, shared: u64) {
        let k = it - q.park;
        self.ctx -= q.computed as i64 + 1 - q.park as i64;
        self.n -= 1;
        q.computed += k;
        q.generated += k;
        q.park = NOT_PARKED;
        if q.residue != NO_RESIDUE {
            self.cross[q.residue as usize] -= 1;
            q.blocks = q.blocks.max(q.computed.div_ceil(bs) - shared);
            q.residue = NO_RESIDUE;
        }
    }

    /// Unpark the requests due at iteration `it` into `woken`, in admission order.
    fn wake(&mut self, it: u64, reqs: &mut [Req], cache: &Cache, bs: u64, woken: &mut Vec<u32>) {
        let mut bucket = std::mem::take(&mut self.ring[(it % RING) as usize]);
        for &r in bucket.iter() {
            let q = &mut reqs[r as usize];
            if q.park != NOT_PARKED && q.wake == it {
                self.remove(q, it, bs, cache.shared_blocks(q));
                woken.push(r);
            }
        }
        bucket.clear();
        self.ring[(it % RING) as usize] = bucket;
        woken.sort_unstable_by_key(|&r| reqs[r as usize].seq);
    }

    /// Free the ring and the residues of a replica with nothing parked.
    fn release(&mut self) {
        debug_assert!(self.n == 0);
        (self.ring, self.cross) = (Vec::new(), Vec::new());
    }

    /// Unpark every running request of `order` as of iteration `it`.
    fn clear(&mut self, it: u64, order: &[u32], reqs: &mut [Req], cache: &Cache, bs: u64) {
        for &r in order {
            let q = &mut reqs[r as usize];
            if q.running && q.park != NOT_PARKED {
                self.remove(q, it, bs, cache.shared_blocks(q));
            }
        }
        self.ring.iter_mut().for_each(Vec::clear);
        debug_assert!(self.n == 0 && self.ctx == 0 && self.cross.iter().all(|&c| c == 0));
    }
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
            let at = match arrivals {
                Arrivals::Open(t) => t[i],
                Arrivals::Closed { .. } => f64::NAN,
            };
            r.push(requests.get(i), at);
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
            cache: Cache { prefixes: Vec::new(), lru: VecDeque::new(), evictable: 0, clock: 0 },
            ids: HashMap::new(),
            free: scheduler.kv_blocks,
            waiting: VecDeque::new(),
            order: Vec::new(),
            live: 0,
            active: Vec::new(),
            parked: Parked::new(scheduler.block_size),
            admitted: 0,
            acc: Acc::new(),
            memo: Memo::default(),
            parking: true,
            events: Vec::new(),
            computed_prefix: Vec::new(),
            woken: Vec::new(),
            issued: 0,
            next: 0,
            done: 0,
            done_before: 0,
            t: 0.0,
            work: 0,
        }
    }

    /// Add a request arriving at `arrival` (not before the last one pushed). The caller
    /// validated it against the scheduler (as [`Replica::new`] does).
    pub fn push(&mut self, q: Request, arrival: f64) {
        let (s, bs) = (self.s, self.s.block_size);
        let full = q.prefix_tokens / bs;
        let prefix = if s.prefix_cache && full > 0 {
            let cache = &mut self.cache;
            *self.ids.entry(q.prefix_id).or_insert_with(|| {
                cache.prefixes.push(Prefix { blocks: full, resident: false, refs: 0, stamp: 0 });
                (cache.prefixes.len() - 1) as u32
            })
        } else {
            NONE
        };
        self.reqs.push(Req {
            input: q.input,
            output: q.output,
            computed: if q.prefilled { q.input } else { 0 },
            generated: u64::from(q.prefilled),
            blocks: 0,
            prefix,
            shared: false,
            swapped: false,
            carry: 0.0,
            running: false,
            seq: 0,
            park: NOT_PARKED,
            wake: 0,
            residue: NO_RESIDUE,
        });
        let o = &mut self.out;
        o.arrival.push(arrival);
        o.scheduled.push(f64::NAN);
        o.first_token.push(f64::NAN);
        o.finish.push(f64::NAN);
        o.preemptions.push(0);
        o.cached.push(0);
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

    /// Check `control` (Ctrl-C) when enough work has run since the last check.
    pub fn check(&mut self, control: &Control) -> Result<()> {
        if self.work >= CHECK_WORK {
            self.work = 0;
            control.checkpoint(1)?;
        }
        Ok(())
    }

    /// Run one iteration if one can start before `until` (or a stretch of quiet ones: see
    /// [`Replica::quiet`]); false if none can (nothing to run, or the next would start at or
    /// after `until`). Arrivals join before it starts.
    pub fn step(&mut self, cost: &impl IterationCost, until: f64) -> Result<bool> {
        if self.timeline && self.out.iterations.start.len() >= MAX_TIMELINE {
            return Err(Error::TooLarge {
                what: format!("a timeline of more than {MAX_TIMELINE} iterations"),
                detail: "simulate with timeline = false (the per-request results need none)".into(),
            });
        }
        self.work += 1;
        loop {
            while self.next < self.issued && self.out.arrival[self.next] <= self.t {
                self.waiting.push_back(self.next as u32);
                self.next += 1;
            }
            if !(self.live == 0 && self.waiting.is_empty()) {
                break;
            }
            if self.next == self.issued {
                return Ok(false);
            }
            // Nothing to run: jump to the next arrival.
            self.t = self.out.arrival[self.next];
        }
        if self.quiet(cost, until) > 0 {
            return Ok(true);
        }
        let t = self.t;
        if t >= until {
            return Ok(false);
        }
        let it = self.out.n_iterations;
        let Self {
            s,
            out,
            reqs,
            waiting,
            order,
            active,
            parked,
            cache,
            acc,
            events,
            computed_prefix,
            woken,
            ..
        } = self;
        let s = &*s;
        let (bs, spec) = (s.block_size, &s.speculation);
        let swap = s.preemption == Preemption::Swap;
        let mut free = self.free;
        let mut live = self.live;
        let mut issued = self.issued;
        events.clear();
        computed_prefix.clear();
        acc.clear();
        self.done_before = self.done;
        // Parked requests due now join the active ones, in admission order.
        woken.clear();
        if parked.n > 0 {
            parked.wake(it, reqs, cache, bs, woken);
        }
        if !woken.is_empty() {
            merge_by_seq(active, woken, reqs);
        }
        let mut budget = s.max_batched_tokens;
        if parked.n > 0 {
            // Parked requests decode unseen; that is exact when every running request gets its
            // tokens and its blocks (then neither the order nor preemption comes into it).
            let (mut demand, mut need) = (parked.n, parked.crossing(it));
            for &r in active.iter() {
                let q = &reqs[r as usize];
                let c = run_len(q, q.computed, u64::MAX, spec);
                demand = demand.saturating_add(c);
                let held = q.blocks + cache.shared_blocks(q);
                need += (q.computed + c).div_ceil(bs).saturating_sub(held);
            }
            if demand <= budget && need <= free {
                budget -= parked.n;
                free -= parked.crossing(it);
            } else {
                // Walk them all, oldest first.
                parked.clear(it, order, reqs, cache, bs);
                active.clear();
                active.extend(order.iter().copied().filter(|&r| reqs[r as usize].running));
            }
        }
        let mut preempted = false;
        let mut swapped: u64 = 0;
        // Active requests, oldest first. Blocks freed by requests finishing now return after the
        // iteration, so the pass can advance each request as it schedules it.
        let mut i = 0;
        while i < active.len() && budget > 0 {
            let r = active[i] as usize;
            // The common case first: a plain decode within the blocks it holds (what the general
            // path below does for it, without its branches).
            let q = &mut reqs[r];
            if !q.running {
                // Preempted earlier in this pass.
                i += 1;
                continue;
            }
            if spec.is_none()
                && q.generated > 0
                && q.computed + 1 == q.input + q.generated
                && q.computed < (q.blocks + cache.shared_blocks(q)) * bs
            {
                acc.decodes += 1;
                acc.decode_ctx += q.computed + 1;
                q.computed += 1;
                q.generated += 1;
                if q.generated == q.output {
                    events.push((r as u32, 2));
                }
                if s.prefix_cache && computes_prefix(q, cache, bs) {
                    computed_prefix.push(r as u32);
                }
                budget -= 1;
                i += 1;
                continue;
            }
            let q = *q;
            let c = run_len(&q, q.computed, budget, spec);
            // Blocks it must add (a division only when it crosses into a new block).
            let (after, held) = (q.computed + c, q.blocks + cache.shared_blocks(&q));
            let need = if after > held * bs { blocks_for(after, bs) - held } else { 0 };
            if need > free {
                let mut evicted_self = false;
                while need > free {
                    if cache.evictable > 0 {
                        free += cache.evict();
                        continue;
                    }
                    // The newest running request (finished ones are left in `order`).
                    let v = loop {
                        let v = order.pop().expect("the request itself is running") as usize;
                        if reqs[v].running {
                            break v;
                        }
                    };
                    let qv = &mut reqs[v];
                    debug_assert!(qv.park == NOT_PARKED, "a walk that preempts has unparked all");
                    qv.running = false;
                    live -= 1;
                    free += qv.blocks;
                    qv.blocks = 0;
                    if qv.shared {
                        qv.shared = false;
                        cache.release(qv.prefix);
                    }
                    if swap {
                        swapped += qv.computed;
                        qv.swapped = qv.computed > 0;
                    } else {
                        qv.computed = 0;
                    }
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
            let e = advance(q, c, acc, spec);
            if e != 0 {
                events.push((r as u32, e));
            }
            if s.prefix_cache && computes_prefix(q, cache, bs) {
                computed_prefix.push(r as u32);
            }
            budget -= c;
            i += 1;
        }
        self.work += i as u64 * (1 + spec.map_or(0, |sp| sp.draft_tokens));
        // Waiting requests, first come first served.
        if !preempted && (s.policy != Policy::Static || live == 0) {
            while let Some(&w) = waiting.front() {
                let r = w as usize;
                if live as u64 >= s.max_seqs || budget == 0 {
                    break;
                }
                let q = reqs[r];
                // A fresh (or recomputing) request whose prefix is resident starts after it.
                let hit = q.prefix != NONE && q.computed == 0 && cache.prefixes[q.prefix as usize].resident;
                let (start, held) = if hit {
                    let b = cache.prefixes[q.prefix as usize].blocks;
                    (b * bs, b)
                } else {
                    (q.computed, 0)
                };
                // The prompt (with what it generated, after a preemption); a prefilled or
                // swapped request has its cache and may only decode.
                let rem = q.input + q.generated - start;
                if s.policy != Policy::Chunked && rem > budget {
                    break;
                }
                let c = run_len(&q, start, budget, spec);
                let need = if s.policy == Policy::Static {
                    blocks_for(q.input + q.output - 1, bs) - held
                } else {
                    blocks_for(start + c, bs).saturating_sub(q.blocks + held)
                };
                // Unheld cached prefixes give way, but not the one it is about to share.
                let spare = if hit && cache.prefixes[q.prefix as usize].refs == 0 { held } else { 0 };
                if need > free + (cache.evictable - spare) {
                    break;
                }
                waiting.pop_front();
                order.push(w);
                active.push(w);
                live += 1;
                let q = &mut reqs[r];
                q.running = true;
                q.seq = self.admitted;
                self.admitted += 1;
                if hit {
                    cache.acquire(q.prefix);
                    q.shared = true;
                    q.computed = start;
                    out.cached[r] += start;
                }
                while need > free {
                    free += cache.evict();
                }
                free -= need;
                q.blocks += need;
                if q.swapped {
                    swapped += q.computed;
                    q.swapped = false;
                }
                if out.scheduled[r].is_nan() {
                    out.scheduled[r] = t;
                }
                let e = advance(q, c, acc, spec);
                if e != 0 {
                    events.push((w, e));
                }
                if s.prefix_cache && computes_prefix(q, cache, bs) {
                    computed_prefix.push(w);
                }
                budget -= c;
            }
        }
        // The parked requests' decodes: one token each at positions `computed + 1` of now.
        acc.decodes += parked.n;
        acc.decode_ctx += (parked.ctx + parked.n as i64 * it as i64) as u64;
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
        let mut dt = cost.seconds_memo(&mix, &mut self.memo);
        for j in 0..acc.drafts {
            let (k, ctx) = (acc.draft_seqs[j] as f64, acc.draft_ctx[j] as f64);
            dt += cost.draft_seconds(&Mix { sequences: k, tokens: k, attended: ctx, kv_read: ctx });
        }
        if swapped > 0 {
            dt += cost.swap_seconds(swapped);
            out.swapped_tokens += swapped;
        }
        let end = t + dt;
        out.record(self.timeline, t, dt, &mix, prefill, s.kv_blocks - free);
        // Prefixes computed now become resident: their blocks move from the request to the cache.
        for &r in computed_prefix.iter() {
            let q = &mut reqs[r as usize];
            let p = &mut cache.prefixes[q.prefix as usize];
            if !p.resident {
                p.resident = true;
                p.refs = 1;
                q.blocks -= p.blocks;
                q.shared = true;
            }
        }
        for &(r, e) in events.iter() {
            let r = r as usize;
            if e & 1 != 0 {
                out.first_token[r] = end;
            }
            if e & 2 != 0 {
                out.finish[r] = end;
                let q = &mut reqs[r];
                free += q.blocks;
                q.blocks = 0;
                if q.shared {
                    q.shared = false;
                    cache.release(q.prefix);
                }
                q.running = false;
                live -= 1;
                self.done += 1;
                if let Some(think) = self.think {
                    if issued < reqs.len() {
                        let at = end + think;
                        if at.is_nan() || at > MAX_TIME {
                            return Err(Error::invalid(
                                "think",
                                format!("{think:e}"),
                                format!("seconds that keep the closed loop's requests issued within {MAX_TIME} s (2^33, where times resolve microseconds): request {issued} would arrive at {at:.4e} s"),
                            ));
                        }
                        out.arrival[issued] = at;
                        issued += 1;
                    }
                }
            }
        }
        if order.len() > 2 * live + 64 {
            order.retain(|&r| reqs[r as usize].running);
        }
        if live == 0 {
            // Idle: hand the ring back (a least-loaded pool holds many replicas at once).
            parked.release();
        }
        // Requests that will be plain decodes park from the next iteration until they wake.
        let (next, parking) = (it + 1, self.parking);
        active.retain(|&r| {
            let q = &mut reqs[r as usize];
            if !q.running {
                return false;
            }
            if !parking
                || spec.is_some()
                || q.generated == 0
                || q.computed + 1 != q.input + q.generated
                || (q.prefix != NONE && !q.shared)
            {
                return true;
            }
            !parked.add(q, r, next, q.blocks + cache.shared_blocks(q), bs)
        });
        self.t = end;
        self.free = free;
        self.live = live;
        self.issued = issued;
        out.n_iterations += 1;
        Ok(true)
    }
}

impl Replica {
    /// Run the quiet iterations from now, if any; how many. An iteration is quiet when the only
    /// running requests are parked, none is due to wake, nothing arrives by its start, and their
    /// tokens and blocks are free: quiet iterations differ only in their positions, so they are
    /// priced without a walk (what [`Replica::step`] would do, and the same numbers).
    fn quiet(&mut self, cost: &impl IterationCost, until: f64) -> u64 {
        let (parked, out) = (&self.parked, &mut self.out);
        if !(self.active.is_empty() && self.waiting.is_empty())
            || parked.n == 0
            || parked.n > self.s.max_batched_tokens
        {
            return 0;
        }
        let n = parked.n as f64;
        let residues = parked.cross.len() as u64;
        let mut phase = if residues > 0 { out.n_iterations % residues } else { 0 };
        let mut ran = 0;
        loop {
            let (it, t) = (out.n_iterations, self.t);
            if t >= until
                || (self.timeline && out.iterations.start.len() >= MAX_TIMELINE)
                || !parked.ring[(it % RING) as usize].is_empty()
                || (self.next < self.issued && out.arrival[self.next] <= t)
            {
                break;
            }
            let cross = if residues > 0 { u64::from(parked.cross[phase as usize]) } else { 0 };
            if cross > self.free {
                break;
            }
            self.free -= cross;
            phase = if phase + 1 == residues { 0 } else { phase + 1 };
            let ctx = (parked.ctx + parked.n as i64 * it as i64) as u64 as f64;
            let mix = Mix { sequences: n, tokens: n, attended: ctx, kv_read: ctx };
            let dt = cost.seconds_memo(&mix, &mut self.memo);
            out.record(self.timeline, t, dt, &mix, 0, self.s.kv_blocks - self.free);
            self.t = t + dt;
            self.done_before = self.done;
            out.n_iterations += 1;
            self.work += 1;
            ran += 1;
        }
        ran
    }
}

impl Served {
    /// Account an iteration of `dt` seconds from `t` running `mix` (`prefill` of its tokens)
    /// while `held` KV blocks are held.
    #[inline(always)]
    fn record(&mut self, timeline: bool, t: f64, dt: f64, mix: &Mix, prefill: u64, held: u64) {
        self.peak_kv_blocks = self.peak_kv_blocks.max(held);
        if timeline {
            let it = &mut self.iterations;
            it.start.push(t);
            it.seconds.push(dt);
            it.sequences.push(mix.sequences as u32);
            it.tokens.push(mix.tokens as u64);
            it.prefill_tokens.push(prefill);
            it.kv_blocks.push(held);
        }
        self.busy += dt;
        self.busy_prefill += dt * (prefill as f64 / mix.tokens);
    }
}

/// Merge `woken` (in admission order) into `active` (in admission order).
fn merge_by_seq(active: &mut Vec<u32>, woken: &[u32], reqs: &[Req]) {
    let seq = |r: u32| reqs[r as usize].seq;
    if active.last().is_none_or(|&a| seq(a) < seq(woken[0])) {
        active.extend_from_slice(woken);
        return;
    }
    let mut merged = Vec::with_capacity(active.len() + woken.len());
    let (mut a, mut w) = (active.iter().peekable(), woken.iter().peekable());
    while let (Some(&&x), Some(&&y)) = (a.peek(), w.peek()) {
        if seq(x) < seq(y) {
            merged.push(x);
            a.next();
        } else {
            merged.push(y);
            w.next();
        }
    }
    merged.extend(a);
    merged.extend(w);
    *active = merged;
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
        fn draft_seconds(&self, m: &Mix) -> f64 {
            0.1 + 0.001 * m.tokens
        }
        fn swap_seconds(&self, tokens: u64) -> f64 {
            0.002 * tokens as f64
        }
    }

    fn sched(policy: Policy, kv_blocks: u64) -> Scheduler {
        Scheduler::new(policy, 8, 64, 4, kv_blocks)
    }

    fn run(input: &[u64], output: &[u64], arrival: &[f64], s: Scheduler) -> Served {
        simulate(
            Requests { input, output, prefilled: &[], prefix_id: &[], prefix_tokens: &[] },
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
            Requests { input: &input, output: &output, prefilled: &[], prefix_id: &[], prefix_tokens: &[] },
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
            Requests { input: &[10], output: &[3], prefilled: &[true], prefix_id: &[], prefix_tokens: &[] },
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
            Requests { input: &[10], output: &[1], prefilled: &[true], prefix_id: &[], prefix_tokens: &[] },
            Arrivals::Open(&[1.0]),
            sched(Policy::Continuous, 100),
            &Toy,
            true,
            &Control::new(),
        );
        assert!(matches!(bad, Err(Error::Invalid { field, .. }) if field == "output[0]"));
    }

    fn expected(alpha: f64, k: u64) -> Speculation {
        // The closed form E[g] = (1 - alpha^(g+1)) / (1 - alpha) (Leviathan et al. 2023, eq. 1).
        let mut expected = [1.0; MAX_DRAFT + 1];
        for (g, e) in expected.iter_mut().enumerate().take(k as usize + 1) {
            *e = if alpha == 0.0 { 1.0 } else { (1.0 - alpha.powi(g as i32 + 1)) / (1.0 - alpha) };
        }
        Speculation { draft_tokens: k, expected }
    }

    fn run_with(
        input: &[u64],
        output: &[u64],
        arrival: &[f64],
        ids: &[u64],
        lens: &[u64],
        s: Scheduler,
    ) -> Served {
        simulate(
            Requests { input, output, prefilled: &[], prefix_id: ids, prefix_tokens: lens },
            Arrivals::Open(arrival),
            s,
            &Toy,
            true,
            &Control::new(),
        )
        .unwrap()
    }

    #[test]
    fn a_resident_prefix_skips_exactly_its_full_blocks() {
        // Spaced out: each request finds the first one's prefix resident (20 tokens: 5 blocks).
        let (input, output) = ([30u64; 4], [3u64; 4]);
        let arrival = [0.0, 100.0, 200.0, 300.0];
        let mut s = sched(Policy::Continuous, 100);
        s.prefix_cache = true;
        let r = run_with(&input, &output, &arrival, &[7; 4], &[22; 4], s);
        assert_eq!(r.cached, vec![0, 20, 20, 20]);
        assert_eq!(r.iterations.prefill_tokens.iter().sum::<u64>(), 30 + 3 * 10);
        // The hit's prefill attends over the cached tokens: 10 new tokens after 20.
        let hit =
            Toy.seconds(&Mix { sequences: 1.0, tokens: 10.0, attended: 10.0 * 20.0 + 55.0, kv_read: 30.0 });
        assert_eq!(r.first_token[1], 100.0 + hit);
        // The prefix stays resident between requests (5 blocks held while idle ones are free).
        let off = run_with(&input, &output, &arrival, &[7; 4], &[22; 4], sched(Policy::Continuous, 100));
        assert_eq!(off.cached, vec![0; 4]);
        assert_eq!(off.iterations.tokens.iter().sum::<u64>(), r.iterations.tokens.iter().sum::<u64>() + 60);
        // Too little memory for two: the cached prefix is evicted, not a request preempted.
        let mut small = sched(Policy::Continuous, 9);
        small.prefix_cache = true;
        let r = run_with(&[30, 30], &[3, 3], &[0.0, 100.0], &[1, 2], &[22, 22], small);
        assert_eq!(r.preemptions, vec![0, 0]);
        assert!(r.finish.iter().all(|f| f.is_finite()));
    }

    #[test]
    fn swap_keeps_the_cache_and_charges_the_transfers() {
        let input = [8u64; 6];
        let output = [20u64; 6];
        let arrival = [0.0; 6];
        let mut s = sched(Policy::Continuous, 14);
        s.preemption = Preemption::Swap;
        let r = run(&input, &output, &arrival, s);
        assert!(r.preemptions.iter().sum::<u32>() > 0 && r.swapped_tokens > 0);
        assert!(r.finish.iter().all(|f| f.is_finite()));
        // Nothing is recomputed: every prompt token and every output token but the last, once.
        let total: u64 = r.iterations.tokens.iter().sum();
        assert_eq!(total, 6 * 8 + 6 * 19);
    }

    #[test]
    fn speculation_at_zero_acceptance_emits_one_token_per_verification() {
        let mut s = sched(Policy::Continuous, 100);
        s.speculation = Some(expected(0.0, 4));
        let r = run(&[10], &[7], &[0.0], s);
        // Prefill, then 6 verifications of min(4, tokens still needed - 1) drafts.
        assert_eq!(r.iterations.tokens, vec![10, 5, 5, 4, 3, 2, 1]);
        assert_eq!(r.iterations.prefill_tokens, vec![10, 0, 0, 0, 0, 0, 0]);
        // A verification of 4 drafts: the target on 5 tokens and 4 draft steps.
        let verify =
            Toy.seconds(&Mix { sequences: 1.0, tokens: 5.0, attended: 5.0 * 10.0 + 15.0, kv_read: 15.0 });
        let verify = (0..4).fold(verify, |t, j| {
            t + Toy.draft_seconds(&Mix {
                sequences: 1.0,
                tokens: 1.0,
                attended: 11.0 + j as f64,
                kv_read: 11.0 + j as f64,
            })
        });
        assert_eq!(r.iterations.seconds[1], verify);
        // Acceptance 1: each verification emits all its drafts and one more.
        s.speculation = Some(expected(1.0 - 1e-12, 4));
        let r = run(&[10], &[7], &[0.0], s);
        assert_eq!(r.iterations.tokens, vec![10, 5, 1]);
    }

    /// Every field of two runs, bit for bit (NaN included).
    fn same_run(a: &Served, b: &Served) -> bool {
        let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let (x, y) = (&a.iterations, &b.iterations);
        [
            (&a.arrival, &b.arrival),
            (&a.scheduled, &b.scheduled),
            (&a.first_token, &b.first_token),
            (&a.finish, &b.finish),
            (&x.start, &y.start),
            (&x.seconds, &y.seconds),
        ]
        .iter()
        .all(|(p, q)| bits(p) == bits(q))
            && (a.preemptions == b.preemptions && a.cached == b.cached)
            && (x.sequences == y.sequences && x.tokens == y.tokens)
            && (x.prefill_tokens == y.prefill_tokens && x.kv_blocks == y.kv_blocks)
            && (a.busy.to_bits(), a.busy_prefill.to_bits()) == (b.busy.to_bits(), b.busy_prefill.to_bits())
            && (a.n_iterations, a.peak_kv_blocks, a.swapped_tokens)
                == (b.n_iterations, b.peak_kv_blocks, b.swapped_tokens)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        /// Parking plain decodes changes nothing, bit for bit: over long outputs (parks that
        /// wrap the wake ring and outlast it), caches tight enough to preempt, token budgets
        /// that do not cover every request, shared prefixes, swap, prefilled arrivals, closed
        /// loops and every policy.
        #[test]
        fn parking_is_exact(
            reqs in proptest::collection::vec((1u64..50, 1u64..700, 0.0f64..0.3, 0u64..3, proptest::bool::ANY), 1..25),
            policy in proptest::sample::select(vec![Policy::Static, Policy::Continuous, Policy::Chunked]),
            max_seqs in 1u64..12,
            block_size in proptest::sample::select(vec![1u64, 3, 16, 64, 65, 5000]),
            spare in 0u64..300,
            budget in 1u64..80,
            swap in proptest::bool::ANY,
            prefix_cache in proptest::bool::ANY,
            closed in proptest::option::of(1u64..5),
        ) {
            let input: Vec<u64> = reqs.iter().map(|r| r.0 + 20).collect();
            let output: Vec<u64> = reqs.iter().map(|r| r.1).collect();
            let arrival: Vec<f64> = reqs.iter().scan(0.0, |t, r| { *t += r.2; Some(*t) }).collect();
            let ids: Vec<u64> = reqs.iter().map(|r| r.3).collect();
            let lens: Vec<u64> = reqs.iter().map(|r| 7 * r.3).collect();
            let prefilled: Vec<bool> = reqs.iter().map(|r| r.4 && r.1 >= 2).collect();
            let longest = input.iter().zip(&output).map(|(a, b)| a + b - 1).max().unwrap();
            let kv_blocks = longest.div_ceil(block_size) + spare / block_size.min(16);
            let max_batched_tokens = if policy == Policy::Chunked { budget } else { longest + budget };
            let mut s = Scheduler::new(policy, max_seqs, max_batched_tokens, block_size, kv_blocks);
            s.preemption = if swap { Preemption::Swap } else { Preemption::Recompute };
            s.prefix_cache = prefix_cache;
            let req = Requests { input: &input, output: &output, prefilled: &prefilled, prefix_id: &ids, prefix_tokens: &lens };
            let arrivals = match closed {
                Some(clients) => Arrivals::Closed { clients, think: 0.05 },
                None => Arrivals::Open(&arrival),
            };
            let run = |parking: bool| {
                let mut r = Replica::new(req, arrivals, s, true).unwrap();
                r.parking = parking;
                while r.step(&Toy, f64::INFINITY).unwrap() {}
                r.finish()
            };
            let (parked, walked) = (run(true), run(false));
            proptest::prop_assert!(same_run(&parked, &walked));
        }
    }

    proptest::proptest! {
        /// Prefix caching, swap preemption and speculation over random workloads: everything
        /// completes in causal order within the cache; a cache with no prefix shared is no cache;
        /// swap recomputes nothing; work is conserved.
        #[test]
        fn random_runs_with_options_conserve_work(
            reqs in proptest::collection::vec((1u64..60, 1u64..20, 0.0f64..0.5, 0u64..3, 0u64..30), 1..30),
            policy in proptest::sample::select(vec![Policy::Static, Policy::Continuous, Policy::Chunked]),
            max_seqs in 1u64..8,
            block_size in 1u64..9,
            spare in 0u64..40,
            budget in 1u64..100,
            swap in proptest::bool::ANY,
            spec in proptest::option::of((1u64..6, 0.0f64..0.95)),
        ) {
            let input: Vec<u64> = reqs.iter().map(|r| r.0 + 30).collect();
            let output: Vec<u64> = reqs.iter().map(|r| r.1).collect();
            let arrival: Vec<f64> = reqs.iter().scan(0.0, |t, r| { *t += r.2; Some(*t) }).collect();
            let ids: Vec<u64> = reqs.iter().map(|r| r.3).collect();
            let lens: Vec<u64> = reqs.iter().map(|r| 10 * r.3).collect();
            let longest = input.iter().zip(&output).map(|(a, b)| a + b - 1).max().unwrap();
            let kv_blocks = longest.div_ceil(block_size) + spare;
            let max_batched_tokens = if policy == Policy::Chunked { budget } else { longest + budget };
            let mut s = Scheduler::new(policy, max_seqs, max_batched_tokens, block_size, kv_blocks);
            s.preemption = if swap { Preemption::Swap } else { Preemption::Recompute };
            s.speculation = spec.map(|(k, a)| expected(a, k));
            let plain = run_with(&input, &output, &arrival, &ids, &lens, s);
            s.prefix_cache = true;
            let r = run_with(&input, &output, &arrival, &ids, &lens, s);
            for i in 0..input.len() {
                proptest::prop_assert!(r.arrival[i] <= r.scheduled[i] && r.scheduled[i] < r.first_token[i] && r.first_token[i] <= r.finish[i]);
            }
            proptest::prop_assert!(r.iterations.kv_blocks.iter().all(|&b| b <= kv_blocks));
            proptest::prop_assert!(r.iterations.tokens.iter().all(|&t| t <= max_batched_tokens));
            let total: u64 = r.iterations.tokens.iter().sum();
            let prefill: u64 = r.iterations.prefill_tokens.iter().sum();
            let cached: u64 = r.cached.iter().sum();
            let prompts: u64 = input.iter().sum();
            let recomputed = r.preemptions.iter().any(|&p| p > 0) && !swap;
            proptest::prop_assert!(prefill + cached >= prompts && (recomputed || prefill + cached == prompts));
            if spec.is_none() {
                let once = prompts + output.iter().map(|o| o - 1).sum::<u64>();
                proptest::prop_assert!(total + cached >= once && (recomputed || total + cached == once));
            }
            // Distinct ids share nothing: the same run as without a cache (unless a preempted
            // request finds its own prefix still cached when it resumes).
            let distinct: Vec<u64> = (0..input.len() as u64).collect();
            let with = run_with(&input, &output, &arrival, &distinct, &lens, s);
            proptest::prop_assume!(plain.preemptions.iter().all(|&p| p == 0));
            proptest::prop_assert_eq!(&with.finish, &plain.finish);
            proptest::prop_assert_eq!(&with.iterations.tokens, &plain.iterations.tokens);
            proptest::prop_assert_eq!(&with.preemptions, &plain.preemptions);
            proptest::prop_assert!(with.cached.iter().all(|&c| c == 0));
        }
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
            let s = Scheduler::new(policy, max_seqs, max_batched_tokens, block_size, kv_blocks);
            let r = simulate(Requests { input: &input, output: &output, prefilled: &[], prefix_id: &[], prefix_tokens: &[] }, Arrivals::Open(&arrival), s, &Toy, true, &Control::new()).unwrap();
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
            Requests { input, output, prefilled: &[], prefix_id: &[], prefix_tokens: &[] },
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
