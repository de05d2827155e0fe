"""Instruction decoding: 32-bit RV64IMA+Zicsr+Zifencei and the RV64C expansion.

:func:`expand_compressed` turns every 16-bit RV64C instruction into the 32-bit
instruction it stands for (the spec defines each compressed instruction that
way), so semantics are written once, in :mod:`.isa`. :func:`decode` maps a
32-bit word to an instruction name and its operand fields, or ``None`` when the
encoding is illegal or reserved — both backends share it.
"""

from __future__ import annotations

from typing import NamedTuple


class Decoded(NamedTuple):
    name: str
    rd: int = 0
    rs1: int = 0
    rs2: int = 0
    imm: int = 0


def sext(value: int, bits: int) -> int:
    sign = 1 << (bits - 1)
    return (value & (sign - 1)) - (value & sign)


# -- 32-bit encoders used by the compressed expansion ------------------------------

def _r(f7: int, rs2: int, rs1: int, f3: int, rd: int, op: int) -> int:
    return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op


def _i(imm: int, rs1: int, f3: int, rd: int, op: int) -> int:
    return ((imm & 0xFFF) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op


def _s(imm: int, rs2: int, rs1: int, f3: int, op: int) -> int:
    imm &= 0xFFF
    return ((imm >> 5) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) | op


def _b(imm: int, rs2: int, rs1: int, f3: int) -> int:
    imm &= 0x1FFF
    return (((imm >> 12) & 1) << 31) | (((imm >> 5) & 0x3F) << 25) | (rs2 << 20) | (rs1 << 15) \
        | (f3 << 12) | (((imm >> 1) & 0xF) << 8) | (((imm >> 11) & 1) << 7) | 0x63


def _j(imm: int, rd: int) -> int:
    imm &= 0x1FFFFF
    return (((imm >> 20) & 1) << 31) | (((imm >> 1) & 0x3FF) << 21) | (((imm >> 11) & 1) << 20) \
        | (((imm >> 12) & 0xFF) << 12) | (rd << 7) | 0x6F


def _u(imm: int, rd: int, op: int) -> int:
    return (imm & 0xFFFFF000) | (rd << 7) | op


def _bit(h: int, pos: int) -> int:
    return (h >> pos) & 1


def expand_compressed(h: int) -> int | None:
    """The 32-bit equivalent of a 16-bit RV64C instruction, or ``None`` if the
    encoding is illegal or reserved (or needs F/D, which this hart lacks)."""
    op = h & 3
    f3 = h >> 13
    rd = (h >> 7) & 31
    rs2 = (h >> 2) & 31
    rdp = 8 + ((h >> 2) & 7)     # rd' / rs2' in bits 4:2
    rs1p = 8 + ((h >> 7) & 7)    # rs1' / rd' in bits 9:7
    imm6 = sext((_bit(h, 12) << 5) | ((h >> 2) & 31), 6)
    if op == 0:
        if f3 == 0:  # C.ADDI4SPN
            nzuimm = (((h >> 7) & 0xF) << 6) | (((h >> 11) & 3) << 4) | (_bit(h, 5) << 3) | (_bit(h, 6) << 2)
            if nzuimm == 0:
                return None
            return _i(nzuimm, 2, 0, rdp, 0x13)
        if f3 in (2, 6):  # C.LW / C.SW
            uimm = (((h >> 10) & 7) << 3) | (_bit(h, 6) << 2) | (_bit(h, 5) << 6)
            return _i(uimm, rs1p, 2, rdp, 0x03) if f3 == 2 else _s(uimm, rdp, rs1p, 2, 0x23)
        if f3 in (3, 7):  # C.LD / C.SD
            uimm = (((h >> 10) & 7) << 3) | (((h >> 5) & 3) << 6)
            return _i(uimm, rs1p, 3, rdp, 0x03) if f3 == 3 else _s(uimm, rdp, rs1p, 3, 0x23)
        return None  # C.FLD, C.FSD (no D), reserved
    if op == 1:
        if f3 == 0:  # C.ADDI / C.NOP (and hints)
            return _i(imm6, rd, 0, rd, 0x13)
        if f3 == 1:  # C.ADDIW
            if rd == 0:
                return None
            return _i(imm6, rd, 0, rd, 0x1B)
        if f3 == 2:  # C.LI
            return _i(imm6, 0, 0, rd, 0x13)
        if f3 == 3:
            if rd == 2:  # C.ADDI16SP
                nzimm = sext((_bit(h, 12) << 9) | (_bit(h, 6) << 4) | (_bit(h, 5) << 6)
                             | (((h >> 3) & 3) << 7) | (_bit(h, 2) << 5), 10)
                if nzimm == 0:
                    return None
                return _i(nzimm, 2, 0, 2, 0x13)
            # C.LUI
            if imm6 == 0:
                return None
            return _u(imm6 << 12, rd, 0x37)
        if f3 == 4:
            f2 = (h >> 10) & 3
            if f2 in (0, 1):  # C.SRLI / C.SRAI
                shamt = (_bit(h, 12) << 5) | ((h >> 2) & 31)
                return _i(shamt | (0x400 if f2 == 1 else 0), rs1p, 5, rs1p, 0x13)
            if f2 == 2:  # C.ANDI
                return _i(imm6, rs1p, 7, rs1p, 0x13)
            sub = (h >> 5) & 3
            if not _bit(h, 12):
                f3r, f7 = ((0, 0x20), (4, 0), (6, 0), (7, 0))[sub]  # SUB XOR OR AND
                return _r(f7, rdp, rs1p, f3r, rs1p, 0x33)
            if sub == 0:  # C.SUBW
                return _r(0x20, rdp, rs1p, 0, rs1p, 0x3B)
            if sub == 1:  # C.ADDW
                return _r(0, rdp, rs1p, 0, rs1p, 0x3B)
            return None
        if f3 == 5:  # C.J
            off = sext((_bit(h, 12) << 11) | (_bit(h, 11) << 4) | (((h >> 9) & 3) << 8)
                       | (_bit(h, 8) << 10) | (_bit(h, 7) << 6) | (_bit(h, 6) << 7)
                       | (((h >> 3) & 7) << 1) | (_bit(h, 2) << 5), 12)
            return _j(off, 0)
        # C.BEQZ / C.BNEZ
        off = sext((_bit(h, 12) << 8) | (((h >> 10) & 3) << 3) | (((h >> 5) & 3) << 6)
                   | (((h >> 3) & 3) << 1) | (_bit(h, 2) << 5), 9)
        return _b(off, 0, rs1p, 0 if f3 == 6 else 1)
    if op == 2:
        if f3 == 0:  # C.SLLI
            shamt = (_bit(h, 12) << 5) | ((h >> 2) & 31)
            return _i(shamt, rd, 1, rd, 0x13)
        if f3 == 2:  # C.LWSP
            if rd == 0:
                return None
            uimm = (_bit(h, 12) << 5) | (((h >> 4) & 7) << 2) | (((h >> 2) & 3) << 6)
            return _i(uimm, 2, 2, rd, 0x03)
        if f3 == 3:  # C.LDSP
            if rd == 0:
                return None
            uimm = (_bit(h, 12) << 5) | (((h >> 5) & 3) << 3) | (((h >> 2) & 7) << 6)
            return _i(uimm, 2, 3, rd, 0x03)
        if f3 == 4:
            if not _bit(h, 12):
                if rs2 == 0:  # C.JR
                    if rd == 0:
                        return None
                    return _i(0, rd, 0, 0, 0x67)
                return _r(0, rs2, 0, 0, rd, 0x33)  # C.MV
            if rs2 == 0:
                if rd == 0:  # C.EBREAK
                    return 0x00100073
                return _i(0, rd, 0, 1, 0x67)  # C.JALR
            return _r(0, rs2, rd, 0, rd, 0x33)  # C.ADD
        if f3 == 6:  # C.SWSP
            uimm = (((h >> 9) & 0xF) << 2) | (((h >> 7) & 3) << 6)
            return _s(uimm, rs2, 2, 2, 0x23)
        if f3 == 7:  # C.SDSP
            uimm = (((h >> 10) & 7) << 3) | (((h >> 7) & 7) << 6)
            return _s(uimm, rs2, 2, 3, 0x23)
        return None  # C.FLDSP, C.FSDSP
    return None


# -- 32-bit decode --------------------------------------------------------------

_BRANCH = {0: "beq", 1: "bne", 4: "blt", 5: "bge", 6: "bltu", 7: "bgeu"}
_LOAD = {0: "lb", 1: "lh", 2: "lw", 3: "ld", 4: "lbu", 5: "lhu", 6: "lwu"}
_STORE = {0: "sb", 1: "sh", 2: "sw", 3: "sd"}
_OPIMM = {0: "addi", 2: "slti", 3: "sltiu", 4: "xori", 6: "ori", 7: "andi"}
_OP = {
    (0, 0): "add", (0x20, 0): "sub", (0, 1): "sll", (0, 2): "slt", (0, 3): "sltu",
    (0, 4): "xor", (0, 5): "srl", (0x20, 5): "sra", (0, 6): "or", (0, 7): "and",
    (1, 0): "mul", (1, 1): "mulh", (1, 2): "mulhsu", (1, 3): "mulhu",
    (1, 4): "div", (1, 5): "divu", (1, 6): "rem", (1, 7): "remu",
}
_OP32 = {
    (0, 0): "addw", (0x20, 0): "subw", (0, 1): "sllw", (0, 5): "srlw", (0x20, 5): "sraw",
    (1, 0): "mulw", (1, 4): "divw", (1, 5): "divuw", (1, 6): "remw", (1, 7): "remuw",
}
_AMO = {
    0x00: "amoadd", 0x01: "amoswap", 0x04: "amoxor", 0x08: "amoor", 0x0C: "amoand",
    0x10: "amomin", 0x14: "amomax", 0x18: "amominu", 0x1C: "amomaxu",
}
_CSR = {1: "csrrw", 2: "csrrs", 3: "csrrc", 5: "csrrwi", 6: "csrrsi", 7: "csrrci"}
_SYSTEM_EXACT = {
    0x00000073: "ecall", 0x00100073: "ebreak", 0x10200073: "sret",
    0x30200073: "mret", 0x10500073: "wfi",
}


def decode(inst: int) -> Decoded | None:
    """Decode a 32-bit instruction; ``None`` for an illegal or reserved encoding."""
    opcode = inst & 0x7F
    rd = (inst >> 7) & 31
    f3 = (inst >> 12) & 7
    rs1 = (inst >> 15) & 31
    rs2 = (inst >> 20) & 31
    f7 = inst >> 25
    imm_i = sext(inst >> 20, 12)
    if opcode == 0x13:
        if f3 == 1:
            if inst >> 26:
                return None
            return Decoded("slli", rd, rs1, 0, (inst >> 20) & 63)
        if f3 == 5:
            top = inst >> 26
            if top == 0:
                return Decoded("srli", rd, rs1, 0, (inst >> 20) & 63)
            if top == 0x10:
                return Decoded("srai", rd, rs1, 0, (inst >> 20) & 63)
            return None
        return Decoded(_OPIMM[f3], rd, rs1, 0, imm_i)
    if opcode == 0x33:
        name = _OP.get((f7, f3))
        return Decoded(name, rd, rs1, rs2) if name else None
    if opcode == 0x03:
        name = _LOAD.get(f3)
        return Decoded(name, rd, rs1, 0, imm_i) if name else None
    if opcode == 0x23:
        name = _STORE.get(f3)
        if name is None:
            return None
        return Decoded(name, 0, rs1, rs2, sext((f7 << 5) | rd, 12))
    if opcode == 0x63:
        name = _BRANCH.get(f3)
        if name is None:
            return None
        imm = sext((((inst >> 31) & 1) << 12) | (((inst >> 7) & 1) << 11)
                   | (((inst >> 25) & 0x3F) << 5) | (((inst >> 8) & 0xF) << 1), 13)
        return Decoded(name, 0, rs1, rs2, imm)
    if opcode == 0x1B:
        if f3 == 0:
            return Decoded("addiw", rd, rs1, 0, imm_i)
        if f3 == 1 and f7 == 0:
            return Decoded("slliw", rd, rs1, 0, rs2)
        if f3 == 5 and f7 == 0:
            return Decoded("srliw", rd, rs1, 0, rs2)
        if f3 == 5 and f7 == 0x20:
            return Decoded("sraiw", rd, rs1, 0, rs2)
        return None
    if opcode == 0x3B:
        name = _OP32.get((f7, f3))
        return Decoded(name, rd, rs1, rs2) if name else None
    if opcode == 0x37:
        return Decoded("lui", rd, 0, 0, sext(inst & 0xFFFFF000, 32))
    if opcode == 0x17:
        return Decoded("auipc", rd, 0, 0, sext(inst & 0xFFFFF000, 32))
    if opcode == 0x6F:
        imm = sext((((inst >> 31) & 1) << 20) | (((inst >> 12) & 0xFF) << 12)
                   | (((inst >> 20) & 1) << 11) | (((inst >> 21) & 0x3FF) << 1), 21)
        return Decoded("jal", rd, 0, 0, imm)
    if opcode == 0x67:
        return Decoded("jalr", rd, rs1, 0, imm_i) if f3 == 0 else None
    if opcode == 0x2F:
        if f3 not in (2, 3):
            return None
        width = "w" if f3 == 2 else "d"
        f5 = inst >> 27
        if f5 == 0x02:
            return Decoded("lr." + width, rd, rs1, 0) if rs2 == 0 else None
        if f5 == 0x03:
            return Decoded("sc." + width, rd, rs1, rs2)
        name = _AMO.get(f5)
        return Decoded(f"{name}.{width}", rd, rs1, rs2) if name else None
    if opcode == 0x0F:
        if f3 == 0:
            return Decoded("fence")
        if f3 == 1:
            return Decoded("fence.i")
        return None
    if opcode == 0x73:
        if f3 == 0:
            name = _SYSTEM_EXACT.get(inst)
            if name:
                return Decoded(name)
            if f7 == 0x09 and rd == 0:
                return Decoded("sfence.vma", 0, rs1, rs2)
            return None
        name = _CSR.get(f3)
        if name is None:
            return None
        return Decoded(name, rd, rs1, 0, inst >> 20)
    return None
