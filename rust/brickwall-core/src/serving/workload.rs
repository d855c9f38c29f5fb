//! Seeded workloads: arrival times and token lengths of `n` requests.
//!
//! Each quantity draws from its own stream of [`Rng::for_chunk`] (`seed`, stream), so the
//! arrivals do not change when a length distribution does, and nothing depends on threads.

use crate::error::{positive, Error, Result};
use crate::rng::Rng;

/// Largest workload one call generates or simulates.
pub const MAX_REQUESTS: usize = 1 << 26;

const ARRIVAL_STREAM: u64 = 0;

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArrivalProcess {
    /// All at `t = 0` (an offline batch).
    Offline,
    /// A Poisson process of `rate` requests per second (exponential gaps).
    Poisson {
        /// Requests per second.
        rate: f64,
    },
    /// A renewal process with gamma gaps of mean `1 / rate` and coefficient of variation `cv`
    /// (shape `1 / cv^2`; `cv = 1` is Poisson, larger is burstier).
    Gamma {
        /// Requests per second.
        rate: f64,
        /// Coefficient of variation of the gaps.
        cv: f64,
    },
}

/// A distribution of token counts (each draw is an integer >= 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lengths {
    /// Always `n`.
    Fixed(u64),
    /// Uniform over the integers `lo..=hi`.
    Uniform {
        /// Smallest.
        lo: u64,
        /// Largest.
        hi: u64,
    },
    /// `exp(N(mu, sigma^2))` with `mu` set so the mean is `mean`, rounded to the nearest integer
    /// and clipped to `[1, max]`.
    LogNormal {
        /// Mean before rounding and clipping.
        mean: f64,
        /// Standard deviation of the log.
        sigma: f64,
        /// Largest length.
        max: u64,
    },
}

fn check_n(n: usize) -> Result<()> {
    if n > MAX_REQUESTS {
        return Err(Error::TooLarge {
            what: format!("requests = {n}"),
            detail: format!("at most {MAX_REQUESTS} per call"),
        });
    }
    Ok(())
}

