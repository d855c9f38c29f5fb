"""Massive parameter sweeps: which deployment is best, over millions to billions of configurations.

:func:`sweep` takes axes (hardware, tensor/pipeline/expert degrees, weight and KV dtypes, batch,
context), builds one roofline kernel per valid (hardware, tp, pp, ep, dtypes) combination - the
same kernel as :func:`brickwall.decode` - and hands the grid to the Rust core, which enumerates
``combinations x batch x context`` by index (never materialised), evaluates it in fixed-size
chunks on all cores, filters by :class:`Constraints` and keeps an exact streaming Pareto frontier,
the top k, or (small grids) every row. Memory is O(frontier), not O(grid). Rows it can prove
infeasible or beaten are counted, not computed: batches larger than the largest that fits, and
(decode, Pareto, ascending context axis, no MFU objective or row filter) a batch's larger contexts,
which its smallest fitting context beats on every objective.

On a cluster, pass any :class:`concurrent.futures.Executor`: the index range is split into parts,
each part runs in the core on a worker, and the driver merges the workers' frontiers exactly. With
Dask::

    from dask.distributed import Client
    client = Client("tcp://scheduler:8786")       # or Client(LocalCluster(n_workers=2))
    result = bw.sweep(model, ..., executor=client.get_executor())

Every worker needs the same brickwall version installed; only small dicts and the batch/context
axes travel. A :class:`~concurrent.futures.ProcessPoolExecutor` works the same way on one host.

>>> import brickwall as bw
>>> r = bw.sweep("llama3.1-70b", hardware=["H100-SXM"], tp=[1, 2, 4, 8], pp=[1, 2], batch=range(1, 257), context=[2048])
>>> r.evaluated, bool(r.kept > 0)
(2048, True)
"""

from __future__ import annotations

import importlib
import itertools
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from . import _core
from .deployment import BOUNDS, Deployment, chip_view, cost_view, plan_view
from .errors import InfeasibleError, TooLargeError, invalid, too_large, wrong_type
from .executors import checked
from .hardware import Efficiency, Hardware
from .hardware import hardware as lookup_hardware
from .model import Model
from .model import model as lookup_model
from .units import fmt_count, fmt_seconds
from .validate import array, boolean, choice, integer, real

if TYPE_CHECKING:
    from ._core import Chip, ModelCosts, Plan

#: Objectives and their natural senses. cost: USD per 1M new tokens; latency: seconds per token
#: (decode) or to the first token (prefill); tokens_per_s_per_user; tokens_per_s (aggregate);
#: chips; mfu.
OBJECTIVES: dict[str, str] = {
    "cost": "min",
    "latency": "min",
    "tokens_per_s_per_user": "max",
    "tokens_per_s": "max",
    "chips": "min",
    "mfu": "max",
}
COLUMN_UNITS: dict[str, str] = {
    "index": "grid row",
    "chips": "chips",
    "batch": "sequences",
    "context": "tokens (prefill: prompt tokens)",
    "cost": "USD per 1M new tokens",
    "latency": "s per token (prefill: s to the first token)",
    "tokens_per_s_per_user": "tokens/s",
    "tokens_per_s": "tokens/s",
    "mfu": "fraction of peak FLOP/s",
    "step_time": "s",
    "mem_weights": "bytes per chip",
    "mem_kv": "bytes per chip",
    "mem_act": "bytes per chip",
}
"""The unit of each numeric column of a :class:`SweepResult` (``--json`` and ``to_pandas``)."""
#: An axis: one value or several (a list, tuple, range or 1-D array).
HardwareAxis = str | Hardware | Sequence[str | Hardware]
DegreeAxis = int | Sequence[int] | NDArray[np.integer[Any]]
SizeAxis = int | Sequence[int] | NDArray[np.integer[Any]]
DtypeAxis = str | Sequence[str]
KvDtypeAxis = str | None | Sequence[str | None]
#: ``"pareto"``, ``"all"`` or ``("top", k)``.
Keep = Literal["pareto", "all"] | tuple[Literal["top"], int]
Objectives = str | Sequence[str | tuple[str, str]]

