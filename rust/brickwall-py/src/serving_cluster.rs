//! Bindings of `brickwall_core::serving`'s pools and capacity search, and empirical lengths
//! (GIL released, Ctrl-C honoured).

use brickwall_core::serving::{
    self, Arrivals, Candidate, Policy, Preemption, Requests, Router, SearchScheduler, Slo,
};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{ChipView, ModelCostsView, PlanView};
use crate::errors::core;
use crate::run::{interruptible, to_numpy};
use crate::serving::{options, served_dict, speculation, Limits, Options};

/// An optional array's elements; none when absent.
fn or_empty<'a, T: numpy::Element>(x: &'a Option<PyReadonlyArray1<'_, T>>) -> PyResult<&'a [T]> {
    match x {
        Some(a) => Ok(a.as_slice()?),
        None => Ok(&[]),
    }
}

/// `n` token counts drawn from the histogram `values` (>= 1) with `weights` (>= 0, sum > 0),
/// from stream `stream` of `seed`.
#[pyfunction]
#[pyo3(signature = (values, weights, n, seed, stream, /))]
pub fn serving_lengths_empirical<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, u64>,
    weights: PyReadonlyArray1<'py, f64>,
    n: usize,
    seed: u64,
    stream: u64,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let (v, w) = (values.as_slice()?, weights.as_slice()?);
    to_numpy(
        py,
        interruptible(py, None, |control| serving::lengths_empirical(v, w, n, seed, stream, control))?,
    )
}

/// Simulate a pool of `replicas` replicas behind `router` ("round-robin" or "least-loaded");
/// with `decode > 0`, a disaggregated deployment of `replicas` prefill and `decode` decode
/// replicas (open arrivals only). `arrival` None runs a closed loop of `clients` (one replica
/// of one stage) with `think` seconds. Options: shared prefixes (`prefix_id`, `prefix_tokens`,
/// with `prefix_cache`), `preemption` ("recompute" or "swap" over `host_bandwidth` bytes/s per
/// chip), speculation (`expected_tokens[g]` for g = 0..k drafts; the `draft` model's steps
/// priced, free if None). Returns the per-request arrays, the timeline (`it_*`, with
/// `timeline`), the summaries, `replica` (per request, who produced its last token) and
/// `it_replica` (per iteration).
#[pyfunction]
#[pyo3(signature = (model, plan, chip, input, output, arrival, clients, think, policy, max_seqs,
                    max_batched_tokens, block_size, kv_blocks, timeline, prefilled, replicas,
                    router, decode, /, prefix_id=None, prefix_tokens=None, prefix_cache=false,
                    preemption="recompute", host_bandwidth=0.0, expected_tokens=None, draft=None))]
#[allow(clippy::too_many_arguments)]
pub fn serving_simulate_pool<'py>(
    py: Python<'py>,
    model: ModelCostsView,
    plan: PlanView,
    chip: ChipView,
    input: PyReadonlyArray1<'py, u64>,
    output: PyReadonlyArray1<'py, u64>,
    arrival: Option<PyReadonlyArray1<'py, f64>>,
    clients: u64,
    think: f64,
    policy: &str,
    max_seqs: u64,
    max_batched_tokens: u64,
    block_size: u64,
    kv_blocks: u64,
    timeline: bool,
    prefilled: Option<PyReadonlyArray1<'py, bool>>,
    replicas: u64,
    router: &str,
    decode: u64,
    prefix_id: Option<PyReadonlyArray1<'py, u64>>,
    prefix_tokens: Option<PyReadonlyArray1<'py, u64>>,
    prefix_cache: bool,
    preemption: &str,
    host_bandwidth: f64,
    expected_tokens: Option<PyReadonlyArray1<'py, f64>>,
    draft: Option<ModelCostsView>,
) -> PyResult<Bound<'py, PyDict>> {
    let expected = match &expected_tokens {
        Some(e) => Some(e.as_slice()?),
        None => None,
    };
    let (c, scheduler) = options(
        model,
        plan,
        chip,
        Limits { policy, max_seqs, max_batched_tokens, block_size, kv_blocks },
        Options { prefix_cache, preemption, host_bandwidth, expected_tokens: expected, draft },
    )?;
    let router = core(Router::parse(router))?;
    let prefilled = or_empty(&prefilled)?;
    let prefix_id = or_empty(&prefix_id)?;
    let prefix_tokens = or_empty(&prefix_tokens)?;
    let (input, output) = (input.as_slice()?, output.as_slice()?);
    let requests = Requests { input, output, prefilled, prefix_id, prefix_tokens };
    let arrival = match &arrival {
        Some(a) => Some(a.as_slice()?),
        None => None,
    };
    let p = interruptible(py, None, |control| match (decode, arrival) {
        (0, Some(a)) => serving::simulate_pool(
            requests,
            Arrivals::Open(a),
            scheduler,
            &c,
            replicas,
            router,
            timeline,
            control,
        ),
        (0, None) => serving::simulate_pool(
            requests,
            Arrivals::Closed { clients, think },
            scheduler,
            &c,
            replicas,
            router,
            timeline,
            control,
        ),
        (_, None) => Err(brickwall_core::Error::invalid(
            "arrival",
            "None (a closed loop)",
            "arrival times: disaggregation needs open traffic",
        )),
        (_, Some(a)) => serving::simulate_disaggregated(
            requests, a, scheduler, &c, replicas, decode, router, timeline, control,
        ),
    })?;
    let out = served_dict(py, p.served)?;
    out.set_item("replica", p.replica.into_pyarray(py))?;
    out.set_item("it_replica", p.it_replica.into_pyarray(py))?;
    out.set_item("usd_per_s", c.price_per_s() * (replicas + decode) as f64)?;
    Ok(out)
}

