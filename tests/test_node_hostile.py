"""The node against hostile or broken input: values that would break the
scheduler or the API (VmDefinition checks them), errors of the node's own
(the scheduler and the controller link outlive them), refused uploads and
restores (nothing held, nothing left behind), ids whose directory is on disk,
repeated reservations."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import grpc
import pytest

from caravan import controller_pb2, controller_pb2_grpc, node_pb2
from node import registrar as registrar_module
from node.console import ConsoleBuffer
from node.daemon import SWITCH_INTERVAL
from node.errors import AlreadyExists, InvalidArgument, NotFound
from node.guestconfig import patch
from node.hypervisor import Hypervisor, NodeConfig, Spec
from node.migration import wire
from node.machine.machine import Machine, MachineConfig
from node.phases import Phase
from node.registrar import Registrar
from node.service import vm_to_proto
from node.store import Store, VmDefinition
from node.vm import Vm
from nodes import NodeProcess
from support import guest
from test_hypervisor_store import _migration_header, _requests
from vmstate import codec
from vmstate import snapshot as vmsnap

FOREVER = patch(Path(guest("dirtier")).read_bytes(), "dirtier", {"iterations": 0})  # runs until stopped
HELLO = Path(guest("hello")).read_bytes()


@pytest.fixture(autouse=True)
def daemon_switch_interval() -> Iterator[None]:
    """As a node daemon runs (node.daemon.tune_process)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    yield
    sys.setswitchinterval(previous)


def _config(tmp_path: Path) -> NodeConfig:
    return NodeConfig(name="n", data_dir=str(tmp_path / "node"), capacity_memory=1 << 30, capacity_vcpus=4)


async def _started(tmp_path: Path) -> Hypervisor:
    hv = Hypervisor(_config(tmp_path))
    await hv.start()
    return hv


def _snapshot(path: Path, **meta: Any) -> Path:
    """A small vmstate file of a booted guest whose metadata is ``meta``."""
    machine = Machine(MachineConfig(kernel=guest("hello"), memory_size=16 << 20))
    try:
        machine.boot()
        machine.run(100)  # still running (hello powers off after ~260 instructions)
        assert not machine.halted
        vmsnap.save(machine, str(path), {"vm_id": "saved", "name": "saved", "generation": 1, "shares": 1024,
                                         **meta}, vmsnap.SaveOptions())
    finally:
        machine.close()
    return path


def _definition(**fields: Any) -> VmDefinition:
    return VmDefinition(**{"vm_id": "v", "name": "v", "memory": 16 << 20, **fields})


# -- B1: shares that stop the scheduler ------------------------------------------------------------


@pytest.mark.parametrize("shares", [0.5, 0, -5, 1 << 40, 65537, True, "1024", None])
def test_a_definition_refuses_shares_the_scheduler_cannot_divide_by(shares: Any) -> None:
    with pytest.raises(ValueError, match=r"shares must be an integer from 1 to 65536, not "):
        _definition(shares=shares)
    assert _definition(shares=1).shares == 1 and _definition(shares=65536).shares == 65536


async def test_a_restore_refuses_bad_shares_in_the_request_or_the_snapshot(tmp_path: Path) -> None:
    frac = _snapshot(tmp_path / "frac.vmstate", shares=0.5)
    hv = await _started(tmp_path)
    try:
        with pytest.raises(InvalidArgument, match=r"shares 0\.5 in its metadata"):
            await hv.restore_vm(str(frac), "a")
        with pytest.raises(InvalidArgument, match="shares must be between 1 and 65536, not 70000"):
            await hv.restore_vm(str(frac), "a", shares=70000)
        assert not hv.vms and not hv.admission.holds
        vm = await hv.restore_vm(str(frac), "a", shares=512)  # the client's shares stand in for bad ones
        assert vm.definition.shares == 512
    finally:
        await hv.shutdown()


async def test_a_migration_header_with_fractional_shares_is_refused_and_holds_nothing(tmp_path: Path) -> None:
    """The destination builds the VM's definition from the header: the check
    refuses it there, before anything is made."""
    from node.migration import wire
    from node.migration.destination import MIGRATION_VERSION
    from vmstate import codec

    machine = Machine(MachineConfig(kernel=guest("hello"), memory_size=16 << 20))
    machine.boot()
    header = {"format": [1, 0], "migration": MIGRATION_VERSION, "job_id": "j",
              "vm": {"vm_id": "frac", "name": "frac", "shares": 0.5, "generation": 1},
              "memory_size": machine.ram.size, "machine": machine.config_state(), "boot_records": 0,
              "disk": None, "resident": None}
    machine.close()
    hv = await _started(tmp_path)
    try:
        async def requests() -> Any:
            yield wire.first_message("j", "", "test", [codec.encode_frame(codec.HEADER, header)])
        acks = [ack async for ack in hv.migrations.migrate_in(requests())]
        assert acks and acks[-1].kind == "error" and "shares" in acks[-1].error, acks
        assert not hv.admission.holds and not hv.migrations.incoming
        assert not (tmp_path / "node" / "vms" / "frac").exists()
    finally:
        await hv.shutdown()