#: keep="all" refuses grids larger than this (use "pareto" or ("top", k)).
ALL_LIMIT = 1_000_000
SWEEP_LIMIT = 10**10
"""Most grid points :func:`sweep` evaluates without ``allow_large=True``: ten times the 10^9
sweep of benches/bench_sweep.py (minutes); 10^12 points would take hours to weeks."""
#: Largest axis the Python side accepts (each axis is an array; the product is never built).
AXIS_LIMIT = 1 << 26
_I64_MAX = (1 << 63) - 1
# Degrees (tp, pp, ep) on one axis: each is a deployment checked in Python; a cluster has far
# fewer useful degrees than this.
_MAX_DEGREES = 65_536
#: Columns of the core's result table (``_core.sweep_rows``).
_TABLE_COLUMNS = _core.sweep_columns()


@dataclass(frozen=True, slots=True)
class Constraints:
    """Which configurations count. ``fits``: weights + KV + activations fit on every chip.
    ``max_latency``: seconds per token (decode) or to the first token (prefill).
    ``min_tokens_per_s_per_user``: per-sequence speed. ``max_chips``: chips per replica.
    ``tp_within_scale_up``: keep tensor parallelism inside the fast fabric (False: allow it
    across the slower scale-out network, which the roofline then charges). Partitionings that
    do not divide the model (heads, KV heads, layers, experts) are always skipped."""

    fits: bool = True
    max_latency: float | None = None
    min_tokens_per_s_per_user: float | None = None
    max_chips: int | None = None
    tp_within_scale_up: bool = True

    def __post_init__(self) -> None:
        for name in ("fits", "tp_within_scale_up"):
            if not isinstance(getattr(self, name), bool):
                raise invalid(f"constraints.{name}", getattr(self, name), "True or False")
        if self.max_latency is not None:
            object.__setattr__(
                self, "max_latency", real("constraints.max_latency", self.max_latency, strict=True)
            )
        if self.min_tokens_per_s_per_user is not None:
            object.__setattr__(
                self,
                "min_tokens_per_s_per_user",
                real("constraints.min_tokens_per_s_per_user", self.min_tokens_per_s_per_user),
            )
        if self.max_chips is not None:
            object.__setattr__(self, "max_chips", integer("constraints.max_chips", self.max_chips))


def _constraints(value: Constraints | dict[str, Any] | None) -> Constraints:
    if value is None:
        return Constraints()
    if isinstance(value, Constraints):
        return value
    if isinstance(value, dict):
        known = set(Constraints.__dataclass_fields__)
        extra = sorted(set(value) - known)
        if extra:
            raise invalid("constraints", extra[0], f"one of {', '.join(sorted(known))}")
        return Constraints(**value)
    raise wrong_type("constraints", value, "a Constraints or a dict")


def _objectives(value: Objectives) -> list[tuple[str, str]]:
    items: list[Any] = value.split(",") if isinstance(value, str) else list(value)
    out: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, str):
            name, _, sense = item.strip().partition(":")
        elif isinstance(item, tuple) and len(item) == 2:
            name, sense = item
        else:
            raise wrong_type(
                "objectives", item, "a name like 'cost', 'mfu:max' or a (name, sense) pair"
            )
        name = choice("objective", name, tuple(OBJECTIVES))
        sense = (
            OBJECTIVES[name]
            if not sense
            else choice(f"objective {name} sense", sense, ("min", "max"))
        )
        out.append((name, sense))
    if len({n for n, _ in out}) != len(out):
        raise invalid("objectives", value, "distinct objectives")
    return out


def _keep(value: Keep, objectives: list[tuple[str, str]]) -> tuple[str, int]:
    if value == "pareto":
        if not 2 <= len(objectives) <= 3:
            raise invalid(
                "objectives",
                [n for n, _ in objectives],
                "two or three objectives for keep='pareto'",
            )
        return "pareto", 0
    if value == "all":
        if not 1 <= len(objectives) <= 3:
            raise invalid("objectives", [n for n, _ in objectives], "one to three objectives")
        return "all", ALL_LIMIT
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "top":
        if not 1 <= len(objectives) <= 3:
            raise invalid(
                "objectives",
                [n for n, _ in objectives],
                "one to three objectives (top k ranks by the first)",
            )
        return "top", integer("keep top k", value[1], maximum=1 << 24)
    raise invalid("keep", value, "'pareto', ('top', k) or 'all'")


