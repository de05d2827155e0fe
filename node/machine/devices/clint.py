"""CLINT (SiFive/ACLINT layout) at 0x0200_0000: msip, mtimecmp, mtime.

``mtime`` is deterministic virtual time (DESIGN.md §2): it advances by one tick
per retired instruction (the 10 MHz timebase the device tree advertises thus
models a 10 MIPS hart), plus whatever WFI fast-forwarded. The CLINT owns the
offset between the hart's retired-instruction count and mtime, so a write to
mtime, or a WFI that skips ahead, only moves that offset.
"""

from __future__ import annotations

from typing import Any

from ..hart import Hart, MASK64
from ..state import Fields, check_state

BASE = 0x0200_0000
SIZE = 0x1_0000
MSIP = 0x0000
MTIMECMP = 0x4000
MTIME = 0xBFF8
TIMEBASE_HZ = 10_000_000

STATE_VERSION = 1


class Clint:
    name = "clint"

    def __init__(self, hart: Hart) -> None:
        self.hart = hart
        self.offset = 0
        self.mtimecmp = 0  # at power-on, as QEMU's: the timer is pending until a guest sets it
        self.reset()

    def reset(self) -> None:
        """A guest-requested reset clears msip and, as QEMU's, keeps mtimecmp;
        time keeps running: mtime is not rewound."""
        self.msip = 0

    def time(self) -> int:
        hart = self.hart
        return hart.icount + hart.idx + self.offset

    def advance(self, ticks: int) -> None:
        """Fast-forward virtual time (WFI with a timer armed)."""
        self.offset += ticks

    def read(self, offset: int, size: int) -> int:
        if offset < 4:
            value = self.msip
            base = MSIP
        elif MTIMECMP <= offset < MTIMECMP + 8:
            value, base = self.mtimecmp, MTIMECMP
        elif MTIME <= offset < MTIME + 8:
            value, base = self.time() & MASK64, MTIME
        else:
            return 0
        shift = 8 * (offset - base)
        return (value >> shift) & ((1 << (8 * size)) - 1)

    def write(self, offset: int, size: int, value: int) -> None:
        if offset < 4:
            if offset == 0:
                self.msip = value & 1
            return
        if MTIMECMP <= offset < MTIMECMP + 8:
            self.mtimecmp = _merge(self.mtimecmp, offset - MTIMECMP, size, value)
        elif MTIME <= offset < MTIME + 8:
            new = _merge(self.time() & MASK64, offset - MTIME, size, value)
            self.offset = new - (self.hart.icount + self.hart.idx)

    def to_state(self) -> dict[str, Any]:
        return {"kind": self.name, "version": STATE_VERSION, "msip": self.msip,
                "mtimecmp": self.mtimecmp, "offset": self.offset}

    def from_state(self, state: dict[str, Any]) -> None:
        check_state(state, self.name, STATE_VERSION)
        f = Fields(state, self.name)
        msip, mtimecmp = f.uint("msip", 1), f.uint("mtimecmp", 64)
        # mtime - icount, both 64-bit: a signed 65-bit value.
        self.msip, self.mtimecmp, self.offset = msip, mtimecmp, f.sint("offset", 65)


def _merge(old: int, byte_offset: int, size: int, value: int) -> int:
    shift = 8 * byte_offset
    mask = ((1 << (8 * size)) - 1) << shift
    return (old & ~mask) | ((value << shift) & mask)

