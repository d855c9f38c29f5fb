"""Serving under traffic: requests arriving at a rate, batched iteration by iteration on one
replica, each iteration priced by the step model.

:class:`Workload` describes seeded traffic (Poisson or gamma arrivals at a rate, an offline
batch, or a closed loop of clients; fixed, uniform or lognormal lengths); :class:`Trace` holds
explicit requests. :class:`Scheduler` picks static batching, continuous batching or chunked
prefill and the paged KV cache's limits. :func:`simulate` runs the core's simulator
(``rust/brickwall-core/src/serving/``, whose module docs state the rules) and returns a
:class:`ServingResult`: TTFT, TPOT, end-to-end latency and queueing per request, their
percentiles, throughput, goodput under an SLO and the cost per 1M tokens at that load.

>>> import brickwall as bw
>>> r = bw.simulate(bw.model("llama3.1-8b"), bw.Deployment("H100-SXM"),
...                 bw.Workload(requests=200, rate=5.0, input=512, output=64))
>>> bool(r.percentiles("ttft")["p50"] < 1.0)
True
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from .deployment import Deployment, chip_view, cost_view, plan_view
from .errors import BrickwallError, ValidationError, invalid, wrong_type
from .executors import checked
from .hardware import Hardware
from .model import Model
from .validate import array, choice, integer, real

Policy = Literal["continuous", "static", "chunked"]
POLICIES: tuple[str, ...] = ("continuous", "static", "chunked")
RouterName = Literal["round-robin", "least-loaded"]
ROUTERS: tuple[str, ...] = ("round-robin", "least-loaded")
#: Budget of a chunked-prefill iteration when none is given (tokens).
CHUNKED_BUDGET = 2048
#: Budget of a non-chunked iteration when none is given: vLLM's non-chunked default is
#: max(max_model_len, 2048); 8192 stands in for a model length, raised to the longest request.
WHOLE_BUDGET = 8192
#: Input and output token streams of a workload's seed (arrivals use stream 0).
_INPUT_STREAM, _OUTPUT_STREAM = 1, 2
_EMPTY_U64: NDArray[np.uint64] = np.zeros(0, dtype=np.uint64)
_EMPTY_F64: NDArray[np.float64] = np.zeros(0, dtype=np.float64)
#: Latest arrival time (s): float64 keeps 52 fraction bits, so below 2^33 s (~272 years) a
#: time still resolves 2^-19 s (~2 us) and latencies of a microsecond's scale stay visible.
MAX_ARRIVAL = float(1 << 33)
#: Longest token count of a request (the core's limit).
MAX_TOKENS = 1 << 40


@dataclass(frozen=True, slots=True)
class Lengths:
    """A distribution of token counts: ``Lengths.fixed(n)``, ``Lengths.uniform(lo, hi)``
    (integers, inclusive), ``Lengths.lognormal(mean, sigma, max)`` (rounded, clipped to
    ``[1, max]``; ``sigma`` the log's standard deviation) or ``Lengths.empirical(values,
    weights)`` (a histogram: ``values[k]`` with probability ``weights[k] / sum(weights)``)."""

    kind: Literal["fixed", "uniform", "lognormal", "empirical"]
    a: float
    b: float = 0.0
    max: int = 1 << 20
    #: The histogram of an empirical distribution: lengths (>= 1) and their weights (>= 0),
    #: read-only arrays (millions of values stay cheap); equality and hashing go by ``digest``.
    values: NDArray[np.uint64] = field(default_factory=lambda: _EMPTY_U64, compare=False)
    weights: NDArray[np.float64] = field(default_factory=lambda: _EMPTY_F64, compare=False)
    #: a hash of the histogram's bytes ("" for the parametric kinds)
    digest: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "kind",
            choice("Lengths.kind", self.kind, ("fixed", "uniform", "lognormal", "empirical")),
        )
        if self.kind == "fixed":
            object.__setattr__(self, "a", float(integer("Lengths.fixed", self.a)))
        elif self.kind == "uniform":
            lo = integer("Lengths.uniform.lo", self.a)
            hi = integer("Lengths.uniform.hi", self.b, minimum=lo)
            object.__setattr__(self, "a", float(lo))
            object.__setattr__(self, "b", float(hi))
        elif self.kind == "lognormal":
            object.__setattr__(self, "a", real("Lengths.lognormal.mean", self.a, strict=True))
            object.__setattr__(
                self, "b", real("Lengths.lognormal.sigma", self.b, minimum=0.0, maximum=5.0)
            )
        else:
            v = array("Lengths.empirical.values", self.values, np.uint64, minimum=1)
            with np.errstate(over="ignore"):  # an overflowing sum is refused below
                w = array("Lengths.empirical.weights", self.weights, np.float64, minimum=0.0)
                total = float(w.sum())
            if len(v) and int(v.max()) > MAX_TOKENS:
                raise invalid("Lengths.empirical.values", int(v.max()), "lengths <= 2^40")
            if len(v) == 0:
                raise invalid("Lengths.empirical.values", "[]", "at least one length")
            if len(w) != len(v):
                raise invalid("len(Lengths.empirical.weights)", len(w), f"{len(v)} (one per value)")
            if not (total > 0 and math.isfinite(total)):
                raise invalid("sum(Lengths.empirical.weights)", total, "a finite number > 0")
            v, w = v.copy(), w.copy()
            v.flags.writeable = w.flags.writeable = False
            object.__setattr__(self, "values", v)
            object.__setattr__(self, "weights", w)
            h = hashlib.blake2b(v.tobytes(), digest_size=16)
            h.update(w.tobytes())
            object.__setattr__(self, "digest", h.hexdigest())
            # the histogram's mean, for display
            object.__setattr__(self, "a", float(np.dot(v.astype(np.float64), w) / total))
        object.__setattr__(self, "max", integer("Lengths.max", self.max, maximum=1 << 40))

    @classmethod
    def fixed(cls, n: int) -> Lengths:
        return cls("fixed", n)

    @classmethod
    def uniform(cls, lo: int, hi: int) -> Lengths:
        return cls("uniform", lo, hi)

    @classmethod
    def lognormal(cls, mean: float, sigma: float, max: int = 1 << 20) -> Lengths:
        return cls("lognormal", mean, sigma, max)

    @classmethod
    def empirical(cls, values: ArrayLike, weights: ArrayLike | None = None) -> Lengths:
        """A histogram of lengths: ``values`` (integers >= 1) drawn with probability
        proportional to ``weights`` (>= 0, positive sum; None: equal weights, so a list of
        observed lengths resamples them)."""
        v = np.asarray(values)
        w = np.ones(v.shape) if weights is None else np.asarray(weights)
        return cls("empirical", 0.0, values=v, weights=w)  # validated in __post_init__

    def draw(self, n: int, seed: int, stream: int) -> NDArray[np.uint64]:
        if self.kind == "empirical":
            return _core.serving_lengths_empirical(
                self.values,
                self.weights,
                n,
                seed,
                stream,
            )
        return _core.serving_lengths(self.kind, n, self.a, self.b, self.max, seed, stream)


def _lengths(field_name: str, x: Any) -> Lengths:
    if isinstance(x, Lengths):
        return x
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise wrong_type(field_name, x, "a token count or a Lengths")
    return Lengths.fixed(integer(field_name, x))


def _prefix_fault(
    ids: NDArray[np.uint64], lens: NDArray[np.uint64], inp: NDArray[np.uint64]
) -> tuple[int, int] | None:
    """The first request whose shared prefix breaks the simulator's rules (the core checks them
    again): a length (0: none) below the request's input, and one length per id. Returns (that
    request, the earlier request giving its id another length, or -1 for a prefix as long as
    the input), or None. Vectorised (traces of 10^6+ requests): one sort when all is well."""
    used = np.flatnonzero(lens > 0)
    if len(used) == 0 or not (np.any(lens[used] >= inp[used]) or _clashes(ids[used], lens[used])):
        return None
    # something is wrong: find the first offender, as the core would (in request order)
    n = len(lens)
    long = used[lens[used] >= inp[used]]
    _, first, inv = np.unique(ids[used], return_index=True, return_inverse=True)
    owner = used[first][inv.reshape(-1)]  # per request with a prefix, its id's first request
    clash = np.flatnonzero(lens[used] != lens[owner])
    i_long = int(long[0]) if len(long) else n
    i_clash = int(used[clash[0]]) if len(clash) else n
    if i_long < i_clash:
        return i_long, -1
    return None if i_clash == n else (i_clash, int(owner[clash[0]]))


def _clashes(ids: NDArray[np.uint64], lens: NDArray[np.uint64]) -> bool:
    """Whether some id may come with two lengths: True whenever one does, sometimes when none
    does (the caller then looks exactly). One sort of each (id, length) packed into 64 bits,
    the id folded into the bits the lengths leave where it is wider: two ids may then share a
    key, one id never gets two. Sorting values is ~5x faster than sorting indices."""
    shift = int(lens.max()).bit_length()  # <= 41: lengths <= 2^40
    bits = 64 - shift
    wide = int(ids.max()) >> bits != 0
    key = (ids ^ (ids >> np.uint64(bits))) & np.uint64((1 << bits) - 1) if wide else ids
    keys = np.sort((key << np.uint64(shift)) | lens)
    same_id = (keys[1:] ^ keys[:-1]) >> np.uint64(shift) == 0
    return bool(np.any(same_id & (keys[1:] != keys[:-1])))


def _prefix_expected(
    ids: NDArray[np.uint64],
    lens: NDArray[np.uint64],
    inp: NDArray[np.uint64],
    i: int,
    j: int,
    earlier: str,
) -> str:
    """What request ``i`` of a :func:`_prefix_fault` should have; ``earlier`` names ``j``."""
    if j < 0:
        return (
            f"< input = {int(inp[i])} (a shared prefix leaves at least one token to prefill; "
            "0: no prefix)"
        )
    return (
        f"{int(lens[j])}, the length prefix {int(ids[i])} has in {earlier} (one length per "
        "prefix_id; 0: no prefix)"
    )


_PREFIX_KEYS = ("prefix_id", "prefix_tokens")
_PREFIX_MEANING = (
    "requests with the same prefix_id share their first prefix_tokens prompt tokens (the "
    "shared prefix --prefix-cache keeps); give both, or neither"
)


def _blank(row: dict[str, Any], key: str) -> bool:
    """Whether a trace row leaves ``key`` out (absent, empty or null)."""
    return row.get(key) in (None, "")


@dataclass(frozen=True, slots=True)
class Trace:
    """Explicit requests: ``arrival`` seconds (nondecreasing), ``input`` and ``output`` tokens
    (integers >= 1). ``arrival`` None with ``clients`` set is a closed loop: each of
    ``clients`` sends a request at t = 0 and the next ``think`` seconds after one finishes."""

    input: NDArray[np.uint64]
    output: NDArray[np.uint64]
    arrival: NDArray[np.float64] | None = None
    clients: int | None = None
    think: float = 0.0
    #: per request, the id of the shared prefix its prompt starts with (with ``prefix_tokens``)
    prefix_id: NDArray[np.uint64] | None = None
    #: per request, that prefix's length in tokens (0: none; < input; one length per id),
    #: checked when the trace is built
    prefix_tokens: NDArray[np.uint64] | None = None

    def __post_init__(self) -> None:
        inp = array("Trace.input", self.input, np.uint64, minimum=1)
        out = array("Trace.output", self.output, np.uint64, minimum=1)
        for name, col in (("input", inp), ("output", out)):
            if len(col) and int(col.max()) > MAX_TOKENS:
                i = int(np.argmax(col > MAX_TOKENS))
                raise invalid(f"Trace.{name}[{i}]", int(col[i]), "tokens <= 2^40")
        if len(out) != len(inp):
            raise invalid("len(Trace.output)", len(out), f"{len(inp)} (len(Trace.input))")
        if len(inp) == 0:
            raise invalid("len(Trace.input)", 0, "at least one request")
        object.__setattr__(self, "input", inp)
        object.__setattr__(self, "output", out)
        self._check_prefixes(inp)
        if self.arrival is None:
            if self.clients is None:
                raise invalid("Trace.arrival", None, "arrival times, or clients for a closed loop")
            object.__setattr__(self, "clients", integer("Trace.clients", self.clients))
        else:
            if self.clients is not None:
                raise invalid("Trace.clients", self.clients, "None when arrival times are given")
            arr = array("Trace.arrival", self.arrival, np.float64, minimum=0.0)
            if len(arr) and float(arr.max()) > MAX_ARRIVAL:
                i = int(np.argmax(arr > MAX_ARRIVAL))
                raise invalid(
                    f"Trace.arrival[{i}]",
                    arr[i].item(),
                    "seconds <= 2^33 (~272 years: later times lose microsecond resolution)",
                )
            if len(arr) != len(inp):
                raise invalid("len(Trace.arrival)", len(arr), f"{len(inp)} (len(Trace.input))")
            if len(arr) > 1 and np.any(np.diff(arr) < 0):
                i = int(np.argmax(np.diff(arr) < 0)) + 1
                raise invalid(f"Trace.arrival[{i}]", arr[i].item(), "nondecreasing times")
            object.__setattr__(self, "arrival", arr)
        object.__setattr__(self, "think", real("Trace.think", self.think))

    def _check_prefixes(self, inp: NDArray[np.uint64]) -> None:
        if (self.prefix_id is None) != (self.prefix_tokens is None):
            raise invalid(
                "Trace.prefix_tokens" if self.prefix_tokens is None else "Trace.prefix_id",
                None,
                "given together with the other (prefix_id and prefix_tokens)",
            )
        if self.prefix_id is None or self.prefix_tokens is None:
            return
        ids = array("Trace.prefix_id", self.prefix_id, np.uint64, minimum=0)
        lens = array("Trace.prefix_tokens", self.prefix_tokens, np.uint64, minimum=0)
        for name, col in (("prefix_id", ids), ("prefix_tokens", lens)):
            if len(col) != len(inp):
                raise invalid(f"len(Trace.{name})", len(col), f"{len(inp)} (len(Trace.input))")
        fault = _prefix_fault(ids, lens, inp)
        if fault is not None:
            i, j = fault
            why = _prefix_expected(ids, lens, inp, i, j, f"request {j}")
            raise invalid(f"Trace.prefix_tokens[{i}]", int(lens[i]), why)
        object.__setattr__(self, "prefix_id", ids)
        object.__setattr__(self, "prefix_tokens", lens)

    def __len__(self) -> int:
        return len(self.input)

    @classmethod
    def from_arrays(
        cls,
        arrival: ArrayLike,
        input: ArrayLike,
        output: ArrayLike,
        *,
        prefix_id: ArrayLike | None = None,
        prefix_tokens: ArrayLike | None = None,
    ) -> Trace:
        """A trace from arrays of (arrival seconds, input tokens, output tokens), optionally
        with each request's shared-prefix id and prefix length in tokens."""
        return cls(
            input=input,  # type: ignore[arg-type]
            output=output,  # type: ignore[arg-type]
            arrival=arrival,  # type: ignore[arg-type]
            prefix_id=prefix_id,  # type: ignore[arg-type]
            prefix_tokens=prefix_tokens,  # type: ignore[arg-type]
        )

    @classmethod
    def from_file(cls, path: str | Path) -> Trace:
        """A trace from a CSV file with a header naming ``arrival`` (seconds), ``input`` and
        ``output`` (tokens) columns, or a JSONL file of objects with those keys; optional
        ``prefix_id`` and ``prefix_tokens`` columns, both or neither, name each request's shared
        prefix and its length (a row leaving both empty, or a length of 0: none; one length per
        id, below the input). Other columns are refused (a misspelt name would be ignored).
        Rows are sorted by arrival (stable); errors name the file's row (CSV: the header is
        row 0; JSONL: the line)."""
        import csv
        import json

        p = Path(path)
        try:
            text = p.read_bytes().decode("utf-8-sig")  # a byte-order mark is no column name
        except OSError as e:
            raise invalid("trace", str(p), f"a readable file ({e.strerror})") from e
        except UnicodeDecodeError as e:
            raise invalid(
                "trace", str(p), f"a UTF-8 text file (CSV or JSONL; byte {e.start} is not UTF-8)"
            ) from e
        keys = ("arrival", "input", "output")
        known = (*keys, "prefix_id", "prefix_tokens")
        rows: list[tuple[int, Any]] = []  # (row number in the file, the row)
        if p.suffix.lower() in (".jsonl", ".ndjson"):
            for i, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        rows.append((i, json.loads(line)))
                    except json.JSONDecodeError as e:
                        raise invalid(f"{p.name} line {i}", line[:60], "a JSON object") from e
        else:
            reader = csv.DictReader(text.splitlines())
            rows = [(i, row) for i, row in enumerate(reader, 1)]
            names = list(reader.fieldnames or [])
            twice = sorted({f for f in names if names.count(f) > 1})
            if twice:
                raise invalid(
                    f"{p.name} columns", names, f"each column once ({', '.join(twice)} twice)"
                )
            extra = [f for f in names if f not in known]
            if extra:
                raise invalid(f"{p.name} columns", extra, f"only {', '.join(known)}")
            half = [f for f in _PREFIX_KEYS if f in (reader.fieldnames or [])]
            if len(half) == 1:
                other = _PREFIX_KEYS[half[0] == "prefix_id"]
                raise invalid(
                    f"{p.name} columns",
                    reader.fieldnames,
                    f"a {other} column beside {half[0]}: {_PREFIX_MEANING}",
                )
        where = "line" if p.suffix.lower() in (".jsonl", ".ndjson") else "row"

        def number(i: int, k: str, v: Any, whole: bool) -> float:
            bad = isinstance(v, bool) or v is None or isinstance(v, (list, dict))
            try:
                x = math.nan if bad else float(v)
            except (TypeError, ValueError):
                x = math.nan
            if whole:
                ok = math.isfinite(x) and x == int(x) and 1 <= x <= MAX_TOKENS
                if k == "prefix_id":
                    ok = math.isfinite(x) and x == int(x) and 0 <= x < 2.0**64
                elif k == "prefix_tokens":
                    ok = math.isfinite(x) and x == int(x) and 0 <= x <= MAX_TOKENS
                if not ok:
                    lo = 1 if k in keys else 0
                    raise invalid(f"{p.name} {where} {i} {k}", v, f"an integer >= {lo}")
            elif not (math.isfinite(x) and 0 <= x <= MAX_ARRIVAL):
                raise invalid(f"{p.name} {where} {i} {k}", v, "seconds in [0, 2^33]")
            return x

        def identity(i: int, v: Any) -> int:
            # exact (ids may be 64-bit hashes, beyond a float's 53 bits), else a whole float
            text = v.strip() if isinstance(v, str) else ""
            if type(v) is int or (text.isascii() and text.isdigit()):
                if 0 <= int(v) < 1 << 64:
                    return int(v)
                raise invalid(f"{p.name} {where} {i} prefix_id", v, "an integer in [0, 2^64)")
            return int(number(i, "prefix_id", v, True))

        cols: dict[str, list[float]] = {k: [] for k in keys}
        for i, row in rows:
            if not isinstance(row, dict) or any(k not in row for k in keys):
                raise invalid(f"{p.name} {where} {i}", row, f"fields {', '.join(keys)}")
            extra = [k for k in row if k not in known]
            if extra:
                raise invalid(f"{p.name} {where} {i} keys", extra, f"only {', '.join(known)}")
            for k in keys:
                cols[k].append(number(i, k, row[k], k != "arrival"))
        arrival = np.asarray(cols["arrival"], dtype=np.float64)
        order = np.argsort(arrival, kind="stable")
        prefix: dict[str, Any] = {}
        if any(not _blank(r, k) for _, r in rows for k in _PREFIX_KEYS):
            ids = np.zeros(len(rows), dtype=np.uint64)
            lens = np.zeros(len(rows), dtype=np.uint64)
            for n, (i, row) in enumerate(rows):
                has_id, has_len = (not _blank(row, k) for k in _PREFIX_KEYS)
                length = (
                    int(number(i, "prefix_tokens", row["prefix_tokens"], True)) if has_len else 0
                )
                if has_id and not has_len:  # an id without its length: refused, not "none"
                    raise invalid(
                        f"{p.name} {where} {i} prefix_tokens",
                        row.get("prefix_tokens"),
                        f"the length of prefix {row['prefix_id']} in tokens (0: no prefix): "
                        + _PREFIX_MEANING,
                    )
                if length and not has_id:  # a length without an id (0 alone is no prefix)
                    raise invalid(
                        f"{p.name} {where} {i} prefix_id",
                        row.get("prefix_id"),
                        f"the id of the prefix of prefix_tokens = {length}: {_PREFIX_MEANING}",
                    )
                if has_id:
                    ids[n], lens[n] = identity(i, row["prefix_id"]), length
            inp = np.asarray(cols["input"], dtype=np.uint64)
            fault = _prefix_fault(ids, lens, inp)
            if fault is not None:  # named by the file's rows, before sorting
                a, b = fault
                why = _prefix_expected(ids, lens, inp, a, b, f"{where} {rows[b][0]}")
                raise invalid(f"{p.name} {where} {rows[a][0]} prefix_tokens", int(lens[a]), why)
            prefix = {"prefix_id": ids[order], "prefix_tokens": lens[order]}
        return cls(
            input=np.asarray(cols["input"])[order],
            output=np.asarray(cols["output"])[order],
            arrival=arrival[order],
            **prefix,
        )


