//! Pipeline-parallel schedules as per-device op orders, simulated as a dependency DAG.
//!
//! A pipeline of `p` devices runs `m` microbatches. With `v` chunks per device (interleaved
//! 1F1B), device `d` holds chunk `c` as virtual stage `c * p + d`. Ops are F (forward), B
//! (backward; input-gradient only when the schedule splits off W) and W (weight gradient).
//!
//! Dependencies: `F(s, j)` after `F(s-1, j)`; `B(s, j)` after `F(s, j)` and `B(s+1, j)`; `W(s, j)`
//! after `B(s, j)`; a hop between devices adds the p2p latency. Each device runs its ops in its
//! order, one at a time; an op starts as soon as its device is free and its inputs have arrived.
//! The result is the longest path of that DAG (docs/sources.md), computed exactly: every
//! op's start is a `max` of finished times plus latencies, its end is `start + duration`.
//!
//! Times are seconds. Per-stage arrays have length 1 (every stage), `p` (per device, divided
//! evenly over the `v` chunks) or `p * v` (per virtual stage). Schedules that do not split the
//! backward (GPipe, 1F1B, interleaved) run B and W fused as one op of time `b + w`.
//!
//! Four concerns, one file each: `schedule` (the schedules and each device's op order), `sim`
//! (the DAG simulator), `bubble` (closed-form bubble fractions) and `balance` (layers per stage).
//! Their public items are re-exported here, the one path callers use.

mod balance;
mod bubble;
mod schedule;
mod sim;

pub use balance::balance_layers;
pub use bubble::{bubble_fraction, bubble_fractions};
pub use schedule::{Kind, Op, Schedule};
pub use sim::Simulation;

use crate::control::Control;
use crate::error::{non_negative, Error, Result};

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
            Schedule::GPipe => schedule::gpipe(m, t.split),
            Schedule::OneFOneB => schedule::one_f_one_b(p, m, d, t.split),
            Schedule::Interleaved if v == 1 => schedule::one_f_one_b(p, m, d, t.split),
            Schedule::Interleaved => schedule::interleaved(p, m, v, d, t.split),
            Schedule::ZbH1 => schedule::zero_bubble(m, p - d, d),
            Schedule::ZbH2 if m < 2 * p => schedule::zero_bubble(m, p - d, d),
            Schedule::ZbH2 => {
                let ahead = t.b[..d].iter().fold(0.0, |acc, x| acc + x);
                let lag = if t.w[d] <= 0.0 { m } else { schedule::lag_steps(ahead / t.w[d], m) };
                schedule::zero_bubble(m, 2 * (p - d) - 1, lag)
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
        sim::run(self, &t, &orders, control)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let big = Pipeline { stages: 1 << 15, microbatches: 1 << 15, ..mk("1f1b", 1, 1, 1, None) };
        assert!(matches!(big.simulate(&c), Err(Error::TooLarge { .. })));
    }
}
