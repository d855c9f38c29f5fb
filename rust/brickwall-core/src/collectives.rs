//! Times of collective operations under the alpha-beta model (Thakur, Rabenseifner & Gropp 2005).
//!
//! A message of `n` bytes among `p` ranks costs `steps * alpha + volume * n / bandwidth`, with the
//! ring algorithms for all-reduce, reduce-scatter and all-gather and pairwise exchange for
//! all-to-all. Conventions for `n`:
//! - all-reduce, reduce-scatter: the buffer each rank holds before the call;
//! - all-gather: the gathered buffer each rank holds after the call;
//! - all-to-all: the buffer each rank holds, of which `(p-1)/p` leaves the rank;
//! - point-to-point: the bytes sent.
//!
//! A group of one rank or an empty message costs nothing.

use crate::error::{non_negative, positive, same_len, Error, Result};
use crate::par::fill;

/// The collective operations modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collective {
    /// Ring reduce-scatter then all-gather: `2(p-1) alpha + 2 (p-1)/p n beta`.
    AllReduce,
    /// Ring reduce-scatter: `(p-1) alpha + (p-1)/p n beta`.
    ReduceScatter,
    /// Ring all-gather: `(p-1) alpha + (p-1)/p n beta`.
    AllGather,
    /// Pairwise exchange: `(p-1) alpha + (p-1)/p n beta`.
    AllToAll,
    /// One message between two ranks: `alpha + n beta`.
    PointToPoint,
}

impl Collective {
    /// Parse the user-facing name (`all-reduce`, `reduce-scatter`, `all-gather`, `all-to-all`, `p2p`).
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "all-reduce" => Self::AllReduce,
            "reduce-scatter" => Self::ReduceScatter,
            "all-gather" => Self::AllGather,
            "all-to-all" => Self::AllToAll,
            "p2p" => Self::PointToPoint,
            _ => {
                return Err(Error::invalid(
                    "collective",
                    name,
                    "one of all-reduce, reduce-scatter, all-gather, all-to-all, p2p",
                ))
            }
        })
    }

    /// (latency steps, bandwidth volume factor) for `p` ranks.
    fn coefficients(self, p: f64) -> (f64, f64) {
        let share = (p - 1.0) / p;
        match self {
            Self::AllReduce => (2.0 * (p - 1.0), 2.0 * share),
            Self::ReduceScatter | Self::AllGather | Self::AllToAll => (p - 1.0, share),
            Self::PointToPoint => (1.0, 1.0),
        }
    }
}

/// A link class: per-message latency and per-rank, per-direction bandwidth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Seconds per message step (alpha).
    pub latency_s: f64,
    /// Bytes per second each rank sends in one direction (1 / beta).
    pub bandwidth_bytes_s: f64,
}

impl Link {
    /// A validated link.
    pub fn new(latency_s: f64, bandwidth_bytes_s: f64) -> Result<Self> {
        Ok(Self {
            latency_s: non_negative("latency_s", latency_s)?,
            bandwidth_bytes_s: positive("bandwidth_bytes_s", bandwidth_bytes_s)?,
        })
    }
}

/// `(fixed seconds, seconds per byte)` of one collective over `ranks` ranks: a message of
/// `bytes > 0` takes `fixed + per_byte * bytes`. Both are 0 for a single rank.
#[inline]
pub fn cost(kind: Collective, ranks: f64, link: Link) -> (f64, f64) {
    if ranks <= 1.0 {
        return (0.0, 0.0);
    }
    let (steps, volume) = kind.coefficients(ranks);
    (steps * link.latency_s, volume / link.bandwidth_bytes_s)
}

/// Seconds for one collective of `bytes` over `ranks` ranks. Inputs are trusted (see [`times`]).
#[inline]
pub fn time(kind: Collective, bytes: f64, ranks: f64, link: Link) -> f64 {
    if bytes <= 0.0 {
        return 0.0;
    }
    let (fixed, per_byte) = cost(kind, ranks, link);
    fixed + per_byte * bytes
}

/// Seconds for a two-level all-reduce: reduce-scatter inside each island of `per_island` ranks,
/// all-reduce of the `1/per_island` shard across `islands` islands, all-gather inside the island.
#[inline]
pub fn hierarchical_all_reduce(bytes: f64, per_island: f64, islands: f64, inner: Link, outer: Link) -> f64 {
    time(Collective::ReduceScatter, bytes, per_island, inner)
        + time(Collective::AllReduce, bytes / per_island, islands, outer)
        + time(Collective::AllGather, bytes, per_island, inner)
}

fn check_inputs(bytes: &[f64], ranks: &[u64]) -> Result<()> {
    same_len("ranks", ranks.len(), bytes.len())?;
    if let Some(i) = bytes.iter().position(|b| !(b.is_finite() && *b >= 0.0)) {
        return Err(Error::invalid(format!("bytes[{i}]"), bytes[i], "a finite number >= 0"));
    }
    if let Some(i) = ranks.iter().position(|&r| r == 0) {
        return Err(Error::invalid(format!("ranks[{i}]"), 0, "an integer >= 1"));
    }
    Ok(())
}

/// [`time`] element-wise over equal-length arrays of message bytes and rank counts.
pub fn times(kind: Collective, bytes: &[f64], ranks: &[u64], link: Link) -> Result<Vec<f64>> {
    check_inputs(bytes, ranks)?;
    let mut out = vec![0.0; bytes.len()];
    fill(&mut out, |i| time(kind, bytes[i], ranks[i] as f64, link));
    Ok(out)
}

/// [`hierarchical_all_reduce`] element-wise over message bytes and island counts.
pub fn hierarchical_all_reduce_times(
    bytes: &[f64],
    islands: &[u64],
    per_island: u64,
    inner: Link,
    outer: Link,
) -> Result<Vec<f64>> {
    check_inputs(bytes, islands)?;
    if per_island == 0 {
        return Err(Error::invalid("per_island", per_island, "an integer >= 1"));
    }
    let mut out = vec![0.0; bytes.len()];
    let g = per_island as f64;
    fill(&mut out, |i| hierarchical_all_reduce(bytes[i], g, islands[i] as f64, inner, outer));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: Link = Link { latency_s: 1e-6, bandwidth_bytes_s: 1e9 };

    #[test]
    fn all_reduce_is_reduce_scatter_plus_all_gather() {
        let ar = time(Collective::AllReduce, 1e6, 8.0, LINK);
        let rs = time(Collective::ReduceScatter, 1e6, 8.0, LINK);
        let ag = time(Collective::AllGather, 1e6, 8.0, LINK);
        assert!((ar - (rs + ag)).abs() < 1e-15);
    }

    #[test]
    fn single_rank_is_free() {
        assert_eq!(time(Collective::AllToAll, 1e9, 1.0, LINK), 0.0);
    }

    #[test]
    fn hierarchical_equals_flat_ring_on_uniform_links_without_latency() {
        let link = Link { latency_s: 0.0, bandwidth_bytes_s: 5e10 };
        let flat = time(Collective::AllReduce, 3e9, 64.0, link);
        let hier = hierarchical_all_reduce(3e9, 8.0, 8.0, link, link);
        assert!((flat - hier).abs() <= 1e-12 * flat);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(times(Collective::AllReduce, &[1.0, f64::NAN], &[2, 2], LINK).is_err());
        assert!(times(Collective::AllReduce, &[1.0], &[0], LINK).is_err());
        assert!(times(Collective::AllReduce, &[1.0], &[2, 2], LINK).is_err());
        assert!(Link::new(0.0, 0.0).is_err());
        assert!(Collective::parse("allreduce").is_err());
    }
}
