"""The node's store I/O runs off the event loop (node.hypervisor): one VM's
writes and deletions stay in order even when its id is reused meanwhile."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from node.guestconfig import patch
from node.hypervisor import Hypervisor, NodeConfig, Spec
from support import guest


async def test_create_waits_for_the_files_of_a_destroyed_vm_of_the_same_id(tmp_path: Path) -> None:
    hv = Hypervisor(NodeConfig(name="n", data_dir=str(tmp_path), capacity_memory=1 << 30, capacity_vcpus=4))
    await hv.start()
    try:
        kernel = Path(guest("hello")).read_bytes()
        await hv.create_vm("again", Spec(name="old", memory=32 << 20, kernel=kernel, disk_bytes=1 << 20))
        removing, release = threading.Event(), threading.Event()
        remove = hv.store.remove

        def slow_remove(vm_id: str) -> None:  # a large directory on a slow disk
            removing.set()
            release.wait(10)
            remove(vm_id)
        hv.store.remove = slow_remove  # type: ignore[method-assign]
        destroy = asyncio.create_task(hv.destroy_vm("again"))
        await asyncio.to_thread(removing.wait, 10)
        create = asyncio.create_task(hv.create_vm("again", Spec(name="new", memory=32 << 20, kernel=kernel)))
        await asyncio.sleep(0.2)
        assert not create.done()  # it waits for the old files to be gone ...
        release.set()
        await destroy
        vm = await create
        hv.store.remove = remove  # type: ignore[method-assign]
        # ... and its own files are all there afterwards.
        vm_dir = tmp_path / "vms" / "again"
        assert vm.definition.name == "new"
        assert (vm_dir / "kernel").read_bytes() == kernel and (vm_dir / "vm.json").exists()
        assert not (vm_dir / "disk.img").exists()
    finally:
        await hv.shutdown()


def _migration_header(job_id: str, vm_id: str, memory: int = 16 << 20) -> tuple[Any, dict[str, Any]]:
    from node.machine.machine import Machine, MachineConfig
    from node.migration.destination import MIGRATION_VERSION

    machine = Machine(MachineConfig(kernel=guest("hello"), memory_size=memory))
    machine.boot()
    machine.run(20_000)
    header = {"format": [1, 0], "migration": MIGRATION_VERSION, "job_id": job_id,
              "vm": {"vm_id": vm_id, "name": vm_id}, "memory_size": machine.ram.size,
              "machine": machine.config_state(), "boot_records": 0, "disk": None, "resident": None}
    return machine, header


async def _requests(queue: asyncio.Queue) -> AsyncIterator[bytes]:
    while (raw := await queue.get()) is not None:
        yield raw


async def test_an_incoming_vm_is_made_off_the_loop_and_a_drop_meanwhile_leaves_nothing(tmp_path: Path) -> None:
    """The destination creates the VM's files (an fsync) and its machine in a
    thread, after the header; if the stream breaks meanwhile, that work
    finishes and then removes what it made, and the capacity is free again."""
    from node.migration import wire
    from vmstate import codec

    hv = Hypervisor(NodeConfig(name="n", data_dir=str(tmp_path), capacity_memory=1 << 30, capacity_vcpus=4))
    await hv.start()
    try:
        _, header = _migration_header("job-slow", "slow")
        creating, release = threading.Event(), threading.Event()
        create = hv.store.create
        threads: list[int] = []

        def slow_create(definition: Any) -> str:  # a slow disk
            threads.append(threading.get_ident())
            path = create(definition)
            creating.set()
            release.wait(10)
            return path
        hv.store.create = slow_create  # type: ignore[method-assign]
        queue: asyncio.Queue = asyncio.Queue()
        queue.put_nowait(wire.first_message("job-slow", "", "test", [codec.encode_frame(codec.HEADER, header)]))
        acks = hv.migrations.migrate_in(_requests(queue))
        first_ack = asyncio.create_task(anext(acks))
        await asyncio.to_thread(creating.wait, 10)
        assert threads and threads[0] != threading.get_ident()  # not on the loop's thread
        await asyncio.sleep(0.05)  # the loop keeps turning meanwhile
        assert not first_ack.done()
        assert hv.admission.used().memory == 16 << 20  # taken at the header
        first_ack.cancel()  # the stream breaks while the files are being made
        with pytest.raises(asyncio.CancelledError):
            await first_ack
        await acks.aclose()
        assert (tmp_path / "vms" / "slow").exists()  # still being made ...
        release.set()
        for _ in range(100):
            if not (tmp_path / "vms" / "slow").exists():
                break
            await asyncio.sleep(0.05)
        assert not (tmp_path / "vms" / "slow").exists()  # ... then removed by the same task
        assert not hv.migrations.incoming
        hv.store.create = create  # type: ignore[method-assign]
        # The id and the capacity are free again.
        kernel = Path(guest("hello")).read_bytes()
        vm = await hv.create_vm("slow", Spec(name="slow", memory=1 << 30, kernel=kernel))
        assert vm.vm_id == "slow"
    finally:
        await hv.shutdown()


async def test_records_after_the_header_in_the_same_message_find_the_vm_made(tmp_path: Path) -> None:
    """A source may put round 0 in the header's message: the VM is made
    before the next record is applied; an ABORT then removes its files."""
    from node.migration import wire
    from vmstate import codec
    from vmstate.pages import PageEncoder

    hv = Hypervisor(NodeConfig(name="n", data_dir=str(tmp_path), capacity_memory=1 << 30, capacity_vcpus=4))
    await hv.start()
    try:
        machine, header = _migration_header("job-one", "one")
        frames = [codec.encode_frame(codec.HEADER, header), codec.encode_frame(codec.ROUND, {"round": 0})]
        frames += [codec.encode_frame(codec.PAGES, p) for p in PageEncoder(machine.ram.u8, canonical=False).all_pages()]
        frames.append(codec.encode_frame(codec.ROUND, {"round": 1}))
        queue: asyncio.Queue = asyncio.Queue()
        queue.put_nowait(wire.first_message("job-one", "", "test", frames))
        acks = hv.migrations.migrate_in(_requests(queue))
        assert (await anext(acks)).kind == "ready"
        ack = await anext(acks)
        assert (ack.kind, ack.round) == ("round", 1)
        incoming = hv.migrations.incoming["job-one"]
        assert incoming.machine is not None and bytes(incoming.machine.ram.u8) == bytes(machine.ram.u8)
        assert (tmp_path / "vms" / "one" / "vm.json").exists()
        queue.put_nowait(wire.frames_message([codec.encode_frame(codec.ABORT, {"reason": "test over"})]))
        last = await anext(acks)
        assert last.kind == "error" and "test over" in last.error
        await acks.aclose()
        for _ in range(100):
            if not (tmp_path / "vms" / "one").exists():
                break
            await asyncio.sleep(0.05)
        assert not (tmp_path / "vms" / "one").exists()
    finally:
        await hv.shutdown()


async def test_state_files_are_removed_off_the_loop_even_when_the_caller_is_cancelled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Removing a large state file can take ~0.2 s (ext4, 1 GiB): exports,
    saved states and uploads go away in a thread, and a cancelled caller
    (a client that hangs up) does not leave the file behind."""
    from node.errors import FailedPrecondition
    from node.hypervisor import SAVED_STATE
    from vmstate import durable

    loop_thread = threading.get_ident()
    removed: list[tuple[str, int]] = []
    removing, release = threading.Event(), threading.Event()
    remove_file = durable.remove_file
    slow_names = {"slow.vmstate"}

    def recording_remove(path: str) -> bool:
        removed.append((Path(path).name, threading.get_ident()))
        if Path(path).name in slow_names:
            removing.set()
            release.wait(10)
        return remove_file(path)
    monkeypatch.setattr(durable, "remove_file", recording_remove)

    # A caller cancelled while the removal runs: the file still goes.
    slow = tmp_path / "slow.vmstate"
    slow.write_bytes(b"x" * 4096)
    discarding = asyncio.create_task(durable.discard(str(slow)))
    await asyncio.to_thread(removing.wait, 10)
    discarding.cancel()
    with pytest.raises(asyncio.CancelledError):
        await discarding
    release.set()
    for _ in range(100):
        if not slow.exists():
            break
        await asyncio.sleep(0.01)
    assert not slow.exists()

    hv = Hypervisor(NodeConfig(name="n", data_dir=str(tmp_path / "node"), capacity_memory=1 << 30,
                               capacity_vcpus=4))
    await hv.start()
    try:
        kernel = patch(Path(guest("dirtier")).read_bytes(), "dirtier", {"iterations": 0})  # runs until stopped
        await hv.create_vm("vm", Spec(name="vm", memory=32 << 20, kernel=kernel), start=True)
        # An export read to the end, and one whose reader hangs up after the first chunk.
        assert b"".join([chunk async for chunk in hv.export_vm("vm", compress=False)])
        export = hv.export_vm("vm", compress=False)
        assert await anext(export)
        await export.aclose()
        # A saved state that a stop makes stale: until it is gone, a start
        # (which would resume from it) is refused.
        saved = Path(hv.store.path("vm", SAVED_STATE))
        saved.write_bytes(b"stale")
        removing.clear()
        release.clear()
        slow_names.add(SAVED_STATE)
        stopping = asyncio.create_task(hv.stop_vm("vm"))
        await asyncio.to_thread(removing.wait, 10)
        with pytest.raises(FailedPrecondition, match="try again"):
            await hv.start_vm("vm")
        release.set()
        await stopping
        assert not saved.exists()
        assert not list((tmp_path / "node" / "incoming").iterdir())  # both exports' files are gone
        names = [name for name, _ in removed]
        assert names[0] == "slow.vmstate" and names[-1] == SAVED_STATE and len(names) == 4
        assert all(thread != loop_thread for _, thread in removed)
    finally:
        await hv.shutdown()