def _degrees(field: str, value: Any) -> list[int]:
    items = (
        [value] if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    )
    if isinstance(items, range) and len(items) > _MAX_DEGREES:  # before it is built
        raise invalid(f"len({field})", len(items), f"at most {_MAX_DEGREES:,} degrees")
    try:
        items = list(items)
    except TypeError:
        raise wrong_type(field, value, "a list or range of integers") from None
    if len(items) > _MAX_DEGREES:
        raise invalid(f"len({field})", len(items), f"at most {_MAX_DEGREES:,} degrees")
    if not items:
        raise invalid(f"len({field})", 0, "at least one value")
    return [integer(f"{field}[{i}]", x) for i, x in enumerate(items)]


def _axis(field: str, value: Any, minimum: float) -> NDArray[np.float64]:
    if isinstance(value, range):
        if len(value) > AXIS_LIMIT:
            raise TooLargeError(
                f"len({field}) = {len(value)}: expected at most {AXIS_LIMIT} values per axis"
            )
        value = np.arange(value.start, value.stop, value.step, dtype=np.int64)
    a = array(field, value, np.int64, minimum=minimum, ndim=1)
    if a.size == 0:
        raise invalid(f"len({field})", 0, "at least one value")
    if a.size > AXIS_LIMIT:
        raise TooLargeError(
            f"len({field}) = {a.size}: expected at most {AXIS_LIMIT} values per axis"
        )
    return np.ascontiguousarray(a, dtype=np.float64)


def _length(field: str, value: Any) -> int:
    """An axis's length without building it (ranges may be huge)."""
    if isinstance(value, range):
        n = len(value)
    else:
        n = (
            int(np.size(np.asarray(value, dtype=object)))
            if not isinstance(value, (int, float, np.number))
            else 1
        )
    if n == 0:
        raise invalid(f"len({field})", 0, "at least one value")
    return n


def _list(field: str, value: Any) -> list[Any]:
    items = [value] if value is None or isinstance(value, (str, Hardware)) else list(value)
    if not items:
        raise invalid(f"len({field})", 0, "at least one value")
    return items


@dataclass(frozen=True, slots=True)
class SweepGrid:
    """A validated grid: the valid deployments (hardware-major, in axis order), the batch and
    context axes, and how many combinations the axes named in all. Row ``i`` of the grid is
    deployment ``i // (B C)``, batch ``(i // C) % B``, context ``i % C``."""

    model: Model
    phase: str
    new_tokens: int
    deployments: tuple[Deployment, ...]
    batch: NDArray[np.float64]
    context: NDArray[np.float64]
    combinations: int  #: (hardware, tp, pp, ep, dtype) combinations named by the axes
    skipped: dict[str, int]  #: combinations left out, by reason

    @property
    def size(self) -> int:
        """Points the core evaluates."""
        return len(self.deployments) * len(self.batch) * len(self.context)

    @property
    def named(self) -> int:
        """Points the axes name, including skipped combinations."""
        return self.combinations * len(self.batch) * len(self.context)

    def views(self) -> tuple[ModelCosts, list[tuple[Plan, Chip]]]:
        return cost_view(self.model), [(plan_view(d), chip_view(d)) for d in self.deployments]

    def hardware_blocks(self) -> list[tuple[str, int, int]]:
        """(hardware, first index, end index) of each hardware's contiguous block of rows."""
        per = len(self.batch) * len(self.context)
        out: list[tuple[str, int, int]] = []
        for i, d in enumerate(self.deployments):
            if out and out[-1][0] == d.hardware.name:
                out[-1] = (d.hardware.name, out[-1][1], (i + 1) * per)
            else:
                out.append((d.hardware.name, i * per, (i + 1) * per))
        return out


def _needs_missing_network(d: Deployment) -> bool:
    """The roofline has no link for one of the plan's groups (the core decides, as the step
    model does): a group beyond the scale-up domain on a chip without a scale-out network."""
    return not _core.roofline_links_available(float(d.tp), float(d.pp), float(d.ep), chip_view(d))


