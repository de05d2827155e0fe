"""``caravan migrate``, ``caravan job list|show|cancel``, ``caravan node drain``."""

from __future__ import annotations

import sys
import time

import click
import grpc
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from caravan import controller_pb2, node_pb2
from controller.client import Client, ClusterConfig, cluster_dir, fail
from node.migration.source import MIN_BANDWIDTH, Params

from . import signals
from .errors import CliError
from .options import U32_MAX, NumberType, SizeType, WholeNumberType
from .output import emit_json, message, output_option, table

dir_option = click.option("--dir", "directory", default=None, type=click.Path(file_okay=False),
                          help="Cluster directory (default ./.caravan, or $CARAVAN_DIR).")
MIB = 1 << 20


def params_options(fn):  # type: ignore[no-untyped-def]
    """The migration parameters (MigrationParams), each checked against its
    protobuf field's range and the source's rules (node/migration/source.py
    ``Params``) when the command line is parsed."""
    for decorator in reversed([
        click.option("--downtime-ms", type=WholeNumberType(1, U32_MAX, "milliseconds"), default=50,
                     show_default=True, help="Stop iterating when the expected downtime is under this "
                                             "(whole milliseconds, at least 1)."),
        click.option("--max-bandwidth", type=SizeType(min=MIN_BANDWIDTH), default=None,
                     help="Cap the transfer rate (bytes/s, at least 64K; e.g. 100M)."),
        click.option("--auto-converge", is_flag=True, help="Throttle the guest when rounds stop shrinking."),
        click.option("--max-rounds", type=click.IntRange(0, U32_MAX), default=0,
                     help="At most this many pre-copy rounds (then --on-timeout; 0: no limit)."),
        click.option("--timeout", type=NumberType(min=0), default=0,
                     help="Give up iterating after this many seconds (0: no limit)."),
        click.option("--on-timeout", type=click.Choice(["abort", "force"]), default=None,
                     help="At the timeout or --max-rounds: abort (VM stays; the default) or force stop-and-copy."),
        click.option("--compress", type=click.Choice(["zstd"]), default=None, help="Compress pages with zstd."),
    ]):
        fn = decorator(fn)
    return fn


def make_params(downtime_ms: int, max_bandwidth: int | None, auto_converge: bool, max_rounds: int,
                timeout: float, on_timeout: str | None, compress: str | None) -> node_pb2.MigrationParams:
    """The parameters as the source takes them, or a :class:`CliError` (exit 2)
    saying what is wrong. ``downtime_ms`` is whole milliseconds (the field is
    a uint32, and 0 there means "the default 50 ms"): it is never rounded."""
    if on_timeout is not None and not timeout and not max_rounds:
        raise CliError("--on-timeout needs --timeout or --max-rounds (without a limit there is no timeout to act on)")
    try:  # the source's own rules, so that a job is never started only to fail on them
        Params(downtime_ms=downtime_ms, max_bandwidth=max_bandwidth or 0, auto_converge=auto_converge,
               max_rounds=max_rounds, timeout=timeout, on_timeout=on_timeout or "abort", compress=compress or "")
        return node_pb2.MigrationParams(downtime_ms=int(downtime_ms), max_bandwidth=max_bandwidth or 0,
                                        auto_converge=auto_converge, max_rounds=max_rounds, timeout_seconds=timeout,
                                        on_timeout=on_timeout or "abort", compress=compress or "")
    except ValueError as exc:  # a value out of a field's range, from a caller that skipped the option types
        raise CliError(f"migration parameters: {exc}") from None


def summary(job: controller_pb2.Job, console: Console | None = None) -> None:
    s = job.stats
    out = (console.print if console else click.echo)
    out(f"job {job.job_id}: {job.vm_name} {job.source} -> {job.destination}: {job.status}"
        + (f" ({job.error})" if job.error else ""))
    rows = [["setup", f"{s.setup_ms:.1f} ms"], ["total time", f"{s.total_ms:.1f} ms"],
            ["downtime", f"{s.downtime_ms:.2f} ms" if s.downtime_ms else "-"],
            ["rounds", len(s.rounds)], ["transferred", f"{s.transferred_bytes / MIB:.2f} MiB"],
            ["throughput", f"{s.throughput / MIB:.1f} MiB/s"], ["zero pages (not sent)", f"{s.zero_pages}"],
            ["guest pages", f"{s.total_pages}"], ["state records", f"{s.state_bytes} bytes"],
            ["expected downtime at stop", f"{s.expected_downtime_ms:.2f} ms"], ["throttle", f"{s.throttle:.0%}"]]
    table(["", ""], rows)
    if s.rounds:
        table(["ROUND", "PAGES", "ZERO", "BYTES", "SECONDS", "DIRTIED", "MiB/s", "DIRTY/s", "THROTTLE"],
              [[r.round, r.pages, r.zero_pages, r.bytes, f"{r.seconds:.3f}", r.dirtied, f"{r.bandwidth / MIB:.1f}",
                f"{r.dirty_rate:.0f}", f"{r.throttle:.0%}"] for r in s.rounds])


