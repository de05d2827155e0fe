"""A migration whose other end stops (SIGSTOP, a hung process, a peer that
never closes its stream) or misbehaves: neither end waits forever, and what
each gives up is exactly its own (node/migration/driver.py). In-process: a
real Hypervisor and a real gRPC server standing in for the other node, with
the waits shortened."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import grpc
import pytest

from caravan import node_pb2
from node import errors as E
from node.daemon import SWITCH_INTERVAL
from node.guestconfig import patch
from node.hypervisor import Hypervisor, NodeConfig, Spec
from node.migration import driver, wire
from node.phases import Phase
from nodes import NodeProcess
from support import guest
from test_hypervisor_store import _migration_header, _requests
from vmstate import codec


@pytest.fixture(autouse=True)
def switch_interval() -> Iterator[None]:
    """As the daemons run: gRPC's threads get the GIL promptly (tests/test_scheduler.py)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    yield
    sys.setswitchinterval(old)


@pytest.fixture
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver, "WATCH_SECONDS", 0.05)
    monkeypatch.setattr(driver, "IDLE_SECONDS", 0.5)
    monkeypatch.setattr(driver, "TIMEOUT_GRACE_SECONDS", 0.3)


async def node(tmp_path: Path, name: str) -> Hypervisor:
    hv = Hypervisor(NodeConfig(name=name, data_dir=str(tmp_path / name), capacity_memory=1 << 30, capacity_vcpus=4))
    await hv.start()
    return hv


# -- the destination's side --------------------------------------------------------------

async def test_a_source_that_goes_silent_loses_its_copy_not_the_node(tmp_path: Path, short_waits: None) -> None:
    hv = await node(tmp_path, "dst")
    try:
        _, header = _migration_header("job-silent", "silent")
        queue: asyncio.Queue = asyncio.Queue()
        queue.put_nowait(wire.first_message("job-silent", "", "src", [codec.encode_frame(codec.HEADER, header)]))
        acks: list[Any] = []

        async def handler() -> None:  # as gRPC runs it: the whole stream in one task
            async for ack in hv.migrations.migrate_in(_requests(queue)):
                acks.append(ack)
        task = asyncio.create_task(handler())
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)  # the source never sends round 0
        assert [a.kind for a in acks] == ["ready"]
        assert not hv.migrations.incoming and hv.admission.used().memory == 0
        for _ in range(100):
            if not (tmp_path / "dst" / "vms" / "silent").exists():
                break
            await asyncio.sleep(0.05)
        assert not (tmp_path / "dst" / "vms" / "silent").exists()
    finally:
        await hv.shutdown()


async def test_a_copy_dropped_twice_frees_only_itself(tmp_path: Path) -> None:
    """The controller aborts the job on the destination while the source's
    stream is still open; a VM of the same id is created meanwhile; then the
    stream ends. That second drop freed the new VM's capacity and deleted
    its files."""
    hv = await node(tmp_path, "dst")
    try:
        _, header = _migration_header("job-twice", "dup")
        queue: asyncio.Queue = asyncio.Queue()
        queue.put_nowait(wire.first_message("job-twice", "", "src", [codec.encode_frame(codec.HEADER, header)]))
        acks = hv.migrations.migrate_in(_requests(queue))
        assert (await anext(acks)).kind == "ready"
        await hv.migrations.finish("job-twice", commit=False)
        assert hv.admission.used().memory == 0
        kernel = patch(Path(guest("dirtier")).read_bytes(), "dirtier", {"iterations": 0})  # runs on
        await hv.create_vm("dup", Spec(name="dup", memory=32 << 20, kernel=kernel), start=True)
        queue.put_nowait(None)  # the source's stream ends
        assert [a.kind async for a in acks] == ["error"]
        assert hv.admission.used().memory == 32 << 20  # the new VM's, still held
        await asyncio.sleep(0.3)  # a removal of the old copy's files would have run by now
        assert (tmp_path / "dst" / "vms" / "dup" / "vm.json").exists()
        assert hv.get("dup").phase is Phase.RUNNING
    finally:
        await hv.shutdown()


@pytest.mark.parametrize("field,value", [("vm", [1]), ("resident", "all"), ("machine", {"kind": []})])
async def test_a_malformed_header_is_refused_with_an_error_not_an_internal_failure(
        tmp_path: Path, field: str, value: object) -> None:
    hv = await node(tmp_path, "dst")
    try:
        _, header = _migration_header("job-bad", "bad")
        header[field] = value
        queue: asyncio.Queue = asyncio.Queue()
        queue.put_nowait(wire.first_message("job-bad", "", "src", [codec.encode_frame(codec.HEADER, header)]))
        queue.put_nowait(None)
        acks = [a async for a in hv.migrations.migrate_in(_requests(queue))]
        assert [a.kind for a in acks] == ["error"] and acks[0].error
        assert not hv.migrations.incoming and hv.admission.used().memory == 0
    finally:
        await hv.shutdown()


