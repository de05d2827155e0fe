"""The node's scheduler (node.hypervisor) shares the CPU by CPU shares, and a
VM that is migrating out keeps its share while its stream is served between
its short slices."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from node.daemon import SWITCH_INTERVAL
from node.guestconfig import patch
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
    """Each VM's part of the instructions run in ``seconds`` (all VMs alike: same guest, same speed)."""
    before = {vm_id: vm.machine.instructions for vm_id, vm in hv.vms.items()}  # type: ignore[union-attr]
    await asyncio.sleep(seconds)
    ran = {vm_id: vm.machine.instructions - before[vm_id] for vm_id, vm in hv.vms.items()}  # type: ignore[union-attr]
    total = sum(ran.values())
    return {vm_id: n / total for vm_id, n in ran.items()}


async def test_cpu_follows_shares_and_a_migrating_vm_keeps_its_own(tmp_path: Path) -> None:
    hv = Hypervisor(NodeConfig(name="n", data_dir=str(tmp_path), capacity_memory=1 << 30, capacity_vcpus=4))
    await hv.start()
    try:
        for vm_id, shares in (("big", 2048), ("small", 1024), ("mover", 1024)):
            await hv.create_vm(vm_id, Spec(name=vm_id, memory=16 << 20, kernel=FOREVER, shares=shares), start=True)
        await asyncio.sleep(0.5)  # past the first slices, sized before the speed is measured
        shares = await _shares_of(hv, 1.5)
        assert 0.42 < shares["big"] < 0.58 and 0.19 < shares["small"] < 0.31, shares
        # Migrating (the phase a migration sets): short slices, the same share.
        hv.vms["mover"].phase = Phase.MIGRATING
        await asyncio.sleep(0.2)
        moving = await _shares_of(hv, 1.5)
        assert 0.19 < moving["mover"] < 0.31 and 0.42 < moving["big"] < 0.58, moving
        hv.vms["mover"].phase = Phase.RUNNING
    finally:
        await hv.shutdown()