async def test_the_scheduler_outlives_an_error_running_one_vm(tmp_path: Path) -> None:
    """An error of the node's while it runs one VM's slice crashes that VM
    (with the reason, its capacity given back); the others run on, and the
    node still shuts down cleanly."""
    hv = await _started(tmp_path)
    try:
        good = await hv.create_vm("good", Spec(name="good", memory=16 << 20, kernel=FOREVER), start=True)
        bad = await hv.create_vm("bad", Spec(name="bad", memory=16 << 20, kernel=FOREVER), start=True)
        bad.definition.shares = 0  # as a VM that came with zero shares did before the checks
        deadline = time.monotonic() + 5
        while bad.phase is not Phase.CRASHED and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert bad.phase is Phase.CRASHED and "ZeroDivisionError" in bad.crash_reason, bad.crash_reason
        for _ in range(100):  # its machine and capacity go back once it is finalized
            if bad.machine is None:
                break
            await asyncio.sleep(0.02)
        assert bad.machine is None and "vm:bad" not in hv.admission.holds
        before = good.instructions
        await asyncio.sleep(0.3)
        assert good.phase is Phase.RUNNING and good.instructions > before  # the scheduler is alive
    finally:
        await hv.shutdown()  # the scheduler task did not die: no error here


def test_a_node_refuses_an_upload_with_fractional_shares_and_keeps_running(tmp_path: Path) -> None:
    """The daemon: the upload is refused, the other VMs keep running, and
    SIGTERM stops the node cleanly (exit 0)."""
    upload = _snapshot(tmp_path / "frac.vmstate", shares=0.5).read_bytes()
    node = NodeProcess(tmp_path, "n1", capacity_memory="512M").start()
    try:
        node.create("bystander", FOREVER, memory=16 << 20)

        def chunks() -> Iterator[node_pb2.StateChunk]:
            yield node_pb2.StateChunk(vm_id="frac", start=True, data=upload)
        with pytest.raises(grpc.RpcError) as refused:
            node.stub.CreateVmFromState(chunks())
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        assert "shares" in refused.value.details() and "incoming" not in refused.value.details()
        before = node.vm("bystander").stats.instructions
        time.sleep(0.3)
        assert node.vm("bystander").stats.instructions > before
        assert [vm.vm_id for vm in node.stub.ListVms(node_pb2.ListVmsRequest()).vms] == ["bystander"]
    finally:
        code = node.stop()
    assert code == 0, node.log.read_text()[-2000:]


# -- B2: values the API cannot carry; the controller link -----------------------------------------


@pytest.mark.parametrize("fields, name", [
    ({"generation": -3}, "generation"), ({"generation": 0}, "generation"), ({"generation": "x"}, "generation"),
    ({"generation": 1 << 64}, "generation"), ({"memory": -1}, "memory"), ({"memory": 1 << 64}, "memory"),
    ({"memory": 0}, "memory"), ({"name": ""}, "name"), ({"name": "x" * 2000}, "name"),
    ({"name": "\ud800"}, "name"), ({"vm_id": "../x"}, "vm_id"), ({"load_address": -1}, "load_address"),
    ({"created_at": float("nan")}, "created_at"), ({"desired": "maybe"}, "desired"), ({"disk": 1}, "disk"),
])
def test_a_definition_refuses_values_the_api_cannot_carry(fields: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=rf"VM definition: {name} must be "):
        _definition(**fields)


