"""Serving inputs that used to pass silently: half of a trace's prefix columns, prefix lengths
that disagree (caught where the trace is built, not at simulate time), and `serve --search`
options that were ignored (--tp/--pp/--ep/--hardware/--replicas/--disagg, --search-* axes
outside a deployment search, workload options beside --trace)."""

from __future__ import annotations

import json
from pathlib import Path

import brickwall as bw
import numpy as np
import pytest
from brickwall import serve as sv
from brickwall.cli import app
from brickwall.errors import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from typer.testing import CliRunner

runner = CliRunner()
M = bw.model("llama3.1-8b")
SMALL = ["serve", "llama3.1-8b", "-n", "40", "--input", "256", "--output", "8"]
RATE = [*SMALL, "--search", "--rate", "5", "--slo-ttft", "1"]
W = sv.Workload(requests=40, rate=5.0, input=256, output=8)


# -- 1. a trace file with half of the prefix columns -------------------------------------------


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("arrival,input,output,prefix_id\n0,100,4,7\n0.1,100,4,7\n", "prefix_tokens"),
        ("arrival,input,output,prefix_tokens\n0,100,4,64\n0.1,100,4,64\n", "prefix_id"),
    ],
)
def test_a_csv_with_one_prefix_column_is_refused(tmp_path: Path, text: str, missing: str) -> None:
    p = tmp_path / "t.csv"
    p.write_text(text)
    with pytest.raises(ValidationError, match=f"t.csv columns.*{missing}") as e:
        sv.Trace.from_file(p)
    assert "shared prefix" in str(e.value)  # says what the column means
    r = runner.invoke(app, ["serve", "llama3.1-8b", "--trace", str(p)])
    assert r.exit_code == 2 and missing in r.output, r.output


@pytest.mark.parametrize(
    ("line", "missing"),
    [
        ('{"arrival": 0, "input": 100, "output": 4, "prefix_id": 3}', "prefix_tokens"),
        ('{"arrival": 0, "input": 100, "output": 4, "prefix_tokens": 40}', "prefix_id"),
        (
            '{"arrival": 0, "input": 100, "output": 4, "prefix_id": 3, "prefix_tokens": null}',
            "prefix_tokens",
        ),
    ],
)
def test_a_jsonl_line_with_one_prefix_key_is_refused(
    tmp_path: Path, line: str, missing: str
) -> None:
    p = tmp_path / "t.jsonl"
    p.write_text('{"arrival": 0, "input": 100, "output": 4}\n' + line + "\n")
    with pytest.raises(ValidationError, match=f"t.jsonl line 2 {missing}"):
        sv.Trace.from_file(p)


def test_a_csv_row_with_one_prefix_cell_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    head = "arrival,input,output,prefix_id,prefix_tokens\n0,100,4,,\n"
    p.write_text(head + "0.1,100,4,7,\n")
    with pytest.raises(ValidationError, match="t.csv row 2 prefix_tokens"):
        sv.Trace.from_file(p)
    p.write_text(head + "0.1,100,4,,64\n")
    with pytest.raises(ValidationError, match="t.csv row 2 prefix_id"):
        sv.Trace.from_file(p)
    # an explicit 0 is "no prefix", as in a Trace, with or without an id
    p.write_text(head + "0.1,100,4,7,0\n0.2,100,4,,0\n0.3,100,4,7,50\n")
    assert_array_equal(sv.Trace.from_file(p).prefix_tokens, [0, 0, 0, 50])


# -- 2. prefix lengths checked where the trace is built ----------------------------------------


def test_one_length_per_prefix_id_is_checked_at_construction() -> None:
    n = 10
    ids, lens = np.arange(n) % 3, np.full(n, 64)
    lens[7] = 65  # request 7 has prefix 1, which request 1 gave 64 tokens
    with pytest.raises(ValidationError, match=r"Trace\.prefix_tokens\[7\].*64.*prefix 1.*1\b"):
        sv.Trace.from_arrays(
            np.arange(n) * 0.1, np.full(n, 100), np.full(n, 4), prefix_id=ids, prefix_tokens=lens
        )
    with pytest.raises(ValidationError, match=r"Trace\.prefix_tokens\[7\]"):
        sv.Trace(
            np.full(n, 100), np.full(n, 4), np.arange(n) * 0.1, prefix_id=ids, prefix_tokens=lens
        )  # type: ignore[arg-type]


def test_a_zero_length_is_no_prefix_whatever_its_id() -> None:
    t = sv.Trace.from_arrays(
        [0, 1, 2, 3], [100] * 4, [4] * 4, prefix_id=[5, 5, 5, 5], prefix_tokens=[0, 32, 0, 32]
    )
    assert_array_equal(t.prefix_tokens, [0, 32, 0, 32])


