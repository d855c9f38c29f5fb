"""Read a chip (hardware profile) from TOML: a user's chip file or one table of the catalog.

One schema, one parser, for both (docs/chip-format.md describes it): keys carry their units
(``memory_gb``, ``memory_bandwidth_tb_s``, ``tflops.<dtype>``, ``scale_up_gb_s`` ...), and each
is checked for presence, type and range here, so a bad file fails with one line naming the file,
the key and what was expected. The result is :class:`ChipFields`: the keyword arguments of
:class:`~brickwall.hardware.Hardware` in SI units, plus the ``[efficiency]`` table's values.
This module returns fields rather than a ``Hardware`` because hardware.py (the catalog lookup)
calls it: building the object there keeps the import graph one-way.
"""

from __future__ import annotations

import datetime
import decimal
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypedDict, cast

from ..catalog import TOMLDecodeError, toml_loads
from ..errors import BrickwallTypeError, ValidationError
from ..units import DTYPES, GB, TB, TERA, GiB


class ChipFields(TypedDict, total=False):
    """What a chip table holds, in :class:`~brickwall.hardware.Hardware`'s names and SI units.
    Optional keys absent from the file are absent here (Hardware's defaults apply);
    ``efficiency`` holds the ``[efficiency]`` table's values under Efficiency's field names."""

    name: str
    memory: float
    memory_bandwidth: float
    peak_flops: dict[str, float]
    scale_up_bandwidth: float
    scale_up_domain: int
    scale_out_bandwidth: float
    scale_up_latency: float
    scale_out_latency: float
    host_bandwidth: float
    tdp: float
    price_per_hour: float
    price_date: str
    price_source: str
    source: str
    efficiency: dict[str, float | bool]


# --- value checks: each returns the value or raises with (expected, is-a-type-error) ----------

_Check = Callable[[Any], Any]


class _Bad(Exception):
    def __init__(self, expected: str, wrong_type: bool) -> None:
        self.expected, self.wrong_type = expected, wrong_type


def _number(low: float, *, strict: bool, high: float | None = None) -> _Check:
    op = ">" if strict else ">="
    bracket = "(" if strict else "["
    expected = (
        f"a number {op} {low:g}" if high is None else f"a number in {bracket}{low:g}, {high:g}]"
    )
    if low > 0:  # a rate: say first that it must be positive
        expected = expected.replace("a number", "a number > 0,", 1)

    def check(v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _Bad(expected, True)
        ok = math.isfinite(v) and (v > low if strict else v >= low)
        if not ok or (high is not None and v > high):
            raise _Bad(expected, False)
        return v  # as written (an int stays an int): the catalog's numbers convert as before

    return check


def _integer(low: int) -> _Check:
    def check(v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Bad(f"an integer >= {low}", True)
        if v < low:
            raise _Bad(f"an integer >= {low}", False)
        return v

    return check


def _text(v: Any) -> Any:
    if not isinstance(v, str):
        raise _Bad("a string", True)
    if not v.strip() or any(ord(c) < 32 and c != "\t" for c in v):
        raise _Bad("a non-empty string on one line (no control characters)", False)
    return v


_DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])(-\d{2})?")


def _date(v: Any) -> Any:
    if isinstance(v, datetime.date) and not isinstance(v, datetime.datetime):
        return v.isoformat()  # a TOML date literal, 2025-06-01
    if not isinstance(v, str):
        raise _Bad('a date string "YYYY-MM" or "YYYY-MM-DD"', True)
    if not _DATE.fullmatch(v):
        raise _Bad('a date string "YYYY-MM" or "YYYY-MM-DD"', False)
    return v


def _times(unit: float) -> Callable[[Any], Any]:
    return lambda v: v * unit  # as the catalog always converted (int x float), bit for bit


def _per(unit: float) -> Callable[[Any], Any]:
    return lambda v: v / unit  # 5 us -> 5e-06 exactly (x 1e-6 would round to 4.99...e-06)


def _any_table(v: Any) -> Any:
    if not isinstance(v, dict):
        raise _Bad("a table (brickwall calibrate writes it)", True)
    return v


_POSITIVE = _number(0.0, strict=True)
# Rates are bounded on both sides so that no finite value turns into a 1e301 s step or an inf
# FLOP/s after the unit conversion: from 1 MB/s (1e-3 GB/s, 1e-6 TB/s) and 1 MFLOP/s (1e-6
# TFLOP/s) - far below any real chip - up to 1e9 of the key's unit, far above any.
_GB_S = _number(1e-3, strict=False, high=1e9)
_TB_S = _number(1e-6, strict=False, high=1e9)
_TFLOPS = _number(1e-6, strict=False, high=1e9)
_NONNEGATIVE = _number(0.0, strict=False)
_FRACTION = _number(0.0, strict=True, high=1.0)

# --- the schema ----------------------------------------------------------------------------------

