//! Speculative decoding (Leviathan, Kalman & Matias 2023; Chen et al. 2023): acceptance rates
//! from real distributions, an exact simulation of the speculative sampling rule, lenient
//! verification and token-tree expectations.
//!
//! Distributions are row-major `(rows x vocab)` slices of probabilities (`f32` or `f64`), one
//! row per position: `p` is the target model's, `q` the draft model's.
//! - [`acceptance`]: `beta = sum_x min(p(x), q(x)) = 1 - TV(p, q)` per row, one pass over both
//!   arrays, no temporaries, parallel over rows.
//! - [`acceptance_from_logits`]: the same from logits, with a numerically stable softmax at a
//!   temperature, computed row by row inside the kernel.
//! - [`lenient`]: accept a draft token with probability `min(1, p / (lambda q))`; the acceptance
//!   it gives and the total-variation distance of the emitted distribution from `p`.
//! - [`simulate`]: Monte Carlo of the rule (draft, accept / reject, residual resample, bonus
//!   token) with one RNG stream per fixed chunk of trials, so a seed gives the same counts on
//!   any number of threads.
//! - [`tree_expected_tokens`]: expected tokens per step of a token tree with mutually exclusive
//!   siblings.

use rayon::prelude::*;

use crate::control::Control;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Trials per RNG stream (and per Ctrl-C checkpoint) in [`simulate`].
pub const SIM_CHUNK: u64 = 1 << 14;

/// Largest `(gamma + 1) x vocab` histogram [`simulate`] accepts (128 MiB of counts per thread).
pub const SIM_MAX_CELLS: u64 = 1 << 24;

/// A probability element type: `f32` or `f64`.
pub trait Prob: Copy + Send + Sync + PartialOrd + Into<f64> + 'static {
    /// `(sum min(p, q), sum p, sum q, min(min(p, q)))` of one row pair; NaN shows up as a
    /// non-finite sum (the minimum ignores it).
    fn row_stats(p: &[Self], q: &[Self]) -> (f64, f64, f64, f64);
}

#[inline(always)]
fn min2<T: PartialOrd + Copy>(a: T, b: T) -> T {
    // Maps to a single vector min instruction (unlike `f32::min`, which handles NaN).
    if a < b {
        a
    } else {
        b
    }
}

/// Elements per lane block of the `f32` kernel before the lane sums are flushed into `f64`
/// (bounds the `f32` rounding error to a few units in 1e-6 relative).
const F32_BLOCK: usize = 1024;
const LANES: usize = 16;

impl Prob for f32 {
    fn row_stats(p: &[f32], q: &[f32]) -> (f64, f64, f64, f64) {
        let (mut sm, mut sp, mut sq) = (0f64, 0f64, 0f64);
        let mut lo = [f32::INFINITY; LANES];
        let body = p.len().min(q.len()) / LANES * LANES;
        // Lane arrays are only ever indexed by the constant lane loop, so they live in vector
        // registers (a scalar tail touching them would force them onto the stack).
        for (pb, qb) in p[..body].chunks(F32_BLOCK).zip(q[..body].chunks(F32_BLOCK)) {
            let (mut am, mut ap, mut aq) = ([0f32; LANES], [0f32; LANES], [0f32; LANES]);
            for (x, y) in pb.chunks_exact(LANES).zip(qb.chunks_exact(LANES)) {
                let (x, y): (&[f32; LANES], &[f32; LANES]) = (x.try_into().unwrap(), y.try_into().unwrap());
                for l in 0..LANES {
                    let m = min2(x[l], y[l]);
                    am[l] += m;
                    ap[l] += x[l];
                    aq[l] += y[l];
                    lo[l] = min2(lo[l], m);
                }
            }
            sm += am.iter().map(|&v| v as f64).sum::<f64>();
            sp += ap.iter().map(|&v| v as f64).sum::<f64>();
            sq += aq.iter().map(|&v| v as f64).sum::<f64>();
        }
        let mut low = lo.iter().fold(f32::INFINITY, |a, &b| min2(a, b)) as f64;
        for (&x, &y) in p[body..].iter().zip(&q[body..]) {
            let m = min2(x, y) as f64;
            sm += m;
            sp += x as f64;
            sq += y as f64;
            low = min2(low, m);
        }
        (sm, sp, sq, low)
    }
}

