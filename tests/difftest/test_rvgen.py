"""Generator self-tests that need no QEMU."""

import re

import pytest

from . import rvasm as A
from . import rvgen


def test_deterministic():
    assert rvgen.generate(7, 150) == rvgen.generate(7, 150)
    assert rvgen.generate(7, 150) != rvgen.generate(8, 150)


def test_every_kind_generated_over_200_seeds():
    total = {}
    for s in range(200):
        for k, v in rvgen.generate_program(s, 200).kinds.items():
            total[k] = total.get(k, 0) + v
    rare = [k for k in rvgen.ALL_KINDS if total.get(k, 0) < 3]
    assert not rare, rare
    # every encoder mnemonic is exercised by the generator
    assert set(A.ENCODERS) <= set(total)


_NO_RD = {"sb", "sh", "sw", "sd", "beq", "bne", "blt", "bge", "bltu", "bgeu", "fence", "fence.tso",
          "fence.i", "ecall", "ebreak", "c.sw", "c.sd", "c.swsp", "c.sdsp", "c.beqz", "c.bnez",
          "c.j", "c.jr", "c.ebreak", "c.nop"}


def _dest(text: str):
    m = re.sub(r"\.(aq|rl|aqrl)$", "", text.split()[0])
    if m.startswith(".") or m in _NO_RD:
        return None
    if m == "c.jalr":
        return 1
    if m == "c.addi16sp":
        return 2
    return int(re.match(r"\S+ x(\d+)", text).group(1))


@pytest.mark.parametrize("seed", range(40))
def test_x31_never_written_and_targets_forward(seed):
    prog = rvgen.generate_program(seed, 300)
    body = [e for e in prog.listing if e.section == "body"]
    starts = {e.addr for e in body if e.group_start} | {prog.body_end}
    for e in body:
        if e.traps:
            continue
        assert _dest(e.insn.text) != rvgen.BASE_REG, e.insn.text
        m = re.search(r"\.([+-])(\d+)$", e.insn.text)
        if m:   # pc-relative control transfer: forward, to a group start
            tgt = e.addr + int(m.group(1) + m.group(2))
            assert tgt > e.addr and tgt in starts, e.insn.text
    assert prog.image[:4] == A.csrrs(5, 0xF14, 0).to_bytes()


def test_long_program_and_size_limit():
    prog = rvgen.generate_program(3, 20000)   # branches/jumps in the prologue must still reach
    assert 20000 * 2 < len(prog.image) < 0x100000 - 2048


def test_mem_checksum_reference():
    assert rvgen.mem_checksum(bytes(4096)) != 0
    data = bytes(range(256)) * 16
    h = 0
    for i in range(512):
        d = int.from_bytes(data[8 * i:8 * i + 8], "little")
        h = (((h << 7) | (h >> 57)) & (2**64 - 1)) ^ d
        h = (h + 512 - i) % 2**64
    assert rvgen.mem_checksum(data) == h


def test_parse_output():
    text = "".join(f"x{i:02d}={i:016x}\n" for i in range(1, 32))
    text += "traps=2\ntrap mcause=0000000000000002 mtval=0000000000000000 mepc=0000000080000100\n"
    text += "trap mcause=000000000000000b mtval=0000000000000000 mepc=0000000080000104\n"
    text += "mscratch=0000000000000005\nmem=00000000deadbeef\nend\n"
    r = rvgen.parse_output(text.encode())
    assert r["regs"][31] == 31 and r["traps"] == 2 and r["end"]
    assert r["trap_log"][1] == (11, 0, 0x80000104)
    assert r["mem"] == 0xDEADBEEF and r["mscratch"] == 5


def test_cli(tmp_path, capsys):
    out = tmp_path / "x.bin"
    assert rvgen.main(["--seed", "5", "--length", "50", "-o", str(out), "--disasm"]) == 0
    assert out.read_bytes() == rvgen.generate(5, 50)
    listing = capsys.readouterr().out
    assert "# --- body" in listing and "# --- epilogue" in listing


def test_build_program_directed():
    prog = rvgen.build_program([A.addi(5, 0, 42), A.ecall()], reg_init=list(range(30)))
    assert prog.body_end - prog.body_start == 8
    assert prog.reg_init[4] == 4 and prog.reg_init[30] == rvgen.DATA_BASE
