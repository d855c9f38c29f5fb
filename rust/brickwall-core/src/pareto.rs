//! Streaming reducers over scored rows: an exact Pareto frontier over 2 or 3 objectives, the
//! top-k rows by one objective, or every row up to a limit.
//!
//! A row is an objective vector and its grid index (`u64`). Objectives are stored in
//! minimisation form: a maximised objective is negated on the way in ([`Sense::key`]) and back
//! on the way out, both exact.
//!
//! Every reducer is a commutative, associative summary of the multiset of rows pushed into it:
//! pushing rows in any order, or splitting them among reducers and [`Reducer::merge`]-ing those in
//! any grouping, gives the same rows. Ties are broken by the smaller index: of two rows with equal
//! objective vectors only the one with the smaller index is on the frontier, and top-k orders by
//! `(value, index)`. Rows with a NaN objective are refused by [`Reducer::push`].
//!
//! ```
//! use brickwall_core::pareto::{Keep, Reducer};
//! let mut r = Reducer::new(Keep::Pareto, 2).unwrap();
//! for (i, v) in [[1.0, 5.0], [2.0, 2.0], [3.0, 3.0], [5.0, 1.0]].iter().enumerate() {
//!     r.push([v[0], v[1], 0.0], i as u64);
//! }
//! let kept: Vec<u64> = r.into_rows().iter().map(|p| p.index).collect();
//! assert_eq!(kept, vec![0, 1, 3]); // (3, 3) is dominated by (2, 2)
//! ```

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::error::{Error, Result};

/// Whether an objective is minimised or maximised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sense {
    /// Smaller is better.
    Min,
    /// Larger is better.
    Max,
}

impl Sense {
    /// Parse `"min"` or `"max"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "min" => Ok(Sense::Min),
            "max" => Ok(Sense::Max),
            _ => Err(Error::invalid("sense", name, "min or max")),
        }
    }

    /// The value in minimisation form (negated for [`Sense::Max`]); its own inverse.
    #[inline(always)]
    pub fn key(self, x: f64) -> f64 {
        match self {
            Sense::Min => x,
            Sense::Max => -x,
        }
    }
}

/// What a sweep keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The rows no other row dominates.
    Pareto,
    /// The `k` rows with the smallest first objective (in minimisation form).
    Top(usize),
    /// Every row, refusing more than `limit`.
    All(usize),
}

impl Keep {
    /// Parse a reducer kind: `"pareto"`, `"top"` (the best `k`) or `"all"` (at most `k` rows).
    pub fn parse(kind: &str, k: usize) -> Result<Self> {
        match kind {
            "pareto" => Ok(Keep::Pareto),
            "top" => Ok(Keep::Top(k)),
            "all" => Ok(Keep::All(k)),
            _ => Err(Error::invalid("keep", kind, "pareto, top or all")),
        }
    }
}

/// One row: objectives in minimisation form (unused dimensions 0) and the row's grid index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Objective values, minimisation form.
    pub v: [f64; 3],
    /// Grid index.
    pub index: u64,
}

/// `a` beats `b`: `a` dominates `b`, or both have the same objectives and `a` the smaller index.
#[inline(always)]
fn beats(a: &Row, b: &Row, dims: usize) -> bool {
    let mut strictly = false;
    for j in 0..dims {
        if a.v[j] > b.v[j] {
            return false;
        }
        strictly |= a.v[j] < b.v[j];
    }
    strictly || a.index < b.index
}

/// An exact Pareto frontier.
///
/// 2-D: the clean frontier is kept sorted by the first objective (ascending, so the second
/// strictly descends). A push is rejected by one binary search when a frontier row beats it;
/// otherwise it waits in a buffer, and when the buffer is as large as the frontier (or 4096 rows)
/// both are merged in one sort and one sweep - O(log F) amortised per push, however large the
/// frontier. 3-D: a push scans the frontier.
///
/// Both first compare with an anchor, a real row pushed earlier: whatever it beats is off the
/// frontier. In 3-D it is the previous survivor. In 2-D it is the survivor with the smallest first
/// objective of the current run, a stretch of survivors whose second objective never decreases,
/// so it is the run's row most likely to beat the next. Sweeps push rows in grid order, where a
/// deployment's batches walk along its own trade-off and its larger contexts are worse: the
/// anchor drops most rows before any search.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    dims: usize,
    rows: Vec<Row>,
    pending: Vec<Row>,
    /// The previous `rows`, kept for the next merge's output (no fresh allocation per merge).
    spare: Vec<Row>,
    anchor: Option<Row>,
    /// Second objective of the previous survivor (2-D runs).
    run_v1: f64,
    hint: usize,
    /// Searches left to skip, and the current skip length (see `push2`).
    skip: u32,
    backoff: u32,
}