@dataclass(frozen=True, slots=True)
class Workload:
    """Seeded traffic of ``requests`` requests.

    ``rate`` requests/s (``math.inf``: an offline batch, all at t = 0) with ``arrival``
    ``"poisson"`` or ``"gamma"`` (gaps of coefficient of variation ``cv``); or ``clients`` for
    a closed loop (then ``rate`` must stay inf). ``input`` and ``output``: token counts or
    :class:`Lengths`. The same seed gives the same requests.
    """

    requests: int = 1000
    rate: float = math.inf
    input: int | Lengths = 2048
    output: int | Lengths = 256
    arrival: Literal["poisson", "gamma"] = "poisson"
    cv: float = 1.0
    clients: int | None = None
    think: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "requests", integer("Workload.requests", self.requests, maximum=1 << 26)
        )
        rate = self.rate
        if not (isinstance(rate, (int, float)) and rate == math.inf):
            rate = real("Workload.rate", rate, strict=True)
            # the arrivals span about requests / rate seconds: keep it within half of
            # MAX_ARRIVAL (headroom for the draws' spread) so times keep microseconds
            low = self.requests / (MAX_ARRIVAL / 2)
            if rate < low:
                raise invalid(
                    "Workload.rate",
                    rate,
                    f">= {low:.3g} req/s for {self.requests} requests (arrivals within 2^32 s, "
                    "where times still resolve microseconds)",
                )
        object.__setattr__(self, "rate", float(rate))
        object.__setattr__(self, "input", _lengths("Workload.input", self.input))
        object.__setattr__(self, "output", _lengths("Workload.output", self.output))
        object.__setattr__(
            self, "arrival", choice("Workload.arrival", self.arrival, ("poisson", "gamma"))
        )
        object.__setattr__(self, "cv", real("Workload.cv", self.cv, minimum=1e-3, maximum=1e3))
        if self.clients is not None:
            object.__setattr__(self, "clients", integer("Workload.clients", self.clients))
            if self.rate != math.inf:
                raise invalid(
                    "Workload.rate", self.rate, "inf (unset) with a closed loop of clients"
                )
        object.__setattr__(self, "think", real("Workload.think", self.think))
        object.__setattr__(self, "seed", integer("Workload.seed", self.seed, minimum=0))

    @property
    def offline(self) -> bool:
        return self.rate == math.inf and self.clients is None

    def draw(self) -> Trace:
        """The requests, from the core's seeded generator."""
        n, seed = self.requests, self.seed
        assert isinstance(self.input, Lengths) and isinstance(self.output, Lengths)
        inp = self.input.draw(n, seed, _INPUT_STREAM)
        out = self.output.draw(n, seed, _OUTPUT_STREAM)
        if self.clients is not None:
            return Trace(inp, out, clients=self.clients, think=self.think)
        process = "offline" if self.offline else self.arrival
        arr = _core.serving_arrivals(process, n, 1.0 if self.offline else self.rate, self.cv, seed)
        return Trace(inp, out, arrival=arr)