async def test_a_create_cancelled_while_its_files_are_written_leaves_none(tmp_path: Path) -> None:
    """A cancelled CreateVm (a client that gave up) cannot stop the thread
    writing the VM's files: its clean-up waits for that thread. It used to
    clean up first; the thread then created the directory, which stayed, and
    the id could not be used again (FileExistsError)."""
    hv = Hypervisor(NodeConfig(name="n", data_dir=str(tmp_path), capacity_memory=1 << 30, capacity_vcpus=4))
    await hv.start()
    try:
        kernel = Path(guest("hello")).read_bytes()
        writing, release = threading.Event(), threading.Event()
        create = hv.store.create

        def slow_create(definition: Any) -> None:  # a slow disk
            writing.set()
            release.wait(10)
            create(definition)
        hv.store.create = slow_create  # type: ignore[method-assign]
        task = asyncio.create_task(hv.create_vm("gone", Spec(name="gone", memory=32 << 20, kernel=kernel)))
        await asyncio.to_thread(writing.wait, 10)
        task.cancel()
        await asyncio.sleep(0.1)
        assert not task.done()  # it waits for the thread ...
        task.cancel()  # ... even when cancelled again
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        hv.store.create = create  # type: ignore[method-assign]
        assert not (tmp_path / "vms" / "gone").exists() and "gone" not in hv.vms
        vm = await hv.create_vm("gone", Spec(name="again", memory=32 << 20, kernel=kernel))  # the id is free
        assert vm.definition.name == "again"
    finally:
        await hv.shutdown()


