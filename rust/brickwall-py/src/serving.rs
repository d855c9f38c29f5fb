//! Bindings of `brickwall_core::serving`: workloads, KV capacity, iteration prices, the
//! simulator (GIL released, Ctrl-C honoured).

use brickwall_core::serving::{
    self, ArrivalProcess, Lengths, Policy, Preemption, Scheduler, Served, Speculation, StepCost, MAX_DRAFT,
};
use brickwall_core::Error;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{ChipView, ModelCostsView, PlanView};
use crate::errors::core;
use crate::run::{detach, interruptible, to_numpy};

fn cost(model: ModelCostsView, plan: PlanView, chip: ChipView) -> PyResult<StepCost> {
    core(StepCost::new(model.into(), core(plan.try_into())?, chip.into()))
}

/// Arrival times of `n` requests: `process` is "offline", "poisson" or "gamma".
#[pyfunction]
#[pyo3(signature = (process, n, rate, cv, seed, /))]
pub fn serving_arrivals<'py>(
    py: Python<'py>,
    process: &str,
    n: usize,
    rate: f64,
    cv: f64,
    seed: u64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let p = match process {
        "offline" => ArrivalProcess::Offline,
        "poisson" => ArrivalProcess::Poisson { rate },
        "gamma" => ArrivalProcess::Gamma { rate, cv },
        _ => return core(Err(Error::invalid("arrival", process, "one of offline, poisson, gamma"))),
    };
    to_numpy(py, interruptible(py, None, |control| serving::arrivals(p, n, seed, control))?)
}

/// `n` token counts: "fixed" (`a`), "uniform" (`a..=b`, integers) or "lognormal" (mean `a`,
/// log-sd `b`, at most `max`), from stream `stream` of `seed`.
#[pyfunction]
#[pyo3(signature = (kind, n, a, b, max, seed, stream, /))]
#[allow(clippy::too_many_arguments)]
pub fn serving_lengths<'py>(
    py: Python<'py>,
    kind: &str,
    n: usize,
    a: f64,
    b: f64,
    max: u64,
    seed: u64,
    stream: u64,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let int = |field: &str, x: f64| {
        if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x < 2f64.powi(53) {
            Ok(x as u64)
        } else {
            Err(Error::invalid(field, x, "a non-negative integer"))
        }
    };
    let d = match kind {
        "fixed" => Lengths::Fixed(core(int("length", a))?),
        "uniform" => Lengths::Uniform { lo: core(int("lo", a))?, hi: core(int("hi", b))? },
        "lognormal" => Lengths::LogNormal { mean: a, sigma: b, max },
        _ => return core(Err(Error::invalid("lengths", kind, "one of fixed, uniform, lognormal"))),
    };
    to_numpy(py, interruptible(py, None, |control| serving::lengths(d, n, seed, stream, control))?)
}

/// KV-cache blocks of `block_size` tokens that fit beside the weights and the activations of
/// `max_batched_tokens` tokens (and a speculative `draft` model's weights and cache, if given).
#[pyfunction]
#[pyo3(signature = (model, plan, chip, block_size, max_batched_tokens, /, draft=None))]
pub fn serving_kv_blocks(
    model: ModelCostsView,
    plan: PlanView,
    chip: ChipView,
    block_size: u64,
    max_batched_tokens: f64,
    draft: Option<ModelCostsView>,
) -> PyResult<u64> {
    let (plan, chip) = (core(plan.try_into())?, chip.into());
    let mut c = core(StepCost::new(model.into(), plan, chip))?;
    if let Some(d) = draft {
        c = core(c.with_draft(d.into(), plan, chip))?;
    }
    core(serving::kv_blocks(&c, block_size, max_batched_tokens))
}

/// Seconds of iterations given as arrays of their mix (the simulator's price of one iteration).
#[pyfunction]
#[pyo3(signature = (model, plan, chip, sequences, tokens, attended, kv_read, /))]
#[allow(clippy::too_many_arguments)]
pub fn serving_iteration_seconds<'py>(
    py: Python<'py>,
    model: ModelCostsView,
    plan: PlanView,
    chip: ChipView,
    sequences: PyReadonlyArray1<'py, f64>,
    tokens: PyReadonlyArray1<'py, f64>,
    attended: PyReadonlyArray1<'py, f64>,
    kv_read: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let c = cost(model, plan, chip)?;
    let (s, t, a, k) = (sequences.as_slice()?, tokens.as_slice()?, attended.as_slice()?, kv_read.as_slice()?);
    Ok(detach(py, || c.seconds_many(s, t, a, k))?.into_pyarray(py))
}

/// Seconds to move each request's prompt KV cache between two replicas of this plan over the
/// scale-out network (disaggregated prefill and decode).
#[pyfunction]
#[pyo3(signature = (model, plan, chip, tokens, /))]
pub fn serving_kv_transfer_seconds<'py>(
    py: Python<'py>,
    model: ModelCostsView,
    plan: PlanView,
    chip: ChipView,
    tokens: PyReadonlyArray1<'py, u64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let c = cost(model, plan, chip)?;
    let t = tokens.as_slice()?;
    Ok(detach(py, || c.kv_transfer_seconds(t))?.into_pyarray(py))
}