impl Prob for f64 {
    fn row_stats(p: &[f64], q: &[f64]) -> (f64, f64, f64, f64) {
        const L: usize = 8;
        let (mut am, mut ap, mut aq, mut lo) = ([0f64; L], [0f64; L], [0f64; L], [f64::INFINITY; L]);
        let body = p.len().min(q.len()) / L * L;
        for (x, y) in p[..body].chunks_exact(L).zip(q[..body].chunks_exact(L)) {
            let (x, y): (&[f64; L], &[f64; L]) = (x.try_into().unwrap(), y.try_into().unwrap());
            for l in 0..L {
                let m = min2(x[l], y[l]);
                am[l] += m;
                ap[l] += x[l];
                aq[l] += y[l];
                lo[l] = min2(lo[l], m);
            }
        }
        let s = |a: [f64; L]| a.iter().sum::<f64>();
        let (mut sm, mut sp, mut sq) = (s(am), s(ap), s(aq));
        let mut low = lo.iter().fold(f64::INFINITY, |a, &b| min2(a, b));
        for (&x, &y) in p[body..].iter().zip(&q[body..]) {
            let m = min2(x, y);
            sm += m;
            sp += x;
            sq += y;
            low = min2(low, m);
        }
        (sm, sp, sq, low)
    }
}

/// Check the shape of a `(rows x vocab)` pair and return `rows`.
fn shape(p_len: usize, q_len: usize, vocab: usize) -> Result<usize> {
    if vocab == 0 {
        return Err(Error::invalid("vocab", 0, "an integer >= 1"));
    }
    if p_len % vocab != 0 {
        return Err(Error::invalid("len(p)", p_len, format!("a multiple of vocab = {vocab}")));
    }
    if q_len != p_len {
        return Err(Error::invalid(
            "shape of q",
            q_len / vocab,
            format!("the shape of p ({} rows)", p_len / vocab),
        ));
    }
    Ok(p_len / vocab)
}

fn check_tol(tol: f64) -> Result<()> {
    if tol.is_finite() && (0.0..1.0).contains(&tol) {
        Ok(())
    } else {
        Err(Error::invalid("tol", tol, "a finite number in [0, 1)"))
    }
}

/// The first bad element of row `r` of `x` named `name` (a NaN, infinity or negative value),
/// or a row-sum error. Only called once a row's statistics are known to be wrong.
fn row_error<T: Prob>(name: &str, x: &[T], r: usize, sum: f64, tol: f64) -> Error {
    if let Some(j) = x.iter().position(|&v| {
        let v: f64 = v.into();
        !(v.is_finite() && v >= 0.0)
    }) {
        let v: f64 = x[j].into();
        return Error::invalid(format!("{name}[{r}, {j}]"), v, "a finite probability >= 0");
    }
    Error::invalid(format!("sum({name}[{r}])"), sum, format!("1 within {tol:e}"))
}

fn validate_row<T: Prob>(p: &[T], q: &[T], r: usize, stats: (f64, f64, f64, f64), tol: f64) -> Result<()> {
    let (sm, sp, sq, low) = stats;
    let ok = |s: f64| s.is_finite() && (s - 1.0).abs() <= tol;
    if ok(sp) && ok(sq) && sm.is_finite() && low >= 0.0 {
        return Ok(());
    }
    // Find out which array is wrong (rare path).
    let p_bad = !ok(sp)
        || p.iter().any(|&v| {
            let v: f64 = v.into();
            v.is_nan() || v < 0.0
        });
    if p_bad {
        Err(row_error("p", p, r, sp, tol))
    } else {
        Err(row_error("q", q, r, sq, tol))
    }
}

/// Rows per parallel task: enough work per task (~1 MiB read) to amortise scheduling.
fn rows_per_task(vocab: usize, elem: usize) -> usize {
    ((1usize << 20) / (2 * elem * vocab)).max(1)
}