/// Smallest buffer that triggers a merge (tiny under test, so the merge path is exercised).
const FLUSH_MIN: usize = if cfg!(test) { 8 } else { 4096 };

/// Whether `a` precedes `b` in the 2-D order: first objective, then second, then index. Plain
/// float comparisons (no NaN reaches here), so -0 and 0 tie exactly as in [`beats`].
#[inline(always)]
fn before2(a: &Row, b: &Row) -> bool {
    a.v[0] < b.v[0] || (a.v[0] == b.v[0] && (a.v[1] < b.v[1] || (a.v[1] == b.v[1] && a.index < b.index)))
}

fn order2(a: &Row, b: &Row) -> Ordering {
    if before2(a, b) {
        Ordering::Less
    } else if before2(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// The 2-D frontier of two lists each sorted by [`before2`]: in their merged order, a row is on
/// the frontier iff its second objective is below every earlier row's (an earlier row with a
/// smaller or equal second objective dominates it, or equals it with a smaller index).
fn staircase(a: &[Row], b: &[Row], out: &mut Vec<Row>) {
    out.clear();
    // Room for every row at once: growing by doubling would copy and fault in fresh pages.
    out.reserve(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    let mut min_y = f64::INFINITY;
    while i < a.len() || j < b.len() {
        let r = if i == a.len() || (j < b.len() && before2(&b[j], &a[i])) {
            j += 1;
            b[j - 1]
        } else {
            i += 1;
            a[i - 1]
        };
        if r.v[1] < min_y {
            min_y = r.v[1];
            out.push(r);
        }
    }
}

/// Merged staircases at least this long are cut into pieces merged in parallel.
const PAR_STAIRCASE: usize = if cfg!(test) { 64 } else { 1 << 14 };

/// [`staircase`], in parallel for long inputs, with exactly its output. The merged order is cut at
/// rows of the longer list into pieces whose rows all precede the next piece's; each piece's
/// staircase is computed on its own, then a row of a piece stays iff its second objective is
/// below every earlier piece's rows, i.e. below the last kept row's (a piece's staircase strictly
/// descends in the second objective, so what stays is a suffix of it).
fn staircase_par(a: &[Row], b: &[Row], out: &mut Vec<Row>) {
    let n = a.len() + b.len();
    let pieces = (n / PAR_STAIRCASE).min(4 * rayon::current_num_threads());
    if pieces < 2 {
        return staircase(a, b, out);
    }
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    // Piece t holds long[cut_l[t]..cut_l[t + 1]] and short[cut_s[t]..cut_s[t + 1]]: the short
    // list's rows before the long list's cut row go left of the cut.
    let cut_l: Vec<usize> = (0..=pieces).map(|t| long.len() * t / pieces).collect();
    let cut_s: Vec<usize> = (0..=pieces)
        .map(|t| match t {
            0 => 0,
            t if t == pieces => short.len(),
            t => short.partition_point(|r| before2(r, &long[cut_l[t]])),
        })
        .collect();
    let parts: Vec<Vec<Row>> = (0..pieces)
        .into_par_iter()
        .map(|t| {
            let mut part = Vec::new();
            staircase(&long[cut_l[t]..cut_l[t + 1]], &short[cut_s[t]..cut_s[t + 1]], &mut part);
            part
        })
        .collect();
    out.clear();
    out.reserve(parts.iter().map(Vec::len).sum());
    for part in &parts {
        let min_y = out.last().map_or(f64::INFINITY, |r| r.v[1]);
        out.extend_from_slice(&part[part.partition_point(|r| r.v[1] >= min_y)..]);
    }
}

impl Frontier {
    #[inline(always)]
    fn push(&mut self, r: Row) {
        if let Some(a) = &self.anchor {
            if beats(a, &r, self.dims) {
                return;
            }
        }
        let in_run = self.dims == 2 && r.v[1] >= self.run_v1 && self.anchor.is_some_and(|a| a.v[0] <= r.v[0]);
        if !in_run {
            self.anchor = Some(r);
        }
        self.run_v1 = r.v[1];
        if self.dims == 2 {
            self.push2(r)
        } else {
            self.push_n(r)
        }
    }

    #[inline(always)]
    fn push2(&mut self, r: Row) {
        // The frontier row that rejected the previous push, and its left neighbour, often
        // reject this one too (sweeps walk along trade-offs): two comparisons, no search.
        let h = self.hint;
        if h < self.rows.len() && beats(&self.rows[h], &r, 2) {
            return;
        }
        if h > 0 && h <= self.rows.len() && beats(&self.rows[h - 1], &r, 2) {
            self.hint = h - 1;
            return;
        }
        // A search that rejects nothing is wasted (on a frontier larger than the cache, a
        // costly one): after a miss, skip the next 1, 3, 7, ... searches, up to 63, and buffer
        // those rows unsearched. Exact either way: buffered rows are settled by the merge.
        if self.skip > 0 {
            self.skip -= 1;
        } else {
            // Rows with first objective <= x: the last of them has the smallest second objective.
            let i = self.rows.partition_point(|q| q.v[0] <= r.v[0]);
            if i > 0 && beats(&self.rows[i - 1], &r, 2) {
                self.hint = i - 1;
                self.backoff = 0;
                return;
            }
            self.backoff = (2 * self.backoff + 1).min(63);
            self.skip = self.backoff;
        }
        self.pending.push(r);
        if self.pending.len() >= self.rows.len().max(FLUSH_MIN) {
            self.flush();
        }
    }

    /// Merge the buffer into the frontier.
    fn flush(&mut self) {
        if self.dims != 2 || self.pending.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        // Stable driftsort: sweeps push runs of rows ordered along a deployment's trade-off,
        // which it merges in near-linear time.
        pending.sort_by(order2);
        staircase(&self.rows, &pending, &mut self.spare);
        std::mem::swap(&mut self.rows, &mut self.spare);
        pending.clear();
        self.pending = pending;
    }

    /// Merge another 2-D frontier in: two sorted staircases merge in one linear pass.
    fn absorb2(&mut self, mut other: Frontier) {
        self.flush();
        other.flush();
        staircase_par(&self.rows, &other.rows, &mut self.spare);
        std::mem::swap(&mut self.rows, &mut self.spare);
    }

    fn push_n(&mut self, r: Row) {
        let d = self.dims;
        if let Some(pos) = self.rows.iter().position(|q| beats(q, &r, d)) {
            // Move the winner forward: the rows that reject most are found first next time.
            if pos > 0 {
                self.rows.swap(pos, pos / 2);
            }
            return;
        }
        self.rows.retain(|q| !beats(&r, q, d));
        self.rows.push(r);
    }

    fn into_rows(mut self) -> Vec<Row> {
        self.flush();
        self.rows
    }
}

/// A row ordered by `(first objective, index)`, for the top-k max-heap (the worst kept row on top).
#[derive(Debug, Clone, Copy)]
pub struct Ranked(pub Row);

impl PartialEq for Ranked {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ranked {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.v[0].total_cmp(&o.0.v[0]).then(self.0.index.cmp(&o.0.index))
    }
}

/// A streaming, mergeable reducer (see the module docs).
#[derive(Debug, Clone)]
pub enum Reducer {
    /// [`Keep::Pareto`].
    Pareto(Frontier),
    /// [`Keep::Top`]: a bounded max-heap of the best `k`.
    Top(usize, BinaryHeap<Ranked>),
    /// [`Keep::All`]: rows in arrival order, and whether more than `limit` arrived.
    All(usize, Vec<Row>, bool),
}

impl Reducer {
    /// An empty reducer over `dims` objectives (Pareto: 2 or 3; others: 1 to 3).
    pub fn new(keep: Keep, dims: usize) -> Result<Self> {
        let lo = if keep == Keep::Pareto { 2 } else { 1 };
        if !(lo..=3).contains(&dims) {
            return Err(Error::invalid("objectives", dims, format!("between {lo} and 3 objectives")));
        }
        Ok(match keep {
            Keep::Pareto => Reducer::Pareto(Frontier { dims, ..Frontier::default() }),
            Keep::Top(0) => return Err(Error::invalid("keep top k", 0, "k >= 1")),
            Keep::Top(k) => Reducer::Top(k, BinaryHeap::with_capacity(k.min(1 << 16) + 1)),
            Keep::All(limit) => Reducer::All(limit, Vec::new(), false),
        })
    }

    /// Offer one row (objectives in minimisation form). Returns false, keeping nothing, if an
    /// objective is NaN.
    #[inline(always)]
    pub fn push(&mut self, v: [f64; 3], index: u64) -> bool {
        if v.iter().any(|x| x.is_nan()) {
            return false;
        }
        let r = Row { v, index };
        match self {
            Reducer::Pareto(f) => f.push(r),
            Reducer::Top(k, heap) => {
                if heap.len() < *k {
                    heap.push(Ranked(r));
                } else if heap.peek().is_some_and(|w| Ranked(r) < *w) {
                    if let Some(mut worst) = heap.peek_mut() {
                        *worst = Ranked(r);
                    }
                }
            }
            Reducer::All(limit, rows, over) => {
                if rows.len() < *limit {
                    rows.push(r);
                } else {
                    *over = true;
                }
            }
        }
        true
    }

    /// The reducer of both inputs' rows. Both must come from the same [`Keep`] and dims.
    pub fn merge(mut self, other: Reducer) -> Result<Reducer> {
        match (&mut self, other) {
            (Reducer::Pareto(a), Reducer::Pareto(b)) if a.dims == 2 && b.dims == 2 => {
                a.absorb2(b);
                Ok(self)
            }
            (Reducer::Pareto(a), Reducer::Pareto(b)) if a.dims == b.dims => {
                // Push the smaller frontier into the larger.
                let (mut big, small) = if a.rows.len() >= b.rows.len() {
                    (std::mem::take(a), b)
                } else {
                    (b, std::mem::take(a))
                };
                big.anchor = None;
                for r in small.into_rows() {
                    big.push(r);
                }
                big.flush();
                Ok(Reducer::Pareto(big))
            }
            (Reducer::Top(k, a), Reducer::Top(k2, b)) if *k == k2 => {
                let k = *k;
                let mut out = Reducer::Top(k, std::mem::take(a));
                for Ranked(r) in b {
                    out.push(r.v, r.index);
                }
                Ok(out)
            }
            (Reducer::All(limit, a, over), Reducer::All(l2, b, over2)) if *limit == l2 => {
                let mut out = Reducer::All(*limit, std::mem::take(a), *over || over2);
                for r in b {
                    out.push(r.v, r.index);
                }
                Ok(out)
            }
            _ => Err(Error::invalid(
                "merge",
                "reducers of different kinds",
                "reducers built with the same keep and objectives",
            )),
        }
    }

    /// Settle buffered rows now (a 2-D frontier's pending rows), so that a later merge does
    /// not: sweeps call it on each worker, in parallel, before the serial merges.
    pub fn settle(&mut self) {
        if let Reducer::Pareto(f) = self {
            f.flush();
        }
    }

    /// Fail if an [`Keep::All`] reducer was offered more rows than its limit.
    pub fn check(&self) -> Result<()> {
        match self {
            Reducer::All(limit, _, true) => Err(Error::TooLarge {
                what: "keep=\"all\"".into(),
                detail: format!(
                    "more than {limit} feasible rows; keep the Pareto frontier or the top k instead"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The kept rows, sorted by index (a canonical order: equal for equal row sets).
    pub fn into_rows(self) -> Vec<Row> {
        let mut rows = match self {
            Reducer::Pareto(f) => f.into_rows(),
            Reducer::Top(_, h) => h.into_iter().map(|r| r.0).collect(),
            Reducer::All(_, r, _) => r,
        };
        rows.sort_unstable_by_key(|r| r.index);
        rows
    }

    /// The kept rows ranked as [`rank`] orders them. A 2-D frontier already is: its first
    /// objective strictly ascends (of two rows with an equal first objective, one beats the other).
    pub fn into_ranked(self) -> Vec<Row> {
        match self {
            Reducer::Pareto(f) if f.dims == 2 => f.into_rows(),
            r => {
                let mut rows = r.into_rows();
                rank(&mut rows);
                rows
            }
        }
    }
}

/// Sort rows best first by the first objective (minimisation form), ties by the smaller index:
/// the order sweeps report kept rows in.
pub fn rank(rows: &mut [Row]) {
    rows.sort_unstable_by(|a, b| {
        a.v[0].partial_cmp(&b.v[0]).unwrap_or(Ordering::Equal).then(a.index.cmp(&b.index))
    });
}

/// Reduce rows given as a row-major `n x dims` matrix of objective values (natural form, with
/// `senses`) and their indices; what an executor's driver does with its workers' rows. The kept
/// rows come back ranked ([`rank`]).
pub fn reduce(values: &[f64], index: &[u64], senses: &[Sense], keep: Keep) -> Result<Vec<Row>> {
    let dims = senses.len();
    let mut r = Reducer::new(keep, dims)?;
    crate::error::same_len("values", values.len(), index.len() * dims)?;
    for (i, (&ix, row)) in index.iter().zip(values.chunks_exact(dims)).enumerate() {
        let mut v = [0.0; 3];
        for j in 0..dims {
            v[j] = senses[j].key(row[j]);
        }
        if !r.push(v, ix) {
            return Err(Error::invalid(format!("values[{i}]"), "NaN", "numbers"));
        }
    }
    r.check()?;
    Ok(r.into_ranked())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition: rows no other row beats.
    fn naive(rows: &[Row], dims: usize) -> Vec<u64> {
        let mut out: Vec<u64> = rows
            .iter()
            .filter(|r| !rows.iter().any(|q| q.index != r.index && beats(q, r, dims)))
            .map(|r| r.index)
            .collect();
        out.sort_unstable();
        out
    }

    fn rows_strategy(dims: usize) -> impl Strategy<Value = Vec<Row>> {
        // Small integer coordinates make ties and duplicates common.
        prop::collection::vec(prop::array::uniform3(0i32..12), 0..200).prop_map(move |vs| {
            vs.into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let mut a = [0.0; 3];
                    for j in 0..dims {
                        a[j] = f64::from(v[j]);
                    }
                    Row { v: a, index: i as u64 }
                })
                .collect()
        })
    }

    fn run(keep: Keep, dims: usize, rows: &[Row]) -> Vec<u64> {
        let mut r = Reducer::new(keep, dims).unwrap();
        for x in rows {
            r.push(x.v, x.index);
        }
        r.into_rows().iter().map(|x| x.index).collect()
    }

    proptest! {
        #[test]
        fn frontier_2d_matches_definition(rows in rows_strategy(2)) {
            prop_assert_eq!(run(Keep::Pareto, 2, &rows), naive(&rows, 2));
        }

        #[test]
        fn frontier_3d_matches_definition(rows in rows_strategy(3)) {
            prop_assert_eq!(run(Keep::Pareto, 3, &rows), naive(&rows, 3));
        }

        #[test]
        fn merge_is_order_independent(rows in rows_strategy(2), cut in 0usize..200, seed in 0u64..1000) {
            let cut = cut.min(rows.len());
            let mut shuffled = rows.clone();
            // A deterministic permutation from the seed.
            let n = shuffled.len();
            for i in (1..n).rev() {
                let j = ((seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64)) >> 7) as usize % (i + 1);
                shuffled.swap(i, j);
            }
            for keep in [Keep::Pareto, Keep::Top(5), Keep::All(1000)] {
                let whole = run(keep, 2, &rows);
                let mut a = Reducer::new(keep, 2).unwrap();
                let mut b = Reducer::new(keep, 2).unwrap();
                for x in &shuffled[..cut] { a.push(x.v, x.index); }
                for x in &shuffled[cut..] { b.push(x.v, x.index); }
                let ba: Vec<u64> = b.clone().merge(a.clone()).unwrap().into_rows().iter().map(|x| x.index).collect();
                let ab: Vec<u64> = a.merge(b).unwrap().into_rows().iter().map(|x| x.index).collect();
                prop_assert_eq!(&ab, &whole);
                prop_assert_eq!(&ba, &whole);
            }
        }

        #[test]
        fn top_k_matches_sort(rows in rows_strategy(1), k in 1usize..20) {
            let mut want: Vec<(f64, u64)> = rows.iter().map(|r| (r.v[0], r.index)).collect();
            want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut want: Vec<u64> = want.into_iter().take(k).map(|x| x.1).collect();
            want.sort_unstable();
            prop_assert_eq!(run(Keep::Top(k), 1, &rows), want);
        }
    }

    /// A 2-D frontier of many rows: points near an anti-diagonal, with ties in both objectives.
    fn wide_frontier(points: &[(u16, u16)], first_index: u64) -> Vec<Row> {
        let mut f = Frontier { dims: 2, ..Frontier::default() };
        for (i, &(x, e)) in points.iter().enumerate() {
            let x = f64::from(x % 400);
            f.push(Row { v: [x, 400.0 - x + f64::from(e % 3), 0.0], index: first_index + i as u64 });
        }
        f.into_rows()
    }

    proptest! {
        #[test]
        fn parallel_staircase_equals_serial(
            a in prop::collection::vec((0u16..400, 0u16..3), 0..600),
            b in prop::collection::vec((0u16..400, 0u16..3), 0..600),
        ) {
            let (a, b) = (wide_frontier(&a, 0), wide_frontier(&b, 1000));
            let (mut serial, mut par) = (Vec::new(), Vec::new());
            staircase(&a, &b, &mut serial);
            staircase_par(&a, &b, &mut par);
            prop_assert_eq!(&par, &serial);
            staircase_par(&b, &a, &mut par);
            prop_assert_eq!(par, serial);
        }
    }

    #[test]
    fn negative_zero_ties_with_zero() {
        // A maximised objective of 0 becomes -0: it must tie with a minimised 0, as in `beats`.
        let mut r = Reducer::new(Keep::Pareto, 2).unwrap();
        r.push([-0.0, 1.0, 0.0], 1);
        r.push([0.0, 1.0, 0.0], 0);
        assert_eq!(r.into_rows().iter().map(|x| x.index).collect::<Vec<_>>(), vec![0]);
        let mut rows = vec![Row { v: [0.0, 2.0, 0.0], index: 3 }, Row { v: [-0.0, 1.0, 0.0], index: 5 }];
        rank(&mut rows);
        assert_eq!(rows.iter().map(|x| x.index).collect::<Vec<_>>(), vec![3, 5]);
    }

    #[test]
    fn senses_and_errors() {
        let rows = reduce(&[1.0, 1.0, 2.0, 2.0], &[0, 1], &[Sense::Min, Sense::Max], Keep::Pareto).unwrap();
        assert_eq!(rows.len(), 2);
        let rows = reduce(&[1.0, 1.0, 2.0, 2.0], &[0, 1], &[Sense::Min, Sense::Min], Keep::Pareto).unwrap();
        assert_eq!(rows.iter().map(|r| r.index).collect::<Vec<_>>(), vec![0]);
        assert!(reduce(&[1.0, f64::NAN], &[0], &[Sense::Min, Sense::Min], Keep::Pareto).is_err());
        assert!(Reducer::new(Keep::Pareto, 1).is_err());
        assert!(Reducer::new(Keep::Top(0), 1).is_err());
        let r = reduce(&[1.0, 2.0, 3.0], &[0, 1, 2], &[Sense::Min], Keep::All(2));
        assert!(matches!(r, Err(Error::TooLarge { .. })));
    }
}