def test_the_first_offending_request_is_named_whichever_rule_it_breaks() -> None:
    # request 2 repeats prefix 9 with another length, request 3 has a prefix as long as its input
    kw = {"prefix_id": [9, 1, 9, 4], "prefix_tokens": [10, 10, 11, 100]}
    with pytest.raises(ValidationError, match=r"prefix_tokens\[2\]"):
        sv.Trace.from_arrays([0, 1, 2, 3], [100] * 4, [4] * 4, **kw)
    kw = {"prefix_id": [9, 1, 9, 4], "prefix_tokens": [10, 100, 11, 5]}
    with pytest.raises(ValidationError, match=r"prefix_tokens\[1\].*< input = 100"):
        sv.Trace.from_arrays([0, 1, 2, 3], [100] * 4, [4] * 4, **kw)


def test_a_file_names_the_row_of_a_clashing_prefix(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    # sorted by arrival the rows swap; the error still names the file's row
    p.write_text("arrival,input,output,prefix_id,prefix_tokens\n1,100,4,7,64\n0,100,4,7,32\n")
    with pytest.raises(ValidationError, match=r"t.csv row 2 prefix_tokens.*64.*row 1"):
        sv.Trace.from_file(p)


def test_the_core_still_refuses_what_construction_would() -> None:
    t = sv.Trace.from_arrays([0, 1], [100, 100], [4, 4], prefix_id=[1, 1], prefix_tokens=[8, 8])
    object.__setattr__(t, "prefix_tokens", np.array([8, 9], dtype=np.uint64))  # bypass
    with pytest.raises(ValidationError, match=r"prefix_tokens\[1\]"):
        sv.simulate(M, bw.Deployment("H100-SXM"), t, sv.Scheduler(prefix_cache=True))


# -- 3. serve --search takes --tp/--pp/--ep/--hardware/--replicas/--disagg ----------------------


def _search(*extra: str) -> dict[str, object]:
    r = runner.invoke(app, [*RATE, *extra, "--json"])
    assert r.exit_code == 0, r.output
    out: dict[str, object] = json.loads(r.output)
    return out


def test_search_with_tp_searches_that_tp() -> None:
    out = _search("--tp", "2", "--replicas", "1")
    lib = sv.search(M, W, rate=5.0, slo_ttft=1.0, tp=2, replicas=1)
    assert out["candidates"] == lib.candidates == 1
    deps = out["deployments"]
    assert isinstance(deps, list) and [d["tp"] for d in deps] == [2]
    assert [d["layout"] for d in deps] == [d["layout"] for d in lib.deployments]


def test_search_with_pp_ep_hardware_and_disagg_restricts_those_axes() -> None:
    out = _search("--pp", "2", "--hardware", "A100-80GB", "--disagg", "1:1", "--search-tp", "1")
    assert out["candidates"] == 1  # tp 1 x pp 2 x ep 1 on A100, only the 1:1 split
    deps = out["deployments"]
    assert isinstance(deps, list) and len(deps) == 1
    d = deps[0]
    assert (d["hardware"], d["tp"], d["pp"], d["prefill"], d["decode"]) == ("A100-80GB", 1, 2, 1, 1)
    # --ep with the default tp axis: four candidates, every one at ep 1 (the model is dense)
    assert _search("--ep", "1", "--replicas", "1")["candidates"] == 4


@pytest.mark.parametrize(
    ("plain", "searched"),
    [
        (["--tp", "8"], ["--search-tp", "1,2"]),
        (["--pp", "2"], ["--search-pp", "1"]),
        (["--ep", "2"], ["--search-ep", "1"]),
        (["--hardware", "H200"], ["--search-hardware", "H100-SXM"]),
        (["--replicas", "2"], ["--search-replicas", "1,2"]),
        (["--disagg", "1:1"], ["--search-disagg", "1:2"]),
    ],
)
def test_search_refuses_a_plain_and_a_search_form_of_one_axis(
    plain: list[str], searched: list[str]
) -> None:
    r = runner.invoke(app, [*RATE, *plain, *searched])
    assert r.exit_code == 2, r.output
    assert plain[0] in r.output and searched[0] in r.output, r.output


@pytest.mark.parametrize(
    "args",
    [
        [*SMALL, "--rate", "5", "--search-tp", "1,2"],  # no --search
        [*SMALL, "--search", "--slo-ttft", "1", "--search-replicas", "2"],  # --search, no --rate
        [*SMALL, "--rate-curve", "--search-disagg", "1:1"],
    ],
)
def test_search_axes_outside_a_deployment_search_are_refused(args: list[str]) -> None:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "--search-" in r.output and "--search --rate" in r.output, r.output


@pytest.mark.parametrize(
    "extra",
    [
        ["--requests", "5"],
        ["--input", "64"],
        ["--output", "3"],
        ["--sigma", "0.5"],
        ["--seed", "2"],
    ],
)
def test_workload_options_beside_a_trace_are_refused(tmp_path: Path, extra: list[str]) -> None:
    p = tmp_path / "t.csv"
    p.write_text("arrival,input,output\n0,100,4\n")
    r = runner.invoke(app, ["serve", "llama3.1-8b", "--trace", str(p), *extra])
    assert r.exit_code == 2 and extra[0] in r.output and "--trace" in r.output, r.output


def test_a_file_keeps_64_bit_prefix_ids_exact(tmp_path: Path) -> None:
    # hashes as ids: 2^60 and 2^60 + 1 are one float64, but two prefixes
    a, b = 1 << 60, (1 << 60) + 1
    p = tmp_path / "t.csv"
    p.write_text(f"arrival,input,output,prefix_id,prefix_tokens\n0,100,4,{a},10\n1,100,4,{b},20\n")
    t = sv.Trace.from_file(p)
    assert t.prefix_id is not None and [int(x) for x in t.prefix_id] == [a, b]
    j = tmp_path / "t.jsonl"
    j.write_text(
        f'{{"arrival": 0, "input": 100, "output": 4, "prefix_id": {b}, "prefix_tokens": 9}}\n'
    )
    assert [int(x) for x in sv.Trace.from_file(j).prefix_id] == [b]  # type: ignore[union-attr]
    j.write_text(
        f'{{"arrival": 0, "input": 100, "output": 4, "prefix_id": {1 << 64}, "prefix_tokens": 9}}\n'
    )
    with pytest.raises(ValidationError, match="t.jsonl line 1 prefix_id"):
        sv.Trace.from_file(j)


def test_rate_curve_refuses_a_rate_it_would_ignore() -> None:
    r = runner.invoke(app, [*SMALL, "--rate-curve", "--rate", "5"])
    assert r.exit_code == 2 and "--rate" in r.output and "--rate-curve" in r.output, r.output


def test_disagg_with_replicas_is_refused_even_at_one() -> None:
    r = runner.invoke(app, [*SMALL, "--rate", "5", "--disagg", "1:1", "--replicas", "1"])
    assert r.exit_code == 2 and "--replicas" in r.output, r.output


def test_the_largest_rate_search_uses_the_router() -> None:
    w = sv.Workload(requests=60, rate=1.0, input=256, output=16, arrival="gamma", cv=3.0)
    d = bw.Deployment("H100-SXM")
    cap = sv.max_rate(M, d, w, ttft=0.05, replicas=2, router="least-loaded")
    assert cap.result is not None and cap.result.router == "least-loaded"
    args = ["serve", "llama3.1-8b", "-n", "60", "--input", "256", "--output", "16", "--arrival"]
    args += ["gamma", "--cv", "3", "--search", "--slo-ttft", "0.05", "--replicas", "2"]
    r = runner.invoke(app, [*args, "--router", "least-loaded", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["max_rate_requests_per_s"] == cap.rate


def _first_fault(ids: list[int], lens: list[int], inp: list[int]) -> int | None:
    """The core's rule, a request at a time (sim.rs validate): the first offending request."""
    seen: dict[int, int] = {}
    for i, (d, n, x) in enumerate(zip(ids, lens, inp, strict=True)):
        if n == 0:
            continue
        if n >= x or seen.setdefault(d, n) != n:
            return i
    return None


WIDE = [0, 1, 2, 7, 1 << 57, (1 << 57) + 1, (1 << 63) + 5, (1 << 64) - 1]


@given(
    st.lists(
        st.tuples(st.sampled_from(WIDE), st.integers(0, 4), st.integers(1, 6)),
        min_size=1,
        max_size=30,
    )
)
@settings(max_examples=300, deadline=None)
def test_construction_finds_the_first_fault_the_core_would(
    reqs: list[tuple[int, int, int]],
) -> None:
    ids, lens, inp = (list(c) for c in zip(*reqs, strict=True))
    want = _first_fault(ids, lens, inp)
    arrays = (np.zeros(len(ids)), inp, np.ones(len(ids), dtype=np.int64))
    kw = {"prefix_id": np.array(ids, dtype=np.uint64), "prefix_tokens": lens}
    if want is None:
        sv.Trace.from_arrays(*arrays, **kw)
    else:
        with pytest.raises(ValidationError, match=rf"Trace\.prefix_tokens\[{want}\]"):
            sv.Trace.from_arrays(*arrays, **kw)


def test_wide_ids_folded_together_are_still_two_prefixes() -> None:
    # 2^57 and 1 share a folded sort key when lengths take 7 bits: a false alarm, resolved
    t = sv.Trace.from_arrays(
        [0, 0],
        [200, 200],
        [1, 1],
        prefix_id=np.array([1 << 57, 1], dtype=np.uint64),
        prefix_tokens=[100, 20],
    )
    assert_array_equal(t.prefix_tokens, [100, 20])
    with pytest.raises(ValidationError, match=r"prefix_tokens\[1\]"):
        sv.Trace.from_arrays(
            [0, 0],
            [200, 200],
            [1, 1],
            prefix_id=np.array([(1 << 63) + 5] * 2, dtype=np.uint64),
            prefix_tokens=[100, 20],
        )


def test_search_refuses_an_infinite_rate_by_its_flag() -> None:
    r = runner.invoke(app, [*SMALL, "--search", "--rate", "inf", "--slo-ttft", "1"])
    assert r.exit_code == 2 and "--rate = inf" in r.output, r.output


# -- second hostile audit (session 6) ----------------------------------------------------------


def test_a_closed_loop_whose_arrivals_outgrow_microseconds_is_refused() -> None:
    d = bw.Deployment("H100-SXM")
    with pytest.raises(ValidationError, match="think = 1e"):
        bw.simulate(M, d, bw.Trace([10] * 3, [5] * 3, clients=1, think=1e308))
    ok = bw.simulate(M, d, bw.Trace([10] * 3, [5] * 3, clients=1, think=1.0))
    assert np.all(np.isfinite(ok.finish)) and np.all(ok.ttft > 0)


def test_64_bit_prefix_ids_in_a_list_stay_distinct() -> None:
    ids = [2**63 + 1, 2**63 + 3, 5]
    t = bw.Trace([10] * 3, [2] * 3, arrival=[0.0, 1.0, 2.0], prefix_id=ids, prefix_tokens=[8, 8, 0])
    assert t.prefix_id is not None and t.prefix_id.tolist() == ids
    r = bw.simulate(M, bw.Deployment("H100-SXM"), t, bw.Scheduler(prefix_cache=True, block_size=4))
    assert r.cached is not None and r.cached.tolist() == [0, 0, 0]  # two prefixes, not one


def test_option_names_are_case_insensitive_everywhere() -> None:
    assert bw.Scheduler("Continuous").policy == "continuous"
    assert bw.Scheduler(preemption="Swap").preemption == "swap"
    assert bw.Workload(arrival="Gamma").arrival == "gamma"
    w = bw.Workload(requests=40, input=bw.Lengths.uniform(50, 2000), output=64, seed=1)
    args = dict(rate=10.0, slo_ttft=30.0, chips=["H100-SXM", "L40S"], tp=[1, 2], replicas=[1, 2])
    hour = sv.search(M, w, rank_by="hour", router="round-robin", **args)  # type: ignore[arg-type]
    upper = sv.search(M, w, rank_by="HOUR", router="Round-Robin", **args)  # type: ignore[arg-type]
    assert [r["layout"] for r in upper.rows] == [r["layout"] for r in hour.rows]


def test_a_draft_model_the_layout_cannot_run_is_refused_or_skipped() -> None:
    big, draft = bw.model("llama3.1-70b"), bw.model("gpt-j-6b")  # 64 heads; 16 heads
    s = bw.Scheduler(speculative=bw.Speculation(4, 0.7, draft))
    w = bw.Workload(requests=10, rate=5.0)
    with pytest.raises(ValidationError, match="Speculation.draft.*16 attention heads"):
        bw.simulate(big, bw.Deployment("H100-SXM", tp=32), w, s)
    r = sv.search(big, w, rate=5.0, slo_ttft=2.0, tp=(8, 32), replicas=1, scheduler=s)
    status = {row["tp"]: row["status"] for row in r.rows}
    assert status[32].startswith("bad plan") and not status[8].startswith("bad plan")


def test_trace_files_with_a_byte_order_mark_or_a_column_twice(tmp_path: Path) -> None:
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfarrival,input,output\n0,10,2\n")
    assert len(sv.Trace.from_file(bom)) == 1
    dup = tmp_path / "dup.csv"
    dup.write_text("arrival,input,output,input\n0,10,2,5\n")
    with pytest.raises(ValidationError, match="each column once"):
        sv.Trace.from_file(dup)


def test_a_prefix_cache_without_prefixes_to_cache_is_refused() -> None:
    s, d = bw.Scheduler(prefix_cache=True), bw.Deployment("H100-SXM")
    with pytest.raises(ValidationError, match="Scheduler.prefix_cache = True"):
        bw.simulate(M, d, bw.Workload(requests=5, rate=1.0), s)
    with pytest.raises(ValidationError, match="Scheduler.prefix_cache = True"):
        sv.max_rate(M, d, bw.Workload(requests=5), ttft=1.0, scheduler=s)
    r = runner.invoke(app, ["serve", "llama3.1-8b", "-n", "5", "--rate", "1", "--prefix-cache"])
    assert r.exit_code == 2 and "prefix_cache" in r.output
