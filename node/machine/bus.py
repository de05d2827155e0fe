"""The physical address map (DESIGN.md §2 "Board"): the bus owns device ranges.

Accesses that leave the execution fast path (MMIO, misaligned or page-crossing
accesses, anything outside RAM) arrive here with a *physical* address. The bus
dispatches by named address range to RAM, ROM or a device; an address that
nothing claims raises :class:`BusError`, which the MMU turns into an access
fault exactly as QEMU's virt board does for unassigned memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .memory import PAGE_SHIFT, Ram


class BusError(Exception):
    """Nothing answers at this physical address (becomes an access fault)."""


class Device(Protocol):
    """An MMIO device. Offsets are relative to the device's base address."""

    name: str

    def read(self, offset: int, size: int) -> int: ...

    def write(self, offset: int, size: int, value: int) -> None: ...


@dataclass(frozen=True)
class Region:
    name: str
    base: int
    size: int
    device: Device

    @property
    def end(self) -> int:
        return self.base + self.size


class Rom:
    """Read-only memory (QEMU's ``mrom`` holding the reset stub). Writes are
    ignored, as writes to a QEMU ROM region are."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.data = bytearray(size)

    def load(self, offset: int, blob: bytes) -> None:
        self.data[offset:offset + len(blob)] = blob

    def read(self, offset: int, size: int) -> int:
        return int.from_bytes(self.data[offset:offset + size], "little")

    def write(self, offset: int, size: int, value: int) -> None:
        return None


class Bus:
    def __init__(self, ram: Ram) -> None:
        self.ram = ram
        self.regions: list[Region] = []
        self._pages: dict[int, Region] = {}
        self.rom: Rom | None = None
        self.rom_base = 0

    def map(self, name: str, base: int, size: int, device: Device) -> Region:
        region = Region(name, base, size, device)
        for other in self.regions:
            if base < other.end and other.base < region.end:
                raise ValueError(f"{name} at {base:#x} overlaps {other.name} at {other.base:#x}")
        ram_end = self.ram.base + self.ram.size
        if base < ram_end and self.ram.base < region.end:
            raise ValueError(f"{name} at {base:#x} overlaps RAM")
        self.regions.append(region)
        for page in range(base >> PAGE_SHIFT, ((base + size - 1) >> PAGE_SHIFT) + 1):
            self._pages[page] = region
        if isinstance(device, Rom):
            self.rom = device
            self.rom_base = base
        return region

    def region_at(self, paddr: int) -> Region | None:
        region = self._pages.get(paddr >> PAGE_SHIFT)
        if region is not None and region.base <= paddr < region.end:
            return region
        return None

    def is_ram(self, paddr: int, size: int = 1) -> bool:
        off = paddr - self.ram.base
        return 0 <= off and off + size <= self.ram.size

    # -- slow-path data accesses ----------------------------------------------

    def load(self, paddr: int, size: int) -> int:
        """Read ``size`` bytes (1, 2, 4 or 8) little-endian, unsigned."""
        ram = self.ram
        off = paddr - ram.base
        if 0 <= off and off + size <= ram.size:
            return int.from_bytes(ram.u8[off:off + size], "little")
        region = self.region_at(paddr)
        if region is None or paddr + size > region.end:
            raise BusError(f"no device at physical address {paddr:#x}")
        return region.device.read(paddr - region.base, size)

    def store(self, paddr: int, size: int, value: int) -> bool:
        """Write ``size`` bytes. Returns True when the write went to a device or
        into translated code, i.e. the run loop must re-examine machine state."""
        ram = self.ram
        off = paddr - ram.base
        if 0 <= off and off + size <= ram.size:
            ram.u8[off:off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            hooks = ram.hooks
            changed = False
            last = (off + size - 1) >> PAGE_SHIFT
            if last == off >> PAGE_SHIFT:
                if hooks[last]:
                    changed = ram.hooked_write(off, size)
            else:
                boundary = last << PAGE_SHIFT
                if hooks[off >> PAGE_SHIFT]:
                    changed = ram.hooked_write(off, boundary - off)
                if hooks[last]:
                    changed = ram.hooked_write(boundary, off + size - boundary) or changed
            return changed
        region = self.region_at(paddr)
        if region is None or paddr + size > region.end:
            raise BusError(f"no device at physical address {paddr:#x}")
        region.device.write(paddr - region.base, size, value & ((1 << (8 * size)) - 1))
        return True

    # -- instruction fetch ---------------------------------------------------

    def fetch16(self, paddr: int) -> int:
        """One 16-bit instruction parcel from RAM or ROM (never from MMIO)."""
        ram = self.ram
        off = paddr - ram.base
        if 0 <= off <= ram.size - 2:
            return ram.u8[off] | (ram.u8[off + 1] << 8)
        rom = self.rom
        if rom is not None:
            roff = paddr - self.rom_base
            if 0 <= roff <= len(rom.data) - 2:
                return rom.data[roff] | (rom.data[roff + 1] << 8)
        raise BusError(f"no executable memory at physical address {paddr:#x}")
