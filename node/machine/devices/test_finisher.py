"""The SiFive test/finisher device ("sifive,test0") at 0x0010_0000.

A 32-bit store of 0x5555 powers off with success, ``code << 16 | 0x3333``
powers off with exit code ``code``, 0x7777 resets the machine — QEMU's
``hw/misc/sifive_test.c`` semantics. The device only reports the request; the
machine acts on it after the store retires.
"""

from __future__ import annotations

from typing import Any, Callable

from ..state import check_state

BASE = 0x0010_0000
SIZE = 0x1000

FINISHER_FAIL = 0x3333
FINISHER_PASS = 0x5555
FINISHER_RESET = 0x7777

STATE_VERSION = 1


class TestFinisher:
    name = "test"

    def __init__(self, on_poweroff: Callable[[int], None], on_reset: Callable[[], None]) -> None:
        self.on_poweroff = on_poweroff
        self.on_reset = on_reset

    def read(self, offset: int, size: int) -> int:
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if offset != 0:
            return
        status = value & 0xFFFF
        code = (value >> 16) & 0xFFFF
        if status == FINISHER_FAIL:
            self.on_poweroff(code)
        elif status == FINISHER_PASS:
            self.on_poweroff(0)
        elif status == FINISHER_RESET:
            self.on_reset()

    def to_state(self) -> dict[str, Any]:
        return {"kind": self.name, "version": STATE_VERSION}

    def from_state(self, state: dict[str, Any]) -> None:
        check_state(state, self.name, STATE_VERSION)