/// A standard normal draw (Box-Muller, one of the pair; two uniforms per call keeps the
/// stream simple to replay).
fn normal(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - rng.uniform(); // (0, 1]
    let u2 = rng.uniform();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A Gamma(`shape`, 1) draw: Marsaglia & Tsang (2000), "A simple method for generating gamma
/// variables", ACM TOMS 26(3); shapes below 1 by their boost `G(k) = G(k + 1) U^(1/k)`.
fn gamma(rng: &mut Rng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u = 1.0 - rng.uniform();
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = 1.0 - rng.uniform();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// Arrival times (seconds, nondecreasing, the first gap from `t = 0`) of `n` requests.
pub fn arrivals(process: ArrivalProcess, n: usize, seed: u64) -> Result<Vec<f64>> {
    check_n(n)?;
    let mut rng = Rng::for_chunk(seed, ARRIVAL_STREAM);
    let mut t = 0.0;
    match process {
        ArrivalProcess::Offline => Ok(vec![0.0; n]),
        ArrivalProcess::Poisson { rate } => {
            positive("rate", rate)?;
            Ok((0..n)
                .map(|_| {
                    t += -(1.0 - rng.uniform()).ln() / rate;
                    t
                })
                .collect())
        }
        ArrivalProcess::Gamma { rate, cv } => {
            positive("rate", rate)?;
            positive("cv", cv)?;
            let shape = 1.0 / (cv * cv);
            if !(1e-6..=1e6).contains(&shape) {
                return Err(Error::invalid("cv", cv, "in [1e-3, 1e3]"));
            }
            let scale = 1.0 / (rate * shape);
            Ok((0..n)
                .map(|_| {
                    t += gamma(&mut rng, shape) * scale;
                    t
                })
                .collect())
        }
    }
}

/// `n` token counts from `dist`, from stream `stream` of `seed` (the Python layer uses 1 for
/// inputs and 2 for outputs).
pub fn lengths(dist: Lengths, n: usize, seed: u64, stream: u64) -> Result<Vec<u64>> {
    check_n(n)?;
    let mut rng = Rng::for_chunk(seed, stream);
    match dist {
        Lengths::Fixed(k) => {
            if k == 0 {
                return Err(Error::invalid("length", 0, "an integer >= 1"));
            }
            Ok(vec![k; n])
        }
        Lengths::Uniform { lo, hi } => {
            if lo == 0 || hi < lo {
                return Err(Error::invalid("uniform (lo, hi)", format!("({lo}, {hi})"), "1 <= lo <= hi"));
            }
            Ok((0..n).map(|_| lo + rng.below(hi - lo + 1)).collect())
        }
        Lengths::LogNormal { mean, sigma, max } => {
            positive("mean", mean)?;
            if !(sigma.is_finite() && (0.0..=5.0).contains(&sigma)) {
                return Err(Error::invalid("sigma", sigma, "in [0, 5]"));
            }
            if max == 0 {
                return Err(Error::invalid("max", 0, "an integer >= 1"));
            }
            let mu = mean.ln() - 0.5 * sigma * sigma;
            Ok((0..n)
                .map(|_| ((mu + sigma * normal(&mut rng)).exp().round().clamp(1.0, max as f64)) as u64)
                .collect())
        }
    }
}

/// `n` token counts drawn from a histogram: `values[k]` with probability `weights[k] / sum`
/// (an empirical length distribution, e.g. from a production trace), from stream `stream` of
/// `seed`. Each draw is one uniform, inverted through the cumulative weights.
pub fn lengths_empirical(
    values: &[u64],
    weights: &[f64],
    n: usize,
    seed: u64,
    stream: u64,
) -> Result<Vec<u64>> {
    check_n(n)?;
    crate::error::same_len("weights", weights.len(), values.len())?;
    if values.is_empty() {
        return Err(Error::invalid("values", "[]", "at least one length"));
    }
    if let Some(k) = values.iter().position(|&v| v == 0) {
        return Err(Error::invalid(format!("values[{k}]"), 0, "an integer >= 1"));
    }
    let mut cdf = Vec::with_capacity(weights.len());
    let mut total = 0.0;
    for (k, &w) in weights.iter().enumerate() {
        if !(w.is_finite() && w >= 0.0) {
            return Err(Error::invalid(format!("weights[{k}]"), w, "a finite number >= 0"));
        }
        total += w;
        cdf.push(total);
    }
    if !(total > 0.0 && total.is_finite()) {
        return Err(Error::invalid("sum(weights)", total, "a finite number > 0"));
    }
    // The last bin of positive weight: a uniform rounded up to the total lands there.
    let last = weights.iter().rposition(|&w| w > 0.0).unwrap_or(0);
    let mut rng = Rng::for_chunk(seed, stream);
    Ok((0..n)
        .map(|_| {
            let u = rng.uniform() * total;
            // The first bin whose cumulative weight exceeds u: zero-weight bins never win.
            values[cdf.partition_point(|&c| c <= u).min(last)]
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean(x: impl Iterator<Item = f64>) -> (f64, f64) {
        let v: Vec<f64> = x.collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64;
        (m, var.sqrt())
    }

    #[test]
    fn poisson_and_gamma_gaps_have_the_asked_mean_and_cv() {
        let n = 200_000;
        for (p, cv) in [
            (ArrivalProcess::Poisson { rate: 4.0 }, 1.0),
            (ArrivalProcess::Gamma { rate: 4.0, cv: 0.5 }, 0.5),
            (ArrivalProcess::Gamma { rate: 4.0, cv: 3.0 }, 3.0),
        ] {
            let t = arrivals(p, n, 11).unwrap();
            let gaps = (0..n).map(|i| t[i] - if i == 0 { 0.0 } else { t[i - 1] });
            let (m, s) = mean(gaps);
            // 5 standard errors of the mean (gap sd = cv / rate).
            assert!((m - 0.25).abs() < 5.0 * 0.25 * cv / (n as f64).sqrt(), "{p:?}: mean {m}");
            assert!((s / m - cv).abs() < 0.05 * cv, "{p:?}: cv {}", s / m);
        }
        assert_eq!(arrivals(ArrivalProcess::Offline, 3, 0).unwrap(), vec![0.0; 3]);
        assert!(arrivals(ArrivalProcess::Poisson { rate: 0.0 }, 3, 0).is_err());
    }

    #[test]
    fn lengths_are_seeded_in_range_and_have_the_asked_mean() {
        let u = lengths(Lengths::Uniform { lo: 3, hi: 9 }, 10_000, 5, 1).unwrap();
        assert!(u.iter().all(|&x| (3..=9).contains(&x)));
        assert_eq!(u, lengths(Lengths::Uniform { lo: 3, hi: 9 }, 10_000, 5, 1).unwrap());
        assert_ne!(u, lengths(Lengths::Uniform { lo: 3, hi: 9 }, 10_000, 5, 2).unwrap());
        let l =
            lengths(Lengths::LogNormal { mean: 1000.0, sigma: 0.5, max: 1 << 20 }, 100_000, 5, 1).unwrap();
        let (m, _) = mean(l.iter().map(|&x| x as f64));
        assert!((m - 1000.0).abs() < 10.0, "{m}");
        assert!(lengths(Lengths::Fixed(0), 1, 0, 1).is_err());
        assert!(lengths(Lengths::Uniform { lo: 5, hi: 4 }, 1, 0, 1).is_err());
    }

    #[test]
    fn empirical_lengths_follow_their_histogram() {
        let values = [10u64, 200, 3000, 7];
        let weights = [1.0, 0.0, 3.0, 6.0];
        let n = 200_000;
        let x = lengths_empirical(&values, &weights, n, 9, 1).unwrap();
        assert_eq!(x, lengths_empirical(&values, &weights, n, 9, 1).unwrap());
        assert!(x.iter().all(|&v| v != 200));
        let mean = x.iter().sum::<u64>() as f64 / n as f64;
        let want = (10.0 + 3.0 * 3000.0 + 6.0 * 7.0) / 10.0;
        // 5 standard errors (the histogram's sd is about 1375).
        assert!((mean - want).abs() < 5.0 * 1375.0 / (n as f64).sqrt(), "{mean} vs {want}");
        assert_eq!(lengths_empirical(&[42], &[0.5], 5, 0, 1).unwrap(), vec![42; 5]);
        let field = |v: &[u64], w: &[f64]| match lengths_empirical(v, w, 3, 0, 1) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(&[1, 2], &[1.0, -1.0]), "weights[1]");
        assert_eq!(field(&[1, 2], &[0.0, 0.0]), "sum(weights)");
        assert_eq!(field(&[1, 0], &[1.0, 1.0]), "values[1]");
        assert_eq!(field(&[], &[]), "values");
        assert_eq!(field(&[1], &[1.0, 2.0]), "len(weights)");
    }
}
