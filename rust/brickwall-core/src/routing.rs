//! Monte Carlo of Mixture-of-Experts routing: how many tokens each expert (and each
//! expert-parallel device) receives in one step.
//!
//! The model. One step routes `tokens` tokens; each token picks `top_k` *distinct* experts out of
//! `experts`, independently of the other tokens:
//! - uniform popularity: a uniformly random `top_k`-subset (Floyd's algorithm);
//! - popularity weights `p`: successive sampling without replacement (the first expert with
//!   probability proportional to `p`, the next proportional to `p` among the experts not yet
//!   chosen, and so on), which is the law of the top-k of `ln p + Gumbel noise`, i.e. a router
//!   whose logits carry i.i.d. Gumbel noise;
//! - Dirichlet(`alpha`, ..., `alpha`) popularity: a fresh weight vector per trial (router drift
//!   between steps), then successive sampling as above.
//!
//! Experts are split into `devices` equal contiguous groups (expert `e` lives on device
//! `e / (experts / devices)`). With a capacity `C`, an expert processes `min(load, C)` tokens and
//! the remaining `(load - C)+` assignments are dropped. Per trial the kernel records the
//! per-expert loads (before drops), their maximum, the number of distinct experts touched, the
//! dropped assignments, and the busiest device's processed load (after drops); it returns their
//! histograms summed over trials. All counts are integers, so the result does not depend on how
//! rayon splits the work.
//!
//! Determinism: trials are cut into chunks of [`chunk_trials`] trials; chunk `c` draws from
//! [`Rng::for_chunk`]`(seed, c)`, trial after trial, token after token, so results depend only on
//! (inputs, seed). Uniform routing over at most [`HALF_WORD_EXPERTS`] experts draws each index
//! from a 32-bit half of a 64-bit word (low half first), so top-2 costs one word per token.
//! `brickwall.reference.routing` replays the draws in Python.
//!
//! Cost: O(k) per token plus O(touched experts + devices) per step (never O(E) per step unless
//! capacity or devices need it), integer histograms merged across rayon workers.

use rayon::prelude::*;

use crate::control::Control;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Largest `tokens * top_k` (assignments per step) the kernel accepts: histograms are dense.
pub const MAX_ASSIGNMENTS: u64 = 1 << 24;
/// Largest expert count the kernel accepts.
pub const MAX_EXPERTS: u64 = 1 << 20;
/// Largest Dirichlet concentration: beyond it the draws are uniform to within 1e-6, and near the
/// float range the gamma draws overflow and the weighted sampler's running sum turns infinite.
pub const MAX_DIRICHLET_ALPHA: f64 = 1e12;

/// Smallest Dirichlet weight: gamma draws that underflow are raised to this so that every expert
/// keeps a positive (if negligible) weight.
pub const MIN_WEIGHT: f64 = 1e-300;

/// How expert popularity is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Popularity<'a> {
    /// Every expert equally likely.
    Uniform,
    /// Fixed non-negative weights, one per expert (need not be normalised).
    Weights(&'a [f64]),
    /// A fresh symmetric Dirichlet(alpha) weight vector per trial.
    Dirichlet(f64),
}

/// One routing experiment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec<'a> {
    /// Number of routed experts E.
    pub experts: u64,
    /// Distinct experts per token k.
    pub top_k: u64,
    /// Tokens per step B.
    pub tokens: u64,
    /// Steps simulated.
    pub trials: u64,
    /// Seed of the run.
    pub seed: u64,
    /// Popularity model.
    pub popularity: Popularity<'a>,
    /// Tokens one expert can process per step; `None` for unlimited.
    pub capacity: Option<u64>,
    /// Expert-parallel devices D (divides E; 1 = all experts on one device).
    pub devices: u64,
}

/// Histograms (counts over trials) of one routing experiment. Index = value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histograms {
    /// Per-expert load before drops, pooled over experts: `len = tokens + 1`, sums to
    /// `trials * experts`.
    pub load: Vec<u64>,
    /// Largest per-expert load of a step (before drops): `len = tokens + 1`.
    pub max_load: Vec<u64>,
    /// Tokens the busiest device processes (after drops): `len = tokens * min(top_k, E/D) + 1`.
    pub device_load: Vec<u64>,
    /// Distinct experts that received at least one token: `len = experts + 1`.
    pub touched: Vec<u64>,
    /// Assignments dropped by the capacity limit: `len = tokens * top_k + 1`.
    pub dropped: Vec<u64>,
    /// Total load of each expert over all trials (before drops): `len = experts`.
    pub expert_total: Vec<u64>,
}

