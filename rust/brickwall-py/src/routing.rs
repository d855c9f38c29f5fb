//! Bindings of `brickwall_core::routing`.

use brickwall_core::routing::{self, Histograms, Popularity, Spec};
use brickwall_core::routing_exact::{self, Law, MaxLoad, Method};
use brickwall_core::Error;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::errors::core;
use crate::run::interruptible;

type U64Array<'py> = Bound<'py, PyArray1<u64>>;

/// Histograms of one routing experiment: (load, max_load, device_load, touched, dropped,
/// expert_total). `weights` and `dirichlet_alpha` are exclusive; neither means uniform.
#[pyfunction]
#[pyo3(signature = (experts, top_k, tokens, trials, seed, weights, dirichlet_alpha, capacity,
                    devices, /, progress=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn routing_histograms<'py>(
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
#[pyo3(signature = (tokens, top_k, /))]
pub fn routing_chunk_trials(tokens: u64, top_k: u64) -> u64 {
    routing::chunk_trials(tokens, top_k)
}

/// Steps a routing quantile is estimated from by default (about 2 x 10^7 routed choices).
#[pyfunction]
#[pyo3(signature = (tokens, top_k, /))]
pub fn routing_default_trials(tokens: u64, top_k: u64) -> u64 {
    routing::default_trials(tokens, top_k)
}

fn law<'a>(experts: u64, top_k: u64, weights: Option<&'a [f64]>) -> Law<'a> {
    match weights {
        Some(weights) => Law::Weights { weights, top_k },
        None => Law::Uniform { experts, top_k },
    }
}

fn check_len(experts: u64, weights: Option<&[f64]>) -> PyResult<()> {
    match weights {
        Some(w) if w.len() as u64 != experts => {
            core(Err(Error::invalid("len(weights)", w.len(), format!("experts = {experts}"))))
        }
        _ => Ok(()),
    }
}

/// The perfectly balanced per-expert load `k B / E`.
#[pyfunction]
#[pyo3(signature = (experts, top_k, tokens, /))]
pub fn routing_balanced_load(experts: u64, top_k: u64, tokens: u64) -> PyResult<f64> {
    core(routing_exact::balanced_load(experts, top_k, tokens))
}

/// P(expert e is among a token's top-k) for each expert; `weights=None` is uniform.
#[pyfunction]
#[pyo3(signature = (experts, top_k, weights, /))]
pub fn routing_inclusion_probabilities<'py>(
    py: Python<'py>,
    experts: u64,
    top_k: u64,
    weights: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let w = weights.as_ref().map(|w| w.as_slice()).transpose()?;
    check_len(experts, w)?;
    let l = law(experts, top_k, w);
    Ok(interruptible(py, None, |c| routing_exact::inclusion_probabilities(&l, c))?.into_pyarray(py))
}

/// One expert's load law `Binomial(tokens, pi_e)`: one row when uniform, one per expert else.
#[pyfunction]
#[pyo3(signature = (experts, top_k, tokens, weights, /))]
pub fn routing_load_pmf<'py>(
    py: Python<'py>,
    experts: u64,
    top_k: u64,
    tokens: u64,
    weights: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let w = weights.as_ref().map(|w| w.as_slice()).transpose()?;
    check_len(experts, w)?;
    let l = law(experts, top_k, w);
    let (rows, flat) = interruptible(py, None, |c| routing_exact::load_pmf(&l, tokens, c))?;
    let width = tokens as usize + 1;
    let pmf = Array2::from_shape_vec((rows, width), flat)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    Ok(pmf.into_pyarray(py))
}

/// Mean number of distinct experts receiving a token.
#[pyfunction]
#[pyo3(signature = (experts, top_k, tokens, weights, /))]
pub fn routing_expected_touched(
    py: Python<'_>,
    experts: u64,
    top_k: u64,
    tokens: u64,
    weights: Option<PyReadonlyArray1<'_, f64>>,
) -> PyResult<f64> {
    let w = weights.as_ref().map(|w| w.as_slice()).transpose()?;
    check_len(experts, w)?;
    let l = law(experts, top_k, w);
    interruptible(py, None, |c| routing_exact::expected_touched(&l, tokens, c))
}

/// Mean assignments dropped per step with `capacity` tokens per expert.
#[pyfunction]
#[pyo3(signature = (experts, top_k, tokens, capacity, weights, /))]
pub fn routing_expected_drops(
    py: Python<'_>,
    experts: u64,
    top_k: u64,
    tokens: u64,
    capacity: u64,
    weights: Option<PyReadonlyArray1<'_, f64>>,
) -> PyResult<f64> {
    let w = weights.as_ref().map(|w| w.as_slice()).transpose()?;
    check_len(experts, w)?;
    let l = law(experts, top_k, w);
    interruptible(py, None, |c| routing_exact::expected_drops(&l, tokens, capacity, c))
}

type F64Array<'py> = Bound<'py, PyArray1<f64>>;

/// The busiest expert's load law: `(method, cdf, lower, upper)` over `c = 0..=tokens`.
/// `method`: auto, column-dp, multinomial or bounds.
#[pyfunction]
#[pyo3(signature = (experts, top_k, tokens, weights, method, /, progress=None))]
pub fn routing_max_load_cdf<'py>(
    py: Python<'py>,
    experts: u64,
    top_k: u64,
    tokens: u64,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    method: &str,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<(&'static str, F64Array<'py>, F64Array<'py>, F64Array<'py>)> {
    let method = core(Method::parse(method))?;
    let w = weights.as_ref().map(|w| w.as_slice()).transpose()?;
    check_len(experts, w)?;
    let l = law(experts, top_k, w);
    let MaxLoad { method, cdf, lower, upper } =
        interruptible(py, progress, |c| routing_exact::max_load_cdf(&l, tokens, method, c))?;
    Ok((method.name(), cdf.into_pyarray(py), lower.into_pyarray(py), upper.into_pyarray(py)))
}

/// `E[X] = sum_c (1 - P(X <= c))` from a CDF on `0..=n` (on CDF bounds: bounds of the mean).
#[pyfunction]
#[pyo3(signature = (cdf, /))]
pub fn routing_mean_from_cdf(cdf: PyReadonlyArray1<'_, f64>) -> PyResult<f64> {
    let c = cdf.as_slice()?;
    if let Some(i) = c.iter().position(|x| !(x.is_finite() && (0.0..=1.0).contains(x))) {
        return core(Err(Error::invalid(format!("cdf[{i}]"), c[i], "a probability in [0, 1]")));
    }
    Ok(routing_exact::mean_from_cdf(c))
}

/// The smallest value `v` with `P(X <= v) >= q` of a histogram indexed by value.
#[pyfunction]
#[pyo3(signature = (hist, q, /))]
pub fn routing_histogram_quantile(hist: PyReadonlyArray1<'_, u64>, q: f64) -> PyResult<u64> {
    if !(q.is_finite() && (0.0..=1.0).contains(&q)) {
        return core(Err(Error::invalid("q", q, "a probability in [0, 1]")));
    }
    Ok(routing::histogram_quantile(hist.as_slice()?, q))
}
