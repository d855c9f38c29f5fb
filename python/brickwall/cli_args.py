"""The command line's one grammar for numbers, lists and ranges, and its one error path.

Every option that takes numbers reads them here, with one meaning everywhere:

- a count: ``8``, ``4096``, ``1e6`` (scientific notation when the value is a whole number);
- a list: ``1,2,4`` (items as given, in order);
- a range: ``A..B`` is every integer from A to B inclusive, ``A..B:S`` every S-th
  (A, A+S, ... <= B), ``A..B:xF`` a geometric run (A, A*F, A*F^2, ... <= B), e.g.
  ``1..1024:x2`` = 1, 2, 4, ..., 1024; ranges and counts mix in a list (``1,3..7:2``);
- numbers (acceptance rates, seconds, parameter counts): ``0.8``, ``0.6,0.7,0.8``, ``1.8e12``.

A value outside the grammar raises :class:`typer.BadParameter`, a usage error: the command
prints one line naming the option and what was expected, and exits with status 2. The same
holds for a :class:`~brickwall.errors.BrickwallError` from the library (see :class:`Commands`).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from .errors import BrickwallError
from .inference import Routing

GRAMMAR = (
    "Numbers: a count N (1e6 allowed), a list N,M,..., a range A..B (every integer), "
    "A..B:S (step S) or A..B:xF (times F: 1..1024:x2 = 1, 2, 4, ..., 1024); lists may mix them."
)
"""The grammar in one sentence, for the command's help."""

INTS = "N|N,M|A..B[:S|:xF]"
"""Metavar of an option that takes integers in the grammar."""
COUNT = "N"
FLOATS = "X[,Y...]"

_LIST_LIMIT = 1_000_000  # values a comma list may expand to (a lone range stays a lazy range)


def _bad(text: str, expected: str) -> typer.BadParameter:
    return typer.BadParameter(f"{text!r}: expected {expected}")


def _integer(token: str) -> int:
    """``8``, ``-3``, ``1e6``, ``2.5e3``: an exact whole number, else ValueError."""
    token = token.strip()
    try:
        return int(token)
    except ValueError:
        x = float(token)  # raises on words
        if not math.isfinite(x) or x != int(x) or abs(x) > 2**53:
            raise ValueError(token) from None
        return int(x)