def watch(client: Client, job: controller_pb2.Job, output: str, console: Console | None = None) -> controller_pb2.Job:
    """Follow a job to its end with a progress bar (on a terminal)."""
    console = console or Console(highlight=False)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                        TimeElapsedColumn(), console=console, transient=False,
                        disable=output == "json" or not console.is_terminal)
    final = job
    with progress:
        task = progress.add_task(f"{job.vm_name} {job.source}->{job.destination}", total=None, detail="setup")
        try:
            for update in client.controller.WatchJob(controller_pb2.JobRef(job_id=job.job_id)):
                final = update
                s = update.stats
                rounds = len(s.rounds)
                total = max(s.transferred_bytes + s.remaining_bytes, 1)
                detail = (f"{update.status} round {rounds} | remaining {s.remaining_bytes / MIB:.1f} MB | "
                          f"{s.throughput / MIB:.1f} MB/s | dirty {s.dirty_rate:.0f} p/s | "
                          f"expected downtime {s.expected_downtime_ms:.1f} ms"
                          + (f" | throttle {s.throttle:.0%}" if s.throttle else ""))
                progress.update(task, total=total if rounds else None, completed=s.transferred_bytes, detail=detail)
                if update.status in ("completed", "failed", "cancelled"):
                    break
        except grpc.RpcError as exc:
            raise fail(exc, f"watching job {job.job_id}") from None
    return final


@click.command("migrate")
@click.argument("vm")
@click.argument("node", required=False, default="")
@params_options
@click.option("--detach", is_flag=True, help="Start the job and return its id.")
@dir_option
@output_option
def migrate_command(vm: str, node: str, downtime_ms: int, max_bandwidth: int | None, auto_converge: bool,
                    max_rounds: int, timeout: float, on_timeout: str | None, compress: str | None, detach: bool,
                    directory: str | None, output: str) -> None:
    """Live-migrate VM to NODE (placement chooses when NODE is omitted)."""
    params = make_params(downtime_ms, max_bandwidth, auto_converge, max_rounds, timeout, on_timeout, compress)
    with Client(ClusterConfig.load(cluster_dir(directory))) as client:
        try:
            job = client.controller.Migrate(controller_pb2.MigrateRequest(vm=vm, destination=node, params=params))
        except grpc.RpcError as exc:
            raise fail(exc, f"cannot migrate {vm}") from None
        if detach:
            if output == "json":
                emit_json(message(job))
            else:
                click.echo(job.job_id)
            return
        interrupted = False
        try:
            final = watch(client, job, output)
        except (KeyboardInterrupt, signals.Terminated):
            interrupted = True
            final = cancel_interrupted(client, job, output)
    if output == "json":
        emit_json(message(final))
    else:
        summary(final)
    if final.status == "cancelled" and interrupted:
        sys.exit(130)  # as a shell reports the Ctrl-C that cancelled it
    if final.status == "cancelled":  # by someone else (caravan job cancel): a failure of this command
        click.echo(f"job {final.job_id} was cancelled (caravan job cancel); {final.vm_name} stays on {final.source}",
                   err=True)
    if final.status != "completed":
        sys.exit(1)


def cancel_interrupted(client: Client, job: controller_pb2.Job, output: str) -> controller_pb2.Job:
    """Ctrl-C (or SIGTERM) while watching a migration cancels it, as ``virsh
    migrate`` does: the VM stays on its source. A job past its hand-over can
    only complete, and is followed to its end. ``--detach`` leaves a job
    running; Ctrl-C again stops waiting."""
    click.echo(f"interrupted: cancelling job {job.job_id} ({job.vm_name} stays on {job.source}; "
               "Ctrl-C again to stop waiting)", err=True)
    try:
        client.controller.CancelJob(controller_pb2.JobRef(job_id=job.job_id))
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:  # type: ignore[attr-defined]
            raise fail(exc, f"cannot cancel {job.job_id}") from None
        click.echo(f"not cancelled: {exc.details()}", err=True)  # type: ignore[attr-defined]
    return watch(client, job, output)


