//! Exact routing distributions (docs/sources.md), the companions of the Monte Carlo in
//! [`crate::routing`]: per-expert inclusion probabilities, the Binomial law of one expert's load,
//! expected touched experts and drops, and the law of the busiest expert's load.
//!
//! The routing model is [`crate::routing`]'s: each of `B` tokens picks `k` distinct experts of
//! `E`, uniformly or by successive sampling from popularity weights. One expert's load is
//! `Binomial(B, pi_e)` with `pi_e` its inclusion probability; the loads are negatively
//! associated, which bounds the law of their maximum:
//! `1 - sum_e P(X_e > c) <= P(max <= c) <= prod_e P(X_e <= c)`.
//! The maximum is exact in two cases: uniform top-k by a dynamic programme over experts
//! ([`column_dp_cdf`]) and top-1 with any popularity by conditional binomials
//! ([`multinomial_cdf`]). `brickwall.reference.routing` holds the slow Python versions.
//!
//! Long kernels take a [`Control`] (Ctrl-C between experts) and refuse work beyond fixed limits
//! with [`Error::TooLarge`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rayon::prelude::*;

use crate::control::Control;
use crate::error::{Error, Result};
use crate::roofline::expected_touched_experts;
use crate::routing::MAX_EXPERTS;

/// Column-DP work (transitions, see [`column_dp_work`]) up to which `Method::Auto` picks it.
pub const AUTO_COLUMN_DP_WORK: f64 = 1e7;
/// Column-DP work an explicit request may ask for.
pub const MAX_COLUMN_DP_WORK: f64 = 50.0 * AUTO_COLUMN_DP_WORK;
/// Multinomial work `E (B + 1)^3` up to which `Method::Auto` picks it.
pub const AUTO_MULTINOMIAL_WORK: f64 = 2e9;
/// Multinomial work an explicit request may ask for.
pub const MAX_MULTINOMIAL_WORK: f64 = 50.0 * AUTO_MULTINOMIAL_WORK;
/// Largest `E^2 k` nodes-free work of the inclusion-probability quadrature (x 257 nodes).
pub const MAX_INCLUSION_WORK: f64 = 1e9;
/// Largest `rows x (B + 1)` table of load probabilities.
pub const MAX_PMF_CELLS: f64 = (1u64 << 26) as f64;
/// A computed `P(max <= c)` at least this close to 1 is 1 from there on (the tail is below
/// rounding): the remaining, most expensive values of `c` are skipped.
const ONE: f64 = 1.0 - 1e-15;

/// The popularity of a routing law: uniform, or weights summing to 1 (one per expert).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Law<'a> {
    /// Every `k`-subset equally likely.
    Uniform {
        /// Routed experts E.
        experts: u64,
        /// Distinct experts per token k.
        top_k: u64,
    },
    /// Successive sampling proportional to `weights` (normalised).
    Weights {
        /// One probability per expert, summing to 1.
        weights: &'a [f64],
        /// Distinct experts per token k.
        top_k: u64,
    },
}

impl Law<'_> {
    /// Number of experts E.
    pub fn experts(&self) -> u64 {
        match *self {
            Law::Uniform { experts, .. } => experts,
            Law::Weights { weights, .. } => weights.len() as u64,
        }
    }

    /// Experts per token k.
    pub fn top_k(&self) -> u64 {
        match *self {
            Law::Uniform { top_k, .. } | Law::Weights { top_k, .. } => top_k,
        }
    }

    /// Checks the law; every failure names the field and the accepted range.
    pub fn validate(&self) -> Result<()> {
        let e = self.experts();
        if e == 0 || e > MAX_EXPERTS {
            return Err(Error::invalid("experts", e, format!("an integer in [1, {MAX_EXPERTS}]")));
        }
        let k = self.top_k();
        if k == 0 || k > e {
            return Err(Error::invalid("top_k", k, format!("an integer in [1, experts = {e}]")));
        }
        if let Law::Weights { weights, .. } = *self {
            if let Some(i) = weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
                return Err(Error::invalid(format!("weights[{i}]"), weights[i], "a finite number >= 0"));
            }
            let total: f64 = weights.iter().sum();
            if (total - 1.0).abs() > 1e-6 {
                return Err(Error::invalid("sum(weights)", total, "1 (probabilities, within 1e-6)"));
            }
            let positive = weights.iter().filter(|&&w| w > 0.0).count() as u64;
            if positive < k {
                return Err(Error::invalid(
                    "weights",
                    format!("{positive} positive entries"),
                    format!("at least top_k = {k}"),
                ));
            }
        }
        Ok(())
    }
}

