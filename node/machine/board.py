"""The board: QEMU ``virt``'s address map, reset ROM and device tree (DESIGN.md §2).

One guest image runs both here and on ``qemu-system-riscv64 -machine virt``,
so the layout is QEMU's: reset ROM at 0x1000 whose stub passes a0 = hart id,
a1 = device tree address and a2 = the OpenSBI ``fw_dynamic_info`` record and
jumps to the start of DRAM; the device tree at the top of RAM (below 3 GiB),
aligned down to 2 MiB; node names and compatibles as QEMU generates them
(``-machine virt,dumpdtb=FILE`` prints the reference).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .fdt import Node, build_dtb, u64_cells

MROM_BASE = 0x1000
MROM_SIZE = 0xF000
TEST_BASE = 0x0010_0000
TEST_SIZE = 0x1000
CLINT_BASE = 0x0200_0000
CLINT_SIZE = 0x1_0000  # the device tree's window; registers: msip, then mtimecmp and mtime
CLINT_MSIP_SIZE = 0x4000
CLINT_MTIMER_SIZE = 0x8000  # mtimecmp at 0x4000.., mtime at 0xBFF8; 0xC000.. holds nothing
PLIC_BASE = 0x0C00_0000
PLIC_SIZE = 0x60_0000
PLIC_NUM_SOURCES = 96
UART_BASE = 0x1000_0000
UART_SIZE = 0x100  # the device tree's window; the registers are its first 8 bytes
UART_REGS_SIZE = 8
UART_IRQ = 10
VIRTIO_BASE = 0x1000_1000
VIRTIO_STRIDE = 0x1000  # the device tree's window per transport; registers and config space: 0x200
VIRTIO_REGS_SIZE = 0x200
VIRTIO_COUNT = 8
VIRTIO_IRQ_BASE = 1
DRAM_BASE = 0x8000_0000
KERNEL_ALIGN = 2 << 20
TIMEBASE_HZ = 10_000_000

FW_DYNAMIC_INFO_MAGIC = 0x4942534F  # "OSBI"
FW_DYNAMIC_INFO_VERSION = 2
FW_DYNAMIC_INFO_NEXT_MODE_S = 1
FW_DYNAMIC_INFO_OFFSET = 0x28

ISA_STRING = "rv64imac_zicsr_zifencei_sstc"

_PHANDLE_CPU_INTC = 2
_PHANDLE_PLIC = 3
_PHANDLE_TEST = 4
_PHANDLE_CPU = 1


@dataclass(frozen=True)
class DeviceTreeConfig:
    memory_size: int
    bootargs: str | None = None
    initrd: tuple[int, int] | None = None  # (start, end)


def fdt_address(memory_size: int, dtb_size: int) -> int:
    """Where QEMU 7.2 places the device tree (``riscv_load_fdt``)."""
    dram_end = DRAM_BASE + memory_size
    top = min(dram_end, 3072 << 20)
    return (top - dtb_size) & ~((2 << 20) - 1)


def reset_rom(start: int, fdt_addr: int, next_addr: int) -> bytes:
    """The reset vector QEMU's virt board puts at 0x1000, byte for byte."""
    code = struct.pack(
        "<6I",
        0x00000297,  # auipc t0, 0
        0x02828613,  # addi  a2, t0, 40      (a2 = &fw_dynamic_info)
        0xF1402573,  # csrr  a0, mhartid
        0x0202B583,  # ld    a1, 32(t0)      (a1 = device tree)
        0x0182B283,  # ld    t0, 24(t0)      (t0 = start address)
        0x00028067,  # jr    t0
    )
    data = struct.pack("<QQ", start, fdt_addr)
    info = struct.pack("<6Q", FW_DYNAMIC_INFO_MAGIC, FW_DYNAMIC_INFO_VERSION, next_addr,
                       FW_DYNAMIC_INFO_NEXT_MODE_S, 0, 0)
    return code + data + info