@click.group("job")
def job_group() -> None:
    """Migration jobs."""


@job_group.command("list")
@click.option("--vm", default="", help="Only this VM's jobs.")
@dir_option
@output_option
def job_list_command(vm: str, directory: str | None, output: str) -> None:
    """List migration jobs (finished ones too)."""
    with Client(ClusterConfig.load(cluster_dir(directory))) as client:
        try:
            jobs = list(client.controller.ListJobs(controller_pb2.ListJobsRequest(vm=vm)).jobs)
        except grpc.RpcError as exc:
            raise fail(exc) from None
    if output == "json":
        emit_json([message(j) for j in jobs])
        return
    table(["JOB", "VM", "FROM", "TO", "STATUS", "ROUNDS", "TOTAL ms", "DOWNTIME ms", "STARTED"],
          [[j.job_id, j.vm_name, j.source, j.destination, j.status, len(j.stats.rounds), f"{j.stats.total_ms:.0f}",
            f"{j.stats.downtime_ms:.2f}" if j.stats.downtime_ms else "-",
            time.strftime("%H:%M:%S", time.localtime(j.created_at))] for j in jobs])


@job_group.command("show")
@click.argument("job_id")
@dir_option
@output_option
def job_show_command(job_id: str, directory: str | None, output: str) -> None:
    """Show a job's statistics (as QEMU's query-migrate does)."""
    with Client(ClusterConfig.load(cluster_dir(directory))) as client:
        try:
            job = client.controller.GetJob(controller_pb2.JobRef(job_id=job_id))
        except grpc.RpcError as exc:
            raise fail(exc) from None
    if output == "json":
        emit_json(message(job))
    else:
        summary(job)


@job_group.command("cancel")
@click.argument("job_id")
@dir_option
@output_option
def job_cancel_command(job_id: str, directory: str | None, output: str) -> None:
    """Cancel a migration before its hand-over; the VM stays on its source."""
    with Client(ClusterConfig.load(cluster_dir(directory))) as client:
        try:
            job = client.controller.CancelJob(controller_pb2.JobRef(job_id=job_id))
        except grpc.RpcError as exc:
            raise fail(exc, f"cannot cancel {job_id}") from None
    if output == "json":
        emit_json(message(job))
    else:
        click.echo(f"{job.job_id} {job.status}")


@click.command("drain")
@click.argument("name")
@params_options
@dir_option
@output_option
def drain_command(name: str, downtime_ms: int, max_bandwidth: int | None, auto_converge: bool, max_rounds: int,
                  timeout: float, on_timeout: str | None, compress: str | None, directory: str | None, output: str) -> None:
    """Migrate every VM off a node (placement picks targets) and cordon it."""
    params = make_params(downtime_ms, max_bandwidth, auto_converge, max_rounds, timeout, on_timeout, compress)
    with Client(ClusterConfig.load(cluster_dir(directory)), timeout=3600) as client:
        try:
            reply = client.controller.DrainNode(controller_pb2.DrainNodeRequest(name=name, params=params))
        except grpc.RpcError as exc:
            raise fail(exc, f"cannot drain {name}") from None
        except (KeyboardInterrupt, signals.Terminated):
            # The controller stops at the call's end: no VM is moved after the one under way.
            click.echo(f"interrupted: no more VMs are moved off {name}, which stays cordoned (caravan node uncordon "
                       f"{name}); a migration under way goes on (caravan job list, caravan job cancel ID)", err=True)
            sys.exit(130)
    if output == "json":
        emit_json(message(reply))
    else:
        for job in reply.jobs:
            click.echo(f"{job.vm_name}: {job.source} -> {job.destination or '-'} {job.status}"
                       + (f" ({job.error})" if job.error else "")
                       + (f", downtime {job.stats.downtime_ms:.2f} ms" if job.stats.downtime_ms else ""))
        click.echo(f"{name} cordoned; {sum(1 for j in reply.jobs if j.status == 'completed')} of "
                   f"{len(reply.jobs)} VMs moved")
    if any(j.status != "completed" for j in reply.jobs):
        sys.exit(1)