fn check_tokens(tokens: u64) -> Result<()> {
    if tokens == 0 {
        return Err(Error::invalid("tokens", 0, "an integer >= 1"));
    }
    Ok(())
}

fn too_large(what: &str, detail: String) -> Error {
    Error::TooLarge { what: what.into(), detail }
}

/// The perfectly balanced load of one expert, `k B / E` tokens.
pub fn balanced_load(experts: u64, top_k: u64, tokens: u64) -> Result<f64> {
    Law::Uniform { experts, top_k }.validate()?;
    check_tokens(tokens)?;
    // k B exactly while it fits (then correctly rounded, as Python's int / int), else in floats.
    let assignments = top_k.checked_mul(tokens).map_or(top_k as f64 * tokens as f64, |a| a as f64);
    Ok(assignments / experts as f64)
}

/// `ln 0!, ln 1!, ..., ln n!` by a running sum.
fn log_factorials(n: u64) -> Vec<f64> {
    let mut out = Vec::with_capacity(n as usize + 1);
    let mut acc = 0.0;
    out.push(0.0);
    for i in 1..=n {
        acc += (i as f64).ln();
        out.push(acc);
    }
    out
}

/// `Binomial(n, p)` probabilities of `0..=n`, in log space (stable for large `n`).
pub fn binomial_pmf(n: u64, p: f64) -> Vec<f64> {
    binomial_pmf_with(&log_factorials(n), n, p)
}

fn binomial_pmf_with(logfact: &[f64], n: u64, p: f64) -> Vec<f64> {
    let n_us = n as usize;
    if p <= 0.0 || p >= 1.0 {
        let mut edge = vec![0.0; n_us + 1];
        edge[if p <= 0.0 { 0 } else { n_us }] = 1.0;
        return edge;
    }
    let (lp, l1p) = (p.ln(), (-p).ln_1p());
    (0..=n_us)
        .map(|x| {
            let logc = logfact[n_us] - logfact[x] - logfact[n_us - x];
            (logc + x as f64 * lp + (n_us - x) as f64 * l1p).exp()
        })
        .collect()
}

/// P(expert e is among a token's top-k), for each expert: `k/E` when uniform, `p` when `k = 1`,
/// and for successive sampling the exponential-race integral
/// `pi_e = int_0^inf p_e e^(-p_e t) P(fewer than k others arrived by t) dt` (the others arrive
/// at `Exp(p_i)` times), by tanh-sinh quadrature (~1e-12).
pub fn inclusion_probabilities(law: &Law<'_>, control: &Control) -> Result<Vec<f64>> {
    law.validate()?;
    let (e, k) = (law.experts() as usize, law.top_k() as usize);
    let p = match *law {
        Law::Uniform { .. } => return Ok(vec![k as f64 / e as f64; e]),
        Law::Weights { weights, .. } => weights,
    };
    if k == 1 {
        return Ok(p.to_vec());
    }
    if k == e {
        return Ok(vec![1.0; e]);
    }
    let work = (e as f64) * (e as f64) * (k as f64);
    if work > MAX_INCLUSION_WORK {
        return Err(too_large(
            "experts^2 x top_k",
            format!("{work:.3e} exceeds {MAX_INCLUSION_WORK:.0e} for the inclusion quadrature"),
        ));
    }
    // Tanh-sinh nodes over u = 1 - exp(-p_e t) in (0, 1): the integrand has power-law endpoint
    // behaviour (w^(p_i/p_e), w = 1 - u), which double-exponential nodes absorb.
    let nodes: Vec<(f64, f64)> = (0..=256)
        .map(|i| {
            let tau = -4.0 + f64::from(i) / 32.0;
            let y = 0.5 * std::f64::consts::PI * tau.sinh();
            let u = 1.0 / (1.0 + (-2.0 * y).exp());
            let w = 1.0 / (1.0 + (2.0 * y).exp()); // 1 - u without cancellation
            (-w.ln(), std::f64::consts::PI * u * w * tau.cosh() / 32.0)
        })
        .collect();
    (0..e)
        .into_par_iter()
        .map(|i| {
            control.checkpoint(1)?;
            if p[i] <= 0.0 {
                return Ok(0.0);
            }
            let mut dist = vec![0.0; k];
            let mut total = 0.0;
            for &(neg_ln_w, weight) in &nodes {
                let t = neg_ln_w / p[i];
                // Poisson-binomial P(count < k) of the others by a DP truncated at k.
                dist.fill(0.0);
                dist[0] = 1.0;
                for (j, &pj) in p.iter().enumerate() {
                    if j == i {
                        continue;
                    }
                    let q = -(-t * pj).exp_m1();
                    for r in (1..k).rev() {
                        dist[r] = dist[r] * (1.0 - q) + dist[r - 1] * q;
                    }
                    dist[0] *= 1.0 - q;
                }
                total += weight * dist.iter().sum::<f64>();
            }
            Ok(total)
        })
        .collect()
}

