"""`serve` and the serving library on bad or extreme input: one clear error naming the field,
never a traceback, NaN in JSON or a silent default."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import replace
from pathlib import Path

import brickwall as bw
import numpy as np
import pytest
from brickwall import serve as sv
from brickwall.cli import app
from brickwall.errors import BrickwallError, ValidationError
from typer.testing import CliRunner

runner = CliRunner()
SERVE = ["serve", "llama3.1-8b"]
SMALL = [*SERVE, "-n", "40", "--input", "256", "--output", "8"]
SEARCH = [*SMALL, "--search", "--rate", "5", "--slo-ttft", "1", "--search-tp", "1"]
M = bw.model("llama3.1-8b")
H100 = bw.Deployment("H100-SXM")


def _fails(args: list[str], needle: str) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert needle in r.output, r.output
    assert "Traceback" not in r.output
    return str(r.output)


# -- 1. trace files ----------------------------------------------------------------------------


def test_a_trace_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_bytes(b"arrival,input,output\n0,\xff\xfe,3\n")
    with pytest.raises(ValidationError, match="UTF-8"):
        sv.Trace.from_file(f)
    _fails([*SERVE, "--trace", str(f)], "UTF-8")


def test_trace_errors_name_the_row_and_refuse_booleans_and_unknown_columns(
    tmp_path: Path,
) -> None:
    j = tmp_path / "t.jsonl"
    j.write_text(
        '{"arrival": 0, "input": 5, "output": 2}\n{"arrival": 1, "input": true, "output": 3}\n'
    )
    with pytest.raises(ValidationError, match="line 2 input"):
        sv.Trace.from_file(j)
    c = tmp_path / "t.csv"
    c.write_text("arrival,input,output\n0,5,2\n1,-4,2\n")
    with pytest.raises(ValidationError, match="row 2 input"):
        sv.Trace.from_file(c)
    extra = tmp_path / "x.csv"
    extra.write_text("arrival,input,outptu,output\n0,5,2,2\n")
    with pytest.raises(ValidationError, match="outptu"):
        sv.Trace.from_file(extra)
    extra_j = tmp_path / "x.jsonl"
    extra_j.write_text('{"arrival": 0, "input": 5, "output": 2, "prio": 1}\n')
    with pytest.raises(ValidationError, match="prio"):
        sv.Trace.from_file(extra_j)


def test_rate_with_a_trace_is_refused(tmp_path: Path) -> None:
    c = tmp_path / "t.csv"
    c.write_text("arrival,input,output\n0,5,2\n")
    _fails([*SERVE, "--trace", str(c), "--rate", "5"], "--rate")


# -- 2. arrival times and rates keep their resolution --------------------------------------------


def test_arrivals_beyond_the_resolution_bound_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="Trace.arrival"):
        sv.Trace.from_arrays([1e300] * 3, [10] * 3, [2] * 3)
    c = tmp_path / "t.csv"
    c.write_text("arrival,input,output\n0,5,2\n1e17,5,2\n")
    _fails([*SERVE, "--trace", str(c)], "row 2 arrival")
    # the bound itself is accepted
    sv.Trace.from_arrays([0.0, sv.MAX_ARRIVAL], [5, 5], [2, 2])


def test_rates_too_low_to_keep_resolution_are_refused() -> None:
    with pytest.raises(ValidationError, match="Workload.rate"):
        sv.Workload(requests=100, rate=1e-300)
    with pytest.raises(ValidationError, match="rate"):
        sv.search(M, sv.Workload(requests=20), rate=1e-300, slo_ttft=1.0, tp=1, replicas=1)


def test_result_rates_are_safe_for_a_run_of_no_length() -> None:
    r = sv.simulate(M, H100, sv.Workload(requests=4, input=64, output=4))
    zero = sv.ServingResult(
        **{f: getattr(r, f) for f in r.__dataclass_fields__ if f != "finish"},  # type: ignore[arg-type]
        finish=r.arrival.copy(),
    )
    assert zero.duration == 0.0
    assert math.isnan(zero.throughput["requests_per_s"])
    assert math.isnan(zero.goodput(ttft=1.0))
    assert math.isnan(zero.mean_in_flight())
    assert math.isnan(zero.utilisation)


# -- 3. JSON never holds NaN; tables say n/a ---------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        ["--rate-curve"],
        ["--rate", "5", "--disagg", "1:1"],
        ["--search", "--slo-tpot", "0.01"],
        ["--rate", "5"],
    ],
)
def test_json_writes_null_for_an_undefined_tpot(extra: list[str]) -> None:
    r = runner.invoke(
        app, [*SERVE, "-n", "30", "--input", "128", "--output", "1", *extra, "--json"]
    )
    assert r.exit_code == 0, r.output
    assert "NaN" not in r.output
    json.loads(r.output, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))


def test_table_says_na_for_an_undefined_tpot() -> None:
    r = runner.invoke(app, [*SERVE, "-n", "30", "--input", "128", "--output", "1", "--rate", "5"])
    assert r.exit_code == 0, r.output
    assert "n/a" in r.output and "nan" not in r.output


# -- 4. --plot is checked before the work ------------------------------------------------------


@pytest.mark.parametrize("target", ["/proc/x.png", "/nonexistent/d/x.png"])
def test_an_unwritable_plot_is_refused_up_front(target: str) -> None:
    _fails([*SMALL, "--plot", target], "--plot")


def test_plot_into_a_directory_writes_serve_png(tmp_path: Path) -> None:
    r = runner.invoke(app, [*SMALL, "--rate", "5", "--plot", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "serve.png").stat().st_size > 0


def test_plot_with_search_is_refused(tmp_path: Path) -> None:
    _fails([*SEARCH, "--plot", str(tmp_path / "s.png")], "--plot")
    assert not (tmp_path / "s.png").exists()


# -- 5. empirical lengths ----------------------------------------------------------------------


def test_empirical_lengths_refuse_overflowing_weights_and_huge_values() -> None:
    with pytest.raises(ValidationError, match="weights"):
        sv.Lengths.empirical([1, 2], [1e308, 1e308])
    with pytest.raises(ValidationError, match="2\\^40"):
        sv.Lengths.empirical([(1 << 40) + 1])
    sv.Lengths.empirical([1 << 40])


def test_empirical_lengths_store_read_only_arrays_and_hash_by_content() -> None:
    a = sv.Lengths.empirical([1, 2, 3], [1, 1, 2])
    assert isinstance(a.values, np.ndarray) and not a.values.flags.writeable
    assert a == sv.Lengths.empirical(np.array([1, 2, 3]), [1.0, 1.0, 2.0])
    assert hash(a) == hash(sv.Lengths.empirical([1, 2, 3], [1, 1, 2]))
    assert a != sv.Lengths.empirical([1, 2, 3])
    assert len({a, sv.Lengths.empirical([1, 2, 3], [1, 1, 2])}) == 1


# -- 6. options ---------------------------------------------------------------------------------


def test_sigma_nan_is_refused() -> None:
    _fails([*SMALL, "--sigma", "nan"], "--sigma")


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--search-disagg", "a:b"], "--search-disagg"),
        (["--search-disagg", "1:1,"], "--search-disagg"),
        (["--search-hardware", ""], "--search-hardware"),
        (["--search-tp", "0"], "--search-tp"),
    ],
)
def test_search_axes_refuse_bad_text(extra: list[str], needle: str) -> None:
    _fails([*SEARCH, *extra], needle)


def test_search_axes_take_ranges() -> None:
    r = runner.invoke(app, [*SEARCH, "--search-tp", "1..2", "--search-replicas", "1..2", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["candidates"] == 4


def test_search_takes_one_split_as_a_string_or_pair() -> None:
    w = sv.Workload(requests=20, input=128, output=4)
    for split in ("1:1", (1, 1)):
        res = sv.search(M, w, rate=2.0, slo_ttft=5.0, tp=1, replicas=(), disaggregated=split)  # type: ignore[arg-type]
        assert res.candidates == 1
        assert res.rows[0]["prefill"] == 1 and res.rows[0]["decode"] == 1
    with pytest.raises(BrickwallError, match="disaggregated"):
        sv.search(M, w, rate=2.0, slo_ttft=5.0, tp=1, disaggregated=5)  # type: ignore[arg-type]


# -- 7. a request too long for the chip --------------------------------------------------------


def test_a_too_long_request_is_named() -> None:
    with pytest.raises(ValidationError, match=r"request 0 \(1000000 input.*max_batched_tokens"):
        sv.simulate(M, H100, sv.Trace.from_arrays([0], [10**6], [2]))


# -- 8. overload with finitely many requests ----------------------------------------------------


def test_a_rate_beyond_the_deployment_is_not_met_with_few_requests() -> None:
    w = sv.Workload(requests=20, input=128, output=4)
    res = sv.search(M, w, rate=1e300, slo_ttft=60.0, tp=1, replicas=1)
    assert res.deployments == []
    assert res.rows[0]["status"] == "overloaded"
    assert "overloaded" in res.message
    # the same deployment at a rate it sustains is met
    assert sv.search(M, w, rate=1.0, slo_ttft=60.0, tp=1, replicas=1).best is not None


# -- 9. search listing, ranking, labels --------------------------------------------------------


def test_search_lists_rows_and_says_how_many_are_shown() -> None:
    r = runner.invoke(app, [*SEARCH, "--search-replicas", "1,2,3", "--rows", "2"])
    assert r.exit_code == 0, r.output
    assert "2 of 3 shown" in r.output


def test_search_ties_on_the_key_rank_by_the_other() -> None:
    w = sv.Workload(requests=60, input=512, output=64)
    splits = ["1:1", "1:3", "3:1", "2:2"]
    for rank, key, other in (
        ("hour", "usd_per_hour", "usd_per_million_tokens"),
        ("token", "usd_per_million_tokens", "usd_per_hour"),
    ):
        res = sv.search(
            M,
            w,
            rate=40.0,
            slo_ttft=60.0,
            tp=1,
            replicas=(4, 2),
            disaggregated=splits,
            rank_by=rank,
        )
        met = [(r[key], r[other]) for r in res.deployments]
        assert len(met) == 6
        assert met == sorted(met)


def test_help_and_labels() -> None:
    r = runner.invoke(app, [*SERVE, "--help"])
    assert "round-robin" not in r.output.split("--replicas", 1)[1].split("--", 1)[0]
    r = runner.invoke(app, [*SMALL, "--rate", "5"])
    text = " ".join(r.output.split())
    assert "busy (running any batch)" in text and "utilisation" not in text


def test_rate_curve_marks_the_rates_meeting_the_slo() -> None:
    r = runner.invoke(app, [*SMALL, "--rate-curve", "--slo-ttft", "0.05", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    meets = out["meets_slo_p99"]
    assert meets == [t <= 0.05 for t in out["ttft_p99"]]
    r = runner.invoke(app, [*SMALL, "--rate-curve", "--slo-ttft", "0.05"])
    assert "p99 SLO" in r.output


# -- 10. prefix cache and swap counts ----------------------------------------------------------


def test_cached_and_swapped_tokens_are_reported() -> None:
    n = 40
    tr = sv.Trace.from_arrays(
        np.arange(n) * 0.05,
        np.full(n, 600),
        np.full(n, 4),
        prefix_id=np.zeros(n),
        prefix_tokens=np.full(n, 512),
    )
    r = sv.simulate(M, H100, tr, sv.Scheduler(prefix_cache=True))
    assert r.cached is not None and int(r.cached.sum()) > 0
    assert r.summary()["cached_tokens"] == int(r.cached.sum())
    plain = sv.simulate(M, H100, tr)
    # the keys are always there (JSON consumers need stable keys), with the options that apply
    assert (plain.summary()["cached_tokens"], plain.summary()["swapped_tokens"]) == (0, 0)
    assert r.summary()["prefix_cache"] and not plain.summary()["prefix_cache"]
    assert plain.summary()["preemption"] == "recompute" and plain.summary()["speculative"] is None
    w = sv.Workload(requests=60, rate=50.0, input=sv.Lengths.uniform(20, 200), output=100, seed=3)
    sw = sv.simulate(M, H100, w, sv.Scheduler(max_seqs=32, kv_blocks=60, preemption="swap"))
    assert sw.swapped_tokens > 0 and sw.summary()["swapped_tokens"] == sw.swapped_tokens


def test_search_runs_swap_and_speculation_as_simulate_does_and_refuses_a_prefix_cache() -> None:
    m, w = bw.model("llama3.1-70b"), bw.Workload(requests=40, rate=20.0, input=512, output=64)
    with pytest.raises(ValidationError, match="scheduler.prefix_cache = True: expected False"):
        bw.serve.search(
            m,
            w,
            rate=20.0,
            slo_ttft=1.0,
            tp=4,
            replicas=1,
            scheduler=bw.Scheduler(prefix_cache=True),
        )
    no_link = dataclasses.replace(bw.hardware("H100-SXM"), name="H100-nolink", host_bandwidth=None)
    draft = bw.model("llama3.1-8b")
    for s in (
        bw.Scheduler(max_seqs=16, kv_blocks=200, preemption="swap"),
        bw.Scheduler(speculative=bw.Speculation(4, 0.7, draft=draft)),
    ):
        res = bw.serve.search(
            m, w, rate=20.0, slo_ttft=1.0, chips=["H100-SXM", no_link], tp=4, replicas=(1, 2),
            scheduler=s, price_per_hour=2.0,
        )  # fmt: skip
        for row in res.rows:
            if row["hardware"] == "H100-nolink" and s.preemption == "swap":
                assert row["status"] == "no host link"
                continue
            d, k = row["deployment"], row["replicas"]
            one = bw.simulate(m, d, replace(w, rate=20.0), s, replicas=k, timeline=False)
            assert row["status"] in ("met", "missed", "overloaded")
            assert row["ttft_s"] == one.percentiles("ttft", (99,))["p99"]
            assert row["kv_blocks"] == one.scheduler.kv_blocks
            if s.speculative is not None:
                # the draft's weights and cache come out of the KV capacity
                plain = bw.Scheduler().resolved(m, d, w.draw())
                assert one.scheduler.kv_blocks < plain.kv_blocks


def test_host_links_slower_than_a_megabyte_per_second_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"Scheduler.host_bandwidth = 1e-300: expected"):
        bw.Scheduler(preemption="swap", host_bandwidth=1e-300)
    with pytest.raises(ValidationError, match=r"Hardware.host_bandwidth = 10.0: expected"):
        dataclasses.replace(bw.hardware("H100-SXM"), host_bandwidth=10.0)


def test_a_pipelined_candidate_whose_engines_cannot_hold_a_request_is_skipped() -> None:
    m = bw.model("llama3.1-8b")
    w = bw.Workload(requests=30, rate=5.0, input=1024, output=64)
    r = bw.serve.search(
        m, w, rate=5.0, slo_ttft=10.0, tp=1, pp=[1, 8], replicas=1,
        scheduler=bw.Scheduler(kv_blocks=100),
    )  # fmt: skip
    status = dict(zip(r.to_pandas().pp, r.to_pandas().status, strict=True))
    assert status[8] != "met" and status[1] in ("met", "missed", "overloaded")