/// Judge every candidate `(plan, chip, replicas, decode, host_bandwidth)` (decode 0:
/// aggregated; else `replicas` prefill and `decode` decode replicas; `host_bandwidth` bytes/s
/// per chip, 0 unknown) on the same open traffic against the SLO (`quantile`-th percentile TTFT
/// and TPOT; inf: no bound), in parallel. `kv_blocks` None sizes each candidate's cache from its
/// memory. Scheduler options as `serving_simulate_pool`'s (the `draft` model laid out as each
/// candidate's). Returns per-candidate columns: `status` (0 met, 1 missed, 2 bad plan, 3 no
/// memory for a KV cache, 4 cache too small for the longest request, 5 no scale-out network,
/// 6 swap without a host link), `kv_blocks`, `ttft`, `tpot`, `duration`, `busy` (s),
/// `usd_per_s`.
#[pyfunction]
#[pyo3(signature = (model, candidates, input, output, arrival, policy, max_seqs,
                    max_batched_tokens, block_size, kv_blocks, router, quantile, slo_ttft,
                    slo_tpot, /, prefix_id=None, prefix_tokens=None, prefix_cache=false,
                    preemption="recompute", expected_tokens=None, draft=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn serving_search<'py>(
    py: Python<'py>,
    model: ModelCostsView,
    candidates: Vec<(PlanView, ChipView, u64, u64, f64)>,
    input: PyReadonlyArray1<'py, u64>,
    output: PyReadonlyArray1<'py, u64>,
    arrival: PyReadonlyArray1<'py, f64>,
    policy: &str,
    max_seqs: u64,
    max_batched_tokens: u64,
    block_size: u64,
    kv_blocks: Option<u64>,
    router: &str,
    quantile: f64,
    slo_ttft: f64,
    slo_tpot: f64,
    prefix_id: Option<PyReadonlyArray1<'py, u64>>,
    prefix_tokens: Option<PyReadonlyArray1<'py, u64>>,
    prefix_cache: bool,
    preemption: &str,
    expected_tokens: Option<PyReadonlyArray1<'py, f64>>,
    draft: Option<ModelCostsView>,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let cands = candidates
        .into_iter()
        .map(|(plan, chip, replicas, decode, host_bandwidth)| {
            Ok(Candidate {
                plan: core(plan.try_into())?,
                chip: chip.into(),
                replicas,
                decode,
                host_bandwidth,
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let sch = SearchScheduler {
        policy: core(Policy::parse(policy))?,
        max_seqs,
        max_batched_tokens,
        block_size,
        kv_blocks,
        prefix_cache,
        preemption: core(Preemption::parse(preemption))?,
        speculation: speculation(match &expected_tokens {
            Some(e) => Some(e.as_slice()?),
            None => None,
        })?,
    };
    let router = core(Router::parse(router))?;
    let slo = Slo { quantile, ttft: slo_ttft, tpot: slo_tpot };
    let (input, output, a) = (input.as_slice()?, output.as_slice()?, arrival.as_slice()?);
    let prefix_id = or_empty(&prefix_id)?;
    let prefix_tokens = or_empty(&prefix_tokens)?;
    let requests = Requests { input, output, prefilled: &[], prefix_id, prefix_tokens };
    let (m, d) = (model.into(), draft.map(Into::into));
    let v = interruptible(py, progress.as_ref(), |control| {
        serving::search(m, d, &cands, requests, a, sch, router, slo, control)
    })?;
    let out = PyDict::new(py);
    out.set_item("status", v.iter().map(|x| x.status as u8).collect::<Vec<u8>>().into_pyarray(py))?;
    out.set_item("kv_blocks", v.iter().map(|x| x.kv_blocks).collect::<Vec<u64>>().into_pyarray(py))?;
    for (k, f) in [
        ("ttft", (|x: &serving::Verdict| x.ttft) as fn(&serving::Verdict) -> f64),
        ("tpot", |x| x.tpot),
        ("duration", |x| x.duration),
        ("busy", |x| x.busy),
        ("usd_per_s", |x| x.usd_per_s),
    ] {
        out.set_item(k, v.iter().map(f).collect::<Vec<f64>>().into_pyarray(py))?;
    }
    Ok(out)
}
