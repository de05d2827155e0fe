"""The controller (DESIGN.md §6): nodes, VMs, placement, reconciliation.

State lives in the SQLite store and, for fast reads, in memory; every change
is written to the store before it is acknowledged. Nodes push registrations
and heartbeats (capacity, free resources, load, their VM list); a node that
misses heartbeats for ``node_timeout`` is ``down``. Each heartbeat reconciles
the node's VMs with the store: a VM the store places on the node that the node
no longer has becomes ``lost`` — never silently re-created — and the state of
the others follows what the node reports. After a restart the controller
loads the store and reconciles as heartbeats come back in.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass
from typing import AsyncIterator

import grpc
import structlog

from caravan import node_pb2, node_pb2_grpc, types_pb2
from node.store import VM_ID_RE
from node.tls import TlsFiles, channel_credentials
from vmstate import VmstateError
from vmstate import snapshot as vmsnap

from . import errors as E
from .placement import NodeView, Request, place
from .store import NodeRow, Store, VmRow

log = structlog.get_logger("controller")

STATE_NAMES = {
    types_pb2.VM_STATE_STOPPED: "stopped", types_pb2.VM_STATE_RUNNING: "running",
    types_pb2.VM_STATE_PAUSED: "paused", types_pb2.VM_STATE_CRASHED: "crashed",
    types_pb2.VM_STATE_MIGRATING: "migrating", types_pb2.VM_STATE_LOST: "lost",
    types_pb2.VM_STATE_PENDING: "pending",
}
STATE_VALUES = {v: k for k, v in STATE_NAMES.items()}
HOLDING = ("pending", "running", "paused", "migrating")
FOLLOW_MOVE_SECONDS = 5.0  # a console follower waits this long for a VM that no node has (a hand-over, a lagging record)
FOLLOW_RETRY_SECONDS = 0.1  # meanwhile it asks the VM's recorded node this often
# A VM name follows the rule of a VM id (node/store.py): what the CLI can take
# as an argument (not an option) and a shell need not quote.
VM_NAME_RE = VM_ID_RE
# Node answers meaning "the node did not create it": the record can go.
DEFINITE = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED,
            grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION)
RPC_ERRORS = {
    grpc.StatusCode.NOT_FOUND: E.NotFound, grpc.StatusCode.ALREADY_EXISTS: E.AlreadyExists,
    grpc.StatusCode.INVALID_ARGUMENT: E.InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: E.FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: E.ResourceExhausted,
}
MAX_MESSAGE = 256 << 20
# How long the controller waits for a node's answer to a call (a hung node
# answers nothing; its heartbeats stop and it shows "down" after node_timeout).
NODE_CALL_SECONDS = 30.0
NODE_CREATE_SECONDS = 120.0  # CreateVm carries the VM's images
SPEC_BLOBS = ("kernel", "bios", "initrd", "disk_image")


@dataclass(frozen=True)
class ControllerConfig:
    data_dir: str
    name: str = "controller"
    node_timeout: float = 5.0
    heartbeat_seconds: float = 1.0
    tls: TlsFiles | None = None   # client credentials for calls to nodes; None: insecure

    def __post_init__(self) -> None:
        if self.heartbeat_seconds <= 0 or self.node_timeout <= self.heartbeat_seconds:
            raise ValueError("the node timeout must be longer than the heartbeat interval")


def rpc_error(exc: grpc.RpcError, what: str) -> E.ControllerError:
    code = exc.code()  # type: ignore[attr-defined]
    cls = RPC_ERRORS.get(code, E.Unavailable)
    return cls(f"{what}: {exc.details()}")  # type: ignore[attr-defined]


class Controller:
    def __init__(self, config: ControllerConfig, metrics: object | None = None) -> None:
        self.config = config
        self.store = Store(config.data_dir)
        self.metrics = metrics
        self.nodes: dict[str, NodeRow] = {}
        self.live: dict[str, types_pb2.NodeInfo] = {}     # last heartbeat's info per node
        self.vms: dict[str, VmRow] = {}
        self.reports: dict[str, types_pb2.Vm] = {}         # last node report per VM (not persisted)
        self.in_flight: set[str] = set()  # VMs being created or handed over: reconcile leaves them
        self._unmanaged: set[tuple[str, str]] = set()  # (node, VM id) reported without a record, logged once
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._tasks: list[asyncio.Task] = []
        self._credentials = channel_credentials(config.tls) if config.tls else None

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.store.open()
        now = time.time()
        for node in await self.store.load_nodes():
            node.last_heartbeat = now  # a grace period to heartbeat again after our restart
            self.nodes[node.name] = node
        for vm in await self.store.load_vms():
            self.vms[vm.id] = vm
        self._tasks.append(asyncio.create_task(self._monitor(), name="node-monitor"))
        from .jobs import Jobs

        self.jobs = Jobs(self)
        await self.jobs.start()
        log.info("controller started", nodes=len(self.nodes), vms=len(self.vms))

    async def stop(self) -> None:
        if hasattr(self, "jobs"):
            await self.jobs.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        for channel in self._channels.values():
            await channel.close()
        await self.store.close()
        log.info("controller stopped")

    async def _monitor(self) -> None:
        while True:
            await asyncio.sleep(min(0.5, self.config.heartbeat_seconds))
            now = time.time()
            for node in list(self.nodes.values()):
                if node.state == "ready" and now - node.last_heartbeat > self.config.node_timeout:
                    node.state = "down"
                    await self.store.put_node(node)
                    log.warning("node down: missed its heartbeats", node=node.name,
                                silent_for=round(now - node.last_heartbeat, 1))

    # -- nodes ----------------------------------------------------------------------------------

    async def register_node(self, info: types_pb2.NodeInfo) -> float:
        if not info.name or not info.address:
            raise E.InvalidArgument("a node registers with a name and an address")
        now = time.time()
        node = self.nodes.get(info.name)
        if node is None:
            node = NodeRow(info.name, info.address, registered_at=now)
        node.address = info.address
        node.backend = info.backend
        node.capacity_memory = info.capacity.memory_bytes
        node.capacity_vcpus = info.capacity.vcpus
        node.state = "ready"
        node.last_heartbeat = now
        await self.store.put_node(node)
        self.nodes[node.name] = node
        self.live[node.name] = info
        log.info("node registered", node=node.name, address=node.address)
        return self.config.heartbeat_seconds

    async def heartbeat(self, info: types_pb2.NodeInfo, vms: list[types_pb2.Vm]) -> None:
        node = self.nodes.get(info.name)
        if node is None or node.address != info.address:
            await self.register_node(info)
            node = self.nodes[info.name]
        node.last_heartbeat = time.time()
        self.live[info.name] = info
        if node.state != "ready":
            node.state = "ready"
            await self.store.put_node(node)
            log.info("node is back", node=node.name)
        await self._reconcile(node.name, vms)

    async def _reconcile(self, node_name: str, reported: list[types_pb2.Vm]) -> None:
        by_id = {vm.vm_id: vm for vm in reported}
        changed: list[VmRow] = []
        for row in [r for r in self.vms.values() if r.node == node_name]:
            report = by_id.pop(row.id, None)
            if report is None:
                if row.id in self.in_flight or row.state == "lost":
                    continue
                row.state = "lost"
                row.last_error = f"node {node_name} no longer has this VM"
                changed.append(row)
                log.warning("VM lost", vm_id=row.id, node=node_name)
                continue
            if self._observe(row, report):
                changed.append(row)
        await self.store.put_vms(changed)
        for vm_id, report in by_id.items():
            await self._foreign_copy(node_name, vm_id, report)

    async def _foreign_copy(self, node_name: str, vm_id: str, report: types_pb2.Vm) -> None:
        """A node reports a VM that the controller records elsewhere. Outside a
        migration (whose copies are its job's business) a copy that does not
        run is stale — say, the source of a completed migration restarted
        before it freed its copy, and reloaded the VM's definition from disk
        — and is removed, so it cannot block the VM coming back to this node.
        A running one would be a second live copy: reported, never touched."""
        row = self.vms.get(vm_id)
        if row is None:  # said once per copy: it is reported with every heartbeat
            if (node_name, vm_id) not in self._unmanaged:
                self._unmanaged.add((node_name, vm_id))
                log.warning("node runs a VM the controller has no record of (its store lost it?)",
                            node=node_name, vm_id=vm_id, name=report.name)
            return
        jobs = getattr(self, "jobs", None)
        if vm_id in self.in_flight or jobs is None or jobs.active_for(vm_id):
            return
        if row.state == "lost":  # its recorded node lost it: this copy may be all that is left
            log.warning("node has a copy of a VM recorded as lost", node=node_name, vm=row.name, vm_id=vm_id)
            return
        if STATE_NAMES.get(report.state) in ("running", "paused", "migrating"):
            log.error("node runs a copy of a VM that the controller records elsewhere", node=node_name,
                      vm=row.name, vm_id=vm_id, recorded_on=row.node)
            return
        try:
            await self.node_stub(node_name).DestroyVm(node_pb2.VmRef(vm_id=vm_id), timeout=10)
        except (grpc.RpcError, E.ControllerError) as exc:
            log.warning("cannot remove a stale copy of a VM", node=node_name, vm=row.name, vm_id=vm_id,
                        error=str(exc))
            return
        log.warning("removed a stale copy of a VM", node=node_name, vm=row.name, vm_id=vm_id, recorded_on=row.node)

    def node_state(self, name: str) -> str:
        node = self.nodes[name]
        return node.state

    async def cordon(self, name: str, cordoned: bool) -> NodeRow:
        node = self.nodes.get(name)
        if node is None:
            raise E.NotFound(f"no node {name!r}")
        if node.cordoned != cordoned:
            node.cordoned = cordoned
            await self.store.put_node(node)
            log.info("node cordoned" if cordoned else "node uncordoned", node=name)
        return node

    def node_views(self) -> list[NodeView]:
        """What placement sees: per node, free capacity (the controller's own
        ledger of VMs that hold capacity, capped by what the node last
        reported) and anti-affinity groups — one pass over the VMs."""
        held: dict[str, list[int]] = {name: [0, 0, 0] for name in self.nodes}   # memory, vcpus, VMs
        groups: dict[str, dict[str, int]] = {name: {} for name in self.nodes}
        for v in self.vms.values():
            totals = held.get(v.node)
            if totals is None or v.state == "lost":
                continue
            totals[2] += 1
            if v.state in HOLDING:
                totals[0] += v.memory
                totals[1] += 1
            if v.grp:
                g = groups[v.node]
                g[v.grp] = g.get(v.grp, 0) + 1
        views = []
        for node in self.nodes.values():
            memory, vcpus, count = held[node.name]
            free_mem = node.capacity_memory - memory
            free_cpu = node.capacity_vcpus - vcpus
            live = self.live.get(node.name)
            if live is not None:
                free_mem = min(free_mem, live.free.memory_bytes)
                free_cpu = min(free_cpu, live.free.vcpus)
            views.append(NodeView(node.name, node.state == "ready", node.cordoned, node.backend,
                                  node.capacity_memory, node.capacity_vcpus, free_mem, free_cpu, count,
                                  groups[node.name]))
        return views

    # -- node connections -------------------------------------------------------------------------

    def node_stub(self, name: str) -> node_pb2_grpc.NodeServiceStub:
        node = self.nodes.get(name)
        if node is None:
            raise E.NotFound(f"no node {name!r}")
        if node.state != "ready":
            raise E.Unavailable(f"node {name} is {node.state}")
        channel = self._channels.get(node.address)
        if channel is None:
            options = [("grpc.max_receive_message_length", MAX_MESSAGE),
                       ("grpc.max_send_message_length", MAX_MESSAGE)]
            if self._credentials is None:
                channel = grpc.aio.insecure_channel(node.address, options=options)
            else:
                channel = grpc.aio.secure_channel(node.address, self._credentials, options=options)
            self._channels[node.address] = channel
        return node_pb2_grpc.NodeServiceStub(channel)

    # -- VMs --------------------------------------------------------------------------------------

    def find_vm(self, selector: str) -> VmRow:
        if not selector:
            raise E.InvalidArgument("name a VM (its name or id)")
        row = self.vms.get(selector)
        if row is not None:
            return row
        for row in self.vms.values():
            if row.name == selector:
                return row
        raise E.NotFound(f"no VM named {selector!r}")

    def _check_name(self, name: str) -> str:
        if not VM_NAME_RE.fullmatch(name):
            raise E.InvalidArgument(f"invalid VM name {name!r}: up to 64 ASCII letters, digits, '.', '_' or '-', "
                                    "starting with a letter or digit")
        if any(v.name == name for v in self.vms.values()):
            raise E.AlreadyExists(f"a VM named {name!r} exists already")
        if name in self.vms:  # a selector is an id or a name: the two must not meet
            raise E.AlreadyExists(f"{name!r} is the id of VM {self.vms[name].name}; choose another name")
        return name

    @staticmethod
    def _default_name(base: str, vm_id: str) -> str:
        """``<image or saved name>-<id prefix>``, made a valid name."""
        stem = re.sub(r"[^A-Za-z0-9._-]", "-", base.split(".")[0]).lstrip("._-")[:48] or "vm"
        return f"{stem}-{vm_id[:4]}"

    def _new_vm_id(self) -> str:
        """A fresh VM id, never one in use as an id or a name."""
        names = {v.name for v in self.vms.values()}
        while True:
            vm_id = uuid.uuid4().hex[:10]
            if vm_id not in self.vms and vm_id not in names:
                return vm_id

    async def _admit_row(self, row: VmRow) -> None:
        """Take ``row`` into the controller's view at once — within the same
        step as its name check and placement, so a concurrent create sees its
        name and its place — then into the store; undone if the write fails."""
        self.vms[row.id] = row
        self.in_flight.add(row.id)
        try:
            await self.store.put_vm(row)
        except BaseException:
            self.vms.pop(row.id, None)
            self.in_flight.discard(row.id)
            raise

    def _decide(self, memory: int, group: str, backend: str, node: str, policy: str,  # type: ignore[no-untyped-def]
                avoid: str = ""):
        if node and node not in self.nodes:
            known = ", ".join(sorted(self.nodes)) or "none registered"
            raise E.NotFound(f"no node named {node!r} (nodes: {known})")
        try:
            decision = place(Request(memory=memory, group=group, backend=backend, node=node,
                                     policy=policy or "spread", avoid=avoid), self.node_views())
        except ValueError as exc:
            raise E.InvalidArgument(str(exc)) from None
        if self.metrics is not None:
            self.metrics.placement_seconds.observe(decision.seconds)
        if decision.node is None:
            detail = "; ".join(decision.reasons) or "no nodes registered"
            raise E.ResourceExhausted(f"no node can take the VM ({detail})")
        return decision

    async def create_vm(self, spec: types_pb2.VmSpec, node: str, group: str, policy: str,
                        start: bool) -> VmRow:
        if spec.memory_bytes <= 0:
            raise E.InvalidArgument("give the VM some memory")
        if not spec.kernel and not spec.bios:
            raise E.InvalidArgument("a VM needs a kernel image or a firmware image")
        stored = {}
        for blob in SPEC_BLOBS:  # first: no await between the name check, the placement and the row
            data = getattr(spec, blob)
            if data:
                stored[blob] = await self.store.put_image(data)
        vm_id = self._new_vm_id()
        name = self._check_name(spec.name or self._default_name(spec.image_name or "vm", vm_id))
        decision = self._decide(spec.memory_bytes, group, spec.backend, node, policy)
        fields = {f: getattr(spec, f) for f in ("append", "load_address", "disk_bytes", "image_name", "backend")}
        row = VmRow(id=vm_id, name=name, node=decision.node, state="pending",
                    desired="running" if start else "stopped", memory=spec.memory_bytes,
                    shares=spec.shares or 1024, grp=group, backend=spec.backend,
                    spec={**fields, "images": stored},
                    placement={"node": decision.node, "policy": decision.policy, "reasons": decision.reasons,
                               "decided_at": decision.decided_at, "seconds": decision.seconds},
                    created_at=time.time())
        await self._admit_row(row)
        log.info("VM placed", vm_id=vm_id, name=name, node=decision.node, policy=decision.policy)
        request = node_pb2.CreateVmRequest(vm_id=vm_id, start=start, spec=types_pb2.VmSpec(
            name=name, memory_bytes=spec.memory_bytes, kernel=spec.kernel, bios=spec.bios, initrd=spec.initrd,
            append=spec.append, load_address=spec.load_address, disk_bytes=spec.disk_bytes,
            disk_image=spec.disk_image, shares=row.shares, backend=spec.backend, image_name=spec.image_name))
        try:
            report = await self.node_stub(decision.node).CreateVm(request, timeout=NODE_CREATE_SECONDS)
        except grpc.RpcError as exc:
            if exc.code() in DEFINITE:  # type: ignore[attr-defined]
                del self.vms[vm_id]
                await self.store.delete_vm(vm_id)
            else:
                row.last_error = f"node {decision.node} did not answer: {exc.details()}"  # type: ignore[attr-defined]
                await self.store.put_vm(row)
            raise rpc_error(exc, f"node {decision.node} refused the VM") from None
        finally:
            self.in_flight.discard(vm_id)
        await self._record(row, report)
        return row

    def _observe(self, row: VmRow, report: types_pb2.Vm) -> bool:
        """Take a node's report of a VM; True when its state changed (the row needs saving)."""
        self.reports[row.id] = report
        state = STATE_NAMES.get(report.state, "stopped")
        if state == row.state:
            return False
        row.state = state
        row.report = report.SerializeToString()
        return True

    async def refresh_vm(self, row: VmRow) -> VmRow:
        """Ask the VM's node for its state now, rather than trust the last heartbeat.

        A guest can power itself off between heartbeats; operations that only
        make sense on a running VM (migration) check with the node first."""
        report = await self._node_call(row, "GetVm", "look up")
        if self._observe(row, report):
            await self.store.put_vm(row)
        return row

    async def _record(self, row: VmRow, report: types_pb2.Vm) -> None:
        self.reports[row.id] = report
        row.state = STATE_NAMES.get(report.state, "stopped")
        row.report = report.SerializeToString()
        row.last_error = ""
        await self.store.put_vm(row)

    async def _node_call(self, row: VmRow, method: str, what: str) -> types_pb2.Vm:
        if row.state == "lost":
            raise E.FailedPrecondition(f"VM {row.name} is lost (its node no longer has it); delete it")
        stub = self.node_stub(row.node)
        try:
            return await getattr(stub, method)(node_pb2.VmRef(vm_id=row.id), timeout=NODE_CALL_SECONDS)
        except grpc.RpcError as exc:
            raise rpc_error(exc, f"cannot {what} VM {row.name} on node {row.node}") from None

    async def start_vm(self, selector: str) -> VmRow:
        row = self.find_vm(selector)
        report = await self._node_call(row, "StartVm", "start")
        row.desired = "running"
        await self._record(row, report)
        return row

    async def stop_vm(self, selector: str) -> VmRow:
        row = self.find_vm(selector)
        report = await self._node_call(row, "StopVm", "stop")
        row.desired = "stopped"
        await self._record(row, report)
        return row

    async def delete_vm(self, selector: str) -> str:
        row = self.find_vm(selector)
        if row.node in self.nodes:
            # A lost VM is not run by its node, which may still keep its files (a definition
            # it could not read at start): they go with it, unless the node does not answer.
            lost = row.state == "lost"
            if not lost:
                try:
                    await self._node_call(row, "StopVm", "stop")
                except (E.FailedPrecondition, E.NotFound):
                    pass
            try:
                await self.node_stub(row.node).DestroyVm(node_pb2.VmRef(vm_id=row.id), timeout=NODE_CALL_SECONDS)
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                    if not lost:
                        raise rpc_error(exc, f"cannot delete VM {row.name} on node {row.node}") from None
                    log.warning("a lost VM's files may stay on its node", vm_id=row.id, node=row.node,
                                error=exc.details())  # type: ignore[attr-defined]
            except E.ControllerError as exc:  # its node is down
                if not lost:
                    raise
                log.warning("a lost VM's files may stay on its node", vm_id=row.id, node=row.node, error=str(exc))
        await self.store.delete_vm(row.id)
        del self.vms[row.id]
        self.reports.pop(row.id, None)
        log.info("VM deleted", vm_id=row.id, name=row.name)
        return row.id

    # -- state out and in ---------------------------------------------------------------------------

    async def snapshot_vm(self, selector: str, compress: bool) -> AsyncIterator[bytes]:
        row = self.find_vm(selector)
        stub = self.node_stub(row.node)
        try:
            async for chunk in stub.ExportVm(node_pb2.ExportVmRequest(vm_id=row.id, compress=compress)):
                yield chunk.data
        except grpc.RpcError as exc:
            raise rpc_error(exc, f"cannot snapshot VM {row.name}") from None

    async def restore_vm(self, options: dict, path: str) -> VmRow:
        """A new VM from the vmstate file at ``path`` (an upload; the caller removes it)."""
        try:
            # The header only: the node checks the memory image as it loads it.
            header = await asyncio.to_thread(vmsnap.inspect, path, None, False)
        except VmstateError as exc:  # about the upload: name it as the user knows it
            raise E.InvalidArgument(str(exc).replace(path, "the uploaded file")) from None
        vm_id = self._new_vm_id()
        saved_name = str(header.meta.get("name") or "vm")
        name = self._check_name(options.get("name") or self._default_name(saved_name, vm_id))
        decision = self._decide(header.memory_size, options.get("group", ""), "",
                                options.get("node", ""), options.get("policy", ""))
        row = VmRow(id=vm_id, name=name, node=decision.node, state="pending",
                    desired="running" if options.get("start") else "stopped", memory=header.memory_size,
                    shares=int(header.meta.get("shares") or 1024), grp=options.get("group", ""),
                    spec={"restored_from": header.meta, "images": {}},
                    placement={"node": decision.node, "policy": decision.policy, "reasons": decision.reasons,
                               "decided_at": decision.decided_at, "seconds": decision.seconds},
                    created_at=time.time())
        await self._admit_row(row)

        async def upload() -> AsyncIterator[node_pb2.StateChunk]:
            first = True
            with open(path, "rb") as f:
                while True:
                    data = await asyncio.to_thread(f.read, 1 << 20)
                    if not data and not first:
                        return
                    if first:
                        yield node_pb2.StateChunk(vm_id=vm_id, name=name, start=bool(options.get("start")),
                                                  data=data)
                        first = False
                    else:
                        yield node_pb2.StateChunk(data=data)

        try:
            report = await self.node_stub(decision.node).CreateVmFromState(upload())
        except grpc.RpcError as exc:
            if exc.code() in DEFINITE:  # type: ignore[attr-defined]
                del self.vms[vm_id]
                await self.store.delete_vm(vm_id)
            raise rpc_error(exc, f"node {decision.node} refused the VM") from None
        finally:
            self.in_flight.discard(vm_id)
        await self._record(row, report)
        return row

    async def stream_console(self, selector: str, offset: int, follow: bool) -> AsyncIterator[node_pb2.ConsoleChunk]:
        """The VM's console from ``offset``. Following, it follows the VM too:
        when the VM leaves its node (the node's stream ends, or the node no
        longer has it) the stream goes on from its new node at the next byte —
        the console history migrates with the VM, so nothing is lost or
        repeated. It ends when the VM is deleted."""
        row = self.find_vm(selector)
        missing_since = 0.0  # since when no node has answered for the VM (0: one just did)
        while True:
            node = row.node
            try:
                async for chunk in self.node_stub(node).StreamConsole(node_pb2.StreamConsoleRequest(
                        vm_id=row.id, offset=offset, follow=follow)):
                    offset = chunk.offset + len(chunk.data)
                    yield chunk
                missing_since = 0.0  # the node had the VM until now
            except grpc.RpcError as exc:
                if not follow or exc.code() != grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                    raise rpc_error(exc, f"console of VM {row.name}") from None
            if not follow:
                return
            missing_since = missing_since or time.monotonic()
            if not await self._next_node(row, node, missing_since + FOLLOW_MOVE_SECONDS):
                log.info("console follower ends", vm=row.name, node=node, offset=offset,
                         why="deleted" if self.vms.get(row.id) is not row else
                         f"no node has had the VM for {FOLLOW_MOVE_SECONDS:g} s")
                return
            if row.node != node:
                log.info("console follower moves with the VM", vm=row.name, source=node, node=row.node,
                         offset=offset)

    async def _next_node(self, row: VmRow, node: str, deadline: float) -> bool:
        """Whether to go on streaming ``row``'s VM from ``row.node``, now that
        ``node`` has ended its stream or does not have the VM. Its record may
        name another node (it moved), or still ``node``: then ask ``node``
        again shortly — the hand-over record names a migration's destination
        before the destination resumes the VM, and a follower that reaches
        it in between must wait for it. False once ``deadline`` is past or
        the VM is deleted."""
        if self.vms.get(row.id) is row and row.node == node:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(FOLLOW_RETRY_SECONDS)
        return self.vms.get(row.id) is row

    async def write_console(self, selector: str, data: bytes) -> int:
        row = self.find_vm(selector)
        try:
            reply = await self.node_stub(row.node).WriteConsole(node_pb2.WriteConsoleRequest(vm_id=row.id, data=data),
                                                                timeout=NODE_CALL_SECONDS)
        except grpc.RpcError as exc:
            raise rpc_error(exc, f"console of VM {row.name}") from None
        return reply.accepted

    def vm_report(self, row: VmRow) -> types_pb2.Vm:
        """The VM as last reported, with the controller's state and node."""
        report = self.reports.get(row.id)
        if report is None:
            report = types_pb2.Vm()
            if row.report:
                report.ParseFromString(row.report)
        vm = types_pb2.Vm()
        vm.CopyFrom(report)
        vm.vm_id = row.id
        vm.name = row.name
        vm.node = row.node
        vm.memory_bytes = row.memory
        vm.shares = row.shares
        vm.state = STATE_VALUES.get(row.state, types_pb2.VM_STATE_UNSPECIFIED)
        if not vm.image_name:
            vm.image_name = row.spec.get("image_name", "")
        return vm