#: key -> (check of the value, or of each entry of a table; unit or meaning; Hardware field, None
#: for the two tables; conversion to SI units, None if none).
_KEYS: dict[str, tuple[_Check, str, str | None, Callable[[Any], Any] | None]] = {
    "name": (
        _text,
        "the chip's name (single-chip files; a catalog table's header names it)",
        "name",
        None,
    ),
    "memory_gb": (_POSITIVE, "device memory, GB (1e9 bytes)", "memory", _times(GB)),
    "memory_gib": (_POSITIVE, "device memory, GiB (2^30 bytes)", "memory", _times(GiB)),
    "memory_bandwidth_tb_s": (_TB_S, "memory bandwidth, TB/s", "memory_bandwidth", _times(TB)),
    "tflops": (_TFLOPS, "dense peak TFLOP/s per dtype", None, None),
    "scale_up_gb_s": (
        _GB_S,
        "scale-up bandwidth per chip per direction, GB/s",
        "scale_up_bandwidth",
        _times(GB),
    ),
    "scale_up_domain": (_integer(1), "chips sharing the scale-up fabric", "scale_up_domain", None),
    "scale_out_gb_s": (
        _GB_S,
        "scale-out bandwidth per chip per direction, GB/s",
        "scale_out_bandwidth",
        _times(GB),
    ),
    "scale_up_latency_us": (
        _NONNEGATIVE,
        "latency per collective step inside the domain, us",
        "scale_up_latency",
        _per(1e6),
    ),
    "scale_out_latency_us": (
        _NONNEGATIVE,
        "latency per collective step across domains, us",
        "scale_out_latency",
        _per(1e6),
    ),
    "host_bandwidth_gb_s": (
        _GB_S,
        "host link (PCIe or C2C) bandwidth per chip per direction, GB/s",
        "host_bandwidth",
        _times(GB),
    ),
    "tdp_w": (_POSITIVE, "thermal design power, W", "tdp", None),
    "price_per_hour_usd": (_POSITIVE, "USD per chip-hour", "price_per_hour", None),
    "price_date": (_date, "when the price was seen", "price_date", None),
    "price_source": (_text, "where the price comes from", "price_source", None),
    "source": (_text, "where the other numbers come from", "source", None),
    "efficiency": (_FRACTION, "the step model's default profile for this chip", None, None),
    "measured": (
        _any_table,
        "what brickwall calibrate measured (data for people; brickwall does not read it)",
        None,
        None,
    ),
}
#: Keys every chip table must have (memory as one of memory_gb / memory_gib).
REQUIRED = ("memory_bandwidth_tb_s", "tflops", "scale_up_gb_s", "scale_up_domain", "source")


def _boolean(v: Any) -> Any:
    if not isinstance(v, bool):
        raise _Bad("true or false", True)
    return v


#: The [efficiency] table's keys -> (check, meaning, Efficiency field, conversion to SI units).
_EFFICIENCY: dict[str, tuple[_Check, str, str, Callable[[Any], Any] | None]] = {
    "flops": (_FRACTION, "fraction of dense peak FLOP/s reached", "flops", None),
    "memory": (_FRACTION, "fraction of peak memory bandwidth reached", "memory", None),
    "network": (_FRACTION, "fraction of peak fabric bandwidth reached", "network", None),
    "gemm_m_half": (
        _number(0.0, strict=False, high=1e9),
        "GEMM rows at which compute efficiency is half its plateau",
        "gemm_m_half",
        None,
    ),
    "kernel_overhead_us": (
        _number(0.0, strict=False, high=1e6),
        "microseconds each launched kernel costs beyond its roofline",
        "kernel_overhead",
        _per(1e6),
    ),
    "elementwise": (
        _boolean,
        "whether elementwise operators (norms, activations) move their activation bytes",
        "elementwise",
        None,
    ),
}
#: The [efficiency] table's keys -> meaning (Efficiency's fields; docs/chip-format.md).
EFFICIENCY_KEYS: dict[str, str] = {k: v[1] for k, v in _EFFICIENCY.items()}
KEYS = tuple(_KEYS)


def _shown(value: Any) -> str:
    """A value as an error shows it: numbers compactly (a 300-digit integer as 1e+300)."""
    text = repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and len(text) > 16:
        return f"{decimal.Decimal(value):.6g}"
    return text if len(text) <= 80 else text[:77] + "..."


def _fail(where: str, key: str, value: Any, bad: _Bad) -> Exception:
    if bad.wrong_type:
        return BrickwallTypeError(
            f"{where}: {key} = {_shown(value)} ({type(value).__name__}): expected {bad.expected}"
        )
    return ValidationError(f"{where}: {key} = {_shown(value)}: expected {bad.expected}")


def _checked(where: str, key: str, value: Any, check: _Check) -> Any:
    try:
        return check(value)
    except _Bad as bad:
        raise _fail(where, key, value, bad) from None


