"""The physical address map (DESIGN.md §2 "Board"): the bus owns device ranges.

Accesses that leave the execution fast path (MMIO, misaligned or page-crossing
accesses, anything outside RAM) arrive here with a *physical* address. The bus
dispatches by named address range to RAM, ROM or a device; an address that
nothing claims, or an access of a size the device's registers do not take
(:class:`Access`), raises :class:`BusError`, which the MMU turns into an
access fault exactly as QEMU's virt board does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .memory import PAGE_SHIFT, Ram


class BusError(Exception):
    """Nothing answers at this physical address, or not to an access of this
    size (becomes an access fault). ``paddr``: the address of the access
    that failed, when it is not the start of the one asked for (a misaligned
    device access made of two)."""

    def __init__(self, message: str, paddr: int | None = None) -> None:
        super().__init__(message)
        self.paddr = paddr


@dataclass(frozen=True)
class Access:
    """How a device's registers take accesses, as QEMU's ``MemoryRegionOps``
    say it (``valid`` and ``impl``): an access of a size outside
    ``valid_min..valid_max`` bytes is an access fault; one of a valid size
    reaches the device as accesses of ``impl_min..impl_max`` bytes (split
    into several, or widened to one and the part asked for kept)."""

    valid_min: int = 1
    valid_max: int = 8
    impl_min: int = 1
    impl_max: int = 8


ANY_ACCESS = Access()


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
    access: Access = ANY_ACCESS
    offset: int = 0  # the device offset of the region's first byte (a device mapped as several regions)

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

    def map(self, name: str, base: int, size: int, device: Device, access: Access = ANY_ACCESS,
            offset: int = 0) -> Region:
        region = Region(name, base, size, device, access, offset)
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
        """Read ``size`` bytes (1, 2, 4 or 8) little-endian, unsigned. A
        misaligned device access is two aligned ones of the same size, the
        value taken from both (QEMU's TCG does the same)."""
        ram = self.ram
        off = paddr - ram.base
        if 0 <= off and off + size <= ram.size:
            return int.from_bytes(ram.u8[off:off + size], "little")
        skew = paddr & (size - 1)
        if not skew:
            return self._device_load(paddr, size)
        first = paddr - skew
        low = self._aligned_part(first, size)
        high = self._aligned_part(first + size, size)
        return ((low >> (8 * skew)) | (high << (8 * (size - skew)))) & ((1 << (8 * size)) - 1)

    def _aligned_part(self, paddr: int, size: int) -> int:
        try:
            return self.load(paddr, size)
        except BusError as exc:  # the faulting address is this part's
            raise BusError(str(exc), paddr if exc.paddr is None else exc.paddr) from None

    def _region_for(self, paddr: int, size: int, access: str) -> Region:
        region = self.region_at(paddr)
        if region is None or paddr + size > region.end:
            raise BusError(f"no device at physical address {paddr:#x}")
        rules = region.access
        if not rules.valid_min <= size <= rules.valid_max:
            raise BusError(f"{region.name} does not take {size}-byte {access}s (at {paddr:#x})")
        return region

    def _device_load(self, paddr: int, size: int) -> int:
        region = self._region_for(paddr, size, "read")
        rules, device = region.access, region.device
        offset = paddr - region.base + region.offset
        step = max(min(size, rules.impl_max), rules.impl_min)
        if step == size:
            return device.read(offset, size) & ((1 << (8 * size)) - 1)
        part = (1 << (8 * step)) - 1
        value = 0
        for i in range(0, size, step):
            value |= (device.read(offset + i, step) & part) << (8 * i)
        return value & ((1 << (8 * size)) - 1)

    def _device_store(self, paddr: int, size: int, value: int) -> None:
        region = self._region_for(paddr, size, "write")
        rules, device = region.access, region.device
        offset = paddr - region.base + region.offset
        step = max(min(size, rules.impl_max), rules.impl_min)
        if step == size:
            device.write(offset, size, value)
            return
        part = (1 << (8 * step)) - 1
        for i in range(0, size, step):
            device.write(offset + i, step, (value >> (8 * i)) & part)

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
        value &= (1 << (8 * size)) - 1
        if not paddr & (size - 1):
            self._device_store(paddr, size, value)
            return True
        # A misaligned device store is stored a byte at a time (QEMU's TCG
        # does the same): the bytes before a refused one are written.
        for i in range(size):
            try:
                self.store(paddr + i, 1, (value >> (8 * i)) & 0xFF)
            except BusError as exc:
                raise BusError(str(exc), paddr + i) from None
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
