"""The machine: a hart and the virt board's devices, wired together and run.

:class:`MachineConfig` is the frozen, validated description of a VM's hardware
and boot media; :class:`Machine` builds the hart, RAM, bus and devices from it,
boots the way ``qemu-system-riscv64 -machine virt`` does, and runs guest code in
bounded slices (:meth:`Machine.run`), taking interrupts at exact instruction
counts and fast-forwarding virtual time through WFI.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable

from . import board
from .bus import Access, Bus, Rom
from .devices.clint import Clint
from .devices.plic import Plic
from .devices.test_finisher import TestFinisher
from .devices.uart import Uart
from .devices.virtio_blk import DiskError, DiskImage, VirtioBlk
from .devices.virtio_mmio import VirtioMmio
from .hart import MASK64, Hart
from .interp import Interpreter
from .loader import Image, ImageError, Segment, load_image, load_raw
from .memory import MAX_RAM, MIN_RAM, PAGE_SIZE, Ram, format_size
from .mmu import Mmu
from .state import Fields, StateError, check_state
from .system import System

DEFAULT_MEMORY = 128 << 20
BACKENDS = ("interp",)

CONFIG_STATE_KIND = "machine"
CONFIG_STATE_VERSION = 1
BOARD_STATE_KIND = "board"
BOARD_STATE_VERSION = 1


class ConfigError(ValueError):
    """A machine configuration is invalid; the message says which field and why."""


@dataclass(frozen=True)
class MachineConfig:
    memory_size: int = DEFAULT_MEMORY
    kernel: str | None = None          # like QEMU's -kernel
    bios: str | None = None            # like QEMU's -bios (None means "none")
    initrd: str | None = None
    append: str | None = None
    load_address: int | None = None    # where a raw (non-ELF) kernel goes
    disk: str | None = None            # raw disk image for virtio-blk in slot 0
    backend: str = "interp"

    def __post_init__(self) -> None:
        if not MIN_RAM <= self.memory_size <= MAX_RAM:
            raise ConfigError(
                f"memory size {format_size(self.memory_size)} is outside "
                f"{format_size(MIN_RAM)}..{format_size(MAX_RAM)}")
        if self.memory_size % PAGE_SIZE:
            raise ConfigError("memory size must be a multiple of 4 KiB")
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r} (known: {', '.join(BACKENDS)})")
        if self.initrd is not None and self.kernel is None:
            raise ConfigError("an initrd needs a kernel")


class StopReason(enum.Enum):
    LIMIT = "limit"        # the instruction budget is used up
    HALTED = "halted"      # the guest powered off
    IDLE = "idle"          # WFI with nothing that could wake the hart but input


@dataclass
class BootLayout:
    images: list[Image] = field(default_factory=list)
    fdt_addr: int = 0
    dtb: bytes = b""
    start: int = board.DRAM_BASE
    kernel_entry: int = 0


class Machine:
    def __init__(self, config: MachineConfig, console: Callable[[bytes], None] | None = None) -> None:
        self.config = config
        self.ram = Ram(config.memory_size)
        self.bus = Bus(self.ram)
        self.hart = Hart()
        self.clint = Clint(self.hart)
        self.plic = Plic()
        self.uart = Uart(console)
        self.uart.irq_line = self.plic.line(board.UART_IRQ)
        self.test = TestFinisher(self._power_off, self._request_reset)
        self.rom = Rom("mrom", board.MROM_SIZE)
        # Register windows and the access sizes each takes, as QEMU's virt maps them
        # (an access of another size, or outside a window, is an access fault).
        self.bus.map("mrom", board.MROM_BASE, board.MROM_SIZE, self.rom)
        self.bus.map("test", board.TEST_BASE, board.TEST_SIZE, self.test, Access(2, 4, 2, 4))
        self.bus.map("clint-msip", board.CLINT_BASE, board.CLINT_MSIP_SIZE, self.clint, Access(4, 4, 4, 4))
        self.bus.map("clint-mtimer", board.CLINT_BASE + board.CLINT_MSIP_SIZE, board.CLINT_MTIMER_SIZE,
                     self.clint, Access(4, 8, 4, 8), offset=board.CLINT_MSIP_SIZE)
        self.bus.map("plic", board.PLIC_BASE, board.PLIC_SIZE, self.plic, Access(4, 4, 4, 4))
        self.bus.map("uart", board.UART_BASE, board.UART_REGS_SIZE, self.uart)  # a byte register per access
        self.disk: DiskImage | None = None
        if config.disk is not None:
            try:
                self.disk = DiskImage(config.disk)
            except DiskError as exc:
                raise ConfigError(str(exc)) from None
        self.virtio: list[VirtioMmio] = []
        for slot in range(board.VIRTIO_COUNT):
            device = VirtioBlk(self.disk) if slot == 0 and self.disk is not None else None
            transport = VirtioMmio(f"virtio{slot}", self.ram, device)
            transport.irq_line = self.plic.line(board.VIRTIO_IRQ_BASE + slot)
            self.virtio.append(transport)
            self.bus.map(transport.name, board.VIRTIO_BASE + slot * board.VIRTIO_STRIDE,
                         board.VIRTIO_REGS_SIZE, transport, Access(1, 8, 1, 4))
        self.mmu = Mmu(self.hart, self.bus)
        self.system = System(self.hart, self.mmu, self.clint, self.plic)
        self.backend = Interpreter(self)
        self.halted = False
        self.exit_code: int | None = None
        self.resets = 0
        self._reset_pending = False
        self.layout = BootLayout()
        self.tohost: int | None = None
        self.ram.on_watch = self._watched_store

    def close(self) -> None:
        """Release host resources: the disk image and guest memory. The
        machine cannot run afterwards."""
        if self.disk is not None:
            self.disk.close()
        self.backend.reset_environment()
        self.ram.close()

    @property
    def console(self) -> Callable[[bytes], None]:
        return self.uart.on_output

    @console.setter
    def console(self, sink: Callable[[bytes], None]) -> None:
        self.uart.on_output = sink

    # -- boot -------------------------------------------------------------------------

    def boot(self) -> None:
        """Load firmware/kernel/initrd and the device tree, set up the reset ROM
        and put the hart at the reset vector — QEMU virt's boot sequence."""
        cfg = self.config
        if cfg.kernel is None and cfg.bios is None:
            raise ConfigError("nothing to boot: give a kernel image or a firmware")
        layout = BootLayout()
        firmware_end = board.DRAM_BASE
        if cfg.bios is not None:
            firmware = load_image(cfg.bios, raw_address=board.DRAM_BASE)
            layout.images.append(firmware)
            firmware_end = firmware.high
        if cfg.kernel is not None:
            kernel_start = _align_up(firmware_end, board.KERNEL_ALIGN)
            raw_address = cfg.load_address if cfg.load_address is not None else kernel_start
            kernel = load_image(cfg.kernel, raw_address=raw_address)
            layout.images.append(kernel)
            layout.kernel_entry = kernel.entry
        initrd_range = None
        if cfg.initrd is not None:
            start = layout.kernel_entry + min(cfg.memory_size // 2, 128 << 20)
            initrd = load_raw(cfg.initrd, start)
            layout.images.append(initrd)
            initrd_range = (start, start + initrd.segments[0].memsize)
        for image in layout.images:
            self._check_fits(image)
        layout.dtb = board.device_tree(board.DeviceTreeConfig(
            memory_size=cfg.memory_size, bootargs=cfg.append, initrd=initrd_range))
        layout.fdt_addr = board.fdt_address(cfg.memory_size, len(layout.dtb))
        self._check_overlap(layout)
        self.layout = layout
        self._place(layout)
        for image in reversed(layout.images):
            if "tohost" in image.symbols:
                self.watch_tohost(image.symbols["tohost"])
                break

    def watch_tohost(self, address: int) -> None:
        """HTIF: a store of an odd value v to ``tohost`` powers off with exit
        code v >> 1 (spike's convention, used by the riscv-tests)."""
        off = address - self.ram.base
        if 0 <= off <= self.ram.size - 8:
            self.tohost = address
            self.ram.watch(off >> 12)

    def _watched_store(self, off: int) -> bool:
        if self.tohost is None:
            return False
        value = self.ram.u64[(self.tohost - self.ram.base) >> 3] if not self.tohost & 7 else \
            int.from_bytes(self.ram.read_bytes(self.tohost - self.ram.base, 8), "little")
        if value & 1:
            self._power_off(value >> 1)
            return True
        return False

    def _check_fits(self, image: Image) -> None:
        ram = self.ram
        for seg in image.segments:
            if seg.address < ram.base or seg.end > ram.base + ram.size:
                raise ImageError(
                    f"{image.path}: segment [{seg.address:#x}, {seg.end:#x}) lies outside RAM "
                    f"[{ram.base:#x}, {ram.base + ram.size:#x}); use more --memory or another load address")

    def _check_overlap(self, layout: BootLayout) -> None:
        spans = [(s.address, s.end, img.path) for img in layout.images for s in img.segments]
        spans.append((layout.fdt_addr, layout.fdt_addr + len(layout.dtb), "device tree"))
        spans.sort()
        for (a0, a1, n0), (b0, b1, n1) in zip(spans, spans[1:]):
            if b0 < a1 and n0 != n1:
                raise ImageError(f"{n1} at {b0:#x} overlaps {n0} (ends {a1:#x}); give the guest more memory")

    def _place(self, layout: BootLayout) -> None:
        ram = self.ram
        for image in layout.images:
            for seg in image.segments:
                off = seg.address - ram.base
                ram.write_bytes(off, seg.data)
                if seg.memsize > len(seg.data):
                    ram.write_bytes(off + len(seg.data), bytes(seg.memsize - len(seg.data)))
        ram.write_bytes(layout.fdt_addr - ram.base, layout.dtb)
        self.rom.load(0, board.reset_rom(layout.start, layout.fdt_addr, layout.kernel_entry))
        self.hart.pc = board.MROM_BASE

    def _power_off(self, code: int) -> None:
        self.halted = True
        self.exit_code = code

    def _request_reset(self) -> None:
        self._reset_pending = True

    def _reset(self) -> None:
        """A guest-requested reset: the hart's warm reset, devices to their
        reset state, boot media copied in again (RAM is otherwise kept, as on
        QEMU)."""
        self._reset_pending = False
        self.resets += 1
        self.hart.warm_reset()
        self.clint.reset()
        self.plic.reset()
        self.uart.reset()
        for transport in self.virtio:
            transport.reset()
        self.mmu.flush()
        self.system.update_regime()
        self.backend.flush_all()
        self._place(self.layout)

    # -- running ------------------------------------------------------------------------

    def run(self, budget: int) -> StopReason:
        """Run at most ``budget`` instructions."""
        hart = self.hart
        system = self.system
        backend = self.backend
        end = hart.icount + budget
        while not self.halted:
            if self._reset_pending:
                self._reset()
            if hart.icount >= end:
                return StopReason.LIMIT
            if hart.wfi:
                if not system.pending_enabled():
                    wake = system.wfi_wakeup_time()
                    if wake is None:
                        return StopReason.IDLE
                    now = self.clint.time()
                    if wake > now:
                        self.clint.advance(wake - now)
                hart.wfi = False
            system.check_interrupts()
            deadline = end
            event = system.next_event()
            if event is not None and event < deadline:
                deadline = event
            backend.run(deadline)
        return StopReason.HALTED

    @property
    def instructions(self) -> int:
        return self.hart.icount

    # -- state records (DESIGN.md §4): what a VM is, apart from RAM and disk ----------

    def devices(self) -> dict[str, object]:
        """Every stateful device by its state-record name, in a fixed order."""
        found: dict[str, object] = {"clint": self.clint, "plic": self.plic, "uart": self.uart,
                                    "test": self.test}
        for transport in self.virtio:
            found[transport.name] = transport
        return found

    def config_state(self) -> dict:
        """The portable hardware description: no host paths, no backend."""
        layout = self.layout
        return {
            "kind": CONFIG_STATE_KIND, "version": CONFIG_STATE_VERSION,
            "memory_size": self.config.memory_size,
            "disk": None if self.disk is None else {"size": self.disk.size},
            "boot": {"start": layout.start, "fdt_addr": layout.fdt_addr,
                     "kernel_entry": layout.kernel_entry, "dtb": layout.dtb},
            "tohost": self.tohost,
        }

    def boot_segments(self) -> list[Segment]:
        return [seg for image in self.layout.images for seg in image.segments]

    def board_state(self) -> dict:
        return {"kind": BOARD_STATE_KIND, "version": BOARD_STATE_VERSION, "halted": self.halted,
                "exit_code": self.exit_code, "resets": self.resets,
                "reset_pending": self._reset_pending}

    def device_states(self) -> dict[str, dict]:
        states = {name: dev.to_state() for name, dev in self.devices().items()}  # type: ignore[attr-defined]
        states["board"] = self.board_state()
        return states

    @classmethod
    def from_config_state(cls, state: dict, boot_segments: list[Segment], disk: str | None,
                          backend: str = "interp") -> "Machine":
        """An unbooted machine with this hardware; the caller restores hart,
        devices and memory into it."""
        check_state(state, CONFIG_STATE_KIND, CONFIG_STATE_VERSION)
        try:
            memory_size = int(state["memory_size"])
            disk_info = state["disk"]
            boot = state["boot"]
            tohost = state["tohost"]
            start, fdt_addr, entry = int(boot["start"]), int(boot["fdt_addr"]), int(boot["kernel_entry"])
            dtb = bytes(boot["dtb"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"machine config record is malformed ({exc})") from None
        for name, value in (("start", start), ("fdt_addr", fdt_addr), ("kernel_entry", entry)):
            if not 0 <= value <= MASK64:
                raise StateError(f"machine config record is malformed (boot {name} {value:#x} is not an address)")
        if tohost is not None and (not isinstance(tohost, int) or not 0 <= tohost <= MASK64):
            raise StateError(f"machine config record is malformed (tohost {tohost!r} is not an address)")
        if disk_info is not None and not (isinstance(disk_info, dict) and isinstance(disk_info.get("size"), int)
                                          and disk_info["size"] >= 0):
            raise StateError(f"machine config record is malformed (disk {disk_info!r} is not a disk description)")
        if (disk_info is None) != (disk is None):
            raise StateError("the saved machine " + ("has a disk but no disk image was given"
                                                     if disk is None else "has no disk"))
        try:
            config = MachineConfig(memory_size=memory_size, disk=disk, backend=backend)
        except ConfigError as exc:
            raise StateError(str(exc)) from None
        machine = cls(config)
        if machine.disk is not None and machine.disk.size != int(disk_info["size"]):
            machine.close()
            raise StateError(f"disk image is {machine.disk.size} bytes, the saved machine's was {disk_info['size']}")
        machine.layout = BootLayout(
            images=[Image("<restored>", entry, tuple(boot_segments), False)] if boot_segments else [],
            fdt_addr=fdt_addr, dtb=dtb, start=start, kernel_entry=entry)
        machine.rom.load(0, board.reset_rom(start, fdt_addr, entry))
        if tohost is not None:
            machine.watch_tohost(int(tohost))
        return machine

    @classmethod
    def cold_boot(cls, state: dict, boot_segments: list[Segment], disk: str | None,
                  backend: str = "interp") -> "Machine":
        """A machine powered on from a config record and boot segments (a VM
        that came by migration or restore: vmstate/bootmedia.py) exactly as
        :meth:`boot` powers one on from image files: the same images, device
        tree and reset ROM in place, the hart at the reset vector, every
        device at reset. The disk keeps its contents, as across a reboot."""
        machine = cls.from_config_state(state, boot_segments, disk, backend)
        layout, ram = machine.layout, machine.ram
        try:
            for image in layout.images:
                machine._check_fits(image)
            if not ram.base <= layout.fdt_addr <= ram.base + ram.size - len(layout.dtb):
                raise ImageError(f"the device tree at {layout.fdt_addr:#x} lies outside RAM")
            machine._check_overlap(layout)
        except ImageError as exc:
            machine.close()
            raise StateError(f"the saved boot layout does not fit the machine: {exc}") from None
        machine._place(layout)
        return machine

    def restore_states(self, hart: dict, devices: dict[str, dict]) -> None:
        """Restore hart and device records (after from_config_state)."""
        self.hart.from_state(hart)
        expected = set(self.devices()) | {"board"}
        if set(devices) != expected:
            missing, extra = expected - set(devices), set(devices) - expected
            raise StateError(f"device records do not match this machine (missing {sorted(missing)}, "
                             f"unknown {sorted(extra)})")
        # The PLIC last: a device restored after it would raise its line and
        # set pending bits the saved PLIC had cleared by a claim.
        for name, device in sorted(self.devices().items(), key=lambda item: item[1] is self.plic):
            device.from_state(devices[name])  # type: ignore[attr-defined]
        board_state = check_state(devices["board"], BOARD_STATE_KIND, BOARD_STATE_VERSION)
        f = Fields(board_state, "board", lead="board record is malformed")
        halted, reset_pending = f.flag("halted"), f.flag("reset_pending")
        resets = f.uint("resets", 64)
        # Exit codes: 16 bits from the test finisher, 63 from HTIF (a 64-bit value >> 1).
        exit_code = None if f.get("exit_code") is None else f.uint("exit_code", 63)
        self.halted = halted
        self.exit_code = exit_code
        self.resets = resets
        self._reset_pending = reset_pending
        self.mmu.flush()
        self.system.update_regime()
        self.backend.reset_environment()


def _align_up(value: int, align: int) -> int:
    return (value + align - 1) & ~(align - 1)