def device_tree(cfg: DeviceTreeConfig) -> bytes:
    root = Node("")
    root.set("#address-cells", 2).set("#size-cells", 2)
    root.set("compatible", "riscv-virtio").set("model", "riscv-virtio,qemu")

    chosen = root.child("chosen")
    if cfg.bootargs is not None:
        chosen.set("bootargs", cfg.bootargs)
    chosen.set("stdout-path", f"/soc/serial@{UART_BASE:x}")
    if cfg.initrd is not None:
        chosen.set("linux,initrd-start", u64_cells(cfg.initrd[0]))
        chosen.set("linux,initrd-end", u64_cells(cfg.initrd[1]))

    poweroff = root.child("poweroff")
    poweroff.set("value", 0x5555).set("offset", 0).set("regmap", _PHANDLE_TEST)
    poweroff.set("compatible", "syscon-poweroff")
    reboot = root.child("reboot")
    reboot.set("value", 0x7777).set("offset", 0).set("regmap", _PHANDLE_TEST)
    reboot.set("compatible", "syscon-reboot")

    memory = root.child(f"memory@{DRAM_BASE:x}")
    memory.set("device_type", "memory").set("reg", u64_cells(DRAM_BASE, cfg.memory_size))

    cpus = root.child("cpus")
    cpus.set("#address-cells", 1).set("#size-cells", 0).set("timebase-frequency", TIMEBASE_HZ)
    cpu = cpus.child("cpu@0")
    cpu.set("phandle", _PHANDLE_CPU).set("device_type", "cpu").set("reg", 0)
    cpu.set("status", "okay").set("compatible", "riscv").set("riscv,isa", ISA_STRING)
    cpu.set("mmu-type", "riscv,sv39")
    intc = cpu.child("interrupt-controller")
    intc.set("#interrupt-cells", 1).set("interrupt-controller").set("compatible", "riscv,cpu-intc")
    intc.set("phandle", _PHANDLE_CPU_INTC)
    cluster = cpus.child("cpu-map").child("cluster0")
    cluster.child("core0").set("cpu", _PHANDLE_CPU)

    soc = root.child("soc")
    soc.set("#address-cells", 2).set("#size-cells", 2).set("compatible", "simple-bus").set("ranges")

    serial = soc.child(f"serial@{UART_BASE:x}")
    serial.set("interrupts", UART_IRQ).set("interrupt-parent", _PHANDLE_PLIC)
    serial.set("clock-frequency", 0x384000).set("reg", u64_cells(UART_BASE, UART_SIZE))
    serial.set("compatible", "ns16550a")

    test = soc.child(f"test@{TEST_BASE:x}")
    test.set("phandle", _PHANDLE_TEST).set("reg", u64_cells(TEST_BASE, TEST_SIZE))
    test.set("compatible", ["sifive,test1", "sifive,test0", "syscon"])

    for slot in reversed(range(VIRTIO_COUNT)):
        base = VIRTIO_BASE + slot * VIRTIO_STRIDE
        node = soc.child(f"virtio_mmio@{base:x}")
        node.set("interrupts", VIRTIO_IRQ_BASE + slot).set("interrupt-parent", _PHANDLE_PLIC)
        node.set("reg", u64_cells(base, VIRTIO_STRIDE)).set("compatible", "virtio,mmio")

    plic = soc.child(f"plic@{PLIC_BASE:x}")
    plic.set("phandle", _PHANDLE_PLIC).set("riscv,ndev", PLIC_NUM_SOURCES)
    plic.set("reg", u64_cells(PLIC_BASE, PLIC_SIZE))
    plic.set("interrupts-extended", [_PHANDLE_CPU_INTC, 11, _PHANDLE_CPU_INTC, 9])
    plic.set("interrupt-controller").set("compatible", ["sifive,plic-1.0.0", "riscv,plic0"])
    plic.set("#address-cells", 0).set("#interrupt-cells", 1)

    clint = soc.child(f"clint@{CLINT_BASE:x}")
    clint.set("interrupts-extended", [_PHANDLE_CPU_INTC, 3, _PHANDLE_CPU_INTC, 7])
    clint.set("reg", u64_cells(CLINT_BASE, CLINT_SIZE))
    clint.set("compatible", ["sifive,clint0", "riscv,clint0"])
    return build_dtb(root)
