"""Chip files: the catalog's format read from a user's TOML file (docs/chip-format.md).

One reader (readers/chip_file.py) checks the catalog's entries and a user's file alike; a file
holding a catalog entry loads to the same Hardware and the same predictions; the ``[efficiency]``
table is the chip's default efficiency; every kind of bad file is one line naming the file, the
key and the expected range.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import brickwall as bw
import pytest
from brickwall import catalog
from brickwall.cli import app
from brickwall.errors import BrickwallError, BrickwallTypeError, ValidationError
from brickwall.readers.chip_file import _EFFICIENCY, EFFICIENCY_KEYS, chip_fields, read_chip_file
from typer.testing import CliRunner

runner = CliRunner()
EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "my-h100.toml"


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a TOML basic string
    return repr(v)


def to_toml(entry: dict[str, Any], name: str | None = None, header: str | None = None) -> str:
    """A chip table as TOML text: top-level keys (with ``name``), or under ``[header]``."""
    scalars = {"name": name, **entry} if name is not None else dict(entry)
    lines = [f"[{header}]"] if header else []
    tables = {k: v for k, v in scalars.items() if isinstance(v, dict)}
    lines += [f"{k} = {_value(v)}" for k, v in scalars.items() if k not in tables]
    for k, table in tables.items():
        inner = ", ".join(f"{kk} = {_value(vv)}" for kk, vv in table.items())
        lines.append(f"{k} = {{ {inner} }}")
    return "\n".join(lines) + "\n"


def h100_entry() -> dict[str, Any]:
    return dict(catalog.load("hardware")["H100-SXM"])


def write(tmp_path: Path, text: str | bytes, name: str = "chip.toml") -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


# --- round trip --------------------------------------------------------------------------------


@pytest.mark.parametrize("chip", bw.hardware_names())
def test_every_catalog_entry_round_trips_through_a_file(tmp_path: Path, chip: str) -> None:
    entry = dict(catalog.load("hardware")[chip])
    top = write(tmp_path, to_toml(entry, name=chip), "top.toml")
    table = write(tmp_path, to_toml(entry, header=chip), "table.toml")
    assert bw.hardware(str(top)) == bw.hardware(chip)
    assert bw.hardware(str(table)) == bw.hardware(chip)


def test_h100_file_predicts_exactly_what_the_catalog_does(tmp_path: Path) -> None:
    path = write(tmp_path, to_toml(h100_entry(), name="H100-SXM"))
    m = bw.model("llama3.1-70b")
    for tp, batch, context in ((1, 1, 128), (8, 64, 8192), (8, 512, 2048)):
        a = bw.decode(m, bw.Deployment(str(path), tp=tp), batch, context)
        b = bw.decode(m, bw.Deployment("H100-SXM", tp=tp), batch, context)
        assert a.step_time == b.step_time and a.breakdown == b.breakdown
        assert a.cost_per_million_tokens == b.cost_per_million_tokens
    p = bw.prefill(m, bw.Deployment(bw.hardware(path), tp=8), 4, 2048)
    assert p.step_time == bw.prefill(m, bw.Deployment("H100-SXM", tp=8), 4, 2048).step_time


def test_the_documented_example_loads() -> None:
    h = bw.hardware(EXAMPLE)
    assert h.name == "my-H100" and h.memory_bandwidth == 3.35e12 and h.scale_up_domain == 8
    assert h.efficiency == bw.Efficiency(flops=0.65, memory=0.8, network=0.8)
    assert h.scale_up_latency == 1e-6 and h.scale_out_latency == 5e-6  # us, converted exactly
    assert h.price_date == "2026-11" and h.peak_flops["fp8"] == 1978.9e12


def test_paths_and_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, to_toml(h100_entry(), name="mine"), "mine.toml")
    monkeypatch.chdir(tmp_path)
    assert bw.hardware("mine.toml").name == "mine"  # .toml: a path, from the current directory
    assert bw.hardware("./mine.toml").name == "mine"
    assert bw.hardware(tmp_path / "mine.toml").name == "mine"  # a Path object
    assert bw.hardware("mine.toml", price_per_hour=1.5).price_per_hour == 1.5  # overrides apply
    assert bw.hardware("h100-sxm").name == "H100-SXM"  # a name still looks up the catalog
    with pytest.raises(ValidationError, match=r"chip file other\.toml: no such file"):
        bw.hardware("other.toml")
    with pytest.raises(bw.errors.UnknownNameError, match="not in the catalog"):
        bw.hardware("mine")


def test_a_date_literal_is_a_price_date(tmp_path: Path) -> None:
    text = to_toml(h100_entry(), name="x").replace(
        'price_date = "2025-06"', "price_date = 2025-06-01"
    )
    assert bw.hardware(write(tmp_path, text)).price_date == "2025-06-01"


# --- the chip's default efficiency -------------------------------------------------------------


def test_efficiency_keys_are_efficiencys_fields() -> None:
    fields = {field for _, _, field, _ in _EFFICIENCY.values()}
    assert set(EFFICIENCY_KEYS) == set(_EFFICIENCY)
    assert fields == {f.name for f in dataclasses.fields(bw.Efficiency)}


def test_catalog_chips_keep_todays_default() -> None:
    for name in bw.hardware_names():
        assert bw.hardware(name).efficiency == bw.Efficiency()
        assert bw.Deployment(name).efficiency == bw.Efficiency()


def test_file_efficiency_is_the_deployment_default(tmp_path: Path) -> None:
    entry = {**h100_entry(), "efficiency": {"memory": 0.5}}
    path = write(tmp_path, to_toml(entry, name="slow-hbm"))
    chip = bw.hardware(path)
    assert chip.efficiency == bw.Efficiency(memory=0.5)  # the others keep their defaults
    m = bw.model("llama3.1-8b")
    slow = bw.decode(m, bw.Deployment(chip), batch=1, context=128)
    base = bw.decode(m, bw.Deployment("H100-SXM"), batch=1, context=128)
    assert slow.bound == base.bound == "memory: weights"
    # at batch 1 every operator is bound by its memory traffic, which scales with 1 / efficiency;
    # the kernel floor (step.rs) does not
    floor = base.operators["kernel floor"]
    assert slow.operators["kernel floor"] == floor
    assert slow.step_time - floor == pytest.approx((base.step_time - floor) * 0.85 / 0.5, rel=1e-12)
    # an explicit efficiency still overrides the chip's
    explicit = bw.decode(m, bw.Deployment(chip, efficiency=bw.Efficiency()), 1, 128)
    assert explicit.step_time == base.step_time
    # the sweep's deployments take each chip's default too
    r = bw.sweep(m, hardware=[chip, "H100-SXM"], batch=[1], context=[128], keep="all")
    latency = dict(zip(r.columns["hardware"], r.columns["latency"]))
    assert latency["slow-hbm"] - floor == pytest.approx(
        (latency["H100-SXM"] - floor) * 0.85 / 0.5, rel=1e-12
    )


def test_with_hardware_follows_the_new_chips_default(tmp_path: Path) -> None:
    entry = {**h100_entry(), "efficiency": {"flops": 0.5}}
    chip = bw.hardware(write(tmp_path, to_toml(entry, name="c")))
    d = bw.Deployment("H100-SXM", tp=2).with_(tp=4)  # an unrelated change keeps the link
    assert d.with_(hardware=chip).efficiency == chip.efficiency
    assert bw.Deployment(chip).with_(hardware="A100-80GB").efficiency == bw.Efficiency()
    fixed = bw.Deployment("H100-SXM", efficiency=bw.Efficiency.ideal())
    assert fixed.with_(tp=2).with_(hardware=chip).efficiency == bw.Efficiency.ideal()


# --- bad files: one line naming the file, the key and what was expected ------------------------


def _edit(**changes: Any) -> str:
    entry = {**h100_entry(), **changes}
    return to_toml({k: v for k, v in entry.items() if v is not None}, name="x")


BAD: list[tuple[str, str | bytes, type[BrickwallError], list[str]]] = [
    (
        "missing",
        _edit(memory_bandwidth_tb_s=None),
        ValidationError,
        ["missing required key memory_bandwidth_tb_s", "TB/s"],
    ),
    ("no name", to_toml(h100_entry()), ValidationError, ["missing required key name"]),
    ("no memory", _edit(memory_gb=None), ValidationError, ["memory_gb or memory_gib"]),
    (
        "two memories",
        _edit(memory_gib=80),
        ValidationError,
        ["only one of memory_gb or memory_gib"],
    ),
    (
        "unknown",
        _edit(memory_tb=1),
        ValidationError,
        ["unknown key 'memory_tb'", "memory_bandwidth_tb_s", "scale_up_domain"],
    ),
    (
        "unknown dtype",
        _edit(tflops={"bf16": 1, "fp64": 2}),
        ValidationError,
        ["tflops.fp64", "bf16, fp16"],
    ),
    (
        "unknown efficiency",
        _edit(efficiency={"gemm": 0.5}),
        ValidationError,
        ["efficiency.gemm", "flops, memory, network"],
    ),
    (
        "string number",
        _edit(memory_gb="80"),
        BrickwallTypeError,
        ["memory_gb = '80' (str)", "a number > 0"],
    ),
    (
        "float int",
        _edit(scale_up_domain=8.0),
        BrickwallTypeError,
        ["scale_up_domain = 8.0 (float)", "an integer >= 1"],
    ),
    ("bool number", _edit(tdp_w=True), BrickwallTypeError, ["tdp_w = True (bool)", "a number > 0"]),
    ("bool in tflops", _edit(tflops={"bf16": True}), BrickwallTypeError, ["tflops.bf16 = True"]),
    ("number table", _edit(tflops=989.4), BrickwallTypeError, ["tflops = 989.4", "a table"]),
    (
        "string efficiency",
        _edit(efficiency={"memory": "high"}),
        BrickwallTypeError,
        ["efficiency.memory = 'high'", "(0, 1]"],
    ),
    ("empty tflops", _edit(tflops={}), ValidationError, ["tflops is empty"]),
    (
        "zero bandwidth",
        _edit(memory_bandwidth_tb_s=0),
        ValidationError,
        ["memory_bandwidth_tb_s = 0", "> 0"],
    ),
    ("negative memory", _edit(memory_gb=-80), ValidationError, ["memory_gb = -80", "> 0"]),
    ("zero flops", _edit(tflops={"bf16": 0.0}), ValidationError, ["tflops.bf16 = 0.0", "> 0"]),
    (
        "infinite flops",
        _edit(tflops={"bf16": float("inf")}),
        ValidationError,
        ["tflops.bf16 = inf"],
    ),
    ("zero scale-out", _edit(scale_out_gb_s=0), ValidationError, ["scale_out_gb_s = 0", "> 0"]),
    (
        "domain 0",
        _edit(scale_up_domain=0),
        ValidationError,
        ["scale_up_domain = 0", "an integer >= 1"],
    ),
    (
        "negative price",
        _edit(price_per_hour_usd=-1.0),
        ValidationError,
        ["price_per_hour_usd = -1.0", "> 0"],
    ),
    (
        "negative latency",
        _edit(scale_up_latency_us=-1.0),
        ValidationError,
        ["scale_up_latency_us = -1.0", ">= 0"],
    ),
    (
        "efficiency above 1",
        _edit(efficiency={"memory": 1.5}),
        ValidationError,
        ["efficiency.memory = 1.5", "(0, 1]"],
    ),
    (
        "efficiency 0",
        _edit(efficiency={"flops": 0}),
        ValidationError,
        ["efficiency.flops = 0", "(0, 1]"],
    ),
    (
        "price undated",
        _edit(price_date=None),
        ValidationError,
        ["price_date: required with price_per_hour_usd"],
    ),
    (
        "bad date",
        _edit(price_date="June 2025"),
        ValidationError,
        ["price_date = 'June 2025'", "YYYY-MM"],
    ),
    ("empty source", _edit(source=" "), ValidationError, ["source = ' '", "non-empty"]),
    (
        "malformed",
        'name = "x"\nmemory_gb = 80\nmemory_bandwidth_tb_s = = 3\n',
        ValidationError,
        ["not valid TOML", "line 3, column"],
    ),
    (
        "several",
        to_toml(h100_entry(), header="A") + to_toml(h100_entry(), header="B"),
        ValidationError,
        ["holds 2 chip tables (A, B)", "expected one chip"],
    ),
    (
        "named table",
        to_toml({"name": "y", **h100_entry()}, header="A"),
        ValidationError,
        ["[A]", "drop the key"],
    ),
    ("empty", "", ValidationError, ["missing required key name"]),
    ("not utf-8", b'name = "\xff"\n', ValidationError, ["not UTF-8"]),
]


@pytest.mark.parametrize(("case", "text", "kind", "needles"), BAD, ids=[b[0] for b in BAD])
def test_bad_files_are_one_line_errors(
    tmp_path: Path, case: str, text: str | bytes, kind: type[BrickwallError], needles: list[str]
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(kind) as info:
        bw.hardware(str(path))
    message = str(info.value)
    assert message.startswith(f"chip file {path}") and "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)


def test_a_directory_and_an_unreadable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError, match="is a directory"):
        bw.hardware(str(tmp_path) + "/")
    path = write(tmp_path, to_toml(h100_entry(), name="x"))

    def denied(self: Path) -> bytes:  # as a mode-000 file fails for a user who is not root
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(ValidationError, match=r"chip\.toml: cannot read it \(Permission denied\)$"):
        read_chip_file(path)


def test_catalog_entries_go_through_the_same_checks() -> None:
    bad = {**h100_entry(), "scale_up_domain": 0}
    with pytest.raises(
        ValidationError, match=r"^catalog hardware\.toml \[H\]: scale_up_domain = 0"
    ):
        chip_fields(bad, "catalog hardware.toml [H]", name="H")
    assert chip_fields(h100_entry(), "catalog", name="H")["scale_up_domain"] == 8


# --- the CLI -----------------------------------------------------------------------------------


def test_decode_and_sweep_take_a_chip_file(tmp_path: Path) -> None:
    path = write(tmp_path, to_toml(h100_entry(), name="file-H100"))
    args = ["decode", "llama3.1-8b", "--batch", "4", "--json"]
    mine = json.loads(runner.invoke(app, [*args, "--hardware", str(path)]).output)
    ref = json.loads(runner.invoke(app, [*args, "--hardware", "H100-SXM"]).output)
    assert mine["hardware"] == "file-H100" and mine.pop("hardware") != ref.pop("hardware")
    assert mine == ref
    r = runner.invoke(
        app,
        ["sweep", "llama3.1-8b", "-H", f"H100-SXM,{path},{EXAMPLE}", "--tp", "1", "--batch", "1,8"]
        + ["--top", "10", "--json"],
    )
    assert r.exit_code == 0, r.output
    assert {row["hardware"] for row in json.loads(r.output)["rows"]} == {
        "H100-SXM",
        "file-H100",
        "my-H100",
    }


def test_cli_bad_chip_file_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, _edit(scale_up_domain=0))
    for args in (
        ["decode", "llama3.1-8b", "--hardware", str(path)],
        ["sweep", "llama3.1-8b", "--hardware", f"H100-SXM,{path}"],
        ["train", "llama3.1-8b", "--tokens", "1e9", "-H", str(tmp_path / "missing.toml")],
    ):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.startswith("error: chip file ") and r.stderr.count("\n") == 1, r.stderr
