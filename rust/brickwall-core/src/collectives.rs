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
//!
//! All-reduce also has an [`Algorithm`] choice (ring, tree, one-shot, two-shot, or `Auto`, the
//! fastest of them for the message), see [`all_reduce_time`]; the plain [`Collective::AllReduce`]
//! is the ring.

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

/// An all-reduce algorithm. With `p` ranks, `n` bytes per rank, step latency `alpha` and
/// per-rank, per-direction bandwidth `B` (one message step = one `alpha`):
///
/// | algorithm | latency steps | bytes each rank moves (over `B`) |
/// |---|---|---|
/// | ring | `2(p-1)` | `2(p-1)/p n` |
/// | tree | `2 ceil(log2 p)` | `2 n` |
/// | one-shot | `1` | `(p-1) n` |
/// | two-shot | `2` | `2(p-1)/p n` |
///
/// Sources, in our words:
/// - ring: reduce-scatter then all-gather around a ring, each `p-1` steps moving `n/p` per step
///   (Thakur, Rabenseifner & Gropp 2005, "Optimization of collective communication operations
///   in MPICH"; the same `2(p-1)/p` is NCCL's all-reduce bus-bandwidth factor in nccl-tests'
///   PERFORMANCE.md).
/// - tree: NCCL's double binary tree (NCCL 2.4, Jeaugey, "Massively scale your deep learning
///   training with NCCL 2.4", NVIDIA blog 2019; Sanders, Speck & Traff 2009, "Two-tree algorithms
///   for full bandwidth broadcast, reduction and scan"): a pipelined reduce up a tree of depth
///   `ceil(log2 p)` then a broadcast down it. Each rank is interior in one tree and a leaf in the
///   other, each tree carrying half the buffer, so a rank sends `n` while reducing and `n` while
///   broadcasting: `2n` in all, asymptotically the ring's bandwidth with logarithmic latency.
/// - one-shot: every rank reads the whole buffer of each of its `p-1` peers over the fabric and
///   reduces locally, in a single step (the "one-shot" custom all-reduce of TensorRT-LLM and of
///   vLLM's custom all-reduce, vllm-project/vllm PR 2192 and its "latency-optimal allreduce"
///   design note; FlashInfer's `trtllm_mnnvl_allreduce` docs describe the same split). It needs
///   load/store access to every peer (NVLink/NVSwitch inside a scale-up domain).
/// - two-shot: a reduce-scatter in which each rank reads its `1/p` shard from the `p-1` peers,
///   then an all-gather in which it writes its reduced shard to them: one step each, the ring's
///   bytes (same sources as one-shot; also peer access only).
///
/// `Auto` takes, per message and group size, the algorithm of least modelled time (ties go to the
/// earlier of ring, tree, one-shot, two-shot). This is the switch NCCL-like stacks make from
/// latency-optimised algorithms (one-shot, tree) for small messages to bandwidth-optimised ones
/// (two-shot, ring) for large ones; here it is simply the minimum of the formulas above, not a
/// measured tuning table. Ring and two-shot share the bandwidth term, so for large messages they
/// differ by `2(p-2) alpha` only. `Auto` assumes peer access (a group inside one scale-up
/// domain); for a group over a scale-out network pass `Ring` or `Tree`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Reduce-scatter + all-gather around a ring (today's default everywhere).
    Ring,
    /// Pipelined double binary tree: reduce up, broadcast down.
    Tree,
    /// Every rank reads all peers' buffers and reduces locally, in one step.
    OneShot,
    /// Direct reduce-scatter then direct all-gather, one step each.
    TwoShot,
    /// The fastest of the four for the message (see the type's docs).
    Auto,
}

impl Algorithm {
    /// The concrete algorithms, in `Auto`'s tie-break order; their index is the code that
    /// [`all_reduce_choices`] returns.
    pub const CONCRETE: [Algorithm; 4] = [Self::Ring, Self::Tree, Self::OneShot, Self::TwoShot];

