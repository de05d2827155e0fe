"""Prometheus metrics for a daemon, served over HTTP by a small asyncio server
(no thread, cancelled with the daemon)."""

from __future__ import annotations

import asyncio
from typing import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from . import gcpolicy


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.vms = Gauge("caravan_node_vms", "VMs on this node by phase", ["state"], registry=self.registry)
        self.instructions = Counter("caravan_node_guest_instructions", "Guest instructions retired on this node",
                                    ["vm_id"], registry=self.registry)
        self.slice_seconds = Histogram(
            "caravan_node_slice_seconds", "Wall time of one scheduler slice", registry=self.registry,
            buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.05, 0.1))
        self.refusals = Counter("caravan_node_admission_refusals", "VMs or reservations refused for capacity",
                                registry=self.registry)
        self.requests = Counter("caravan_node_grpc_requests", "gRPC requests by method and status code",
                                ["method", "code"], registry=self.registry)
        self.gc_holds = Gauge("caravan_node_gc_holds", "Holds on the garbage collector by migrations "
                              "(node.gcpolicy): full = no full collection, all = none", ["kind"],
                              registry=self.registry)
        for kind in (gcpolicy.FULL, gcpolicy.ALL):
            self.gc_holds.labels(kind=kind).set_function(lambda kind=kind: gcpolicy.held(kind))

    def update_states(self, vms: Iterable[object]) -> None:
        from .phases import Phase

        counts = {p.value: 0 for p in Phase}
        for vm in vms:
            counts[vm.phase.value] += 1  # type: ignore[attr-defined]
        for state, n in counts.items():
            self.vms.labels(state=state).set(n)


async def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> asyncio.AbstractServer:
    """GET /metrics -> the registry in Prometheus text format."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode("latin-1").split()
            if len(parts) >= 2 and parts[0] == "GET" and parts[1].split("?")[0] in ("/metrics", "/"):
                body = generate_latest(registry)
                head = f"HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE_LATEST}\r\n"
            else:
                body = b"not found\n"
                head = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
            writer.write(f"{head}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
