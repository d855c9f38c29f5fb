//! Pipeline-parallel schedules as per-device op orders, simulated as a dependency DAG.
//!
//! A pipeline of `p` devices runs `m` microbatches. With `v` chunks per device (interleaved
//! 1F1B), device `d` holds chunk `c` as virtual stage `c * p + d`. Ops are F (forward), B
//! (backward; input-gradient only when the schedule splits off W) and W (weight gradient).
//!
//! Dependencies: `F(s, j)` after `F(s-1, j)`; `B(s, j)` after `F(s, j)` and `B(s+1, j)`; `W(s, j)`
//! after `B(s, j)`; a hop between devices adds the p2p latency. Each device runs its ops in its
//! order, one at a time; an op starts as soon as its device is free and its inputs have arrived.
//! The result is the longest path of that DAG (reference/FORMULAS.md s3), computed exactly: every
//! op's start is a `max` of finished times plus latencies, its end is `start + duration`.
//!
//! Times are seconds. Per-stage arrays have length 1 (every stage), `p` (per device, divided
//! evenly over the `v` chunks) or `p * v` (per virtual stage). Schedules that do not split the
//! backward (GPipe, 1F1B, interleaved) run B and W fused as one op of time `b + w`.

use rayon::prelude::*;

use crate::control::Control;
use crate::error::{non_negative, Error, Result};

/// The schedules modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// All forwards, then all backwards (Huang et al. 2019).
    GPipe,
    /// One-forward-one-backward with `p - 1 - d` warm-up forwards on device `d` (PipeDream-flush).
    OneFOneB,
    /// Megatron's interleaved 1F1B over `v` chunks per device (Narayanan et al. 2021).
    Interleaved,
    /// Zero Bubble H1 (Qi et al. 2024): 1F1B's memory, W deferred `d` steps on device `d`.
    ZbH1,
    /// Zero Bubble H2: `2(p-d)-1` warm-up forwards (memory up to `2p-1` microbatches) and W
    /// deferred `ceil(sum_{s<d} b_s / w_d)` steps on device `d`, so the W's left at the tail cover
    /// the backward chain to the head. With `m < 2p` it falls back to ZB-H1's order. With uniform
    /// stages and `w <= min(f, b)` it is never slower than ZB-H1 (tested, not proven).
    ZbH2,
    /// Forward only (inference): every device runs `F_0 .. F_{m-1}`.
    Forward,
}

impl Schedule {
    /// The names accepted by [`Schedule::parse`].
    pub const NAMES: [&'static str; 6] = ["gpipe", "1f1b", "interleaved-1f1b", "zb-h1", "zb-h2", "forward"];

    /// Parse a user-facing name (see [`Schedule::NAMES`]).
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "gpipe" => Self::GPipe,
            "1f1b" => Self::OneFOneB,
            "interleaved-1f1b" => Self::Interleaved,
            "zb-h1" => Self::ZbH1,
            "zb-h2" => Self::ZbH2,
            "forward" => Self::Forward,
            _ => return Err(Error::invalid("schedule", name, format!("one of {}", Self::NAMES.join(", ")))),
        })
    }

    /// The user-facing name.
    pub fn name(self) -> &'static str {
        match self {
            Self::GPipe => "gpipe",
            Self::OneFOneB => "1f1b",
            Self::Interleaved => "interleaved-1f1b",
            Self::ZbH1 => "zb-h1",
            Self::ZbH2 => "zb-h2",
            Self::Forward => "forward",
        }
    }

    /// Whether W runs as its own op.
    pub fn splits_backward(self) -> bool {
        matches!(self, Self::ZbH1 | Self::ZbH2)
    }
}

/// What an op computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Forward of one microbatch through one virtual stage.
    F = 0,
    /// Backward (input gradient; the whole backward when W is not split off).
    B = 1,
    /// Weight gradient.
    W = 2,
}

/// One op in a device's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    /// F, B or W.
    pub kind: Kind,
    /// Microbatch index in `0..m`.
    pub microbatch: u32,
    /// Chunk index in `0..v` (0 unless interleaved).
    pub chunk: u32,
}

impl Op {
    fn new(kind: Kind, microbatch: usize, chunk: usize) -> Self {
        Self { kind, microbatch: microbatch as u32, chunk: chunk as u32 }
    }
}

/// A pipeline to simulate. Times in seconds; see the module docs for array lengths.
#[derive(Debug, Clone, Copy)]
pub struct Pipeline<'a> {
    /// Which schedule.
    pub schedule: Schedule,
    /// Devices `p >= 1`.
    pub stages: usize,
    /// Microbatches `m >= 1`.
    pub microbatches: usize,
    /// Chunks per device `v >= 1` (only interleaved uses `v > 1`).
    pub chunks: usize,
    /// Forward time of one microbatch.
    pub forward: &'a [f64],
    /// Backward time (input gradient when `weight_grad` is given); zeros for `Forward`.
    pub backward: &'a [f64],
    /// Weight-gradient time, if the backward is split.
    pub weight_grad: Option<&'a [f64]>,
    /// Seconds added to every hop between devices.
    pub p2p: f64,
}

/// Largest number of ops one simulation may hold (about 60 bytes each while it runs).
pub const MAX_OPS: usize = 1 << 24;