# -- the source's side -------------------------------------------------------------------

class StuckDestination:
    """A destination that says "ready" and then neither reads nor answers."""

    def __init__(self) -> None:
        self.server = grpc.aio.server()
        handler = grpc.method_handlers_generic_handler(wire.SERVICE, {"MigrateIn": wire.stream_handler(self.migrate_in)})
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    async def migrate_in(self, requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[node_pb2.MigrationAck]:
        await anext(aiter(requests))
        yield node_pb2.MigrationAck(kind="ready")
        await asyncio.sleep(3600)


async def migrate_to_stuck(tmp_path: Path, params: node_pb2.MigrationParams, during: Any = None) -> tuple[str, Phase]:
    """Migrate a running VM to a stuck destination; the error and the VM's phase afterwards."""
    hv = await node(tmp_path, "src")
    dst = StuckDestination()
    await dst.server.start()
    try:
        kernel = patch(Path(guest("dirtier")).read_bytes(), "dirtier", {"iterations": 0})
        await hv.create_vm("v", Spec(name="v", memory=64 << 20, kernel=kernel), start=True)
        req = node_pb2.MigrateOutRequest(job_id="job-stuck", vm_id="v", destination=f"127.0.0.1:{dst.port}",
                                         params=params)
        if during is not None:
            asyncio.get_running_loop().call_later(1.0, lambda: asyncio.ensure_future(during(hv)))
        with pytest.raises(E.FailedPrecondition) as failed:
            async with asyncio.timeout(30):
                async for _ in hv.migrations.migrate_out(req):
                    pass
        return str(failed.value), hv.get("v").phase
    finally:
        await dst.server.stop(0)
        await hv.shutdown()


async def test_a_stuck_destination_is_given_up_after_the_jobs_timeout(
        tmp_path: Path, short_waits: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver, "IDLE_SECONDS", 30.0)
    error, phase = await migrate_to_stuck(tmp_path, node_pb2.MigrationParams(timeout_seconds=1))
    assert "timed out after 1 s waiting for the destination" in error
    assert phase is Phase.RUNNING


async def test_a_stuck_destination_is_given_up_when_it_stays_silent(tmp_path: Path, short_waits: None) -> None:
    error, phase = await migrate_to_stuck(tmp_path, node_pb2.MigrationParams())
    assert "the destination did not answer for 0.5 s" in error
    assert phase is Phase.RUNNING


async def test_an_abort_while_the_destination_is_stuck_ends_the_call(tmp_path: Path) -> None:
    """The controller aborts the job on the source: the VM runs on, and the
    MigrateOut call ends with the reason (it used to hang forever)."""
    error, phase = await migrate_to_stuck(
        tmp_path, node_pb2.MigrationParams(), during=lambda hv: hv.migrations.finish("job-stuck", commit=False))
    assert "aborted by the controller" in error
    assert phase is Phase.RUNNING


async def test_a_verified_copy_waits_for_the_decision_when_the_controllers_call_ends(tmp_path: Path) -> None:
    """The controller's MigrateOut call ends once the copy is verified (the
    controller died, perhaps after recording the hand-over). The source's
    paused copy must wait for the decision: it resumed, and a controller that
    restarted and rolled the job forward then ran the VM on both nodes."""
    dst = NodeProcess(tmp_path, "dst").start()
    hv = await node(tmp_path, "src")
    try:
        kernel = patch(Path(guest("dirtier")).read_bytes(), "dirtier", {"iterations": 0})
        await hv.create_vm("v", Spec(name="v", memory=32 << 20, kernel=kernel), start=True)
        progress = hv.migrations.migrate_out(node_pb2.MigrateOutRequest(
            job_id="job-v", vm_id="v", destination=dst.address))
        async with asyncio.timeout(60):
            async for stats in progress:
                if stats.status == "verified":
                    break
        await progress.aclose()  # the call ends where the verified copy was reported
        vm = hv.get("v")
        assert vm.phase is Phase.MIGRATING and vm.migration_paused
        before = vm.instructions
        await asyncio.sleep(0.3)
        assert vm.instructions == before  # still paused: no copy runs until the controller decides
        # The decision (here: the restarted controller rolls the job back) resumes it.
        await hv.migrations.finish("job-v", commit=False)
        dst.stub.FinishMigration(node_pb2.FinishMigrationRequest(job_id="job-v", commit=False))
        assert hv.get("v").phase is Phase.RUNNING
        await asyncio.sleep(0.3)
        assert hv.get("v").instructions > before
    finally:
        await hv.shutdown()
        dst.stop()