    /// Parse the user-facing name (`ring`, `tree`, `one-shot`, `two-shot`, `auto`).
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "ring" => Self::Ring,
            "tree" => Self::Tree,
            "one-shot" => Self::OneShot,
            "two-shot" => Self::TwoShot,
            "auto" => Self::Auto,
            _ => {
                return Err(Error::invalid("algorithm", name, "one of ring, tree, one-shot, two-shot, auto"))
            }
        })
    }

    /// The user-facing name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ring => "ring",
            Self::Tree => "tree",
            Self::OneShot => "one-shot",
            Self::TwoShot => "two-shot",
            Self::Auto => "auto",
        }
    }

    /// `(fixed seconds, seconds per byte)` of a concrete algorithm over `p > 1` ranks; `Auto`
    /// has no single affine cost (callers resolve it per message first, in [`all_reduce_choice`];
    /// it is priced as the ring here only to keep the function total).
    fn affine(self, p: f64, link: Link) -> (f64, f64) {
        let share = (p - 1.0) / p;
        let (steps, volume) = match self {
            Self::Ring | Self::Auto => (2.0 * (p - 1.0), 2.0 * share),
            Self::Tree => (2.0 * p.log2().ceil(), 2.0),
            Self::OneShot => (1.0, p - 1.0),
            Self::TwoShot => (2.0, 2.0 * share),
        };
        // Divided as in [`cost`], so that the ring is bit-for-bit today's all-reduce.
        (steps * link.latency_s, volume / link.bandwidth_bytes_s)
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

/// The concrete algorithm `algorithm` resolves to for one all-reduce of `bytes` over `ranks`
/// ranks, and its seconds. A forced algorithm resolves to itself; `Auto` to the fastest (ring
/// when nothing is sent: one rank or an empty message, which cost 0). Inputs are trusted.
#[inline]
pub fn all_reduce_choice(bytes: f64, ranks: f64, link: Link, algorithm: Algorithm) -> (Algorithm, f64) {
    if ranks <= 1.0 || bytes <= 0.0 {
        let chosen = if algorithm == Algorithm::Auto { Algorithm::Ring } else { algorithm };
        return (chosen, 0.0);
    }
    let price = |a: Algorithm| {
        let (fixed, per_byte) = a.affine(ranks, link);
        fixed + per_byte * bytes
    };
    if algorithm != Algorithm::Auto {
        return (algorithm, price(algorithm));
    }
    let mut best = (Algorithm::Ring, price(Algorithm::Ring));
    for a in &Algorithm::CONCRETE[1..] {
        let t = price(*a);
        if t < best.1 {
            best = (*a, t);
        }
    }
    best
}

/// Seconds for one all-reduce of `bytes` (each rank's buffer) over `ranks` ranks by
/// `algorithm` (see [`Algorithm`]). `Algorithm::Ring` equals `time(Collective::AllReduce, ..)`.
/// Inputs are trusted (see [`all_reduce_times`] for the checked form): `bytes >= 0` finite,
/// `ranks >= 1`, a validated [`Link`]. Non-decreasing in `bytes`; 0 for one rank.
#[inline]
pub fn all_reduce_time(bytes: f64, ranks: f64, link: Link, algorithm: Algorithm) -> f64 {
    all_reduce_choice(bytes, ranks, link, algorithm).1
}

/// Seconds for a two-level all-reduce whose in-domain halves follow `algorithm`: the
/// reduce-scatter and all-gather inside each island of `per_island` ranks are ring halves
/// (`Ring`: `(g-1) alpha + (g-1)/g n beta` each) or two-shot's direct halves (`TwoShot`:
/// `alpha + (g-1)/g n beta` each), and the all-reduce of the `1/per_island` shard across
/// `islands` islands is a ring over the outer link. `Auto` takes the faster of the two. Tree and
/// one-shot have no reduce-scatter half and are refused by [`hierarchical_all_reduce_times`].
#[inline]
pub fn hierarchical_all_reduce_by(
    bytes: f64,
    per_island: f64,
    islands: f64,
    inner: Link,
    outer: Link,
    algorithm: Algorithm,
) -> f64 {
    let across = time(Collective::AllReduce, bytes / per_island, islands, outer);
    let ring = || hierarchical_all_reduce(bytes, per_island, islands, inner, outer);
    let direct = || all_reduce_time(bytes, per_island, inner, Algorithm::TwoShot) + across;
    match algorithm {
        Algorithm::TwoShot => direct(),
        Algorithm::Auto => ring().min(direct()),
        _ => ring(),
    }
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

/// [`all_reduce_time`] element-wise over equal-length arrays of message bytes and rank counts.
pub fn all_reduce_times(bytes: &[f64], ranks: &[u64], link: Link, algorithm: Algorithm) -> Result<Vec<f64>> {
    check_inputs(bytes, ranks)?;
    let mut out = vec![0.0; bytes.len()];
    fill(&mut out, |i| all_reduce_time(bytes[i], ranks[i] as f64, link, algorithm));
    Ok(out)
}

/// The algorithm `Auto` picks per element, as its index in [`Algorithm::CONCRETE`].
pub fn all_reduce_choices(bytes: &[f64], ranks: &[u64], link: Link) -> Result<Vec<u8>> {
    check_inputs(bytes, ranks)?;
    let code = |a: Algorithm| Algorithm::CONCRETE.iter().position(|c| *c == a).unwrap_or(0) as f64;
    let mut out = vec![0.0; bytes.len()];
    fill(&mut out, |i| code(all_reduce_choice(bytes[i], ranks[i] as f64, link, Algorithm::Auto).0));
    Ok(out.into_iter().map(|c| c as u8).collect())
}

/// [`hierarchical_all_reduce_by`] element-wise over message bytes and island counts.
pub fn hierarchical_all_reduce_times(
    bytes: &[f64],
    islands: &[u64],
    per_island: u64,
    inner: Link,
    outer: Link,
    algorithm: Algorithm,
) -> Result<Vec<f64>> {
    check_inputs(bytes, islands)?;
    if per_island == 0 {
        return Err(Error::invalid("per_island", per_island, "an integer >= 1"));
    }
    if matches!(algorithm, Algorithm::Tree | Algorithm::OneShot) {
        return Err(Error::invalid(
            "algorithm",
            algorithm.name(),
            "one of ring, two-shot, auto (the hierarchical form reduce-scatters inside the domain)",
        ));
    }
    let mut out = vec![0.0; bytes.len()];
    let g = per_island as f64;
    fill(&mut out, |i| hierarchical_all_reduce_by(bytes[i], g, islands[i] as f64, inner, outer, algorithm));
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
        let two = hierarchical_all_reduce_by(3e9, 8.0, 8.0, link, link, Algorithm::TwoShot);
        assert!((flat - two).abs() <= 1e-12 * flat);
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1e-300)
    }

    #[test]
    fn each_algorithm_matches_its_closed_form() {
        // alpha = 1 us, B = 1 GB/s, p = 8, n = 1 MB: beta n = 1 ms.
        let (n, a, bn) = (1e6, 1e-6, 1e-3);
        let t = |alg| all_reduce_time(n, 8.0, LINK, alg);
        assert!(close(t(Algorithm::Ring), 14.0 * a + 1.75 * bn));
        assert!(close(t(Algorithm::Tree), 6.0 * a + 2.0 * bn));
        assert!(close(t(Algorithm::OneShot), a + 7.0 * bn));
        assert!(close(t(Algorithm::TwoShot), 2.0 * a + 1.75 * bn));
        // Tree depth rounds up: 5 ranks need 3 levels.
        assert!(close(all_reduce_time(n, 5.0, LINK, Algorithm::Tree), 6.0 * a + 2.0 * bn));
        assert_eq!(t(Algorithm::Ring), time(Collective::AllReduce, n, 8.0, LINK));
    }

    #[test]
    fn auto_is_the_minimum() {
        for &p in &[2.0, 3.0, 8.0, 72.0, 1024.0] {
            for &n in &[1.0, 1e3, 1.6e4, 1e6, 2.7e8, 1e11] {
                let (pick, t) = all_reduce_choice(n, p, LINK, Algorithm::Auto);
                let times = Algorithm::CONCRETE.map(|a| all_reduce_time(n, p, LINK, a));
                let min = times.iter().copied().fold(f64::INFINITY, f64::min);
                assert_eq!(t, min);
                assert_eq!(all_reduce_time(n, p, LINK, pick), t);
            }
        }
    }

    #[test]
    fn small_messages_pick_latency_algorithms_and_large_ones_bandwidth_algorithms() {
        let nvlink = Link { latency_s: 1e-6, bandwidth_bytes_s: 360e9 };
        let pick = |n, p| all_reduce_choice(n, p, nvlink, Algorithm::Auto).0;
        assert_eq!(pick(16384.0, 8.0), Algorithm::OneShot);
        assert_eq!(pick(256.0 * 1048576.0, 8.0), Algorithm::TwoShot);
        // Without peer access the choice is between ring and tree: tree for small messages.
        let small = all_reduce_time(4096.0, 64.0, nvlink, Algorithm::Tree);
        assert!(small < all_reduce_time(4096.0, 64.0, nvlink, Algorithm::Ring));
        let large = all_reduce_time(1e10, 64.0, nvlink, Algorithm::Ring);
        assert!(large < all_reduce_time(1e10, 64.0, nvlink, Algorithm::Tree));
    }

    #[test]
    fn monotone_in_bytes_and_free_for_one_rank_or_no_bytes() {
        for alg in [Algorithm::Ring, Algorithm::Tree, Algorithm::OneShot, Algorithm::TwoShot, Algorithm::Auto]
        {
            let mut last = 0.0;
            for k in 0..60 {
                let n = 1.5f64.powi(k);
                let t = all_reduce_time(n, 8.0, LINK, alg);
                assert!(t >= last, "{alg:?} at {n}");
                last = t;
            }
            assert_eq!(all_reduce_time(1e9, 1.0, LINK, alg), 0.0);
            assert_eq!(all_reduce_time(0.0, 8.0, LINK, alg), 0.0);
        }
    }

    #[test]
    fn hierarchical_by_algorithm() {
        let (inner, outer) = (LINK, Link { latency_s: 5e-6, bandwidth_bytes_s: 1e8 });
        let ring = hierarchical_all_reduce_by(1e6, 8.0, 4.0, inner, outer, Algorithm::Ring);
        assert_eq!(ring, hierarchical_all_reduce(1e6, 8.0, 4.0, inner, outer));
        let two = hierarchical_all_reduce_by(1e6, 8.0, 4.0, inner, outer, Algorithm::TwoShot);
        // Same bytes, 2 inner steps instead of 14.
        assert!(close(ring - two, 12.0 * 1e-6));
        let auto = hierarchical_all_reduce_by(1e6, 8.0, 4.0, inner, outer, Algorithm::Auto);
        assert_eq!(auto, two);
        assert!(hierarchical_all_reduce_times(&[1.0], &[2], 8, inner, outer, Algorithm::Tree).is_err());
        assert!(hierarchical_all_reduce_times(&[1.0], &[2], 8, inner, outer, Algorithm::OneShot).is_err());
    }

    #[test]
    fn choices_are_codes_of_concrete_algorithms() {
        let nvlink = Link { latency_s: 1e-6, bandwidth_bytes_s: 360e9 };
        let codes = all_reduce_choices(&[16384.0, 268435456.0, 1e9], &[8, 8, 1], nvlink).unwrap();
        assert_eq!(codes, vec![2, 3, 0]);
        for name in ["ring", "tree", "one-shot", "two-shot", "auto"] {
            assert_eq!(Algorithm::parse(name).unwrap().name(), name);
        }
        let err = Algorithm::parse("nvls").unwrap_err().to_string();
        assert!(err.starts_with("algorithm = nvls"), "{err}");
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(all_reduce_times(&[-1.0], &[2], LINK, Algorithm::Auto).is_err());
        assert!(all_reduce_times(&[1.0], &[0], LINK, Algorithm::Auto).is_err());
        assert!(all_reduce_choices(&[f64::NAN], &[2], LINK).is_err());
        assert!(times(Collective::AllReduce, &[1.0, f64::NAN], &[2, 2], LINK).is_err());
        assert!(times(Collective::AllReduce, &[1.0], &[0], LINK).is_err());
        assert!(times(Collective::AllReduce, &[1.0], &[2, 2], LINK).is_err());
        assert!(Link::new(0.0, 0.0).is_err());
        assert!(Collective::parse("allreduce").is_err());
    }
}