/// Per-row acceptance `beta = sum_x min(p(x), q(x))` of two `(rows x vocab)` row-major arrays of
/// probabilities. Each row of `p` and `q` must be finite, `>= 0` and sum to 1 within `tol`.
/// Reads each array once; rows run in parallel; each row's sum is computed in a fixed order
/// (independent of the thread count).
pub fn acceptance<T: Prob>(p: &[T], q: &[T], vocab: usize, tol: f64) -> Result<Vec<f64>> {
    let rows = shape(p.len(), q.len(), vocab)?;
    check_tol(tol)?;
    let mut out = vec![0.0; rows];
    let per = rows_per_task(vocab, std::mem::size_of::<T>());
    out.par_chunks_mut(per).enumerate().try_for_each(|(c, chunk)| {
        for (i, o) in chunk.iter_mut().enumerate() {
            let r = c * per + i;
            let (pr, qr) = (&p[r * vocab..(r + 1) * vocab], &q[r * vocab..(r + 1) * vocab]);
            let stats = T::row_stats(pr, qr);
            validate_row(pr, qr, r, stats, tol)?;
            *o = stats.0.min(1.0);
        }
        Ok(())
    })?;
    Ok(out)
}

/// `(max, sum of exp((x - max) / t))` of one row of logits; `-inf` logits have probability 0.
fn softmax_stats<T: Prob>(name: &str, x: &[T], r: usize, t: f64) -> Result<(f64, f64)> {
    let mut m = f64::NEG_INFINITY;
    for (j, &v) in x.iter().enumerate() {
        let v: f64 = v.into();
        if v.is_nan() || v == f64::INFINITY {
            return Err(Error::invalid(format!("{name}[{r}, {j}]"), v, "a finite logit or -inf"));
        }
        m = m.max(v);
    }
    if m == f64::NEG_INFINITY {
        return Err(Error::invalid(format!("{name}[{r}]"), "all -inf", "at least one finite logit"));
    }
    let z: f64 = x.iter().map(|&v| ((v.into() - m) / t).exp()).sum();
    Ok((m, z))
}

/// Per-row acceptance of `softmax(target / t)` against `softmax(draft / t)` for two
/// `(rows x vocab)` arrays of logits at temperature `t > 0`. The softmax is the stable one
/// (shifted by the row maximum, accumulated in `f64`); nothing is materialised.
pub fn acceptance_from_logits<T: Prob>(target: &[T], draft: &[T], vocab: usize, t: f64) -> Result<Vec<f64>> {
    let rows = shape(target.len(), draft.len(), vocab)?;
    if !(t.is_finite() && t > 0.0) {
        return Err(Error::invalid("temperature", t, "a finite number > 0"));
    }
    let mut out = vec![0.0; rows];
    let per = rows_per_task(vocab, 8).max(1);
    out.par_chunks_mut(per).enumerate().try_for_each(|(c, chunk)| {
        for (i, o) in chunk.iter_mut().enumerate() {
            let r = c * per + i;
            let (a, b) = (&target[r * vocab..(r + 1) * vocab], &draft[r * vocab..(r + 1) * vocab]);
            let (ma, za) = softmax_stats("target_logits", a, r, t)?;
            let (mb, zb) = softmax_stats("draft_logits", b, r, t)?;
            // min(e^u / Za, e^v / Zb) = e^min(u - ln Za, v - ln Zb): one exp per token.
            let (la, lb) = (za.ln(), zb.ln());
            let s: f64 = a
                .iter()
                .zip(b)
                .map(|(&x, &y)| (((x.into() - ma) / t - la).min((y.into() - mb) / t - lb)).exp())
                .sum();
            *o = s.min(1.0);
        }
        Ok(())
    })?;
    Ok(out)
}

fn check_lambda(lambda: f64) -> Result<()> {
    if lambda.is_finite() && lambda > 0.0 && lambda <= 1.0 {
        Ok(())
    } else {
        Err(Error::invalid("lam", lambda, "a number in (0, 1] (1 = exact speculative sampling)"))
    }
}

