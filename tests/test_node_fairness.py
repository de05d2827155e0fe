"""A node's VMs share its CPU time by their shares, whatever their
instructions cost (node.hypervisor: the scheduler charges CPU time), and the
node's own bookkeeping of VMs stays bounded and survives restarts."""

from __future__ import annotations

import asyncio
import struct
import sys
import time
from pathlib import Path

import pytest

from node.daemon import SWITCH_INTERVAL
from node.hypervisor import Hypervisor, NodeConfig, Spec
from node.vm import Vm

RAM = 0x8000_0000


def raw(words: list[int]) -> bytes:
    return struct.pack(f"<{len(words)}I", *words)


# A guest that spins forever: j .
SPIN = raw([0x0000006F])
# A guest that rewrites its own code forever: every store to the code page
# invalidates the decoded block, so each instruction costs far more host CPU.
SELFMOD = raw([
    0x0000_0297,  # auipc t0, 0
    0x0142_8293,  # addi t0, t0, 20      (t0 = the nop below)
    0x0002_A303,  # 1: lw t1, 0(t0)
    0x0062_A023,  # sw t1, 0(t0)
    0x0000_100F,  # fence.i
    0x0000_0013,  # nop
    0xFF1F_F06F,  # j 1b
])


@pytest.fixture(autouse=True)
def daemon_switch_interval():  # type: ignore[no-untyped-def]
    """As a node daemon runs (node.daemon.tune_process; see tests/test_scheduler.py)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    yield
    sys.setswitchinterval(previous)


def _config(tmp_path: Path) -> NodeConfig:
    return NodeConfig(name="n", data_dir=str(tmp_path), capacity_memory=1 << 30, capacity_vcpus=4)


async def _node(tmp_path: Path, guests: dict[str, tuple[bytes, int]]) -> Hypervisor:
    hv = Hypervisor(_config(tmp_path))
    await hv.start()
    for vm_id, (image, shares) in guests.items():
        await hv.create_vm(vm_id, Spec(name=vm_id, memory=4 << 20, kernel=image, load_address=RAM,
                                       shares=shares), start=True)
    return hv


async def _cpu_of(hv: Hypervisor, seconds: float) -> dict[str, float]:
    """Each VM's part of the CPU time its slices used in ``seconds``."""
    before = {vm_id: vm.stats.cpu_seconds for vm_id, vm in hv.vms.items()}
    await asyncio.sleep(seconds)
    used = {vm_id: vm.stats.cpu_seconds - before[vm_id] for vm_id, vm in hv.vms.items()}
    total = sum(used.values())
    assert total > 0.2 * seconds, used  # the guests did run
    return {vm_id: t / total for vm_id, t in used.items()}


async def test_a_guest_with_costly_instructions_gets_no_more_than_its_share(tmp_path: Path) -> None:
    """Equal shares, equal CPU time — though one guest's instructions cost
    far more. Charged by instructions, the self-modifying guest took ~98%."""
    hv = await _node(tmp_path, {"spin": (SPIN, 1024), "selfmod": (SELFMOD, 1024)})
    try:
        await asyncio.sleep(0.3)
        cpu = await _cpu_of(hv, 2.0)
        ratio = cpu["selfmod"] / max(cpu["spin"], 1e-9)
        assert 0.5 < ratio < 2.0, cpu
    finally:
        await hv.shutdown()


async def test_cpu_time_follows_shares_with_a_costly_guest(tmp_path: Path) -> None:
    """Shares 3:1 give 3/4 of the CPU time to the cheap guest, 1/4 to the
    costly one (charged by instructions, the costly guest took nearly all)."""
    hv = await _node(tmp_path, {"spin": (SPIN, 3072), "selfmod": (SELFMOD, 1024)})
    try:
        await asyncio.sleep(0.3)
        cpu = await _cpu_of(hv, 2.0)
        assert 0.6 < cpu["spin"] < 0.88, cpu
    finally:
        await hv.shutdown()


async def test_cpu_time_follows_shares_1_to_3(tmp_path: Path) -> None:
    """Shares 1:3 between two alike guests: 1/4 and 3/4 of the CPU time."""
    hv = await _node(tmp_path, {"low": (SPIN, 1024), "high": (SPIN, 3072)})
    try:
        await asyncio.sleep(0.3)
        cpu = await _cpu_of(hv, 2.0)
        assert 0.62 < cpu["high"] < 0.88, cpu
    finally:
        await hv.shutdown()


# -- the controller link, console input, and VMs that powered off ---------------------------------


