//! Bindings of `brickwall_core::roofline`: one column-major table out.

use brickwall_core::roofline::{self, Chip, Mix, ModelCosts, Plan, StepModel, STEP_COLUMNS};
use brickwall_core::routed;
use numpy::{PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::convert::{ChipView, ModelCostsView, PlanView};
use crate::errors::core;
use crate::run::{detach_into, interruptible};

/// The names of the table's columns, in order.
#[pyfunction]
pub fn roofline_columns() -> Vec<&'static str> {
    STEP_COLUMNS.to_vec()
}

/// Evaluate the step roofline over arrays of (batch, context, n): a (rows x columns) table.
#[pyfunction]
#[pyo3(signature = (model, plan, chip, batch, context, n, /))]
pub fn roofline_steps<'py>(
    py: Python<'py>,
    model: ModelCostsView,
    plan: PlanView,
    chip: ChipView,
    batch: PyReadonlyArray1<'py, f64>,
    context: PyReadonlyArray1<'py, f64>,
    n: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let sm = step_model(model, plan, chip)?;
    let (b, c, k) = (batch.as_slice()?, context.as_slice()?, n.as_slice()?);
    detach_into(py, [b.len(), STEP_COLUMNS.len()], |out| sm.evaluate_table(b, c, k, out))
}

/// A model on a plan on a chip, validated and precomputed once: a scalar step costs one call
/// into the core, no arrays (`brickwall.inference` caches one per model and deployment).
#[pyclass(frozen, module = "brickwall._core")]
pub struct RooflineModel {
    sm: StepModel,
}

#[pymethods]
impl RooflineModel {
    /// One step of `batch` sequences with `context` cached and `n` new tokens each: the row of
    /// `roofline_columns()`.
    #[pyo3(signature = (batch, context, n, /))]
    fn step(&self, batch: f64, context: f64, n: f64) -> PyResult<Vec<f64>> {
        let mut row = [0.0; STEP_COLUMNS.len()];
        core(self.sm.evaluate_table(&[batch], &[context], &[n], &mut row))?;
        Ok(row.to_vec())
    }

    /// One iteration mixing prefill chunks and decode tokens (see the core's `Mix`): the row of
    /// `roofline_columns()`.
    #[pyo3(signature = (sequences, tokens, attended, kv_read, /))]
    fn mixed(&self, sequences: f64, tokens: f64, attended: f64, kv_read: f64) -> PyResult<Vec<f64>> {
        let mix = Mix { sequences, tokens, attended, kv_read };
        core(mix.check())?;
        Ok(self.sm.evaluate_mixed(mix).to_row().to_vec())
    }
}

/// Build a [`RooflineModel`] (validates the model, plan and chip).
#[pyfunction]
#[pyo3(signature = (model, plan, chip, /))]
pub fn roofline_model(model: ModelCostsView, plan: PlanView, chip: ChipView) -> PyResult<RooflineModel> {
    Ok(RooflineModel { sm: step_model(model, plan, chip)? })
}

/// The core's step model of the views, validated (the one conversion every step binding uses).
fn step_model(model: ModelCostsView, plan: PlanView, chip: ChipView) -> PyResult<StepModel> {
    core(StepModel::new(model.into(), core(plan.try_into())?, chip.into()))
}

/// Evaluate the step roofline with each row priced at quantile `q` of its microbatch's routing
/// (one Monte Carlo per distinct microbatch size): a (rows x columns) table. Honours Ctrl-C.
#[pyfunction]
#[pyo3(signature = (model, plan, chip, batch, context, n, q, seed, /))]
#[allow(clippy::too_many_arguments)]
pub fn roofline_steps_at_quantile<'py>(
    py: Python<'py>,
    model: ModelCostsView,
    plan: PlanView,
    chip: ChipView,
    batch: PyReadonlyArray1<'py, f64>,
    context: PyReadonlyArray1<'py, f64>,
    n: PyReadonlyArray1<'py, f64>,
    q: f64,
    seed: u64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (m, p, c): (ModelCosts, Plan, Chip) = (model.into(), core(plan.try_into())?, chip.into());
    let (b, ctx, k) = (batch.as_slice()?, context.as_slice()?, n.as_slice()?);
    let table = PyArray2::<f64>::zeros(py, [b.len(), STEP_COLUMNS.len()], true);
    {
        let mut rw = table.readwrite();
        let out = rw.as_slice_mut().map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        interruptible(py, None, |control| {
            routed::evaluate_table_at_quantile(m, p, c, b, ctx, k, q, seed, out, control)
        })?;
    }
    Ok(table)
}

/// `(touched_experts, expert_imbalance)` of a plan at quantile `q` of the routing of `tokens`
/// tokens per MoE layer (Monte Carlo from `seed`).
#[pyfunction]
#[pyo3(signature = (model, plan, tokens, q, seed, /))]
pub fn roofline_quantile_plan(
    py: Python<'_>,
    model: ModelCostsView,
    plan: PlanView,
    tokens: u64,
    q: f64,
    seed: u64,
) -> PyResult<(f64, f64)> {
    let (m, p): (ModelCosts, Plan) = (model.into(), core(plan.try_into())?);
    let out = interruptible(py, None, |control| routed::quantile_plan(&m, &p, tokens, q, seed, control))?;
    Ok((out.touched_experts, out.expert_imbalance))
}

/// Whether the plan's groups have links on this chip (a group beyond the scale-up domain needs
/// a scale-out network); the step roofline fails exactly when this is False.
#[pyfunction]
#[pyo3(signature = (tp, pp, ep, chip, /))]
pub fn roofline_links_available(tp: f64, pp: f64, ep: f64, chip: ChipView) -> bool {
    roofline::plan_links(tp, pp, ep, &chip.into()).is_ok()
}

/// Batch above which a dense decode step turns compute-bound (weights dominating traffic).
#[pyfunction]
#[pyo3(signature = (peak_flops, memory_bandwidth, weight_bytes, /))]
pub fn roofline_crossover_batch(peak_flops: f64, memory_bandwidth: f64, weight_bytes: f64) -> PyResult<f64> {
    core(roofline::crossover_batch(peak_flops, memory_bandwidth, weight_bytes))
}

/// Expected distinct experts `tokens` tokens touch under uniform top-k routing.
#[pyfunction]
#[pyo3(signature = (experts, top_k, tokens, /))]
pub fn roofline_touched_experts(experts: f64, top_k: f64, tokens: f64) -> PyResult<f64> {
    core(roofline::expected_touched_experts(experts, top_k, tokens))
}