/// Lenient verification with leniency `lambda` in (0, 1]: a draft token `x ~ q` is kept with
/// probability `min(1, p(x) / (lambda q(x)))`, else the token is resampled from the usual
/// residual `norm(max(0, p - q))`. Per row returns `(beta, tv)`: the acceptance
/// `beta = sum min(q, p / lambda)` and the total-variation distance between the emitted
/// distribution `e = min(q, p / lambda) + (1 - beta) norm(max(0, p - q))` and `p`.
/// `lambda = 1` is the exact rule: `beta = sum min(p, q)` and `tv = 0`.
pub fn lenient<T: Prob>(
    p: &[T],
    q: &[T],
    vocab: usize,
    lambda: f64,
    tol: f64,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let rows = shape(p.len(), q.len(), vocab)?;
    check_tol(tol)?;
    check_lambda(lambda)?;
    let out: Vec<(f64, f64)> = (0..rows)
        .into_par_iter()
        .map(|r| {
            let (pr, qr) = (&p[r * vocab..(r + 1) * vocab], &q[r * vocab..(r + 1) * vocab]);
            validate_row(pr, qr, r, T::row_stats(pr, qr), tol)?;
            let (mut beta, mut resid) = (0.0, 0.0);
            for (&x, &y) in pr.iter().zip(qr) {
                let (x, y): (f64, f64) = (x.into(), y.into());
                beta += y.min(x / lambda);
                resid += (x - y).max(0.0);
            }
            let beta = beta.min(1.0);
            let mut tv = 0.0;
            for (&x, &y) in pr.iter().zip(qr) {
                let (x, y): (f64, f64) = (x.into(), y.into());
                let r = if resid > 0.0 { (x - y).max(0.0) / resid } else { x };
                tv += (y.min(x / lambda) + (1.0 - beta) * r - x).abs();
            }
            Ok((beta, 0.5 * tv))
        })
        .collect::<Result<_>>()?;
    Ok(out.into_iter().unzip())
}

/// Counts from [`simulate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulation {
    /// `tokens[n - 1]`: trials that emitted `n` tokens, `n = 1..=gamma + 1`.
    pub tokens: Vec<u64>,
    /// `(gamma + 1) x vocab` row-major: how often each token was emitted at each position.
    pub emitted: Vec<u64>,
}

/// Cumulative sums (in index order, `f64`) of a row; sampling inverts them.
fn cdf<T: Prob>(row: impl Iterator<Item = T>) -> Vec<f64> {
    let mut acc = 0.0;
    row.map(|v| {
        acc += v.into();
        acc
    })
    .collect()
}

/// The first index whose cumulative sum exceeds `u * total`: a draw from the row (never an
/// index of probability 0).
#[inline]
fn sample(cdf: &[f64], u: f64) -> usize {
    let t = u * cdf[cdf.len() - 1];
    cdf.partition_point(|&c| c <= t).min(cdf.len() - 1)
}