async def test_a_snapshot_cancelled_while_it_is_written_keeps_the_guest_still_until_it_is_done(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The save reads the machine in a thread while the guest is held off the
    scheduler. A cancelled SnapshotVm let the guest run again while the save
    still read its memory and registers: a snapshot of no single instant."""
    import sys

    from node import hypervisor as hypervisor_module
    from node.daemon import SWITCH_INTERVAL

    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)  # as a node daemon runs, with a guest running on the loop
    hv = Hypervisor(NodeConfig(name="n", data_dir=str(tmp_path), capacity_memory=1 << 30, capacity_vcpus=4))
    await hv.start()
    try:
        forever = patch(Path(guest("dirtier")).read_bytes(), "dirtier", {"iterations": 0})
        vm = await hv.create_vm("busy", Spec(name="busy", memory=16 << 20, kernel=forever), start=True)
        await asyncio.sleep(0.3)
        saving, release, saved = threading.Event(), threading.Event(), threading.Event()
        seen: list[int] = []
        save = hypervisor_module.vmsnap.save

        def slow_save(machine: Any, *args: Any) -> Any:
            seen.append(machine.instructions)
            saving.set()
            release.wait(10)
            seen.append(machine.instructions)  # the guest ran meanwhile if this moved
            try:
                return save(machine, *args)
            finally:
                saved.set()
        monkeypatch.setattr(hypervisor_module.vmsnap, "save", slow_save)
        task = asyncio.create_task(hv.snapshot_vm("busy", "", hypervisor_module.vmsnap.SaveOptions()))
        await asyncio.to_thread(saving.wait, 10)
        task.cancel()
        await asyncio.sleep(0.3)  # long enough for many slices, had the guest been let go
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(saved.wait, 10)
        assert seen[0] == seen[1], f"the guest ran {seen[1] - seen[0]} instructions during its own save"
        before = vm.machine.instructions  # type: ignore[union-attr]
        await asyncio.sleep(0.3)
        assert vm.machine.instructions > before  # and runs again once the save is over  # type: ignore[union-attr]
    finally:
        await hv.shutdown()
        sys.setswitchinterval(previous)


async def test_a_vm_whose_state_cannot_be_saved_at_shutdown_is_reported_and_stays_stopped(tmp_path: Path) -> None:
    """A node saving its VMs at shutdown onto a full disk logged the loss and
    exited 0: `cluster down` said nothing. The node now keeps what it lost
    for its exit report (node.server), saves the VMs it can, and records the
    lost one as stopped, not as one to resume."""
    import errno
    import json

    hv = Hypervisor(NodeConfig(name="n", data_dir=str(tmp_path), capacity_memory=1 << 30, capacity_vcpus=4,
                               save_on_shutdown=True))
    await hv.start()
    forever = patch(Path(guest("dirtier")).read_bytes(), "dirtier", {"iterations": 0})
    for vm_id in ("full", "fine"):
        await hv.create_vm(vm_id, Spec(name=f"{vm_id}-vm", memory=16 << 20, kernel=forever), start=True)
    await asyncio.sleep(0.2)
    save = hv._save

    async def save_unless_full(vm: Any, *args: Any) -> None:
        if vm.vm_id == "full":
            raise OSError(errno.ENOSPC, "No space left on device")
        await save(vm, *args)
    hv._save = save_unless_full  # type: ignore[method-assign]
    await hv.shutdown()
    assert hv.lost_at_shutdown == [{"vm_id": "full", "name": "full-vm", "error": "[Errno 28] No space left on device"}]
    desired = {vm_id: json.loads((tmp_path / "vms" / vm_id / "vm.json").read_text())["desired"]
               for vm_id in ("full", "fine")}
    assert desired == {"full": "stopped", "fine": "running"}
    assert (tmp_path / "vms" / "fine" / "saved.vmstate").exists()
