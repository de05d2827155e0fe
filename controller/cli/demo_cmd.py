"""``caravan demo``: the whole product in one command.

Starts a three-node cluster on this machine (mutual TLS), boots a few guests,
live-migrates the ``dirtier`` — a guest that keeps writing memory and printing
its progress — around the cluster (node-1 -> node-2 -> node-3 -> node-1) with
a progress bar per hop, shows that its console carried on across every move,
prints the migration statistics and stops the cluster.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time

import click
import grpc
from rich.console import Console
from rich.table import Table

from caravan import controller_pb2, types_pb2
from controller.client import Client, ClientError
from controller.cluster import UpOptions, down, up
from node.guestconfig import patch

from . import signals
from .migrate_cmd import MIB, make_params, watch

PROGRESS = re.compile(r"^dirtier iter=(\d+) pages=\d+ sum=0x[0-9a-f]{16}$", re.M)
GUESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "guests", "bin")


def _image(name: str, **config: int) -> bytes:
    path = os.path.join(GUESTS, f"{name}.elf")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        raise ClientError(f"{path}: guest image missing (run the demo from a Caravan checkout)") from None
    return patch(data, name, config) if config else data


PROGRESS_WAIT = 120.0  # seconds the dirtier may take to print its next progress line (a loaded machine)


def _console(client: Client, vm: str) -> str:
    chunks = client.controller.StreamConsole(controller_pb2.ControllerConsoleRequest(vm=vm))
    return b"".join(c.data for c in chunks).decode(errors="replace")


def _tail(client: Client, vm: str, lines: int = 1) -> list[str]:
    return _console(client, vm).splitlines()[-lines:]


def _progress(client: Client) -> list[int]:
    """The dirtier's complete progress lines so far (the guest may be mid-line as we read)."""
    return [int(n) for n in PROGRESS.findall(_console(client, "dirtier"))]


def _wait_progress(client: Client, count: int) -> list[int]:
    """Wait until the dirtier has printed ``count`` progress lines: how fast it
    gets there depends on the machine, not on a fixed sleep."""
    deadline = time.monotonic() + PROGRESS_WAIT
    while len(lines := _progress(client)) < count:
        if time.monotonic() > deadline:
            raise ClientError(f"the dirtier printed {len(lines)} progress lines in {PROGRESS_WAIT:.0f} s "
                              f"(waiting for {count}); is the machine overloaded?")
        time.sleep(0.2)
    return lines


@click.command("demo")
@click.option("--dir", "directory", default=None, type=click.Path(file_okay=False),
              help="Where to put the demo cluster (default: a temporary directory).")
@click.option("--keep", is_flag=True, help="Leave the cluster running afterwards (stop it with `caravan cluster down`).")
@click.option("--hops", type=click.IntRange(1, 12), default=3, show_default=True,
              help="Migrations of the dirtier around the cluster.")
def demo_command(directory: str | None, keep: bool, hops: int) -> None:
    """Start a 3-node cluster, live-migrate a running guest around it, show the figures."""
    console = Console(highlight=False)
    cleanup = directory is None
    directory = os.path.abspath(directory or tempfile.mkdtemp(prefix="caravan-demo-"))
    if os.path.isdir(directory) and os.listdir(directory):
        raise ClientError(f"{directory} is not empty; the demo needs a fresh directory (or none: a temporary one)",
                          exit_code=2)
    console.rule("[bold]Caravan: live migration of emulated RISC-V VMs")
    console.print(f"starting a controller and 3 nodes (mutual TLS) in {directory} ...")
    started = time.monotonic()
    config = up(directory, UpOptions(nodes=3))
    try:
        console.print(f"cluster ready in {time.monotonic() - started:.1f} s: controller {config.controller}, "
                      + ", ".join(f"{n['name']} {n['address']}" for n in config.nodes))
        with Client(config) as client:
            _run(console, client, hops)
    except grpc.RpcError as exc:
        raise ClientError(f"demo failed: {exc.details()}", exit_code=1) from None  # type: ignore[attr-defined]
    finally:
        if keep:
            console.print(f"the cluster keeps running: CARAVAN_DIR={directory} caravan vm list; "
                          f"stop it with CARAVAN_DIR={directory} caravan cluster down")
        else:
            with signals.deferred():
                stopped = down(directory)
                console.print("cluster stopped")
                for error in stopped.errors:
                    console.print(f"[red]error:[/] {error}")
                if cleanup:
                    shutil.rmtree(directory, ignore_errors=True)


