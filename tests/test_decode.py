"""The RV64C expansion and the 32-bit decoder, against the independent encoder
of the differential test (whose encodings were verified with objdump)."""

from __future__ import annotations

import random

import pytest

import difftest.rvasm as A
from node.machine.decode import decode, expand_compressed

rng = random.Random(7)
CREGS = range(8, 16)
REGS = range(1, 32)


def _cases():
    """(compressed Insn, equivalent 32-bit Insn) pairs with random operands."""
    for _ in range(12):
        rd, rs1, rs2 = rng.choice(CREGS), rng.choice(CREGS), rng.choice(CREGS)
        xr, xs = rng.choice(REGS), rng.choice(REGS)
        imm6 = rng.choice([i for i in range(-32, 32) if i])
        sh = rng.randrange(1, 64)
        nz = rng.randrange(1, 256) * 4
        yield A.c_addi4spn(rd, nz), A.addi(rd, 2, nz)
        off = rng.randrange(0, 32) * 4
        yield A.c_lw(rd, rs1, off), A.lw(rd, rs1, off)
        yield A.c_sw(rs2, rs1, off), A.sw(rs2, rs1, off)
        offd = rng.randrange(0, 32) * 8
        yield A.c_ld(rd, rs1, offd), A.ld(rd, rs1, offd)
        yield A.c_sd(rs2, rs1, offd), A.sd(rs2, rs1, offd)
        yield A.c_addi(xr, imm6), A.addi(xr, xr, imm6)
        yield A.c_addiw(xr, imm6), A.addiw(xr, xr, imm6)
        yield A.c_li(xr, imm6), A.addi(xr, 0, imm6)
        sp16 = rng.choice([i for i in range(-32, 32) if i]) * 16
        yield A.c_addi16sp(sp16), A.addi(2, 2, sp16)
        lrd = rng.choice([r for r in REGS if r != 2])
        yield A.c_lui(lrd, imm6 & 0xFFFFF), A.lui(lrd, imm6 & 0xFFFFF)
        yield A.c_srli(rd, sh), A.srli(rd, rd, sh)
        yield A.c_srai(rd, sh), A.srai(rd, rd, sh)
        yield A.c_andi(rd, imm6), A.andi(rd, rd, imm6)
        yield A.c_sub(rd, rs2), A.sub(rd, rd, rs2)
        yield A.c_xor(rd, rs2), A.xor(rd, rd, rs2)
        yield A.c_or(rd, rs2), A.or_(rd, rd, rs2)
        yield A.c_and(rd, rs2), A.and_(rd, rd, rs2)
        yield A.c_subw(rd, rs2), A.subw(rd, rd, rs2)
        yield A.c_addw(rd, rs2), A.addw(rd, rd, rs2)
        joff = rng.randrange(-1024, 1024) * 2
        yield A.c_j(joff), A.jal(0, joff)
        boff = rng.randrange(-128, 128) * 2
        yield A.c_beqz(rs1, boff), A.beq(rs1, 0, boff)
        yield A.c_bnez(rs1, boff), A.bne(rs1, 0, boff)
        yield A.c_slli(xr, sh), A.slli(xr, xr, sh)
        u = rng.randrange(0, 64) * 4
        yield A.c_lwsp(xr, u), A.lw(xr, 2, u)
        u8 = rng.randrange(0, 64) * 8
        yield A.c_ldsp(xr, u8), A.ld(xr, 2, u8)
        yield A.c_jr(xr), A.jalr(0, xr, 0)
        yield A.c_mv(xr, xs), A.add(xr, 0, xs)
        yield A.c_jalr(xr), A.jalr(1, xr, 0)
        yield A.c_add(xr, xs), A.add(xr, xr, xs)
        yield A.c_swsp(xs, u), A.sw(xs, 2, u)
        yield A.c_sdsp(xs, u8), A.sd(xs, 2, u8)
    yield A.c_ebreak(), A.ebreak()
    yield A.c_nop(), A.addi(0, 0, 0)


CASES = list(_cases())


@pytest.mark.parametrize("compressed,base", CASES, ids=[c.text for c, _ in CASES])
def test_compressed_expands_to_its_base_instruction(compressed, base) -> None:  # type: ignore[no-untyped-def]
    assert expand_compressed(compressed.word) == base.word


@pytest.mark.parametrize("word", [
    0x0000,            # all zeros: defined illegal
    0x0001 | (0 << 7) | 0x2000,  # c.addiw with rd = 0 (reserved)
    0x6101 & ~0x107C,  # c.addi16sp with nzimm = 0
    0x6081 & ~0x107C,  # c.lui x1 with nzimm = 0
    0x4002,            # c.lwsp with rd = 0
    0x6002,            # c.ldsp with rd = 0
    0x8002,            # c.jr with rs1 = 0
    0x2000,            # c.fld (no D extension)
    0xA002,            # c.fsdsp (no D extension)
    0x8C21 | 0x1000 | (2 << 5),  # reserved CA encoding (funct6 100111, funct2 10)
])
def test_reserved_compressed_encodings_are_illegal(word: int) -> None:
    assert expand_compressed(word) is None


def test_every_rvc_instruction_decodes() -> None:
    for compressed, _ in CASES:
        inst = expand_compressed(compressed.word)
        assert inst is not None and decode(inst) is not None, compressed.text


@pytest.mark.parametrize("word,name", [
    (0x00000073, "ecall"), (0x00100073, "ebreak"), (0x30200073, "mret"),
    (0x10200073, "sret"), (0x10500073, "wfi"), (0x12000073, "sfence.vma"),
    (0x0000100F, "fence.i"), (0x0FF0000F, "fence"), (0x34011073, "csrrw"),
])
def test_system_instructions_decode(word: int, name: str) -> None:
    dec = decode(word)
    assert dec is not None and dec.name == name


@pytest.mark.parametrize("word", [
    0xFFFFFFFF, 0x00000000 | 0x7F, 0x00100073 | (1 << 7),  # ebreak with rd != 0
    0x4000_1013,    # slli with imm[11:6] != 0 (reserved)
    0x0200_1033 | (1 << 27),  # unknown funct7 on OP
    0x1000202F | (1 << 20),   # lr.w with rs2 != 0
    0x00003067,     # jalr with funct3 != 0
    0x00004073,     # SYSTEM funct3 = 4
])
def test_illegal_32bit_encodings(word: int) -> None:
    assert decode(word) is None