/// Per-virtual-stage durations after validation.
struct Durations {
    f: Vec<f64>,
    b: Vec<f64>,
    w: Vec<f64>,
    split: bool,
}

fn expand(field: &str, times: &[f64], p: usize, v: usize) -> Result<Vec<f64>> {
    if let Some(i) = times.iter().position(|t| !(t.is_finite() && *t >= 0.0)) {
        return Err(Error::invalid(format!("{field}[{i}]"), times[i], "a finite number >= 0 (seconds)"));
    }
    let n = p * v;
    if v > 1 && times.len() == n {
        return Ok(times.to_vec());
    }
    let per_device: Vec<f64> = match times.len() {
        1 => vec![times[0]; p],
        len if len == p => times.to_vec(),
        len => {
            let expected = if v > 1 {
                format!("1, {p} (stages) or {n} (stages x chunks)")
            } else {
                format!("1 or {p} (stages)")
            };
            return Err(Error::invalid(format!("len({field})"), len, expected));
        }
    };
    Ok((0..n).map(|vs| per_device[vs % p] / v as f64).collect())
}

impl Pipeline<'_> {
    fn validate(&self) -> Result<Durations> {
        let (p, m, v) = (self.stages, self.microbatches, self.chunks);
        if p == 0 {
            return Err(Error::invalid("stages", p, "an integer >= 1"));
        }
        if m == 0 {
            return Err(Error::invalid("microbatches", m, "an integer >= 1"));
        }
        if v == 0 {
            return Err(Error::invalid("chunks", v, "an integer >= 1"));
        }
        if v > 1 && self.schedule != Schedule::Interleaved {
            return Err(Error::invalid(
                "chunks",
                v,
                format!("1 for schedule {} (only interleaved-1f1b uses chunks)", self.schedule.name()),
            ));
        }
        if v > 1 && m % p != 0 {
            return Err(Error::invalid(
                "microbatches",
                m,
                format!("a multiple of stages = {p} for interleaved-1f1b with chunks = {v}"),
            ));
        }
        let per_op = if self.schedule.splits_backward() { 3 } else { 2 };
        let ops = p.checked_mul(m).and_then(|x| x.checked_mul(v)).and_then(|x| x.checked_mul(per_op));
        if ops.is_none_or(|n| n > MAX_OPS) || m > u32::MAX as usize {
            return Err(Error::TooLarge {
                what: "pipeline".into(),
                detail: format!("stages x microbatches x chunks = {p} x {m} x {v} exceeds {} ops", MAX_OPS),
            });
        }
        non_negative("p2p", self.p2p)?;
        let f = expand("forward", self.forward, p, v)?;
        let mut b = expand("backward", self.backward, p, v)?;
        if self.schedule == Schedule::Forward {
            if b.iter().any(|&x| x != 0.0) {
                return Err(Error::invalid("backward", "non-zero", "0 for the forward-only schedule"));
            }
            if self.weight_grad.is_some() {
                return Err(Error::invalid("weight_grad", "given", "None for the forward-only schedule"));
            }
        }
        let split = self.schedule.splits_backward();
        let w = match self.weight_grad {
            Some(w) => expand("weight_grad", w, p, v)?,
            None if split => {
                return Err(Error::invalid(
                    "weight_grad",
                    "None",
                    format!(
                        "the weight-gradient time for {} (backward is then the input gradient)",
                        self.schedule.name()
                    ),
                ))
            }
            None => vec![0.0; p * v],
        };
        // Every time in the timeline is at most all work plus a hop per op: keep that finite.
        let work = f.iter().chain(&b).chain(&w).fold(0.0, |a, x| a + x);
        let ceiling = work * m as f64 + self.p2p * ops.unwrap_or(0) as f64;
        if !ceiling.is_finite() {
            return Err(Error::invalid(
                "forward/backward/weight_grad/p2p",
                "too large",
                "times whose total over all microbatches stays finite",
            ));
        }
        if split {
            Ok(Durations { f, b, w, split })
        } else {
            b.iter_mut().zip(&w).for_each(|(x, y)| *x += y);
            Ok(Durations { f, b, w: vec![0.0; p * v], split })
        }
    }

    /// The op order of every device.
    pub fn orders(&self) -> Result<Vec<Vec<Op>>> {
        let d = self.validate()?;
        Ok(self.orders_of(&d))
    }

    fn orders_of(&self, t: &Durations) -> Vec<Vec<Op>> {
        (0..self.stages).map(|d| self.device_order(t, d)).collect()
    }

    fn device_order(&self, t: &Durations, d: usize) -> Vec<Op> {
        let (p, m, v) = (self.stages, self.microbatches, self.chunks);
        match self.schedule {
            Schedule::Forward => (0..m).map(|j| Op::new(Kind::F, j, 0)).collect(),
            Schedule::GPipe => gpipe(m, t.split),
            Schedule::OneFOneB => one_f_one_b(p, m, d, t.split),
            Schedule::Interleaved if v == 1 => one_f_one_b(p, m, d, t.split),
            Schedule::Interleaved => interleaved(p, m, v, d, t.split),
            Schedule::ZbH1 => zero_bubble(m, p - d, d),
            Schedule::ZbH2 if m < 2 * p => zero_bubble(m, p - d, d),
            Schedule::ZbH2 => {
                let ahead = t.b[..d].iter().fold(0.0, |acc, x| acc + x);
                let lag = if t.w[d] <= 0.0 { m } else { lag_steps(ahead / t.w[d], m) };
                zero_bubble(m, 2 * (p - d) - 1, lag)
            }
        }
    }

    /// Run the schedule. Checks `control` between devices while building the orders and every
    /// few thousand ops while simulating.
    pub fn simulate(&self, control: &Control) -> Result<Simulation> {
        let t = self.validate()?;
        let mut orders = Vec::with_capacity(self.stages);
        for d in 0..self.stages {
            orders.push(self.device_order(&t, d));
            control.checkpoint(0)?;
        }
        run(self, &t, &orders, control)
    }
}

