//! The grid engine: a mixed-radix grid enumerated by index, evaluated in fixed-size chunks on
//! rayon's threads, reduced by streaming [`Reducer`]s that merge exactly.
//!
//! A [`Grid`] is a list of axis lengths, slowest first; point `i` has position
//! `(i / stride_k) % len_k` on axis `k`, where `stride_k` is the product of the later axes'
//! lengths. The grid is never materialised: memory is O(kept rows x threads).
//!
//! What a point means is an [`Evaluator`]'s business. The engine hands it *lines*: runs of
//! consecutive positions on the last (fastest) axis at fixed positions on the others, so it can
//! hoist what does not depend on the last axis, visit a line in its own order and stop early.
//! A line may also report that nothing more is feasible until an outer axis moves on
//! ([`Line::skip_rest_of`]); the engine then jumps there, counting the skipped points as
//! evaluated and infeasible. The roofline sweep ([`crate::sweep`]) is one evaluator.
//!
//! Work is split into chunks of [`CHUNK`] points: one worker per rayon thread pulls the next chunk
//! from a shared counter and folds it into its own reducer, checking [`Control`] after each chunk
//! (progress in points, cancellation). The workers' reducers then merge as a parallel tree.
//! Reducers are exact, commutative summaries (see [`crate::pareto`]), so which worker took which
//! chunk, the thread count and the merge's grouping never change a result.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::control::Control;
use crate::error::{Error, Result};
use crate::pareto::Reducer;

/// Grid points per chunk: the unit of parallel work, of progress and of cancellation.
pub const CHUNK: u64 = 1 << 16;

/// Axis lengths of a mixed-radix grid, slowest first (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    axes: Vec<usize>,
    /// Points per position of each axis: the product of the later axes' lengths.
    strides: Vec<u64>,
    len: u64,
}

impl Grid {
    /// A grid of named axes. Fails on no axes, an empty axis (naming it) or more than
    /// 2^63 - 1 points.
    pub fn new(axes: &[(&str, usize)]) -> Result<Self> {
        if axes.is_empty() {
            return Err(Error::invalid("axes", 0, "at least one axis"));
        }
        if let Some((name, _)) = axes.iter().find(|a| a.1 == 0) {
            return Err(Error::invalid(format!("len({name})"), 0, "at least one value"));
        }
        let mut strides = vec![1u64; axes.len()];
        let mut len = Some(1u64);
        for k in (0..axes.len()).rev() {
            strides[k] = len.unwrap_or(0);
            len = len.and_then(|x| x.checked_mul(axes[k].1 as u64));
        }
        let len = len.filter(|&x| x <= i64::MAX as u64).ok_or_else(|| Error::TooLarge {
            what: "the grid".into(),
            detail: format!(
                "{} points is over 2^63; split it into smaller sweeps",
                axes.iter().map(|a| a.1.to_string()).collect::<Vec<_>>().join(" x ")
            ),
        })?;
        Ok(Self { axes: axes.iter().map(|a| a.1).collect(), strides, len })
    }

    /// Points in the grid.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the grid is empty (never: [`Grid::new`] refuses empty axes).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Axis lengths, slowest first.
    pub fn axes(&self) -> &[usize] {
        &self.axes
    }

    /// Position of point `i` on axis `k`.
    #[inline]
    pub fn position(&self, i: u64, k: usize) -> usize {
        ((i / self.strides[k]) % self.axes[k] as u64) as usize
    }

    /// Positions of point `i` on every axis, into `pos`.
    pub fn locate(&self, i: u64, pos: &mut Vec<usize>) {
        pos.clear();
        pos.extend((0..self.axes.len()).map(|k| self.position(i, k)));
    }

    /// Fail unless `[lo, hi)` is a range of points of this grid.
    pub fn check_range(&self, lo: u64, hi: u64) -> Result<()> {
        if lo > hi || hi > self.len {
            return Err(Error::invalid(
                "range",
                format!("[{lo}, {hi})"),
                format!("a range within [0, {})", self.len),
            ));
        }
        Ok(())
    }
}

/// What an [`Evaluator`] found on one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Line {
    /// Points of the line that met the evaluator's constraints.
    pub feasible: u64,
    /// `Some(k)` (`k` below the last axis): no point is feasible from this line's first point
    /// until axis `k` moves to its next position, so the engine skips there.
    pub skip_rest_of: Option<usize>,
}

