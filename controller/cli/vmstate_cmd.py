"""``caravan vmstate inspect|verify``: look inside a snapshot file."""

from __future__ import annotations

import json
import sys

import click

from vmstate import VmstateError, snapshot

from .errors import CliError
from .output import output_option


@click.group("vmstate")
def vmstate_group() -> None:
    """Inspect and verify VM state files (.vmstate)."""


@vmstate_group.command("inspect")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (as -o json).")
@output_option
def inspect_command(path: str, as_json: bool, output: str) -> None:
    """Show a snapshot's metadata, sections, pages, versions and checksums."""
    try:
        report = snapshot.inspect(path)
    except VmstateError as exc:
        raise CliError(str(exc), exit_code=1) from None
    if as_json or output == "json":
        click.echo(json.dumps(_jsonable(report.to_json()), indent=2, default=_json_default))
        return
    meta = report.meta
    click.echo(f"file:          {report.path} ({report.file_bytes} bytes)")
    click.echo(f"format:        {report.format[0]}.{report.format[1]}"
               f"{' zstd' if report.compressed else ''}{' mappable' if report.mappable else ''}")
    for key in ("vm_id", "name", "generation", "created", "instret", "node", "backend"):
        if key in meta:
            click.echo(f"{key + ':':<15}{meta[key]}")
    pages = f"{report.data_pages} data pages, {report.zero_pages} zero pages"
    if report.mappable:
        click.echo(f"memory:        {report.memory_size >> 20} MiB, a raw memory image of {report.image_bytes} "
                   f"bytes at byte {report.image_offset} ({pages})")
    else:
        click.echo(f"memory:        {report.memory_size >> 20} MiB, {pages}")
    if report.disk is not None:
        where = "embedded" if report.disk.get("embedded") else f"referenced: {report.disk.get('path')}"
        click.echo(f"disk:          {report.disk['size']} bytes, {where}")
    click.echo("sections:")
    for s in report.sections:
        click.echo(f"  {s.name:<9} {s.records:>6} records {s.bytes:>12} bytes  "
                   f"sha256 {s.digest[:16]}  {'ok' if s.verified else 'BAD'}")
    click.echo("versions:      " + ", ".join(f"{k}={v}" for k, v in report.versions.items()))
    click.echo(f"file digest:   {'ok' if report.file_digest_ok else 'BAD'}")
    click.echo(f"state digest:  {report.state_digest}")


@vmstate_group.command("verify")
@click.argument("path", type=click.Path(dir_okay=False))
def verify_command(path: str) -> None:
    """Exit 0 if the file is intact and restores, 1 with the reason if not.

    Checked: the framing, every checksum and digest, a mappable snapshot's
    memory image, and the machine, hart and device records (restored into a
    machine of the saved hardware, its memory untouched; for a VM larger than
    this host allows, the records are not restored and the output says so)."""
    try:
        report = snapshot.inspect(path, check_states=True)
    except VmstateError as exc:
        reason = str(exc)
        if reason.startswith(f"{path}: "):  # the reader's messages name the file already
            reason = reason[len(path) + 2:]
        click.echo(f"{path}: BAD: {reason}", err=True)
        sys.exit(1)
    unchecked = "" if report.states_checked else \
        f"; state records not restored: {report.memory_size} bytes of memory is more than this host allows"
    click.echo(f"{path}: ok (format {report.format[0]}.{report.format[1]}, state {report.state_digest[:16]}{unchecked})")


def _jsonable(value: object) -> object:
    """The report with bytes keys (a file's metadata may hold any) in hex, as bytes values are."""
    if isinstance(value, dict):
        return {(k.hex() if isinstance(k, bytes) else k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _json_default(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(type(value).__name__)
