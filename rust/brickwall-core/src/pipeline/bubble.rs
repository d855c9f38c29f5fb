//! Closed-form bubble fractions of uniform pipelines, one point or a parallel array of them.

use super::Schedule;
use crate::error::{non_negative, Error, Result};
use crate::par::try_fill;

/// Closed-form bubble fraction `idle / (p x makespan)` for uniform stages and no p2p latency
/// (Narayanan et al. 2021 s2.2; Qi et al. 2024, arXiv 2401.10241): GPipe and 1F1B
/// `(p-1)(f+b+w)`, interleaved `(p-1)(f+b+w)/v`, ZB-H1 `(p-1)(f+b-w)` (needs `m >= p` and
/// `w <= min(f, b)`), forward-only `(p-1) f`; the ideal is `m (f+b+w)`. Inputs are trusted;
/// see [`bubble_fractions`].
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
    let ok = try_fill(out, one);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_points_are_errors_and_good_ones_match_the_formula() {
        let mut out = [0.0];
        assert!(bubble_fractions(Schedule::ZbH2, &[4], &[8], &[1], 1.0, 1.0, Some(1.0), &mut out).is_err());
        assert!(bubble_fractions(Schedule::OneFOneB, &[4], &[8], &[1], 1.0, 1.0, None, &mut []).is_err());
        bubble_fractions(Schedule::OneFOneB, &[4], &[8], &[1], 1.0, 1.0, None, &mut out).unwrap();
        assert_eq!(out[0], bubble_fraction(Schedule::OneFOneB, 4.0, 8.0, 1.0, 1.0, 1.0, 0.0));
    }
}