def grid(
    model: Model | str,
    *,
    hardware: HardwareAxis = "H100-SXM",
    tp: DegreeAxis = 1,
    pp: DegreeAxis = 1,
    ep: DegreeAxis = 1,
    batch: SizeAxis = 1,
    context: SizeAxis = 2048,
    weight_dtype: DtypeAxis = "bf16",
    kv_dtype: KvDtypeAxis = None,
    act_dtype: str = "bf16",
    phase: Literal["decode", "prefill"] = "decode",
    new_tokens: int = 1,
    constraints: Constraints | dict[str, Any] | None = None,
    efficiency: Efficiency | None = None,
    kv_sharding: Literal["heads", "batch"] = "heads",
    overlap: bool = False,
    price_per_hour: float | dict[str, float] | None = None,
) -> SweepGrid:
    """Validate the axes and build the valid deployments (see :func:`sweep`)."""
    m = lookup_model(model) if isinstance(model, str) else model
    if not isinstance(m, Model):
        raise wrong_type("model", model, "a Model or a catalog name")
    ph = choice("phase", phase, ("decode", "prefill"))
    n = integer("new_tokens", new_tokens)
    c = _constraints(constraints)
    hws = [lookup_hardware(h) if isinstance(h, str) else h for h in _list("hardware", hardware)]
    for i, h in enumerate(hws):
        if not isinstance(h, Hardware):
            raise wrong_type(f"hardware[{i}]", h, "a Hardware or a catalog name")
    tps, pps, eps = _degrees("tp", tp), _degrees("pp", pp), _degrees("ep", ep)
    wds, kds = _list("weight_dtype", weight_dtype), _list("kv_dtype", kv_dtype)
    combos = len(hws) * len(tps) * len(pps) * len(eps) * len(wds) * len(kds)
    named = combos * _length("batch", batch) * _length("context", context)
    if named > _I64_MAX:
        raise TooLargeError(
            f"the grid has {named:.3e} points, over 2^63 - 1: split it into smaller sweeps"
        )
    b = _axis("batch", batch, 1)
    ctx = _axis("context", context, 1 if ph == "prefill" else 0)
    if c.max_chips is not None and c.max_chips < min(tps) * min(pps) * min(eps):
        raise InfeasibleError(
            f"constraints.max_chips = {c.max_chips}: every tp x pp x ep on the axes needs at least "
            f"{min(tps) * min(pps) * min(eps)} chips"
        )
    deps: list[Deployment] = []
    skipped = {"partitioning": 0, "max_chips": 0, "scale_up": 0, "network": 0}
    for h in hws:
        price: float | None = (
            price_per_hour.get(h.name) if isinstance(price_per_hour, dict) else price_per_hour
        )
        for t in tps:
            for p in pps:
                for e in eps:
                    for wd in wds:
                        for kd in kds:
                            d = Deployment(
                                h,
                                tp=t,
                                pp=p,
                                ep=e,
                                weight_dtype=wd,
                                kv_dtype=kd,
                                act_dtype=act_dtype,
                                efficiency=efficiency,
                                kv_sharding=kv_sharding,
                                overlap=overlap,
                                price_per_hour=price,
                            )
                            try:
                                d.check(m)
                            except InfeasibleError:
                                skipped["partitioning"] += 1
                                continue
                            if c.max_chips is not None and d.chips > c.max_chips:
                                skipped["max_chips"] += 1
                            elif c.tp_within_scale_up and t > h.scale_up_domain:
                                skipped["scale_up"] += 1
                            elif _needs_missing_network(d):
                                skipped["network"] += 1
                            else:
                                deps.append(d)
    if not deps:
        why = ", ".join(f"{v} by {k}" for k, v in skipped.items() if v)
        raise InfeasibleError(
            f"no (hardware, tp, pp, ep, dtype) combination of the {combos} on the axes is valid for "
            f"{m.name} under these constraints ({why})"
        )
    return SweepGrid(m, ph, n, tuple(deps), b, ctx, combos, skipped)