fn lag_steps(ratio: f64, m: usize) -> usize {
    let r = ratio.ceil();
    if r >= m as f64 {
        m
    } else {
        r as usize
    }
}

fn gpipe(m: usize, split: bool) -> Vec<Op> {
    let mut ops: Vec<Op> = (0..m).map(|j| Op::new(Kind::F, j, 0)).collect();
    for j in 0..m {
        ops.push(Op::new(Kind::B, j, 0));
        if split {
            ops.push(Op::new(Kind::W, j, 0));
        }
    }
    ops
}

fn one_f_one_b(p: usize, m: usize, d: usize, split: bool) -> Vec<Op> {
    let warm = (p - 1 - d).min(m);
    let mut ops: Vec<Op> = (0..warm).map(|j| Op::new(Kind::F, j, 0)).collect();
    for k in 0..m {
        if warm + k < m {
            ops.push(Op::new(Kind::F, warm + k, 0));
        }
        ops.push(Op::new(Kind::B, k, 0));
        if split {
            ops.push(Op::new(Kind::W, k, 0));
        }
    }
    ops
}

fn interleaved(p: usize, m: usize, v: usize, d: usize, split: bool) -> Vec<Op> {
    let total = m * v;
    // The k-th forward is microbatch (k / pv) p + k % p of chunk (k / p) % v; the k-th backward
    // the same microbatch of chunk v - 1 - (k / p) % v. Enumerated without divisions.
    let sequence = |kind: Kind, reverse: bool| {
        let mut out = Vec::with_capacity(total);
        for group in 0..m / p {
            for c in 0..v {
                let chunk = if reverse { v - 1 - c } else { c };
                out.extend((0..p).map(|i| Op::new(kind, group * p + i, chunk)));
            }
        }
        out
    };
    let (fwd, bwd) = (sequence(Kind::F, false), sequence(Kind::B, true));
    let warm = if m == p { total } else { ((p - d - 1) * 2 + (v - 1) * p).min(total) };
    let mut ops: Vec<Op> = Vec::with_capacity(total * if split { 3 } else { 2 });
    ops.extend_from_slice(&fwd[..warm]);
    for (k, &op) in bwd.iter().enumerate() {
        if warm + k < total {
            ops.push(fwd[warm + k]);
        }
        ops.push(op);
        if split {
            ops.push(Op { kind: Kind::W, ..op });
        }
    }
    ops
}

/// `warm` forwards; then per microbatch `k`: `B_k`, the W lagging `lag` behind, the next F;
/// the remaining W's at the end.
fn zero_bubble(m: usize, warm: usize, lag: usize) -> Vec<Op> {
    let warm = warm.min(m);
    let mut ops: Vec<Op> = (0..warm).map(|j| Op::new(Kind::F, j, 0)).collect();
    let mut next_w = 0;
    for k in 0..m {
        ops.push(Op::new(Kind::B, k, 0));
        if k >= lag && next_w <= k - lag {
            ops.push(Op::new(Kind::W, next_w, 0));
            next_w += 1;
        }
        if warm + k < m {
            ops.push(Op::new(Kind::F, warm + k, 0));
        }
    }
    ops.extend((next_w..m).map(|j| Op::new(Kind::W, j, 0)));
    ops
}

/// The simulated run: per-op timeline (device-major, in each device's order) and summaries.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// Device of each op.
    pub stage: Vec<u32>,
    /// Kind of each op (0 = F, 1 = B, 2 = W).
    pub kind: Vec<u8>,
    /// Microbatch of each op.
    pub microbatch: Vec<u32>,
    /// Chunk of each op.
    pub chunk: Vec<u32>,
    /// Start of each op, seconds.
    pub start: Vec<f64>,
    /// End of each op, seconds.
    pub end: Vec<f64>,
    /// Time from the first start to the last end, seconds.
    pub makespan: f64,
    /// Seconds each device computes (sum of its op durations).
    pub busy: Vec<f64>,
    /// `makespan - busy` per device, seconds.
    pub idle: Vec<f64>,
    /// Most microbatches whose activations a device holds at once (F done, B not yet done), in
    /// units of one microbatch through the whole device (a chunk counts `1/v`); 1 for
    /// forward-only pipelines.
    pub peak_in_flight: Vec<f64>,
    /// Sum of idle, device-seconds.
    pub bubble: f64,
    /// `bubble / (p * makespan)`: the share of device time spent idle.
    pub bubble_fraction: f64,
    /// `bubble / sum(busy)`: idle relative to the ideal (the `(p-1)/m` convention).
    pub bubble_ratio: f64,
}

