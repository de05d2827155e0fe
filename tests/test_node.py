"""The node: real `caravan node serve` processes driven through gRPC —
many VMs at once, isolation, admission, lifecycle, snapshots across nodes,
restart with the same data directory, health and metrics."""

from __future__ import annotations

import asyncio
import json
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import pytest

from caravan import node_pb2, types_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from node import rpc
from node.guestconfig import patch
from nodes import NodeProcess, file_bytes
from support import ROOT, guest, run_caravan
from vmstate import snapshot as vmsnap

RUNNING, STOPPED, PAUSED, CRASHED = (types_pb2.VM_STATE_RUNNING, types_pb2.VM_STATE_STOPPED,
                                     types_pb2.VM_STATE_PAUSED, types_pb2.VM_STATE_CRASHED)


def image(name: str, **config: int) -> bytes:
    data = file_bytes(guest(name))
    return patch(data, name, config) if config else data


def reference(data: bytes, tmp_path: Path, memory: int = 32 << 20) -> tuple[bytes, int | None]:
    path = tmp_path / f"ref-{abs(hash(data))}.elf"
    path.write_bytes(data)
    out, code, _ = run_caravan(str(path), memory=memory)
    return out, code


def reference_end(data: bytes, tmp_path: Path) -> tuple[bytes, str]:
    """The console and final state digest of ``data`` run alone, never moved."""
    path = tmp_path / f"end-{abs(hash(data))}.elf"
    path.write_bytes(data)
    out, _, machine = run_caravan(str(path), memory=32 << 20)
    return out, vmsnap.state_digest(machine)


def assert_ends_as(n: NodeProcess, vm_id: str, out: bytes, digest: str) -> None:
    final = n.wait_state(vm_id, {STOPPED})
    assert n.console(vm_id) == out
    while not final.state_digest:
        time.sleep(0.05)
        final = n.vm(vm_id)
    assert final.state_digest == digest


def run_to(n: NodeProcess, vm_id: str, instructions: int) -> None:
    while n.vm(vm_id).stats.instructions < instructions:
        time.sleep(0.05)


def raw(words: list[int]) -> bytes:
    return struct.pack(f"<{len(words)}I", *words)


# A guest whose trap vector is unmapped: ecall -> fault at 0 -> fault at 0 ...
STORM = raw([0x00000073, 0x0000006F])
# A guest that spins forever: j .
SPIN = raw([0x0000006F])
# A guest that stores wildly all over MMIO space, then spins.
WILD = raw([
    0x0000_02B7,  # lui t0, 0
    0x00A2_8023,  # sb a0, 0(t0)         (address 0: unmapped -> access fault, no handler)
    0x0000_006F,
])


@pytest.fixture
def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    n = NodeProcess(tmp_path, "n1").start()
    yield n
    n.stop()


@pytest.fixture
def pair(tmp_path: Path):  # type: ignore[no-untyped-def]
    a = NodeProcess(tmp_path, "a").start()
    b = NodeProcess(tmp_path, "b").start()
    yield a, b
    a.stop()
    b.stop()


def test_ten_mixed_vms_beside_a_crasher_and_a_spinner(node: NodeProcess, tmp_path: Path) -> None:
    guests = {
        "hello-1": image("hello"), "hello-2": image("hello"),
        "selftest-1": image("isa-selftest"), "selftest-2": image("isa-selftest"),
        "bench-1": image("cpubench", iterations=4), "bench-2": image("cpubench", iterations=6, seed=99),
        "dirty-1": image("dirtier", iterations=300), "dirty-2": image("dirtier", iterations=500, working_set_pages=64),
        "dirty-3": image("dirtier", iterations=200, spin_per_write=3), "hello-3": image("hello"),
    }
    for vm_id, data in guests.items():
        node.create(vm_id, data)
    node.create("crasher", STORM, load_address=0x8000_0000)
    node.create("spinner", SPIN, load_address=0x8000_0000)
    for vm_id, data in guests.items():
        vm = node.wait_state(vm_id, {STOPPED, CRASHED}, timeout=300)
        assert vm.state == STOPPED, vm.crash_reason
        expected_out, expected_code = reference(data, tmp_path)
        assert node.console(vm_id) == expected_out, vm_id
        assert vm.exit_code == (expected_code or 0)
    crashed = node.wait_state("crasher", {CRASHED})
    assert "trap storm" in crashed.crash_reason and "pc=0x0" in crashed.crash_reason
    spinner = node.vm("spinner")
    assert spinner.state == RUNNING
    time.sleep(0.3)
    assert node.vm("spinner").stats.instructions > spinner.stats.instructions
    assert node.stub.GetNodeInfo(node_pb2.GetNodeInfoRequest()).running == 1


