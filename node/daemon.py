"""The process shell shared by the node and controller daemons.

One asyncio loop; a ``grpc.aio`` server with the daemon's services and the
standard ``grpc.health.v1`` service; an optional Prometheus endpoint; a ready
file with the bound address (tests and ``caravan cluster up`` bind port 0);
SIGTERM/SIGINT/SIGHUP (its terminal closed) stop it gracefully — health goes
NOT_SERVING, calls in flight finish, then the daemon's own shutdown runs. So
does the exit of the process named by ``--exit-with`` (a test harness, a
script's shell), watched through a pidfd: a harness killed outright leaves
no daemon behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from . import cpus, tls
from .metrics import serve_metrics

log = structlog.get_logger("daemon")

MAX_MESSAGE = 256 << 20
GRACE_SECONDS = 5.0
# gRPC's asyncio server completes calls through a poller thread that needs
# the GIL a few times per call; while guest code runs, the GIL changes hands
# only every switch interval (5 ms by default). A short interval keeps a
# call's wait near one scheduler slice.
SWITCH_INTERVAL = 0.0002


@dataclass(frozen=True)
class ServeOptions:
    listen: str
    tls: tls.TlsFiles | None          # None: --insecure
    metrics_port: int | None = None
    ready_file: str | None = None
    exit_with: int | None = None      # stop when this process exits
    exit_file: str | None = None      # the exit report goes here (JSON) when the daemon has stopped


def lifeline(pid: int) -> int:
    """A pidfd for process ``pid``: readable once it has exited."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        raise OSError(f"--exit-with {pid}: there is no process {pid}") from None


@dataclass
class Daemon:
    """What a daemon plugs into the shell."""

    name: str
    services: list[str]                               # names reported SERVING
    add_servicers: Callable[[grpc.aio.Server, str], None]  # (server, bound address)
    start: Callable[[], Awaitable[None]]
    stop: Callable[[], Awaitable[None]]
    registry: CollectorRegistry
    ready_info: dict = field(default_factory=dict)
    # What the daemon could not do on its way out ({"errors": [...], ...}: a node's VMs
    # whose state could not be saved); a report with errors makes the process exit 1.
    exit_report: Callable[[], dict] = dict


MAX_FRAME_SIZE = (1 << 24) - 1  # the largest HTTP/2 allows


def grpc_options() -> list[tuple[str, int]]:
    return [("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
            # HTTP/2 frames of up to 16 MiB instead of 16 KiB: a 1 MiB migration
            # message is one frame (and fewer TLS records), not 64; small calls
            # are unaffected (bench/migration.py: raw stream ~+10%).
            ("grpc.http2.max_frame_size", MAX_FRAME_SIZE)]


def bind(server: grpc.aio.Server, listen: str, files: tls.TlsFiles | None) -> int:
    if files is None:
        port = server.add_insecure_port(listen)
    else:
        port = server.add_secure_port(listen, tls.server_credentials(files))
    if not port:
        raise OSError(f"cannot listen on {listen}")
    return port


def write_ready(path: str | None, info: dict) -> None:
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.replace(tmp, path)


async def serve(options: ServeOptions, make: Callable[[str], Daemon]) -> dict:
    """Bind, build the daemon for the bound address, serve until a signal
    (or until the ``exit_with`` process exits); the daemon's exit report,
    also written to ``exit_file``."""
    watched = lifeline(options.exit_with) if options.exit_with is not None else None
    server = grpc.aio.server(options=grpc_options())
    port = bind(server, options.listen, options.tls)
    host = options.listen.rsplit(":", 1)[0].strip("[]") or "127.0.0.1"
    address = f"{host}:{port}"
    daemon = make(address)
    daemon.add_servicers(server, address)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    if watched is not None:
        def watched_exited() -> None:
            log.info("the process this daemon exits with has exited", pid=options.exit_with)
            loop.remove_reader(watched)
            stop.set()
        loop.add_reader(watched, watched_exited)
    metrics_server = None
    await daemon.start()
    try:
        await server.start()
        for service in ["", *daemon.services]:
            await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
        metrics_port = None
        if options.metrics_port is not None:
            metrics_server = await serve_metrics(daemon.registry, host, options.metrics_port)
            metrics_port = metrics_server.sockets[0].getsockname()[1]
        write_ready(options.ready_file, {"name": daemon.name, "address": address, "port": port,
                                         "metrics_port": metrics_port, "pid": os.getpid(), **daemon.ready_info})
        log.info("serving", name=daemon.name, address=address, tls=options.tls is not None,
                 metrics_port=metrics_port, cpus=cpus.format_cpu_list(cpus.available()))
        await stop.wait()
        log.info("stopping", name=daemon.name)
    finally:
        await health_servicer.enter_graceful_shutdown()
        await server.stop(GRACE_SECONDS)
        await daemon.stop()
        if metrics_server is not None:
            metrics_server.close()
            await metrics_server.wait_closed()
        if watched is not None:
            loop.remove_reader(watched)
            os.close(watched)
    report = {"name": daemon.name, "pid": os.getpid(), "errors": [], **daemon.exit_report()}
    try:
        write_ready(options.exit_file, report)
    except OSError as exc:  # its disk full, say: what it holds is in the log too
        log.error("could not write the exit report", path=options.exit_file, error=str(exc))
    log.info("stopped", name=daemon.name, errors=len(report["errors"]))
    return report


def tune_process() -> None:
    """Process settings every daemon runs with: a short GIL switch interval
    (gRPC's threads hand results to the event loop promptly) and malloc
    keeping freed memory (see :func:`node.machine.hostmem.keep_freed_memory`)."""
    from .machine import hostmem

    sys.setswitchinterval(SWITCH_INTERVAL)
    hostmem.keep_freed_memory()


def run(options: ServeOptions, make: Callable[[str], Daemon]) -> None:
    from . import logs

    logs.configure(json=True)
    tune_process()
    report = asyncio.run(serve(options, make))
    if report["errors"]:
        raise SystemExit(1)