@dataclass(frozen=True, slots=True)
class Speculation:
    """Speculative decoding for :class:`Scheduler`: each decode verifies up to ``draft_tokens``
    drafted tokens per sequence (fewer when the token budget or the request's remaining output
    is smaller) and emits the expected accepted tokens of
    :func:`brickwall.speculative.expected_tokens` at per-token ``acceptance`` - as a
    deterministic expectation: a request carries the fraction forward, emitting the integer
    part. ``draft``: the draft model, run on the same deployment, its ``g`` steps per iteration
    priced by the step model (None: free drafts, e.g. n-gram or prompt lookup). The draft's
    weights and KV cache take their share of the memory (fewer KV blocks); its prefill is not
    modelled."""

    draft_tokens: int = 4
    acceptance: float = 0.7
    draft: Model | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "draft_tokens", integer("Speculation.draft_tokens", self.draft_tokens, maximum=32)
        )
        object.__setattr__(
            self,
            "acceptance",
            real("Speculation.acceptance", self.acceptance, minimum=0.0, maximum=1.0),
        )
        if self.draft is not None and not isinstance(self.draft, Model):
            raise wrong_type("Speculation.draft", self.draft, "a Model or None")

    def expected(self) -> NDArray[np.float64]:
        """Expected tokens a verification of ``g`` drafts emits, for ``g = 0..draft_tokens``."""
        from .speculative import expected_tokens

        # no drafts: the one token a plain decode samples
        drafted = expected_tokens(self.acceptance, np.arange(1, self.draft_tokens + 1))
        return np.concatenate([[1.0], np.asarray(drafted, dtype=np.float64)])


Preemption = Literal["recompute", "swap"]


