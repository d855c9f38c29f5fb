//! Bindings of `brickwall_core::roofline`: one column-major table out.

use brickwall_core::roofline::{StepModel, STEP_COLUMNS};
use numpy::{PyArray2, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::convert::{ChipView, ModelCostsView, PlanView};
use crate::errors::core;
use crate::run::detach_into;

/// The names of the table's columns, in order.
#[pyfunction]
pub fn roofline_columns() -> Vec<&'static str> {
    STEP_COLUMNS.to_vec()
}

/// Evaluate the step roofline over arrays of (batch, context, n): a (rows x columns) table.
#[pyfunction]
pub fn roofline_steps<'py>(
    py: Python<'py>,
    model: ModelCostsView,
    plan: PlanView,
    chip: ChipView,
    batch: PyReadonlyArray1<'py, f64>,
    context: PyReadonlyArray1<'py, f64>,
    n: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let sm = core(StepModel::new(model.into(), plan.into(), chip.into()))?;
    let (b, c, k) = (batch.as_slice()?, context.as_slice()?, n.as_slice()?);
    detach_into(py, [b.len(), STEP_COLUMNS.len()], |out| sm.evaluate_table(b, c, k, out))
}