/// The exact marginal law of one expert's load, `X_e ~ Binomial(B, pi_e)`: uniform routing gives
/// one row (`pi = k/E`), weights one row per expert; row-major `rows x (B + 1)`.
pub fn load_pmf(law: &Law<'_>, tokens: u64, control: &Control) -> Result<(usize, Vec<f64>)> {
    check_tokens(tokens)?;
    let pi = match *law {
        Law::Uniform { experts, top_k } => {
            law.validate()?;
            vec![top_k as f64 / experts as f64]
        }
        Law::Weights { .. } => inclusion_probabilities(law, control)?,
    };
    let cells = pi.len() as f64 * (tokens as f64 + 1.0);
    if cells > MAX_PMF_CELLS {
        return Err(too_large(
            "rows x (tokens + 1)",
            format!("{cells:.3e} exceeds {MAX_PMF_CELLS:.0e} cells"),
        ));
    }
    let logfact = log_factorials(tokens);
    let rows: Vec<Vec<f64>> = pi.par_iter().map(|&x| binomial_pmf_with(&logfact, tokens, x)).collect();
    Ok((rows.len(), rows.concat()))
}

/// Mean number of distinct experts receiving a token: `sum_e 1 - (1 - pi_e)^B`
/// (`E (1 - (1 - k/E)^B)` uniform), through [`expected_touched_experts`].
pub fn expected_touched(law: &Law<'_>, tokens: u64, control: &Control) -> Result<f64> {
    check_tokens(tokens)?;
    let b = tokens as f64;
    match *law {
        Law::Uniform { experts, top_k } => {
            law.validate()?;
            expected_touched_experts(experts as f64, top_k as f64, b)
        }
        Law::Weights { .. } => {
            let pi = inclusion_probabilities(law, control)?;
            pi.iter().map(|&x| expected_touched_experts(1.0, x.clamp(0.0, 1.0), b)).sum()
        }
    }
}

/// Mean assignments dropped per step with `capacity` tokens per expert,
/// `sum_e E[(X_e - C)+]` with `X_e ~ Bin(B, pi_e)` (exact by linearity).
pub fn expected_drops(law: &Law<'_>, tokens: u64, capacity: u64, control: &Control) -> Result<f64> {
    let (rows, pmf) = load_pmf(law, tokens, control)?;
    let width = tokens as usize + 1;
    let excess = |row: &[f64]| -> f64 {
        row.iter().enumerate().map(|(x, p)| p * (x as u64).saturating_sub(capacity) as f64).sum()
    };
    if rows == 1 && matches!(law, Law::Uniform { .. }) {
        return Ok(law.experts() as f64 * excess(&pmf));
    }
    Ok(pmf.chunks_exact(width).map(excess).sum())
}

/// How [`max_load_cdf`] computes the law of the busiest expert's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The exact method when affordable, else the bounds.
    Auto,
    /// Uniform top-k: exact dynamic programme over experts.
    ColumnDp,
    /// Top-1 with any popularity: exact conditional binomials.
    Multinomial,
    /// The negative-association bounds (midpoint as the estimate).
    Bounds,
}

impl Method {
    /// Parses `auto`, `column-dp`, `multinomial` or `bounds`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Method::Auto),
            "column-dp" => Ok(Method::ColumnDp),
            "multinomial" => Ok(Method::Multinomial),
            "bounds" => Ok(Method::Bounds),
            _ => Err(Error::invalid("method", s, "one of auto, column-dp, multinomial, bounds")),
        }
    }

    /// The name [`parse`](Self::parse) reads.
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::ColumnDp => "column-dp",
            Method::Multinomial => "multinomial",
            Method::Bounds => "bounds",
        }
    }
}

