"""Output for people (rich tables) and scripts (``-o json``)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Iterable

import click
from google.protobuf.json_format import MessageToDict
from rich.console import Console
from rich.table import Table

output_option = click.option("-o", "--output", "output", type=click.Choice(["table", "json"]), default="table",
                             show_default=True, help="Output format.")

_console = Console(highlight=False, soft_wrap=True,
                   width=None if sys.stdout is not None and sys.stdout.isatty() else 200)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def message(msg: Any) -> dict:
    return MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def table(columns: list[str], rows: Iterable[list[Any]], title: str | None = None) -> None:
    t = Table(title=title, box=None, header_style="bold", pad_edge=False)
    for column in columns:
        t.add_column(column)
    for row in rows:
        t.add_row(*[str(c) for c in row])
    _console.print(t)


def size(n: int) -> str:
    for unit, div in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= div:
            value = n / div
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return str(n)


def ago(t: float) -> str:
    if not t:
        return "-"
    seconds = max(0.0, time.time() - t)
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def err(text: str) -> None:
    click.echo(text, err=True)


def is_tty() -> bool:
    return sys.stdout.isatty()
