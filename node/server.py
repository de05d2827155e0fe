"""``caravan node serve``: the node daemon's process shell.

One asyncio loop holds the gRPC server (NodeService and the standard
``grpc.health.v1`` service), the hypervisor with all its VMs, and the metrics
endpoint. SIGTERM/SIGINT stop it gracefully: health goes NOT_SERVING, the
server stops accepting and finishes calls in flight, then the hypervisor
saves or releases its VMs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import sys
from dataclasses import dataclass

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from caravan import node_pb2_grpc

from . import logs, tls
from .hypervisor import Hypervisor, NodeConfig
from .metrics import NodeMetrics, serve_metrics
from .service import NodeServicer

log = structlog.get_logger("node.server")

SERVICE_NAME = "caravan.v1.NodeService"
MAX_MESSAGE = 256 << 20
GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class ServeOptions:
    listen: str
    tls: tls.TlsFiles | None          # None: --insecure
    metrics_port: int | None = None
    ready_file: str | None = None


def grpc_options() -> list[tuple[str, int]]:
    return [("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE)]


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


async def serve(config: NodeConfig, options: ServeOptions) -> None:
    server = grpc.aio.server(options=grpc_options())
    port = bind(server, options.listen, options.tls)
    host = options.listen.rsplit(":", 1)[0].strip("[]")
    address = f"{host}:{port}"
    config = dataclasses.replace(config, address=config.address or address)
    metrics = NodeMetrics()
    hypervisor = Hypervisor(config, metrics)
    node_pb2_grpc.add_NodeServiceServicer_to_server(NodeServicer(hypervisor, metrics), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    metrics_server = None
    await hypervisor.start()
    try:
        await server.start()
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        await health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        metrics_port = None
        if options.metrics_port is not None:
            metrics_server = await serve_metrics(metrics.registry, host or "127.0.0.1", options.metrics_port)
            metrics_port = metrics_server.sockets[0].getsockname()[1]
        write_ready(options.ready_file, {"name": config.name, "address": address, "port": port,
                                         "metrics_port": metrics_port, "pid": os.getpid()})
        log.info("node serving", name=config.name, address=address, tls=options.tls is not None,
                 metrics_port=metrics_port, host=socket.gethostname())
        await stop.wait()
        log.info("node stopping")
    finally:
        await health_servicer.enter_graceful_shutdown()
        await server.stop(GRACE_SECONDS)
        await hypervisor.shutdown()
        if metrics_server is not None:
            metrics_server.close()
            await metrics_server.wait_closed()
        log.info("node stopped", name=config.name)


# gRPC's asyncio server completes calls through a poller thread that needs
# the GIL a few times per call; while a VM slice runs, the GIL changes hands
# only every switch interval (5 ms by default). A short interval keeps a
# call's wait near one slice (see bench/node.py).
SWITCH_INTERVAL = 0.0002


def run(config: NodeConfig, options: ServeOptions) -> None:
    logs.configure(json=True)
    sys.setswitchinterval(SWITCH_INTERVAL)
    asyncio.run(serve(config, options))
