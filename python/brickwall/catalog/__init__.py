"""Catalog files: facts with a source per entry (hardware.toml, models.toml)."""

from __future__ import annotations

import difflib
import sys
from functools import cache
from importlib import resources
from typing import Any

from ..errors import UnknownNameError, short

# One TOML parser for the catalog and for chip files: the standard library's from Python 3.11,
# its backport (the same code, the `tomli` dependency) on 3.10.
if sys.version_info >= (3, 11):
    from tomllib import TOMLDecodeError
    from tomllib import loads as toml_loads
else:  # pragma: no cover - exercised only on Python 3.10
    from tomli import TOMLDecodeError
    from tomli import loads as toml_loads


@cache
def load(name: str) -> dict[str, dict[str, Any]]:
    """The parsed catalog file ``name``.toml, keyed by entry name."""
    text = resources.files(__package__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return toml_loads(text)


def lookup(kind: str, entries: dict[str, Any], name: str) -> str:
    """The canonical key of ``name`` in ``entries`` (case-insensitive), or an error naming close ones."""
    if not isinstance(name, str):
        raise UnknownNameError(
            f"{kind} = {short(name)}: expected a name, one of {', '.join(entries)}"
        )
    folded = {k.lower(): k for k in entries}
    key = folded.get(name.lower())
    if key is not None:
        return key
    close = difflib.get_close_matches(name.lower(), list(folded), n=4, cutoff=0.4)
    hint = f"did you mean {', '.join(folded[c] for c in close)}? " if close else ""
    raise UnknownNameError(
        f"{kind} = {short(name)} is not in the catalog: {hint}known: {', '.join(entries)}"
    )


__all__ = ["TOMLDecodeError", "load", "lookup", "toml_loads"]
