//! Bindings of `brickwall_core::training`: plan dicts in, step rows out; the plan search on the
//! grid engine; goodput.

use brickwall_core::pareto::Keep;
use brickwall_core::training::{
    self, goodput, Axes, Failures, Objective, Precision, Recompute, Search, TrainingChip, TrainingModel,
    TrainingPlan, TRAINING_COLUMNS,
};
use brickwall_core::Result;
use numpy::{IntoPyArray, PyArray1, PyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{ChipView, ModelCostsView};
use crate::errors::core;
use crate::run::{detach, interruptible};

/// A plan dict (`brickwall.training.TrainingPlan.view()`), read by key.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct TrainingPlanView {
    tp: u64,
    pp: u64,
    dp: u64,
    ep: u64,
    sequence_parallel: bool,
    schedule: String,
    chunks: u64,
    microbatch: u64,
    global_batch: u64,
    seq_len: u64,
    recompute: String,
    zero: u8,
    cp: u64,
    precision: String,
    offload: bool,
}

impl TrainingPlanView {
    fn plan(&self) -> Result<TrainingPlan> {
        Ok(TrainingPlan {
            tp: self.tp,
            pp: self.pp,
            dp: self.dp,
            ep: self.ep,
            sequence_parallel: self.sequence_parallel,
            schedule: training::parse_schedule(&self.schedule)?,
            chunks: self.chunks,
            microbatch: self.microbatch,
            global_batch: self.global_batch,
            seq_len: self.seq_len,
            recompute: Recompute::parse(&self.recompute)?,
            zero: self.zero,
            cp: self.cp,
            precision: Precision::parse(&self.precision)?,
            offload: self.offload,
        })
    }
}

/// The search's axes dict, read by key.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct AxesView {
    tp: Vec<u64>,
    pp: Vec<u64>,
    ep: Vec<u64>,
    microbatch: Vec<u64>,
    schedule: Vec<(String, u64)>,
    recompute: Vec<String>,
    zero: Vec<u8>,
    sequence_parallel: Vec<bool>,
    cp: Vec<u64>,
    precision: Vec<String>,
    offload: Vec<bool>,
}

impl AxesView {
    fn axes(self) -> Result<Axes> {
        Ok(Axes {
            tp: self.tp,
            pp: self.pp,
            ep: self.ep,
            microbatch: self.microbatch,
            schedule: self
                .schedule
                .iter()
                .map(|(s, v)| Ok((training::parse_schedule(s)?, *v)))
                .collect::<Result<_>>()?,
            recompute: self.recompute.iter().map(|r| Recompute::parse(r)).collect::<Result<_>>()?,
            zero: self.zero,
            sequence_parallel: self.sequence_parallel,
            cp: self.cp,
            precision: self.precision.iter().map(|p| Precision::parse(p)).collect::<Result<_>>()?,
            offload: self.offload,
        })
    }
}

/// A failure model dict, read by key (seconds).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct FailuresView {
    mtbf: f64,
    restart: f64,
    checkpoint_write: f64,
    interval: f64,
}

impl From<FailuresView> for Failures {
    fn from(v: FailuresView) -> Self {
        Failures {
            mtbf: v.mtbf,
            restart: v.restart,
            checkpoint_write: v.checkpoint_write,
            interval: v.interval,
        }
    }
}

/// The vocabulary and its tables (`brickwall.training` passes `Model.vocab`, the embedding and
/// the untied head's parameters); all 0 when unknown.
#[derive(FromPyObject, Default)]
#[pyo3(from_item_all)]
pub struct VocabView {
    vocab: f64,
    embedding_params: f64,
    head_params: f64,
}

/// The chip's training extras: its fp8 dense peak and host bandwidth (0 when absent).
#[derive(FromPyObject, Default)]
#[pyo3(from_item_all)]
pub struct HostView {
    fp8_flops: f64,
    host_bandwidth: f64,
}

fn check_extras(v: &VocabView, h: &HostView) -> Result<()> {
    for (f, x) in [
        ("vocab", v.vocab),
        ("embedding_params", v.embedding_params),
        ("head_params", v.head_params),
        ("fp8_flops", h.fp8_flops),
        ("host_bandwidth", h.host_bandwidth),
    ] {
        if !(x.is_finite() && x >= 0.0) {
            return Err(brickwall_core::Error::invalid(f, x, "a finite number >= 0"));
        }
    }
    Ok(())
}

fn model_of(model: ModelCostsView, heads: f64, v: &VocabView) -> TrainingModel {
    TrainingModel {
        costs: model.into(),
        heads,
        vocab: v.vocab,
        embedding_params: v.embedding_params,
        head_params: v.head_params,
    }
}

fn chip_of(chip: ChipView, h: &HostView) -> TrainingChip {
    TrainingChip { chip: chip.into(), fp8_flops: h.fp8_flops, host_bandwidth: h.host_bandwidth }
}

/// The names of a training step row's entries, in order.
#[pyfunction]
pub fn training_columns() -> Vec<&'static str> {
    TRAINING_COLUMNS.to_vec()
}

/// One plan's step as a row of `training_columns()`.
#[pyfunction]
#[pyo3(signature = (model, heads, chip, plan, /, vocab=None, host=None))]
pub fn training_step<'py>(
    py: Python<'py>,
    model: ModelCostsView,
    heads: f64,
    chip: ChipView,
    plan: TrainingPlanView,
    vocab: Option<VocabView>,
    host: Option<HostView>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (v, h) = (vocab.unwrap_or_default(), host.unwrap_or_default());
    core(check_extras(&v, &h))?;
    let (m, c) = (model_of(model, heads, &v), chip_of(chip, &h));
    let row = detach(py, || {
        let p = plan.plan()?;
        Ok(training::evaluate(&m, &c, &p)?.to_row(p.gpus() as f64).to_vec())
    })?;
    Ok(row.into_pyarray(py))
}