def _table(where: str, key: str, value: Any, known: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, key, value, _Bad(f"a table with keys among {', '.join(known)}", True))
    unknown = [k for k in value if k not in known]
    if unknown:
        raise ValidationError(
            f"{where}: unknown key {key}.{unknown[0]}; known keys of [{key}]: {', '.join(known)}"
        )
    return value


def chip_fields(entry: Mapping[str, Any], where: str, *, name: str | None = None) -> ChipFields:
    """Check one chip table and convert it to :class:`ChipFields`. ``where`` starts each error
    message (a file name, or the catalog table). ``name`` is the table's header when the table
    sits under one (the catalog, or a copied catalog entry); else the table needs a ``name`` key."""
    unknown = [k for k in entry if k not in _KEYS]
    if unknown:
        raise ValidationError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(KEYS)}")
    if name is not None and "name" in entry:
        raise ValidationError(
            f"{where}: name = {entry['name']!r}: the table header [{name}] names this chip; drop the key"
        )
    required = REQUIRED if name is not None else ("name", *REQUIRED)
    for key in required:
        if key not in entry:
            raise ValidationError(f"{where}: missing required key {key} ({_KEYS[key][1]})")
    memory = [k for k in ("memory_gb", "memory_gib") if k in entry]
    if len(memory) != 1:
        what = "missing required key" if not memory else "give only one of"
        raise ValidationError(f"{where}: {what} memory_gb or memory_gib (device memory)")
    if "price_per_hour_usd" in entry:
        for key in ("price_date", "price_source"):
            if key not in entry:
                raise ValidationError(
                    f"{where}: missing key {key}: required with price_per_hour_usd ({_KEYS[key][1]})"
                )

    out: dict[str, Any] = {} if name is None else {"name": name}
    for key, value in entry.items():
        check, _, field, to_si = _KEYS[key]
        if key == "tflops":
            peaks = _table(where, key, value, DTYPES)
            if not peaks:
                raise ValidationError(
                    f"{where}: tflops is empty: expected at least one dtype among {', '.join(DTYPES)}"
                )
            out["peak_flops"] = {
                k: _checked(where, f"tflops.{k}", v, check) * TERA for k, v in peaks.items()
            }
        elif key == "efficiency":
            table = _table(where, key, value, tuple(EFFICIENCY_KEYS))
            eff: dict[str, Any] = {}
            for k, v in table.items():
                check_k, _, field_k, to_si_k = _EFFICIENCY[k]
                v = _checked(where, f"efficiency.{k}", v, check_k)
                eff[field_k] = (
                    v if isinstance(v, bool) else float(v if to_si_k is None else to_si_k(v))
                )
            out["efficiency"] = eff
        elif key == "measured":  # calibrate's tables: checked to be a table, then left out
            _checked(where, key, value, check)
        else:
            v = _checked(where, key, value, check)
            assert field is not None
            out[field] = v if to_si is None else to_si(v)
    return cast(ChipFields, out)


def is_chip_path(name: str) -> bool:
    """Whether ``name`` names a chip file rather than a catalog chip: it has a path separator or
    ends in ``.toml`` (no catalog name does either)."""
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(s in name for s in seps) or name.lower().endswith(".toml")


def read_chip_file(path: str | os.PathLike[str]) -> ChipFields:
    """The one chip in the TOML file ``path`` (relative paths from the current directory): its
    keys at the top level with a ``name``, or a single table whose header is the name (a catalog
    entry copied as it is)."""
    shown = os.fspath(path)
    if "\0" in shown:
        raise ValidationError(f"chip file {shown!r}: a path cannot hold a NUL character")
    p = Path(shown)
    if p.is_dir():
        raise ValidationError(f"chip file {shown}: is a directory, expected a TOML file")
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ValidationError(f"chip file {shown}: no such file") from None
    except OSError as e:
        raise ValidationError(f"chip file {shown}: cannot read it ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValidationError(
            f"chip file {shown}: not UTF-8 text (byte {e.start}); expected a TOML file"
        ) from None
    try:
        doc = toml_loads(text)
    except TOMLDecodeError as e:
        raise ValidationError(f"chip file {shown}: not valid TOML: {e}") from None
    tables = [k for k, v in doc.items() if isinstance(v, dict)]
    if doc and len(tables) == len(doc) and not any(k in _KEYS for k in doc):  # catalog-style
        if len(tables) > 1:
            raise ValidationError(
                f"chip file {shown}: holds {len(tables)} chip tables ({', '.join(tables)}); "
                "expected one chip: keep one table, or put its keys at the top level with name = ..."
            )
        return chip_fields(doc[tables[0]], f"chip file {shown} [{tables[0]}]", name=tables[0])
    return chip_fields(doc, f"chip file {shown}")


__all__ = [
    "EFFICIENCY_KEYS",
    "KEYS",
    "REQUIRED",
    "ChipFields",
    "chip_fields",
    "is_chip_path",
    "read_chip_file",
]