@dataclass(frozen=True, slots=True)
class Scheduler:
    """How the replica batches.

    ``policy``: ``"continuous"`` (iteration-level batching of whole prompts: Orca, vLLM),
    ``"chunked"`` (prompts split to fill ``max_batched_tokens`` per iteration: Sarathi) or
    ``"static"`` (a new batch only when the last finished; KV reserved for full lengths).
    ``max_seqs``: sequences per iteration. ``max_batched_tokens``: new tokens per iteration
    (None: 2048 chunked, else max(8192, the longest request)). ``block_size``: tokens per KV
    block. ``kv_blocks``: None sizes the cache from the memory the weights and activations
    leave; an int forces it (e.g. to study preemption). ``prefix_cache``: keep the full KV
    blocks of shared prefixes (a :class:`Trace`'s ``prefix_id``) resident, shared and evicted
    least recently used, so a request whose prefix is cached skips prefilling it.
    ``preemption``: ``"recompute"`` drops a preempted request's cache, ``"swap"`` moves it to host
    memory and back over ``host_bandwidth`` bytes/s per chip (None: the chip's
    ``Hardware.host_bandwidth``), the transfers added to the iterations' time (not overlapped).
    ``speculative``: a :class:`Speculation`, or None.
    """

    policy: Policy = "continuous"
    max_seqs: int = 256
    max_batched_tokens: int | None = None
    block_size: int = 16
    kv_blocks: int | None = None
    prefix_cache: bool = False
    preemption: Preemption = "recompute"
    speculative: Speculation | None = None
    host_bandwidth: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "policy", choice("Scheduler.policy", self.policy, POLICIES))
        object.__setattr__(self, "max_seqs", integer("Scheduler.max_seqs", self.max_seqs))
        if self.max_batched_tokens is not None:
            object.__setattr__(
                self,
                "max_batched_tokens",
                integer("Scheduler.max_batched_tokens", self.max_batched_tokens, maximum=1 << 40),
            )
        object.__setattr__(
            self, "block_size", integer("Scheduler.block_size", self.block_size, maximum=1 << 20)
        )
        if self.kv_blocks is not None:
            object.__setattr__(
                self, "kv_blocks", integer("Scheduler.kv_blocks", self.kv_blocks, maximum=1 << 40)
            )
        if not isinstance(self.prefix_cache, bool):
            raise wrong_type("Scheduler.prefix_cache", self.prefix_cache, "True or False")
        object.__setattr__(
            self,
            "preemption",
            choice("Scheduler.preemption", self.preemption, ("recompute", "swap")),
        )
        if self.speculative is not None and not isinstance(self.speculative, Speculation):
            raise wrong_type("Scheduler.speculative", self.speculative, "a Speculation or None")
        if self.host_bandwidth is not None:
            object.__setattr__(
                self,
                "host_bandwidth",
                # at least 1 MB/s (the chip files' bound): slower links overflow the times
                real("Scheduler.host_bandwidth", self.host_bandwidth, minimum=1e6),
            )

    def core_options(self) -> dict[str, Any]:
        """The simulator's keyword options (of a resolved scheduler)."""
        sp = self.speculative
        return {
            "prefix_cache": self.prefix_cache,
            "preemption": self.preemption,
            "host_bandwidth": self.host_bandwidth or 0.0,
            "expected_tokens": None if sp is None else sp.expected(),
            "draft": None if sp is None or sp.draft is None else cost_view(sp.draft),
        }

    def budget(self, trace: Trace) -> int:
        """Tokens per iteration for ``trace``: ``max_batched_tokens``, or by default the chunk
        budget (chunked) or one that fits the longest prompt a request may (re)compute."""
        if self.max_batched_tokens is not None:
            return self.max_batched_tokens
        longest = int(np.max(trace.input + trace.output - 1))
        return CHUNKED_BUDGET if self.policy == "chunked" else max(WHOLE_BUDGET, longest)

    def resolved(self, model: Model, deployment: Deployment, trace: Trace) -> Scheduler:
        """This scheduler with ``max_batched_tokens`` and ``kv_blocks`` filled in."""
        if self.prefix_cache and trace.prefix_id is None:
            raise invalid(
                "Scheduler.prefix_cache",
                True,
                "a trace with prefix_id and prefix_tokens to cache (this one names no shared "
                "prefixes; a generated Workload never does)",
            )
        draft = None if self.speculative is None else self.speculative.draft
        if draft is not None:
            try:
                deployment.check(draft)
            except ValidationError as e:
                raise invalid(
                    "Speculation.draft",
                    draft.name,
                    f"a draft model that the deployment's layout can run, as the target: {e}",
                ) from e
        budget = self.budget(trace)
        blocks = self.kv_blocks
        if blocks is None:
            try:
                blocks = _core.serving_kv_blocks(
                    cost_view(model),
                    plan_view(deployment),
                    chip_view(deployment),
                    self.block_size,
                    float(budget),
                    draft=self.core_options()["draft"],
                )
            except ValidationError as e:
                if self.max_batched_tokens is not None or budget <= WHOLE_BUDGET:
                    raise
                # the budget grew to fit the longest request: say which one needs the memory
                i = int(np.argmax(trace.input + trace.output))
                raise invalid(
                    "Scheduler.max_batched_tokens",
                    budget,
                    f"a budget whose activations fit: it grew to hold request {i} "
                    f"({int(trace.input[i])} input + {int(trace.output[i])} output tokens), which "
                    f"needs more activation and KV memory than {deployment.hardware.name} leaves "
                    f"beside the weights ({e}); use policy 'chunked' (or a smaller "
                    "max_batched_tokens) or more chips",
                ) from e
        host = self.host_bandwidth
        if host is None:
            host = deployment.hardware.host_bandwidth
        if self.preemption == "swap" and host is None:
            raise invalid(
                "Scheduler.host_bandwidth",
                None,
                f"bytes/s of the host link for swap preemption ({deployment.hardware.name} "
                "has no host_bandwidth in its chip data)",
            )
        return replace(self, max_batched_tokens=budget, kv_blocks=blocks, host_bandwidth=host)


#: Per-request columns of :meth:`ServingResult.to_pandas`, with units.
REQUEST_UNITS = {
    "arrival": "s",
    "input": "tokens",
    "output": "tokens",
    "queueing": "s",
    "ttft": "s",
    "tpot": "s",
    "e2e": "s",
    "preemptions": "count",
}