/// Simulate `trials` steps of speculative sampling with draft length `gamma`.
///
/// `p` is `(gamma + 1) x vocab` (target distributions at positions 1..=gamma+1; the last is the
/// bonus token's), `q` is `gamma x vocab` (draft distributions). Distributions do not depend on
/// earlier tokens, so the token emitted at position `i`, given that position `i` is reached,
/// must follow `p[i]` exactly when `lambda = 1`.
///
/// Each trial draws, in this order, from its chunk's stream (`Rng::for_chunk(seed, trial /
/// SIM_CHUNK)`): per position `i < gamma`, `x` from `q[i]` (one uniform), then `u` (one
/// uniform): keep `x` if `u * lambda * q[i][x] < p[i][x]`; else draw the replacement from
/// `norm(max(0, p[i] - q[i]))` (one uniform; `p[i]` if that has no mass) and stop. If all
/// `gamma` drafts are kept, draw the bonus token from `p[gamma]` (one uniform).
#[allow(clippy::too_many_arguments)]
pub fn simulate(
    p: &[f64],
    q: &[f64],
    vocab: usize,
    gamma: usize,
    trials: u64,
    seed: u64,
    lambda: f64,
    control: &Control,
) -> Result<Simulation> {
    if gamma == 0 {
        return Err(Error::invalid("gamma", 0, "an integer >= 1"));
    }
    if vocab == 0 {
        return Err(Error::invalid("vocab", 0, "an integer >= 1"));
    }
    if p.len() != (gamma + 1) * vocab {
        return Err(Error::invalid("rows of p", p.len() / vocab, format!("gamma + 1 = {}", gamma + 1)));
    }
    if q.len() != gamma * vocab {
        return Err(Error::invalid("rows of q", q.len() / vocab, format!("gamma = {gamma}")));
    }
    check_lambda(lambda)?;
    let cells = (gamma as u64 + 1).checked_mul(vocab as u64);
    if cells.is_none_or(|c| c > SIM_MAX_CELLS) {
        return Err(Error::TooLarge {
            what: "(gamma + 1) x vocab".into(),
            detail: format!("the emitted histogram (one per thread) would exceed {SIM_MAX_CELLS} cells; use a smaller vocabulary or gamma"),
        });
    }
    // Validate (rows sum to 1 within 1e-6, finite, >= 0) with the acceptance kernel's checks.
    acceptance(&p[..gamma * vocab], q, vocab, 1e-6)?;
    acceptance(&p[gamma * vocab..], &p[gamma * vocab..], vocab, 1e-6)?;

    fn row(a: &[f64], i: usize, vocab: usize) -> &[f64] {
        &a[i * vocab..(i + 1) * vocab]
    }
    let q_cdf: Vec<Vec<f64>> = (0..gamma).map(|i| cdf(row(q, i, vocab).iter().copied())).collect();
    let r_cdf: Vec<Vec<f64>> = (0..gamma)
        .map(|i| {
            let c = cdf(row(p, i, vocab).iter().zip(row(q, i, vocab)).map(|(&x, &y)| (x - y).max(0.0)));
            if c[vocab - 1] > 0.0 {
                c
            } else {
                cdf(row(p, i, vocab).iter().copied())
            }
        })
        .collect();
    let bonus = cdf(row(p, gamma, vocab).iter().copied());

    let chunks = trials.div_ceil(SIM_CHUNK);
    let width = (gamma + 1) * vocab;
    let empty = || Simulation { tokens: vec![0; gamma + 1], emitted: vec![0; width] };
    let run_chunk = |mut acc: Simulation, c: u64| -> Result<Simulation> {
        let mut rng = Rng::for_chunk(seed, c);
        let n_trials = SIM_CHUNK.min(trials - c * SIM_CHUNK);
        for _ in 0..n_trials {
            let mut n = gamma + 1;
            for i in 0..gamma {
                let x = sample(&q_cdf[i], rng.uniform());
                let u = rng.uniform();
                if u * lambda * q[i * vocab + x] < p[i * vocab + x] {
                    acc.emitted[i * vocab + x] += 1;
                } else {
                    let y = sample(&r_cdf[i], rng.uniform());
                    acc.emitted[i * vocab + y] += 1;
                    n = i + 1;
                    break;
                }
            }
            if n == gamma + 1 {
                let y = sample(&bonus, rng.uniform());
                acc.emitted[gamma * vocab + y] += 1;
            }
            acc.tokens[n - 1] += 1;
        }
        control.checkpoint(n_trials)?;
        Ok(acc)
    };
    let merge = |a: Result<Simulation>, b: Result<Simulation>| -> Result<Simulation> {
        let (mut a, b) = (a?, b?);
        a.tokens.iter_mut().zip(&b.tokens).for_each(|(x, y)| *x += y);
        a.emitted.iter_mut().zip(&b.emitted).for_each(|(x, y)| *x += y);
        Ok(a)
    };
    // Integer counts: the merge order cannot change the result.
    (0..chunks)
        .into_par_iter()
        .fold(|| Ok(empty()), |acc, c| acc.and_then(|a| run_chunk(a, c)))
        .reduce(|| Ok(empty()), merge)
}

