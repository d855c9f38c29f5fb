//! Bindings of `brickwall_core::routing`.

use brickwall_core::routing::{self, Histograms, Popularity, Spec};
use brickwall_core::Error;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::errors::core;
use crate::run::interruptible;

type U64Array<'py> = Bound<'py, PyArray1<u64>>;

/// Histograms of one routing experiment: (load, max_load, device_load, touched, dropped,
/// expert_total). `weights` and `dirichlet_alpha` are exclusive; neither means uniform.
#[pyfunction]
#[pyo3(signature = (experts, top_k, tokens, trials, seed, weights, dirichlet_alpha, capacity, devices, progress=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn route_histograms<'py>(
    py: Python<'py>,
    experts: u64,
    top_k: u64,
    tokens: u64,
    trials: u64,
    seed: u64,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    dirichlet_alpha: Option<f64>,
    capacity: Option<u64>,
    devices: u64,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<(U64Array<'py>, U64Array<'py>, U64Array<'py>, U64Array<'py>, U64Array<'py>, U64Array<'py>)> {
    let weights = weights.as_ref().map(|w| w.as_slice()).transpose()?;
    let popularity = match (weights, dirichlet_alpha) {
        (Some(w), None) => Popularity::Weights(w),
        (None, Some(a)) => Popularity::Dirichlet(a),
        (None, None) => Popularity::Uniform,
        (Some(_), Some(_)) => {
            return core(Err(Error::invalid(
                "popularity",
                "weights and dirichlet_alpha",
                "at most one of them",
            )))
        }
    };
    let spec = Spec { experts, top_k, tokens, trials, seed, popularity, capacity, devices };
    let Histograms { load, max_load, device_load, touched, dropped, expert_total } =
        interruptible(py, progress, |control| routing::route(&spec, control))?;
    Ok((
        load.into_pyarray(py),
        max_load.into_pyarray(py),
        device_load.into_pyarray(py),
        touched.into_pyarray(py),
        dropped.into_pyarray(py),
        expert_total.into_pyarray(py),
    ))
}

/// Trials per RNG chunk (the replay unit of `brickwall.reference.routing`).
#[pyfunction]
pub fn routing_chunk_trials(tokens: u64, top_k: u64) -> u64 {
    routing::chunk_trials(tokens, top_k)
}

/// Steps a routing quantile is estimated from by default (about 2 x 10^7 routed choices).
#[pyfunction]
pub fn routing_default_trials(tokens: u64, top_k: u64) -> u64 {
    routing::default_trials(tokens, top_k)
}
