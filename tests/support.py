"""Test helpers: run an image on Caravan in-process, locate reference tools."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from node.machine.machine import Machine, MachineConfig, StopReason

ROOT = Path(__file__).resolve().parent.parent
GUESTS_DIR = ROOT / "guests"
GUEST_BIN = GUESTS_DIR / "bin"
GUESTS = ("hello", "isa-selftest", "cpubench", "dirtier", "priv-selftest", "smode-kernel", "sbi-hello",
          "htif-exit", "board-edges")
# Guests that run with -bios none on QEMU's default CPU (the others need options).
PLAIN_GUESTS = ("hello", "isa-selftest", "cpubench", "dirtier", "smode-kernel")
# QEMU's CPU reduced to what Caravan's hart implements (RV64IMAC, Zicsr,
# Zifencei, Sstc, Sv39, 16 PMP entries, no HPM counters, no debug triggers).
QEMU_CPU = ("rv64,f=false,d=false,h=false,zba=false,zbb=false,zbc=false,zbs=false,pmu-num=0,"
            "Zihintpause=false,debug=false")

REQUIRE_REFERENCE = bool(os.environ.get("CARAVAN_REQUIRE_REFERENCE"))


def guest(name: str) -> str:
    return str(GUEST_BIN / f"{name}.elf")


def need_tool(name: str) -> str:
    """Path of a reference tool; skip (or fail in CI, where
    CARAVAN_REQUIRE_REFERENCE is set) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if REQUIRE_REFERENCE:
            pytest.fail(message + " (CARAVAN_REQUIRE_REFERENCE is set)")
        pytest.skip(message)
    return path


def run_caravan(kernel: str, memory: int = 128 << 20, stdin: bytes = b"",
                max_instructions: int = 2_000_000_000, slice_: int = 1_000_000,
                load_address: int | None = None, **config: object) -> tuple[bytes, int | None, Machine]:
    """Run until power-off (or the limit); returns (console bytes, exit code, machine)."""
    out = bytearray()
    machine = Machine(MachineConfig(kernel=kernel, memory_size=memory, load_address=load_address,
                                    **config), console=out.extend)  # type: ignore[arg-type]
    machine.boot()
    if stdin:
        machine.uart.feed(stdin)
    while machine.instructions < max_instructions:
        reason = machine.run(min(slice_, max_instructions - machine.instructions))
        if reason is not StopReason.LIMIT:
            break
    return bytes(out), machine.exit_code, machine