def test_a_faulting_guest_stops_only_itself(node: NodeProcess, tmp_path: Path) -> None:
    node.create("wild", WILD, load_address=0x8000_0000)
    node.create("hello", image("hello"))
    assert "trap storm" in node.wait_state("wild", {CRASHED}).crash_reason
    assert node.wait_state("hello", {STOPPED}).exit_code == 0
    assert node.console("hello") == b"Hello from a Caravan guest!\n"
    # The crashed VM keeps its reason and its console; it can be stopped, then started again.
    assert node.stub.StopVm(node_pb2.VmRef(vm_id="wild")).state == STOPPED
    assert node.stub.StartVm(node_pb2.VmRef(vm_id="wild")).state == RUNNING


def test_admission_refuses_what_does_not_fit_and_accepts_it_once_freed(tmp_path: Path) -> None:
    n = NodeProcess(tmp_path, "small", capacity_memory="256M", vcpus=4).start()
    try:
        forever = image("dirtier", iterations=0)
        n.create("a", forever, memory=128 << 20)
        n.create("b", forever, memory=96 << 20)
        with pytest.raises(grpc.RpcError) as info:
            n.create("c", image("hello"), memory=64 << 20)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "32 MiB" in info.value.details() and "free" in info.value.details()
        with pytest.raises(grpc.RpcError):
            n.stub.GetVm(node_pb2.VmRef(vm_id="c"))  # nothing half-created
        with pytest.raises(grpc.RpcError) as info:
            n.stub.Reserve(node_pb2.ReserveRequest(memory_bytes=64 << 20, vcpus=1))
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        n.stub.StopVm(node_pb2.VmRef(vm_id="b"))
        assert n.create("c", image("hello"), memory=64 << 20).state == RUNNING
        assert n.wait_state("c", {STOPPED}).exit_code == 0
        # A reservation holds capacity until it is consumed or released.
        r = n.stub.Reserve(node_pb2.ReserveRequest(reservation_id="mig-1", memory_bytes=96 << 20, vcpus=1))
        with pytest.raises(grpc.RpcError):
            n.stub.StartVm(node_pb2.VmRef(vm_id="b"))
        n.create("d", image("hello"), memory=64 << 20, start=False)
        n.stub.CreateVm(node_pb2.CreateVmRequest(vm_id="e", reservation_id=r.reservation_id, start=True,
                                                 spec=types_pb2.VmSpec(memory_bytes=96 << 20,
                                                                       kernel=image("hello"))))
        assert n.wait_state("e", {STOPPED}).exit_code == 0
    finally:
        n.stop()


