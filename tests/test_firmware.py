"""Real firmware nobody here wrote, from Debian's packages: OpenSBI boots to its
banner exactly as on QEMU and hands over to an S-mode payload; U-Boot
(qemu-riscv64_smode) runs as OpenSBI's payload, reaches its prompt and answers
``version``."""

from __future__ import annotations

import os

import pytest

from node.machine.machine import Machine, MachineConfig, StopReason

pytestmark = pytest.mark.reference

OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic"
UBOOT_SMODE = "/usr/lib/u-boot/qemu-riscv64_smode/uboot.elf"


def need_file(path: str) -> str:
    from support import REQUIRE_REFERENCE

    if not os.path.exists(path):
        if REQUIRE_REFERENCE:
            pytest.fail(f"{path} is not installed (CARAVAN_REQUIRE_REFERENCE is set)")
        pytest.skip(f"{path} is not installed")
    return path


class Console:
    """Drive a machine like an expect script: run until text appears."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.out = bytearray()
        machine.console = self.out.extend

    def expect(self, marker: bytes, start: int = 0, limit: int = 200_000_000) -> int:
        m = self.machine
        budget_end = m.instructions + limit
        while marker not in self.out[start:]:
            assert m.instructions < budget_end, f"{marker!r} did not appear within {limit} instructions"
            assert m.run(500_000) is not StopReason.HALTED, "the machine powered off"
        return self.out.index(marker, start) + len(marker)


def test_uboot_reaches_prompt_and_answers_version() -> None:
    fw = need_file(os.path.join(OPENSBI, "fw_jump.elf"))
    uboot = need_file(UBOOT_SMODE)
    machine = Machine(MachineConfig(bios=fw, kernel=uboot))
    machine.boot()
    console = Console(machine)
    end = console.expect(b"\n=> ")
    banner = console.out[:end].decode()
    assert "OpenSBI v" in banner
    assert "U-Boot 2023" in banner and "CPU:   rv64imac_zicsr_zifencei_sstc" in banner
    assert "DRAM:  128 MiB" in banner
    machine.uart.feed(b"version\n")
    answer_end = console.expect(b"=> ", start=end)
    answer = console.out[end:answer_end].decode()
    assert answer.startswith("version\r\nU-Boot 2023.01") or answer.startswith("version\nU-Boot 2023.01"), answer
    assert "gcc" in answer