/// The law of the busiest expert's load: `P(max <= c)` for `c = 0..=B`.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxLoad {
    /// The method used (never `Auto`).
    pub method: Method,
    /// `P(max <= c)`; with `Bounds`, the midpoint of `lower` and `upper`.
    pub cdf: Vec<f64>,
    /// A valid lower bound (equal to `cdf` when exact).
    pub lower: Vec<f64>,
    /// A valid upper bound (equal to `cdf` when exact).
    pub upper: Vec<f64>,
}

/// `E[X] = sum_c (1 - P(X <= c))` of a law on `0..=n` given by its CDF; on bounds of the CDF it
/// gives bounds of the mean (the upper CDF bound the lower mean).
pub fn mean_from_cdf(cdf: &[f64]) -> f64 {
    cdf.iter().map(|c| 1.0 - c).sum()
}

/// Transitions of the column DP: `E C(B + k, k)^2 (B + 1)`.
pub fn column_dp_work(experts: u64, top_k: u64, tokens: u64) -> f64 {
    let states = (1..=top_k).fold(1.0, |acc, j| acc * (tokens + j) as f64 / j as f64);
    experts as f64 * states * states * (tokens as f64 + 1.0)
}

/// Whether the column DP's states `(n_1..n_k)`, packed in base `B + 1`, fit in 64 bits.
fn packs(top_k: u64, tokens: u64) -> bool {
    u32::try_from(top_k).ok().and_then(|k| (tokens + 1).checked_pow(k)).is_some()
}

fn multinomial_work(experts: u64, tokens: u64) -> f64 {
    experts as f64 * (tokens as f64 + 1.0).powi(3)
}

/// The law of the busiest expert's load (see the module docs): exact by the column DP (uniform
/// top-k), the multinomial form (top-1), else the negative-association bounds. `Auto` picks the
/// exact method when its work is below [`AUTO_COLUMN_DP_WORK`] / [`AUTO_MULTINOMIAL_WORK`].
pub fn max_load_cdf(law: &Law<'_>, tokens: u64, method: Method, control: &Control) -> Result<MaxLoad> {
    check_tokens(tokens)?;
    law.validate()?;
    let (e, k, b) = (law.experts(), law.top_k(), tokens);
    let dp_ok = matches!(law, Law::Uniform { .. });
    let mn_ok = k == 1;
    let method = match method {
        Method::Auto if dp_ok && packs(k, b) && column_dp_work(e, k, b) <= AUTO_COLUMN_DP_WORK => {
            Method::ColumnDp
        }
        Method::Auto if mn_ok && multinomial_work(e, b) <= AUTO_MULTINOMIAL_WORK => Method::Multinomial,
        Method::Auto => Method::Bounds,
        m => m,
    };
    let exact = |cdf: Vec<f64>| MaxLoad { method, lower: cdf.clone(), upper: cdf.clone(), cdf };
    match method {
        Method::ColumnDp => {
            if !dp_ok {
                return Err(Error::invalid("method", "column-dp", "uniform popularity for the column DP"));
            }
            Ok(exact(column_dp_cdf(e, k, b, control)?))
        }
        Method::Multinomial => {
            if !mn_ok {
                return Err(Error::invalid("method", "multinomial", "top_k = 1 for the multinomial form"));
            }
            let uniform;
            let p = match *law {
                Law::Weights { weights, .. } => weights,
                Law::Uniform { .. } => {
                    uniform = vec![1.0 / e as f64; e as usize];
                    &uniform
                }
            };
            Ok(exact(multinomial_cdf(p, b, control)?))
        }
        _ => {
            let (lower, upper) = max_load_bounds(law, b, control)?;
            let cdf = lower.iter().zip(&upper).map(|(l, u)| 0.5 * (l + u)).collect();
            Ok(MaxLoad { method: Method::Bounds, cdf, lower, upper })
        }
    }
}