def test_lifecycle_errors_have_meaningful_codes(node: NodeProcess) -> None:
    def code_of(call, *args):  # type: ignore[no-untyped-def]
        with pytest.raises(grpc.RpcError) as info:
            call(*args)
        return info.value.code()

    s = node.stub
    assert code_of(s.GetVm, node_pb2.VmRef(vm_id="nope")) == grpc.StatusCode.NOT_FOUND
    assert code_of(node.create, "bad", b"not an image", 32 << 20) == grpc.StatusCode.INVALID_ARGUMENT
    for bad_id in ("two\n", "-x", "a/b"):  # an id names a directory: no new line at its end either
        assert code_of(node.create, bad_id, image("hello")) == grpc.StatusCode.INVALID_ARGUMENT, bad_id
    node.create("p", image("dirtier", iterations=0))
    assert code_of(node.create, "p", image("hello")) == grpc.StatusCode.ALREADY_EXISTS
    assert code_of(s.ResumeVm, node_pb2.VmRef(vm_id="p")) == grpc.StatusCode.FAILED_PRECONDITION
    assert s.PauseVm(node_pb2.VmRef(vm_id="p")).state == PAUSED
    paused_at = node.vm("p").stats.instructions
    time.sleep(0.2)
    assert node.vm("p").stats.instructions == paused_at
    assert s.ResumeVm(node_pb2.VmRef(vm_id="p")).state == RUNNING
    assert s.StopVm(node_pb2.VmRef(vm_id="p")).state == STOPPED
    assert s.StartVm(node_pb2.VmRef(vm_id="p")).state == RUNNING
    s.DestroyVm(node_pb2.VmRef(vm_id="p"))
    assert code_of(s.GetVm, node_pb2.VmRef(vm_id="p")) == grpc.StatusCode.NOT_FOUND


def test_console_streams_from_an_offset_and_takes_input(node: NodeProcess, tmp_path: Path) -> None:
    data = image("dirtier", iterations=400, report_every=50)
    node.create("d", data)
    node.wait_state("d", {STOPPED})
    whole = node.console("d")
    assert node.console("d", offset=100) == whole[100:]
    chunks = list(node.stub.StreamConsole(node_pb2.StreamConsoleRequest(vm_id="d", offset=10**9)))
    assert chunks == []
    # Input reaches the guest's UART (an echo program).
    echo = raw([0x100002B7, 0x0052C303, 0x00137313, 0xFE030CE3, 0x0002C383, 0x00728023,
                0x00100537, 0x000055B7, 0x5555859B, 0x00B52023, 0x0000006F])
    node.create("echo", echo, load_address=0x8000_0000)
    node.stub.WriteConsole(node_pb2.WriteConsoleRequest(vm_id="echo", data=b"Q"))
    assert node.wait_state("echo", {STOPPED}).exit_code == 0
    assert node.console("echo") == b"Q"


def test_follow_streams_new_output(node: NodeProcess) -> None:
    node.create("slow", image("dirtier", iterations=3000, report_every=500))
    seen = bytearray()
    for chunk in node.stub.StreamConsole(node_pb2.StreamConsoleRequest(vm_id="slow", follow=True)):
        seen += chunk.data
        if b"done" in seen:
            break
    assert seen.startswith(b"dirtier start") and b"dirtier done" in seen


def test_snapshot_on_one_node_restores_on_another_identically(
        pair: tuple[NodeProcess, NodeProcess], tmp_path: Path) -> None:
    data = image("dirtier", iterations=1500)
    expected_out, expected_digest = reference_end(data, tmp_path)
    a, b = pair
    a.create("mover", data)
    run_to(a, "mover", 1_000_000)
    a.stub.PauseVm(node_pb2.VmRef(vm_id="mover"))
    saved = a.stub.SnapshotVm(node_pb2.SnapshotVmRequest(vm_id="mover", path="mover.vmstate"))
    assert saved.instructions >= 1_000_000
    chunks = [c.data for c in a.stub.ExportVm(node_pb2.ExportVmRequest(vm_id="mover", compress=True))]

    def upload():  # type: ignore[no-untyped-def]
        yield node_pb2.StateChunk(vm_id="mover", start=True, data=chunks[0])
        for c in chunks[1:]:
            yield node_pb2.StateChunk(data=c)

    moved = b.stub.CreateVmFromState(upload())
    assert moved.stats.instructions == saved.instructions
    a.stub.DestroyVm(node_pb2.VmRef(vm_id="mover"))
    assert_ends_as(b, "mover", expected_out, expected_digest)
    # RestoreVm from a file on the node works too (a second copy, new id).
    copy = a.stub.RestoreVm(node_pb2.RestoreVmRequest(path="mover.vmstate", vm_id="copy", start=True))
    assert copy.state == RUNNING
    a.wait_state("copy", {STOPPED})
    assert a.console("copy") == expected_out


