"""Exceptions raised by brickwall.

Every error derives from :class:`BrickwallError` and from the builtin a caller would naturally
catch (``ValueError``, ``TypeError``, ``LookupError``), and its message names the field, the value
and what was expected. The Rust core raises these same classes.
"""

from __future__ import annotations

import reprlib
from decimal import Decimal
from typing import Any

_REPR_CHARS = 100  # longest value an error message quotes in full
_INT_DIGITS = 20  # longer integers are shown in scientific notation


def short(value: Any) -> str:
    """``repr(value)``, kept short: an integer of more than 20 digits as ``1e+400 (401 digits)``,
    any other long repr cut to its start, ``...`` and its full length. Messages quote what the
    user gave; a 10**400 or a 1 GB string should not fill the screen (and the repr of an int
    over 4,300 digits raises in Python >= 3.11)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) < 10**_INT_DIGITS:
            return repr(value)
        mantissa, _, exponent = format(Decimal(value), ".5e").partition("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{exponent} ({int(exponent) + 1} digits)"
    try:
        text = repr(value)
    except ValueError:  # a container holding an int beyond repr's digit limit
        return _SHORT.repr(value)[:_REPR_CHARS]
    if len(text) <= _REPR_CHARS:
        return text
    return f"{text[: _REPR_CHARS - 20]}... ({len(text):,} chars)"


class _ShortRepr(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        return short(x)


_SHORT = _ShortRepr()


class BrickwallError(Exception):
    """Root of every error brickwall raises on purpose."""


class ValidationError(BrickwallError, ValueError):
    """An input value is outside its domain."""


class BrickwallTypeError(BrickwallError, TypeError):
    """An input has the wrong type, dtype or shape."""


class UnknownNameError(ValidationError, LookupError):
    """A name (hardware, model, dtype, schedule, ...) is not in its catalog."""


class TooLargeError(ValidationError):
    """A request too large to run (grid size, trials x tokens, ...)."""


OPT_IN = "pass allow_large=True (on the command line: --allow-large) to run it anyway"
"""How a refusal with an opt-in ends: the request is valid, only big."""


def too_large(what: str, size: float, limit: float, advice: str) -> TooLargeError:
    """A valid request over a work or memory limit that ``allow_large=True`` lifts: the message
    gives its size, the limit, how to shrink it and how to ask for it anyway."""
    return TooLargeError(
        f"{what} = {_amount(size)}, over the limit of {_amount(limit)}: {advice}; {OPT_IN}"
    )


def _amount(x: float) -> str:
    """16,000 in full; 1.6e+13 in scientific notation."""
    return f"{int(x):,}" if x < 1e6 and x == int(x) else f"{x:.4g}"


class InfeasibleError(ValidationError):
    """A configuration that cannot run: it does not fit in memory, or its partitioning does not
    divide the model."""


def invalid(field: str, value: Any, expected: str) -> ValidationError:
    """The standard message: ``field = value: expected ...``."""
    return ValidationError(f"{field} = {short(value)}: expected {expected}")


def wrong_type(field: str, value: Any, expected: str) -> BrickwallTypeError:
    return BrickwallTypeError(
        f"{field} = {short(value)} ({type(value).__name__}): expected {expected}"
    )
