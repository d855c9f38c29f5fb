"""Reading validation rows: a TOML file of ``[[row]]`` tables (format in the package docstring).

Every malformed row fails with one line naming the file, the row and the field, and what was
expected; nothing is guessed. Fields brickwall does not read are kept in :attr:`Row.extra` (the
provenance: metric wording, framework, notes, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..catalog import TOMLDecodeError, toml_loads
from ..errors import ValidationError, invalid, wrong_type
from ..hardware import hardware_names
from ..model import model_names
from ..units import DTYPES
from ..validate import choice, integer, real

#: The unit each kind of row may be stated in; the pair fixes what brickwall computes for it.
UNITS: dict[str, tuple[str, ...]] = {
    # whole static batch: output tokens/s per GPU, total output tokens/s, or its wall time
    "static-batch": ("tokens/s/GPU", "tokens/s", "s", "ms"),
    # one decode step: its latency, or the tokens/s of one stream (the inverse)
    "decode-latency": ("s", "ms", "tokens/s"),
    "ttft": ("s", "ms"),
    # listed only (not_modelled required): a scheduler-chosen batch, a training step
    "serving-offline": (),
    "training": (),
}
KINDS: tuple[str, ...] = tuple(UNITS)

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
)


@dataclass(frozen=True, slots=True)
class Row:
    """One published (or user) measurement, with what brickwall needs to predict it."""

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


def _text(where: str, raw: dict[str, Any], key: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if value is None:
        raise ValidationError(f"{where}: missing field {key!r} (a non-empty string)")
    if not isinstance(value, str) or not value.strip():
        raise wrong_type(f"{where}.{key}", value, "a non-empty string")
    return value


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
    elif not UNITS[kind]:
        raise ValidationError(
            f"{where}: kind {kind!r} rows are not predicted; give a 'not_modelled' reason"
        )
    modelled = reason is None
    models, chips = model_names(), hardware_names()
    model = _text(where, raw, "model")
    chip = _text(where, raw, "hardware")
    if modelled and model not in models:
        raise invalid(f"{where}.model", model, f"a catalog model ({', '.join(models)})")
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
            raise ValidationError(f"{where}: missing field {key!r} (an integer >= {minimum})")
        # listed-only rows keep the source's 0 = "not stated"
        return integer(f"{where}.{key}", raw.get(key, default), minimum=minimum if modelled else 0)

    out_min = {"static-batch": 1, "decode-latency": 0, "ttft": 0}.get(kind, 0)
    act = choice(f"{where}.act_dtype", raw.get("act_dtype", "bf16"), DTYPES)
    return Row(
        id=rid,
        kind=kind,
        source=_text(where, raw, "source"),
        source_tag=_text(where, raw, "source_tag", "user"),
        model=model,
        hardware=chip,
        tp=count("tp", 1, 1),
        pp=count("pp", 1, 1),
        ep=count("ep", 1, 1),
        batch=count("batch", 1),
        input_tokens=count("input_tokens", 1),
        output_tokens=count("output_tokens", out_min),
        weight_dtype=choice(f"{where}.weight_dtype", raw.get("weight_dtype", "bf16"), DTYPES),
        act_dtype=act,
        kv_dtype=choice(f"{where}.kv_dtype", raw.get("kv_dtype", act), DTYPES),
        value=value,
        unit=unit,
        not_modelled=reason,
        extra={k: v for k, v in raw.items() if k not in FIELDS},
    )


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
