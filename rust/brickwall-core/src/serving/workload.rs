//! Seeded workloads: arrival times and token lengths of `n` requests.
//!
//! Each quantity draws from its own stream of [`Rng::for_chunk`] (`seed`, stream), so the
//! arrivals do not change when a length distribution does, and nothing depends on threads.
//! Every draw loop checks its [`Control`] each [`CHUNK`] draws, so a caller can cancel a large
//! workload (Ctrl-C); chunking does not change the values.

use crate::control::Control;
use crate::error::{positive, Error, Result};
use crate::rng::Rng;

/// Largest workload one call generates or simulates.
pub const MAX_REQUESTS: usize = 1 << 26;

const ARRIVAL_STREAM: u64 = 0;

/// Draws between two checks of the [`Control`]: a few microseconds of work at most.
const CHUNK: usize = 4096;

/// `n` values of `draw`, in order, checking `control` every [`CHUNK`] of them.
fn draw_n<T>(n: usize, control: &Control, mut draw: impl FnMut() -> T) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let k = CHUNK.min(n - out.len());
        out.extend((0..k).map(|_| draw()));
        control.checkpoint(k as u64)?;
    }
    Ok(out)
}

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
pub fn arrivals(process: ArrivalProcess, n: usize, seed: u64, control: &Control) -> Result<Vec<f64>> {
    check_n(n)?;
    let mut rng = Rng::for_chunk(seed, ARRIVAL_STREAM);
    let mut t = 0.0;
    match process {
        ArrivalProcess::Offline => Ok(vec![0.0; n]),
        ArrivalProcess::Poisson { rate } => {
            positive("rate", rate)?;
            draw_n(n, control, || {
                t += -(1.0 - rng.uniform()).ln() / rate;
                t
            })
        }
        ArrivalProcess::Gamma { rate, cv } => {
            positive("rate", rate)?;
            positive("cv", cv)?;
            let shape = 1.0 / (cv * cv);
            if !(1e-6..=1e6).contains(&shape) {
                return Err(Error::invalid("cv", cv, "in [1e-3, 1e3]"));
            }
            let scale = 1.0 / (rate * shape);
            draw_n(n, control, || {
                t += gamma(&mut rng, shape) * scale;
                t
            })
        }
    }
}

/// `n` token counts from `dist`, from stream `stream` of `seed` (the Python layer uses 1 for
/// inputs and 2 for outputs).
pub fn lengths(dist: Lengths, n: usize, seed: u64, stream: u64, control: &Control) -> Result<Vec<u64>> {
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
            draw_n(n, control, || lo + rng.below(hi - lo + 1))
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
            draw_n(n, control, || {
                ((mu + sigma * normal(&mut rng)).exp().round().clamp(1.0, max as f64)) as u64
            })
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
    control: &Control,
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
    let guide = Guide::new(&cdf, total);
    let mut rng = Rng::for_chunk(seed, stream);
    draw_n(n, control, || values[guide.first_above(&cdf, rng.uniform() * total).min(last)])
}

/// A guide table over a cumulative distribution (Chen & Asau 1974, "On generating random
/// variates from an empirical distribution", AIIE Transactions 6(2)): `m` equal buckets of the
/// total, each knowing the first bin that can answer for it, so the search for a draw's bin runs
/// over one bucket's bins, one on average whatever the weights (a plain binary search over a
/// million bins misses the cache about 20 times a draw). It finds exactly the bin a binary
/// search over the whole table finds, so draws do not depend on it.
struct Guide {
    /// `starts[j]`: the number of bins whose cumulative weight falls in a bucket before `j`.
    starts: Vec<usize>,
    scale: f64,
    top: usize,
}

impl Guide {
    fn new(cdf: &[f64], total: f64) -> Self {
        let top = cdf.len();
        let scale = top as f64 / total;
        let mut g = Self { starts: Vec::with_capacity(top + 2), scale, top };
        // `bucket` is nondecreasing and so is `cdf`: one walk fills the starts.
        let mut k = 0;
        for j in 0..=top + 1 {
            while k < cdf.len() && g.bucket(cdf[k]) < j {
                k += 1;
            }
            g.starts.push(k);
        }
        g
    }

    /// Nondecreasing in `x` (a correctly rounded product, then a floor), which is all the
    /// search needs: rounding may move a bucket's edge but never breaks its bounds.
    fn bucket(&self, x: f64) -> usize {
        ((x * self.scale) as usize).min(self.top)
    }

    /// The first `k` with `cdf[k] > u` (`cdf.len()` if none). Bins before `starts[j]` have a
    /// bucket below `u`'s, so their cumulative weight is at most `u`; bins from `starts[j + 1]`
    /// have a bucket above it, so theirs exceeds `u`.
    fn first_above(&self, cdf: &[f64], u: f64) -> usize {
        let j = self.bucket(u);
        let (lo, hi) = (self.starts[j], self.starts[j + 1]);
        lo + cdf[lo..hi].partition_point(|&c| c <= u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go() -> Control {
        Control::new()
    }

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
            let t = arrivals(p, n, 11, &go()).unwrap();
            let gaps = (0..n).map(|i| t[i] - if i == 0 { 0.0 } else { t[i - 1] });
            let (m, s) = mean(gaps);
            // 5 standard errors of the mean (gap sd = cv / rate).
            assert!((m - 0.25).abs() < 5.0 * 0.25 * cv / (n as f64).sqrt(), "{p:?}: mean {m}");
            assert!((s / m - cv).abs() < 0.05 * cv, "{p:?}: cv {}", s / m);
        }
        assert_eq!(arrivals(ArrivalProcess::Offline, 3, 0, &go()).unwrap(), vec![0.0; 3]);
        assert!(arrivals(ArrivalProcess::Poisson { rate: 0.0 }, 3, 0, &go()).is_err());
    }

