//! Goodput under failures: checkpoint intervals and the time a run takes when the cluster fails.
//!
//! The model (Daly 2006, "A higher order estimate of the optimum checkpoint interval for restart
//! dumps", Future Generation Computer Systems 22(3)): failures of the whole job arrive as a
//! Poisson process of mean time between failures `M` (a cluster of `n` chips failing
//! independently at rate `r` each has `M = 1 / (n r)`). The work is cut into segments of `tau`
//! seconds of computation, each followed by a checkpoint write of `delta` seconds. A failure
//! during a segment or its write loses the segment; the job then restarts (`R` seconds: detect,
//! re-queue, reload the checkpoint), and a failure during the restart restarts it again. The
//! expected wall time of one segment of `x` seconds of work is exactly
//! `M e^(R/M) (e^((x + delta)/M) - 1)` (Daly 2006 eq. 13's complete model), so the expected
//! productive fraction is work over the sum of its segments' expectations.
//!
//! Optimum intervals: Young 1974 ("A first order approximation to the optimum checkpoint
//! interval", CACM 17(9)) `tau = sqrt(2 delta M)`; Daly 2006 eq. 37's higher-order estimate
//! `sqrt(2 delta M) (1 + sqrt(delta / (2M)) / 3 + delta / (18 M)) - delta` for `delta < 2M`, else
//! `M`.
//!
//! The Monte Carlo draws each run's failures; one RNG stream per fixed chunk of runs
//! ([`crate::rng`]), so results depend only on the inputs and the seed.

use rayon::prelude::*;

use crate::control::Control;
use crate::error::{non_negative, positive, Error, Result};
use crate::rng::Rng;

/// Runs per RNG stream and per cancellation check.
pub const TRIALS_PER_CHUNK: usize = 64;

/// A failure and checkpoint model. Seconds throughout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Failures {
    /// Mean time between job-interrupting failures of the whole cluster.
    pub mtbf: f64,
    /// Time from a failure until the job computes again.
    pub restart: f64,
    /// Time to write one checkpoint (the job waits for it).
    pub checkpoint_write: f64,
    /// Seconds of computation between checkpoints.
    pub interval: f64,
}

impl Failures {
    fn validate(&self) -> Result<()> {
        positive("mtbf", self.mtbf)?;
        non_negative("restart", self.restart)?;
        non_negative("checkpoint_write", self.checkpoint_write)?;
        positive("interval", self.interval)?;
        // e^(x/M) attempts per segment: past ~700 the expectation overflows.
        for (f, x) in [
            ("interval + checkpoint_write", self.interval + self.checkpoint_write),
            ("restart", self.restart),
        ] {
            if x / self.mtbf > 700.0 {
                return Err(Error::invalid(
                    f,
                    x,
                    format!("<= 700 x mtbf = {} s (longer never finishes)", 700.0 * self.mtbf),
                ));
            }
        }
        Ok(())
    }

    /// Expected wall seconds of one segment of `x` seconds of work (module docs).
    #[inline]
    pub fn segment(&self, x: f64) -> f64 {
        let m = self.mtbf;
        m * (self.restart / m).exp() * ((x + self.checkpoint_write) / m).exp_m1()
    }

    /// Expected wall seconds to finish `work` seconds of computation.
    pub fn expected_wall(&self, work: f64) -> Result<f64> {
        self.validate()?;
        non_negative("work", work)?;
        let n = (work / self.interval).floor();
        let rest = work - n * self.interval;
        let tail = if rest > 0.0 { self.segment(rest) } else { 0.0 };
        let out = n * self.segment(self.interval) + tail;
        if out.is_finite() {
            Ok(out)
        } else {
            Err(Error::invalid("work", work, "a run whose expected wall time is finite"))
        }
    }
}

/// Young 1974: `sqrt(2 delta M)`.
pub fn young_interval(checkpoint_write: f64, mtbf: f64) -> Result<f64> {
    Ok((2.0 * positive("checkpoint_write", checkpoint_write)? * positive("mtbf", mtbf)?).sqrt())
}

/// Daly 2006 eq. 37 (module docs).
pub fn daly_interval(checkpoint_write: f64, mtbf: f64) -> Result<f64> {
    let (d, m) = (positive("checkpoint_write", checkpoint_write)?, positive("mtbf", mtbf)?);
    Ok(if d < 2.0 * m {
        (2.0 * d * m).sqrt() * (1.0 + (d / (2.0 * m)).sqrt() / 3.0 + d / (18.0 * m)) - d
    } else {
        m
    })
}

