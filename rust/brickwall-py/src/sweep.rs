//! Bindings of `brickwall_core::{sweep, pareto}`: deployments in as a list of (plan, chip) dicts,
//! numpy axes in, kept indices and objective values out.

use brickwall_core::pareto::{self, Keep, Sense};
use brickwall_core::roofline::{ModelCosts, StepModel, STEP_COLUMNS};
use brickwall_core::sweep::{
    Constraints, Objective, Phase, Sweep, METRIC_COLUMNS, POSITION_COLUMNS, TABLE_WIDTH,
};
use brickwall_core::{Error, Result};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::convert::{ChipView, ModelCostsView, PlanView};
use crate::errors::core;
use crate::run::{detach, detach_into, interruptible};

/// Everything a sweep needs, extracted from Python before the GIL is released.
pub struct SweepArgs {
    model: ModelCosts,
    deployments: Vec<(PlanView, ChipView)>,
    batch: Vec<f64>,
    context: Vec<f64>,
    phase: String,
    new_tokens: f64,
}

impl SweepArgs {
    fn build(
        self,
        constraints: Constraints,
        objectives: Vec<(Objective, Sense)>,
        keep: Keep,
    ) -> Result<Sweep> {
        let models = self
            .deployments
            .into_iter()
            .enumerate()
            .map(|(i, (p, c))| {
                p.try_into().and_then(|p| StepModel::new(self.model, p, c.into())).map_err(|e| match e {
                    Error::Invalid { field, value, expected } => {
                        Error::Invalid { field: format!("deployments[{i}].{field}"), value, expected }
                    }
                    e => e,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Sweep::new(
            models,
            self.batch,
            self.context,
            Phase::parse(&self.phase, self.new_tokens)?,
            constraints,
            objectives,
            keep,
        )
    }
}

fn args(
    model: ModelCostsView,
    deployments: Vec<(PlanView, ChipView)>,
    batch: PyReadonlyArray1<'_, f64>,
    context: PyReadonlyArray1<'_, f64>,
    phase: String,
    new_tokens: f64,
) -> PyResult<SweepArgs> {
    Ok(SweepArgs {
        model: model.into(),
        deployments,
        batch: batch.as_slice()?.to_vec(),
        context: context.as_slice()?.to_vec(),
        phase,
        new_tokens,
    })
}

/// `(grid points, evaluated, feasible, kept indices, kept objective values)`.
type RunOut<'py> = (u64, u64, u64, Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<f64>>);

/// Evaluate grid points `[lo, hi)` (`hi = None`: to the end) and reduce them. Returns
/// `(grid points, evaluated, feasible, kept indices, kept objective values row-major)`, the kept
/// rows best first by the first objective (ties: smaller index first).
#[pyfunction]
#[pyo3(signature = (model, deployments, batch, context, phase, new_tokens, fits, max_latency,
                    min_tokens_per_s_per_user, objectives, senses, keep_kind, k, /, lo=0, hi=None,
                    progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn sweep_run<'py>(
    py: Python<'py>,
    model: ModelCostsView,
    deployments: Vec<(PlanView, ChipView)>,
    batch: PyReadonlyArray1<'py, f64>,
    context: PyReadonlyArray1<'py, f64>,
    phase: String,
    new_tokens: f64,
    fits: bool,
    max_latency: f64,
    min_tokens_per_s_per_user: f64,
    objectives: Vec<String>,
    senses: Vec<String>,
    keep_kind: String,
    k: usize,
    lo: u64,
    hi: Option<u64>,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<RunOut<'py>> {
    let a = args(model, deployments, batch, context, phase, new_tokens)?;
    let objs = core(
        objectives
            .iter()
            .zip(senses.iter().map(String::as_str).chain(std::iter::repeat("")))
            .map(|(o, s)| Ok((Objective::parse(o)?, Sense::parse(s)?)))
            .collect::<Result<Vec<_>>>(),
    )?;
    let c = Constraints { fits, max_latency, min_tokens_per_s_per_user };
    let kp = core(Keep::parse(&keep_kind, k))?;
    let (len, evaluated, feasible, index, values) = interruptible(py, progress.as_ref(), |control| {
        let s = a.build(c, objs, kp)?;
        let hi = hi.unwrap_or(s.len());
        let out = s.run(lo, hi, control)?;
        let rows = out.reducer.into_ranked();
        let values = s.objective_values(&rows);
        Ok((s.len(), out.evaluated, out.feasible, rows.iter().map(|r| r.index).collect::<Vec<u64>>(), values))
    })?;
    Ok((len, evaluated, feasible, index.into_pyarray(py), values.into_pyarray(py)))
}

/// The names of `sweep_rows`' columns.
#[pyfunction]
pub fn sweep_columns() -> Vec<&'static str> {
    STEP_COLUMNS.iter().chain(&METRIC_COLUMNS).chain(&POSITION_COLUMNS).copied().collect()
}

/// The rows of chosen grid indices: a (rows x columns) table of the step (as `roofline_steps`),
/// the ranked metrics and the grid positions; column-major, each column contiguous.
#[pyfunction]
#[pyo3(signature = (model, deployments, batch, context, phase, new_tokens, index, /))]
#[allow(clippy::too_many_arguments)]
pub fn sweep_rows<'py>(
    py: Python<'py>,
    model: ModelCostsView,
    deployments: Vec<(PlanView, ChipView)>,
    batch: PyReadonlyArray1<'py, f64>,
    context: PyReadonlyArray1<'py, f64>,
    phase: String,
    new_tokens: f64,
    index: PyReadonlyArray1<'py, u64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let a = args(model, deployments, batch, context, phase, new_tokens)?;
    let ix = index.as_slice()?;
    let objs = vec![(Objective::Cost, Sense::Min), (Objective::Latency, Sense::Min)];
    let s = core(a.build(Constraints::default(), objs, Keep::Pareto))?;
    detach_into(py, [ix.len(), TABLE_WIDTH], |out| s.table(ix, out))
}

/// Reduce rows given as row-major objective `values` with their grid `index` (what a driver
/// does with its workers' rows); returns the kept indices best first by the first objective
/// (ties: smaller index first).
#[pyfunction]
#[pyo3(signature = (values, index, senses, keep_kind, k, /))]
pub fn sweep_pareto_reduce<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
    index: PyReadonlyArray1<'py, u64>,
    senses: Vec<String>,
    keep_kind: String,
    k: usize,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let ss = core(senses.iter().map(|s| Sense::parse(s)).collect::<Result<Vec<_>>>())?;
    let kp = core(Keep::parse(&keep_kind, k))?;
    let (v, ix) = (values.as_slice()?, index.as_slice()?);
    let rows = detach(py, || pareto::reduce(v, ix, &ss, kp))?;
    Ok(rows.iter().map(|r| r.index).collect::<Vec<u64>>().into_pyarray(py))
}
