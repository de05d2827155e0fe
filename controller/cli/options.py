"""Option types shared by CLI commands."""

from __future__ import annotations

import click

from node.machine.memory import parse_size


class SizeType(click.ParamType):
    """A byte size such as 64M, 1G or 4096."""

    name = "size"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, int):
            return value
        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class IntType(click.ParamType):
    """An integer in any base Python accepts (0x80200000, 1_000_000, 42)."""

    name = "integer"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, int):
            return value
        try:
            return int(str(value).replace("_", ""), 0)
        except ValueError:
            self.fail(f"{value!r} is not an integer", param, ctx)


SIZE = SizeType()
INT = IntType()


def exit_with_option(fn):  # type: ignore[no-untyped-def]
    """--exit-with PID (or $CARAVAN_EXIT_WITH), for the daemons' serve commands."""
    return click.option(
        "--exit-with", "exit_with", type=click.IntRange(min=1), envvar="CARAVAN_EXIT_WITH", default=None,
        help="Stop gracefully when process PID exits, as on SIGTERM (a test harness or a script's shell; "
             "default $CARAVAN_EXIT_WITH, which daemons started by `caravan cluster up` inherit).")(fn)