def count(text: str | int, *, minimum: int = 1) -> int:
    """One whole number >= ``minimum``: ``8``, ``1e6``."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        try:
            value = _integer(str(text))
        except ValueError:
            raise _bad(str(text), f"a whole number >= {minimum} (like 8 or 1e6)") from None
    if value < minimum:
        raise _bad(str(text), f"a whole number >= {minimum}")
    return value


def _range(item: str, minimum: int, maximum: int | None) -> Sequence[int]:
    lo_s, hi_s = item.split("..", 1)
    hi_s, _, step_s = hi_s.partition(":")
    lo, hi = _integer(lo_s), _integer(hi_s)
    if lo < minimum or hi < lo or (maximum is not None and hi > maximum):
        raise ValueError(item)
    step_s = step_s.strip()
    if step_s.lower().startswith("x"):
        factor = _integer(step_s[1:])
        if factor < 2 or lo < 1:
            raise ValueError(item)
        out = []
        x = lo
        while x <= hi:
            out.append(x)
            x *= factor
        return out
    step = _integer(step_s) if step_s else 1
    if step < 1:
        raise ValueError(item)
    return range(lo, hi + 1, step)


def ints(
    text: str | Sequence[int], *, minimum: int = 1, maximum: int | None = None
) -> Sequence[int]:
    """Integers in the grammar: ``4``, ``1,2,4``, ``1..1024``, ``256..32768:64``, ``1..1024:x2``
    or a comma list mixing them. A lone arithmetic range comes back as a ``range`` (never
    materialised: sweeps enumerate it inside the core); everything else as a list."""
    if not isinstance(text, str):
        return text  # a default given as a sequence
    bounds = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
    expected = (
        f"integers {bounds}: N, N,M,..., A..B (every integer), A..B:S (step S) "
        "or A..B:xF (times F), with A <= B"
    )
    items = [p.strip() for p in text.split(",")]
    if not items or any(not p for p in items):
        raise _bad(text, expected)
    out: list[int] = []
    try:
        for item in items:
            if ".." not in item:
                value = _integer(item)
                if value < minimum or (maximum is not None and value > maximum):
                    raise ValueError(item)
                out.append(value)
                continue
            values = _range(item, minimum, maximum)
            if len(items) == 1:
                return values
            if len(out) + len(values) > _LIST_LIMIT:
                raise _bad(
                    text, f"at most {_LIST_LIMIT:,} values in a list (a lone range is not expanded)"
                )
            out.extend(values)
    except ValueError:
        raise _bad(text, expected) from None
    return out


def floats(text: str | Sequence[float], *, minimum: float | None = None) -> list[float]:
    """Finite numbers: ``0.8``, ``0.6,0.7,0.8``, ``70e9,1.8e12`` (no ranges: they name integers)."""
    if not isinstance(text, str):
        return list(text)
    bound = "" if minimum is None else f" >= {minimum:g}"
    expected = f"a number{bound} or a comma-separated list of them (like 0.8 or 0.6,0.7)"
    items = [p.strip() for p in text.split(",")]
    try:
        out = [float(p) for p in items]
    except ValueError:
        raise _bad(text, expected) from None
    if not out or not all(math.isfinite(x) and (minimum is None or x >= minimum) for x in out):
        raise _bad(text, expected)
    return out


def names(text: str | Sequence[str]) -> list[str]:
    """Comma-separated names (hardware, dtypes, schedules): ``H100-SXM,A100-80GB``."""
    if not isinstance(text, str):
        return list(text)
    out = [p.strip() for p in text.split(",")]
    if not out or any(not p for p in out):
        raise _bad(text, "one name or a comma-separated list of names")
    return out


def routing(text: str) -> Routing:
    """``expected`` or a quantile in (0, 1] of the routing distribution, like ``0.99``."""
    if text.strip().lower() == "expected":
        return "expected"
    try:
        q = float(text)
    except ValueError:
        q = math.nan
    if not 0.0 < q <= 1.0:
        raise _bad(text, "'expected' or a quantile in (0, 1] such as 0.99")
    return q


def counts_from(minimum: int) -> Callable[[str], int]:
    """A typer ``parser=`` for counts >= ``minimum``."""
    return lambda text: count(text, minimum=minimum)


def ints_from(minimum: int, maximum: int | None = None) -> Callable[[str], Sequence[int]]:
    """A typer ``parser=`` for integers in the grammar, each in [``minimum``, ``maximum``]."""
    return lambda text: ints(text, minimum=minimum, maximum=maximum)


def _quiet_stdout() -> None:
    """The reader went away (``brickwall reproduce | head``): point stdout at /dev/null so the
    interpreter's final flush cannot fail, and end quietly - the output was not wanted."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _plain_flags(command: Any, ctx: Any) -> None:
    """Flags take no value, so their help shows no type (typer 0.2x prints ``<bool>``). Duck
    typed: typer vendors click's classes in some versions and uses click's in others."""
    for param in [*command.params, command.get_help_option(ctx)]:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


class QuietConsole(Console):
    """rich's Console, ending with status 0 rather than 1 when the reader closes the pipe."""

    def on_broken_pipe(self) -> None:
        _quiet_stdout()
        raise SystemExit(0)


class Commands(TyperGroup):
    """The ``brickwall`` group: every bad input ends the same way - a usage error from the
    grammar above or a :class:`BrickwallError` from the library prints ``error: ...`` on one
    line of stderr, naming the option or field and what was expected, and exits with status 2
    (never a traceback). Typer's own handling stays for help, ``--help`` and Ctrl-C."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        except BrokenPipeError:
            _quiet_stdout()
            sys.exit(0)
        except BrickwallError as e:
            typer.echo(f"error: {e}", err=True)
            sys.exit(2)
        except typer.TyperException as e:  # click's exceptions, as typer vendors them
            code = getattr(e, "exit_code", 1)
            if type(e).__name__ == "NoArgsIsHelpError":  # no command: typer has printed the help
                sys.exit(code)
            ctx = getattr(e, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            typer.echo(f"error: {e.format_message()}{hint}", err=True)
            sys.exit(code)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # before click turns it into status 1
            _quiet_stdout()
            raise typer.Exit(0) from None

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _plain_flags(command, ctx)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _plain_flags(self, ctx)
        super().format_help(ctx, formatter)


__all__ = [
    "COUNT",
    "FLOATS",
    "GRAMMAR",
    "INTS",
    "Commands",
    "QuietConsole",
    "count",
    "counts_from",
    "floats",
    "ints",
    "ints_from",
    "names",
    "routing",
]
