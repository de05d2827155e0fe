"""The board against QEMU's virt: the device tree we generate describes the
same nodes, with the same compatibles, registers and interrupts, as the one
``qemu-system-riscv64 -machine virt,dumpdtb=FILE`` prints; the reset ROM is
QEMU's, byte for byte."""

from __future__ import annotations

import subprocess

import pytest

from node.machine import board
from node.machine.fdt import parse_dtb, walk
from node.machine.machine import Machine, MachineConfig
from support import guest, need_tool

# Properties where Caravan describes its own hart rather than QEMU's default one.
OURS_DIFFER = {
    ("/cpus/cpu@0", "riscv,isa"),   # RV64IMAC + Zicsr/Zifencei/Sstc, not QEMU's rv64imafdch...
    ("/cpus/cpu@0", "mmu-type"),    # Sv39 only (QEMU's default CPU has Sv48)
}


def _ours(memory: int) -> bytes:
    return board.device_tree(board.DeviceTreeConfig(memory_size=memory))


@pytest.mark.reference
@pytest.mark.parametrize("memory", ["128M", "1G"])
def test_device_tree_matches_qemu(memory: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from node.machine.memory import parse_size

    qemu = need_tool("qemu-system-riscv64")
    path = tmp_path / "virt.dtb"
    subprocess.run([qemu, "-machine", f"virt,dumpdtb={path}", "-m", memory, "-bios", "none",
                    "-nographic"], check=True, capture_output=True, timeout=60)
    theirs = walk(parse_dtb(path.read_bytes()))
    ours = walk(parse_dtb(_ours(parse_size(memory))))
    for node_path, node in ours.items():
        assert node_path in theirs, f"QEMU has no {node_path}"
        for name, value in node.props.items():
            if (node_path, name) in OURS_DIFFER:
                continue
            assert name in theirs[node_path].props, f"QEMU's {node_path} has no {name}"
            assert value == theirs[node_path].props[name], f"{node_path}:{name} differs"


def test_device_tree_describes_the_configuration() -> None:
    nodes = walk(parse_dtb(board.device_tree(board.DeviceTreeConfig(
        memory_size=256 << 20, bootargs="console=ttyS0", initrd=(0x8400_0000, 0x8410_0000)))))
    assert nodes["/memory@80000000"].props["reg"] == (0x8000_0000).to_bytes(8, "big") + (256 << 20).to_bytes(8, "big")
    assert nodes["/chosen"].props["bootargs"] == b"console=ttyS0\0"
    assert nodes["/chosen"].props["linux,initrd-start"] == (0x8400_0000).to_bytes(8, "big")
    assert nodes["/cpus/cpu@0"].props["riscv,isa"] == b"rv64imac_zicsr_zifencei_sstc\0"
    assert sum(1 for p in nodes if p.startswith("/soc/virtio_mmio@")) == 8


def test_reset_rom_and_fdt_placement_match_qemu() -> None:
    machine = Machine(MachineConfig(kernel=guest("hello")))
    machine.boot()
    rom = bytes(machine.rom.data[:0x58])
    # Read from QEMU 7.2 with `xp /22wx 0x1000` on the same configuration.
    assert rom[:0x18].hex() == "9702000013868202732540f183b5020283b2820167800200"
    assert int.from_bytes(rom[0x18:0x20], "little") == 0x8000_0000
    assert int.from_bytes(rom[0x20:0x28], "little") == 0x87E0_0000
    assert int.from_bytes(rom[0x28:0x30], "little") == 0x4942534F
    assert machine.layout.fdt_addr == 0x87E0_0000
