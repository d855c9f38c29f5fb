"""The ledger: :class:`Claim`, verdicts and the registry that :func:`reproduce` reads.

A claim is one function in one topic module, registered with :func:`claim`, which states the
claim's stable id and text once; the function derives a :class:`Finding` (article value,
computed value, verdict, why) and the ledger joins the two into a :class:`Claim`.

Order: topics in :data:`SECTIONS` order, claims in source order within their topic module - the
order of shared/reference/CLAIMS.md, then brickwall's own additions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, get_args

from ..errors import UnknownNameError, invalid

Verdict = Literal["consistent", "inconsistent", "assumption"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

SECTIONS = (
    "speed",
    "sizes",
    "training",
    "serving",
    "routing",
    "cost",
    "speculative",
    "datacenter",
    "pipeline",
)
"""The topic modules of :mod:`brickwall.claims`, in ledger order."""


@dataclass(frozen=True, slots=True)
class Claim:
    id: str
    claim: str
    article: str  #: the article's value as it states it
    computed: str  #: brickwall's value, human units
    verdict: Verdict
    why: str = ""
    assumptions: tuple[str, ...] = ()
    article_value: float | None = None
    computed_value: float | None = None
    details: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "claim": self.claim,
            "article": self.article,
            "computed": self.computed,
            "verdict": self.verdict,
            "why": self.why,
            "assumptions": list(self.assumptions),
            "article_value": self.article_value,
            "computed_value": self.computed_value,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """What a claim function derives; the registry adds the id and the claim's text."""

    article: str
    computed: str
    verdict: Verdict
    why: str = ""
    assumptions: tuple[str, ...] = ()
    article_value: float | None = None
    computed_value: float | None = None
    details: dict[str, float] = field(default_factory=dict)


Derive = Callable[[], Finding]


@dataclass(frozen=True, slots=True)
class Entry:
    """One registered claim: ``seed`` says whether the article states it (shared CLAIMS.md
    lists it); False marks brickwall's own additions."""

    id: str
    section: str
    text: str
    seed: bool
    derive: Derive

    def run(self) -> Claim:
        f = self.derive()
        return Claim(
            self.id,
            self.text,
            f.article,
            f.computed,
            f.verdict,
            f.why,
            f.assumptions,
            f.article_value,
            f.computed_value,
            f.details,
        )


_REGISTRY: dict[str, Entry] = {}


def claim(cid: str, *, section: str, text: str, seed: bool = True) -> Callable[[Derive], Derive]:
    """Register the decorated function as the derivation of claim ``cid``."""
    if section not in SECTIONS:
        raise invalid("section", section, f"one of {', '.join(SECTIONS)}")
    if cid in _REGISTRY:
        raise invalid("id", cid, "an id no other claim has")

    def register(derive: Derive) -> Derive:
        _REGISTRY[cid] = Entry(cid, section, text, seed, derive)
        return derive

    return register


def registry() -> tuple[Entry, ...]:
    """Every registered claim in ledger order (a stable sort keeps source order in a section)."""
    return tuple(sorted(_REGISTRY.values(), key=lambda e: SECTIONS.index(e.section)))


def reproduce(only: str | None = None) -> list[Claim]:
    """Every claim of the seed with a verdict, in CLAIMS.md order (``only``: one id, or a prefix)."""
    entries = [e for e in registry() if only is None or e.id == only or e.id.startswith(only)]
    if not entries:
        raise UnknownNameError(f"only = {only!r}: no claim has that id")
    return [e.run() for e in entries]


# -- verdict helpers ---------------------------------------------------------------------------


def near(computed: float, article: float, tol: float = 0.10) -> bool:
    """Whether ``computed`` is within ``tol`` (relative) of the article's value."""
    return abs(computed / article - 1.0) <= tol


def verdict(ok: bool) -> Verdict:
    return "consistent" if ok else "inconsistent"


__all__ = [
    "SECTIONS",
    "VERDICTS",
    "Claim",
    "Entry",
    "Finding",
    "Verdict",
    "claim",
    "near",
    "registry",
    "reproduce",
    "verdict",
]