def test_a_paused_vm_migrates_paused_and_then_finishes_identically(
        pair: tuple[NodeProcess, NodeProcess], tmp_path: Path) -> None:
    """Node-level migration without a controller: a VM its user paused is
    still paused on the destination, and resumed there it ends exactly as a
    run that never moved."""
    data = image("dirtier", iterations=1500)
    expected_out, expected_digest = reference_end(data, tmp_path)
    a, b = pair
    a.create("m", data)
    run_to(a, "m", 1_000_000)
    a.stub.PauseVm(node_pb2.VmRef(vm_id="m"))
    paused = a.vm("m")
    progress = [p.stats.status for p in a.stub.MigrateOut(node_pb2.MigrateOutRequest(
        job_id="by-hand", vm_id="m", destination=b.address))]
    assert progress[-1] == "verified"
    learnt = a.stub.GetNodeInfo(node_pb2.GetNodeInfoRequest()).migration_handover_ms
    finished = b.stub.FinishMigration(node_pb2.FinishMigrationRequest(job_id="by-hand", commit=True, vm_id="m"))
    assert 0 < finished.downtime_ms < 1000
    # The controller retries a commit whose answer it lost: the same answer, the VM held here.
    again = b.stub.FinishMigration(node_pb2.FinishMigrationRequest(job_id="by-hand", commit=True, vm_id="m"))
    assert again.vm.vm_id == "m"
    with pytest.raises(grpc.RpcError) as lost:  # a node without the VM says so, not "done"
        b.stub.FinishMigration(node_pb2.FinishMigrationRequest(job_id="by-hand", commit=True, vm_id="other"))
    assert lost.value.code() == grpc.StatusCode.NOT_FOUND
    # Told the downtime, the source learns what the part after its last pages cost.
    a.stub.FinishMigration(node_pb2.FinishMigrationRequest(job_id="by-hand", commit=True,
                                                           downtime_ms=finished.downtime_ms))
    info = a.stub.GetNodeInfo(node_pb2.GetNodeInfoRequest())
    assert info.migration_handover_ms != learnt and 0 < info.migration_handover_ms < (learnt + finished.downtime_ms) / 2
    assert info.migration_page_us > 0
    with pytest.raises(grpc.RpcError) as gone:
        a.vm("m")
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    moved = b.vm("m")
    assert moved.state == PAUSED and moved.stats.instructions == paused.stats.instructions
    time.sleep(0.2)
    assert b.vm("m").stats.instructions == paused.stats.instructions
    b.stub.ResumeVm(node_pb2.VmRef(vm_id="m"))
    assert_ends_as(b, "m", expected_out, expected_digest)


def test_the_hand_over_stream_commits_as_finish_migration_does(
        pair: tuple[NodeProcess, NodeProcess], tmp_path: Path) -> None:
    """The controller opens HandOver on the destination when a job starts and
    sends the commit on it: answered as FinishMigration answers (the VM, the
    downtime), and a refusal ends the stream with FinishMigration's status."""
    import queue

    data = image("dirtier", iterations=1500)
    expected_out, expected_digest = reference_end(data, tmp_path)
    a, b = pair
    a.create("h", data)
    run_to(a, "h", 1_000_000)
    requests: "queue.Queue[node_pb2.FinishMigrationRequest | None]" = queue.Queue()

    def decisions():  # type: ignore[no-untyped-def]
        while (request := requests.get()) is not None:
            yield request
    answers = b.stub.HandOver(decisions())  # opened before the migration, as the controller does
    try:
        progress = [p.stats.status for p in a.stub.MigrateOut(node_pb2.MigrateOutRequest(
            job_id="handed", vm_id="h", destination=b.address))]
        assert progress[-1] == "verified"
        requests.put(node_pb2.FinishMigrationRequest(job_id="handed", commit=True, vm_id="h"))
        committed = next(answers)
        assert committed.vm.vm_id == "h" and 0 < committed.downtime_ms < 1000
        requests.put(node_pb2.FinishMigrationRequest(job_id="handed", commit=True, vm_id="other"))
        with pytest.raises(grpc.RpcError) as lost:
            next(answers)
        assert lost.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        requests.put(None)
        answers.cancel()
    a.stub.FinishMigration(node_pb2.FinishMigrationRequest(job_id="handed", commit=True,
                                                           downtime_ms=committed.downtime_ms))
    assert_ends_as(b, "h", expected_out, expected_digest)