/// The negative-association bounds `(lower, upper)` of `P(max <= c)`, `c = 0..=B`.
pub fn max_load_bounds(law: &Law<'_>, tokens: u64, control: &Control) -> Result<(Vec<f64>, Vec<f64>)> {
    let (rows, pmf) = load_pmf(law, tokens, control)?;
    let width = tokens as usize + 1;
    // Uniform routing has one row shared by all E experts.
    let copies = if rows == 1 && matches!(law, Law::Uniform { .. }) { law.experts() } else { 1 };
    let mut upper = vec![1.0; width];
    let mut miss = vec![0.0; width]; // sum_e P(X_e > c)
    for row in pmf.chunks_exact(width) {
        let mut acc = 0.0;
        for (c, &x) in row.iter().enumerate() {
            acc += x;
            let cdf = acc.min(1.0);
            if copies == 1 {
                upper[c] *= cdf;
                miss[c] += 1.0 - cdf;
            } else {
                upper[c] *= cdf.powf(copies as f64);
                miss[c] += copies as f64 * (1.0 - cdf);
            }
        }
    }
    let mut lower: Vec<f64> = miss.iter().map(|m| (1.0 - m).max(0.0)).collect();
    lower[width - 1] = 1.0;
    upper[width - 1] = 1.0;
    for (u, l) in upper.iter_mut().zip(&lower) {
        *u = u.max(*l);
    }
    Ok((lower, upper))
}

/// A fast hasher for the DP's packed integer states.
#[derive(Default)]
struct PackedHasher(u64);

impl Hasher for PackedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type States = HashMap<u64, f64, BuildHasherDefault<PackedHasher>>;

/// `P(max <= c)`, `c = 0..=B`, under uniform top-k routing by a dynamic programme over experts
/// (docs/sources.md, in probabilities rather than counts). The state is `(n_1, ..., n_k)`: the
/// tokens still needing `r` more experts. At expert `i` (`m = E - i` experts left, this one
/// included) a token needing `r` takes it with probability `r/m`, so `j_r` of the `n_r` take it
/// with probability `Binomial(n_r, r/m)[j_r]`; the expert's load `sum_r j_r` must stay `<= c`.
/// Along any path each token's factors multiply to `1 / C(E, k)`, so this is the count DP divided
/// by `C(E, k)^B`. Refuses work beyond [`MAX_COLUMN_DP_WORK`].
pub fn column_dp_cdf(experts: u64, top_k: u64, tokens: u64, control: &Control) -> Result<Vec<f64>> {
    Law::Uniform { experts, top_k }.validate()?;
    check_tokens(tokens)?;
    let (e, k, b) = (experts, top_k as usize, tokens);
    let work = column_dp_work(e, top_k, b);
    if work > MAX_COLUMN_DP_WORK {
        return Err(too_large(
            "column DP",
            format!("E={e}, k={k}, B={b} needs {work:.3e} transitions (limit {MAX_COLUMN_DP_WORK:.0e}): use method='bounds'"),
        ));
    }
    // States pack (n_1..n_k) in base B + 1.
    let radix = b + 1;
    if !packs(top_k, b) {
        return Err(too_large(
            "column DP",
            format!("k={k}, B={b}: (B + 1)^k states overflow 64 bits: use method='bounds'"),
        ));
    }
    let logfact = log_factorials(b);
    let mut cdf = vec![1.0; b as usize + 1];
    for c in 0..=b {
        if c * e < top_k * b {
            cdf[c as usize] = 0.0; // pigeonhole: the loads cannot all fit
            continue;
        }
        let mut states = States::default();
        states.insert(b * radix.pow(top_k as u32 - 1), 1.0); // all B tokens need k experts
        for i in 0..e {
            control.checkpoint(1)?;
            // pmf[r - 1][n][j] = Binomial(n, r/m)[j], m = E - i experts left (this one included):
            // recomputed per c rather than held for every expert (memory stays O(k B^2)).
            let m = e - i;
            let pmf: Vec<Vec<Vec<f64>>> = (1..=top_k)
                .map(|r| (0..=b).map(|n| binomial_pmf_with(&logfact, n, r as f64 / m as f64)).collect())
                .collect();
            let mut next = States::default();
            let mut n = vec![0u64; k];
            let mut picks = vec![0u64; k];
            for (&key, &p) in &states {
                let mut rest = key;
                for slot in n.iter_mut() {
                    *slot = rest % radix;
                    rest /= radix;
                }
                spread(&n, &pmf, c, 0, p, &mut picks, radix, &mut next);
            }
            states = next;
        }
        let done = states.get(&0).copied().unwrap_or(0.0).clamp(0.0, 1.0);
        cdf[c as usize] = done;
        if done >= ONE {
            cdf[c as usize..].fill(1.0);
            break;
        }
    }
    Ok(cdf)
}

