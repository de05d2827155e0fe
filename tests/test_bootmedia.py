"""Boot media (vmstate/bootmedia.py) and Machine.cold_boot: a VM that came by
migration or restore cold-boots from its machine record and boot segments
exactly as it first booted from its image files."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.machine.loader import Segment
from node.machine.machine import Machine, MachineConfig, StopReason
from support import guest
from vmstate import ChecksumError, FormatError, bootmedia, bootrecords
from vmstate import snapshot as vmsnap


def run_to_power_off(machine: Machine, console: bytearray) -> None:
    machine.console = console.extend
    for _ in range(1000):
        if machine.run(1_000_000) is StopReason.HALTED:
            return
    pytest.fail("the guest did not power off")


def test_a_cold_boot_from_boot_media_is_the_boot_from_the_image(tmp_path: Path) -> None:
    first = Machine(MachineConfig(memory_size=32 << 20, kernel=guest("hello")))
    first.boot()
    path = str(tmp_path / "boot.vmstate")
    bootmedia.save(path, first.config_state(), first.boot_segments(), {"vm_id": "v"})
    config_state, segments = bootmedia.load(path)
    again = Machine.cold_boot(config_state, segments, None)
    assert again.config_state() == first.config_state() and again.boot_segments() == first.boot_segments()
    outputs = []
    for machine in (first, again):
        console = bytearray()
        run_to_power_off(machine, console)
        outputs.append((bytes(console), machine.exit_code, machine.instructions, vmsnap.state_digest(machine)))
        machine.close()
    assert outputs[0] == outputs[1]
    assert b"Hello" in outputs[0][0]


def test_boot_media_keep_large_segments_and_refuse_damage(tmp_path: Path) -> None:
    machine = Machine(MachineConfig(memory_size=32 << 20, kernel=guest("hello")))
    machine.boot()
    big = Segment(0x8100_0000, bytes(range(256)) * ((bootrecords.PIECE * 2 + 4096) // 256), bootrecords.PIECE * 3)
    segments = [*machine.boot_segments(), big]
    path = tmp_path / "boot.vmstate"
    bootmedia.save(str(path), machine.config_state(), segments)
    assert bootmedia.load(str(path)) == (machine.config_state(), segments)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="boot.vmstate"):
        bootmedia.load(str(path))
    snapshot = tmp_path / "snap.vmstate"
    vmsnap.save(machine, str(snapshot))
    with pytest.raises(FormatError, match="not a boot media file"):
        bootmedia.load(str(snapshot))
    machine.close()


def test_boot_media_is_not_a_snapshot(tmp_path: Path) -> None:
    machine = Machine(MachineConfig(memory_size=32 << 20, kernel=guest("hello")))
    machine.boot()
    path = str(tmp_path / "boot.vmstate")
    bootmedia.save(path, machine.config_state(), machine.boot_segments())
    machine.close()
    for read in (vmsnap.load, vmsnap.inspect):
        with pytest.raises(FormatError, match="boot.vmstate: a VM's boot media .*not a snapshot"):
            read(path)
