"""The seed's claims ledger: every number in the GPT-4 analysis (Patel & Wong, SemiAnalysis, July
2023; docs/sources.md, M15), re-derived through the public API.

Each :class:`Claim` carries its stable id, the article's value, the value brickwall computes
(never a literal: each comes from the catalogs and the models), the assumptions used and a verdict
from ``ledger.VERDICTS`` (their meanings in ``ledger.MEANING``): ``consistent`` (within
tolerance), ``partly`` (some parts of the claim hold, some do not), ``depends`` (holds under some
of the stated conditions only), ``inconsistent`` (with the reason, and which assumption would give
the article's number) or ``assumption`` (an input the article states). :func:`reproduce` returns
them all.

Layout: :mod:`.ledger` holds Claim, the verdicts and the registry; each topic module (named in
``ledger.SECTIONS``) registers its claims with ``@claim(id, section=..., text=...)``. Adding a
claim is adding one function to one topic module.
"""

from __future__ import annotations

# Importing the topic modules registers their claims; the ledger orders them by SECTIONS.
from . import cost, datacenter, pipeline, routing, serving, sizes, speculative, speed, training
from .cost import attainable_cost, seed_inference_costs
from .ledger import (
    MEANING,
    SECTIONS,
    VERDICTS,
    Claim,
    Entry,
    Finding,
    Verdict,
    claim,
    registry,
    reproduce,
)
from .pipeline import seed_head_balance, seed_training_bubbles
from .speculative import PLAUSIBLE_ALPHAS, PLAUSIBLE_COST_RATIOS, claim_spec_tokens

__all__ = [
    "MEANING",
    "PLAUSIBLE_ALPHAS",
    "PLAUSIBLE_COST_RATIOS",
    "SECTIONS",
    "VERDICTS",
    "Claim",
    "Entry",
    "Finding",
    "Verdict",
    "attainable_cost",
    "claim",
    "claim_spec_tokens",
    "cost",
    "datacenter",
    "pipeline",
    "registry",
    "reproduce",
    "routing",
    "seed_head_balance",
    "seed_inference_costs",
    "seed_training_bubbles",
    "serving",
    "sizes",
    "speculative",
    "speed",
    "training",
]
