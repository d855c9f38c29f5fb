//! Bindings of `brickwall_core::collectives`.

use brickwall_core::collectives::{self, Algorithm, Collective, Link};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::errors::core;
use crate::run::detach;

/// Seconds of one collective per element of `bytes` / `ranks`.
#[pyfunction]
#[pyo3(signature = (kind, bytes, ranks, latency_s, bandwidth_bytes_s, /))]
pub fn collectives_times<'py>(
    py: Python<'py>,
    kind: &str,
    bytes: PyReadonlyArray1<'py, f64>,
    ranks: PyReadonlyArray1<'py, u64>,
    latency_s: f64,
    bandwidth_bytes_s: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let kind = core(Collective::parse(kind))?;
    let link = core(Link::new(latency_s, bandwidth_bytes_s))?;
    let (bytes, ranks) = (bytes.as_slice()?, ranks.as_slice()?);
    Ok(detach(py, || collectives::times(kind, bytes, ranks, link))?.into_pyarray(py))
}

/// Seconds of one all-reduce by `algorithm` per element of `bytes` / `ranks`.
#[pyfunction]
#[pyo3(signature = (bytes, ranks, latency_s, bandwidth_bytes_s, algorithm, /))]
pub fn collectives_all_reduce_times<'py>(
    py: Python<'py>,
    bytes: PyReadonlyArray1<'py, f64>,
    ranks: PyReadonlyArray1<'py, u64>,
    latency_s: f64,
    bandwidth_bytes_s: f64,
    algorithm: &str,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let algorithm = core(Algorithm::parse(algorithm))?;
    let link = core(Link::new(latency_s, bandwidth_bytes_s))?;
    let (bytes, ranks) = (bytes.as_slice()?, ranks.as_slice()?);
    Ok(detach(py, || collectives::all_reduce_times(bytes, ranks, link, algorithm))?.into_pyarray(py))
}

/// The all-reduce algorithm `auto` picks per element, as an index into
/// `collectives_all_reduce_algorithms()`.
#[pyfunction]
#[pyo3(signature = (bytes, ranks, latency_s, bandwidth_bytes_s, /))]
pub fn collectives_all_reduce_choices<'py>(
    py: Python<'py>,
    bytes: PyReadonlyArray1<'py, f64>,
    ranks: PyReadonlyArray1<'py, u64>,
    latency_s: f64,
    bandwidth_bytes_s: f64,
) -> PyResult<Bound<'py, PyArray1<u8>>> {
    let link = core(Link::new(latency_s, bandwidth_bytes_s))?;
    let (bytes, ranks) = (bytes.as_slice()?, ranks.as_slice()?);
    Ok(detach(py, || collectives::all_reduce_choices(bytes, ranks, link))?.into_pyarray(py))
}

/// The concrete all-reduce algorithms' names, indexed by the codes of
/// `collectives_all_reduce_choices`.
#[pyfunction]
pub fn collectives_all_reduce_algorithms() -> Vec<&'static str> {
    Algorithm::CONCRETE.iter().map(|a| a.name()).collect()
}

/// Seconds of a two-level all-reduce per element of `bytes` / `islands`.
#[pyfunction]
#[pyo3(signature = (bytes, islands, per_island, inner_latency_s, inner_bandwidth_bytes_s,
                    outer_latency_s, outer_bandwidth_bytes_s, algorithm, /))]
#[allow(clippy::too_many_arguments)]
pub fn collectives_hierarchical_all_reduce_times<'py>(
    py: Python<'py>,
    bytes: PyReadonlyArray1<'py, f64>,
    islands: PyReadonlyArray1<'py, u64>,
    per_island: u64,
    inner_latency_s: f64,
    inner_bandwidth_bytes_s: f64,
    outer_latency_s: f64,
    outer_bandwidth_bytes_s: f64,
    algorithm: &str,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let algorithm = core(Algorithm::parse(algorithm))?;
    let inner = core(Link::new(inner_latency_s, inner_bandwidth_bytes_s))?;
    let outer = core(Link::new(outer_latency_s, outer_bandwidth_bytes_s))?;
    let (bytes, islands) = (bytes.as_slice()?, islands.as_slice()?);
    let out = detach(py, || {
        collectives::hierarchical_all_reduce_times(bytes, islands, per_island, inner, outer, algorithm)
    })?;
    Ok(out.into_pyarray(py))
}