const NONE: u32 = u32::MAX;
const CHECK_EVERY: usize = 1 << 16;

/// Finish time of an F or B op (NaN until it ran) and the device waiting on it, side by side.
#[derive(Clone, Copy)]
struct Slot {
    finish: f64,
    waiter: u32,
}

fn run(pl: &Pipeline<'_>, t: &Durations, orders: &[Vec<Op>], control: &Control) -> Result<Simulation> {
    let (p, m, v) = (pl.stages, pl.microbatches, pl.chunks);
    let nvs = p * v;
    let hop = if p > 1 { pl.p2p } else { 0.0 };
    let total: usize = orders.iter().map(Vec::len).sum();
    // The op orders, flattened device-major: they are also the timeline's columns.
    let mut stage = Vec::with_capacity(total);
    let mut kind = Vec::with_capacity(total);
    let mut microbatch = Vec::with_capacity(total);
    let mut chunk = Vec::with_capacity(total);
    let mut cur = Vec::with_capacity(p);
    let mut last = Vec::with_capacity(p);
    for (d, ops) in orders.iter().enumerate() {
        cur.push(stage.len());
        stage.extend(std::iter::repeat_n(d as u32, ops.len()));
        kind.extend(ops.iter().map(|o| o.kind as u8));
        microbatch.extend(ops.iter().map(|o| o.microbatch));
        chunk.extend(ops.iter().map(|o| o.chunk));
        last.push(stage.len());
        control.checkpoint(0)?;
    }
    // Slots of F (kind 0) and B (kind 1) ops, microbatch-major so that the ops in flight at any
    // moment (a diagonal band) stay close in memory: (microbatch * 2 + kind) * nvs + vs. Nothing
    // waits on W.
    let mut slots = vec![Slot { finish: f64::NAN, waiter: NONE }; 2 * nvs * m];
    let durations = [&t.f[..], &t.b[..], &t.w[..]];
    let mut start = vec![0.0; total];
    let mut end = vec![0.0; total];
    let mut free = vec![0.0f64; p];
    let mut stack: Vec<usize> = Vec::with_capacity(p);
    stack.extend((0..p).rev());
    let mut since_check = 0usize;
    while let Some(d) = stack.pop() {
        let (mut row, stop_row, mut free_d) = (cur[d], last[d], free[d]);
        while row < stop_row {
            let k = kind[row];
            // F slots of this microbatch at base + vs, B slots at base + nvs + vs.
            let base = microbatch[row] as usize * 2 * nvs;
            let vs = chunk[row] as usize * p + d;
            let mut ready = free_d;
            // An input: its finish time plus latency, or park this device on it.
            macro_rules! after {
                ($i:expr, $lat:expr) => {{
                    let s = &mut slots[$i];
                    if s.finish.is_nan() {
                        s.waiter = d as u32;
                        break;
                    }
                    let arrival = s.finish + $lat;
                    if arrival > ready {
                        ready = arrival; // a plain max: no NaN reaches here
                    }
                }};
            }
            let duration = match k {
                0 => {
                    if vs > 0 {
                        after!(base + vs - 1, hop);
                    }
                    t.f[vs]
                }
                1 => {
                    after!(base + vs, 0.0);
                    if vs + 1 < nvs {
                        after!(base + nvs + vs + 1, hop);
                    }
                    t.b[vs]
                }
                _ => {
                    after!(base + nvs + vs, 0.0);
                    t.w[vs]
                }
            };
            let stop = ready + duration;
            if k < 2 {
                let s = &mut slots[base + k as usize * nvs + vs];
                s.finish = stop;
                if s.waiter != NONE {
                    stack.push(s.waiter as usize);
                    s.waiter = NONE;
                }
            }
            start[row] = ready;
            end[row] = stop;
            free_d = stop;
            row += 1;
            since_check += 1;
            if since_check == CHECK_EVERY {
                control.checkpoint(since_check as u64)?;
                since_check = 0;
            }
        }
        cur[d] = row;
        free[d] = free_d;
    }
    control.checkpoint(since_check as u64)?;
    if cur != last {
        return Err(Error::invalid(
            "schedule",
            pl.schedule.name(),
            "an op order without circular waits (deadlock)",
        ));
    }
    let mut busy = Vec::with_capacity(p);
    let mut peak_in_flight = Vec::with_capacity(p);
    let mut row = 0;
    for (d, ops) in orders.iter().enumerate() {
        let mut sum = 0.0;
        let (mut live, mut top) = (0i64, 0i64);
        for _ in ops {
            let k = kind[row] as usize;
            let vs = chunk[row] as usize * p + d;
            match k {
                0 => {
                    live += 1;
                    top = top.max(live);
                }
                1 => live -= 1,
                _ => {}
            }
            sum += durations[k][vs];
            row += 1;
        }
        busy.push(sum);
        // Forward-only: a microbatch's activations live only while its forward runs.
        let top = if pl.schedule == Schedule::Forward { top.min(1) } else { top };
        peak_in_flight.push(top as f64 / v as f64);
    }
    let makespan = end.iter().fold(0.0f64, |a, &b| a.max(b));
    let idle: Vec<f64> = busy.iter().map(|b| makespan - b).collect();
    let bubble = idle.iter().fold(0.0, |a, b| a + b);
    let work = busy.iter().fold(0.0, |a, b| a + b);
    let bubble_fraction = if makespan > 0.0 { bubble / (p as f64 * makespan) } else { 0.0 };
    let bubble_ratio = if work > 0.0 { bubble / work } else { 0.0 };
    Ok(Simulation {
        stage,
        kind,
        microbatch,
        chunk,
        start,
        end,
        makespan,
        busy,
        idle,
        peak_in_flight,
        bubble,
        bubble_fraction,
        bubble_ratio,
    })
}