/// Lines of points `[lo, hi)` of a grid, in index order: what an [`Evaluator`] folds.
///
/// [`Walk::next_line`] yields each line's positions on the outer axes, its range of last-axis
/// positions and the index of its last-axis position 0; [`Walk::skip_rest_of`] then jumps over
/// the rest of an outer axis's current position.
#[derive(Debug)]
pub struct Walk<'g> {
    grid: &'g Grid,
    /// Positions on every axis of the current line's first point (of the next line's once the
    /// carry is applied: it waits until then, so the current line's outer positions stay here).
    pos: Vec<usize>,
    carry: bool,
    /// The last axis and its length.
    last: usize,
    n: usize,
    /// Index of the next line's first point, of the current line's, and the end of the range.
    i: u64,
    start: u64,
    hi: u64,
}

impl<'g> Walk<'g> {
    /// The lines of points `[lo, hi)` (a range checked by the caller).
    pub fn new(grid: &'g Grid, lo: u64, hi: u64) -> Self {
        let mut pos = Vec::with_capacity(grid.axes.len());
        grid.locate(lo.min(grid.len.saturating_sub(1)), &mut pos);
        let last = grid.axes.len() - 1;
        Self { grid, pos, carry: false, last, n: grid.axes[last], i: lo, start: lo, hi }
    }

    /// Points not walked yet: `[next line's first point, end)`. An evaluator that overrides
    /// [`Evaluator::fold`] with its own walk over positions reads its range here.
    pub fn range(&self) -> (u64, u64) {
        (self.i, self.hi)
    }

    /// The next line: `(outer positions, lo, hi, base)`, where last-axis position `c` in
    /// `lo..hi` is point `base + c`; `None` past the range. Cheap: sweeps have lines of a few
    /// points, so this runs once per few points.
    #[inline]
    pub fn next_line(&mut self) -> Option<(&[usize], usize, usize, u64)> {
        let last = self.last;
        if self.carry {
            self.carry = false;
            self.pos[last] = 0;
            let mut k = last;
            while k > 0 {
                k -= 1;
                self.pos[k] += 1;
                if self.pos[k] < self.grid.axes[k] {
                    break;
                }
                self.pos[k] = 0;
            }
        }
        if self.i >= self.hi {
            return None;
        }
        let c = self.pos[last];
        let end = self.n.min(c + (self.hi - self.i) as usize);
        self.start = self.i;
        self.i += (end - c) as u64;
        self.carry = true;
        Some((&self.pos[..last], c, end, self.start - c as u64))
    }

    /// Skip from the current line's first point to the next position of outer axis `k` (no
    /// point in between is feasible); the skipped points still count as evaluated.
    #[cold]
    #[inline(never)]
    pub fn skip_rest_of(&mut self, k: usize) {
        let g = self.grid;
        if k >= self.last {
            return;
        }
        let stride = g.strides[k];
        self.i = ((self.start / stride + 1) * stride).min(self.hi);
        if self.i < self.hi {
            g.locate(self.i, &mut self.pos);
            self.carry = false;
        }
    }
}

/// A grid's meaning: evaluates lines of points and pushes the feasible ones into a reducer.
pub trait Evaluator: Sync {
    /// The grid evaluated.
    fn grid(&self) -> &Grid;

    /// An empty reducer of the kind this evaluator keeps (one per worker).
    fn reducer(&self) -> Reducer;

    /// Evaluate positions `lo..hi` of the last axis at positions `outer` on the other axes; the
    /// point at last-axis position 0 of this line has index `base`, so position `c` is point
    /// `base + c`. Push feasible points into `r` by index. A line with `lo == 0` and `hi` the last
    /// axis's length is whole: the evaluator may visit it in any order and stop early.
    fn line(&self, outer: &[usize], lo: usize, hi: usize, base: u64, r: &mut Reducer) -> Line;

    /// Fold every line of `walk` into `r` with [`Evaluator::line`], taking its skips; returns the
    /// feasible count. An evaluator may override it with a walk of its own over
    /// [`Walk::range`] when lines are short and their overhead shows; it must give the same
    /// rows and counts.
    fn fold(&self, walk: &mut Walk<'_>, r: &mut Reducer) -> u64 {
        let mut feasible = 0;
        while let Some((outer, lo, hi, base)) = walk.next_line() {
            let line = self.line(outer, lo, hi, base, r);
            feasible += line.feasible;
            if let Some(k) = line.skip_rest_of {
                walk.skip_rest_of(k);
            }
        }
        feasible
    }
}

/// What [`run`] found over an index range.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Grid points evaluated (skipped points included: they were proved infeasible).
    pub evaluated: u64,
    /// Points that met the constraints.
    pub feasible: u64,
    /// The reducer over the feasible points.
    pub reducer: Reducer,
}