impl Histograms {
    fn zeros(s: &Spec<'_>) -> Self {
        let per_device = s.experts / s.devices;
        Self {
            load: vec![0; s.tokens as usize + 1],
            max_load: vec![0; s.tokens as usize + 1],
            device_load: vec![0; (s.tokens * s.top_k.min(per_device)) as usize + 1],
            touched: vec![0; s.experts as usize + 1],
            dropped: vec![0; (s.tokens * s.top_k) as usize + 1],
            expert_total: vec![0; s.experts as usize],
        }
    }

    fn merge(mut self, other: Self) -> Self {
        for (a, b) in [
            (&mut self.load, &other.load),
            (&mut self.max_load, &other.max_load),
            (&mut self.device_load, &other.device_load),
            (&mut self.touched, &other.touched),
            (&mut self.dropped, &other.dropped),
            (&mut self.expert_total, &other.expert_total),
        ] {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        self
    }
}

/// Trials per chunk (one RNG stream each): about 2^16 assignments per chunk, at least one trial.
pub fn chunk_trials(tokens: u64, top_k: u64) -> u64 {
    ((1u64 << 16) / (tokens.max(1) * top_k.max(1))).max(1)
}

/// Checks `spec`; every failure names the field and the accepted range.
pub fn validate(s: &Spec<'_>) -> Result<()> {
    if s.experts == 0 || s.experts > MAX_EXPERTS {
        return Err(Error::invalid("experts", s.experts, format!("an integer in [1, {MAX_EXPERTS}]")));
    }
    if s.top_k == 0 || s.top_k > s.experts {
        return Err(Error::invalid("top_k", s.top_k, format!("an integer in [1, experts = {}]", s.experts)));
    }
    if s.tokens == 0 {
        return Err(Error::invalid("tokens", 0, "an integer >= 1"));
    }
    if s.trials == 0 {
        return Err(Error::invalid("trials", 0, "an integer >= 1"));
    }
    if s.devices == 0 || s.experts % s.devices != 0 {
        return Err(Error::invalid("devices", s.devices, format!("a divisor of experts = {}", s.experts)));
    }
    let assignments = s.tokens.checked_mul(s.top_k).filter(|&a| a <= MAX_ASSIGNMENTS);
    let Some(assignments) = assignments else {
        return Err(Error::TooLarge {
            what: "tokens x top_k".into(),
            detail: format!("{} x {} exceeds {MAX_ASSIGNMENTS} assignments per step", s.tokens, s.top_k),
        });
    };
    if assignments.checked_mul(s.trials).filter(|&t| t < 1 << 62).is_none() {
        return Err(Error::TooLarge {
            what: "trials x tokens x top_k".into(),
            detail: format!("{} x {assignments} overflows the 64-bit counters", s.trials),
        });
    }
    match s.popularity {
        Popularity::Uniform => {}
        Popularity::Weights(w) => {
            if w.len() as u64 != s.experts {
                return Err(Error::invalid("len(popularity)", w.len(), format!("experts = {}", s.experts)));
            }
            if let Some(i) = w.iter().position(|x| !(x.is_finite() && *x >= 0.0)) {
                return Err(Error::invalid(format!("popularity[{i}]"), w[i], "a finite number >= 0"));
            }
            // The sampler draws against the running sum: it must stay finite.
            let total: f64 = w.iter().sum();
            if !total.is_finite() {
                return Err(Error::invalid("sum(popularity)", total, "a finite total (rescale the weights)"));
            }
            let positive = w.iter().filter(|&&x| x > 0.0).count() as u64;
            if positive < s.top_k {
                return Err(Error::invalid(
                    "popularity",
                    format!("{positive} positive weights"),
                    format!("at least top_k = {} experts with positive weight", s.top_k),
                ));
            }
        }
        Popularity::Dirichlet(alpha) => {
            if !(alpha.is_finite() && alpha > 0.0 && alpha <= MAX_DIRICHLET_ALPHA) {
                return Err(Error::invalid(
                    "dirichlet alpha",
                    alpha,
                    format!(
                        "a number in (0, {MAX_DIRICHLET_ALPHA:e}] (larger alphas are uniform popularity to within \
                         1e-6; ask for uniform instead)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Runs the experiment in parallel chunks, checking `control` after each chunk (units: trials).
pub fn route(s: &Spec<'_>, control: &Control) -> Result<Histograms> {
    validate(s)?;
    let per_chunk = chunk_trials(s.tokens, s.top_k);
    let chunks = s.trials.div_ceil(per_chunk);
    (0..chunks)
        .into_par_iter()
        .try_fold(
            || (Histograms::zeros(s), Worker::new(s)),
            |(mut h, mut w), c| {
                let n = per_chunk.min(s.trials - c * per_chunk);
                w.run_chunk(s, c, n, &mut h);
                control.checkpoint(n)?;
                Ok((h, w))
            },
        )
        .map(|r| r.map(|(h, _)| h))
        .try_reduce(|| Histograms::zeros(s), |a, b| Ok(a.merge(b)))
}

/// Largest expert count for which uniform draws use 32-bit halves of the generator's words
/// (multiply-shift bias below `E / 2^32 <= 1e-6`; none when E is a power of two).
pub const HALF_WORD_EXPERTS: u64 = 4096;
/// Largest `experts * (tokens + 1)` for which a worker tallies per-expert loads in a dense
/// table flushed once per chunk (no per-trial increments of shared bins).
const TABLE_MAX: u64 = 1 << 16;

/// Uniform integers from 32-bit halves of 64-bit words: low half first, the high half kept for
/// the next draw (the spare persists across tokens and trials of a chunk).
#[derive(Default)]
struct Halves {
    spare: Option<u32>,
}

impl Halves {
    #[inline]
    fn below(&mut self, rng: &mut Rng, n: u64) -> u64 {
        let half = match self.spare.take() {
            Some(h) => h,
            None => {
                let w = rng.next_u64();
                self.spare = Some((w >> 32) as u32);
                w as u32
            }
        };
        (u64::from(half) * n) >> 32
    }
}

/// Per-expert loads of the current step and the list of experts touched so far, so that
/// recording and clearing a step costs O(touched), not O(experts).
struct Tally {
    loads: Vec<u32>,
    /// `list[..n]`: the experts with a positive load, in order of first touch (len E + 1 so the
    /// branchless append may write one past the end).
    list: Vec<u32>,
    n: usize,
}

impl Tally {
    /// One more token for expert `e`.
    #[inline(always)]
    fn bump(&mut self, e: usize) {
        let l = self.loads[e];
        self.list[self.n] = e as u32;
        self.n += usize::from(l == 0);
        self.loads[e] = l + 1;
    }
}

/// Scratch space of one thread.
struct Worker {
    tally: Tally,
    /// Per-device processed load of the current step (when devices and capacity need it).
    device: Vec<u32>,
    /// `table[e * (tokens + 1) + x]`: trials of this chunk in which expert `e` had load `x`.
    table: Vec<u64>,
    /// `stamp[e] == serial` when expert `e` is already chosen by the current token.
    stamp: Vec<u64>,
    serial: u64,
    /// Cumulative weights (weighted / Dirichlet popularity).
    cdf: Vec<f64>,
    weights: Vec<f64>,
}

impl Worker {
    fn new(s: &Spec<'_>) -> Self {
        let e = s.experts as usize;
        let cells = s.experts * (s.tokens + 1);
        let mut w = Self {
            tally: Tally { loads: vec![0; e], list: vec![0; e + 1], n: 0 },
            device: vec![0; s.devices as usize],
            table: vec![0; if cells <= TABLE_MAX { cells as usize } else { 0 }],
            stamp: vec![0; e],
            serial: 0,
            cdf: Vec::new(),
            weights: Vec::new(),
        };
        if let Popularity::Weights(p) = s.popularity {
            w.set_weights(p);
        }
        w
    }

    fn set_weights(&mut self, p: &[f64]) {
        self.weights.clear();
        self.weights.extend_from_slice(p);
        self.cdf.clear();
        let mut acc = 0.0;
        for &x in p {
            acc += x;
            self.cdf.push(acc);
        }
    }

    fn run_chunk(&mut self, s: &Spec<'_>, chunk: u64, trials: u64, h: &mut Histograms) {
        let mut rng = Rng::for_chunk(s.seed, chunk);
        let mut halves = Halves::default();
        // One loop per popularity model so that the hot loop holds no dispatch.
        match s.popularity {
            Popularity::Uniform if s.experts <= HALF_WORD_EXPERTS && s.top_k == 2 => {
                for _ in 0..trials {
                    self.uniform_top2(s, &mut rng);
                    self.record(s, h);
                }
            }
            Popularity::Uniform if s.experts <= HALF_WORD_EXPERTS => {
                for _ in 0..trials {
                    self.uniform_step_halves(s, &mut rng, &mut halves);
                    self.record(s, h);
                }
            }
            Popularity::Uniform => {
                for _ in 0..trials {
                    self.uniform_step(s, &mut rng);
                    self.record(s, h);
                }
            }
            Popularity::Weights(_) => {
                for _ in 0..trials {
                    self.weighted_step(s, &mut rng);
                    self.record(s, h);
                }
            }
            Popularity::Dirichlet(alpha) => {
                for _ in 0..trials {
                    let mut g = std::mem::take(&mut self.weights);
                    g.clear();
                    g.extend((0..s.experts).map(|_| gamma(&mut rng, alpha).max(MIN_WEIGHT)));
                    self.set_weights(&g);
                    self.weighted_step(s, &mut rng);
                    self.record(s, h);
                }
            }
        }
        self.flush(s, trials, h);
    }

    /// Uniform top-2, E <= [`HALF_WORD_EXPERTS`]: one word per token, the low half picks among
    /// E - 1 and the high half among E (Floyd's algorithm, the same draws as the general loop).
    #[inline]
    fn uniform_top2(&mut self, s: &Spec<'_>, rng: &mut Rng) {
        let e = s.experts;
        // The tally in locals: the touched count stays in a register.
        let Tally { loads, list, n } = &mut self.tally;
        let (loads, list, mut m) = (&mut loads[..], &mut list[..], *n);
        let mut rng2 = rng.clone();
        for _ in 0..s.tokens {
            let w = rng2.next_u64();
            let a = (((w & 0xFFFF_FFFF) * (e - 1)) >> 32) as usize;
            let b = (((w >> 32) * e) >> 32) as usize;
            let b = if b == a { e as usize - 1 } else { b };
            let la = loads[a];
            list[m] = a as u32;
            m += usize::from(la == 0);
            loads[a] = la + 1;
            let lb = loads[b];
            list[m] = b as u32;
            m += usize::from(lb == 0);
            loads[b] = lb + 1;
        }
        *rng = rng2;
        *n = m;
    }

    /// Uniform routing, E <= [`HALF_WORD_EXPERTS`]: Floyd's uniform `k`-subset per token from
    /// 32-bit draws.
    fn uniform_step_halves(&mut self, s: &Spec<'_>, rng: &mut Rng, halves: &mut Halves) {
        let e = s.experts;
        for _ in 0..s.tokens {
            self.serial += 1;
            for j in (e - s.top_k)..e {
                let mut t = halves.below(rng, j + 1) as usize;
                if self.stamp[t] == self.serial {
                    t = j as usize;
                }
                self.stamp[t] = self.serial;
                self.tally.bump(t);
            }
        }
    }

    /// Uniform routing, large E: Floyd's algorithm on 64-bit draws.
    fn uniform_step(&mut self, s: &Spec<'_>, rng: &mut Rng) {
        let e = s.experts;
        for _ in 0..s.tokens {
            self.serial += 1;
            for j in (e - s.top_k)..e {
                let mut t = rng.below(j + 1) as usize;
                if self.stamp[t] == self.serial {
                    t = j as usize;
                }
                self.stamp[t] = self.serial;
                self.tally.bump(t);
            }
        }
    }

    /// One step of successive sampling proportional to `self.weights`.
    fn weighted_step(&mut self, s: &Spec<'_>, rng: &mut Rng) {
        let total = *self.cdf.last().unwrap_or(&0.0);
        let last_positive = self.weights.iter().rposition(|&x| x > 0.0).unwrap_or(0);
        for _ in 0..s.tokens {
            self.serial += 1;
            let mut chosen_mass = 0.0;
            for _ in 0..s.top_k {
                let pick = if chosen_mass <= 0.5 * total {
                    // Rejection from the full law: accepts with probability >= 1/2.
                    loop {
                        let x = rng.uniform() * total;
                        let i = self.cdf.partition_point(|&c| c <= x).min(last_positive);
                        if self.stamp[i] != self.serial {
                            break i;
                        }
                    }
                } else {
                    self.scan_unchosen(rng)
                };
                self.stamp[pick] = self.serial;
                chosen_mass += self.weights[pick];
                self.tally.bump(pick);
            }
        }
    }

    /// Inverse-CDF draw among the experts not yet chosen (used once they hold most of the mass).
    fn scan_unchosen(&self, rng: &mut Rng) -> usize {
        let serial = self.serial;
        let free = |i: &usize| self.stamp[*i] != serial && self.weights[*i] > 0.0;
        let rest: f64 = (0..self.weights.len()).filter(free).map(|i| self.weights[i]).sum();
        let x = rng.uniform() * rest;
        let mut acc = 0.0;
        let mut last = 0;
        for i in (0..self.weights.len()).filter(free) {
            acc += self.weights[i];
            last = i;
            if acc > x {
                return i;
            }
        }
        last
    }

    /// Adds one step's loads to the histograms and clears them: O(touched experts + devices).
    #[inline]
    fn record(&mut self, s: &Spec<'_>, h: &mut Histograms) {
        let width = s.tokens as usize + 1;
        let per_device = (s.experts / s.devices) as usize;
        let simple = s.capacity.is_none() && (per_device == 1 || s.devices == 1);
        if simple && !self.table.is_empty() {
            // The common case in one pass: tally into the table and clear.
            let Tally { loads, list, n } = &mut self.tally;
            let mut max = 0u32;
            for &e in &list[..*n] {
                let x = std::mem::take(&mut loads[e as usize]);
                self.table[e as usize * width + x as usize] += 1;
                max = max.max(x);
            }
            let busiest = if per_device == 1 { max } else { (s.tokens * s.top_k) as u32 };
            h.max_load[max as usize] += 1;
            h.touched[*n] += 1;
            h.dropped[0] += 1;
            h.device_load[busiest as usize] += 1;
            *n = 0;
            return;
        }
        let Tally { loads, list, n } = &mut self.tally;
        let list = &list[..*n];
        let mut max = 0u32;
        if self.table.is_empty() {
            for &e in list {
                let x = loads[e as usize];
                h.load[x as usize] += 1;
                h.expert_total[e as usize] += u64::from(x);
                max = max.max(x);
            }
            h.load[0] += s.experts - list.len() as u64;
        } else {
            for &e in list {
                let x = loads[e as usize];
                self.table[e as usize * width + x as usize] += 1;
                max = max.max(x);
            }
        }
        let (dropped, busiest) = match s.capacity {
            None if per_device == 1 => (0, max),
            None if s.devices == 1 => (0, (s.tokens * s.top_k) as u32),
            cap => {
                let cap = cap.map_or(u32::MAX, |c| c.min(u64::from(u32::MAX)) as u32);
                let mut dropped = 0u64;
                for &e in list {
                    let x = loads[e as usize];
                    dropped += u64::from(x.saturating_sub(cap));
                    self.device[e as usize / per_device] += x.min(cap);
                }
                let busiest = self.device.iter().copied().max().unwrap_or(0);
                self.device.fill(0);
                (dropped, busiest)
            }
        };
        h.max_load[max as usize] += 1;
        h.touched[list.len()] += 1;
        h.dropped[dropped as usize] += 1;
        h.device_load[busiest as usize] += 1;
        for &e in list {
            loads[e as usize] = 0;
        }
        *n = 0;
    }

    /// Moves the per-chunk table of `trials` steps into the histograms (zero loads are the
    /// trials not otherwise counted).
    fn flush(&mut self, s: &Spec<'_>, trials: u64, h: &mut Histograms) {
        if self.table.is_empty() {
            return;
        }
        let width = s.tokens as usize + 1;
        for (row, total) in self.table.chunks_exact_mut(width).zip(&mut h.expert_total) {
            let mut positive = 0;
            for (x, c) in row.iter_mut().enumerate().skip(1) {
                h.load[x] += *c;
                *total += x as u64 * *c;
                positive += *c;
                *c = 0;
            }
            h.load[0] += trials - positive;
        }
    }
}

/// Steps a routing quantile is estimated from when the caller does not say: about 2 x 10^7 routed
/// choices, between 2,000 and 100,000 steps (~0.1 s).
pub fn default_trials(tokens: u64, top_k: u64) -> u64 {
    let per_step = tokens.max(1).saturating_mul(top_k.max(1));
    (20_000_000 / per_step).clamp(2_000, 100_000)
}

/// The smallest value `v` with `P(X <= v) >= q` of a histogram indexed by value (0 for an empty
/// histogram).
pub fn histogram_quantile(hist: &[u64], q: f64) -> u64 {
    let total: u64 = hist.iter().sum();
    let target = q * total as f64;
    let mut acc = 0u64;
    for (v, &c) in hist.iter().enumerate() {
        acc += c;
        if acc as f64 >= target {
            return v as u64;
        }
    }
    hist.len() as u64
}

/// A standard normal by Box-Muller (one of the pair; two uniforms).
pub(crate) fn normal(rng: &mut Rng) -> f64 {
    let u1 = rng.uniform();
    let u2 = rng.uniform();
    (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Gamma(alpha, 1) by Marsaglia & Tsang (2000); alpha < 1 by Gamma(alpha + 1) U^(1/alpha).
fn gamma(rng: &mut Rng, alpha: f64) -> f64 {
    if alpha < 1.0 {
        let g = gamma(rng, alpha + 1.0);
        let u = rng.uniform();
        return g * u.powf(1.0 / alpha);
    }
    let d = alpha - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let t = 1.0 + c * x;
        if t <= 0.0 {
            continue;
        }
        let v = t * t * t;
        let u = rng.uniform();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::rng::Rng;

    fn spec(experts: u64, top_k: u64, tokens: u64, trials: u64) -> Spec<'static> {
        Spec {
            experts,
            top_k,
            tokens,
            trials,
            seed: 7,
            popularity: Popularity::Uniform,
            capacity: None,
            devices: 1,
        }
    }

    /// The naive version: Floyd's algorithm with a set, per trial loads recomputed from scratch.
    fn naive(s: &Spec<'_>) -> Histograms {
        let mut h = Histograms::zeros(s);
        let per_chunk = chunk_trials(s.tokens, s.top_k);
        let chunks = s.trials.div_ceil(per_chunk);
        for c in 0..chunks {
            let mut rng = Rng::for_chunk(s.seed, c);
            let mut halves = Halves::default();
            for _ in 0..per_chunk.min(s.trials - c * per_chunk) {
                let mut loads = vec![0u64; s.experts as usize];
                for _ in 0..s.tokens {
                    let mut set: Vec<u64> = Vec::new();
                    for j in (s.experts - s.top_k)..s.experts {
                        let t = if s.experts <= HALF_WORD_EXPERTS {
                            halves.below(&mut rng, j + 1)
                        } else {
                            rng.below(j + 1)
                        };
                        let pick = if set.contains(&t) { j } else { t };
                        assert!(!set.contains(&pick), "an expert chosen twice");
                        set.push(pick);
                    }
                    for e in set {
                        loads[e as usize] += 1;
                    }
                }
                assert_eq!(loads.iter().sum::<u64>(), s.tokens * s.top_k);
                let cap = s.capacity.unwrap_or(u64::MAX);
                for (e, &x) in loads.iter().enumerate() {
                    h.load[x as usize] += 1;
                    h.expert_total[e] += x;
                }
                h.max_load[*loads.iter().max().unwrap() as usize] += 1;
                h.touched[loads.iter().filter(|&&x| x > 0).count()] += 1;
                h.dropped[loads.iter().map(|&x| x.saturating_sub(cap)).sum::<u64>() as usize] += 1;
                let g = (s.experts / s.devices) as usize;
                let busiest: u64 = (0..s.devices as usize)
                    .map(|d| loads[d * g..(d + 1) * g].iter().map(|&x| x.min(cap)).sum())
                    .max()
                    .unwrap();
                h.device_load[busiest as usize] += 1;
            }
        }
        h
    }

    proptest! {
        #[test]
        fn uniform_matches_naive(
            experts in 1u64..40, k_frac in 0.0f64..1.0, tokens in 1u64..50, trials in 1u64..300,
            seed in any::<u64>(), cap in proptest::option::of(0u64..20), dev_pick in 0usize..4,
        ) {
            let top_k = 1 + ((experts - 1) as f64 * k_frac) as u64;
            let divisors: Vec<u64> = (1..=experts).filter(|d| experts % d == 0).collect();
            let devices = divisors[dev_pick % divisors.len()];
            let s = Spec { seed, capacity: cap, devices, ..spec(experts, top_k, tokens, trials) };
            let got = route(&s, &Control::new()).unwrap();
            prop_assert_eq!(&got, &naive(&s));
            prop_assert_eq!(got.expert_total.iter().sum::<u64>(), trials * tokens * top_k);
        }

        #[test]
        fn weighted_conserves_and_never_picks_zero_weight(
            w in proptest::collection::vec(prop_oneof![Just(0.0), 0.001f64..10.0], 1..20),
            k_frac in 0.0f64..1.0, tokens in 1u64..40, seed in any::<u64>(),
        ) {
            let positive = w.iter().filter(|&&x| x > 0.0).count() as u64;
            prop_assume!(positive >= 1);
            let top_k = 1 + ((positive - 1) as f64 * k_frac) as u64;
            let s = Spec { seed, popularity: Popularity::Weights(&w), ..spec(w.len() as u64, top_k, tokens, 50) };
            let h = route(&s, &Control::new()).unwrap();
            prop_assert_eq!(h.expert_total.iter().sum::<u64>(), 50 * tokens * top_k);
            for (e, &x) in w.iter().enumerate() {
                if x == 0.0 { prop_assert_eq!(h.expert_total[e], 0); }
                // no expert twice per token => at most one assignment per token
                prop_assert!(h.expert_total[e] <= 50 * tokens);
            }
        }
    }

    #[test]
    fn large_expert_counts_use_full_words() {
        for (e, k) in [(5000, 1), (5000, 2), (4097, 7)] {
            let s = Spec { capacity: Some(1), devices: 1, ..spec(e, k, 30, 40) };
            assert_eq!(route(&s, &Control::new()).unwrap(), naive(&s));
        }
    }

    #[test]
    fn thread_count_does_not_matter() {
        let s = Spec { capacity: Some(3), devices: 4, ..spec(16, 2, 8, 100_000) };
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let a = one.install(|| route(&s, &Control::new())).unwrap();
        let b = two.install(|| route(&s, &Control::new())).unwrap();
        assert_eq!(a, b);
        let w = [1.0, 2.0, 3.0, 4.0, 0.5, 0.5, 0.5, 0.5];
        let s = Spec { popularity: Popularity::Weights(&w), ..spec(8, 3, 8, 20_000) };
        assert_eq!(one.install(|| route(&s, &Control::new())), two.install(|| route(&s, &Control::new())));
        let s = Spec { popularity: Popularity::Dirichlet(0.3), ..spec(8, 2, 8, 20_000) };
        assert_eq!(one.install(|| route(&s, &Control::new())), two.install(|| route(&s, &Control::new())));
    }

    #[test]
    fn uniform_marginal_mean_and_variance() {
        // X_e ~ Binomial(B, k/E): mean 1, variance B (k/E)(1 - k/E) = 0.875 for top-2 of 16, B = 8.
        let s = spec(16, 2, 8, 200_000);
        let h = route(&s, &Control::new()).unwrap();
        let n = (16 * 200_000) as f64;
        let mean: f64 = h.load.iter().enumerate().map(|(x, &c)| x as f64 * c as f64).sum::<f64>() / n;
        let var: f64 =
            h.load.iter().enumerate().map(|(x, &c)| (x as f64 - mean).powi(2) * c as f64).sum::<f64>() / n;
        assert!((mean - 1.0).abs() < 1e-12); // sum of loads is exactly k B per trial
        assert!((var - 0.875).abs() < 0.01, "{var}");
    }

    #[test]
    fn gamma_mean() {
        let mut rng = Rng::for_chunk(1, 2);
        for alpha in [0.3, 1.0, 4.5] {
            let n = 200_000;
            let m: f64 = (0..n).map(|_| gamma(&mut rng, alpha)).sum::<f64>() / n as f64;
            // sd of the mean = sqrt(alpha / n)
            assert!((m - alpha).abs() < 5.0 * (alpha / n as f64).sqrt(), "{alpha}: {m}");
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let ok = spec(16, 2, 8, 10);
        assert!(validate(&ok).is_ok());
        assert!(validate(&Spec { top_k: 17, ..ok }).is_err());
        assert!(validate(&Spec { top_k: 0, ..ok }).is_err());
        assert!(validate(&Spec { tokens: 0, ..ok }).is_err());
        assert!(validate(&Spec { trials: 0, ..ok }).is_err());
        assert!(validate(&Spec { devices: 3, ..ok }).is_err());
        assert!(validate(&Spec { devices: 0, ..ok }).is_err());
        assert!(matches!(validate(&Spec { tokens: 1 << 40, ..ok }), Err(Error::TooLarge { .. })));
        assert!(matches!(validate(&Spec { trials: u64::MAX / 4, ..ok }), Err(Error::TooLarge { .. })));
        let w = [1.0; 15];
        assert!(validate(&Spec { popularity: Popularity::Weights(&w), ..ok }).is_err());
        let mut w = [1.0; 16];
        w[3] = f64::NAN;
        assert!(validate(&Spec { popularity: Popularity::Weights(&w), ..ok }).is_err());
        let mut w = [0.0; 16];
        w[0] = 1.0;
        assert!(validate(&Spec { popularity: Popularity::Weights(&w), ..ok }).is_err());
        assert!(validate(&Spec { popularity: Popularity::Dirichlet(0.0), ..ok }).is_err());
        // Once spun forever: gamma draws near the float range made the sampler's running sum inf.
        assert!(validate(&Spec { popularity: Popularity::Dirichlet(1e308), ..ok }).is_err());
        assert!(validate(&Spec { popularity: Popularity::Dirichlet(1e12), ..ok }).is_ok());
        let huge = [1e308; 16];
        assert!(validate(&Spec { popularity: Popularity::Weights(&huge), ..ok }).is_err());
    }

    #[test]
    fn cancelled_control_interrupts() {
        let c = Control::new();
        c.cancel();
        assert_eq!(route(&spec(16, 2, 8, 1_000_000), &c), Err(Error::Interrupted));
    }
}

#[cfg(test)]
mod speed {
    use super::*;

    fn spec_top2() -> Spec<'static> {
        Spec {
            experts: 16,
            top_k: 2,
            tokens: 8,
            trials: 1,
            seed: 1,
            popularity: Popularity::Uniform,
            capacity: None,
            devices: 1,
        }
    }

    /// Best-of-many single-thread throughput, interleaved with a plain xoshiro loop so that the
    /// ratio survives a busy machine:
    /// `cargo test --release -p brickwall-core routing::speed -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn single_thread_choices_per_second() {
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let cases = [(16, 2, 8, None, 1), (16, 2, 8, Some(2), 8), (128, 2, 8, None, 1), (16, 1, 8, None, 1)];
        let trials = 250_000;
        let (mut plain, mut best) = (f64::INFINITY, [f64::INFINITY; 4]);
        let mut sink = 0u64;
        for _ in 0..20 {
            let mut r = Rng::new(1);
            let t = std::time::Instant::now();
            for _ in 0..4_000_000 {
                sink = sink.wrapping_add(r.below(16));
            }
            plain = plain.min(t.elapsed().as_secs_f64() / 4e6);
            for (i, &(e, k, b, cap, d)) in cases.iter().enumerate() {
                let s = Spec {
                    experts: e,
                    top_k: k,
                    tokens: b,
                    trials,
                    seed: 1,
                    popularity: Popularity::Uniform,
                    capacity: cap,
                    devices: d,
                };
                let t = std::time::Instant::now();
                one.install(|| route(&s, &Control::new())).unwrap();
                best[i] = best[i].min(t.elapsed().as_secs_f64() / (trials * b * k) as f64);
            }
        }
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let s = Spec { trials: 2_000_000, ..spec_top2() };
        let (mut t1, mut t2) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..5 {
            let t = std::time::Instant::now();
            one.install(|| route(&s, &Control::new())).unwrap();
            t1 = t1.min(t.elapsed().as_secs_f64());
            let t = std::time::Instant::now();
            two.install(|| route(&s, &Control::new())).unwrap();
            t2 = t2.min(t.elapsed().as_secs_f64());
        }
        println!("top-2 of 16, B = 8: 2 threads {:.3e} choices/s, {:.2}x one thread", 32e6 / t2, t1 / t2);
        println!("plain xoshiro below(16): {:.3e} draws/s ({sink})", 1.0 / plain);
        for (i, (e, k, b, cap, d)) in cases.iter().enumerate() {
            println!(
                "E={e} k={k} B={b} cap={cap:?} D={d}: {:.3e} choices/s = {:.2} x plain draws",
                1.0 / best[i],
                plain / best[i]
            );
        }
    }
}