@dataclass(frozen=True, slots=True)
class ServingResult:
    """A simulated run. Per request (arrays in request order): ``arrival``, ``scheduled``
    (start of its first iteration), ``first_token``, ``finish`` (seconds), ``preemptions``.
    Per iteration (when kept): ``iterations[name]`` for start, seconds, sequences, tokens,
    prefill_tokens, kv_blocks. ``usd_per_s``: the deployment's price per second (0 unknown)."""

    model: str
    deployment: Deployment = field(repr=False)
    scheduler: Scheduler
    input: NDArray[np.uint64] = field(repr=False)
    output: NDArray[np.uint64] = field(repr=False)
    arrival: NDArray[np.float64] = field(repr=False)
    scheduled: NDArray[np.float64] = field(repr=False)
    first_token: NDArray[np.float64] = field(repr=False)
    finish: NDArray[np.float64] = field(repr=False)
    preemptions: NDArray[np.uint32] = field(repr=False)
    iterations: dict[str, NDArray[Any]] = field(repr=False)
    n_iterations: int
    busy: float  #: seconds the replica ran iterations
    busy_prefill: float  #: of which attributable to prefill tokens (by token share)
    peak_kv_blocks: int  #: the most any one replica held
    usd_per_s: float = field(repr=False)
    replicas: int = 1
    #: (prefill replicas, decode replicas) of a disaggregated deployment, else None
    disaggregated: tuple[int, int] | None = None
    #: how arrivals were spread over the replicas
    router: RouterName = "round-robin"
    #: per request, the replica that produced its last token (numbered as the timeline's)
    replica: NDArray[np.uint32] | None = field(default=None, repr=False)
    #: per request, prompt tokens served from the prefix cache (not prefilled); None: unknown
    cached: NDArray[np.uint64] | None = field(default=None, repr=False)
    #: tokens of KV cache moved to host memory and back by swap preemption
    swapped_tokens: int = 0

    # -- per request -----------------------------------------------------------------------

    @property
    def ttft(self) -> NDArray[np.float64]:
        """Time to first token: first token - arrival, seconds."""
        return self.first_token - self.arrival

    @property
    def e2e(self) -> NDArray[np.float64]:
        """End-to-end latency: finish - arrival, seconds."""
        return self.finish - self.arrival

    @property
    def queueing(self) -> NDArray[np.float64]:
        """Wait before the first iteration that runs the request, seconds."""
        return self.scheduled - self.arrival

    @property
    def tpot(self) -> NDArray[np.float64]:
        """Time per output token after the first: (finish - first token) / (output - 1);
        NaN for one-token requests."""
        gaps = self.output.astype(np.float64) - 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(gaps > 0, (self.finish - self.first_token) / gaps, np.nan)

    def percentiles(self, metric: str, qs: tuple[float, ...] = (50, 90, 99)) -> dict[str, float]:
        """``{"p50": ..., ...}`` of ``"ttft"``, ``"tpot"``, ``"e2e"`` or ``"queueing"``."""
        m = choice("metric", metric, ("ttft", "tpot", "e2e", "queueing"))
        x = getattr(self, m)
        x = x[~np.isnan(x)]
        return {f"p{q:g}": (float(np.percentile(x, q)) if len(x) else math.nan) for q in qs}

    # -- aggregates -------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        return len(self.input)

    @property
    def duration(self) -> float:
        """Seconds from the first arrival to the last finish."""
        return float(self.finish.max() - self.arrival.min())

    def _per_s(self, x: float) -> float:
        """``x`` per second of :attr:`duration` (NaN for a run of no measurable length, which
        the arrival bound :data:`MAX_ARRIVAL` keeps from happening in practice)."""
        t = self.duration
        return x / t if t > 0 else math.nan

    @property
    def throughput(self) -> dict[str, float]:
        """Requests/s and input/output tokens/s over :attr:`duration`."""
        return {
            "requests_per_s": self._per_s(self.requests),
            "input_tokens_per_s": self._per_s(float(self.input.sum())),
            "output_tokens_per_s": self._per_s(float(self.output.sum())),
        }

    @property
    def utilisation(self) -> float:
        """Share of :attr:`duration` the replicas spent running iterations (of any size: a
        replica running a one-sequence batch counts as busy)."""
        u = self._per_s(self.busy / self.replicas)
        return u if math.isnan(u) else min(1.0, u)

    def mean_in_flight(self) -> float:
        """Time-average number of requests in the system (arrived, not finished) over
        :attr:`duration`."""
        return self._per_s(float(self.e2e.sum()))

    def slo_met(self, ttft: float | None = None, tpot: float | None = None) -> NDArray[np.bool_]:
        """Per request: TTFT <= ``ttft`` and TPOT <= ``tpot`` seconds (None: no bound)."""
        ok = np.ones(self.requests, dtype=bool)
        if ttft is not None:
            ok &= self.ttft <= real("slo ttft", ttft, strict=True)
        if tpot is not None:
            bound = real("slo tpot", tpot, strict=True)
            tp = self.tpot
            ok &= np.isnan(tp) | (tp <= bound)
        return ok

    def goodput(self, ttft: float | None = None, tpot: float | None = None) -> float:
        """Requests/s that meet the SLO (:meth:`slo_met`), over :attr:`duration`."""
        return self._per_s(float(self.slo_met(ttft, tpot).sum()))

    @property
    def cost_per_million_tokens(self) -> dict[str, float] | None:
        """USD per 1M input and per 1M output tokens at this load: the replica's cost over
        :attr:`duration` (idle time included), split between input and output tokens by each
        iteration's token share. None when the price is unknown."""
        if self.usd_per_s <= 0:
            return None
        total = self.usd_per_s * self.duration
        share = self.busy_prefill / self.busy if self.busy > 0 else 0.0
        return {
            "input": total * share / float(self.input.sum()) * 1e6,
            "output": total * (1.0 - share) / float(self.output.sum()) * 1e6,
        }

    def summary(
        self, slo_ttft: float | None = None, slo_tpot: float | None = None
    ) -> dict[str, Any]:
        """Everything in one dict (seconds, tokens/s, USD): what ``--json`` prints."""
        out: dict[str, Any] = {
            "model": self.model,
            "hardware": self.deployment.hardware.name,
            "tp": self.deployment.tp,
            "pp": self.deployment.pp,
            "ep": self.deployment.ep,
            "replicas": self.replicas,
            "router": self.router,
            "disaggregated": None
            if self.disaggregated is None
            else {"prefill": self.disaggregated[0], "decode": self.disaggregated[1]},
            "scheduler": self.scheduler.policy,
            "max_seqs": self.scheduler.max_seqs,
            "max_batched_tokens": self.scheduler.max_batched_tokens,
            "kv_blocks": self.scheduler.kv_blocks,
            "block_size": self.scheduler.block_size,
            "requests": self.requests,
            "duration_s": self.duration,
            "iterations": self.n_iterations,
            "utilisation": self.utilisation,
            "peak_kv_blocks": self.peak_kv_blocks,
            "preemptions": int(self.preemptions.sum()),
            **{f"{k}": v for k, v in self.throughput.items()},
            **{f"{m}_s": self.percentiles(m) for m in ("ttft", "tpot", "e2e", "queueing")},
            "usd_per_million_tokens": self.cost_per_million_tokens,
        }
        sp = self.scheduler.speculative
        out |= {
            "prefix_cache": self.scheduler.prefix_cache,
            "preemption": self.scheduler.preemption,
            "speculative": None
            if sp is None
            else {
                "draft_tokens": sp.draft_tokens,
                "acceptance": sp.acceptance,
                "draft": None if sp.draft is None else sp.draft.name,
            },
            "cached_tokens": 0 if self.cached is None else int(self.cached.sum()),
            "swapped_tokens": self.swapped_tokens,
        }
        if slo_ttft is not None or slo_tpot is not None:
            out["slo"] = {"ttft_s": slo_ttft, "tpot_s": slo_tpot}
            out["goodput_requests_per_s"] = self.goodput(slo_ttft, slo_tpot)
            out["slo_attainment"] = float(self.slo_met(slo_ttft, slo_tpot).mean())
        return out

    def plot(self, path: str | Path | None = None) -> Any:
        """Latency CDFs (TTFT, TPOT, end-to-end) and batch size and KV occupancy over time
        (of replica 0; needs ``timeline=True`` and matplotlib); saved to ``path`` if given."""
        from .plot import finish, pyplot

        if "start" not in self.iterations or not len(self.iterations["start"]):
            raise invalid("ServingResult.iterations", "empty", "a run simulated with timeline=True")
        plt = pyplot()
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
        for m in ("ttft", "tpot", "e2e"):
            x = np.sort(getattr(self, m))
            x = x[~np.isnan(x)]
            if len(x):
                a1.semilogx(
                    x, np.arange(1, len(x) + 1) / len(x), label=m.upper(), drawstyle="steps-post"
                )
        a1.set_xlabel("seconds")
        a1.set_ylabel("fraction of requests")
        a1.grid(True, which="both", alpha=0.3)
        a1.legend(fontsize=8)
        it = {k: v[self.iterations["replica"] == 0] for k, v in self.iterations.items()}
        a2.step(it["start"], it["sequences"], where="post", lw=0.8, label="sequences per iteration")
        a2.set_xlabel("time (s)")
        a2.set_ylabel("sequences")
        kv = a2.twinx()
        assert self.scheduler.kv_blocks is not None
        kv.plot(it["start"], it["kv_blocks"] / self.scheduler.kv_blocks * 100, color="C1", lw=0.8)
        kv.set_ylabel("KV cache used (%)", color="C1")
        kv.set_ylim(0, 105)
        a2.legend(fontsize=8, loc="upper left")
        d = self.deployment
        fig.suptitle(
            f"{self.model} on {d.chips}x {d.hardware.name} (TP{d.tp} PP{d.pp} EP{d.ep}), "
            f"{self.scheduler.policy} batching, {self.requests:,} requests"
            f"{f' on {self.replicas} replicas (timeline: replica 0)' if self.replicas > 1 else ''}, "
            f"{self.throughput['requests_per_s']:.3g} req/s served",
            fontsize=10,
        )
        return finish(fig, path)

    def to_pandas(self) -> Any:
        """One row per request (:data:`REQUEST_UNITS`; units in ``.attrs["units"]``)."""
        try:
            pd = importlib.import_module("pandas")
        except ImportError as e:
            from .errors import BrickwallError

            raise BrickwallError(
                "ServingResult.to_pandas needs pandas: pip install 'brickwall[pandas]'"
            ) from e
        df = pd.DataFrame(
            {
                "arrival": self.arrival,
                "input": self.input,
                "output": self.output,
                "queueing": self.queueing,
                "ttft": self.ttft,
                "tpot": self.tpot,
                "e2e": self.e2e,
                "preemptions": self.preemptions,
            }
        )
        df.index.name = "request"
        df.attrs["units"] = dict(REQUEST_UNITS)
        return df


def _trace(workload: Workload | Trace) -> Trace:
    if isinstance(workload, Workload):
        return workload.draw()
    if isinstance(workload, Trace):
        return workload
    raise wrong_type("workload", workload, "a Workload or a Trace")


def _check(
    model: Model, deployment: Deployment, scheduler: Scheduler | None, timeline: bool
) -> Scheduler:
    if not isinstance(model, Model):
        raise wrong_type("model", model, "a Model (e.g. bw.model(name))")
    if not isinstance(deployment, Deployment):
        raise wrong_type("deployment", deployment, "a Deployment")
    if scheduler is None:
        scheduler = Scheduler()
    elif not isinstance(scheduler, Scheduler):
        raise wrong_type("scheduler", scheduler, "a Scheduler")
    if not isinstance(timeline, bool):
        raise wrong_type("timeline", timeline, "True or False")
    deployment.check(model)
    return scheduler


def _prefixes(trace: Trace, part: slice) -> dict[str, Any]:
    if trace.prefix_id is None or trace.prefix_tokens is None:
        return {}
    return {
        "prefix_id": np.ascontiguousarray(trace.prefix_id[part]),
        "prefix_tokens": np.ascontiguousarray(trace.prefix_tokens[part]),
    }


def _run(
    model: Model,
    deployment: Deployment,
    trace: Trace,
    s: Scheduler,
    replicas: int,
    router: str,
    timeline: bool,
    decode: int = 0,
) -> ServingResult:
    """The core's pool (``decode > 0``: disaggregated, ``replicas`` prefill replicas) as a
    :class:`ServingResult`."""
    assert s.max_batched_tokens is not None and s.kv_blocks is not None
    raw = _core.serving_simulate_pool(
        cost_view(model),
        plan_view(deployment),
        chip_view(deployment),
        trace.input,
        trace.output,
        trace.arrival,
        trace.clients or 1,
        trace.think,
        s.policy,
        s.max_seqs,
        s.max_batched_tokens,
        s.block_size,
        s.kv_blocks,
        timeline,
        None,
        replicas,
        router,
        decode,
        **_prefixes(trace, slice(None)),
        **s.core_options(),
    )
    return ServingResult(
        model=model.name,
        deployment=deployment,
        scheduler=s,
        input=trace.input,
        output=trace.output,
        arrival=raw["arrival"],
        scheduled=raw["scheduled"],
        first_token=raw["first_token"],
        finish=raw["finish"],
        preemptions=raw["preemptions"],
        iterations={k[3:]: v for k, v in raw.items() if k.startswith("it_")},
        n_iterations=int(raw["iterations"]),
        busy=float(raw["busy"]),
        busy_prefill=float(raw["busy_prefill"]),
        peak_kv_blocks=int(raw["peak_kv_blocks"]),
        usd_per_s=float(raw["usd_per_s"]),
        replicas=replicas + decode,
        disaggregated=(replicas, decode) if decode else None,
        router=router,  # type: ignore[arg-type]  # validated by the caller
        replica=raw["replica"],
        cached=raw.get("cached"),
        swapped_tokens=int(raw.get("swapped_tokens", 0)),
    )