def test_a_stored_definition_out_of_range_is_skipped_with_a_message(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    store.create(_definition(vm_id="ok"))
    (tmp_path / "vms" / "neg").mkdir()
    data = _definition(vm_id="neg").to_json() | {"shares": -5}
    (tmp_path / "vms" / "neg" / "vm.json").write_text(json.dumps(data))
    found, problems = store.load_all()
    assert [d.vm_id for d in found] == ["ok"]
    assert list(problems) == ["neg"] and "shares must be" in problems["neg"] and "-5" in problems["neg"]


def test_a_vm_whose_counters_are_out_of_range_is_still_reported(tmp_path: Path) -> None:
    """A console history that arrived with a negative start (or a machine
    with a negative count) must not make the VM, and every listing with it,
    unreportable."""
    vm = Vm(_definition(), Store(str(tmp_path)), ConsoleBuffer(start=-5000, history=b"x"))
    vm.final_instructions = -1000
    proto = vm_to_proto(vm, "n")
    assert proto.stats.console_bytes == 0 and proto.stats.instructions == 0


class _Controller(controller_pb2_grpc.ControllerServiceServicer):
    def __init__(self) -> None:
        self.registered = 0
        self.beats = 0

    async def RegisterNode(self, request, context):  # type: ignore[no-untyped-def]
        self.registered += 1
        return controller_pb2.RegisterNodeResponse(heartbeat_seconds=0.05)

    async def Heartbeat(self, request, context):  # type: ignore[no-untyped-def]
        self.beats += 1
        return controller_pb2.HeartbeatResponse()


async def test_the_controller_link_outlives_an_error_of_the_node(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A heartbeat the node cannot build (a VM it cannot report) is logged and
    retried after a while; the heartbeats resume, and the link still stops."""
    controller = _Controller()
    server = grpc.aio.server()
    controller_pb2_grpc.add_ControllerServiceServicer_to_server(controller, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    hv = Hypervisor(_config(tmp_path))
    hv.vms["poison"] = Vm(_definition(vm_id="poison"), hv.store)
    failures = 3
    report = registrar_module.vm_to_proto

    def flaky(vm: Vm, node: str) -> Any:
        nonlocal failures
        if failures:
            failures -= 1
            raise ValueError("Value out of range: -5")
        return report(vm, node)
    monkeypatch.setattr(registrar_module, "vm_to_proto", flaky)
    monkeypatch.setattr(registrar_module, "RETRY_SECONDS", 0.05)
    link = Registrar(hv, f"127.0.0.1:{port}", None)
    link.start()
    try:
        deadline = time.monotonic() + 5
        while controller.beats < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert failures == 0 and controller.beats >= 2, (failures, controller.beats)
    finally:
        try:
            await asyncio.wait_for(link.stop(), 2)  # still cancellable
        finally:
            await server.stop(None)
            await hv.migrations.close()
    assert link._task is not None and link._task.cancelled()


# -- B4: a restore refused on its metadata holds nothing ----------------------------------------------


@pytest.mark.parametrize("meta, field", [({"generation": "x"}, "generation"), ({"generation": -3}, "generation"),
                                         ({"shares": "lots"}, "shares"), ({"console_start": -5}, "console_start"),
                                         ({"name": ["x"]}, "name")])
async def test_a_restore_refused_on_its_metadata_holds_no_capacity_and_no_id(
        tmp_path: Path, meta: dict[str, Any], field: str) -> None:
    bad = _snapshot(tmp_path / "bad.vmstate", **meta)
    good = _snapshot(tmp_path / "good.vmstate")
    hv = await _started(tmp_path)
    try:
        for _ in range(2):
            with pytest.raises(InvalidArgument, match=rf"has {field} .* in its metadata"):
                await hv.restore_vm(str(bad), "r", start=True)
            assert not hv.admission.holds and not hv._creating and not hv.vms
        assert not (tmp_path / "node" / "vms" / "r").exists()
        vm = await hv.restore_vm(str(good), "r")  # the id is free
        assert vm.vm_id == "r" and vm.definition.generation == 2
    finally:
        await hv.shutdown()


# -- B5: refused uploads are deleted ---------------------------------------------------------------


async def test_leftover_uploads_are_removed_at_start(tmp_path: Path) -> None:
    incoming = tmp_path / "node" / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "in-leftover.vmstate").write_bytes(b"half an upload")
    (incoming / "in-x.export.vmstate").write_bytes(b"half an export")
    (incoming / "not-the-nodes.txt").write_bytes(b"someone else's")
    hv = await _started(tmp_path)
    try:
        assert [p.name for p in incoming.iterdir()] == ["not-the-nodes.txt"]
    finally:
        await hv.shutdown()


async def test_refused_uploads_are_deleted(tmp_path: Path) -> None:
    """However a restore from an upload (CreateVmFromState) ends, the upload
    goes; and its messages say "the uploaded file", not the node's temp path."""
    good = _snapshot(tmp_path / "good.vmstate").read_bytes()
    incoming = tmp_path / "node" / "incoming"
    hv = await _started(tmp_path)
    try:
        await hv.create_vm("taken", Spec(name="taken", memory=16 << 20, kernel=HELLO))

        def upload(data: bytes) -> str:
            path = hv.store.incoming()
            Path(path).write_bytes(data)
            return path
        cases: list[tuple[bytes, dict[str, Any], type[Exception], str]] = [
            (good, {"vm_id": "taken"}, AlreadyExists, "already exists"),
            (good, {"vm_id": "../x"}, InvalidArgument, "invalid VM id"),
            (b"hello world" * 100, {"vm_id": "n1"}, InvalidArgument, "the uploaded file"),
            (good, {"vm_id": "n2", "reservation_id": "nope"}, NotFound, "no reservation"),
            (_snapshot(tmp_path / "gen.vmstate", generation="x").read_bytes(), {"vm_id": "n3"}, InvalidArgument,
             "the uploaded file has generation"),
        ]
        for data, args, error, message in cases:
            path = upload(data)
            with pytest.raises(error, match=message) as refused:
                await hv.restore_vm(path, consume=True, **args)
            assert "incoming" not in str(refused.value) and path not in str(refused.value)
            assert not list(incoming.iterdir()), (args, list(incoming.iterdir()))
        vm = await hv.restore_vm(upload(good), "fine", consume=True)
        assert vm.vm_id == "fine" and not list(incoming.iterdir())
        assert set(hv.admission.holds) == {"vm:fine"}  # the refused ones hold none
    finally:
        await hv.shutdown()


# -- B8: a directory this call did not make is left alone --------------------------------------------


async def test_an_id_whose_directory_is_on_disk_is_refused_and_the_directory_kept(tmp_path: Path) -> None:
    """A VM directory the node skipped at start (here: a definition of a newer
    version) is not this node's to delete: a create or restore of its id is
    refused, and its files stay."""
    vm_dir = tmp_path / "node" / "vms" / "keep"
    vm_dir.mkdir(parents=True)
    (vm_dir / "vm.json").write_text(json.dumps(_definition(vm_id="keep").to_json() | {"version": 2}))
    (vm_dir / "disk.img").write_bytes(b"precious data")
    snapshot = _snapshot(tmp_path / "s.vmstate")
    hv = await _started(tmp_path)
    try:
        assert "keep" not in hv.vms
        with pytest.raises(AlreadyExists, match=r"'keep' is taken on node n: its directory .*keep exists"):
            await hv.create_vm("keep", Spec(name="keep", memory=16 << 20, kernel=HELLO), start=True)
        with pytest.raises(AlreadyExists, match="its directory"):
            await hv.restore_vm(str(snapshot), "keep")
        # A VM of that id migrating in: the destination refuses it the same way, in its acknowledgement.
        _, header = _migration_header("job-keep", "keep")
        queue: asyncio.Queue = asyncio.Queue()
        queue.put_nowait(wire.first_message("job-keep", "", "src", [codec.encode_frame(codec.HEADER, header)]))
        queue.put_nowait(None)
        acks = [a async for a in hv.migrations.migrate_in(_requests(queue))]
        assert [a.kind for a in acks] == ["error"], acks
        assert "'keep' is taken on node n: its directory" in acks[0].error
        assert (vm_dir / "disk.img").read_bytes() == b"precious data" and (vm_dir / "vm.json").exists()
        assert not hv.admission.holds and not hv._creating
        # A create that fails after making its own directory still removes it.
        with pytest.raises(InvalidArgument, match="cannot boot"):
            await hv.create_vm("mine", Spec(name="mine", memory=16 << 20, kernel=b"\x7fELFgarbage"), start=True)
        assert not (tmp_path / "node" / "vms" / "mine").exists()
    finally:
        await hv.shutdown()


# -- B10: a repeated reservation ------------------------------------------------------------------------


async def test_a_repeated_reservation_already_exists_and_an_expired_one_may_be_made_again(tmp_path: Path) -> None:
    hv = Hypervisor(_config(tmp_path))
    try:
        hv.reserve("r1", 16 << 20, 1, 60)
        with pytest.raises(AlreadyExists, match="reservation 'r1' exists already on node n"):
            hv.reserve("r1", 16 << 20, 1, 60)
        hv.reserve("short", 16 << 20, 1, 0.01)
        await asyncio.sleep(0.05)
        hv.reserve("short", 16 << 20, 1, 60)  # it had expired: the id is free
        assert set(hv.admission.holds) == {"reservation:r1", "reservation:short"}
    finally:
        await hv.migrations.close()
