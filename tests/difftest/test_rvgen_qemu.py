"""Validate the generator against the reference, QEMU (qemu-system-riscv64 7.2).

This only checks that generated programs run to completion on QEMU and produce
well-formed, self-consistent output; comparing an emulator's console output
with run_qemu()'s is done by the emulator's own difftest.
"""

import re
import shutil

import pytest

from . import rvasm as A
from .reference import run_qemu
from .rvgen import (DATA_BASE, TRAP_LOG_MAX, build_program, generate, generate_program,
                    mem_checksum, parse_output)

pytestmark = [
    pytest.mark.reference,
    pytest.mark.skipif(shutil.which("qemu-system-riscv64") is None,
                       reason="qemu-system-riscv64 not on PATH"),
]

SEEDS = [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181, 6765]

HEX16 = "[0-9a-f]{16}"
LINE_RE = {
    "reg": re.compile(rf"x(\d\d)=({HEX16})"),
    "trap": re.compile(rf"trap mcause=({HEX16}) mtval=({HEX16}) mepc=({HEX16})"),
}


def check_output(out: bytes):
    lines = out.decode("ascii").split("\n")
    assert lines[-1] == "", "output must end with a newline"
    lines = lines[:-1]
    for i in range(31):
        m = LINE_RE["reg"].fullmatch(lines[i])
        assert m and int(m.group(1)) == i + 1, lines[i]
    m = re.fullmatch(r"traps=(0|[1-9]\d*)", lines[31])
    assert m, lines[31]
    ntraps = int(m.group(1))
    nlog = min(ntraps, TRAP_LOG_MAX)
    for line in lines[32:32 + nlog]:
        assert LINE_RE["trap"].fullmatch(line), line
    rest = lines[32 + nlog:]
    assert len(rest) == 3, rest
    assert re.fullmatch(rf"mscratch={HEX16}", rest[0])
    assert re.fullmatch(rf"mem={HEX16}", rest[1])
    assert rest[2] == "end"
    return parse_output(out)


@pytest.mark.parametrize("seed", SEEDS)
def test_qemu_runs_generated_program(seed):
    prog = generate_program(seed, 200)
    assert prog.image == generate(seed, 200)
    out, rc = run_qemu(prog.image, timeout=30)
    assert rc == 0, out[-500:]
    res = check_output(out)
    assert len(res["regs"]) == 31 and res["end"]
    assert res["regs"][31] == DATA_BASE
    # every trap was one the generator intended (illegal/ecall/ebreak)
    intended = prog.trap_pcs()
    for cause, _tval, epc in res["trap_log"]:
        assert cause in (2, 3, 11) and epc in intended, (hex(cause), hex(epc))


def test_qemu_deterministic():
    img = generate(42, 300)
    assert run_qemu(img) == run_qemu(img)


@pytest.mark.parametrize("seed", range(5))
def test_every_intended_trap_traps(seed):
    """A body of only traps/illegal encodings/HINTs (no branches): every marked
    instruction traps exactly once, in order, with mtval per QEMU 7.2."""
    prog = generate_program(seed, 60, {"illegal": 3, "trap": 1, "hint": 2})
    out, rc = run_qemu(prog.image)
    assert rc == 0
    res = check_output(out)
    want = [e for e in prog.listing if e.traps]
    assert res["traps"] == len(want)
    assert [epc for _c, _t, epc in res["trap_log"]] == [e.addr for e in want][:TRAP_LOG_MAX]
    for (cause, tval, _epc), e in zip(res["trap_log"], want):
        if e.insn.mnemonic in ("ecall", "ebreak", "c.ebreak"):
            assert (cause, tval) == ({"ecall": 11}.get(e.insn.mnemonic, 3), 0)
        else:
            assert (cause, tval) == (2, e.insn.word), e.insn.text


def test_hints_and_fences_change_nothing():
    prog = generate_program(9, 100, {"hint": 1, "fence": 1})
    res = check_output(run_qemu(prog.image)[0])
    assert [res["regs"][i] for i in range(1, 32)] == prog.reg_init
    assert res["traps"] == 0
    assert res["mscratch"] == prog.mscratch_init
    assert res["mem"] == mem_checksum(prog.data_init)


def test_directed_lr_sc_and_m_edge_cases():
    int64_min = 1 << 63
    body = [
        A.lr_d(5, 31), A.addi(7, 5, 1), A.sc_d(6, 7, 31),      # success: x6 = 0, mem += 1
        A.sc_d(8, 7, 31),                                      # no reservation: x8 = 1
        A.addi(9, 0, -1), A.slli(10, 9, 63),                   # x9 = -1, x10 = INT64_MIN
        A.div(11, 10, 9), A.rem(12, 10, 9),                    # overflow: INT64_MIN, 0
        A.divu(13, 10, 0), A.rem(14, 10, 0),                   # by zero: all ones, dividend
        A.ld(15, 31, 0),
    ]
    data = (41).to_bytes(8, "little") + bytes(4088)
    prog = build_program(body, data_init=data)
    res = check_output(run_qemu(prog.image)[0])
    r = res["regs"]
    assert (r[6], r[8], r[15]) == (0, 1, 42)
    assert (r[11], r[12], r[13], r[14]) == (int64_min, 0, 2**64 - 1, int64_min)
    assert res["mem"] == mem_checksum((42).to_bytes(8, "little") + bytes(4088))
