"""Every guest on Caravan and on QEMU: identical console bytes and exit codes."""

from __future__ import annotations

import pytest

from difftest.reference import run_qemu_file
from support import PLAIN_GUESTS, guest, need_tool, run_caravan

pytestmark = pytest.mark.reference


@pytest.mark.parametrize("name", PLAIN_GUESTS)
def test_guest_matches_qemu(name: str) -> None:
    need_tool("qemu-system-riscv64")
    q_out, q_code = run_qemu_file(guest(name), timeout=120)
    c_out, c_code, _ = run_caravan(guest(name))
    assert q_out, f"QEMU printed nothing for {name}"
    assert c_out == q_out
    assert (c_code or 0) == q_code


@pytest.mark.parametrize("memory", ["64M", "256M"])
def test_dirtier_matches_qemu_at_other_memory_sizes(memory: str) -> None:
    from node.machine.memory import parse_size

    need_tool("qemu-system-riscv64")
    q_out, q_code = run_qemu_file(guest("dirtier"), memory=memory, timeout=120)
    c_out, c_code, _ = run_caravan(guest("dirtier"), memory=parse_size(memory))
    assert c_out == q_out
    assert (c_code or 0) == q_code == 0


def test_hello_prints_greeting_and_exits_zero() -> None:
    out, code, machine = run_caravan(guest("hello"))
    assert out == b"Hello from a Caravan guest!\n"
    assert code == 0
    assert machine.halted


def test_isa_selftest_passes() -> None:
    out, code, _ = run_caravan(guest("isa-selftest"))
    assert b"isa-selftest: ALL PASS" in out
    assert b"FAIL" not in out
    assert code == 0