    #[test]
    fn lengths_are_seeded_in_range_and_have_the_asked_mean() {
        let u = lengths(Lengths::Uniform { lo: 3, hi: 9 }, 10_000, 5, 1, &go()).unwrap();
        assert!(u.iter().all(|&x| (3..=9).contains(&x)));
        assert_eq!(u, lengths(Lengths::Uniform { lo: 3, hi: 9 }, 10_000, 5, 1, &go()).unwrap());
        assert_ne!(u, lengths(Lengths::Uniform { lo: 3, hi: 9 }, 10_000, 5, 2, &go()).unwrap());
        let l = lengths(Lengths::LogNormal { mean: 1000.0, sigma: 0.5, max: 1 << 20 }, 100_000, 5, 1, &go())
            .unwrap();
        let (m, _) = mean(l.iter().map(|&x| x as f64));
        assert!((m - 1000.0).abs() < 10.0, "{m}");
        assert!(lengths(Lengths::Fixed(0), 1, 0, 1, &go()).is_err());
        assert!(lengths(Lengths::Uniform { lo: 5, hi: 4 }, 1, 0, 1, &go()).is_err());
    }

    #[test]
    fn empirical_lengths_follow_their_histogram() {
        let values = [10u64, 200, 3000, 7];
        let weights = [1.0, 0.0, 3.0, 6.0];
        let n = 200_000;
        let x = lengths_empirical(&values, &weights, n, 9, 1, &go()).unwrap();
        assert_eq!(x, lengths_empirical(&values, &weights, n, 9, 1, &go()).unwrap());
        assert!(x.iter().all(|&v| v != 200));
        let mean = x.iter().sum::<u64>() as f64 / n as f64;
        let want = (10.0 + 3.0 * 3000.0 + 6.0 * 7.0) / 10.0;
        // 5 standard errors (the histogram's sd is about 1375).
        assert!((mean - want).abs() < 5.0 * 1375.0 / (n as f64).sqrt(), "{mean} vs {want}");
        assert_eq!(lengths_empirical(&[42], &[0.5], 5, 0, 1, &go()).unwrap(), vec![42; 5]);
        let field = |v: &[u64], w: &[f64]| match lengths_empirical(v, w, 3, 0, 1, &go()) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(&[1, 2], &[1.0, -1.0]), "weights[1]");
        assert_eq!(field(&[1, 2], &[0.0, 0.0]), "sum(weights)");
        assert_eq!(field(&[1, 0], &[1.0, 1.0]), "values[1]");
        assert_eq!(field(&[], &[]), "values");
        assert_eq!(field(&[1], &[1.0, 2.0]), "len(weights)");
    }

    #[test]
    fn the_guide_finds_the_bin_a_full_binary_search_finds() {
        // Uneven, zero and tiny weights, a subnormal total, and uniforms at the bucket edges.
        let mut rng = Rng::for_chunk(3, 0);
        let tables: Vec<Vec<f64>> = vec![
            vec![1.0, 0.0, 3.0, 6.0],
            vec![1e-300; 7],
            vec![5e-324, 5e-324, 0.0],
            (0..1000).map(|k| if k % 7 == 0 { 0.0 } else { rng.uniform().powi(8) }).collect(),
            (0..500).map(|k| if k < 499 { 1e-12 } else { 1.0 }).collect(),
        ];
        for w in tables {
            let cdf: Vec<f64> = w
                .iter()
                .scan(0.0, |t, &x| {
                    *t += x;
                    Some(*t)
                })
                .collect();
            let total = *cdf.last().unwrap();
            let g = Guide::new(&cdf, total);
            let mut us: Vec<f64> = (0..20_000).map(|_| rng.uniform() * total).collect();
            us.extend(cdf.iter().flat_map(|&c| [c, c.next_down(), c.next_up()]));
            us.extend([0.0, total]);
            for u in us.into_iter().filter(|u| (0.0..=total).contains(u)) {
                assert_eq!(g.first_above(&cdf, u), cdf.partition_point(|&c| c <= u), "u = {u}, w = {w:?}");
            }
        }
    }

    #[test]
    fn draws_are_the_same_across_chunks_and_stop_when_cancelled() {
        let n = 3 * CHUNK + 17;
        let long = lengths(Lengths::LogNormal { mean: 50.0, sigma: 1.0, max: 1000 }, n, 4, 1, &go()).unwrap();
        let short =
            lengths(Lengths::LogNormal { mean: 50.0, sigma: 1.0, max: 1000 }, 10, 4, 1, &go()).unwrap();
        assert_eq!(long[..10], short[..]);
        let t = arrivals(ArrivalProcess::Gamma { rate: 2.0, cv: 2.0 }, n, 4, &go()).unwrap();
        assert_eq!(t[..5], arrivals(ArrivalProcess::Gamma { rate: 2.0, cv: 2.0 }, 5, 4, &go()).unwrap()[..]);
        let stopped = go();
        stopped.cancel();
        let interrupted = |r: Result<Vec<u64>>| matches!(r, Err(Error::Interrupted));
        assert!(interrupted(lengths(Lengths::Uniform { lo: 1, hi: 9 }, n, 0, 1, &stopped)));
        assert!(interrupted(lengths_empirical(&[1, 2], &[1.0, 1.0], n, 0, 1, &stopped)));
        assert!(matches!(
            arrivals(ArrivalProcess::Poisson { rate: 1.0 }, n, 0, &stopped),
            Err(Error::Interrupted)
        ));
    }
}
