"""The ledger: :class:`Claim`, verdicts and the registry that :func:`reproduce` reads.

A claim is one function in one topic module, registered with :func:`claim`, which states the
claim's stable id and text once; the function derives a :class:`Finding` (article value,
computed value, verdict, why) and the ledger joins the two into a :class:`Claim`.

Order: topics in :data:`SECTIONS` order, claims in source order within their topic module (the
article's claims, then brickwall's own additions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from ..errors import UnknownNameError, invalid

Verdict = Literal["consistent", "partly", "depends", "inconsistent", "assumption"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

MEANING: dict[Verdict, str] = {
    "consistent": "brickwall's number supports the article's (within the stated tolerance)",
    "partly": "the claim has several parts; some hold and some do not (the why says which)",
    "depends": "the article's number holds under some of the stated conditions and not others",
    "inconsistent": "brickwall's number does not support the article's (the why says what would)",
    "assumption": "an input the article states; nothing to check",
}
"""What each verdict says, for help texts and the report's legend; one entry per verdict."""

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
    unit: str = ""  #: the unit of article_value and computed_value

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
            "unit": self.unit,
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
    """One registered claim: ``seed`` says whether the article states it; False marks
    brickwall's own additions."""

    id: str
    section: str
    text: str
    unit: str
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
            self.unit,
        )


_REGISTRY: dict[str, Entry] = {}


def claim(
    cid: str, *, section: str, unit: str, text: str, seed: bool = True
) -> Callable[[Derive], Derive]:
    """Register the decorated function as the derivation of claim ``cid``; ``unit`` is the unit
    of its article and computed values (JSON rows carry it)."""
    if section not in SECTIONS:
        raise invalid("section", section, f"one of {', '.join(SECTIONS)}")
    if not unit:
        raise invalid("unit", unit, "the unit of the claim's values")
    if cid in _REGISTRY:
        raise invalid("id", cid, "an id no other claim has")

    def register(derive: Derive) -> Derive:
        _REGISTRY[cid] = Entry(cid, section, text, unit, seed, derive)
        return derive

    return register


def registry() -> tuple[Entry, ...]:
    """Every registered claim in ledger order (a stable sort keeps source order in a section)."""
    return tuple(sorted(_REGISTRY.values(), key=lambda e: SECTIONS.index(e.section)))


def reproduce(only: str | Sequence[str] | None = None) -> list[Claim]:
    """Every claim of the seed with a verdict, in the ledger's order (:data:`SECTIONS`).

    ``only``: claim ids or id prefixes (``"read"`` is read.slow and read.fast), as a sequence or
    one comma-separated string; an unknown one raises UnknownNameError listing the valid ids."""
    entries = registry()
    if only is None:
        return [e.run() for e in entries]
    wanted = [w.strip() for w in (only.split(",") if isinstance(only, str) else only)]

    def picks(e: Entry) -> bool:
        return any(e.id == w or e.id.startswith(w) for w in wanted)

    unknown = [
        w for w in wanted if not w or not any(e.id == w or e.id.startswith(w) for e in entries)
    ]
    if unknown or not wanted:
        raise UnknownNameError(
            f"only = {', '.join(unknown) or repr(only)}: no claim has that id or prefix; "
            f"valid ids: {', '.join(e.id for e in entries)}"
        )
    return [e.run() for e in entries if picks(e)]


# -- verdict helpers ---------------------------------------------------------------------------


def near(computed: float, article: float, tol: float = 0.10) -> bool:
    """Whether ``computed`` is within ``tol`` (relative) of the article's value."""
    return abs(computed / article - 1.0) <= tol


def verdict(ok: bool) -> Verdict:
    return "consistent" if ok else "inconsistent"


def _some(oks: tuple[bool, ...], some: Verdict) -> Verdict:
    if not oks:
        raise invalid("checks", oks, "at least one check")
    return "consistent" if all(oks) else some if any(oks) else "inconsistent"


def parts(*oks: bool) -> Verdict:
    """One check per part of a claim: all hold -> consistent, none -> inconsistent, else partly."""
    return _some(oks, "partly")


def conditions(*oks: bool) -> Verdict:
    """One check per condition the claim is tested under: all -> consistent, none ->
    inconsistent, else depends."""
    return _some(oks, "depends")


__all__ = [
    "SECTIONS",
    "MEANING",
    "VERDICTS",
    "Claim",
    "Entry",
    "Finding",
    "Verdict",
    "claim",
    "conditions",
    "near",
    "parts",
    "registry",
    "reproduce",
    "verdict",
]