def simulate(
    model: Model,
    deployment: Deployment,
    workload: Workload | Trace,
    scheduler: Scheduler | None = None,
    *,
    replicas: int = 1,
    router: RouterName = "round-robin",
    timeline: bool = True,
) -> ServingResult:
    """Serve ``workload`` on ``replicas`` replicas of ``model`` on ``deployment`` (the core's
    discrete-event simulator; GIL released, Ctrl-C honoured). Several replicas sit behind a
    ``router`` (open workloads only): ``"round-robin"`` sends request ``i`` to replica
    ``i mod replicas``; ``"least-loaded"`` sends each arrival to the replica with the fewest
    requests in flight at its arrival (ties: the lowest index), the replicas advanced together.
    ``timeline`` keeps the per-iteration arrays (batch size and KV occupancy over time; a
    ``replica`` column says whose)."""
    scheduler = _check(model, deployment, scheduler, timeline)
    n_rep = integer("replicas", replicas, maximum=1 << 20)
    router = choice("router", router, ROUTERS)  # type: ignore[assignment]
    trace = _trace(workload)
    if n_rep > 1 and trace.arrival is None:
        raise invalid("replicas", n_rep, "1 for a closed loop (routers split open traffic)")
    s = scheduler.resolved(model, deployment, trace)
    return _run(model, deployment, trace, s, n_rep, router, timeline)


def simulate_disaggregated(
    model: Model,
    deployment: Deployment,
    workload: Workload | Trace,
    prefill_replicas: int,
    decode_replicas: int,
    scheduler: Scheduler | None = None,
    *,
    router: RouterName = "round-robin",
    timeline: bool = True,
) -> ServingResult:
    """Disaggregated serving (DistServe, Splitwise): ``prefill_replicas`` replicas only prefill
    (each request's first token comes from there), then its prompt's KV cache moves over the
    scale-out network (a point-to-point transfer per chip, priced by the collectives kernel) to
    ``decode_replicas`` replicas that only decode. Both pools use ``deployment``'s layout,
    ``scheduler`` and ``router``, in arrival order (at the decode pool: when the cache has
    moved). Timeline replicas are numbered prefill first, then decode."""
    scheduler = _check(model, deployment, scheduler, timeline)
    x = integer("prefill_replicas", prefill_replicas, maximum=1 << 20)
    y = integer("decode_replicas", decode_replicas, maximum=1 << 20)
    router = choice("router", router, ROUTERS)  # type: ignore[assignment]
    trace = _trace(workload)
    if trace.arrival is None:
        raise invalid("workload", "a closed loop", "open traffic (arrival times) to disaggregate")
    s = scheduler.resolved(model, deployment, trace)
    return _run(model, deployment, trace, s, x, router, timeline, decode=y)


@dataclass(frozen=True, slots=True)
class Capacity:
    """:func:`max_rate`'s answer: the largest request rate (requests/s) whose ``quantile``-th
    percentile TTFT and TPOT meet the SLO, and the run at that rate (None when even the lowest
    rate tried fails it; then ``rate`` is 0)."""

    rate: float
    result: ServingResult | None = field(repr=False)
    slo_ttft: float | None
    slo_tpot: float | None
    quantile: float
    evaluations: int


def _meets(r: ServingResult, ttft: float | None, tpot: float | None, q: float) -> bool:
    ok = True
    if ttft is not None:
        ok = r.percentiles("ttft", (q,))[f"p{q:g}"] <= ttft
    if ok and tpot is not None:
        p = r.percentiles("tpot", (q,))[f"p{q:g}"]
        ok = math.isnan(p) or p <= tpot
    return ok


def max_rate(
    model: Model,
    deployment: Deployment,
    workload: Workload,
    *,
    ttft: float | None = None,
    tpot: float | None = None,
    scheduler: Scheduler | None = None,
    replicas: int = 1,
    quantile: float = 99.0,
    rel_tol: float = 0.01,
    router: RouterName = "round-robin",
) -> Capacity:
    """The largest arrival rate at which ``workload`` (its lengths, arrival process and seed;
    its own rate is ignored) meets p``quantile`` TTFT <= ``ttft`` and TPOT <= ``tpot`` seconds,
    on ``replicas`` replicas of ``deployment`` behind ``router``, by bisection in log-rate to
    ``rel_tol``. With one seed the Poisson/gamma gaps are the same draws scaled by
    ``1 / rate``, so the runs differ only by the load. The search starts from the offline
    batch's throughput (what the replica can serve at all). As in :func:`search`, a rate
    counts only if the run also finishes the requests at no less than :data:`OVERLOAD` x the
    rate: a short run's backlog can meet the SLO at a rate the deployment cannot sustain."""
    if not isinstance(workload, Workload):
        raise wrong_type("workload", workload, "a Workload")
    if workload.clients is not None:
        raise invalid(
            "workload.clients", workload.clients, "None (an open workload) to search a rate"
        )
    if ttft is None and tpot is None:
        raise invalid("ttft, tpot", (ttft, tpot), "at least one SLO")
    if ttft is not None:
        ttft = real("ttft", ttft, strict=True)
    if tpot is not None:
        tpot = real("tpot", tpot, strict=True)
    q = real("quantile", quantile, strict=True, maximum=100.0)
    tol = real("rel_tol", rel_tol, minimum=1e-6, maximum=1.0)
    router = choice("router", router, ROUTERS)  # type: ignore[assignment]
    runs = 0

    def run(rate: float) -> ServingResult:
        nonlocal runs
        runs += 1
        w = replace(workload, rate=rate)
        return simulate(
            model, deployment, w, scheduler, replicas=replicas, router=router, timeline=False
        )

    def ok(r: ServingResult, rate: float) -> bool:
        return _meets(r, ttft, tpot, q) and _keeps_up(len(r.input), r.duration, rate)

    offline = run(math.inf)
    top = 2.0 * offline.throughput["requests_per_s"]
    lo, hi = top * 1e-3, top
    best = run(lo)
    if not ok(best, lo):
        return Capacity(0.0, None, ttft, tpot, q, runs)
    at_hi = run(hi)
    if ok(at_hi, hi):
        return Capacity(hi, at_hi, ttft, tpot, q, runs)
    while hi / lo > 1.0 + tol:
        mid = math.sqrt(lo * hi)
        r = run(mid)
        if ok(r, mid):
            lo, best = mid, r
        else:
            hi = mid
    return Capacity(lo, best, ttft, tpot, q, runs)


# -- capacity: the cheapest deployment for a rate, and latency against rate --------------------
#
# search() tries every deployment of the candidate axes (chips, tp, pp, ep; replica counts for
# aggregated serving, prefill:decode splits for disaggregated serving) on the same seeded
# traffic at the target rate, in the core on rayon's threads (or split over an executor), and
# ranks those whose percentile TTFT and TPOT meet the SLO by cost. Candidates that cannot run
# are skipped exactly before any simulation. rate_curve() serves one deployment at a range of
# rates.

#: A candidate meeting the SLO counts as serving the rate only if it finished the requests at
#: no less than this share of the offered rate (requests / (last finish - first arrival)):
#: with finitely many requests a backlog can still meet the SLO - all of them at once fit one
#: batch - so a run slower than this either cannot keep up or is too short to show the rate
#: (status "overloaded"; more requests decide).
OVERLOAD = 0.5


def slo_text(quantile: float, ttft: float | None, tpot: float | None) -> str:
    """``"p99 TTFT <= 2 s and TPOT <= 0.05 s"``, naming only the bounds given."""
    return " and ".join(
        f"p{quantile:g} {name} <= {v:g} s"
        for name, v in (("TTFT", ttft), ("TPOT", tpot))
        if v is not None
    )


def _keeps_up(requests: int, duration: float, rate: float) -> bool:
    """Whether a run finished its ``requests`` within ``duration`` seconds at no less than
    :data:`OVERLOAD` x the offered ``rate``."""
    return requests >= OVERLOAD * rate * duration


#: What became of a candidate, by the core's status code (search adds "overloaded").
STATUS = (
    "met",
    "missed",
    "bad plan",
    "no memory for a KV cache",
    "KV cache too small",
    "no network",
    "no host link",
)


def _host(s: Scheduler, d: Deployment) -> float:
    """Bytes/s of a candidate's host link per chip (0: unknown): the scheduler's, else its chip's."""
    host = s.host_bandwidth if s.host_bandwidth is not None else d.hardware.host_bandwidth
    return host or 0.0


# Searches (by id) whose caller was interrupted: their parts on executor threads of this
# process stop at the core's next progress poll (only the main thread sees Ctrl-C).
_CANCELLED: set[int] = set()
_TOKENS = itertools.count(1)


class _Cancelled(Exception):
    """Raised inside a cancelled part to stop its core call."""


@dataclass(frozen=True, slots=True)
class _SearchCall:
    """One search's core arguments (picklable, so executors can run parts)."""

    model: Any
    candidates: list[tuple[Any, Any, int, int, float]]
    input: NDArray[np.uint64]
    output: NDArray[np.uint64]
    arrival: NDArray[np.float64]
    policy: str
    max_seqs: int
    max_batched_tokens: int
    block_size: int
    kv_blocks: int | None
    router: str
    quantile: float
    slo_ttft: float
    slo_tpot: float
    preemption: str
    expected_tokens: NDArray[np.float64] | None
    draft: Any

    def run(
        self, lo: int, hi: int, progress: Callable[[int], None] | None = None
    ) -> dict[str, NDArray[Any]]:
        return _core.serving_search(
            self.model,
            self.candidates[lo:hi],
            self.input,
            self.output,
            self.arrival,
            self.policy,
            self.max_seqs,
            self.max_batched_tokens,
            self.block_size,
            self.kv_blocks,
            self.router,
            self.quantile,
            self.slo_ttft,
            self.slo_tpot,
            preemption=self.preemption,
            expected_tokens=self.expected_tokens,
            draft=self.draft,
            progress=progress,
        )