/// Closed-form bubble fraction `idle / (p x makespan)` for uniform stages and no p2p latency
/// (reference/FORMULAS.md s3): GPipe and 1F1B `(p-1)(f+b+w)`, interleaved `(p-1)(f+b+w)/v`,
/// ZB-H1 `(p-1)(f+b-w)` (needs `m >= p` and `w <= min(f, b)`), forward-only `(p-1) f`; the
/// ideal is `m (f+b+w)`. Inputs are trusted; see [`bubble_fractions`].
#[inline]
pub fn bubble_fraction(schedule: Schedule, p: f64, m: f64, v: f64, f: f64, b: f64, w: f64) -> f64 {
    let (ideal, bubble) = match schedule {
        Schedule::Interleaved => (m * (f + b + w), (p - 1.0) * (f + b + w) / v),
        Schedule::ZbH1 => (m * (f + b + w), (p - 1.0) * (f + b - w)),
        Schedule::Forward => (m * f, (p - 1.0) * f),
        _ => (m * (f + b + w), (p - 1.0) * (f + b + w)),
    };
    let total = ideal + bubble;
    if total > 0.0 {
        bubble / total
    } else {
        0.0
    }
}

const PAR_MIN: usize = 1 << 15;

/// [`bubble_fraction`] element-wise over equal-length arrays of stages, microbatches and chunks,
/// with one `(forward, backward, weight_grad)` time triple for every point (seconds or ratios),
/// into `out`.
#[allow(clippy::too_many_arguments)]
pub fn bubble_fractions(
    schedule: Schedule,
    stages: &[u64],
    microbatches: &[u64],
    chunks: &[u64],
    forward: f64,
    backward: f64,
    weight_grad: Option<f64>,
    out: &mut [f64],
) -> Result<()> {
    crate::error::same_len("microbatches", microbatches.len(), stages.len())?;
    crate::error::same_len("chunks", chunks.len(), stages.len())?;
    crate::error::same_len("out", out.len(), stages.len())?;
    non_negative("forward", forward)?;
    non_negative("backward", backward)?;
    let w = match weight_grad {
        Some(w) => non_negative("weight_grad", w)?,
        None => 0.0,
    };
    match schedule {
        Schedule::ZbH2 => {
            return Err(Error::invalid(
                "schedule",
                "zb-h2",
                "gpipe, 1f1b, interleaved-1f1b, zb-h1 or forward (zb-h2 has no closed form; use simulate)",
            ))
        }
        Schedule::ZbH1 if weight_grad.is_none() => {
            return Err(Error::invalid("weight_grad", "None", "the weight-gradient time for zb-h1"))
        }
        Schedule::ZbH1 if w > forward.min(backward) => {
            return Err(Error::invalid(
                "weight_grad",
                w,
                "<= min(forward, backward) for the zb-h1 closed form",
            ))
        }
        Schedule::Forward if backward != 0.0 || w != 0.0 => {
            return Err(Error::invalid(
                "backward",
                backward,
                "0 (and no weight_grad) for the forward-only schedule",
            ))
        }
        _ => {}
    }
    let interleaved = schedule == Schedule::Interleaved;
    let zb = schedule == Schedule::ZbH1;
    // One cheap test per point inside the parallel loop; the precise error only on failure.
    let valid = |p: u64, m: u64, v: u64| {
        p >= 1 && m >= 1 && v >= 1 && (v == 1 || (interleaved && m % p == 0)) && !(zb && m < p)
    };
    // The fraction is scale-free: normalise so that m (f + b + w) cannot overflow.
    let scale = forward.max(backward).max(w);
    let (f, b, w) =
        if scale > 0.0 { (forward / scale, backward / scale, w / scale) } else { (0.0, 0.0, 0.0) };
    let one = |i: usize| {
        let (p, m, v) = (stages[i], microbatches[i], chunks[i]);
        if valid(p, m, v) {
            Some(bubble_fraction(schedule, p as f64, m as f64, v as f64, f, b, w))
        } else {
            None
        }
    };
    let fill = |base: usize, part: &mut [f64]| {
        part.iter_mut().enumerate().all(|(i, o)| match one(base + i) {
            Some(x) => {
                *o = x;
                true
            }
            None => false,
        })
    };
    let ok = if out.len() >= PAR_MIN {
        out.par_chunks_mut(PAR_MIN / 4)
            .enumerate()
            .map(|(c, part)| fill(c * (PAR_MIN / 4), part))
            .reduce(|| true, |a, b| a && b)
    } else {
        fill(0, out)
    };
    if !ok {
        for i in 0..stages.len() {
            let (p, m, v) = (stages[i], microbatches[i], chunks[i]);
            let bad = |field: &str, value: u64, expected: String| {
                Err(Error::invalid(format!("{field}[{i}]"), value, expected))
            };
            if p == 0 {
                return bad("stages", p, "an integer >= 1".into());
            }
            if m == 0 {
                return bad("microbatches", m, "an integer >= 1".into());
            }
            if v == 0 {
                return bad("chunks", v, "an integer >= 1".into());
            }
            if v > 1 && !interleaved {
                return bad("chunks", v, format!("1 for schedule {}", schedule.name()));
            }
            if v > 1 && m % p != 0 {
                return bad("microbatches", m, format!("a multiple of stages = {p} for interleaved-1f1b"));
            }
            if zb && m < p {
                return bad("microbatches", m, format!(">= stages = {p} for the zb-h1 closed form"));
            }
        }
        return Err(Error::invalid("points", "invalid", "valid (stages, microbatches, chunks)"));
    }
    Ok(())
}