def test_a_vm_with_a_boot_image_larger_than_a_record_snapshots_and_migrates(
        pair: tuple[NodeProcess, NodeProcess], tmp_path: Path) -> None:
    """A 20 MiB initrd is larger than one vmstate record (16 MiB): the boot
    segments travel as several BOOT records (vmstate/bootrecords.py). Both a
    snapshot and a live migration of such a VM used to fail ("a boot record
    of 20971559 bytes exceeds the frame limit")."""
    data = image("dirtier", iterations=1500)
    initrd = bytes(range(256)) * (20 << 12)
    (tmp_path / "k.elf").write_bytes(data)
    (tmp_path / "initrd").write_bytes(initrd)
    out, _, machine = run_caravan(str(tmp_path / "k.elf"), memory=64 << 20, initrd=str(tmp_path / "initrd"))
    expected_out, expected_digest = out, vmsnap.state_digest(machine)
    machine.close()
    a, b = pair
    a.create("big", data, memory=64 << 20, initrd=initrd)
    run_to(a, "big", 1_000_000)
    a.stub.PauseVm(node_pb2.VmRef(vm_id="big"))
    a.stub.SnapshotVm(node_pb2.SnapshotVmRequest(vm_id="big", path="big.vmstate"))
    a.stub.ResumeVm(node_pb2.VmRef(vm_id="big"))
    progress = [p.stats.status for p in a.stub.MigrateOut(node_pb2.MigrateOutRequest(
        job_id="big-job", vm_id="big", destination=b.address))]
    assert progress[-1] == "verified"
    b.stub.FinishMigration(node_pb2.FinishMigrationRequest(job_id="big-job", commit=True, vm_id="big"))
    a.stub.FinishMigration(node_pb2.FinishMigrationRequest(job_id="big-job", commit=True))
    assert_ends_as(b, "big", expected_out, expected_digest)
    # The snapshot taken before the move restores the same VM, initrd and all.
    copy = a.stub.RestoreVm(node_pb2.RestoreVmRequest(path="big.vmstate", vm_id="copy", start=True))
    assert copy.state == RUNNING
    assert_ends_as(a, "copy", expected_out, expected_digest)


def test_restart_lists_vms_stopped_or_resumes_saved_ones(tmp_path: Path) -> None:
    data = image("dirtier", iterations=2500)
    expected_out, _ = reference(data, tmp_path)
    n = NodeProcess(tmp_path, "r").start("--save-on-shutdown")
    n.create("keep", data)
    n.create("idle", image("hello"), start=False)
    while n.vm("keep").stats.instructions < 500_000:
        time.sleep(0.05)
    assert n.stop() == 0
    n.start()
    assert {v.vm_id: v.state for v in n.stub.ListVms(node_pb2.ListVmsRequest()).vms} == \
        {"keep": STOPPED, "idle": STOPPED}
    n.stop()
    n.start("--resume-on-start")
    vm = n.vm("keep")
    assert vm.state in (RUNNING, STOPPED) and vm.stats.instructions >= 500_000
    n.wait_state("keep", {STOPPED})
    assert n.console("keep") == expected_out
    n.stop()