/// Enumerates the takes `j_r <= n_r` (class `r = idx + 1`) with `sum j <= budget` and adds each
/// resulting state to `next`: class `r` loses `j_r` tokens, class `r - 1` gains them.
#[allow(clippy::too_many_arguments)]
fn spread(
    n: &[u64],
    pmf: &[Vec<Vec<f64>>],
    budget: u64,
    idx: usize,
    p: f64,
    picks: &mut [u64],
    radix: u64,
    next: &mut States,
) {
    if idx == n.len() {
        let mut key = 0u64;
        for r in (0..n.len()).rev() {
            let moved_in = if r + 1 < n.len() { picks[r + 1] } else { 0 };
            key = key * radix + (n[r] - picks[r] + moved_in);
        }
        *next.entry(key).or_insert(0.0) += p;
        return;
    }
    let row = &pmf[idx][n[idx] as usize];
    for j in 0..=n[idx].min(budget) {
        let w = row[j as usize];
        if w == 0.0 {
            continue;
        }
        picks[idx] = j;
        spread(n, pmf, budget - j, idx + 1, p * w, picks, radix, next);
    }
    picks[idx] = 0;
}

/// Values of `c` the multinomial kernel advances together (one transition table per expert and
/// block, the block's CDF vectors updated in parallel).
const C_BLOCK: u64 = 16;