/// Dynamic program over contiguous splits of `layer_times` into `p` non-empty stages:
/// `table[k][j]` is the best value of layers `[0, j)` on stages `0..=k`. Stage 0 holding `[0, j)`
/// is worth `first(j)`; adding a later stage of time `t` (with `tail_extra` on the last) to a
/// prefix worth `before` is worth `extend(before, t)`, or `None` to stop growing that stage.
fn partition_dp(
    layer_times: &[f64],
    p: usize,
    tail_extra: f64,
    first: impl Fn(usize) -> f64,
    extend: impl Fn(f64, f64) -> Option<f64>,
) -> Vec<Vec<f64>> {
    let n = layer_times.len();
    let mut table = vec![vec![f64::INFINITY; n + 1]; p];
    for (j, slot) in table[0].iter_mut().enumerate().skip(1) {
        *slot = first(j);
    }
    for k in 1..p {
        let (done, rest) = table.split_at_mut(k);
        let (prev, cur) = (&done[k - 1], &mut rest[0]);
        for (i, &before) in prev.iter().enumerate().take(n).skip(k) {
            if !before.is_finite() {
                continue;
            }
            let mut acc = 0.0;
            for (x, slot) in layer_times[i..].iter().zip(&mut cur[i + 1..]) {
                acc += x;
                let t = if k == p - 1 { acc + tail_extra } else { acc };
                let Some(v) = extend(before, t) else { break };
                if v < *slot {
                    *slot = v;
                }
            }
        }
    }
    table
}