/// Expected tokens per verification step of a token tree whose siblings are mutually exclusive
/// (at most one child of a node is accepted): `E[N] = 1 + sum_v P(every edge root -> v accepted)`.
///
/// Node `i` (the draft tokens; the root is the last verified token, implicit) has parent
/// `parents[i]`: `-1` for the root, else an earlier node `< i`. `accept[i]` is the probability
/// that node `i` is accepted given its parent was; the children of one node must have
/// probabilities summing to at most 1. A chain of `gamma` nodes with probability `alpha` gives
/// `sum_{i=0..=gamma} alpha^i`.
pub fn tree_expected_tokens(parents: &[i64], accept: &[f64]) -> Result<f64> {
    crate::error::same_len("accept_prob", accept.len(), parents.len())?;
    let n = parents.len();
    let mut reach = vec![0.0f64; n];
    let mut child_sum = vec![0.0f64; n + 1]; // index 0: the root, i + 1: node i
    let mut total = 1.0;
    for i in 0..n {
        let a = accept[i];
        if !(a.is_finite() && (0.0..=1.0).contains(&a)) {
            return Err(Error::invalid(format!("accept_prob[{i}]"), a, "a probability in [0, 1]"));
        }
        let par = parents[i];
        if par < -1 || par >= i as i64 {
            return Err(Error::invalid(
                format!("parents[{i}]"),
                par,
                format!("-1 (the root) or a node in [0, {i})"),
            ));
        }
        let slot = (par + 1) as usize;
        child_sum[slot] += a;
        if child_sum[slot] > 1.0 + 1e-9 {
            return Err(Error::invalid(
                format!(
                    "sum of accept_prob over the children of {}",
                    if par < 0 { "the root".to_string() } else { format!("node {par}") }
                ),
                child_sum[slot],
                "<= 1 (siblings are mutually exclusive)",
            ));
        }
        reach[i] = a * if par < 0 { 1.0 } else { reach[par as usize] };
        total += reach[i];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(p: &[f64], q: &[f64], vocab: usize) -> Vec<f64> {
        p.chunks(vocab)
            .zip(q.chunks(vocab))
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x.min(*y)).sum())
            .collect()
    }

    fn normalise(raw: Vec<f64>, vocab: usize) -> Vec<f64> {
        raw.chunks(vocab)
            .flat_map(|r| {
                let s: f64 = r.iter().sum();
                r.iter().map(move |x| x / s).collect::<Vec<_>>()
            })
            .collect()
    }

    fn rows(vocab: usize) -> impl Strategy<Value = Vec<f64>> {
        proptest::collection::vec(proptest::collection::vec(0.001f64..1.0, vocab), 1..6)
            .prop_map(move |r| normalise(r.concat(), vocab))
    }

    proptest! {
        #[test]
        fn acceptance_matches_naive((v, p, q) in (1usize..300).prop_flat_map(|v| (Just(v), rows(v), rows(v)))) {
            let n = p.len().min(q.len());
            let (p, q) = (&p[..n], &q[..n]);
            let got = acceptance(p, q, v, 1e-9).unwrap();
            for (g, w) in got.iter().zip(naive(p, q, v)) {
                prop_assert!((g - w).abs() <= 1e-12, "{} vs {}", g, w);
            }
            let pf: Vec<f32> = p.iter().map(|&x| x as f32).collect();
            let qf: Vec<f32> = q.iter().map(|&x| x as f32).collect();
            let got32 = acceptance(&pf, &qf, v, 1e-4).unwrap();
            for (g, w) in got32.iter().zip(naive(p, q, v)) {
                prop_assert!((g - w).abs() <= 1e-5);
            }
        }

        #[test]
        fn tree_chain_is_closed_form(alpha in 0.0f64..1.0, gamma in 1usize..20) {
            let parents: Vec<i64> = (0..gamma as i64).map(|i| i - 1).collect();
            let got = tree_expected_tokens(&parents, &vec![alpha; gamma]).unwrap();
            // (1 - a^(g+1)) / (1 - a) as its sum: the quotient loses digits as a -> 1 (at
            // a = 1 - 5e-6 its own error passes 1e-12).
            let want: f64 = (0..=gamma as i32).map(|i| alpha.powi(i)).sum();
            prop_assert!((got - want).abs() <= 1e-12 * want);
        }
    }

    #[test]
    fn identical_rows_accept_everything() {
        let p = vec![0.25; 8];
        assert_eq!(acceptance(&p, &p, 4, 1e-12).unwrap(), vec![1.0, 1.0]);
        let (b, tv) = lenient(&p, &p, 4, 0.5, 1e-12).unwrap();
        assert_eq!((b, tv), (vec![1.0, 1.0], vec![0.0, 0.0]));
    }

    #[test]
    fn logits_match_probabilities() {
        let a = [1.0f64, 2.0, 3.0, f64::NEG_INFINITY];
        let b = [3.0f64, 2.0, 1.0, 0.0];
        let sm = |x: &[f64]| {
            let z: f64 = x.iter().map(|v| v.exp()).sum();
            x.iter().map(|v| v.exp() / z).collect::<Vec<_>>()
        };
        let want = naive(&sm(&a), &sm(&b), 4)[0];
        let got = acceptance_from_logits(&a, &b, 4, 1.0).unwrap()[0];
        assert!((got - want).abs() < 1e-14);
        // Huge logits: the shift keeps it finite.
        let big: Vec<f64> = a.iter().map(|x| x + 1e6).collect();
        assert!((acceptance_from_logits(&big, &b, 4, 1.0).unwrap()[0] - want).abs() < 1e-9);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let good = [0.5, 0.5];
        assert!(acceptance(&[0.5, 0.6], &good, 2, 1e-6).is_err());
        assert!(acceptance(&[1.5, -0.5], &good, 2, 1e-6).is_err());
        assert!(acceptance(&[f64::NAN, 1.0], &good, 2, 1e-6).is_err());
        assert!(acceptance(&good, &[0.5, 0.5, 0.5, 0.5], 2, 1e-6).is_err());
        assert!(acceptance(&good, &good, 0, 1e-6).is_err());
        assert!(acceptance_from_logits(&[f64::NAN, 0.0], &good, 2, 1.0).is_err());
        assert!(acceptance_from_logits(&good, &good, 2, 0.0).is_err());
        assert!(lenient(&good, &good, 2, 0.0, 1e-6).is_err());
        assert!(tree_expected_tokens(&[-1, -1], &[0.6, 0.6]).is_err());
        assert!(tree_expected_tokens(&[0], &[0.5]).is_err());
        let c = Control::new();
        assert!(simulate(&good, &good, 2, 0, 10, 0, 1.0, &c).is_err());
        assert!(simulate(&[0.5, 0.5, 0.5, 0.5], &[0.9, 0.9], 2, 1, 10, 0, 1.0, &c).is_err());
    }

    #[test]
    fn simulate_is_thread_count_independent_and_unbiased() {
        let v = 5;
        let p = normalise(vec![1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 6.0], v);
        let q = normalise(vec![5.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 3.0, 3.0, 2.0], v);
        let trials = 3 * SIM_CHUNK + 17;
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| simulate(&p, &q, v, 2, trials, 42, 1.0, &Control::new()).unwrap())
        };
        let one = run(1);
        assert_eq!(one, run(3));
        assert_eq!(one.tokens.iter().sum::<u64>(), trials);
        // Position 0 is always reached: its histogram estimates p[0] (4-sigma bound).
        for (x, (&count, &px)) in one.emitted.iter().zip(&p).take(v).enumerate() {
            let f = count as f64 / trials as f64;
            let sd = (px * (1.0 - px) / trials as f64).sqrt();
            assert!((f - px).abs() < 4.0 * sd + 1e-12, "token {x}: {f} vs {px}");
        }
    }

    #[test]
    fn simulate_can_be_cancelled() {
        let c = Control::new();
        c.cancel();
        assert_eq!(
            simulate(&[0.5, 0.5, 0.5, 0.5], &[0.5, 0.5], 2, 1, 10, 0, 1.0, &c),
            Err(Error::Interrupted)
        );
    }
}
