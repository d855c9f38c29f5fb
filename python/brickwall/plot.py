"""Matplotlib figures (extra ``plot``). Each function returns the Figure and saves it when given
a path; matplotlib is imported lazily with the non-interactive Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import BrickwallError


def pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the extra
        raise BrickwallError("plotting needs matplotlib: pip install 'brickwall[plot]'") from e
    return plt


def finish(fig: Any, path: str | Path | None) -> Any:
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=130)
    return fig


# --- MoE routing -------------------------------------------------------------------------------


def moe_load(result: Any, path: str | Path | None = None) -> Any:
    """Two panels for a :class:`brickwall.moe.ExpertLoad`: the per-expert load distribution and
    the busiest expert's load per step (Monte Carlo bars), with the exact Binomial marginal and
    the exact / bounded max-load law overlaid where they exist."""
    import numpy as np

    from . import moe
    from .errors import TooLargeError

    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, name, title in ((a, "load", "tokens per expert"), (b, "max_load", "tokens at the busiest expert")):
        pmf = result.pmf(name)
        keep = np.flatnonzero(pmf > 1e-7)
        lo, hi = int(keep[0]), int(keep[-1])
        x = np.arange(lo, hi + 1)
        ax.bar(x, pmf[lo : hi + 1], width=1.0 if hi - lo > 40 else 0.8, color="#4c72b0", alpha=0.75,
               label=f"Monte Carlo ({result.trials:,} steps)")
        ax.set_xlabel(title)
        ax.set_ylabel("probability")
        ax.set_title(f"{title}: top-{result.top_k} of {result.n_experts}, {result.tokens:,} tokens")
    if result.popularity == "uniform":
        exact = moe.load_pmf(result.n_experts, result.top_k, result.tokens)
        x = np.arange(exact.size)
        m = exact > 1e-7
        a.plot(x[m], exact[m], "o-", color="#dd8452", ms=3, label="exact Binomial(B, k/E)")
    if result.popularity == "uniform" or result.popularity.startswith("zipf("):
        pop = None if result.popularity == "uniform" else ("zipf", float(result.popularity[5:-1]))
        try:
            mx = moe.max_load_cdf(result.n_experts, result.top_k, result.tokens, popularity=pop)
        except TooLargeError:  # pragma: no cover - guarded by the method choice
            mx = None
        if mx is not None:
            x = np.arange(mx.cdf.size)
            if mx.exact:
                p = mx.pmf()
                m = p > 1e-7
                b.plot(x[m], p[m], "o-", color="#dd8452", ms=3, label=f"exact ({mx.method})")
            else:
                # prod_e P(X_e <= c) is the law of the max of independent Binomials: an upper
                # bound on the true CDF (negative association), drawn as a distribution.
                p = np.diff(mx.upper, prepend=0.0)
                m = p > 1e-7
                b.plot(x[m], p[m], "--", color="#dd8452", lw=1.2, label="independent-experts law (bound)")
    a.legend()
    b.legend()
    return finish(fig, path)
