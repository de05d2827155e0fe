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
