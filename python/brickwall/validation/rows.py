"""Reading validation rows: a TOML file of ``[[row]]`` tables (format in the package docstring).

Every malformed row fails with one line naming the file, the row and the field, and what was
expected; nothing is guessed. Fields brickwall does not read are kept in :attr:`Row.extra` (the
provenance: metric wording, framework, notes, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from ..catalog import TOMLDecodeError, toml_loads
from ..errors import BrickwallError, ValidationError, invalid, wrong_type
from ..hardware import hardware_names
from ..model import Model, model_names
from ..serve import POLICIES
from ..training import PRECISIONS, RECOMPUTE, SCHEDULES
from ..units import DTYPES
from ..validate import boolean, choice, integer, real

#: The unit each kind of row may be stated in; the pair fixes what brickwall computes for it.
UNITS: dict[str, tuple[str, ...]] = {
    # whole static batch: output tokens/s per GPU, total output tokens/s, or its wall time
    "static-batch": ("tokens/s/GPU", "tokens/s", "s", "ms"),
    # one decode step: its latency, or the tokens/s of one stream (the inverse)
    "decode-latency": ("s", "ms", "tokens/s"),
    "ttft": ("s", "ms"),
    # an offline batch of requests through the serving simulator: output tokens/s (all GPUs or
    # per GPU), total (input + output) tokens/s, or requests/s
    "serving-offline": ("tokens/s", "tokens/s/GPU", "total tokens/s", "requests/s"),
    # one optimizer step of a training plan
    "training": ("tokens/s/GPU", "tokens/s", "TFLOP/s/GPU", "MFU", "s"),
}
KINDS: tuple[str, ...] = tuple(UNITS)
#: ``recompute`` of a training row: the plan's choices, or ``auto`` (the least that fits).
RECOMPUTE_CHOICES: tuple[str, ...] = (*RECOMPUTE, "auto")
#: What a training row's ``TFLOP/s/GPU`` counts: model FLOPs (6N + attention per token, as MFU)
#: or hardware FLOPs (also the recomputed forward, as HFU).
FLOP_COUNTS: tuple[str, ...] = ("model", "hardware")

#: The fields brickwall reads; any other key of a row is provenance, kept in ``extra``.
FIELDS = (
    "id",
    "kind",
    "source",
    "source_tag",
    "model",
    "hardware",
    "tp",
    "pp",
    "ep",
    "batch",
    "input_tokens",
    "output_tokens",
    "weight_dtype",
    "act_dtype",
    "kv_dtype",
    "value",
    "unit",
    "not_modelled",
    # serving-offline
    "requests",
    "policy",
    "max_seqs",
    "max_batched_tokens",
    # training
    "gpus",
    "dp",
    "cp",
    "microbatch",
    "global_batch",
    "seq_len",
    "schedule",
    "chunks",
    "recompute",
    "zero",
    "sequence_parallel",
    "precision",
    "flops",
)


@dataclass(frozen=True, slots=True)
class Row:
    """One published (or user) measurement, with what brickwall needs to predict it.

    Serving fields (``requests`` .. ``max_batched_tokens``) are read for ``serving-offline``
    rows, training fields (``dp`` .. ``flops``) for ``training`` rows; elsewhere they keep their
    defaults."""

    id: str
    kind: str
    source: str
    source_tag: str
    model: str
    hardware: str
    tp: int
    pp: int
    ep: int
    batch: int
    input_tokens: int
    output_tokens: int
    weight_dtype: str
    act_dtype: str
    kv_dtype: str
    value: float  #: as printed, in ``unit``
    unit: str
    not_modelled: str | None = None  #: why brickwall does not predict this row (listed anyway)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    #: an inline architecture (``model = { name = ..., layers = ..., ... }``, the fields of
    #: :class:`~brickwall.Model`) when the model is not in the catalog
    model_spec: dict[str, Any] | None = field(default=None, compare=False)
    # serving-offline: an offline batch of ``requests`` fixed-length requests
    requests: int = 0
    policy: str = "continuous"
    max_seqs: int | None = None  #: None: the Scheduler's default
    max_batched_tokens: int | None = None  #: None: the Scheduler's default
    # training: the plan
    dp: int = 1
    cp: int = 1
    microbatch: int = 0
    global_batch: int = 0  #: sequences
    seq_len: int = 0
    schedule: str = "1f1b"
    chunks: int = 1
    recompute: str = "auto"
    zero: int = 1
    sequence_parallel: bool = True
    precision: str = "bf16"
    flops: str = "model"


def _text(where: str, raw: dict[str, Any], key: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if value is None:
        raise ValidationError(f"{where}: missing field {key!r} (a non-empty string)")
    if not isinstance(value, str) or not value.strip():
        raise wrong_type(f"{where}.{key}", value, "a non-empty string")
    return value


_MODEL_FIELDS = frozenset(f.name for f in fields(Model))


def _model(where: str, raw: dict[str, Any], modelled: bool) -> tuple[str, dict[str, Any] | None]:
    """The row's model: a catalog name, or an inline table of :class:`Model` fields."""
    spec = raw.get("model")
    if isinstance(spec, dict):
        name = _text(f"{where}.model", spec, "name")
        unknown = sorted(set(spec) - _MODEL_FIELDS)
        if unknown:
            raise invalid(f"{where}.model.{unknown[0]}", spec[unknown[0]], "a field of Model")
        try:
            Model(**spec)
        except BrickwallError as e:
            raise ValidationError(f"{where}.model: {e}") from None
        except TypeError as e:  # a required Model field missing
            raise ValidationError(f"{where}.model: {e}") from None
        return name, dict(spec)
    name = _text(where, raw, "model")
    models = model_names()
    if modelled and name not in models:
        raise invalid(
            f"{where}.model", name, f"a catalog model ({', '.join(models)}) or an inline table"
        )
    return name, None


