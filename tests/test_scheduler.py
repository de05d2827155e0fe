"""The node's scheduler (node.hypervisor) shares the CPU by CPU shares, and a
VM that is migrating out keeps its share while its stream is served between
its short slices."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from node.daemon import SWITCH_INTERVAL
from node.guestconfig import patch
from node import vm as vm_module
from node.hypervisor import Hypervisor, NodeConfig, Spec
from node.phases import Phase
from support import guest

FOREVER = patch(Path(guest("dirtier")).read_bytes(), "dirtier", {"iterations": 0})


@pytest.fixture(autouse=True)
def daemon_switch_interval():  # type: ignore[no-untyped-def]
    """As a node daemon runs (node.daemon.tune_process). With Python's default
    5 ms, a thread's result can wait seconds for the loop while guests run."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    yield
    sys.setswitchinterval(previous)


async def _shares_of(hv: Hypervisor, seconds: float) -> dict[str, float]:
    """Each VM's part of the CPU time its guests used (what shares divide: a
    VM that runs rarely runs with cold caches, so its part of the
    instructions is smaller), over the next ``seconds`` of their CPU time
    together, not of wall time: on a loaded host (the suite's other worker)
    a wall-time window held less of it, and a small part strayed further
    (1.3% for a VM due 3%, in one suite run)."""
    before = {vm_id: vm.stats.cpu_seconds for vm_id, vm in hv.vms.items()}
    deadline = time.monotonic() + 30 * seconds
    while True:
        await asyncio.sleep(0.05)
        ran = {vm_id: vm.stats.cpu_seconds - before[vm_id] for vm_id, vm in hv.vms.items()}
        total = sum(ran.values())
        if total >= seconds:
            return {vm_id: n / total for vm_id, n in ran.items()}
        assert time.monotonic() < deadline, f"the guests used {total:.2f} s of CPU in {30 * seconds:g} s"


async def _shares_while_migrating(hv: Hypervisor, vm_id: str) -> dict[str, float]:
    """The shares while ``vm_id`` is in the phase a migration out sets (its short slices)."""
    hv.vms[vm_id].phase = Phase.MIGRATING
    try:
        await asyncio.sleep(0.2)
        return await _shares_of(hv, 1.5)
    finally:
        hv.vms[vm_id].phase = Phase.RUNNING


THREE = {"big": 2048, "small": 1024, "mover": 1024}


async def _vms(tmp_path: Path, shares: dict[str, int]) -> Hypervisor:
    hv = Hypervisor(NodeConfig(name="n", data_dir=str(tmp_path), capacity_memory=1 << 30, capacity_vcpus=4))
    await hv.start()
    for vm_id, n in shares.items():
        await hv.create_vm(vm_id, Spec(name=vm_id, memory=16 << 20, kernel=FOREVER, shares=n), start=True)
    return hv


async def test_cpu_follows_shares_and_a_migrating_vm_keeps_its_own(tmp_path: Path) -> None:
    hv = await _vms(tmp_path, THREE)
    try:
        await asyncio.sleep(0.5)  # past the first slices, sized before the speed is measured
        shares = await _shares_of(hv, 1.5)
        assert 0.42 < shares["big"] < 0.58 and 0.19 < shares["small"] < 0.31, shares
        # Migrating (the phase a migration sets): short slices, the same share.
        moving = await _shares_while_migrating(hv, "mover")
        assert 0.19 < moving["mover"] < 0.31 and 0.42 < moving["big"] < 0.58, moving
    finally:
        await hv.shutdown()


async def test_a_vm_the_host_preempts_keeps_its_share(tmp_path: Path) -> None:
    """Time a VM's slices spend off the CPU (the host preempts the node, or
    another thread holds the GIL) costs it nothing of its share. With slices
    sized by wall-clock time and turns taken in order, this VM got 0.04 of
    the instructions run instead of its 0.25."""
    hv = await _vms(tmp_path, THREE)
    try:
        machine = hv.vms["small"].machine
        assert machine is not None
        run = machine.run

        def preempted(budget: int):  # type: ignore[no-untyped-def]
            reason = run(budget)
            time.sleep(0.001)  # off the CPU, as if the host ran something else
            return reason

        machine.run = preempted  # type: ignore[method-assign]
        await asyncio.sleep(0.5)
        shares = await _shares_of(hv, 1.5)
        # The preempted VM's share, in the band of the test above (the bug gave it 0.04). The others'
        # split is that test's subject: under the full suite's load it strayed here twice in a row
        # (mover 0.35, big 0.43 in one run), in no run of this file alone or beside the cluster tests.
        assert 0.19 < shares["small"] < 0.31, shares
    finally:
        await hv.shutdown()


async def test_a_vm_with_few_shares_gets_no_more_than_they_say(tmp_path: Path) -> None:
    """32 shares beside 1024 is 3% of the CPU. With shares scaling each
    slice's length, the smallest slice (``MIN_BUDGET`` instructions) gave it
    12% on this machine."""
    hv = await _vms(tmp_path, {"normal": 1024, "background": 32})
    try:
        await asyncio.sleep(0.5)
        shares = await _shares_of(hv, 1.5)
        assert 0.02 < shares["background"] < 0.045, shares
    finally:
        await hv.shutdown()


async def test_a_vm_with_many_shares_runs_often_not_long(tmp_path: Path) -> None:
    """16384 shares beside 1024 is 94% of the CPU, in slices as short as
    anyone's: the loop (gRPC, consoles, other VMs' migrations) is served as
    often. With shares scaling each slice's length, its slices were 16 times
    longer (16 ms with the default 1 ms)."""
    hv = await _vms(tmp_path, {"normal": 1024, "heavy": 16384})
    try:
        await asyncio.sleep(0.5)
        slices = {vm_id: vm.stats.slices for vm_id, vm in hv.vms.items()}
        before = {vm_id: vm.instructions for vm_id, vm in hv.vms.items()}
        shares = await _shares_of(hv, 1.5)
        per_slice = {vm_id: (vm.instructions - before[vm_id]) / max(1, vm.stats.slices - slices[vm_id])
                     for vm_id, vm in hv.vms.items()}
        assert 0.91 < shares["heavy"] < 0.97, shares
        assert per_slice["heavy"] < 2 * per_slice["normal"], per_slice
    finally:
        await hv.shutdown()


async def test_a_migrating_vm_gets_its_share_on_a_slow_host(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """On a host where 250 µs is fewer instructions than the smallest slice
    (``MIN_BUDGET``), a migrating VM's short slices are longer than asked; its
    share stays what its shares say (it got 0.4, twice its peer's, when each
    slice's length carried the share)."""
    monkeypatch.setattr(vm_module, "EMA", 0.0)  # the speed estimate stays what it is set to
    hv = await _vms(tmp_path, THREE)
    try:
        for vm in hv.vms.values():
            vm.stats.cpu_mips = 2.0  # a 1 ms slice is 2000 instructions, a 250 µs one 1000 (the floor)
        moving = await _shares_while_migrating(hv, "mover")
        assert 0.22 < moving["mover"] < 0.28 and 0.47 < moving["big"] < 0.53, moving
    finally:
        await hv.shutdown()
