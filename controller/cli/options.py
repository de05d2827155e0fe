"""Option types shared by CLI commands.

Every number a command sends to a daemon is checked here, when the command
line is parsed: a value out of range exits 2 with a one-line message naming
the option and its range, before any cluster is contacted (the protobuf
fields would otherwise refuse it with an internal error, or a daemon would
refuse it half-way through a command)."""

from __future__ import annotations

import math

import click

from node.machine.memory import parse_size

U32_MAX = (1 << 32) - 1   # a protobuf uint32 field
U64_MAX = (1 << 64) - 1   # a protobuf uint64 field
MAX_SIZE = (1 << 64) - (1 << 40)  # 16777215T: the largest whole-T size a uint64 (or a guest address space) holds


def format_size(n: int) -> str:
    """64M, 16777215T, 4097: the largest unit that divides the size (as --memory takes it)."""
    for unit, shift in (("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


class SizeType(click.ParamType):
    """A byte size such as 64M, 1G or 4096, from ``min`` to ``max`` bytes and,
    with ``multiple``, a multiple of it."""

    name = "size"

    def __init__(self, min: int = 1, max: int = MAX_SIZE, multiple: int = 1) -> None:
        self.min, self.max, self.multiple = min, max, multiple

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, int):
            size = value
        else:
            try:
                size = parse_size(value)
            except ValueError as exc:
                self.fail(str(exc), param, ctx)
        if not self.min <= size <= self.max:
            self.fail(f"{value} is out of range: give a size from {format_size(self.min)} to "
                      f"{format_size(self.max)}", param, ctx)
        if size % self.multiple:
            self.fail(f"{value} is not a multiple of {format_size(self.multiple)}", param, ctx)
        return size


class IntType(click.ParamType):
    """An integer in any base Python accepts (0x80200000, 1_000_000, 42),
    optionally from ``min`` to ``max`` (shown in hex, as addresses are)."""

    name = "integer"

    def __init__(self, min: int | None = None, max: int | None = None) -> None:
        self.min, self.max = min, max

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, int):
            number = value
        else:
            try:
                number = int(str(value).replace("_", ""), 0)
            except ValueError:
                self.fail(f"{value!r} is not an integer", param, ctx)
        if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
            low = f"{self.min:#x}" if self.min is not None else "-inf"
            high = f"{self.max:#x}" if self.max is not None else "inf"
            self.fail(f"{value} is not in the range {low}..{high}", param, ctx)
        return number


class NumberType(click.ParamType):
    """A finite decimal number (not nan or inf) from ``min`` (excluded with
    ``min_open``) to ``max``."""

    name = "number"

    def __init__(self, min: float | None = None, max: float | None = None, min_open: bool = False) -> None:
        self.min, self.max, self.min_open = min, max, min_open

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value} is not a finite number", param, ctx)
        low_ok = self.min is None or (number > self.min if self.min_open else number >= self.min)
        if not low_ok or (self.max is not None and number > self.max):
            if self.max is None:
                wanted = f"x{'>' if self.min_open else '>='}{self.min:g}"
            else:
                low = "" if self.min is None else f"{self.min:g}{'<' if self.min_open else '<='}"
                wanted = f"{low}x<={self.max:g}"
            self.fail(f"{value} is not in the range {wanted}", param, ctx)
        return number


class WholeNumberType(click.ParamType):
    """A whole number from ``min`` to ``max`` that may be written as a decimal
    (``50.0``), for a limit carried in whole units: a fraction is refused,
    never rounded either way (rounding down may turn it into 0, which means
    "the default"; rounding up loosens the limit)."""

    name = "integer"

    def __init__(self, min: int, max: int, unit: str) -> None:
        self.min, self.max, self.unit = min, max, unit

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, int):
            number = value
        else:
            try:
                number = int(value)
            except ValueError:
                try:
                    exact = float(value)
                except ValueError:
                    self.fail(f"{value!r} is not a number", param, ctx)
                if not math.isfinite(exact) or exact != int(exact):
                    self.fail(f"{value} is not a whole number: the limit is carried in whole {self.unit} "
                              f"({self.min} to {self.max})", param, ctx)
                number = int(exact)
        if not self.min <= number <= self.max:
            self.fail(f"{value} is not in the range {self.min}<=x<={self.max} ({self.unit})", param, ctx)
        return number


SIZE = SizeType()
INT = IntType()


def exit_with_option(fn):  # type: ignore[no-untyped-def]
    """--exit-with PID (or $CARAVAN_EXIT_WITH), for the daemons' serve commands."""
    return click.option(
        "--exit-with", "exit_with", type=click.IntRange(min=1), envvar="CARAVAN_EXIT_WITH", default=None,
        help="Stop gracefully when process PID exits, as on SIGTERM (a test harness or a script's shell; "
             "default $CARAVAN_EXIT_WITH, which daemons started by `caravan cluster up` inherit).")(fn)
