//! The grid engine with a second, synthetic evaluator (a toy training-plan search): its kept
//! rows equal brute force's at any thread count and for any split of the index range, and its
//! skips change nothing but the work done.

use std::sync::atomic::{AtomicU64, Ordering};

use brickwall_core::grid::{self, Evaluator, Grid, Line};
use brickwall_core::pareto::{Keep, Reducer, Row};
use brickwall_core::{Control, Error};

const TP: [f64; 4] = [1.0, 2.0, 4.0, 8.0];
const MICROBATCHES: usize = 300;
const SEQS: usize = 64;
/// Device memory; a plan fits when its memory is at most this.
const MEMORY: f64 = 80.0;

/// Plans `tensor parallel x microbatch x sequence length`, sequence fastest and ascending. Memory
/// grows with the microbatch and the sequence, so a line stops at its first sequence that does
/// not fit, and a microbatch whose shortest sequence does not fit ends its tensor-parallel degree.
struct Plans {
    grid: Grid,
    keep: Keep,
    dims: usize,
    /// Lines evaluated, to show that skips happen.
    lines: AtomicU64,
}

impl Plans {
    fn new(keep: Keep, dims: usize) -> Self {
        let grid = Grid::new(&[("tp", TP.len()), ("microbatch", MICROBATCHES), ("seq", SEQS)]).unwrap();
        Self { grid, keep, dims, lines: AtomicU64::new(0) }
    }

    fn memory(tp: f64, mb: usize, seq: usize) -> f64 {
        40.0 / tp + mb as f64 * (0.25 + 0.01 * seq as f64) / tp.sqrt()
    }

    /// Objectives in minimisation form, quantised so that ties are common: step seconds (larger
    /// plans are slower), chip-milliseconds per token (and cheaper), memory.
    fn objectives(tp: f64, mb: usize, seq: usize) -> [f64; 3] {
        let tokens = (mb * (seq + 1)) as f64;
        let step = tokens * 1e-3 / (tp * (1.0 - 0.05 * tp.log2())) + 0.01 * tp.log2() + 0.2;
        let q = |x: f64| (x * 256.0).round() / 256.0;
        [q(step), q(tp * step / tokens * 1e3), q(Self::memory(tp, mb, seq))]
    }

    fn point(i: u64) -> (f64, usize, usize) {
        let s = SEQS as u64;
        let m = MICROBATCHES as u64;
        (TP[(i / s / m) as usize], ((i / s) % m) as usize + 1, (i % s) as usize)
    }
}

impl Evaluator for Plans {
    fn grid(&self) -> &Grid {
        &self.grid
    }

    fn reducer(&self) -> Reducer {
        Reducer::new(self.keep, self.dims).unwrap()
    }

    fn line(&self, outer: &[usize], lo: usize, hi: usize, base: u64, r: &mut Reducer) -> Line {
        self.lines.fetch_add(1, Ordering::Relaxed);
        let (tp, mb) = (TP[outer[0]], outer[1] + 1);
        if Self::memory(tp, mb, 0) > MEMORY {
            return Line { feasible: 0, skip_rest_of: Some(0) };
        }
        let mut feasible = 0;
        for seq in lo..hi {
            if Self::memory(tp, mb, seq) > MEMORY {
                break;
            }
            let mut v = Self::objectives(tp, mb, seq);
            v[self.dims..].fill(0.0);
            r.push(v, base + seq as u64);
            feasible += 1;
        }
        Line { feasible, skip_rest_of: None }
    }
}

/// Every feasible point, by brute force over every index: (index, objectives).
fn brute(dims: usize) -> Vec<(u64, [f64; 3])> {
    let n = (TP.len() * MICROBATCHES * SEQS) as u64;
    (0..n)
        .filter_map(|i| {
            let (tp, mb, seq) = Plans::point(i);
            (Plans::memory(tp, mb, seq) <= MEMORY).then(|| {
                let mut v = Plans::objectives(tp, mb, seq);
                v[dims..].fill(0.0);
                (i, v)
            })
        })
        .collect()
}

