"""NodeService over gRPC: a thin shell around :class:`Hypervisor`.

Each RPC parses its request, calls one hypervisor action and converts the
result. Errors become gRPC status codes in one table (:data:`STATUS`); every
log line of a call carries its request id (from the ``x-request-id``
metadata, or a new one) and VM id (the plumbing is :mod:`node.rpc`'s).
"""

from __future__ import annotations

import os
from typing import Any

import grpc
import structlog

from caravan import node_pb2, node_pb2_grpc, types_pb2
from vmstate import snapshot as vmsnap

from . import errors as E
from .hypervisor import Hypervisor, Spec
from .phases import Phase
from .rpc import Calls, receive_file
from .store import U64
from .vm import Vm

log = structlog.get_logger("node.service")

STATUS: dict[type[E.NodeError], grpc.StatusCode] = {
    E.NotFound: grpc.StatusCode.NOT_FOUND,
    E.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    E.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    E.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    E.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    E.Unavailable: grpc.StatusCode.UNAVAILABLE,
}

PHASE_TO_PROTO = {
    Phase.STOPPED: types_pb2.VM_STATE_STOPPED,
    Phase.RUNNING: types_pb2.VM_STATE_RUNNING,
    Phase.PAUSED: types_pb2.VM_STATE_PAUSED,
    Phase.CRASHED: types_pb2.VM_STATE_CRASHED,
    Phase.MIGRATING: types_pb2.VM_STATE_MIGRATING,
}


CALLS = Calls(E.NodeError, STATUS, "vm_id", log)
unary, streaming, status_for, _bind = CALLS.unary, CALLS.streaming, CALLS.status_for, CALLS.bind


def _counter(value: int) -> int:
    """A running count as the API's uint64 fields hold it. The definition's
    fields are checked when it is made (VmDefinition); these come from a
    machine or console that arrived from elsewhere, and one out of range must
    not make the VM (and every listing with it) unreportable."""
    return min(max(int(value), 0), U64)


def vm_to_proto(vm: Vm, node: str) -> types_pb2.Vm:
    d = vm.definition
    exit_code = -1 if vm.exit_code is None else vm.exit_code
    return types_pb2.Vm(
        vm_id=d.vm_id, name=d.name, state=PHASE_TO_PROTO[vm.phase], memory_bytes=d.memory,
        shares=d.shares, node=node, backend=d.backend,
        exit_code=exit_code if -(1 << 31) <= exit_code < 1 << 31 else -1,
        crash_reason=vm.crash_reason, crash_instructions=_counter(vm.crash_instructions),
        stats=types_pb2.VmStats(
            instructions=_counter(vm.instructions), cpu_seconds=vm.stats.cpu_seconds,
            mips=vm.stats.mips, dirty_pages_per_second=vm.stats.dirty_pages_per_second,
            slices=_counter(vm.stats.slices), console_bytes=_counter(vm.console.end)),
        created_at=d.created_at, idle=vm.idle, image_name=d.image_name, has_disk=d.disk,
        generation=d.generation, state_digest=vm.state_digest)


def node_info_proto(hv: Hypervisor) -> types_pb2.NodeInfo:
    info = hv.info()
    return types_pb2.NodeInfo(
        name=info["name"], address=info["address"], backend=info["backend"],
        capacity=types_pb2.Capacity(memory_bytes=info["capacity"].memory, vcpus=info["capacity"].vcpus),
        free=types_pb2.Capacity(memory_bytes=max(info["free"].memory, 0), vcpus=max(info["free"].vcpus, 0)),
        vms=info["vms"], running=info["running"], load=info["load"], version="0.1.0",
        started_at=info["started_at"], migration_page_us=info["migration_page_us"],
        migration_handover_ms=info["migration_handover_ms"])


def spec_from_proto(spec: types_pb2.VmSpec) -> Spec:
    return Spec(
        name=spec.name, memory=spec.memory_bytes, kernel=spec.kernel, bios=spec.bios,
        initrd=spec.initrd, append=spec.append or None,
        load_address=spec.load_address or None, disk_bytes=spec.disk_bytes,
        disk_image=spec.disk_image, shares=spec.shares or 1024, backend=spec.backend,
        image_name=spec.image_name)