@dataclass(frozen=True, slots=True)
class SweepResult:
    """The kept configurations of a sweep, as numpy columns (one row per configuration).

    Columns: ``index`` (grid row), ``hardware``, ``tp``, ``pp``, ``ep``, ``chips``,
    ``weight_dtype``, ``kv_dtype``, ``batch``, ``context`` (prefill: the prompt length), the
    metrics ``cost`` (USD per 1M new tokens), ``latency`` (s per token; prefill: time to first
    token), ``tokens_per_s_per_user``, ``tokens_per_s``, ``mfu``, and ``step_time`` (s),
    ``bound``, ``fits``, ``mem_weights``/``mem_kv``/``mem_act`` (bytes per chip). With
    ``by="hardware"`` the rows are each hardware's own frontier and ``on_frontier`` marks the
    rows on the joint one. Rows are sorted by the first objective (best first)."""

    model: str
    phase: str
    objectives: tuple[tuple[str, str], ...]
    keep: str
    grid: int  #: points named by the axes
    evaluated: int  #: points the core covered (valid combinations only; provably beaten ones by a memory check)
    feasible: int  #: points meeting the constraints
    elapsed: float  #: seconds, wall clock
    core_elapsed: float  #: of which evaluating and reducing the grid (the rest: validation and result columns)
    columns: dict[str, NDArray[Any]] = field(repr=False)

    @property
    def kept(self) -> int:
        return len(self.columns["index"])

    @property
    def configs_per_s(self) -> float:
        return self.evaluated / self.elapsed if self.elapsed > 0 else math.inf

    def __len__(self) -> int:
        return self.kept

    def __getattr__(self, name: str) -> NDArray[Any]:
        try:
            return self.columns[name]
        except KeyError:
            raise AttributeError(name) from None

    def row(self, i: int) -> dict[str, Any]:
        return {k: v[i].item() if hasattr(v[i], "item") else v[i] for k, v in self.columns.items()}

    def best(self, objective: str, sense: str | None = None) -> dict[str, Any]:
        """The kept row best by ``objective`` (its natural sense unless given)."""
        name = choice("objective", objective, tuple(OBJECTIVES))
        s = OBJECTIVES[name] if sense is None else choice("sense", sense, ("min", "max"))
        if not self.kept:
            raise InfeasibleError("the sweep kept no configuration: no point met the constraints")
        v = self.columns[name]
        return self.row(int(np.argmin(v) if s == "min" else np.argmax(v)))

    def to_pandas(self) -> Any:
        try:
            pd = importlib.import_module("pandas")
        except ImportError as e:
            from .errors import BrickwallError

            raise BrickwallError(
                "SweepResult.to_pandas needs pandas: pip install 'brickwall[pandas]'"
            ) from e
        # the grid row is the frame's index (not a second, stray "index" column); units ride
        # along in .attrs
        df = pd.DataFrame(self.columns).set_index("index")
        df.index.name = "grid_row"
        df.attrs["units"] = {k: v for k, v in COLUMN_UNITS.items() if k in df.columns}
        return df

    def counts(self) -> str:
        """The sweep's counts in one line, the words of :meth:`summary`'s keys: ``G
        configurations named, E evaluated, F feasible, K kept in T (R evaluated/s)``. The repr
        and ``brickwall sweep``'s footer both print this line."""
        named = f"{self.grid:,} configuration{'' if self.grid == 1 else 's'} named"
        return (
            f"{named}, {self.evaluated:,} evaluated, {self.feasible:,} feasible, "
            f"{self.kept:,} kept in {fmt_seconds(self.elapsed, 3)} "
            f"({fmt_count(self.configs_per_s, 3)} evaluated/s)"
        )

    def __repr__(self) -> str:
        head = (
            f"SweepResult({self.model} {self.phase}, {self.keep} over "
            f"{', '.join(f'{n} ({s})' for n, s in self.objectives)}: {self.counts()}"
        )
        if not self.kept:
            return head + ")"
        best = []
        for name, sense in self.objectives:
            r = self.best(name, sense)
            value = {
                "cost": f"${r['cost']:.4g} per 1M tokens",
                "latency": f"{r['latency'] * 1e3:.4g} ms",
                "mfu": f"MFU {r['mfu']:.1%}",
            }.get(name, f"{name} {r[name]:,.4g}")
            best.append(
                f"best {name}: {value} ({r['hardware']} TP{r['tp']} PP{r['pp']} EP{r['ep']}, "
                f"batch {r['batch']:,})"
            )
        return head + "; " + "; ".join(best) + ")"

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "phase": self.phase,
            "objectives": [f"{n}:{s}" for n, s in self.objectives],
            "keep": self.keep,
            "grid": self.grid,
            "evaluated": self.evaluated,
            "feasible": self.feasible,
            "kept": self.kept,
            "elapsed_s": self.elapsed,
            "core_elapsed_s": self.core_elapsed,
            "configs_per_s": self.configs_per_s,
        }

    def plot(self, path: Any = None, *, color_by: str = "hardware") -> Any:
        """The PaLM-inference picture: cost per 1M tokens vs per-token latency, one frontier per
        ``color_by`` group (``hardware`` or ``partitioning``)."""
        from .plot import sweep_frontier

        return sweep_frontier(self, path=path, color_by=color_by)


