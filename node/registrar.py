"""A node's link to its controller: register, then heartbeat (capacity, free
resources, load and the VM list) every interval the controller asks for.
When the controller is unreachable the node keeps running its VMs and keeps
trying; after a failure it registers again (the controller may have
restarted and must reconcile)."""

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


class Registrar:
    def __init__(self, hypervisor: Hypervisor, controller: str, files: tls.TlsFiles | None) -> None:
        self.hv = hypervisor
        self.controller = controller
        self.files = files
        self._task: asyncio.Task | None = None
        self._channel: grpc.aio.Channel | None = None

    def start(self) -> None:
        if self.files is None:
            self._channel = grpc.aio.insecure_channel(self.controller)
        else:
            self._channel = grpc.aio.secure_channel(self.controller, tls.channel_credentials(self.files))
        self._task = asyncio.create_task(self._run(), name="registrar")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._channel is not None:
            await self._channel.close()

    async def _run(self) -> None:
        stub = controller_pb2_grpc.ControllerServiceStub(self._channel)
        interval = RETRY_SECONDS
        registered = False
        failing = False
        while True:
            try:
                if not registered:
                    reply = await stub.RegisterNode(
                        controller_pb2.RegisterNodeRequest(info=node_info_proto(self.hv)), timeout=10)
                    interval = reply.heartbeat_seconds or RETRY_SECONDS
                    registered = True
                    log.info("registered with the controller", controller=self.controller,
                             heartbeat_seconds=interval)
                vms = [vm_to_proto(vm, self.hv.config.name) for vm in self.hv.vms.values()]
                await stub.Heartbeat(controller_pb2.HeartbeatRequest(info=node_info_proto(self.hv), vms=vms),
                                     timeout=10)
                if failing:
                    log.info("controller reachable again", controller=self.controller)
                    failing = False
            except grpc.RpcError as exc:
                registered = False
                if not failing:
                    log.warning("cannot reach the controller; retrying", controller=self.controller,
                                code=exc.code().name, error=exc.details())  # type: ignore[attr-defined]
                    failing = True
                interval = RETRY_SECONDS
            await asyncio.sleep(interval)