def test_health_metrics_and_stubs(tmp_path: Path) -> None:
    n = NodeProcess(tmp_path, "m").start("--metrics-port", "0")
    try:
        health = health_pb2_grpc.HealthStub(n.channel)
        reply = health.Check(health_pb2.HealthCheckRequest(service="caravan.v1.NodeService"))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        n.create("h", image("hello"))
        n.wait_state("h", {STOPPED})
        import json
        port = json.loads(n.ready.read_text())["metrics_port"]
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert 'caravan_node_guest_instructions_total{vm_id="h"} 259.0' in text
        assert "caravan_node_slice_seconds_bucket" in text
        assert "caravan_node_admission_refusals_total" in text
        log = n.log.read_text()
        assert '"request_id"' in log and '"vm_id": "h"' in log
    finally:
        n.stop()


def test_generated_stubs_are_current() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "proto" / "generate.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_vm_id_is_taken_once_while_its_files_are_written(node: NodeProcess) -> None:
    """CreateVm writes images and disks off the event loop; two creates of one
    id racing through that write: one VM results, the other call is refused,
    and the survivor's files are intact."""
    disk = bytes(48 << 20)  # long enough to write that the second call arrives meanwhile
    requests = [node_pb2.CreateVmRequest(vm_id="twin", start=False, spec=types_pb2.VmSpec(
        name=f"twin-{i}", memory_bytes=32 << 20, kernel=image("hello"), disk_image=disk)) for i in range(2)]
    calls = [node.stub.CreateVm.future(r) for r in requests]
    outcomes = []
    for call in calls:
        try:
            outcomes.append(call.result().name)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.ALREADY_EXISTS, exc.details()
            outcomes.append(None)
    assert outcomes.count(None) == 1
    winner = next(name for name in outcomes if name)
    assert node.vm("twin").name == winner
    vm_dir = node.data / "vms" / "twin"
    assert (vm_dir / "kernel").read_bytes() == image("hello")
    assert (vm_dir / "disk.img").stat().st_size == len(disk)
    assert node.stub.StartVm(node_pb2.VmRef(vm_id="twin")).state == RUNNING
    assert node.wait_state("twin", {STOPPED}).exit_code == 0


def test_a_vm_whose_migration_in_did_not_complete_is_discarded_at_restart(tmp_path: Path) -> None:
    """A destination that stops mid-migration leaves the VM's directory behind,
    marked with the job; at the next start the node drops it instead of
    keeping a copy that would block the VM from ever migrating here again."""
    n = NodeProcess(tmp_path, "dst")
    for vm_id, migrating_in in (("half", "job-1"), ("whole", "")):
        vm_dir = n.data / "vms" / vm_id
        vm_dir.mkdir(parents=True)
        (vm_dir / "vm.json").write_text(json.dumps({
            "version": 1, "vm_id": vm_id, "name": vm_id, "memory": 32 << 20, "migrating_in": migrating_in}))
    n.start()
    try:
        assert [vm.vm_id for vm in n.stub.ListVms(node_pb2.ListVmsRequest()).vms] == ["whole"]
        assert not (n.data / "vms" / "half").exists()
        assert n.create("half", image("hello")).state == RUNNING  # the id is free again
    finally:
        n.stop()