/// Seconds to move the KV cache of each of `tokens` tokens between device and host memory over
/// a link of `host_bandwidth` bytes/s per chip per direction (swap preemption).
#[pyfunction]
#[pyo3(signature = (model, plan, chip, host_bandwidth, tokens, /))]
pub fn serving_swap_seconds<'py>(
    py: Python<'py>,
    model: ModelCostsView,
    plan: PlanView,
    chip: ChipView,
    host_bandwidth: f64,
    tokens: PyReadonlyArray1<'py, u64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    use brickwall_core::serving::IterationCost;
    let c = core(cost(model, plan, chip)?.with_host_bandwidth(host_bandwidth))?;
    let t = tokens.as_slice()?;
    Ok(detach(py, || Ok(t.iter().map(|&x| c.swap_seconds(x)).collect::<Vec<f64>>()))?.into_pyarray(py))
}

/// A scheduler's limits, as the bindings receive them.
pub(crate) struct Limits<'a> {
    pub policy: &'a str,
    pub max_seqs: u64,
    pub max_batched_tokens: u64,
    pub block_size: u64,
    pub kv_blocks: u64,
}

/// The simulator's options, as the bindings receive them (see `serving_simulate_pool`).
pub(crate) struct Options<'a> {
    pub prefix_cache: bool,
    pub preemption: &'a str,
    pub host_bandwidth: f64,
    pub expected_tokens: Option<&'a [f64]>,
    pub draft: Option<ModelCostsView>,
}

/// The priced step (with its host link and draft model as the options need) and the scheduler.
pub(crate) fn options(
    model: ModelCostsView,
    plan: PlanView,
    chip: ChipView,
    l: Limits<'_>,
    o: Options<'_>,
) -> PyResult<(StepCost, Scheduler)> {
    let preemption = core(Preemption::parse(o.preemption))?;
    let (plan, chip) = (core(plan.try_into())?, chip.into());
    let mut c = core(StepCost::new(model.into(), plan, chip))?;
    if preemption == Preemption::Swap {
        c = core(c.with_host_bandwidth(o.host_bandwidth))?;
    }
    if let Some(d) = o.draft {
        c = core(c.with_draft(d.into(), plan, chip))?;
    }
    let scheduler = Scheduler {
        policy: core(Policy::parse(l.policy))?,
        max_seqs: l.max_seqs,
        max_batched_tokens: l.max_batched_tokens,
        block_size: l.block_size,
        kv_blocks: l.kv_blocks,
        prefix_cache: o.prefix_cache,
        preemption,
        speculation: speculation(o.expected_tokens)?,
    };
    Ok((c, scheduler))
}

/// Speculation from `expected_tokens[g]`, the tokens a verification of `g` drafts emits
/// (g = 0..=k); None without.
pub(crate) fn speculation(expected_tokens: Option<&[f64]>) -> PyResult<Option<Speculation>> {
    let Some(e) = expected_tokens else { return Ok(None) };
    if e.len() < 2 || e.len() > MAX_DRAFT + 1 {
        return core(Err(Error::invalid(
            "len(expected_tokens)",
            e.len(),
            format!("2..={} (draft lengths 0..=k)", MAX_DRAFT + 1),
        )));
    }
    let mut expected = [1.0; MAX_DRAFT + 1];
    expected[..e.len()].copy_from_slice(e);
    Ok(Some(Speculation { draft_tokens: e.len() as u64 - 1, expected }))
}

/// A run's per-request arrays, timeline and summaries.
pub(crate) fn served_dict(py: Python<'_>, s: Served) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("arrival", s.arrival.into_pyarray(py))?;
    out.set_item("scheduled", s.scheduled.into_pyarray(py))?;
    out.set_item("first_token", s.first_token.into_pyarray(py))?;
    out.set_item("finish", s.finish.into_pyarray(py))?;
    out.set_item("preemptions", s.preemptions.into_pyarray(py))?;
    out.set_item("cached", s.cached.into_pyarray(py))?;
    out.set_item("swapped_tokens", s.swapped_tokens)?;
    let it = s.iterations;
    out.set_item("it_start", it.start.into_pyarray(py))?;
    out.set_item("it_seconds", it.seconds.into_pyarray(py))?;
    out.set_item("it_sequences", it.sequences.into_pyarray(py))?;
    out.set_item("it_tokens", it.tokens.into_pyarray(py))?;
    out.set_item("it_prefill_tokens", it.prefill_tokens.into_pyarray(py))?;
    out.set_item("it_kv_blocks", it.kv_blocks.into_pyarray(py))?;
    out.set_item("iterations", s.n_iterations)?;
    out.set_item("busy", s.busy)?;
    out.set_item("busy_prefill", s.busy_prefill)?;
    out.set_item("peak_kv_blocks", s.peak_kv_blocks)?;
    Ok(out)
}
