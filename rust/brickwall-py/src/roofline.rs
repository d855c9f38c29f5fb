//! Bindings of `brickwall_core::roofline`: struct-of-arrays out.

use brickwall_core::roofline::{Step, StepModel};
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{ChipView, ModelCostsView, PlanView};
use crate::errors::core;
use crate::run::detach;

/// Columns of [`Step`], in the order of `STEP_COLUMNS`.
pub const STEP_COLUMNS: [&str; 11] = [
    "latency",
    "t_weights",
    "t_kv",
    "t_compute",
    "t_comm",
    "tokens_per_s",
    "mfu",
    "mem_weights",
    "mem_kv",
    "mem_act",
    "cost_per_token",
];

pub fn float_columns(s: &Step) -> [f64; 11] {
    [
        s.latency,
        s.t_weights,
        s.t_kv,
        s.t_compute,
        s.t_comm,
        s.tokens_per_s,
        s.mfu,
        s.mem_weights,
        s.mem_kv,
        s.mem_act,
        s.cost_per_token,
    ]
}

/// Evaluate the step roofline over arrays of (batch, context, n); returns a dict of arrays.
#[pyfunction]
pub fn roofline_steps<'py>(
    py: Python<'py>,
    model: ModelCostsView,
    plan: PlanView,
    chip: ChipView,
    batch: PyReadonlyArray1<'py, f64>,
    context: PyReadonlyArray1<'py, f64>,
    n: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let sm = core(StepModel::new(model.into(), plan.into(), chip.into()))?;
    let (b, c, k) = (batch.as_slice()?, context.as_slice()?, n.as_slice()?);
    let (cols, bound, fits) = detach(py, || {
        let steps = sm.evaluate_many(b, c, k)?;
        let mut cols: Vec<Vec<f64>> =
            (0..STEP_COLUMNS.len()).map(|_| Vec::with_capacity(steps.len())).collect();
        for s in &steps {
            for (col, v) in cols.iter_mut().zip(float_columns(s)) {
                col.push(v);
            }
        }
        let bound: Vec<u8> = steps.iter().map(|s| s.bound).collect();
        let fits: Vec<bool> = steps.iter().map(|s| s.fits).collect();
        Ok((cols, bound, fits))
    })?;
    let out = PyDict::new(py);
    for (name, col) in STEP_COLUMNS.iter().zip(cols) {
        out.set_item(name, col.into_pyarray(py))?;
    }
    out.set_item("bound", bound.into_pyarray(py))?;
    out.set_item("fits", fits.into_pyarray(py))?;
    Ok(out)
}
