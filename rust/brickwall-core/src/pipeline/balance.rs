//! Layers per pipeline stage: the contiguous split with the smallest slowest stage.

use crate::error::{non_negative, Error, Result};

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
    // Every stage time is at most the total and the sum of squared stage times at most its square;
    // both must stay finite or the DP's comparisons (and its traceback) lose their meaning.
    let total = layer_times.iter().sum::<f64>() + head_extra + tail_extra;
    if !(total * total * 4.0).is_finite() {
        return Err(Error::invalid(
            "sum(layer_times) + head_extra + tail_extra",
            total,
            "a total whose square is finite (below ~6.7e153); rescale the times (e.g. to seconds)",
        ));
    }
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
        let Some(start) = (s..stop).find(|&i| {
            let c = cost(s, i, stop);
            c <= target && sq[s - 1][i].is_finite() && sq[s - 1][i] + c * c == sq[s][stop]
        }) else {
            // Unreachable with finite inputs whose squares are finite (checked above); an error,
            // never a panic, if rounding ever says otherwise.
            return Err(Error::invalid(
                "layer_times",
                format!("{n} values"),
                "times whose optimum can be traced back",
            ));
        };
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
    fn huge_times_are_an_error_not_a_panic() {
        assert!(balance_layers(&[1.0; 4], 2, 1e200, 0.0).is_err());
        assert!(balance_layers(&[1e200, 1e200], 2, 0.0, 0.0).is_err());
        assert!(balance_layers(&[1e155; 3], 3, 0.0, 0.0).is_err());
        assert!(balance_layers(&[1e150; 3], 3, 0.0, 0.0).is_ok());
    }

    #[test]
    fn too_few_layers_is_an_error() {
        assert!(balance_layers(&[1.0; 3], 4, 0.0, 0.0).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
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