class NodeServicer(node_pb2_grpc.NodeServiceServicer):
    def __init__(self, hypervisor: Hypervisor, metrics: Any = None) -> None:
        self.hv = hypervisor
        self.metrics = metrics

    @property
    def name(self) -> str:
        return self.hv.config.name

    def count(self, method: str, code: grpc.StatusCode) -> None:
        if self.metrics is not None:
            self.metrics.requests.labels(method=method, code=code.name).inc()

    def _vm(self, vm: Vm) -> types_pb2.Vm:
        return vm_to_proto(vm, self.name)

    @unary
    async def GetNodeInfo(self, request, context):  # type: ignore[no-untyped-def]
        return node_info_proto(self.hv)

    @unary
    async def CreateVm(self, request, context):  # type: ignore[no-untyped-def]
        vm = await self.hv.create_vm(request.vm_id, spec_from_proto(request.spec), request.start,
                               request.reservation_id)
        return self._vm(vm)

    async def CreateVmFromState(self, request_iterator, context):  # type: ignore[no-untyped-def]
        path = self.hv.store.incoming()
        first = await receive_file(request_iterator, path)
        if first is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no state was sent")
        _bind(context, "CreateVmFromState", first)
        try:
            vm = await self.hv.restore_vm(path, first.vm_id, first.name, first.start,
                                          first.reservation_id, first.shares, consume=True)
        except E.NodeError as exc:
            self.count("CreateVmFromState", status_for(exc))
            await context.abort(status_for(exc), str(exc))
        self.count("CreateVmFromState", grpc.StatusCode.OK)
        return self._vm(vm)

    @unary
    async def StartVm(self, request, context):  # type: ignore[no-untyped-def]
        return self._vm(await self.hv.start_vm(request.vm_id))

    @unary
    async def PauseVm(self, request, context):  # type: ignore[no-untyped-def]
        return self._vm(self.hv.pause_vm(request.vm_id))

    @unary
    async def ResumeVm(self, request, context):  # type: ignore[no-untyped-def]
        return self._vm(self.hv.resume_vm(request.vm_id))

    @unary
    async def StopVm(self, request, context):  # type: ignore[no-untyped-def]
        return self._vm(await self.hv.stop_vm(request.vm_id))

    @unary
    async def DestroyVm(self, request, context):  # type: ignore[no-untyped-def]
        await self.hv.destroy_vm(request.vm_id)
        return node_pb2.DestroyVmResponse(vm_id=request.vm_id)

    @unary
    async def GetVm(self, request, context):  # type: ignore[no-untyped-def]
        return self._vm(self.hv.get(request.vm_id))

    @unary
    async def ListVms(self, request, context):  # type: ignore[no-untyped-def]
        return node_pb2.ListVmsResponse(vms=[self._vm(vm) for vm in self.hv.vms.values()])

    @unary
    async def SnapshotVm(self, request, context):  # type: ignore[no-untyped-def]
        options = vmsnap.SaveOptions(compress=request.compress, include_disk=not request.no_disk,
                                     mappable=request.mappable)
        report = await self.hv.snapshot_vm(request.vm_id, request.path, options)
        return node_pb2.SnapshotVmResponse(path=report.path, state_digest=report.state_digest,
                                           bytes=report.file_bytes,
                                           instructions=int(report.meta.get("instret", 0)))

    @unary
    async def RestoreVm(self, request, context):  # type: ignore[no-untyped-def]
        try:
            path = self.hv.store.snapshot_path(request.path)
        except ValueError as exc:
            raise E.InvalidArgument(str(exc)) from None
        if not os.path.isfile(path):
            raise E.NotFound(f"no snapshot file {path} on node {self.name}")
        vm = await self.hv.restore_vm(path, request.vm_id, request.name, request.start,
                                      request.reservation_id, request.shares)
        return self._vm(vm)

    @streaming
    async def ExportVm(self, request, context):  # type: ignore[no-untyped-def]
        async for chunk in self.hv.export_vm(request.vm_id, request.compress):
            yield node_pb2.StateChunk(vm_id=request.vm_id, data=chunk)

    @streaming
    async def StreamConsole(self, request, context):  # type: ignore[no-untyped-def]
        async for offset, data, truncated in self.hv.stream_console(request.vm_id, request.offset, request.follow):
            yield node_pb2.ConsoleChunk(offset=offset, data=data, truncated=truncated)

    @unary
    async def WriteConsole(self, request, context):  # type: ignore[no-untyped-def]
        return node_pb2.WriteConsoleResponse(accepted=self.hv.write_console(request.vm_id, request.data))

    @unary
    async def Reserve(self, request, context):  # type: ignore[no-untyped-def]
        reservation_id, expires = self.hv.reserve(request.reservation_id, request.memory_bytes,
                                                  request.vcpus or 1, float(request.ttl_seconds or 0))
        return node_pb2.Reservation(reservation_id=reservation_id, memory_bytes=request.memory_bytes,
                                    vcpus=request.vcpus or 1, expires_at=expires)

    @unary
    async def Release(self, request, context):  # type: ignore[no-untyped-def]
        return node_pb2.ReleaseResponse(released=self.hv.release(request.reservation_id))

    @streaming
    async def MigrateOut(self, request, context):  # type: ignore[no-untyped-def]
        async for stats in self.hv.migrations.migrate_out(request):
            yield node_pb2.MigrationProgress(job_id=request.job_id, stats=stats)

    async def MigrateIn(self, request_iterator, context):  # type: ignore[no-untyped-def]
        async for ack in self.hv.migrations.migrate_in(request_iterator):
            yield ack

    @unary
    async def FinishMigration(self, request, context):  # type: ignore[no-untyped-def]
        vm, downtime, resumed_at = await self.hv.migrations.finish(request.job_id, request.commit,
                                                                   request.downtime_ms, request.vm_id)
        return node_pb2.FinishMigrationResponse(vm=self._vm(vm) if vm is not None else None,
                                                downtime_ms=downtime, resumed_at=resumed_at)

    async def HandOver(self, request_iterator, context):  # type: ignore[no-untyped-def]
        # Each request is a FinishMigration, answered (and refused: context.abort
        # ends the stream with the status) and counted as one.
        async for request in request_iterator:
            yield await self.FinishMigration(request, context)
