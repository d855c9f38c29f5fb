"""Claims answered by the routing, speculative-decoding and pipeline kernels."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .claims import Claim


def extra_claims() -> list[Claim]:
    return []
