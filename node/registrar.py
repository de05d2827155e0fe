"""A node's link to its controller: register, then heartbeat (capacity, free
resources, load and the VM list) every interval the controller asks for.
When the controller is unreachable the node keeps running its VMs and keeps
trying; after a failure it registers again (the controller may have
restarted and must reconcile); the channel's reconnect backoff is capped
at 2 s (``RECONNECT_OPTIONS``), so a restarted controller hears from its
nodes within seconds. An error of the node's own while it builds a
heartbeat is logged and retried with a growing delay: the link outlives it."""

from __future__ import annotations

import asyncio

import grpc
import structlog

from caravan import controller_pb2, controller_pb2_grpc

from . import tls
from .hypervisor import Hypervisor
from .service import node_info_proto, vm_to_proto

log = structlog.get_logger("node.registrar")

RETRY_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 10.0  # the longest wait after repeated errors of the node's own
# gRPC's own reconnect backoff grows to 120 s by default: a node would heartbeat
# a restarted controller again only minutes later. Capped at 2 s, it is back
# within a few seconds of the controller.
RECONNECT_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


class Registrar:
    def __init__(self, hypervisor: Hypervisor, controller: str, files: tls.TlsFiles | None) -> None:
        self.hv = hypervisor
        self.controller = controller
        self.files = files
        self._task: asyncio.Task | None = None
        self._channel: grpc.aio.Channel | None = None

    def start(self) -> None:
        options = list(RECONNECT_OPTIONS)
        if self.files is None:
            self._channel = grpc.aio.insecure_channel(self.controller, options=options)
        else:
            self._channel = grpc.aio.secure_channel(self.controller, tls.channel_credentials(self.files),
                                                    options=options)
        self._task = asyncio.create_task(self._run(), name="registrar")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            except Exception:  # it cannot end so (_run), but a shutdown goes on regardless
                log.exception("the controller link had failed")
        if self._channel is not None:
            await self._channel.close()

    async def _run(self) -> None:
        stub = controller_pb2_grpc.ControllerServiceStub(self._channel)
        period = RETRY_SECONDS  # between heartbeats: the controller says
        interval = RETRY_SECONDS  # until the next attempt
        registered = False
        failing = False
        errors = 0  # errors of the node's own in a row
        while True:
            try:
                if not registered:
                    reply = await stub.RegisterNode(
                        controller_pb2.RegisterNodeRequest(info=node_info_proto(self.hv)), timeout=10)
                    period = reply.heartbeat_seconds or RETRY_SECONDS
                    registered = True
                    log.info("registered with the controller", controller=self.controller,
                             heartbeat_seconds=period)
                vms = [vm_to_proto(vm, self.hv.config.name) for vm in self.hv.vms.values()]
                await stub.Heartbeat(controller_pb2.HeartbeatRequest(info=node_info_proto(self.hv), vms=vms),
                                     timeout=10)
                interval = period
                if failing:
                    log.info("controller reachable again", controller=self.controller)
                    failing = False
                if errors:
                    log.info("heartbeats sent again", controller=self.controller)
                    errors = 0
            except grpc.RpcError as exc:
                registered = False
                if not failing:
                    log.warning("cannot reach the controller; retrying", controller=self.controller,
                                code=exc.code().name, error=exc.details())  # type: ignore[attr-defined]
                    failing = True
                interval = RETRY_SECONDS
            except Exception as exc:  # a bug of the node's: the link carries on (CancelledError is not one)
                errors += 1
                interval = min(RETRY_SECONDS * 2 ** (errors - 1), MAX_BACKOFF_SECONDS)
                if errors == 1:
                    log.exception("cannot send a heartbeat; retrying", controller=self.controller,
                                  error=f"{type(exc).__name__}: {exc}", retry_seconds=interval)
                else:
                    log.error("cannot send a heartbeat; retrying", controller=self.controller,
                              error=f"{type(exc).__name__}: {exc}", failures=errors, retry_seconds=interval)
            await asyncio.sleep(interval)