def _create(client: Client, name: str, image: bytes, image_name: str, memory: int, node: str = "") -> None:
    spec = types_pb2.VmSpec(name=name, memory_bytes=memory, kernel=image, image_name=image_name)
    client.controller.CreateVm(controller_pb2.ControllerCreateVmRequest(spec=spec, node=node, start=True))


def _run(console: Console, client: Client, hops: int) -> None:
    _create(client, "hello", _image("hello"), "hello.elf", 32 << 20)
    _create(client, "bench", _image("cpubench", iterations=40), "cpubench.elf", 32 << 20)
    _create(client, "dirtier", _image("dirtier", iterations=0, working_set_pages=4096, report_every=100,
                                      spin_per_write=20), "dirtier.elf", 64 << 20, node="node-1")
    printed = len(_wait_progress(client, 1))
    _vm_table(console, client)
    console.print(f"hello says: {_tail(client, 'hello')[0]}")
    route = [f"node-{(i + 1) % 3 + 1}" for i in range(hops)]  # node-2, node-3, node-1, node-2, ...
    params = make_params(20, None, False, 0, 60, "force", None)
    jobs = []
    for target in route:
        before = _tail(client, "dirtier")[0]
        console.print(f"\n[bold]dirtier[/bold] is printing: {before}")
        job = client.controller.Migrate(controller_pb2.MigrateRequest(vm="dirtier", destination=target, params=params))
        final = watch(client, job, "table", console)
        jobs.append(final)
        s = final.stats
        console.print(f"moved {final.source} -> {final.destination}: {final.status}, downtime "
                      f"{s.downtime_ms:.1f} ms, {len(s.rounds)} rounds, {s.transferred_bytes / MIB:.1f} MiB")
        # A new progress line after the move: the guest carries on over there.
        printed = len(_wait_progress(client, printed + 1))
        console.print(f"[bold]dirtier[/bold] keeps printing on {final.destination}: {_tail(client, 'dirtier')[0]}")
    iters = _progress(client)
    expected = list(range(iters[0], iters[0] + 100 * len(iters), 100)) if iters else []
    gapless = bool(iters) and iters == expected
    if not gapless:
        wrong = next((i for i, (a, b) in enumerate(zip(iters, expected)) if a != b), len(iters))
        console.print(f"[red]progress lines out of order at line {wrong}: "
                      f"{iters[max(0, wrong - 2):wrong + 3]}[/red]")
    console.print(f"\nthe dirtier's console: {len(iters)} progress lines across {len(jobs)} migrations, "
                  f"{'in order, no gaps or repeats' if gapless else 'NOT IN ORDER'}")
    table = Table(title="migrations", box=None, header_style="bold")
    for column in ("hop", "from", "to", "status", "rounds", "MiB sent", "MiB/s", "total ms", "downtime ms"):
        table.add_column(column)
    for i, job in enumerate(jobs, 1):
        s = job.stats
        table.add_row(str(i), job.source, job.destination, job.status, str(len(s.rounds)),
                      f"{s.transferred_bytes / MIB:.1f}", f"{s.throughput / MIB:.0f}", f"{s.total_ms:.0f}",
                      f"{s.downtime_ms:.1f}")
    console.print(table)
    _vm_table(console, client)
    failed = [f"hop {i} ({job.source} -> {job.destination}): {job.status} {job.error}".strip()
              for i, job in enumerate(jobs, 1) if job.status != "completed"]
    if failed or not gapless:
        raise ClientError("the demo did not go as it should: "
                          + "; ".join(failed + ([] if gapless else ["the dirtier's console has gaps or repeats"])))


def _vm_table(console: Console, client: Client) -> None:
    table = Table(title="VMs", box=None, header_style="bold")
    for column in ("name", "state", "node", "instructions", "MIPS"):
        table.add_column(column)
    for r in client.controller.ListVms(controller_pb2.ControllerListVmsRequest()).vms:
        v = r.vm
        state = types_pb2.VmState.Name(v.state).removeprefix("VM_STATE_").lower()
        table.add_row(v.name, state, v.node, f"{v.stats.instructions:,}", f"{v.stats.mips:.2f}")
    console.print(table)