def test_the_destination_acknowledges_each_round_once_it_has_applied_it(node: NodeProcess) -> None:
    """MigrateIn speaks for itself: after the header it says "ready"; a round
    marker k >= 1 is acknowledged with every byte before it counted (the
    source waits for that before pausing the guest); an ABORT drops the copy."""
    import queue

    from node.machine.machine import Machine, MachineConfig
    from node.migration import wire
    from node.migration.destination import MIGRATION_VERSION
    from vmstate import codec
    from vmstate.pages import PageEncoder

    machine = Machine(MachineConfig(kernel=guest("hello"), memory_size=16 << 20))
    machine.boot()
    machine.run(20_000)
    header = {"format": [1, 0], "migration": MIGRATION_VERSION, "job_id": "job-acks",
              "vm": {"vm_id": "acked", "name": "acked"}, "memory_size": machine.ram.size,
              "machine": machine.config_state(), "boot_records": 0, "disk": None, "resident": None}
    sent: queue.Queue[bytes | None] = queue.Queue()
    call = node.channel.stream_stream(wire.METHOD, request_serializer=None,  # type: ignore[union-attr]
                                      response_deserializer=node_pb2.MigrationAck.FromString)
    acks = call(iter(sent.get, None), timeout=15)
    sent.put(wire.first_message("job-acks", "", "test", [codec.encode_frame(codec.HEADER, header)]))
    assert next(acks).kind == "ready"
    frames = [codec.encode_frame(codec.ROUND, {"round": 0})]
    frames += [codec.encode_frame(codec.PAGES, p) for p in PageEncoder(machine.ram.u8, canonical=False).all_pages()]
    frames.append(codec.encode_frame(codec.ROUND, {"round": 1}))
    sent.put(wire.frames_message(frames[:-1]))
    sent.put(wire.frames_message(frames[-1:]))
    ack = next(acks)
    assert (ack.kind, ack.round) == ("round", 1)
    assert ack.bytes == len(codec.encode_frame(codec.HEADER, header)) + sum(len(f) for f in frames)
    sent.put(wire.frames_message([codec.encode_frame(codec.ABORT, {"reason": "test over"})]))
    last = next(acks)
    assert last.kind == "error" and "test over" in last.error
    sent.put(None)
    assert "acked" not in [vm.vm_id for vm in node.stub.ListVms(node_pb2.ListVmsRequest()).vms]


async def test_an_upload_cancelled_while_its_file_is_created_leaves_no_file(tmp_path: Path, monkeypatch) -> None:
    """A client that gives up at once cancels the upload while the file is
    still being opened in a thread: the file that open then creates is
    removed too. It used to be left behind: the test below can race the same
    way, and failed once in a suite run."""
    opening, release, opened = threading.Event(), threading.Event(), threading.Event()

    def slow_open(*args, **kwargs):  # type: ignore[no-untyped-def]
        opening.set()
        release.wait(10)
        try:
            return open(*args, **kwargs)
        finally:
            opened.set()
    monkeypatch.setattr(rpc, "open", slow_open, raising=False)

    async def chunks():  # type: ignore[no-untyped-def]
        yield node_pb2.StateChunk(vm_id="x", start=True, data=b"\0" * 4096)
    path = tmp_path / "upload"
    upload = asyncio.create_task(rpc.receive_file(chunks(), str(path)))
    await asyncio.to_thread(opening.wait, 10)
    upload.cancel()
    await asyncio.sleep(0.05)  # the cancel is delivered while the open still waits
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await upload
    assert opened.wait(10)
    assert not path.exists()


def test_an_upload_that_sends_nothing_or_breaks_leaves_no_file(node: NodeProcess) -> None:
    """CreateVmFromState writes the upload off the event loop into the node's
    incoming directory; an empty upload is INVALID_ARGUMENT, a broken one
    fails, and neither leaves a file behind."""
    with pytest.raises(grpc.RpcError) as empty:
        node.stub.CreateVmFromState(iter(()))
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "no state was sent" in empty.value.details()

    def broken():  # type: ignore[no-untyped-def]
        yield node_pb2.StateChunk(vm_id="half", start=True, data=b"\0" * 4096)
        raise RuntimeError("the client gives up")
    with pytest.raises(grpc.RpcError):
        node.stub.CreateVmFromState(broken())
    incoming = node.data / "incoming"
    deadline = time.monotonic() + 5
    while any(incoming.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(incoming.iterdir()) == []
    assert node.stub.ListVms(node_pb2.ListVmsRequest()).vms == []