/// Search plans of `gpus` chips: the kept rows' grid indices, their step rows (rows x columns)
/// and plans (dicts), and the points evaluated and feasible. Honours Ctrl-C.
#[pyfunction]
#[pyo3(signature = (model, heads, chip, gpus, global_batch, seq_len, axes, require_fits, objectives, keep_kind, k, /, progress=None, vocab=None, host=None, lo=None, hi=None))]
#[allow(clippy::too_many_arguments)]
pub fn training_search<'py>(
    py: Python<'py>,
    model: ModelCostsView,
    heads: f64,
    chip: ChipView,
    gpus: u64,
    global_batch: u64,
    seq_len: u64,
    axes: AxesView,
    require_fits: bool,
    objectives: Vec<String>,
    keep_kind: &str,
    k: usize,
    progress: Option<&Bound<'py, PyAny>>,
    vocab: Option<VocabView>,
    host: Option<HostView>,
    lo: Option<u64>,
    hi: Option<u64>,
) -> PyResult<Bound<'py, PyDict>> {
    let (v, h) = (vocab.unwrap_or_default(), host.unwrap_or_default());
    core(check_extras(&v, &h))?;
    let m = model_of(model, heads, &v);
    let objectives = core(objectives.iter().map(|o| Objective::parse(o)).collect::<Result<Vec<_>>>())?;
    let keep = core(Keep::parse(keep_kind, k))?;
    let axes = core(axes.axes())?;
    let search = core(Search::new(
        m,
        chip_of(chip, &h),
        gpus,
        global_batch,
        seq_len,
        axes,
        require_fits,
        objectives,
        keep,
    ))?;
    // A slice [lo, hi) of the grid (an executor's share); the whole grid by default.
    let (lo, hi) = (lo.unwrap_or(0), hi.unwrap_or(search.len()));
    let out = interruptible(py, progress, |control| search.run(lo, hi, control))?;
    let rows = out.reducer.into_ranked();
    let mut index = Vec::with_capacity(rows.len());
    let mut table = Vec::with_capacity(rows.len() * TRAINING_COLUMNS.len());
    let plans = pyo3::types::PyList::empty(py);
    for r in &rows {
        let (p, st) = core(search.row(r.index))?;
        index.push(r.index);
        table.extend_from_slice(&st.to_row(p.gpus() as f64));
        let d = PyDict::new(py);
        d.set_item("tp", p.tp)?;
        d.set_item("pp", p.pp)?;
        d.set_item("dp", p.dp)?;
        d.set_item("ep", p.ep)?;
        d.set_item("sequence_parallel", p.sequence_parallel)?;
        d.set_item("schedule", p.schedule.name())?;
        d.set_item("chunks", p.chunks)?;
        d.set_item("microbatch", p.microbatch)?;
        d.set_item("global_batch", p.global_batch)?;
        d.set_item("seq_len", p.seq_len)?;
        d.set_item("recompute", p.recompute.name())?;
        d.set_item("zero", p.zero)?;
        d.set_item("cp", p.cp)?;
        d.set_item("precision", p.precision.name())?;
        d.set_item("offload", p.offload)?;
        plans.append(d)?;
    }
    let table = numpy::ndarray::Array2::from_shape_vec((rows.len(), TRAINING_COLUMNS.len()), table)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    let d = PyDict::new(py);
    d.set_item("index", index.into_pyarray(py))?;
    d.set_item("table", PyArray2::from_owned_array(py, table))?;
    d.set_item("plans", plans)?;
    d.set_item("evaluated", out.evaluated)?;
    d.set_item("feasible", out.feasible)?;
    d.set_item("points", search.len())?;
    // The kept rows' objective values in minimisation form, for merging slices.
    let keys: Vec<f64> = rows.iter().flat_map(|r| r.v[..search.senses().len()].to_vec()).collect();
    d.set_item("keys", keys.into_pyarray(py))?;
    Ok(d)
}

/// `(young, daly)`: the optimum checkpoint intervals, seconds of work.
#[pyfunction]
#[pyo3(signature = (checkpoint_write, mtbf, /))]
pub fn training_checkpoint_intervals(checkpoint_write: f64, mtbf: f64) -> PyResult<(f64, f64)> {
    Ok((
        core(goodput::young_interval(checkpoint_write, mtbf))?,
        core(goodput::daly_interval(checkpoint_write, mtbf))?,
    ))
}

/// Expected wall seconds to finish `work` seconds of computation under `failures`.
#[pyfunction]
#[pyo3(signature = (failures, work, /))]
pub fn training_expected_wall(failures: FailuresView, work: f64) -> PyResult<f64> {
    core(Failures::from(failures).expected_wall(work))
}

/// Wall seconds of `trials` simulated runs (seeded; any thread count). Honours Ctrl-C.
#[pyfunction]
#[pyo3(signature = (failures, work, trials, seed, /, progress=None))]
pub fn training_simulate_failures<'py>(
    py: Python<'py>,
    failures: FailuresView,
    work: f64,
    trials: usize,
    seed: u64,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let f = Failures::from(failures);
    let out = interruptible(py, progress, |control| goodput::simulate(&f, work, trials, seed, control))?;
    Ok(out.into_pyarray(py))
}
