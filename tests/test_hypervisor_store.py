"""The node's store I/O runs off the event loop (node.hypervisor): one VM's
writes and deletions stay in order even when its id is reused meanwhile."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

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
