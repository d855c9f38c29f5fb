//! The DAG simulator: every op's start and end, exactly, from the devices' op orders.

use super::{Durations, Op, Pipeline, Schedule};
use crate::control::Control;
use crate::error::{Error, Result};

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

pub(super) fn run(
    pl: &Pipeline<'_>,
    t: &Durations,
    orders: &[Vec<Op>],
    control: &Control,
) -> Result<Simulation> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Kind;
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
    }
}