@dataclass(frozen=True, slots=True)
class _SweepCall:
    """The arguments of one sweep's core calls (picklable, so executors can run parts)."""

    model: ModelCosts
    deployments: list[tuple[Plan, Chip]]
    batch: NDArray[np.float64]
    context: NDArray[np.float64]
    phase: str
    new_tokens: float
    fits: bool
    max_latency: float
    min_tokens_per_s_per_user: float
    objectives: list[str]
    senses: list[str]
    keep_kind: str
    k: int

    def run(
        self, lo: int, hi: int, progress: Callable[[int], None] | None = None
    ) -> tuple[int, int, int, NDArray[np.uint64], NDArray[np.float64]]:
        return _core.sweep_run(
            self.model,
            self.deployments,
            self.batch,
            self.context,
            self.phase,
            self.new_tokens,
            self.fits,
            self.max_latency,
            self.min_tokens_per_s_per_user,
            self.objectives,
            self.senses,
            self.keep_kind,
            self.k,
            lo,
            hi,
            progress,
        )


# Sweeps (by id) whose caller was interrupted: their parts still running on threads of this
# process stop at the core's next progress poll (only the main thread sees Ctrl-C).
_CANCELLED: set[int] = set()
_TOKENS = itertools.count(1)
_MAX_PARTS = 1 << 16  # parts are futures: one per row made a 10^6-row sweep take minutes


class _Cancelled(Exception):
    """Raised inside a cancelled part to stop its core call."""


def _run_range(
    call: _SweepCall, lo: int, hi: int, token: int = 0
) -> tuple[int, int, NDArray[np.uint64], NDArray[np.float64]]:
    """One worker's share: evaluate rows [lo, hi) and reduce them (runs on executors)."""

    def poll(_done: int) -> None:
        if token in _CANCELLED:
            raise _Cancelled

    _, evaluated, feasible, index, values = call.run(lo, hi, poll)
    return evaluated, feasible, index, values