/// Top-1 (multinomial) `P(max <= c)`, `c = 0..=B`, by conditional binomials: `X_1 ~ Bin(B, p_1)`,
/// `X_2 | X_1 ~ Bin(B - X_1, p_2 / (p_2 + ... + p_E))`, ...; `f(n)` = P(the experts so far all
/// took `<= c` tokens and `n` are left); the last expert takes what is left. Equivalent to
/// `m! [x^m] prod_i sum_{j<=c} (p_i x)^j / j!` (docs/sources.md) but in probabilities, so it never
/// overflows. Refuses work beyond [`MAX_MULTINOMIAL_WORK`].
pub fn multinomial_cdf(weights: &[f64], tokens: u64, control: &Control) -> Result<Vec<f64>> {
    Law::Weights { weights, top_k: 1 }.validate()?;
    check_tokens(tokens)?;
    let b = tokens as usize;
    let work = multinomial_work(weights.len() as u64, tokens);
    if work > MAX_MULTINOMIAL_WORK {
        return Err(too_large(
            "multinomial max-load CDF",
            format!("E (B + 1)^3 = {work:.3e} exceeds {MAX_MULTINOMIAL_WORK:.0e}: use method='bounds'"),
        ));
    }
    let p: Vec<f64> = weights.iter().copied().filter(|&x| x > 0.0).collect();
    // rest[i] = p_i + ... + p_E, summed from the end
    let mut rest = vec![0.0; p.len()];
    let mut acc = 0.0;
    for i in (0..p.len()).rev() {
        acc += p[i];
        rest[i] = acc;
    }
    let logfact = log_factorials(tokens);
    let mut out = vec![1.0; b + 1];
    let mut c0 = 0usize;
    while c0 <= b {
        let c1 = (c0 + C_BLOCK as usize).min(b + 1); // this block: c0..c1
        let jmax = c1 - 1;
        let mut fs: Vec<Vec<f64>> = (c0..c1)
            .map(|_| {
                let mut f = vec![0.0; b + 1];
                f[b] = 1.0;
                f
            })
            .collect();
        // table[n * (jmax + 1) + j] = P(this expert takes j | n left) for j <= min(n, jmax)
        let mut table = vec![0.0; (b + 1) * (jmax + 1)];
        for i in 0..p.len().saturating_sub(1) {
            control.checkpoint(1)?;
            let q = (p[i] / rest[i]).min(1.0);
            let lq = if q > 0.0 { q.ln() } else { f64::NEG_INFINITY };
            let l1q = if q < 1.0 { (-q).ln_1p() } else { f64::NEG_INFINITY };
            table.par_chunks_mut(jmax + 1).enumerate().for_each(|(n, row)| {
                for (j, t) in row.iter_mut().enumerate().take(n.min(jmax) + 1) {
                    let m = n - j;
                    let logt = logfact[n] - logfact[j] - logfact[m]
                        + if j > 0 { j as f64 * lq } else { 0.0 }
                        + if m > 0 { m as f64 * l1q } else { 0.0 };
                    *t = logt.exp();
                }
            });
            fs.par_iter_mut().enumerate().for_each(|(ci, f)| {
                let c = c0 + ci;
                let mut g = vec![0.0; b + 1];
                for (n, &fn_) in f.iter().enumerate() {
                    if fn_ == 0.0 {
                        continue;
                    }
                    let row = &table[n * (jmax + 1)..];
                    for j in 0..=n.min(c) {
                        g[n - j] += fn_ * row[j];
                    }
                }
                *f = g;
            });
        }
        let mut finished = false;
        for (ci, f) in fs.iter().enumerate() {
            let c = c0 + ci;
            let v = f[..=c].iter().sum::<f64>().min(1.0);
            out[c] = v;
            if v >= ONE {
                out[c..].fill(1.0);
                finished = true;
                break;
            }
        }
        if finished {
            break;
        }
        c0 = c1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn comb(n: u64, k: u64) -> f64 {
        (1..=k).fold(1.0, |acc, j| acc * (n + 1 - j) as f64 / j as f64)
    }

    /// P(max <= c) by enumerating every routing of a tiny uniform case.
    fn brute_uniform(e: usize, k: usize, b: usize) -> Vec<f64> {
        let subsets: Vec<Vec<usize>> = (0..1usize << e)
            .filter(|m| m.count_ones() as usize == k)
            .map(|m| (0..e).filter(|i| m >> i & 1 == 1).collect())
            .collect();
        let mut counts = vec![0u64; b + 1];
        let total = subsets.len().pow(b as u32);
        for code in 0..total {
            let mut loads = vec![0usize; e];
            let mut x = code;
            for _ in 0..b {
                for &i in &subsets[x % subsets.len()] {
                    loads[i] += 1;
                }
                x /= subsets.len();
            }
            counts[*loads.iter().max().unwrap()] += 1;
        }
        let mut acc = 0u64;
        counts
            .iter()
            .map(|&n| {
                acc += n;
                acc as f64 / total as f64
            })
            .collect()
    }

    /// P(max <= c) of top-1 routing with popularity p, over all E^B routings.
    fn brute_top1(p: &[f64], b: usize) -> Vec<f64> {
        let e = p.len();
        let mut out = vec![0.0; b + 1];
        for code in 0..e.pow(b as u32) {
            let (mut loads, mut prob, mut x) = (vec![0usize; e], 1.0, code);
            for _ in 0..b {
                loads[x % e] += 1;
                prob *= p[x % e];
                x /= e;
            }
            out[*loads.iter().max().unwrap()] += prob;
        }
        let mut acc = 0.0;
        out.iter()
            .map(|x| {
                acc += x;
                acc
            })
            .collect()
    }

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    proptest! {
        #[test]
        fn column_dp_matches_enumeration(e in 1usize..6, k_frac in 0.0f64..1.0, b in 1usize..5) {
            let k = 1 + ((e - 1) as f64 * k_frac) as usize;
            let got = column_dp_cdf(e as u64, k as u64, b as u64, &Control::new()).unwrap();
            let want = brute_uniform(e, k, b);
            prop_assert!(close(&got, &want, 1e-13), "{got:?} vs {want:?}");
        }

        #[test]
        fn multinomial_matches_enumeration(w in prop::collection::vec(0.01f64..1.0, 1..5), b in 1usize..6) {
            let total: f64 = w.iter().sum();
            let p: Vec<f64> = w.iter().map(|x| x / total).collect();
            let got = multinomial_cdf(&p, b as u64, &Control::new()).unwrap();
            prop_assert!(close(&got, &brute_top1(&p, b), 1e-12));
        }

        #[test]
        fn bounds_bracket_the_exact_law(e in 2u64..12, b in 1u64..30) {
            let law = Law::Uniform { experts: e, top_k: 1 };
            let (lo, hi) = max_load_bounds(&law, b, &Control::new()).unwrap();
            let exact = column_dp_cdf(e, 1, b, &Control::new()).unwrap();
            for c in 0..=b as usize {
                prop_assert!(lo[c] <= exact[c] + 1e-12 && exact[c] <= hi[c] + 1e-12);
            }
        }

        #[test]
        fn inclusion_sums_to_k_and_matches_k1(w in prop::collection::vec(0.05f64..1.0, 3..9), k_frac in 0.0f64..1.0) {
            let total: f64 = w.iter().sum();
            let p: Vec<f64> = w.iter().map(|x| x / total).collect();
            let k = 1 + ((p.len() - 1) as f64 * k_frac) as u64;
            let pi = inclusion_probabilities(&Law::Weights { weights: &p, top_k: k }, &Control::new()).unwrap();
            prop_assert!((pi.iter().sum::<f64>() - k as f64).abs() < 1e-10);
            prop_assert!(pi.iter().all(|&x| (0.0..=1.0 + 1e-12).contains(&x)));
        }
    }

    #[test]
    fn inclusion_of_top2_matches_closed_form() {
        // pi_e = p_e + sum_{i != e} p_i p_e / (1 - p_i) for k = 2.
        let p = [0.4, 0.3, 0.2, 0.1];
        let pi = inclusion_probabilities(&Law::Weights { weights: &p, top_k: 2 }, &Control::new()).unwrap();
        for e in 0..4 {
            let want = p[e] + (0..4).filter(|&i| i != e).map(|i| p[i] * p[e] / (1.0 - p[i])).sum::<f64>();
            assert!((pi[e] - want).abs() < 1e-12, "{e}: {} vs {want}", pi[e]);
        }
    }

    #[test]
    fn closed_forms() {
        let c = Control::new();
        let law = Law::Uniform { experts: 16, top_k: 2 };
        assert_eq!(balanced_load(16, 2, 4096).unwrap(), 512.0);
        let touched = expected_touched(&law, 8, &c).unwrap();
        assert!((touched - 16.0 * (1.0 - (14.0f64 / 16.0).powi(8))).abs() < 1e-12);
        let (rows, pmf) = load_pmf(&law, 8, &c).unwrap();
        assert_eq!(rows, 1);
        for (x, &v) in pmf.iter().enumerate() {
            let want = comb(8, x as u64) * 0.125f64.powi(x as i32) * 0.875f64.powi(8 - x as i32);
            assert!((v - want).abs() < 1e-14);
        }
        // No capacity limit beyond B drops nothing; capacity 0 drops all k B.
        assert_eq!(expected_drops(&law, 8, 8, &c).unwrap(), 0.0);
        assert!((expected_drops(&law, 8, 0, &c).unwrap() - 16.0).abs() < 1e-12);
        let cdf = [0.0, 0.25, 0.75, 1.0];
        assert_eq!(mean_from_cdf(&cdf), 2.0);
        assert_eq!(max_load_cdf(&law, 8, Method::Auto, &c).unwrap().method, Method::ColumnDp);
        assert_eq!(max_load_cdf(&law, 4096, Method::Auto, &c).unwrap().method, Method::Bounds);
        let top1 = Law::Uniform { experts: 8, top_k: 1 };
        let a = max_load_cdf(&top1, 12, Method::ColumnDp, &c).unwrap();
        let b = max_load_cdf(&top1, 12, Method::Multinomial, &c).unwrap();
        assert!(close(&a.cdf, &b.cdf, 1e-12));
    }

    #[test]
    fn bad_inputs_and_limits_are_errors() {
        let c = Control::new();
        assert!(balanced_load(0, 1, 1).is_err());
        assert!(balanced_load(4, 5, 1).is_err());
        assert!(balanced_load(4, 1, 0).is_err());
        assert_eq!(balanced_load(4, 2, u64::MAX).unwrap(), 2.0 * u64::MAX as f64 / 4.0);
        let w = [0.5, 0.5, f64::NAN];
        assert!(inclusion_probabilities(&Law::Weights { weights: &w, top_k: 1 }, &c).is_err());
        let w = [0.5, 0.4];
        assert!(inclusion_probabilities(&Law::Weights { weights: &w, top_k: 1 }, &c).is_err());
        let w = [1.0, 0.0];
        assert!(inclusion_probabilities(&Law::Weights { weights: &w, top_k: 2 }, &c).is_err());
        assert!(matches!(column_dp_cdf(64, 8, 64, &c), Err(Error::TooLarge { .. })));
        assert!(matches!(multinomial_cdf(&[1.0], 1 << 20, &c), Err(Error::TooLarge { .. })));
        let law = Law::Uniform { experts: 16, top_k: 2 };
        assert!(max_load_cdf(&law, 8, Method::Multinomial, &c).is_err());
        let w = [0.25; 4];
        assert!(max_load_cdf(&Law::Weights { weights: &w, top_k: 2 }, 8, Method::ColumnDp, &c).is_err());
        assert!(Method::parse("exact").is_err());
    }

    #[test]
    fn cancelled_control_interrupts() {
        let c = Control::new();
        c.cancel();
        assert_eq!(column_dp_cdf(16, 2, 8, &c), Err(Error::Interrupted));
        assert_eq!(multinomial_cdf(&[0.5, 0.5], 8, &c), Err(Error::Interrupted));
    }
}