def parse_row(raw: Any, where: str = "row") -> Row:
    """One ``[[row]]`` table as a :class:`Row`, or a :class:`ValidationError` naming ``where``
    and the field."""
    if not isinstance(raw, dict):
        raise wrong_type(where, raw, "a table of fields")
    rid = _text(where, raw, "id")
    where = f"{where} ({rid})"
    kind = choice(f"{where}.kind", _text(where, raw, "kind"), KINDS)
    reason = raw.get("not_modelled")
    if reason is not None:
        reason = _text(where, raw, "not_modelled")
    modelled = reason is None
    chips = hardware_names()
    model, spec = _model(where, raw, modelled)
    chip = _text(where, raw, "hardware")
    if modelled and chip not in chips:
        raise invalid(f"{where}.hardware", chip, f"a catalog chip ({', '.join(chips)})")
    unit = _text(where, raw, "unit")
    if modelled and unit not in UNITS[kind]:
        raise invalid(f"{where}.unit", unit, f"for a {kind} row one of {', '.join(UNITS[kind])}")
    if "value" not in raw:
        raise ValidationError(f"{where}: missing field 'value' (a number > 0)")
    value = real(f"{where}.value", raw["value"], strict=True)

    def count(key: str, minimum: int, default: int | None = None) -> int:
        if key not in raw and default is None:
            if not modelled:
                return 0
            raise ValidationError(f"{where}: missing field {key!r} (an integer >= {minimum})")
        # listed-only rows keep the source's 0 = "not stated"
        return integer(f"{where}.{key}", raw.get(key, default), minimum=minimum if modelled else 0)

    def optional(key: str) -> int | None:
        return None if raw.get(key) is None else count(key, 1)

    def pick(key: str, default: str, options: tuple[str, ...]) -> str:
        return choice(f"{where}.{key}", raw.get(key, default), options)

    # A kind's own fields are required where they fix the prediction; the others default.
    inference = kind in ("static-batch", "decode-latency", "ttft")
    serving = kind == "serving-offline"
    training = kind == "training"
    out_min = {"static-batch": 1, "serving-offline": 1}.get(kind, 0)
    act = pick("act_dtype", "bf16", DTYPES)
    common: dict[str, Any] = dict(
        id=rid,
        kind=kind,
        source=_text(where, raw, "source"),
        source_tag=_text(where, raw, "source_tag", "user"),
        model=model,
        model_spec=spec,
        hardware=chip,
        tp=count("tp", 1, 1),
        pp=count("pp", 1, 1),
        ep=count("ep", 1, 1),
        batch=count("batch", 1) if inference else count("batch", 0, 0),
        # training rows read seq_len and global_batch instead
        input_tokens=count("input_tokens", 1) if not training else count("input_tokens", 0, 0),
        output_tokens=count("output_tokens", out_min, 0 if training else None),
        weight_dtype=pick("weight_dtype", "bf16", DTYPES),
        act_dtype=act,
        kv_dtype=pick("kv_dtype", act, DTYPES),
        value=value,
        unit=unit,
        not_modelled=reason,
        extra={k: v for k, v in raw.items() if k not in FIELDS},
    )
    if serving:
        common.update(
            requests=count("requests", 1),
            policy=pick("policy", "continuous", POLICIES),
            max_seqs=optional("max_seqs"),
            max_batched_tokens=optional("max_batched_tokens"),
        )
    if training:
        tp = common["tp"]
        common.update(
            dp=count("dp", 1),
            cp=count("cp", 1, 1),
            microbatch=count("microbatch", 1),
            global_batch=count("global_batch", 1),
            seq_len=count("seq_len", 1),
            chunks=count("chunks", 1, 1),
            recompute=pick("recompute", "auto", RECOMPUTE_CHOICES),
            zero=integer(f"{where}.zero", raw.get("zero", 1), minimum=0, maximum=3),
            sequence_parallel=boolean(
                f"{where}.sequence_parallel", raw.get("sequence_parallel", tp > 1)
            ),
            precision=pick("precision", "bf16", PRECISIONS),
            flops=pick("flops", "model", FLOP_COUNTS),
        )
        common["schedule"] = pick(
            "schedule", "interleaved-1f1b" if common["chunks"] > 1 else "1f1b", SCHEDULES
        )
        if modelled:
            _check_plan(where, raw, common)
    return Row(**common)


