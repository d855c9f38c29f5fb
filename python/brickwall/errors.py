"""Exceptions raised by brickwall.

Every error derives from :class:`BrickwallError` and from the builtin a caller would naturally
catch (``ValueError``, ``TypeError``, ``LookupError``), and its message names the field, the value
and what was expected. The Rust core raises these same classes.
"""

from __future__ import annotations

from typing import Any


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


class InfeasibleError(ValidationError):
    """A configuration that cannot run: it does not fit in memory, or its partitioning does not
    divide the model."""


def invalid(field: str, value: Any, expected: str) -> ValidationError:
    """The standard message: ``field = value: expected ...``."""
    return ValidationError(f"{field} = {value!r}: expected {expected}")


def wrong_type(field: str, value: Any, expected: str) -> BrickwallTypeError:
    return BrickwallTypeError(f"{field} = {value!r} ({type(value).__name__}): expected {expected}")