async def test_the_controller_link_reconnects_within_seconds(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The registrar's channel caps gRPC's reconnect backoff (by default it
    grows to 120 s: nodes heartbeat a restarted controller 20+ s late)."""
    import grpc

    from node import registrar

    made: list[dict[str, int]] = []
    insecure = grpc.aio.insecure_channel

    def channel(target: str, options=None, **kwargs):  # type: ignore[no-untyped-def]
        made.append(dict(options or []))
        return insecure(target, options=options, **kwargs)

    monkeypatch.setattr(registrar.grpc.aio, "insecure_channel", channel)
    hv = Hypervisor(_config(tmp_path))
    await hv.start()
    link = registrar.Registrar(hv, "127.0.0.1:1", None)
    try:
        link.start()
        await asyncio.sleep(0.1)
    finally:
        await link.stop()
        await hv.shutdown()
    assert len(made) == 1
    options = made[0]
    assert options.get("grpc.max_reconnect_backoff_ms", 120_000) <= 2000, options
    assert options.get("grpc.initial_reconnect_backoff_ms", 1000) <= 500, options
    assert options.get("grpc.min_reconnect_backoff_ms", 20_000) <= 500, options


async def test_console_input_is_bounded_and_the_reply_says_what_was_kept(tmp_path: Path) -> None:
    """A stopped VM keeps at most what its UART would (MAX_PENDING_INPUT) and
    the reply counts only those bytes; so does a running one."""
    from node.machine.devices.uart import FIFO_LEN, MAX_PENDING_INPUT

    hv = await _node(tmp_path, {"spin": (SPIN, 1024)})
    try:
        await hv.create_vm("idle", Spec(name="idle", memory=4 << 20, kernel=SPIN, load_address=RAM))
        chunk = b"x" * (MAX_PENDING_INPUT // 2 + 7)
        for vm_id in ("idle", "spin"):
            kept = [hv.write_console(vm_id, chunk) for _ in range(4)]
            vm = hv.vms[vm_id]
            held = len(vm.pending_input) + (len(vm.machine.uart.pending_input) if vm.machine else 0)
            # Kept: what waits, and what the UART took into its receiver already.
            assert held <= MAX_PENDING_INPUT and 0 <= sum(kept) - held <= FIFO_LEN + 1, (vm_id, kept, held)
            assert kept[0] == len(chunk) and kept[-1] == 0, (vm_id, kept)
    finally:
        await hv.shutdown()


def _powered_off_snapshot(path: Path, meta: dict[str, object]) -> int:
    """Save a guest (hello) that has powered off to ``path``; its exit code."""
    from node.machine.machine import Machine, MachineConfig
    from support import guest
    from vmstate import snapshot

    machine = Machine(MachineConfig(kernel=guest("hello"), memory_size=16 << 20))
    machine.boot()
    for _ in range(1000):
        if machine.halted:
            break
        machine.run(1_000_000)
    assert machine.halted
    snapshot.save(machine, str(path), meta, snapshot.SaveOptions())
    code = machine.exit_code
    machine.close()
    return code  # type: ignore[return-value]


async def _settled(vm: Vm) -> None:
    """Until the node has finished recording a VM that stopped (Hypervisor._finalize)."""
    deadline = time.monotonic() + 30
    while vm.busy or vm.machine is not None or not vm.state_digest:
        assert time.monotonic() < deadline, "the stopped VM was never recorded"
        await asyncio.sleep(0.02)


async def test_restoring_a_powered_off_guest_holds_no_capacity(tmp_path: Path) -> None:
    path = tmp_path / "off.vmstate"
    await asyncio.to_thread(_powered_off_snapshot, path, {"name": "off"})
    hv = Hypervisor(_config(tmp_path / "node"))
    await hv.start()
    try:
        vm = await hv.restore_vm(str(path), vm_id="off", start=True)
        assert vm.phase.value == "stopped"
        assert hv.admission.used().memory == 0 and hv.admission.used().vcpus == 0, hv.admission.used()
        await _settled(vm)
        assert vm.exit_code is not None and vm.instructions > 0
    finally:
        await hv.shutdown()


async def test_a_powered_off_vm_keeps_its_outcome_across_node_restarts(tmp_path: Path) -> None:
    from support import guest

    hv = Hypervisor(_config(tmp_path))
    await hv.start()
    try:
        vm = await hv.create_vm("hello", Spec(name="hello", memory=16 << 20,
                                              kernel=Path(guest("hello")).read_bytes()), start=True)
        await _settled(vm)
        outcome = (vm.exit_code, vm.instructions, vm.state_digest)
        assert vm.phase.value == "stopped" and outcome[0] is not None and outcome[1] > 0, outcome
    finally:
        await hv.shutdown()
    again = Hypervisor(_config(tmp_path))
    await again.start()
    try:
        vm = again.get("hello")
        assert (vm.exit_code, vm.instructions, vm.state_digest) == outcome
        # A new run forgets the last one's outcome.
        await again.start_vm("hello")
        assert vm.exit_code is None and vm.definition.exit_code is None and not vm.definition.state_digest
    finally:
        await again.shutdown()


async def test_a_restored_vm_shows_the_image_it_was_made_from(tmp_path: Path) -> None:
    """Not the source VM's name; a snapshot that names no image shows none."""
    hv = await _node(tmp_path, {})
    try:
        await hv.create_vm("src", Spec(name="source", memory=4 << 20, kernel=SPIN, load_address=RAM,
                                       image_name="spin.bin"), start=True)
        await asyncio.sleep(0.05)
        from vmstate import snapshot

        await hv.snapshot_vm("src", "src.vmstate", snapshot.SaveOptions())
        copy = await hv.restore_vm(str(tmp_path / "snapshots" / "src.vmstate"), vm_id="copy")
        assert copy.definition.image_name == "spin.bin" and copy.definition.name == "source"
        old = tmp_path / "old.vmstate"
        await asyncio.to_thread(_powered_off_snapshot, old, {"name": "source"})
        plain = await hv.restore_vm(str(old), vm_id="plain")
        assert plain.definition.image_name == "" and plain.definition.name == "source"
    finally:
        await hv.shutdown()