def _check_plan(where: str, raw: dict[str, Any], r: dict[str, Any]) -> None:
    """What a training row's plan must satisfy before brickwall can price it."""
    gpus = r["tp"] * r["cp"] * r["pp"] * r["dp"]
    if "gpus" in raw and integer(f"{where}.gpus", raw["gpus"]) != gpus:
        raise invalid(f"{where}.gpus", raw["gpus"], f"tp x cp x pp x dp = {gpus}")


def parse(text: str, name: str = "<string>") -> list[Row]:
    """Rows of a TOML document (``name`` labels errors); ids must be unique."""
    try:
        doc = toml_loads(text)
    except TOMLDecodeError as e:
        raise ValidationError(f"{name}: not valid TOML ({e})") from None
    raws = doc.get("row")
    if not isinstance(raws, list) or not raws:
        raise ValidationError(f"{name}: expected one or more [[row]] tables")
    rows = [parse_row(r, f"{name} row {i + 1}") for i, r in enumerate(raws)]
    seen: set[str] = set()
    for r in rows:
        if r.id in seen:
            raise invalid(f"{name} row id", r.id, "ids unique within a file")
        seen.add(r.id)
    return rows


def load(path: str | Path | None = None) -> list[Row]:
    """The rows of ``path``, or brickwall's shipped suite (``published.toml``) when None."""
    if path is None:
        text = resources.files(__package__).joinpath("published.toml").read_text("utf-8")
        return parse(text, "published.toml")
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as e:
        raise ValidationError(f"{p}: cannot read ({e.strerror})") from None
    return parse(text, str(p))