/// The frontier by its definition: in lexicographic (objectives, index) order, a point is kept
/// iff no kept point so far beats it (whatever beats it comes earlier in that order).
fn brute_frontier(points: &[(u64, [f64; 3])], dims: usize) -> Vec<u64> {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| {
        (0..dims).map(|j| a.1[j].total_cmp(&b.1[j])).find(|o| o.is_ne()).unwrap_or(a.0.cmp(&b.0))
    });
    let beats = |a: &[f64; 3], b: &[f64; 3]| (0..dims).all(|j| a[j] <= b[j]);
    let mut kept: Vec<(u64, [f64; 3])> = Vec::new();
    for p in sorted {
        if !kept.iter().any(|q| beats(&q.1, &p.1)) {
            kept.push(p);
        }
    }
    let mut out: Vec<u64> = kept.into_iter().map(|p| p.0).collect();
    out.sort_unstable();
    out
}

fn indices(rows: &[Row]) -> Vec<u64> {
    rows.iter().map(|r| r.index).collect()
}

fn run_on(threads: usize, e: &Plans, lo: u64, hi: u64) -> grid::Outcome {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| grid::run(e, lo, hi, &Control::new())).unwrap()
}

#[test]
fn frontier_top_k_and_all_equal_brute_force_at_any_thread_count() {
    for dims in [2, 3] {
        let points = brute(dims);
        let want = brute_frontier(&points, dims);
        assert!(want.len() > 20, "a frontier worth merging: {}", want.len());
        let mut ranked: Vec<(f64, u64)> = points.iter().map(|p| (p.1[0], p.0)).collect();
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for threads in [1, 2, 3, 4] {
            let e = Plans::new(Keep::Pareto, dims);
            let out = run_on(threads, &e, 0, e.grid.len());
            assert_eq!((out.evaluated, out.feasible), (e.grid.len(), points.len() as u64));
            assert_eq!(
                indices(&out.reducer.into_rows()),
                want,
                "pareto, {dims} objectives, {threads} threads"
            );
            // The microbatches past 160 at tp = 1 were skipped, never handed to the evaluator.
            let lines = (TP.len() * MICROBATCHES) as u64;
            assert!(e.lines.load(Ordering::Relaxed) <= lines - 139, "{}", e.lines.load(Ordering::Relaxed));

            let e = Plans::new(Keep::Top(9), dims);
            let got = run_on(threads, &e, 0, e.grid.len()).reducer.into_ranked();
            let got: Vec<(f64, u64)> = got.iter().map(|r| (r.v[0], r.index)).collect();
            assert_eq!(got, ranked[..9]);

            let e = Plans::new(Keep::All(points.len()), dims);
            let got = indices(&run_on(threads, &e, 0, e.grid.len()).reducer.into_rows());
            assert_eq!(got, points.iter().map(|p| p.0).collect::<Vec<_>>());
        }
    }
}

#[test]
fn split_ranges_merge_to_the_whole_and_progress_counts_points() {
    let e = Plans::new(Keep::Pareto, 2);
    let n = e.grid.len();
    let control = Control::new();
    let whole = grid::run(&e, 0, n, &control).unwrap();
    assert_eq!(control.done(), n);
    // Cuts inside a line, on a line boundary, inside a skipped stretch.
    for cut in [1, SEQS as u64 * 7, n / 2 + 13, n - 1] {
        let a = run_on(2, &e, 0, cut);
        let b = run_on(3, &e, cut, n);
        assert_eq!(a.evaluated + b.evaluated, n);
        assert_eq!(a.feasible + b.feasible, whole.feasible);
        let merged = grid::merge_tree(vec![a, b]).unwrap().unwrap();
        assert_eq!(merged.reducer.into_ranked(), whole.reducer.clone().into_ranked());
    }
}

#[test]
fn cancellation_and_limits_are_errors() {
    let e = Plans::new(Keep::Pareto, 2);
    let control = Control::new();
    control.cancel();
    assert_eq!(grid::run(&e, 0, e.grid.len(), &control).unwrap_err(), Error::Interrupted);
    let e = Plans::new(Keep::All(10), 2);
    assert!(matches!(grid::run(&e, 0, e.grid.len(), &Control::new()), Err(Error::TooLarge { .. })));
}
