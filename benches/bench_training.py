"""Training plans: the core plan search on the grid engine vs the reference, one plan at a time.

Grid: GPT-3 175B on 1,024 A100s at a 1,536-sequence batch, every tp (1-8) x pp (divisors of
96) x microbatch (1-32) x schedule (5) x recompute (3) x ZeRO (4) x sequence parallelism (2).
The reference prices a spread slice of the grid's valid plans (its cost is linear in the plans
priced) and records the scale to all of them in extra_info. ``plans_per_s_per_core`` is the
grid's points over the search's time and the threads it ran on, ``valid_plans_per_s_per_core``
the same for the plans that validate (the rest are skipped by integer checks); the issue's goal is
>= 10^6 (Calculon: ~150 configurations/s/core). Ratio to the reference: its mean x scale over the
core's mean.
"""

from __future__ import annotations

import itertools
import os

import brickwall as bw
import pytest
from brickwall.deployment import Deployment, chip_view, cost_view
from brickwall.errors import ValidationError
from brickwall.reference import training as ref

MODEL = bw.model("gpt3-175b")
GPUS, BATCH, SEQ = 1024, 1536, 2048
AXES = dict(
    tp=(1, 2, 4, 8),
    pp=tuple(d for d in range(1, 97) if 96 % d == 0),
    microbatch=tuple(range(1, 33)),
    schedules=("1f1b", "gpipe", ("interleaved-1f1b", 2), ("interleaved-1f1b", 3), "zb-h1"),
    recompute=bw.training.RECOMPUTE,
    zero=(0, 1, 2, 3),
    sequence_parallel=(False, True),
)
REF_PLANS = 200


def core_search() -> bw.PlanSearch:
    return bw.search_plans(MODEL, "A100-80GB", GPUS, BATCH, SEQ, k=10, **AXES)  # type: ignore[arg-type]


def valid_plans() -> list[bw.TrainingPlan]:
    """Every plan of the grid that validates (the core skips the rest before pricing)."""
    out = []
    for tp, pp, mb, s, r, z, sp in itertools.product(
        AXES["tp"],
        AXES["pp"],
        AXES["microbatch"],
        AXES["schedules"],
        AXES["recompute"],
        AXES["zero"],
        AXES["sequence_parallel"],
    ):
        name, v = (s, 1) if isinstance(s, str) else s
        if GPUS % (tp * pp):
            continue
        try:
            p = bw.TrainingPlan(
                tp=tp,
                pp=pp,
                dp=GPUS // (tp * pp),
                microbatch=mb,
                global_batch=BATCH,
                seq_len=SEQ,
                schedule=name,
                chunks=v,
                recompute=r,
                zero=z,
                sequence_parallel=sp,
            )
        except ValidationError:
            continue
        if MODEL.layers % (pp * v) or name == "interleaved-1f1b" and p.microbatches % pp:
            continue
        if name == "zb-h1" and p.microbatches < pp:
            continue
        out.append(p)
    return out


VALID = valid_plans()


HW = bw.hardware("A100-80GB")
VOCAB = dict(bw.training._vocab(MODEL))
HOST = {"fp8_flops": 0.0, "host_bandwidth": HW.host_bandwidth or 0.0}


def reference_search(plans: list[bw.TrainingPlan]) -> float:
    chip = dict(chip_view(Deployment(HW)))
    cost = dict(cost_view(MODEL))
    best = float("inf")
    for p in plans:
        row = ref.step(cost, float(MODEL.heads), chip, dict(p.view()), VOCAB, HOST)
        if row["fits"]:
            best = min(best, row["step_time"])
    return best


def test_agree() -> None:
    r = core_search()
    again = bw.plan_step(MODEL, "A100-80GB", r.best.plan)
    assert again.step_time == r.best.step_time
    row = ref.step(
        dict(cost_view(MODEL)),
        float(MODEL.heads),
        dict(chip_view(Deployment(HW))),
        dict(r.best.plan.view()),
        VOCAB,
        HOST,
    )
    assert row["step_time"] == pytest.approx(r.best.step_time, rel=1e-12)


@pytest.mark.benchmark(group="training-search/gpt3-175b-1024")
def test_core_search(benchmark) -> None:  # type: ignore[no-untyped-def]
    r = benchmark(core_search)
    threads = len(os.sched_getaffinity(0))
    benchmark.extra_info["points"] = r.points
    benchmark.extra_info["threads"] = threads
    if benchmark.stats is not None and benchmark.stats.stats.mean > 0:
        per_core = benchmark.stats.stats.mean * threads
        benchmark.extra_info["plans_per_s_per_core"] = r.points / per_core
        benchmark.extra_info["valid_plans_per_s_per_core"] = len(VALID) / per_core


@pytest.mark.benchmark(group="training-search/gpt3-175b-1024")
def test_reference_search(benchmark) -> None:  # type: ignore[no-untyped-def]
    # Scaled to the grid's valid plans: the reference pays per plan priced.
    plans = VALID[:: max(len(VALID) // REF_PLANS, 1)][:REF_PLANS]
    benchmark.extra_info["scale"] = len(VALID) / len(plans)
    benchmark(reference_search, plans)
