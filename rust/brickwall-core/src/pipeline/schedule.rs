//! The schedules and the op order each one gives every device.

use crate::error::{Error, Result};

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
    pub(super) fn new(kind: Kind, microbatch: usize, chunk: usize) -> Self {
        Self { kind, microbatch: microbatch as u32, chunk: chunk as u32 }
    }
}

pub(super) fn lag_steps(ratio: f64, m: usize) -> usize {
    let r = ratio.ceil();
    if r >= m as f64 {
        m
    } else {
        r as usize
    }
}

pub(super) fn gpipe(m: usize, split: bool) -> Vec<Op> {
    let mut ops: Vec<Op> = (0..m).map(|j| Op::new(Kind::F, j, 0)).collect();
    for j in 0..m {
        ops.push(Op::new(Kind::B, j, 0));
        if split {
            ops.push(Op::new(Kind::W, j, 0));
        }
    }
    ops
}

pub(super) fn one_f_one_b(p: usize, m: usize, d: usize, split: bool) -> Vec<Op> {
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

pub(super) fn interleaved(p: usize, m: usize, v: usize, d: usize, split: bool) -> Vec<Op> {
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
pub(super) fn zero_bubble(m: usize, warm: usize, lag: usize) -> Vec<Op> {
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