def _split(lo: int, hi: int, parts: int) -> list[tuple[int, int]]:
    step = max(1, -(-(hi - lo) // parts))
    return [(a, min(a + step, hi)) for a in range(lo, hi, step)]


ProgressArg = bool | Callable[[int, int], Any]


def sweep(
    model: Model | str,
    *,
    hardware: HardwareAxis = "H100-SXM",
    tp: DegreeAxis = 1,
    pp: DegreeAxis = 1,
    ep: DegreeAxis = 1,
    batch: SizeAxis = 1,
    context: SizeAxis = 2048,
    weight_dtype: DtypeAxis = "bf16",
    kv_dtype: KvDtypeAxis = None,
    phase: Literal["decode", "prefill"] = "decode",
    constraints: Constraints | dict[str, Any] | None = None,
    objectives: Objectives = ("cost", "latency"),
    keep: Keep = "pareto",
    executor: Executor | None = None,
    progress: ProgressArg = False,
    by: Literal["hardware"] | None = None,
    new_tokens: int = 1,
    act_dtype: str = "bf16",
    efficiency: Efficiency | None = None,
    kv_sharding: Literal["heads", "batch"] = "heads",
    overlap: bool = False,
    price_per_hour: float | dict[str, float] | None = None,
    parts: int | None = None,
    allow_large: bool = False,
) -> SweepResult:
    """Evaluate every configuration of the axes' Cartesian product and keep the best.

    Axes (a value, a list or a range each): ``hardware`` (catalog names or Hardware), ``tp``,
    ``pp``, ``ep``, ``weight_dtype``, ``kv_dtype`` (None: the activation dtype), ``batch``,
    ``context`` (prefill: the prompt length). ``objectives``: two or three of :data:`OBJECTIVES`
    for the Pareto frontier (``"name:min"``/``"name:max"`` or ``(name, sense)`` to override a
    sense); ``keep``: ``"pareto"``, ``("top", k)`` by the first objective, or ``"all"`` (grids of
    at most :data:`ALL_LIMIT` points). ``by="hardware"``: one frontier per hardware.
    ``executor``: any concurrent.futures.Executor (e.g. ``dask.distributed.Client(...).get_executor()``);
    the grid is split into ``parts`` index ranges. A ProcessPoolExecutor must be made with
    ``mp_context=multiprocessing.get_context("spawn")`` (or forkserver): a forking one is
    refused, as its children would hang on the core's threads. ``progress``: True for a rich
    progress bar, or a callable ``(done, total)``. Deployment options (``kv_sharding``, ``overlap``, ``efficiency``,
    ``price_per_hour`` as a float or a dict by hardware name) apply to every configuration.
    Grids over :data:`SWEEP_LIMIT` points need ``allow_large=True``.

    Each row is exactly what :func:`brickwall.decode` (or :func:`brickwall.prefill`) returns for
    the same configuration.
    """
    t0 = time.perf_counter()
    objs = _objectives(objectives)
    kind, k = _keep(keep, objs)
    if by is not None:
        choice("by", by, ("hardware",))
        if kind == "all":
            raise invalid("by", by, "None with keep='all' (all rows are kept anyway)")
    g = grid(
        model,
        hardware=hardware,
        tp=tp,
        pp=pp,
        ep=ep,
        batch=batch,
        context=context,
        weight_dtype=weight_dtype,
        kv_dtype=kv_dtype,
        act_dtype=act_dtype,
        phase=phase,
        new_tokens=new_tokens,
        constraints=constraints,
        efficiency=efficiency,
        kv_sharding=kv_sharding,
        overlap=overlap,
        price_per_hour=price_per_hour,
    )
    if g.size > SWEEP_LIMIT and not boolean("allow_large", allow_large):
        raise too_large(
            "sweep: grid points (valid deployments x batches x contexts)",
            g.size,
            SWEEP_LIMIT,
            "narrow an axis (a geometric range such as 1..4096:x2 covers a wide span in few "
            "points); progress=True shows a long sweep's progress",
        )
    if kind == "all" and g.size > ALL_LIMIT:
        raise TooLargeError(
            f"keep='all': the grid has {g.size:,} points, over the limit of {ALL_LIMIT:,} rows; "
            "use keep='pareto' or keep=('top', k)"
        )
    if "cost" in (n for n, _ in objs):
        unpriced = sorted({d.hardware.name for d in g.deployments if d.chip_price_per_hour is None})
        if unpriced:
            raise invalid(
                "price_per_hour",
                price_per_hour,
                f"a price for {', '.join(unpriced)} (the catalog has none) when 'cost' is an objective",
            )
    c = _constraints(constraints)
    mv, deps = g.views()
    call = _SweepCall(
        mv,
        deps,
        g.batch,
        g.context,
        g.phase,
        float(g.new_tokens),
        c.fits,
        math.inf if c.max_latency is None else c.max_latency,
        c.min_tokens_per_s_per_user or 0.0,
        [n for n, _ in objs],
        [s for _, s in objs],
        kind,
        k,
    )
    groups = [(lo, hi) for _, lo, hi in g.hardware_blocks()] if by == "hardware" else [(0, g.size)]
    evaluated = feasible = 0
    kept: list[NDArray[np.uint64]] = []
    t_core = time.perf_counter()
    with _Progress(progress, g.size) as report:
        if executor is None:
            for lo, hi in groups:
                _, e, f, ix, _ = call.run(lo, hi, _offset(report, evaluated))
                evaluated += e
                feasible += f
                kept.append(ix)
        else:
            executor = checked(executor, length=4)
            n_parts = 8 if parts is None else integer("parts", parts, maximum=_MAX_PARTS)
            token = next(_TOKENS)
            futures = [
                [executor.submit(_run_range, call, a, b, token) for a, b in _split(lo, hi, n_parts)]
                for lo, hi in groups
            ]
            try:
                for group in futures:
                    idx, vals = [], []
                    for fut in group:
                        e, f, ix, v = fut.result()
                        evaluated += e
                        feasible += f
                        idx.append(ix)
                        vals.append(v)
                        if report is not None:
                            report(evaluated)
                    kept.append(
                        _core.sweep_pareto_reduce(
                            np.concatenate(vals), np.concatenate(idx), call.senses, kind, k
                        )
                    )
            except BaseException:
                # Ctrl-C or a failed part: drop the queued parts and stop the running ones
                # (the token stays cancelled: tokens are never reused).
                _CANCELLED.add(token)
                for fut in (f for group in futures for f in group):
                    fut.cancel()
                raise
    core_elapsed = time.perf_counter() - t_core
    index = np.concatenate(kept) if kept else np.zeros(0, np.uint64)
    columns = _columns(g, call, index, objs, ranked=len(groups) == 1)
    if by == "hardware" and kind == "pareto" and len(index):
        values = np.stack([columns[n] for n, _ in objs], axis=1).ravel()
        joint = _core.sweep_pareto_reduce(
            np.ascontiguousarray(values), columns["index"], call.senses, "pareto", 0
        )
        columns["on_frontier"] = np.isin(columns["index"], joint)
    return SweepResult(
        g.model.name,
        g.phase,
        tuple(objs),
        kind if kind != "top" else f"top {k}",
        g.named,
        evaluated,
        feasible,
        time.perf_counter() - t0,
        core_elapsed,
        columns,
    )


def _columns(
    g: SweepGrid,
    call: _SweepCall,
    index: NDArray[np.uint64],
    objs: list[tuple[str, str]],
    ranked: bool,
) -> dict[str, NDArray[Any]]:
    """The result's columns for kept grid rows ``index``; ``ranked``: already best first by the
    first objective, ties by index (what the core returns for one group of rows)."""
    mv, deps = call.model, call.deployments
    index = np.ascontiguousarray(index, dtype=np.uint64)
    # Every number comes from the core, filled in parallel; Python only gathers each
    # deployment's labels (one array per kind; every column a contiguous view).
    table = _core.sweep_rows(mv, deps, g.batch, g.context, g.phase, float(g.new_tokens), index)
    raw = dict(zip(_TABLE_COLUMNS, table.T))  # column-major: each column contiguous
    di = raw["deployment"].astype(np.intp)
    d = g.deployments
    ints = np.array(
        [[x.tp for x in d], [x.pp for x in d], [x.ep for x in d], [x.chips for x in d]],
        dtype=np.int64,
    )[:, di]
    labels = np.array(
        [[x.hardware.name for x in d], [x.weight_dtype for x in d], [x.kv_dtype for x in d]],
        dtype=object,
    )[:, di]
    cols: dict[str, NDArray[Any]] = {
        "index": index,
        "hardware": labels[0],
        "tp": ints[0],
        "pp": ints[1],
        "ep": ints[2],
        "chips": ints[3],
        "weight_dtype": labels[1],
        "kv_dtype": labels[2],
        "batch": g.batch.astype(np.int64)[raw["batch_index"].astype(np.intp)],
        "context": g.context.astype(np.int64)[raw["context_index"].astype(np.intp)],
        "cost": raw["cost"],
        "latency": raw["token_latency"],
        "tokens_per_s_per_user": raw["tokens_per_s_per_user"],
        "tokens_per_s": raw["tokens_per_s"],
        "mfu": raw["mfu"],
        "step_time": raw["latency"],
        "bound": np.array(BOUNDS, dtype=object)[raw["bound"].astype(np.intp)],
        "fits": raw["fits"] != 0,
        "mem_weights": raw["mem_weights"],
        "mem_kv": raw["mem_kv"],
        "mem_act": raw["mem_act"],
    }
    if len(index) and not ranked:
        name, sense = objs[0]
        key = cols[name] if name != "chips" else cols[name].astype(np.float64)
        order = np.lexsort((index, -key if sense == "max" else key))
        cols = {k: v[order] for k, v in cols.items()}
    return cols


def _offset(report: Callable[[int], None] | None, base: int) -> Callable[[int], None] | None:
    if report is None:
        return None
    cb = report
    return lambda done: cb(base + done)


class _Progress:
    """progress=True: a rich bar; a callable: called with (done, total); False: nothing."""

    def __init__(self, progress: ProgressArg, total: int) -> None:
        self.progress, self.total = progress, total
        self.bar: Any = None

    def __enter__(self) -> Callable[[int], None] | None:
        if self.progress is False or self.progress is None:
            return None
        if callable(self.progress):
            cb = self.progress
            return lambda done: cb(done, self.total)
        if self.progress is not True:
            raise invalid("progress", self.progress, "True, False or a callable (done, total)")
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
        )
        bar = self.bar
        bar.start()
        task = bar.add_task("sweep", total=self.total)
        return lambda done: bar.update(task, completed=done)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()


__all__ = [
    "ALL_LIMIT",
    "SWEEP_LIMIT",
    "Constraints",
    "OBJECTIVES",
    "SweepGrid",
    "SweepResult",
    "grid",
    "sweep",
]