/// Evaluate points `[lo, hi)` of `e`'s grid in chunks of [`CHUNK`] on rayon's threads, checking
/// `control` after each chunk; fails with [`Error::Interrupted`] once it is cancelled.
pub fn run<E: Evaluator>(e: &E, lo: u64, hi: u64, control: &Control) -> Result<Outcome> {
    e.grid().check_range(lo, hi)?;
    let chunks = (hi - lo).div_ceil(CHUNK);
    let chunks = usize::try_from(chunks).map_err(|_| Error::TooLarge {
        what: "the range".into(),
        detail: format!("{chunks} chunks do not fit this platform's usize; split the range"),
    })?;
    // One worker per thread pulls the next chunk from a shared counter and folds it into its
    // own reducer: the load balances chunk by chunk (a few outer positions can hold all the
    // feasible points), and only one reducer per thread is built and merged.
    let next = AtomicUsize::new(0);
    // broadcast: every pool thread runs a worker. (A two-item parallel iterator left the
    // second thread asleep in most calls: one wake-up chance, often missed.)
    let outs = rayon::broadcast(|_| {
        let mut o = Outcome { evaluated: 0, feasible: 0, reducer: e.reducer() };
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            if k >= chunks {
                // Settle buffered rows here, in parallel, rather than in the merge.
                o.reducer.settle();
                return Ok(o);
            }
            let a = lo + k as u64 * CHUNK;
            let b = (a + CHUNK).min(hi);
            o.feasible += e.fold(&mut Walk::new(e.grid(), a, b), &mut o.reducer);
            o.evaluated += b - a;
            control.checkpoint(b - a)?;
        }
    })
    .into_iter()
    .collect::<Result<Vec<Outcome>>>()?;
    let out =
        merge_tree(outs)?.unwrap_or_else(|| Outcome { evaluated: 0, feasible: 0, reducer: e.reducer() });
    out.reducer.check()?;
    Ok(out)
}

/// Merge outcomes pairwise as a balanced tree, the halves in parallel: the critical path is
/// log2(workers) merges instead of one per worker. Exact: reducers merge in any grouping.
pub fn merge_tree(mut outs: Vec<Outcome>) -> Result<Option<Outcome>> {
    if outs.len() <= 1 {
        return Ok(outs.pop());
    }
    let right = outs.split_off(outs.len() / 2);
    let (a, b) = rayon::join(|| merge_tree(outs), || merge_tree(right));
    Ok(match (a?, b?) {
        (Some(a), Some(b)) => Some(Outcome {
            evaluated: a.evaluated + b.evaluated,
            feasible: a.feasible + b.feasible,
            reducer: a.reducer.merge(b.reducer)?,
        }),
        (a, b) => a.or(b),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pareto::Keep;

    /// Every point of a 2 x 3 x 5 grid, its index pushed as its only objective.
    struct Identity(Grid);

    impl Evaluator for Identity {
        fn grid(&self) -> &Grid {
            &self.0
        }
        fn reducer(&self) -> Reducer {
            Reducer::new(Keep::All(1000), 1).unwrap()
        }
        fn line(&self, outer: &[usize], lo: usize, hi: usize, base: u64, r: &mut Reducer) -> Line {
            for c in lo..hi {
                // The index is the mixed-radix number of the positions.
                let i = base + c as u64;
                assert_eq!(i, ((outer[0] * 3 + outer[1]) * 5 + c) as u64);
                r.push([i as f64, 0.0, 0.0], i);
            }
            Line { feasible: (hi - lo) as u64, skip_rest_of: None }
        }
    }

    #[test]
    fn every_range_visits_its_points_once() {
        let e = Identity(Grid::new(&[("a", 2), ("b", 3), ("c", 5)]).unwrap());
        for (lo, hi) in [(0, 30), (0, 0), (7, 23), (29, 30), (4, 5)] {
            let out = run(&e, lo, hi, &Control::new()).unwrap();
            let got: Vec<u64> = out.reducer.into_rows().iter().map(|r| r.index).collect();
            assert_eq!(got, (lo..hi).collect::<Vec<_>>());
            assert_eq!((out.evaluated, out.feasible), (hi - lo, hi - lo));
        }
        assert!(run(&e, 5, 4, &Control::new()).is_err());
        assert!(run(&e, 0, 31, &Control::new()).is_err());
    }

    #[test]
    fn grids_are_validated() {
        let g = Grid::new(&[("a", 4), ("b", 1 << 16), ("c", 1 << 16)]).unwrap();
        assert_eq!(g.len(), 1 << 34);
        assert_eq!((g.position((1 << 32) + 5, 0), g.position(5, 2)), (1, 5));
        let big = Grid::new(&[("a", 1 << 21), ("b", 1 << 21), ("c", 1 << 21)]);
        assert!(matches!(big, Err(Error::TooLarge { .. })));
        assert!(Grid::new(&[("a", usize::MAX), ("b", 2)]).is_err());
        let empty = Grid::new(&[("a", 3), ("batch", 0)]).unwrap_err();
        assert!(empty.to_string().contains("len(batch)"), "{empty}");
        assert!(Grid::new(&[]).is_err());
    }
}
