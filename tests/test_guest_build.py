"""The committed guest ELFs are exactly what the sources build to with the real
GNU RISC-V toolchain (reproducible build, checked in a fresh copy)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from support import GUESTS, GUEST_BIN, GUESTS_DIR, need_tool

pytestmark = pytest.mark.reference


def test_guests_rebuild_to_the_committed_bytes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    need_tool("riscv64-unknown-elf-gcc")
    need_tool("make")
    copy = tmp_path / "elsewhere" / "guests"
    shutil.copytree(GUESTS_DIR, copy, ignore=shutil.ignore_patterns("build", "bin"))
    proc = subprocess.run(["make", "-C", str(copy), "-j2"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in GUESTS:
        built = (copy / "bin" / f"{name}.elf").read_bytes()
        committed = (GUEST_BIN / f"{name}.elf").read_bytes()
        assert built == committed, f"{name}.elf differs from a fresh build: rebuild with `make -C guests`"
