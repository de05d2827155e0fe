"""ControllerService over gRPC: a thin shell around :class:`Controller`.

Each RPC parses, calls one controller action and converts; errors become
status codes in :data:`STATUS` (one table); every log line of a call carries
its request id and, where known, the VM (the plumbing is :mod:`node.rpc`'s).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import grpc
import structlog

from caravan import controller_pb2, controller_pb2_grpc, node_pb2, types_pb2
from node.rpc import Calls, receive_file
from vmstate import durable

from . import errors as E
from .core import Controller
from .store import NodeRow, VmRow

log = structlog.get_logger("controller.service")

STATUS: dict[type[E.ControllerError], grpc.StatusCode] = {
    E.NotFound: grpc.StatusCode.NOT_FOUND,
    E.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    E.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    E.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    E.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    E.Unavailable: grpc.StatusCode.UNAVAILABLE,
}


CALLS = Calls(E.ControllerError, STATUS, "vm", log)
unary, streaming, status_for, _bind = CALLS.unary, CALLS.streaming, CALLS.status_for, CALLS.bind


NODE_STATES = {"ready": controller_pb2.NODE_STATE_READY, "down": controller_pb2.NODE_STATE_DOWN}


class ControllerServicer(controller_pb2_grpc.ControllerServiceServicer):
    def __init__(self, controller: Controller, metrics: Any = None) -> None:
        self.c = controller
        self.metrics = metrics

    def count(self, method: str, code: grpc.StatusCode) -> None:
        if self.metrics is not None:
            self.metrics.requests.labels(method=method, code=code.name).inc()

    # -- conversions --

    def node_record(self, node: NodeRow) -> controller_pb2.NodeRecord:
        live = self.c.live.get(node.name)
        vms = sum(1 for v in self.c.vms.values() if v.node == node.name and v.state != "lost")
        return controller_pb2.NodeRecord(
            name=node.name, address=node.address, state=NODE_STATES.get(node.state, 0),
            cordoned=node.cordoned, backend=node.backend,
            capacity=types_pb2.Capacity(memory_bytes=node.capacity_memory, vcpus=node.capacity_vcpus),
            free=live.free if live is not None else types_pb2.Capacity(),
            load=live.load if live is not None else 0.0, vms=vms,
            last_heartbeat=node.last_heartbeat, registered_at=node.registered_at)

    def vm_record(self, row: VmRow) -> controller_pb2.VmRecord:
        p = row.placement
        return controller_pb2.VmRecord(
            vm=self.c.vm_report(row), group=row.grp,
            placement=controller_pb2.PlacementDecision(
                node=p.get("node", ""), policy=p.get("policy", ""), reasons=p.get("reasons", []),
                decided_at=p.get("decided_at", 0.0), seconds=p.get("seconds", 0.0)),
            desired=row.desired, last_error=row.last_error, updated_at=row.updated_at)

    # -- nodes --

    @unary
    async def RegisterNode(self, request, context):  # type: ignore[no-untyped-def]
        seconds = await self.c.register_node(request.info)
        return controller_pb2.RegisterNodeResponse(heartbeat_seconds=seconds)

    @unary
    async def Heartbeat(self, request, context):  # type: ignore[no-untyped-def]
        await self.c.heartbeat(request.info, list(request.vms))
        return controller_pb2.HeartbeatResponse()

    @unary
    async def ListNodes(self, request, context):  # type: ignore[no-untyped-def]
        nodes = sorted(self.c.nodes.values(), key=lambda n: n.name)
        return controller_pb2.ListNodesResponse(nodes=[self.node_record(n) for n in nodes])

    @unary
    async def CordonNode(self, request, context):  # type: ignore[no-untyped-def]
        return self.node_record(await self.c.cordon(request.name, True))

    @unary
    async def UncordonNode(self, request, context):  # type: ignore[no-untyped-def]
        return self.node_record(await self.c.cordon(request.name, False))

    # -- VMs --

    @unary
    async def CreateVm(self, request, context):  # type: ignore[no-untyped-def]
        row = await self.c.create_vm(request.spec, request.node, request.group, request.policy, request.start)
        return self.vm_record(row)

    @unary
    async def ListVms(self, request, context):  # type: ignore[no-untyped-def]
        rows = sorted(self.c.vms.values(), key=lambda v: (v.created_at, v.name))
        if request.node:
            rows = [r for r in rows if r.node == request.node]
        return controller_pb2.ControllerListVmsResponse(vms=[self.vm_record(r) for r in rows])

    @unary
    async def GetVm(self, request, context):  # type: ignore[no-untyped-def]
        return self.vm_record(self.c.find_vm(request.vm))

    @unary
    async def StartVm(self, request, context):  # type: ignore[no-untyped-def]
        return self.vm_record(await self.c.start_vm(request.vm))

    @unary
    async def StopVm(self, request, context):  # type: ignore[no-untyped-def]
        return self.vm_record(await self.c.stop_vm(request.vm))

    @unary
    async def DeleteVm(self, request, context):  # type: ignore[no-untyped-def]
        return controller_pb2.DeleteVmResponse(vm_id=await self.c.delete_vm(request.vm))

    @streaming
    async def SnapshotVm(self, request, context):  # type: ignore[no-untyped-def]
        async for data in self.c.snapshot_vm(request.vm, request.compress):
            yield node_pb2.StateChunk(data=data)

    async def RestoreVm(self, request_iterator, context):  # type: ignore[no-untyped-def]
        incoming = os.path.join(self.c.store.data_dir, "incoming")
        os.makedirs(incoming, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="restore-", suffix=".vmstate", dir=incoming)
        os.close(fd)
        first = await receive_file(request_iterator, path)
        if first is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no state was sent")
        _bind(context, "RestoreVm", first)
        options = {"name": first.name, "node": first.node, "group": first.group, "policy": first.policy,
                   "start": first.start}
        try:
            row = await self.c.restore_vm(options, path)
        except E.ControllerError as exc:
            self.count("RestoreVm", status_for(exc))
            await context.abort(status_for(exc), str(exc))
        finally:
            await durable.discard(path)
        self.count("RestoreVm", grpc.StatusCode.OK)
        return self.vm_record(row)

    @streaming
    async def StreamConsole(self, request, context):  # type: ignore[no-untyped-def]
        async for chunk in self.c.stream_console(request.vm, request.offset, request.follow):
            yield chunk

    @unary
    async def WriteConsole(self, request, context):  # type: ignore[no-untyped-def]
        return node_pb2.WriteConsoleResponse(accepted=await self.c.write_console(request.vm, request.data))

    # -- migration jobs --

    @unary
    async def Migrate(self, request, context):  # type: ignore[no-untyped-def]
        return self.c.jobs.proto(await self.c.jobs.migrate(request.vm, request.destination, request.params))

    @streaming
    async def WatchJob(self, request, context):  # type: ignore[no-untyped-def]
        async for job in self.c.jobs.watch(request.job_id):
            yield job

    @unary
    async def GetJob(self, request, context):  # type: ignore[no-untyped-def]
        return self.c.jobs.proto(self.c.jobs.get(request.job_id))

    @unary
    async def CancelJob(self, request, context):  # type: ignore[no-untyped-def]
        return self.c.jobs.proto(await self.c.jobs.cancel(request.job_id))

    @unary
    async def ListJobs(self, request, context):  # type: ignore[no-untyped-def]
        rows = sorted(self.c.jobs.rows.values(), key=lambda j: j.created_at)
        if request.vm:
            vm = self.c.find_vm(request.vm)
            rows = [j for j in rows if j.vm_id == vm.id]
        return controller_pb2.ListJobsResponse(jobs=[self.c.jobs.proto(j) for j in rows])

    @unary
    async def DrainNode(self, request, context):  # type: ignore[no-untyped-def]
        jobs = await self.c.jobs.drain(request.name, request.params)
        return controller_pb2.DrainNodeResponse(jobs=[self.c.jobs.proto(j) for j in jobs],
                                                node=self.node_record(self.c.nodes[request.name]))
