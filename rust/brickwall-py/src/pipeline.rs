//! Bindings of `brickwall_core::pipeline`.

use brickwall_core::pipeline::{self, Pipeline, Schedule};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::core;
use crate::run::{detach, detach_into, interruptible};

/// Simulate one schedule; returns the timeline arrays and summaries as a dict.
#[pyfunction]
#[pyo3(signature = (schedule, stages, microbatches, chunks, forward, backward, weight_grad, p2p,
                    /, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn pipeline_simulate<'py>(
    py: Python<'py>,
    schedule: &str,
    stages: usize,
    microbatches: usize,
    chunks: usize,
    forward: PyReadonlyArray1<'py, f64>,
    backward: PyReadonlyArray1<'py, f64>,
    weight_grad: Option<PyReadonlyArray1<'py, f64>>,
    p2p: f64,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let schedule = core(Schedule::parse(schedule))?;
    let weight_grad = match &weight_grad {
        Some(w) => Some(w.as_slice()?),
        None => None,
    };
    let pl = Pipeline {
        schedule,
        stages,
        microbatches,
        chunks,
        forward: forward.as_slice()?,
        backward: backward.as_slice()?,
        weight_grad,
        p2p,
    };
    let s = interruptible(py, progress.as_ref(), |control| pl.simulate(control))?;
    let out = PyDict::new(py);
    out.set_item("stage", s.stage.into_pyarray(py))?;
    out.set_item("kind", s.kind.into_pyarray(py))?;
    out.set_item("microbatch", s.microbatch.into_pyarray(py))?;
    out.set_item("chunk", s.chunk.into_pyarray(py))?;
    out.set_item("start", s.start.into_pyarray(py))?;
    out.set_item("end", s.end.into_pyarray(py))?;
    out.set_item("busy", s.busy.into_pyarray(py))?;
    out.set_item("idle", s.idle.into_pyarray(py))?;
    out.set_item("peak_in_flight", s.peak_in_flight.into_pyarray(py))?;
    out.set_item("makespan", s.makespan)?;
    out.set_item("bubble", s.bubble)?;
    out.set_item("bubble_fraction", s.bubble_fraction)?;
    out.set_item("bubble_ratio", s.bubble_ratio)?;
    Ok(out)
}

/// Closed-form bubble fraction per element of `stages` / `microbatches` / `chunks`.
#[pyfunction]
#[pyo3(signature = (schedule, stages, microbatches, chunks, forward, backward, weight_grad, /))]
#[allow(clippy::too_many_arguments)]
pub fn pipeline_bubble_fractions<'py>(
    py: Python<'py>,
    schedule: &str,
    stages: PyReadonlyArray1<'py, u64>,
    microbatches: PyReadonlyArray1<'py, u64>,
    chunks: PyReadonlyArray1<'py, u64>,
    forward: f64,
    backward: f64,
    weight_grad: Option<f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let schedule = core(Schedule::parse(schedule))?;
    let (p, m, v) = (stages.as_slice()?, microbatches.as_slice()?, chunks.as_slice()?);
    detach_into(py, p.len(), |out| {
        pipeline::bubble_fractions(schedule, p, m, v, forward, backward, weight_grad, out)
    })
}

/// Layers per stage of the min-max contiguous assignment.
#[pyfunction]
#[pyo3(signature = (layer_times, stages, head_extra, tail_extra, /))]
pub fn pipeline_balance_layers<'py>(
    py: Python<'py>,
    layer_times: PyReadonlyArray1<'py, f64>,
    stages: usize,
    head_extra: f64,
    tail_extra: f64,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let t = layer_times.as_slice()?;
    Ok(detach(py, || pipeline::balance_layers(t, stages, head_extra, tail_extra))?.into_pyarray(py))
}