def _run_part(call: _SearchCall, lo: int, hi: int, token: int = 0) -> dict[str, NDArray[Any]]:
    """One executor worker's share of the candidates."""

    def poll(_done: int) -> None:
        if token in _CANCELLED:
            raise _Cancelled

    return call.run(lo, hi, poll)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """:func:`search`'s answer. ``rows``: one dict per candidate, those meeting the SLO first,
    cheapest first (by ``rank_by``), then those simulated that missed it, then those skipped
    (``status`` says why). ``deployments``: the rows meeting the SLO; ``best``: the cheapest (None
    when no candidate meets it; ``message`` then says so)."""

    model: str
    rate: float
    slo_ttft: float | None
    slo_tpot: float | None
    quantile: float
    rank_by: str
    rows: list[dict[str, Any]] = field(repr=False)
    candidates: int
    simulated: int
    seconds: float

    @property
    def deployments(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "met"]

    @property
    def best(self) -> dict[str, Any] | None:
        d = self.deployments
        return d[0] if d else None

    @property
    def message(self) -> str:
        slo = slo_text(self.quantile, self.slo_ttft, self.slo_tpot)
        met = len(self.deployments)
        over = sum(1 for r in self.rows if r["status"] == "overloaded")
        if over:
            slo += (
                f" ({over} more met it but finished below {OVERLOAD:g}x the rate: overloaded, "
                "or too few requests to show it)"
            )
        if met:
            b = self.best
            assert b is not None
            return (
                f"{met} of {self.candidates} deployments serve {self.rate:g} req/s within {slo}; "
                f"the cheapest: {b['layout']} ${b['usd_per_hour']:.4g}/h"
            )
        why = (
            f"{self.simulated} simulated, none meets it"
            if self.simulated
            else "none could run (see each row's status)"
        )
        return (
            f"no deployment serves {self.rate:g} req/s within {slo}: {self.candidates} "
            f"candidates, {why}; relax the SLO, lower the rate or widen the candidates"
        )

    def to_pandas(self) -> Any:
        """One row per candidate (without the Deployment objects)."""
        try:
            pd = importlib.import_module("pandas")
        except ImportError as e:
            raise BrickwallError(
                "SearchResult.to_pandas needs pandas: pip install 'brickwall[pandas]'"
            ) from e
        return pd.DataFrame([{k: v for k, v in r.items() if k != "deployment"} for r in self.rows])


def _axis(name: str, x: Any) -> list[int]:
    xs = list(x) if isinstance(x, (list, tuple, range)) else [x]
    if not xs:
        raise invalid(name, "[]", "at least one value")
    return [integer(name, v, maximum=1 << 20) for v in xs]


def _splits(x: Any) -> list[tuple[int, int]]:
    if isinstance(x, str) or (isinstance(x, tuple) and x and not isinstance(x[0], (tuple, str))):
        x = [x]  # one split: "1:1" or (1, 1), not its characters or numbers
    if not isinstance(x, (list, tuple)):
        raise wrong_type("disaggregated", x, "a list of (prefill, decode) pairs or 'X:Y' strings")
    out = []
    for s in x:
        if isinstance(s, str):
            parts = s.split(":")
            try:
                s = (int(parts[0]), int(parts[1])) if len(parts) == 2 else None
            except ValueError:
                s = None
        if isinstance(s, list):
            s = tuple(s)
        if not (isinstance(s, tuple) and len(s) == 2):
            raise invalid("disaggregated", s, "(prefill, decode) pairs or 'X:Y' strings")
        out.append(
            (
                integer("disaggregated prefill", s[0], maximum=1 << 20),
                integer("disaggregated decode", s[1], maximum=1 << 20),
            )
        )
    return out