/// Most events (failures and segments) a Monte Carlo may expect to draw.
pub const MAX_EVENTS: f64 = 4e9;

/// Wall seconds of `trials` simulated runs of `work` seconds of computation (module docs).
/// Checks `control` after every chunk of [`TRIALS_PER_CHUNK`] runs.
pub fn simulate(f: &Failures, work: f64, trials: usize, seed: u64, control: &Control) -> Result<Vec<f64>> {
    f.validate()?;
    non_negative("work", work)?;
    if trials == 0 {
        return Err(Error::invalid("trials", 0, "an integer >= 1"));
    }
    let segments = (work / f.interval).ceil();
    let attempts = ((f.interval + f.checkpoint_write) / f.mtbf).exp() * (f.restart / f.mtbf).exp();
    let events = segments * attempts * trials as f64;
    if events.is_nan() || events > MAX_EVENTS {
        return Err(Error::TooLarge {
            what: "the Monte Carlo".into(),
            detail: format!("about {events:.3e} draws (> {MAX_EVENTS:e}); fewer trials or a longer interval"),
        });
    }
    let mut out = vec![0.0; trials];
    out.par_chunks_mut(TRIALS_PER_CHUNK).enumerate().try_for_each(|(c, chunk)| {
        let mut rng = Rng::for_chunk(seed, c as u64);
        for slot in chunk.iter_mut() {
            *slot = one_run(f, work, &mut rng);
        }
        control.checkpoint(chunk.len() as u64)
    })?;
    Ok(out)
}

/// Seconds until the next failure.
#[inline]
fn next_failure(m: f64, rng: &mut Rng) -> f64 {
    -m * (1.0 - rng.uniform()).ln()
}

/// One run: segments in order; each attempt draws a failure time, a failure costs the time lost
/// and a restart (itself redrawn until it completes).
fn one_run(f: &Failures, work: f64, rng: &mut Rng) -> f64 {
    let mut wall = 0.0;
    let mut left = work;
    while left > 0.0 {
        let x = left.min(f.interval);
        let need = x + f.checkpoint_write;
        loop {
            let t = next_failure(f.mtbf, rng);
            if t >= need {
                wall += need;
                break;
            }
            wall += t;
            loop {
                let r = next_failure(f.mtbf, rng);
                if r >= f.restart {
                    wall += f.restart;
                    break;
                }
                wall += r;
            }
        }
        left -= x;
    }
    wall
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daly_is_young_plus_small_corrections_and_the_optimum() {
        let (d, m) = (300.0, 3.0 * 3600.0);
        let (y, t) = (young_interval(d, m).unwrap(), daly_interval(d, m).unwrap());
        assert!((t - y).abs() < 0.1 * y);
        // Daly's estimate is near the true minimum of the expected wall time per work.
        let f = |tau: f64| {
            Failures { mtbf: m, restart: 600.0, checkpoint_write: d, interval: tau }.segment(tau) / tau
        };
        let best = (1..4000).map(|i| i as f64 * 5.0).min_by(|a, b| f(*a).total_cmp(&f(*b))).unwrap();
        assert!((f(t) - f(best)) / f(best) < 1e-3, "{t} vs {best}");
    }

    #[test]
    fn monte_carlo_mean_matches_the_expectation_and_ignores_threads() {
        let f = Failures { mtbf: 10.0, restart: 1.0, checkpoint_write: 0.5, interval: 4.0 };
        let work = 203.0;
        let c = Control::new();
        let runs = simulate(&f, work, 4000, 7, &c).unwrap();
        let mean = runs.iter().sum::<f64>() / runs.len() as f64;
        let var = runs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (runs.len() - 1) as f64;
        let expected = f.expected_wall(work).unwrap();
        assert!((mean - expected).abs() < 5.0 * (var / runs.len() as f64).sqrt(), "{mean} vs {expected}");
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        assert_eq!(one.install(|| simulate(&f, work, 4000, 7, &c).unwrap()), runs);
        assert!(simulate(&f, work, 0, 7, &c).is_err());
        let hang = Failures { interval: 1e5, ..f };
        assert!(simulate(&hang, 1e9, 10, 7, &c).is_err());
    }
}
