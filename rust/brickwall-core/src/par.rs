//! Parallel fills of caller-allocated outputs: element-wise arrays and column-major tables.
//!
//! The one place that decides how an element-wise kernel is split over rayon's threads. Each
//! element is computed by the same closure whatever the split, so results never depend on the
//! thread count. Short outputs run on the calling thread: below [`PAR_MIN`] elements, waking the
//! pool costs more than the work.

use rayon::prelude::*;

/// Smallest element-wise output filled in parallel.
pub const PAR_MIN: usize = 1 << 15;

/// Elements per parallel task of an element-wise fill.
const TASK: usize = PAR_MIN / 4;

/// Rows per parallel task of a table fill (a table row is a dozen values or more).
const TABLE_TASK: usize = 4096;

/// Set `out[i] = f(i)` for every `i`, in parallel over fixed chunks when `out` is long.
pub fn fill(out: &mut [f64], f: impl Fn(usize) -> f64 + Sync) {
    let ok = try_fill(out, |i| Some(f(i)));
    debug_assert!(ok);
}

/// Set `out[i] = f(i)` for every `i` while `f` returns `Some`; false if it returned `None` for
/// some `i` (then `out` is partly written). The caller finds and names the bad element afterwards,
/// so the parallel loop carries one cheap test per element, not an error value.
pub fn try_fill(out: &mut [f64], f: impl Fn(usize) -> Option<f64> + Sync) -> bool {
    let part = |base: usize, part: &mut [f64]| {
        part.iter_mut().enumerate().all(|(i, o)| match f(base + i) {
            Some(x) => {
                *o = x;
                true
            }
            None => false,
        })
    };
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(TASK).enumerate().map(|(c, p)| part(c * TASK, p)).reduce(|| true, |a, b| a && b)
    } else {
        part(0, out)
    }
}

/// Fill `out`, a column-major `rows x W` table (column `j` is `out[j * rows..(j + 1) * rows]`),
/// with `row(i)` for every row, in parallel over fixed chunks of rows. Column-major, so that each
/// column is one contiguous array for its readers (the binding hands them to numpy as is).
pub fn fill_columns<const W: usize>(out: &mut [f64], rows: usize, row: impl Fn(usize) -> [f64; W] + Sync) {
    assert_eq!(out.len(), rows * W, "a rows x W table");
    if rows == 0 {
        return;
    }
    // Chunk k holds its rows' piece of every column.
    let mut chunks: Vec<Vec<&mut [f64]>> =
        (0..rows.div_ceil(TABLE_TASK)).map(|_| Vec::with_capacity(W)).collect();
    for column in out.chunks_mut(rows) {
        for (k, piece) in column.chunks_mut(TABLE_TASK).enumerate() {
            chunks[k].push(piece);
        }
    }
    chunks.into_par_iter().enumerate().for_each(|(k, mut columns)| {
        for i in 0..columns[0].len() {
            for (column, x) in columns.iter_mut().zip(row(k * TABLE_TASK + i)) {
                column[i] = x;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_columns_is_column_major_across_chunks() {
        let rows = 2 * TABLE_TASK + 5;
        let mut out = vec![0.0; rows * 3];
        fill_columns(&mut out, rows, |i| [i as f64, 2.0 * i as f64, -(i as f64)]);
        for i in 0..rows {
            assert_eq!([out[i], out[rows + i], out[2 * rows + i]], [i as f64, 2.0 * i as f64, -(i as f64)]);
        }
        fill_columns::<3>(&mut [], 0, |_| unreachable!());
    }

    #[test]
    fn fills_cover_every_element_serial_and_parallel() {
        for n in [0, 7, PAR_MIN - 1, PAR_MIN, 3 * PAR_MIN + 11] {
            let mut out = vec![f64::NAN; n];
            fill(&mut out, |i| i as f64 * 0.5);
            assert!(out.iter().enumerate().all(|(i, &x)| x == i as f64 * 0.5));
            assert!(try_fill(&mut out, |i| Some(i as f64)));
            assert!(out.iter().enumerate().all(|(i, &x)| x == i as f64));
            if n > 0 {
                // A failure anywhere, in any chunk, is reported.
                assert!(!try_fill(&mut out, |i| (i != n - 1).then_some(0.0)));
                assert!(!try_fill(&mut out, |i| (i != 0).then_some(0.0)));
            }
        }
    }
}