def search(
    model: Model,
    workload: Workload,
    *,
    rate: float,
    slo_ttft: float | None = None,
    slo_tpot: float | None = None,
    chips: Sequence[str | Hardware] | str | Hardware = ("H100-SXM",),
    tp: int | Sequence[int] = (1, 2, 4, 8),
    pp: int | Sequence[int] = 1,
    ep: int | Sequence[int] = 1,
    replicas: int | Sequence[int] = (1, 2, 4, 8),
    disaggregated: Sequence[tuple[int, int] | str] = (),
    scheduler: Scheduler | None = None,
    router: RouterName = "round-robin",
    quantile: float = 99.0,
    rank_by: str = "hour",
    executor: Executor | None = None,
    parts: int | None = None,
    **deployment: Any,
) -> SearchResult:
    """The cheapest deployments serving ``workload`` at ``rate`` requests/s within the SLO
    (p``quantile`` TTFT <= ``slo_ttft`` and TPOT <= ``slo_tpot`` seconds; give at least one).

    Candidates: every chip in ``chips`` (catalog names or :class:`~brickwall.Hardware`) x
    ``tp`` x ``pp`` x ``ep`` layout (an int is one value), served by each count in
    ``replicas`` (aggregated, behind ``router``; ``()`` for none) and by each ``(prefill,
    decode)`` split in ``disaggregated`` (``"2:6"`` strings too). Other keyword arguments
    (``weight_dtype``, ``price_per_hour``, ...) go to every :class:`~brickwall.Deployment`; a
    chip needs a price (the catalog's or ``price_per_hour``) to be ranked. Every candidate serves
    the same requests: the workload's lengths, arrival process and seed at ``rate`` (its own
    rate is ignored; a closed loop of clients is refused). ``scheduler``: any options but the
    prefix cache (a generated workload shares no prefixes): swap preemption runs over each
    chip's host link (``Scheduler.host_bandwidth``, else the chip's; a chip without one is
    skipped as ``"no host link"``) and a speculative draft model is laid out as each candidate's
    model, its steps priced and its memory charged.

    Returns a :class:`SearchResult`: ``best`` (the cheapest meeting the SLO, or None),
    ``deployments`` (all that meet it, cheapest first), ``rows`` (every candidate with its
    ``status``: met, missed, overloaded, or why it could not run) and ``message``. Those that
    meet the SLO rank by ``rank_by``: ``"hour"`` (USD per hour of the whole deployment) or
    ``"token"`` (USD per 1M input + output tokens at this load), ties broken by the other. A
    candidate meeting the SLO but finishing the requests below :data:`OVERLOAD` x ``rate`` is
    ``"overloaded"``, not met: a finite run's backlog can meet the SLO while the deployment
    cannot sustain the rate. ``executor``: any concurrent.futures.Executor (e.g. Dask's); the
    candidates are split into ``parts`` (default 8) shares.
    """
    t0 = time.perf_counter()
    if not isinstance(model, Model):
        raise wrong_type("model", model, "a Model (e.g. bw.model(name))")
    if not isinstance(workload, Workload):
        raise wrong_type("workload", workload, "a Workload")
    if workload.clients is not None:
        raise invalid("workload.clients", workload.clients, "None: a search needs open traffic")
    r = real("rate", rate, strict=True)
    low = workload.requests / (MAX_ARRIVAL / 2)
    if r < low:
        raise invalid(
            "rate",
            r,
            f">= {low:.3g} req/s for {workload.requests} requests (arrivals within 2^32 s, "
            "where times still resolve microseconds)",
        )
    if slo_ttft is None and slo_tpot is None:
        raise invalid("slo_ttft, slo_tpot", (slo_ttft, slo_tpot), "at least one SLO")
    ttft = math.inf if slo_ttft is None else real("slo_ttft", slo_ttft, strict=True)
    tpot = math.inf if slo_tpot is None else real("slo_tpot", slo_tpot, strict=True)
    q = real("quantile", quantile, strict=True, maximum=100.0)
    rank_by = choice("rank_by", rank_by, ("hour", "token"))
    router = choice("router", router, ROUTERS)  # type: ignore[assignment]
    if scheduler is None:
        scheduler = Scheduler()
    elif not isinstance(scheduler, Scheduler):
        raise wrong_type("scheduler", scheduler, "a Scheduler")
    if scheduler.prefix_cache:
        raise invalid(
            "scheduler.prefix_cache",
            True,
            "False: a generated Workload shares no prefixes to cache (simulate a Trace with "
            "prefix_id and prefix_tokens on a chosen deployment instead)",
        )
    hws = list(chips) if isinstance(chips, (list, tuple)) else [chips]
    if not hws:
        raise invalid("chips", "[]", "at least one chip")
    tps, pps, eps = _axis("tp", tp), _axis("pp", pp), _axis("ep", ep)
    reps = [] if replicas == () else _axis("replicas", replicas)
    splits = _splits(disaggregated)
    if not reps and not splits:
        raise invalid("replicas, disaggregated", "()", "at least one replica count or split")
    trace = replace(workload, rate=r).draw()
    assert trace.arrival is not None
    tokens = float(trace.input.sum() + trace.output.sum())
    n_req = len(trace)

    layouts: list[tuple[Deployment, str | None]] = []  # a deployment, or why it cannot run
    for hw in hws:
        for t, p, e in itertools.product(tps, pps, eps):
            d = Deployment(hw, tp=t, pp=p, ep=e, **deployment)  # type: ignore[arg-type]
            if d.chip_price_per_hour is None:
                raise invalid(
                    "price_per_hour",
                    None,
                    f"a price for {d.hardware.name} (the catalog has none) to rank by cost",
                )
            draft = None if scheduler.speculative is None else scheduler.speculative.draft
            try:
                d.check(model)
                if draft is not None:
                    d.check(draft)
                layouts.append((d, None))
            except ValidationError as err:
                layouts.append((d, f"bad plan: {err}"))
    cands: list[tuple[Deployment, int, int, str | None]] = [
        (d, x, y, why) for d, why in layouts for x, y in [(n, 0) for n in reps] + splits
    ]
    runnable = [i for i, c in enumerate(cands) if c[3] is None]
    views: dict[int, tuple[Any, Any]] = {}
    for d, _, _, why in cands:
        if why is None and id(d) not in views:
            views[id(d)] = (plan_view(d), chip_view(d))
    call = _SearchCall(
        cost_view(model),
        [
            (*views[id(cands[i][0])], cands[i][1], cands[i][2], _host(scheduler, cands[i][0]))
            for i in runnable
        ],
        trace.input,
        trace.output,
        trace.arrival,
        scheduler.policy,
        scheduler.max_seqs,
        scheduler.budget(trace),
        scheduler.block_size,
        scheduler.kv_blocks,
        router,
        q,
        ttft,
        tpot,
        scheduler.preemption,
        scheduler.core_options()["expected_tokens"],
        scheduler.core_options()["draft"],
    )
    n = len(runnable)
    if executor is None:
        cols = call.run(0, n)
    else:
        executor = checked(
            executor, keys=("status", "kv_blocks", "ttft", "tpot", "duration", "busy", "usd_per_s")
        )
        k = 8 if parts is None else integer("parts", parts, maximum=1 << 16)
        step = max(1, -(-n // k))
        token = next(_TOKENS)
        futures = [
            executor.submit(_run_part, call, a, min(a + step, n), token) for a in range(0, n, step)
        ]
        try:
            got = [f.result() for f in futures]
        except BaseException:
            _CANCELLED.add(token)
            for f in futures:
                f.cancel()
            raise
        cols = (
            {key: np.concatenate([g[key] for g in got]) for key in got[0]}
            if got
            else call.run(0, 0)
        )
    rows: list[dict[str, Any]] = []
    verdict = dict(zip(runnable, range(n), strict=True))
    for i, (d, x, y, why) in enumerate(cands):
        per_replica = d.chips
        row: dict[str, Any] = {
            "hardware": d.hardware.name,
            "tp": d.tp,
            "pp": d.pp,
            "ep": d.ep,
            "replicas": x if y == 0 else None,
            "prefill": x if y else None,
            "decode": y if y else None,
            "layout": f"{x}x TP{d.tp} PP{d.pp} EP{d.ep} {d.hardware.name}"
            if y == 0
            else f"{x}P:{y}D TP{d.tp} PP{d.pp} EP{d.ep} {d.hardware.name}",
            "chips": per_replica * (x + y),
            "usd_per_hour": (d.chip_price_per_hour or 0.0) * per_replica * (x + y),
            "deployment": d,
        }
        j = verdict.get(i)
        if j is None:
            row.update(status=why, kv_blocks=None, ttft_s=math.nan, tpot_s=math.nan)
            row["usd_per_million_tokens"] = math.nan
        else:
            code = int(cols["status"][j])
            status = STATUS[code]
            duration = float(cols["duration"][j])
            if status == "met" and not _keeps_up(n_req, duration, r):
                status = "overloaded"
            row.update(
                status=status,
                kv_blocks=int(cols["kv_blocks"][j]) or None,
                ttft_s=float(cols["ttft"][j]),
                tpot_s=float(cols["tpot"][j]),
                usd_per_million_tokens=float(cols["usd_per_s"][j] * cols["duration"][j])
                / tokens
                * 1e6,
            )
        rows.append(row)
    key, other = ("usd_per_hour", "usd_per_million_tokens")[:: 1 if rank_by == "hour" else -1]
    order = {"met": 0, "missed": 1, "overloaded": 1}
    rows.sort(
        key=lambda w: (
            order.get(w["status"], 2),
            (w[key], w[other]) if w["status"] == "met" else (0.0, 0.0),
        )
    )
    simulated = sum(1 for w in rows if w["status"] in order)
    return SearchResult(
        model.name,
        r,
        slo_ttft,
        slo_tpot,
        q,
        rank_by,
        rows,
        len(cands),
        simulated,
        time.perf_counter() - t0,
    )


@dataclass(frozen=True, slots=True)
class RateCurve:
    """:func:`rate_curve`'s answer: per request rate (requests/s) the percentiles of TTFT,
    TPOT and end-to-end latency (seconds), the throughput served and the utilisation."""

    model: str
    deployment: Deployment = field(repr=False)
    label: str
    slo_ttft: float | None
    slo_tpot: float | None
    columns: dict[str, NDArray[np.float64]] = field(repr=False)

    @property
    def rates(self) -> NDArray[np.float64]:
        return self.columns["rate"]

    def to_pandas(self) -> Any:
        try:
            pd = importlib.import_module("pandas")
        except ImportError as e:
            raise BrickwallError(
                "RateCurve.to_pandas needs pandas: pip install 'brickwall[pandas]'"
            ) from e
        return pd.DataFrame(self.columns)

    def plot(self, path: str | Path | None = None) -> Any:
        """TTFT and TPOT (p50, p99) against the request rate, the SLO dashed; saved to ``path``
        if given (needs matplotlib)."""
        from .plot import finish, pyplot

        plt = pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        c = self.columns
        for ax, metric, slo, unit in (
            (axes[0], "ttft", self.slo_ttft, "time to first token"),
            (axes[1], "tpot", self.slo_tpot, "time per output token"),
        ):
            for qn, style in (("p50", "-o"), ("p99", "-s")):
                ax.semilogy(c["rate"], c[f"{metric}_{qn}"], style, ms=3, label=qn)
            if slo is not None:
                ax.axhline(slo, color="k", ls="--", lw=0.8, label=f"SLO {slo:g} s")
            ax.set_xlabel("request rate (req/s)")
            ax.set_ylabel(f"{unit} (s)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(f"{self.model} on {self.label}", fontsize=10)
        return finish(fig, path)


def rate_curve(
    model: Model,
    deployment: Deployment,
    workload: Workload,
    rates: Sequence[float] | NDArray[np.float64] | None = None,
    *,
    scheduler: Scheduler | None = None,
    replicas: int = 1,
    router: RouterName = "round-robin",
    disaggregated: tuple[int, int] | None = None,
    points: int = 12,
    slo_ttft: float | None = None,
    slo_tpot: float | None = None,
) -> RateCurve:
    """Serve ``workload`` (its lengths, arrival process and seed) at each of ``rates``
    requests/s (None: ``points`` rates spaced geometrically from 5% to 100% of the offline
    batch's throughput on this deployment). ``disaggregated``: a ``(prefill, decode)`` split
    instead of ``replicas``. The SLO only draws its lines on the plot."""
    if not isinstance(workload, Workload):
        raise wrong_type("workload", workload, "a Workload")
    if workload.clients is not None:
        raise invalid("workload.clients", workload.clients, "None: a rate curve needs open traffic")

    def run(rate: float) -> ServingResult:
        w = replace(workload, rate=rate)
        if disaggregated is None:
            return simulate(
                model, deployment, w, scheduler, replicas=replicas, router=router, timeline=False
            )
        return simulate_disaggregated(
            model, deployment, w, *disaggregated, scheduler, router=router, timeline=False
        )

    if disaggregated is not None:
        (x, y), *_ = _splits([disaggregated])
        disaggregated = (x, y)
    if rates is None:
        n = integer("points", points, minimum=2, maximum=1000)
        top = run(math.inf).throughput["requests_per_s"]
        grid = np.geomspace(0.05, 1.0, n) * top
    else:
        grid = np.asarray(rates, dtype=np.float64).ravel()
        if not len(grid):
            raise invalid("rates", "[]", "at least one rate")
        for v in grid:
            real("rates", float(v), strict=True)
    cols: dict[str, list[float]] = {
        k: []
        for k in (
            "rate",
            "ttft_p50",
            "ttft_p99",
            "tpot_p50",
            "tpot_p99",
            "e2e_p50",
            "e2e_p99",
            "requests_per_s",
            "utilisation",
        )
    }
    last: ServingResult | None = None
    for rate in grid:
        res = run(float(rate))
        last = res
        cols["rate"].append(float(rate))
        for m in ("ttft", "tpot", "e2e"):
            p = res.percentiles(m, (50, 99))
            cols[f"{m}_p50"].append(p["p50"])
            cols[f"{m}_p99"].append(p["p99"])
        cols["requests_per_s"].append(res.throughput["requests_per_s"])
        cols["utilisation"].append(res.utilisation)
    assert last is not None
    d = deployment
    where = (
        f"{disaggregated[0]}P:{disaggregated[1]}D replicas of "
        if disaggregated
        else f"{replicas} replicas of "
        if replicas > 1
        else ""
    ) + f"{d.chips}x {d.hardware.name} (TP{d.tp} PP{d.pp} EP{d.ep}), {last.scheduler.policy}"
    return RateCurve(
        model.name,
        deployment,
        where,
        slo_ttft,
        slo_tpot,
        {k: np.asarray(v) for k, v in cols.items()},
    )


__all__ = [
    "Capacity",
    "Lengths",
    "POLICIES",
    "ROUTERS",
    "RateCurve",
    "Scheduler",
    "STATUS",
    "SearchResult",
    "ServingResult",
    "Speculation",
    "Trace",
    "Workload",
    "max_rate",
    "rate_curve",
    "search",
    "simulate",
    "simulate_disaggregated",
]
