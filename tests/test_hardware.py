import pytest

import brickwall as bw
from brickwall.errors import UnknownNameError, ValidationError

REQUIRED = [
    "A100-40GB",
    "A100-80GB",
    "H100-SXM",
    "H100-PCIe",
    "H100-NVL",
    "H200",
    "B200",
    "GB200",
    "L40S",
    "MI250X",
    "MI300X",
    "MI325X",
    "TPU-v4",
    "TPU-v5e",
    "TPU-v5p",
    "TPU-v6e",
    "Gaudi2",
    "Gaudi3",
]


def test_catalog_has_every_required_chip() -> None:
    assert set(REQUIRED) <= set(bw.hardware_names())


@pytest.mark.parametrize("name", REQUIRED)
def test_entries_are_sane_and_sourced(name: str) -> None:
    h = bw.hardware(name)
    assert h.source
    assert 10e9 < h.memory < 300e9
    assert 0.5e12 < h.memory_bandwidth < 10e12
    assert "bf16" in h.peak_flops
    # A dense 16-bit peak: ops per byte of HBM between 100 and 700 for every chip listed.
    assert 100 < h.peak_flops["bf16"] / h.memory_bandwidth < 700
    if h.price_per_hour is not None:
        assert h.price_date and h.price_source


def test_h100_dense_not_sparse() -> None:
    h = bw.hardware("h100-sxm")
    assert h.peak_flops["bf16"] == pytest.approx(989.4e12)
    assert h.peak_flops["fp8"] / h.memory_bandwidth == pytest.approx(1978.9 / 3.35, rel=1e-9)
    assert h.scale_up_bandwidth == 450e9  # per direction, not the 900 GB/s bidirectional total


def test_tpu_v4_memory_is_gib() -> None:
    assert bw.hardware("TPU-v4").memory == 32 * 2**30


def test_unknown_hardware_lists_close_names() -> None:
    with pytest.raises(UnknownNameError, match="H100-SXM") as info:
        bw.hardware("H100")
    assert isinstance(info.value, ValueError)


def test_missing_dtype_is_clear() -> None:
    with pytest.raises(UnknownNameError, match="A100-40GB has no native fp8"):
        bw.hardware("A100-40GB").flops("fp8")
    assert bw.hardware("A100-40GB").compute_dtype("fp8") == "bf16"


@pytest.mark.parametrize(
    "field,value",
    [
        ("memory", -1.0),
        ("memory_bandwidth", float("nan")),
        ("scale_up_domain", 0),
        ("price_per_hour", float("inf")),
    ],
)
def test_bad_hardware_fields(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        bw.hardware("H100-SXM", **{field: value})


def test_bad_peak_flops_dtype() -> None:
    with pytest.raises(ValidationError, match="peak_flops"):
        bw.hardware("H100-SXM", peak_flops={"fp7": 1e12})


@pytest.mark.parametrize("field", ["flops", "memory", "network"])
@pytest.mark.parametrize("value", [0.0, 1.5, float("nan"), -0.1])
def test_efficiency_range(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=f"Efficiency.{field}"):
        bw.Efficiency(**{field: value})