/// Layers per stage of the contiguous assignment of `layer_times` (seconds per layer, in model
/// order) to `stages` non-empty stages that minimises the slowest stage, where stage 0 also pays
/// `head_extra` (embedding, data loading) and the last stage `tail_extra` (output head, loss).
/// Among those, the most even (smallest sum of squared stage times), then the one with the most
/// layers at the tail. Exact: a stage's time is the left-to-right sum of its layers, then the
/// extras; the sum of squares is added head first.
pub fn balance_layers(
    layer_times: &[f64],
    stages: usize,
    head_extra: f64,
    tail_extra: f64,
) -> Result<Vec<u64>> {
    let n = layer_times.len();
    let p = stages;
    if p == 0 {
        return Err(Error::invalid("stages", p, "an integer >= 1"));
    }
    if n < p {
        return Err(Error::invalid(
            "len(layer_times)",
            n,
            format!(">= stages = {p} (every stage needs a layer)"),
        ));
    }
    if let Some(i) = layer_times.iter().position(|t| !(t.is_finite() && *t >= 0.0)) {
        return Err(Error::invalid(format!("layer_times[{i}]"), layer_times[i], "a finite number >= 0"));
    }
    non_negative("head_extra", head_extra)?;
    non_negative("tail_extra", tail_extra)?;
    if (p as f64) * (n as f64) * (n as f64) > 1e9 {
        return Err(Error::TooLarge {
            what: "balance_layers".into(),
            detail: format!(
                "{n} layers x {p} stages needs ~stages x layers^2 = {:.1e} steps (limit 1e9)",
                (p as f64) * (n as f64) * (n as f64)
            ),
        });
    }
    // Cost of stage `s` holding layers [i, j).
    let cost = |s: usize, i: usize, j: usize| {
        let mut t = layer_times[i..j].iter().fold(0.0, |a, x| a + x);
        if s == 0 {
            t += head_extra;
        }
        if s == p - 1 {
            t += tail_extra;
        }
        t
    };
    // best[k][j]: smallest bottleneck of layers [0, j) on stages 0..k (k+1 stages, non-empty).
    let best = partition_dp(layer_times, p, tail_extra, |j| cost(0, 0, j), |before, t| Some(before.max(t)));
    let target = best[p - 1][n];
    // Among assignments with that bottleneck, the most even one: the smallest sum of squared
    // stage times (added head first), so stages below the bottleneck are used as well.
    let sq = partition_dp(
        layer_times,
        p,
        tail_extra,
        |j| {
            let c = cost(0, 0, j);
            if c <= target {
                c * c
            } else {
                f64::INFINITY
            }
        },
        // stage times only grow with more layers: past the bottleneck, stop extending
        |before, t| (t <= target).then_some(before + t * t),
    );
    let mut counts = vec![0u64; p];
    let mut stop = n;
    for s in (1..p).rev() {
        let start = (s..stop)
            .find(|&i| {
                let c = cost(s, i, stop);
                c <= target && sq[s - 1][i].is_finite() && sq[s - 1][i] + c * c == sq[s][stop]
            })
            .expect("the optimum is reachable");
        counts[s] = (stop - start) as u64;
        stop = start;
    }
    counts[0] = stop as u64;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[allow(clippy::too_many_arguments)]
    fn sim(
        s: &str,
        p: usize,
        m: usize,
        v: usize,
        f: &[f64],
        b: &[f64],
        w: Option<&[f64]>,
        p2p: f64,
    ) -> Simulation {
        let pl = Pipeline {
            schedule: Schedule::parse(s).unwrap(),
            stages: p,
            microbatches: m,
            chunks: v,
            forward: f,
            backward: b,
            weight_grad: w,
            p2p,
        };
        pl.simulate(&Control::new()).unwrap()
    }

    /// Naive longest path: relax every op until nothing changes (Bellman-Ford style), from the
    /// same op orders; an independent check of the worklist simulator.
    fn naive(s: &str, p: usize, m: usize, f: &[f64], b: &[f64], w: Option<&[f64]>, p2p: f64) -> f64 {
        let pl = Pipeline {
            schedule: Schedule::parse(s).unwrap(),
            stages: p,
            microbatches: m,
            chunks: 1,
            forward: f,
            backward: b,
            weight_grad: w,
            p2p,
        };
        let t = pl.validate().unwrap();
        let orders = pl.orders_of(&t);
        let key = |k: Kind, d: usize, j: usize| (k as usize * p + d) * m + j;
        let mut fin = vec![0.0f64; 3 * p * m];
        let hop = if p > 1 { p2p } else { 0.0 };
        loop {
            let mut changed = false;
            for (d, ops) in orders.iter().enumerate() {
                let mut free = 0.0f64;
                for op in ops {
                    let j = op.microbatch as usize;
                    let mut r = free;
                    match op.kind {
                        Kind::F if d > 0 => r = r.max(fin[key(Kind::F, d - 1, j)] + hop),
                        Kind::F => {}
                        Kind::B => {
                            r = r.max(fin[key(Kind::F, d, j)]);
                            if d + 1 < p {
                                r = r.max(fin[key(Kind::B, d + 1, j)] + hop);
                            }
                        }
                        Kind::W => r = r.max(fin[key(Kind::B, d, j)]),
                    }
                    let dur = [t.f[d], t.b[d], t.w[d]][op.kind as usize];
                    let e = r + dur;
                    if e > fin[key(op.kind, d, j)] {
                        fin[key(op.kind, d, j)] = e;
                        changed = true;
                    }
                    free = e;
                }
            }
            if !changed {
                return fin.iter().fold(0.0, |a: f64, &x| a.max(x));
            }
        }
    }

    #[test]
    fn uniform_gpipe_and_1f1b_makespan() {
        for (p, m) in [(1, 1), (4, 8), (8, 3), (16, 64)] {
            for s in ["gpipe", "1f1b"] {
                let r = sim(s, p, m, 1, &[1.0], &[2.0], None, 0.0);
                assert_eq!(r.makespan, ((m + p - 1) * 3) as f64, "{s} p={p} m={m}");
            }
        }
    }

    #[test]
    fn interleaved_bubble_is_divided_by_chunks() {
        let (p, m) = (4, 8);
        for v in [1usize, 2, 4] {
            let r = sim("interleaved-1f1b", p, m, v, &[4.0], &[8.0], None, 0.0);
            let want = (p - 1) as f64 / (v * m) as f64;
            assert!((r.bubble_ratio - want).abs() < 1e-12, "v={v}: {} vs {want}", r.bubble_ratio);
        }
    }

    #[test]
    fn zero_bubble_h1_is_a_third_of_1f1b() {
        let (p, m) = (6, 12);
        let one = sim("1f1b", p, m, 1, &[1.0], &[1.0], Some(&[1.0]), 0.0);
        let h1 = sim("zb-h1", p, m, 1, &[1.0], &[1.0], Some(&[1.0]), 0.0);
        assert_eq!(h1.bubble * 3.0, one.bubble);
        assert_eq!(h1.peak_in_flight, one.peak_in_flight);
    }

    #[test]
    fn forward_only_formula() {
        let t = [1.0, 3.0, 2.0];
        let r = sim("forward", 3, 5, 1, &t, &[0.0], None, 0.0);
        assert_eq!(r.makespan, 6.0 + 4.0 * 3.0);
    }

    #[test]
    fn balance_is_even_and_head_light() {
        let c = balance_layers(&[1.0; 120], 16, 0.0, 0.0).unwrap();
        assert_eq!(c.iter().sum::<u64>(), 120);
        // 120 = 8 x 8 + 8 x 7: the 7-layer stages go to the head end.
        assert_eq!(c, [vec![7; 8], vec![8; 8]].concat());
        // A head costing half a layer: 15 stages of 8 (head 8.5) beat any uneven split.
        let c = balance_layers(&[1.0; 120], 15, 0.5, 0.0).unwrap();
        assert_eq!(c, vec![8; 15]);
        // A head costing a whole layer on 15 stages: the bottleneck is 9 either way; one stage at
        // 9, not 13 (the lightest-head rule picks the head's 7 layers + 1 and a 9-layer tail).
        let c = balance_layers(&[1.0; 120], 15, 1.0, 0.0).unwrap();
        assert_eq!(c, [vec![7], vec![8; 13], vec![9]].concat());
        // 16 stages and a head costing a layer: bottleneck 8, the head carries 7 layers (or fewer).
        let c = balance_layers(&[1.0; 120], 16, 1.0, 0.0).unwrap();
        assert_eq!(*c.iter().max().unwrap(), 8);
        assert!(c[0] <= 7);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mk = |s: &str, p: usize, m: usize, v: usize, w: Option<&'static [f64]>| Pipeline {
            schedule: Schedule::parse(s).unwrap(),
            stages: p,
            microbatches: m,
            chunks: v,
            forward: &[1.0],
            backward: &[1.0],
            weight_grad: w,
            p2p: 0.0,
        };
        let c = Control::new();
        assert!(mk("interleaved-1f1b", 4, 6, 2, None).simulate(&c).is_err());
        assert!(mk("1f1b", 4, 8, 2, None).simulate(&c).is_err());
        assert!(mk("zb-h1", 4, 8, 1, None).simulate(&c).is_err());
        assert!(mk("1f1b", 0, 8, 1, None).simulate(&c).is_err());
        assert!(mk("1f1b", 4, 0, 1, None).simulate(&c).is_err());
        assert!(mk("forward", 4, 8, 1, None).simulate(&c).is_err());
        assert!(Schedule::parse("pipedream").is_err());
        let mut out = [0.0];
        assert!(bubble_fractions(Schedule::ZbH2, &[4], &[8], &[1], 1.0, 1.0, Some(1.0), &mut out).is_err());
        assert!(bubble_fractions(Schedule::OneFOneB, &[4], &[8], &[1], 1.0, 1.0, None, &mut []).is_err());
        bubble_fractions(Schedule::OneFOneB, &[4], &[8], &[1], 1.0, 1.0, None, &mut out).unwrap();
        assert_eq!(out[0], bubble_fraction(Schedule::OneFOneB, 4.0, 8.0, 1.0, 1.0, 1.0, 0.0));
        assert!(balance_layers(&[1.0; 3], 4, 0.0, 0.0).is_err());
        let big = Pipeline { stages: 1 << 15, microbatches: 1 << 15, ..mk("1f1b", 1, 1, 1, None) };
        assert!(matches!(big.simulate(&c), Err(Error::TooLarge { .. })));
    }

    fn times(p: usize) -> impl Strategy<Value = Vec<f64>> {
        proptest::collection::vec((0u32..8).prop_map(|x| x as f64 * 0.5), p)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn worklist_matches_naive_longest_path(
            (p, f, b, w) in (1usize..6).prop_flat_map(|p| (Just(p), times(p), times(p), times(p))),
            m in 1usize..10,
            s in 0usize..5,
            p2p in 0u32..3,
        ) {
            let name = ["gpipe", "1f1b", "zb-h1", "zb-h2", "1f1b"][s];
            let wg = if s >= 2 { Some(&w[..]) } else { None };
            let r = sim(name, p, m, 1, &f, &b, wg, p2p as f64 * 0.25);
            prop_assert_eq!(r.makespan, naive(name, p, m, &f, &b, wg, p2p as f64 * 0.25));
            // no device runs two ops at once, ops in order
            for i in 1..r.start.len() {
                if r.stage[i] == r.stage[i - 1] {
                    prop_assert!(r.start[i] >= r.end[i - 1]);
                }
            }
        }

        #[test]
        fn balance_matches_brute_force(xs in proptest::collection::vec(0u32..6, 1..9), p in 1usize..5, head in 0u32..4) {
            prop_assume!(xs.len() >= p);
            let t: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
            let c = balance_layers(&t, p, head as f64, 0.0).unwrap();
            let worst = |c: &[u64]| {
                let mut i = 0; let mut w = 0.0f64;
                for (s, &k) in c.iter().enumerate() {
                    let mut x: f64 = t[i..i + k as usize].iter().sum();
                    if s == 0 { x += head as f64; }
                    w = w.max(x); i += k as usize;
                }
                w
            };
            // brute force over all compositions
            fn comps(n: usize, p: usize) -> Vec<Vec<u64>> {
                if p == 1 { return vec![vec![n as u64]]; }
                (1..=n - (p - 1)).flat_map(|k| comps(n - k, p - 1).into_iter().map(move |mut r| { r.insert(0, k as u64); r })).collect()
            }
            let squares = |c: &[u64]| {
                let mut i = 0; let mut q = 0.0f64;
                for (s, &k) in c.iter().enumerate() {
                    let mut x: f64 = t[i..i + k as usize].iter().sum();
                    if s == 0 { x += head as f64; }
                    q += x * x; i += k as usize;
                }
                q
            };
            let all = comps(t.len(), p);
            let best = all.iter().map(|c| worst(c)).fold(f64::INFINITY, f64::min);
            prop_assert_eq!(worst(&c), best);
            let even = all.iter().filter(|c| worst(c) == best).map(|c| squares(c)).fold(f64::INFINITY, f64::min);
            prop_assert_eq!(squares(&c), even);
            prop_assert_eq!(c.iter().sum::<u64>() as usize, t.len());
            prop_assert!(c.iter().all(|&k| k >= 1));
        }
    }
}
