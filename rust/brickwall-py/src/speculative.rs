//! Bindings of `brickwall_core::speculative`. Arrays arrive C-contiguous (the Python wrappers
//! make them so); `f32` and `f64` inputs are read in place, without conversion.

use brickwall_core::speculative::{self, Prob};
use numpy::{Element, IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::run::{detach, interruptible};

type Rows<'a, T> = (&'a [T], &'a [T], usize);

/// Borrow two `(rows x vocab)` arrays of the same element type as flat slices plus `vocab`.
fn with_pair<'py, R>(
    p: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
    f32_case: impl FnOnce(Rows<'_, f32>) -> PyResult<R>,
    f64_case: impl FnOnce(Rows<'_, f64>) -> PyResult<R>,
) -> PyResult<R> {
    fn get<'py, T: Element + Prob>(a: &Bound<'py, PyAny>) -> Option<PyReadonlyArray2<'py, T>> {
        a.extract::<PyReadonlyArray2<'py, T>>().ok()
    }
    if let (Some(a), Some(b)) = (get::<f32>(p), get::<f32>(q)) {
        let vocab = a.shape()[1];
        return f32_case((a.as_slice()?, b.as_slice()?, vocab));
    }
    if let (Some(a), Some(b)) = (get::<f64>(p), get::<f64>(q)) {
        let vocab = a.shape()[1];
        return f64_case((a.as_slice()?, b.as_slice()?, vocab));
    }
    Err(PyTypeError::new_err("expected two 2-d C-contiguous arrays, both float32 or both float64"))
}

/// Per-row `sum(min(p, q))` of two `(rows x vocab)` probability arrays.
#[pyfunction]
#[pyo3(signature = (p, q, tol, /))]
pub fn speculative_acceptance<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
    tol: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let out = with_pair(
        p,
        q,
        |(a, b, v)| detach(py, || speculative::acceptance(a, b, v, tol)),
        |(a, b, v)| detach(py, || speculative::acceptance(a, b, v, tol)),
    )?;
    Ok(out.into_pyarray(py))
}

/// Per-row acceptance of `softmax(target / t)` against `softmax(draft / t)`.
#[pyfunction]
#[pyo3(signature = (target_logits, draft_logits, temperature, /))]
pub fn speculative_acceptance_from_logits<'py>(
    py: Python<'py>,
    target_logits: &Bound<'py, PyAny>,
    draft_logits: &Bound<'py, PyAny>,
    temperature: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let out = with_pair(
        target_logits,
        draft_logits,
        |(a, b, v)| detach(py, || speculative::acceptance_from_logits(a, b, v, temperature)),
        |(a, b, v)| detach(py, || speculative::acceptance_from_logits(a, b, v, temperature)),
    )?;
    Ok(out.into_pyarray(py))
}

/// Per-row `(beta, tv)` of lenient verification with leniency `lam`.
#[pyfunction]
#[pyo3(signature = (p, q, lam, tol, /))]
#[allow(clippy::type_complexity)]
pub fn speculative_lenient<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
    lam: f64,
    tol: f64,
) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>)> {
    let (beta, tv) = with_pair(
        p,
        q,
        |(a, b, v)| detach(py, || speculative::lenient(a, b, v, lam, tol)),
        |(a, b, v)| detach(py, || speculative::lenient(a, b, v, lam, tol)),
    )?;
    Ok((beta.into_pyarray(py), tv.into_pyarray(py)))
}

/// Counts of `trials` simulated speculative steps: (tokens per step, emitted histogram, flat).
#[pyfunction]
#[pyo3(signature = (p, q, gamma, trials, seed, lam, /, progress=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn speculative_simulate<'py>(
    py: Python<'py>,
    p: PyReadonlyArray2<'py, f64>,
    q: PyReadonlyArray2<'py, f64>,
    gamma: usize,
    trials: u64,
    seed: u64,
    lam: f64,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<u64>>)> {
    let vocab = p.shape()[1];
    let (a, b) = (p.as_slice()?, q.as_slice()?);
    let sim = interruptible(py, progress, |control| {
        speculative::simulate(a, b, vocab, gamma, trials, seed, lam, control)
    })?;
    Ok((sim.tokens.into_pyarray(py), sim.emitted.into_pyarray(py)))
}

/// Expected tokens per step of a token tree with mutually exclusive siblings.
#[pyfunction]
#[pyo3(signature = (parents, accept_prob, /))]
pub fn speculative_tree_expected_tokens(
    py: Python<'_>,
    parents: PyReadonlyArray1<'_, i64>,
    accept_prob: PyReadonlyArray1<'_, f64>,
) -> PyResult<f64> {
    let (a, b) = (parents.as_slice()?, accept_prob.as_slice()?);
    detach(py, || speculative::tree_expected_tokens(a, b))
}
