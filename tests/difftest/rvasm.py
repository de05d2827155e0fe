"""Pure-Python RISC-V machine-code encoder for RV64I, M, A, C, Zicsr, Zifencei.

Every encoder returns an :class:`Insn` (``word``, ``size`` in bytes, ``text``).
``text`` follows ``objdump -M numeric,no-aliases`` syntax, except that PC
relative targets (branches, JAL, C.J, C.BEQZ/C.BNEZ) are written as ``.+N`` /
``.-N`` instead of an absolute address, and C.NOP is written ``c.nop``.

The encodings were written from the RISC-V unprivileged spec (20191213
"Instruction Set Listings" chapter and the RVC chapter) and checked against
``riscv64-unknown-elf-objdump -D -b binary -m riscv:rv64`` (binutils 2.40);
``test_rvasm.py`` holds the verified words.

Encoders validate their operands and raise :class:`EncodingError` for
out-of-range immediates, bad registers and, for compressed instructions, the
reserved/HINT encodings (e.g. C.LUI with nzimm=0), unless called with
``allow_reserved=True`` (used by the generator to emit deliberately reserved
or HINT encodings).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "Insn", "EncodingError", "CSR_NAMES", "XLEN_MASK",
    "sext", "fits_signed", "fits_unsigned",
]

XLEN_MASK = (1 << 64) - 1


class EncodingError(ValueError):
    pass


class Insn(NamedTuple):
    word: int
    size: int  # 2 or 4 bytes
    text: str

    @property
    def mnemonic(self) -> str:
        return self.text.split(" ", 1)[0]

    def to_bytes(self) -> bytes:
        return self.word.to_bytes(self.size, "little")


CSR_NAMES = {
    0x340: "mscratch",
    0xF14: "mhartid",
    0x301: "misa",
    0x300: "mstatus",
    0x305: "mtvec",
    0x341: "mepc",
    0x342: "mcause",
    0x343: "mtval",
    0x304: "mie",
    0x344: "mip",
    0xF11: "mvendorid",
    0xF12: "marchid",
    0xF13: "mimpid",
}


# --------------------------------------------------------------------------
# helpers


def sext(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def fits_signed(value: int, bits: int) -> bool:
    return -(1 << (bits - 1)) <= value < (1 << (bits - 1))


def fits_unsigned(value: int, bits: int) -> bool:
    return 0 <= value < (1 << bits)


def _reg(r: int, what: str = "register") -> int:
    if not isinstance(r, int) or not 0 <= r < 32:
        raise EncodingError(f"bad {what}: {r!r}")
    return r


def _creg(r: int) -> int:
    """Register number x8..x15 -> 3-bit field."""
    if not isinstance(r, int) or not 8 <= r <= 15:
        raise EncodingError(f"compressed register must be x8..x15, got {r!r}")
    return r - 8


def _simm(value: int, bits: int, what: str = "immediate", align: int = 1) -> int:
    if not fits_signed(value, bits):
        raise EncodingError(f"{what} {value} does not fit in {bits} signed bits")
    if value % align:
        raise EncodingError(f"{what} {value} not a multiple of {align}")
    return value & ((1 << bits) - 1)


def _uimm(value: int, bits: int, what: str = "immediate", align: int = 1) -> int:
    if not fits_unsigned(value, bits):
        raise EncodingError(f"{what} {value} does not fit in {bits} unsigned bits")
    if value % align:
        raise EncodingError(f"{what} {value} not a multiple of {align}")
    return value


def _bit(value: int, hi: int, lo: int | None = None) -> int:
    """Extract bits value[hi:lo] (lo defaults to hi)."""
    if lo is None:
        lo = hi
    return (value >> lo) & ((1 << (hi - lo + 1)) - 1)


def _rel(off: int) -> str:
    return f".+{off}" if off >= 0 else f".-{-off}"


def _x(r: int) -> str:
    return f"x{r}"


def _csrname(csr: int) -> str:
    return CSR_NAMES.get(csr, f"0x{csr:x}")


# --------------------------------------------------------------------------
# 32-bit base formats

OP_LOAD = 0b0000011
OP_MISC_MEM = 0b0001111
OP_IMM = 0b0010011
OP_AUIPC = 0b0010111
OP_IMM_32 = 0b0011011
OP_STORE = 0b0100011
OP_AMO = 0b0101111
OP_OP = 0b0110011
OP_LUI = 0b0110111
OP_OP_32 = 0b0111011
OP_BRANCH = 0b1100011
OP_JALR = 0b1100111
OP_JAL = 0b1101111
OP_SYSTEM = 0b1110011


def fmt_r(opcode: int, rd: int, funct3: int, rs1: int, rs2: int, funct7: int) -> int:
    return ((funct7 & 0x7F) << 25) | (_reg(rs2) << 20) | (_reg(rs1) << 15) | \
        ((funct3 & 7) << 12) | (_reg(rd) << 7) | (opcode & 0x7F)


def fmt_i(opcode: int, rd: int, funct3: int, rs1: int, imm: int) -> int:
    """imm is the raw 12-bit field value (already masked)."""
    return ((imm & 0xFFF) << 20) | (_reg(rs1) << 15) | ((funct3 & 7) << 12) | \
        (_reg(rd) << 7) | (opcode & 0x7F)


def fmt_s(opcode: int, funct3: int, rs1: int, rs2: int, imm: int) -> int:
    imm &= 0xFFF
    return (_bit(imm, 11, 5) << 25) | (_reg(rs2) << 20) | (_reg(rs1) << 15) | \
        ((funct3 & 7) << 12) | (_bit(imm, 4, 0) << 7) | (opcode & 0x7F)


def fmt_b(opcode: int, funct3: int, rs1: int, rs2: int, imm: int) -> int:
    imm &= 0x1FFF
    return (_bit(imm, 12) << 31) | (_bit(imm, 10, 5) << 25) | (_reg(rs2) << 20) | \
        (_reg(rs1) << 15) | ((funct3 & 7) << 12) | (_bit(imm, 4, 1) << 8) | \
        (_bit(imm, 11) << 7) | (opcode & 0x7F)


def fmt_u(opcode: int, rd: int, imm20: int) -> int:
    return ((imm20 & 0xFFFFF) << 12) | (_reg(rd) << 7) | (opcode & 0x7F)


def fmt_j(opcode: int, rd: int, imm: int) -> int:
    imm &= 0x1FFFFF
    return (_bit(imm, 20) << 31) | (_bit(imm, 10, 1) << 21) | (_bit(imm, 11) << 20) | \
        (_bit(imm, 19, 12) << 12) | (_reg(rd) << 7) | (opcode & 0x7F)


def _i4(word: int, text: str) -> Insn:
    return Insn(word & 0xFFFFFFFF, 4, text)


# --------------------------------------------------------------------------
# RV64I

def lui(rd: int, imm20: int) -> Insn:
    """rd = sext(imm20 << 12).  imm20 may be given as 0..0xFFFFF or as a
    signed value -0x80000..0x7FFFF."""
    if not (-0x80000 <= imm20 <= 0xFFFFF):
        raise EncodingError(f"lui immediate {imm20:#x} out of range")
    imm20 &= 0xFFFFF
    return _i4(fmt_u(OP_LUI, rd, imm20), f"lui {_x(rd)},0x{imm20:x}")


def auipc(rd: int, imm20: int) -> Insn:
    if not (-0x80000 <= imm20 <= 0xFFFFF):
        raise EncodingError(f"auipc immediate {imm20:#x} out of range")
    imm20 &= 0xFFFFF
    return _i4(fmt_u(OP_AUIPC, rd, imm20), f"auipc {_x(rd)},0x{imm20:x}")


def jal(rd: int, offset: int) -> Insn:
    _simm(offset, 21, "jal offset", 2)
    return _i4(fmt_j(OP_JAL, rd, offset), f"jal {_x(rd)},{_rel(offset)}")


def jalr(rd: int, rs1: int, imm: int = 0) -> Insn:
    f = _simm(imm, 12, "jalr offset")
    return _i4(fmt_i(OP_JALR, rd, 0, rs1, f), f"jalr {_x(rd)},{imm}({_x(rs1)})")


_BRANCH_F3 = {"beq": 0, "bne": 1, "blt": 4, "bge": 5, "bltu": 6, "bgeu": 7}


def _branch(name: str):
    f3 = _BRANCH_F3[name]

    def enc(rs1: int, rs2: int, offset: int) -> Insn:
        _simm(offset, 13, f"{name} offset", 2)
        return _i4(fmt_b(OP_BRANCH, f3, rs1, rs2, offset),
                   f"{name} {_x(rs1)},{_x(rs2)},{_rel(offset)}")
    enc.__name__ = name
    return enc


beq = _branch("beq")
bne = _branch("bne")
blt = _branch("blt")
bge = _branch("bge")
bltu = _branch("bltu")
bgeu = _branch("bgeu")

_LOAD_F3 = {"lb": 0, "lh": 1, "lw": 2, "ld": 3, "lbu": 4, "lhu": 5, "lwu": 6}
_STORE_F3 = {"sb": 0, "sh": 1, "sw": 2, "sd": 3}


def _load(name: str):
    f3 = _LOAD_F3[name]

    def enc(rd: int, rs1: int, imm: int = 0) -> Insn:
        f = _simm(imm, 12, f"{name} offset")
        return _i4(fmt_i(OP_LOAD, rd, f3, rs1, f), f"{name} {_x(rd)},{imm}({_x(rs1)})")
    enc.__name__ = name
    return enc


def _store(name: str):
    f3 = _STORE_F3[name]

    def enc(rs2: int, rs1: int, imm: int = 0) -> Insn:
        """Note operand order follows assembly syntax: sd rs2, imm(rs1)."""
        f = _simm(imm, 12, f"{name} offset")
        return _i4(fmt_s(OP_STORE, f3, rs1, rs2, f), f"{name} {_x(rs2)},{imm}({_x(rs1)})")
    enc.__name__ = name
    return enc


lb = _load("lb")
lh = _load("lh")
lw = _load("lw")
ld = _load("ld")
lbu = _load("lbu")
lhu = _load("lhu")
lwu = _load("lwu")
sb = _store("sb")
sh = _store("sh")
sw = _store("sw")
sd = _store("sd")

_OPIMM_F3 = {"addi": 0, "slti": 2, "sltiu": 3, "xori": 4, "ori": 6, "andi": 7}


def _opimm(name: str):
    f3 = _OPIMM_F3[name]

    def enc(rd: int, rs1: int, imm: int) -> Insn:
        f = _simm(imm, 12, f"{name} immediate")
        return _i4(fmt_i(OP_IMM, rd, f3, rs1, f), f"{name} {_x(rd)},{_x(rs1)},{imm}")
    enc.__name__ = name
    return enc


addi = _opimm("addi")
slti = _opimm("slti")
sltiu = _opimm("sltiu")
xori = _opimm("xori")
ori = _opimm("ori")
andi = _opimm("andi")


def addiw(rd: int, rs1: int, imm: int) -> Insn:
    f = _simm(imm, 12, "addiw immediate")
    return _i4(fmt_i(OP_IMM_32, rd, 0, rs1, f), f"addiw {_x(rd)},{_x(rs1)},{imm}")


def _shift_imm(name: str, opcode: int, f3: int, hi: int, shbits: int):
    def enc(rd: int, rs1: int, shamt: int) -> Insn:
        _uimm(shamt, shbits, f"{name} shamt")
        return _i4(fmt_i(opcode, rd, f3, rs1, (hi << 5) | shamt if shbits == 5 else (hi << 6) | shamt),
                   f"{name} {_x(rd)},{_x(rs1)},0x{shamt:x}")
    enc.__name__ = name
    return enc


# RV64: imm[11:6] = funct6, shamt 6 bits; W forms: imm[11:5] = funct7, shamt 5 bits
slli = _shift_imm("slli", OP_IMM, 1, 0b000000, 6)
srli = _shift_imm("srli", OP_IMM, 5, 0b000000, 6)
srai = _shift_imm("srai", OP_IMM, 5, 0b010000, 6)
slliw = _shift_imm("slliw", OP_IMM_32, 1, 0b0000000, 5)
srliw = _shift_imm("srliw", OP_IMM_32, 5, 0b0000000, 5)
sraiw = _shift_imm("sraiw", OP_IMM_32, 5, 0b0100000, 5)


def _rtype(name: str, opcode: int, f3: int, f7: int):
    def enc(rd: int, rs1: int, rs2: int) -> Insn:
        return _i4(fmt_r(opcode, rd, f3, rs1, rs2, f7), f"{name} {_x(rd)},{_x(rs1)},{_x(rs2)}")
    enc.__name__ = name
    return enc


R_OPS = {
    # name: (opcode, funct3, funct7)
    "add": (OP_OP, 0, 0x00), "sub": (OP_OP, 0, 0x20), "sll": (OP_OP, 1, 0x00),
    "slt": (OP_OP, 2, 0x00), "sltu": (OP_OP, 3, 0x00), "xor": (OP_OP, 4, 0x00),
    "srl": (OP_OP, 5, 0x00), "sra": (OP_OP, 5, 0x20), "or": (OP_OP, 6, 0x00),
    "and": (OP_OP, 7, 0x00),
    "addw": (OP_OP_32, 0, 0x00), "subw": (OP_OP_32, 0, 0x20), "sllw": (OP_OP_32, 1, 0x00),
    "srlw": (OP_OP_32, 5, 0x00), "sraw": (OP_OP_32, 5, 0x20),
    # M extension
    "mul": (OP_OP, 0, 0x01), "mulh": (OP_OP, 1, 0x01), "mulhsu": (OP_OP, 2, 0x01),
    "mulhu": (OP_OP, 3, 0x01), "div": (OP_OP, 4, 0x01), "divu": (OP_OP, 5, 0x01),
    "rem": (OP_OP, 6, 0x01), "remu": (OP_OP, 7, 0x01),
    "mulw": (OP_OP_32, 0, 0x01), "divw": (OP_OP_32, 4, 0x01), "divuw": (OP_OP_32, 5, 0x01),
    "remw": (OP_OP_32, 6, 0x01), "remuw": (OP_OP_32, 7, 0x01),
}
_r = {name: _rtype(name, *spec) for name, spec in R_OPS.items()}
add, sub, sll, slt, sltu, xor, srl, sra = (_r[n] for n in
                                           ("add", "sub", "sll", "slt", "sltu", "xor", "srl", "sra"))
or_ = _r["or"]
and_ = _r["and"]
addw, subw, sllw, srlw, sraw = (_r[n] for n in ("addw", "subw", "sllw", "srlw", "sraw"))
mul, mulh, mulhsu, mulhu, div, divu, rem, remu = (_r[n] for n in
                                                  ("mul", "mulh", "mulhsu", "mulhu", "div", "divu", "rem", "remu"))
mulw, divw, divuw, remw, remuw = (_r[n] for n in ("mulw", "divw", "divuw", "remw", "remuw"))

_FENCE_BITS = "iorw"


def _fence_set(v: int) -> str:
    if v == 0:
        return "0"
    return "".join(ch for i, ch in enumerate(_FENCE_BITS) if v & (8 >> i))


def fence(pred: int = 0b1111, succ: int = 0b1111, fm: int = 0) -> Insn:
    _uimm(pred, 4, "fence pred")
    _uimm(succ, 4, "fence succ")
    _uimm(fm, 4, "fence fm")
    imm = (fm << 8) | (pred << 4) | succ
    if fm == 0b1000 and pred == 0b0011 and succ == 0b0011:
        text = "fence.tso"
    else:
        text = f"fence {_fence_set(pred)},{_fence_set(succ)}"
    return _i4(fmt_i(OP_MISC_MEM, 0, 0, 0, imm), text)


def fence_tso() -> Insn:
    return fence(0b0011, 0b0011, 0b1000)


def fence_i() -> Insn:
    return _i4(fmt_i(OP_MISC_MEM, 0, 1, 0, 0), "fence.i")


def ecall() -> Insn:
    return _i4(0x00000073, "ecall")


def ebreak() -> Insn:
    return _i4(0x00100073, "ebreak")


def mret() -> Insn:
    return _i4(0x30200073, "mret")


def wfi() -> Insn:
    return _i4(0x10500073, "wfi")


# --------------------------------------------------------------------------
# Zicsr

_CSR_F3 = {"csrrw": 1, "csrrs": 2, "csrrc": 3, "csrrwi": 5, "csrrsi": 6, "csrrci": 7}


def _csr(name: str):
    f3 = _CSR_F3[name]
    imm_form = name.endswith("i")

    def enc(rd: int, csr: int, src: int) -> Insn:
        """src is rs1 for the register forms, a 5-bit uimm for the *i forms."""
        _uimm(csr, 12, "csr number")
        if imm_form:
            _uimm(src, 5, "csr uimm")
            word = (csr << 20) | (src << 15) | (f3 << 12) | (_reg(rd) << 7) | OP_SYSTEM
            return _i4(word, f"{name} {_x(rd)},{_csrname(csr)},{src}")
        word = (csr << 20) | (_reg(src) << 15) | (f3 << 12) | (_reg(rd) << 7) | OP_SYSTEM
        return _i4(word, f"{name} {_x(rd)},{_csrname(csr)},{_x(src)}")
    enc.__name__ = name
    return enc


csrrw = _csr("csrrw")
csrrs = _csr("csrrs")
csrrc = _csr("csrrc")
csrrwi = _csr("csrrwi")
csrrsi = _csr("csrrsi")
csrrci = _csr("csrrci")


# --------------------------------------------------------------------------
# A extension

AMO_FUNCT5 = {
    "lr": 0b00010, "sc": 0b00011, "amoswap": 0b00001, "amoadd": 0b00000,
    "amoxor": 0b00100, "amoand": 0b01100, "amoor": 0b01000, "amomin": 0b10000,
    "amomax": 0b10100, "amominu": 0b11000, "amomaxu": 0b11100,
}


def _ordering(aq: bool, rl: bool) -> str:
    return (".aq" if aq else "") + (".rl" if rl else "") if not (aq and rl) else ".aqrl"


def _amo(base: str, width: str):
    f5 = AMO_FUNCT5[base]
    f3 = {"w": 2, "d": 3}[width]
    name = f"{base}.{width}"

    if base == "lr":
        def enc(rd: int, rs1: int, aq: bool = False, rl: bool = False) -> Insn:
            word = (f5 << 27) | (int(aq) << 26) | (int(rl) << 25) | (_reg(rs1) << 15) | \
                (f3 << 12) | (_reg(rd) << 7) | OP_AMO
            return _i4(word, f"{name}{_ordering(aq, rl)} {_x(rd)},({_x(rs1)})")
    else:
        def enc(rd: int, rs2: int, rs1: int, aq: bool = False, rl: bool = False) -> Insn:
            """Operand order follows assembly syntax: amoadd.w rd, rs2, (rs1)."""
            word = (f5 << 27) | (int(aq) << 26) | (int(rl) << 25) | (_reg(rs2) << 20) | \
                (_reg(rs1) << 15) | (f3 << 12) | (_reg(rd) << 7) | OP_AMO
            return _i4(word, f"{name}{_ordering(aq, rl)} {_x(rd)},{_x(rs2)},({_x(rs1)})")
    enc.__name__ = name.replace(".", "_")
    return enc


AMO = {f"{b}.{w}": _amo(b, w) for b in AMO_FUNCT5 for w in ("w", "d")}
lr_w, lr_d, sc_w, sc_d = AMO["lr.w"], AMO["lr.d"], AMO["sc.w"], AMO["sc.d"]


# --------------------------------------------------------------------------
# C extension (RV64C).  Field layouts from the RVC chapter.

def _c(word: int, text: str) -> Insn:
    return Insn(word & 0xFFFF, 2, text)


def _chk(cond: bool, allow: bool, msg: str) -> None:
    if not cond and not allow:
        raise EncodingError(msg)


# CIW
def c_addi4spn(rd: int, nzuimm: int, allow_reserved: bool = False) -> Insn:
    _uimm(nzuimm, 10, "c.addi4spn nzuimm", 4)
    _chk(nzuimm != 0, allow_reserved, "c.addi4spn nzuimm=0 is reserved")
    imm = (_bit(nzuimm, 5, 4) << 11) | (_bit(nzuimm, 9, 6) << 7) | \
        (_bit(nzuimm, 2) << 6) | (_bit(nzuimm, 3) << 5)
    return _c((0b000 << 13) | imm | (_creg(rd) << 2) | 0b00, f"c.addi4spn {_x(rd)},x2,{nzuimm}")


# CL / CS
def _cl_w(f3: int, name: str, reg_is_src: bool):
    def enc(r: int, rs1: int, uimm: int) -> Insn:
        _uimm(uimm, 7, f"{name} offset", 4)
        imm = (_bit(uimm, 5, 3) << 10) | (_bit(uimm, 2) << 6) | (_bit(uimm, 6) << 5)
        return _c((f3 << 13) | imm | (_creg(rs1) << 7) | (_creg(r) << 2) | 0b00,
                  f"{name} {_x(r)},{uimm}({_x(rs1)})")
    enc.__name__ = name
    return enc


def _cl_d(f3: int, name: str):
    def enc(r: int, rs1: int, uimm: int) -> Insn:
        _uimm(uimm, 8, f"{name} offset", 8)
        imm = (_bit(uimm, 5, 3) << 10) | (_bit(uimm, 7, 6) << 5)
        return _c((f3 << 13) | imm | (_creg(rs1) << 7) | (_creg(r) << 2) | 0b00,
                  f"{name} {_x(r)},{uimm}({_x(rs1)})")
    enc.__name__ = name
    return enc


c_lw = _cl_w(0b010, "c.lw", False)
c_ld = _cl_d(0b011, "c.ld")
c_sw = _cl_w(0b110, "c.sw", True)
c_sd = _cl_d(0b111, "c.sd")


# CI, quadrant 1
def _ci(f3: int, rd: int, imm6: int, op: int) -> int:
    return (f3 << 13) | (_bit(imm6, 5) << 12) | (_reg(rd) << 7) | (_bit(imm6, 4, 0) << 2) | op


def c_nop(imm: int = 0, allow_reserved: bool = False) -> Insn:
    f = _simm(imm, 6, "c.nop immediate")
    _chk(imm == 0, allow_reserved, "c.nop with nonzero immediate is a HINT")
    return _c(_ci(0b000, 0, f, 0b01), "c.nop" if imm == 0 else f"c.addi x0,{imm}")


def c_addi(rd: int, nzimm: int, allow_reserved: bool = False) -> Insn:
    f = _simm(nzimm, 6, "c.addi immediate")
    _chk(rd != 0 and nzimm != 0, allow_reserved, "c.addi with rd=0 or imm=0 is a HINT/c.nop")
    return _c(_ci(0b000, rd, f, 0b01), f"c.addi {_x(rd)},{nzimm}")


def c_addiw(rd: int, imm: int, allow_reserved: bool = False) -> Insn:
    f = _simm(imm, 6, "c.addiw immediate")
    _chk(rd != 0, allow_reserved, "c.addiw with rd=0 is reserved")
    return _c(_ci(0b001, rd, f, 0b01), f"c.addiw {_x(rd)},{imm}")


def c_li(rd: int, imm: int, allow_reserved: bool = False) -> Insn:
    f = _simm(imm, 6, "c.li immediate")
    _chk(rd != 0, allow_reserved, "c.li with rd=0 is a HINT")
    return _c(_ci(0b010, rd, f, 0b01), f"c.li {_x(rd)},{imm}")


def c_addi16sp(nzimm: int, allow_reserved: bool = False) -> Insn:
    _simm(nzimm, 10, "c.addi16sp immediate", 16)
    _chk(nzimm != 0, allow_reserved, "c.addi16sp with nzimm=0 is reserved")
    v = nzimm & 0x3FF
    word = (0b011 << 13) | (_bit(v, 9) << 12) | (2 << 7) | (_bit(v, 4) << 6) | \
        (_bit(v, 6) << 5) | (_bit(v, 8, 7) << 3) | (_bit(v, 5) << 2) | 0b01
    return _c(word, f"c.addi16sp x2,{nzimm}")


def c_lui(rd: int, nzimm6: int, allow_reserved: bool = False) -> Insn:
    """rd = sext(nzimm6 << 12); nzimm6 is the 6-bit field, given signed
    (-32..31) or as 0..63 / 0xFFFE0..0xFFFFF (objdump's display form)."""
    if 0xFFFE0 <= nzimm6 <= 0xFFFFF:
        nzimm6 -= 0x100000
    elif 32 <= nzimm6 <= 63:
        nzimm6 -= 64
    f = _simm(nzimm6, 6, "c.lui immediate")
    _chk(nzimm6 != 0, allow_reserved, "c.lui with nzimm=0 is reserved")
    _chk(rd not in (0, 2), allow_reserved, "c.lui with rd=0 is a HINT, rd=2 is c.addi16sp")
    return _c(_ci(0b011, rd, f, 0b01), f"c.lui {_x(rd)},0x{nzimm6 & 0xFFFFF:x}")


# CB-format ALU ops: c.srli / c.srai / c.andi
def _cb_shift(f2: int, name: str):
    def enc(rd: int, shamt: int, allow_reserved: bool = False) -> Insn:
        _uimm(shamt, 6, f"{name} shamt")
        _chk(shamt != 0, allow_reserved, f"{name} with shamt=0 is a HINT on RV64")
        word = (0b100 << 13) | (_bit(shamt, 5) << 12) | (f2 << 10) | (_creg(rd) << 7) | \
            (_bit(shamt, 4, 0) << 2) | 0b01
        return _c(word, f"{name} {_x(rd)},0x{shamt:x}")
    enc.__name__ = name
    return enc


c_srli = _cb_shift(0b00, "c.srli")
c_srai = _cb_shift(0b01, "c.srai")


def c_andi(rd: int, imm: int) -> Insn:
    f = _simm(imm, 6, "c.andi immediate")
    word = (0b100 << 13) | (_bit(f, 5) << 12) | (0b10 << 10) | (_creg(rd) << 7) | \
        (_bit(f, 4, 0) << 2) | 0b01
    return _c(word, f"c.andi {_x(rd)},{imm}")


# CA
def _ca(f6: int, f2: int, name: str):
    def enc(rd: int, rs2: int) -> Insn:
        word = (f6 << 10) | (_creg(rd) << 7) | (f2 << 5) | (_creg(rs2) << 2) | 0b01
        return _c(word, f"{name} {_x(rd)},{_x(rs2)}")
    enc.__name__ = name
    return enc


c_sub = _ca(0b100011, 0b00, "c.sub")
c_xor = _ca(0b100011, 0b01, "c.xor")
c_or = _ca(0b100011, 0b10, "c.or")
c_and = _ca(0b100011, 0b11, "c.and")
c_subw = _ca(0b100111, 0b00, "c.subw")
c_addw = _ca(0b100111, 0b01, "c.addw")


# CJ
def c_j(offset: int) -> Insn:
    _simm(offset, 12, "c.j offset", 2)
    v = offset & 0xFFF
    imm = (_bit(v, 11) << 12) | (_bit(v, 4) << 11) | (_bit(v, 9, 8) << 9) | \
        (_bit(v, 10) << 8) | (_bit(v, 6) << 7) | (_bit(v, 7) << 6) | \
        (_bit(v, 3, 1) << 3) | (_bit(v, 5) << 2)
    return _c((0b101 << 13) | imm | 0b01, f"c.j {_rel(offset)}")


# CB branches
def _cbranch(f3: int, name: str):
    def enc(rs1: int, offset: int) -> Insn:
        _simm(offset, 9, f"{name} offset", 2)
        v = offset & 0x1FF
        imm = (_bit(v, 8) << 12) | (_bit(v, 4, 3) << 10) | (_bit(v, 7, 6) << 5) | \
            (_bit(v, 2, 1) << 3) | (_bit(v, 5) << 2)
        return _c((f3 << 13) | imm | (_creg(rs1) << 7) | 0b01, f"{name} {_x(rs1)},{_rel(offset)}")
    enc.__name__ = name
    return enc


c_beqz = _cbranch(0b110, "c.beqz")
c_bnez = _cbranch(0b111, "c.bnez")


# quadrant 2
def c_slli(rd: int, shamt: int, allow_reserved: bool = False) -> Insn:
    _uimm(shamt, 6, "c.slli shamt")
    _chk(rd != 0 and shamt != 0, allow_reserved, "c.slli with rd=0 or shamt=0 is a HINT")
    return _c(_ci(0b000, rd, shamt, 0b10), f"c.slli {_x(rd)},0x{shamt:x}")


def c_lwsp(rd: int, uimm: int, allow_reserved: bool = False) -> Insn:
    _uimm(uimm, 8, "c.lwsp offset", 4)
    _chk(rd != 0, allow_reserved, "c.lwsp with rd=0 is reserved")
    word = (0b010 << 13) | (_bit(uimm, 5) << 12) | (_reg(rd) << 7) | \
        (_bit(uimm, 4, 2) << 4) | (_bit(uimm, 7, 6) << 2) | 0b10
    return _c(word, f"c.lwsp {_x(rd)},{uimm}(x2)")


def c_ldsp(rd: int, uimm: int, allow_reserved: bool = False) -> Insn:
    _uimm(uimm, 9, "c.ldsp offset", 8)
    _chk(rd != 0, allow_reserved, "c.ldsp with rd=0 is reserved")
    word = (0b011 << 13) | (_bit(uimm, 5) << 12) | (_reg(rd) << 7) | \
        (_bit(uimm, 4, 3) << 5) | (_bit(uimm, 8, 6) << 2) | 0b10
    return _c(word, f"c.ldsp {_x(rd)},{uimm}(x2)")


def c_jr(rs1: int, allow_reserved: bool = False) -> Insn:
    _chk(rs1 != 0, allow_reserved, "c.jr with rs1=0 is reserved")
    return _c((0b1000 << 12) | (_reg(rs1) << 7) | 0b10, f"c.jr {_x(rs1)}")


def c_mv(rd: int, rs2: int, allow_reserved: bool = False) -> Insn:
    if rs2 == 0:
        raise EncodingError("c.mv with rs2=0 is c.jr")
    _chk(rd != 0, allow_reserved, "c.mv with rd=0 is a HINT")
    return _c((0b1000 << 12) | (_reg(rd) << 7) | (_reg(rs2) << 2) | 0b10, f"c.mv {_x(rd)},{_x(rs2)}")


def c_ebreak() -> Insn:
    return _c(0x9002, "c.ebreak")


def c_jalr(rs1: int) -> Insn:
    if rs1 == 0:
        raise EncodingError("c.jalr with rs1=0 is c.ebreak")
    return _c((0b1001 << 12) | (_reg(rs1) << 7) | 0b10, f"c.jalr {_x(rs1)}")


def c_add(rd: int, rs2: int, allow_reserved: bool = False) -> Insn:
    if rs2 == 0:
        raise EncodingError("c.add with rs2=0 is c.jalr/c.ebreak")
    _chk(rd != 0, allow_reserved, "c.add with rd=0 is a HINT")
    return _c((0b1001 << 12) | (_reg(rd) << 7) | (_reg(rs2) << 2) | 0b10, f"c.add {_x(rd)},{_x(rs2)}")


def c_swsp(rs2: int, uimm: int) -> Insn:
    _uimm(uimm, 8, "c.swsp offset", 4)
    imm = (_bit(uimm, 5, 2) << 9) | (_bit(uimm, 7, 6) << 7)
    return _c((0b110 << 13) | imm | (_reg(rs2) << 2) | 0b10, f"c.swsp {_x(rs2)},{uimm}(x2)")


def c_sdsp(rs2: int, uimm: int) -> Insn:
    _uimm(uimm, 9, "c.sdsp offset", 8)
    imm = (_bit(uimm, 5, 3) << 10) | (_bit(uimm, 8, 6) << 7)
    return _c((0b111 << 13) | imm | (_reg(rs2) << 2) | 0b10, f"c.sdsp {_x(rs2)},{uimm}(x2)")


def raw32(word: int, text: str | None = None) -> Insn:
    return _i4(word, text or f".word 0x{word & 0xFFFFFFFF:08x}")


def raw16(word: int, text: str | None = None) -> Insn:
    return _c(word, text or f".half 0x{word & 0xFFFF:04x}")


# --------------------------------------------------------------------------
# pseudo-instructions

def li(rd: int, value: int) -> list[Insn]:
    """Materialise a 64-bit constant (LLVM RISCVMatInt-style recursion:
    ADDI / LUI+ADDIW for 32-bit values, otherwise recursive with SLLI+ADDI).
    The result is sext/truncation independent: value is taken mod 2**64."""
    value = sext(value, 64)
    if fits_signed(value, 32):
        lo12 = sext(value, 12)
        hi20 = ((value + 0x800) >> 12) & 0xFFFFF
        out: list[Insn] = []
        if hi20:
            out.append(lui(rd, hi20))
        if lo12 or not hi20:
            out.append(addiw(rd, rd, lo12) if hi20 else addi(rd, 0, lo12))
        return out
    lo12 = sext(value, 12)
    hi52 = (value - lo12) >> 12  # arithmetic shift (python ints)
    shift = 12
    while hi52 % 2 == 0:
        hi52 >>= 1
        shift += 1
    out = li(rd, hi52)
    out.append(slli(rd, rd, shift))
    if lo12:
        out.append(addi(rd, rd, lo12))
    return out


# Table of every encoder by canonical mnemonic (used by tests and the generator)
ENCODERS = {
    "lui": lui, "auipc": auipc, "jal": jal, "jalr": jalr,
    "beq": beq, "bne": bne, "blt": blt, "bge": bge, "bltu": bltu, "bgeu": bgeu,
    "lb": lb, "lh": lh, "lw": lw, "ld": ld, "lbu": lbu, "lhu": lhu, "lwu": lwu,
    "sb": sb, "sh": sh, "sw": sw, "sd": sd,
    "addi": addi, "slti": slti, "sltiu": sltiu, "xori": xori, "ori": ori, "andi": andi,
    "slli": slli, "srli": srli, "srai": srai,
    "addiw": addiw, "slliw": slliw, "srliw": srliw, "sraiw": sraiw,
    **_r,
    "fence": fence, "fence.tso": fence_tso, "fence.i": fence_i,
    "ecall": ecall, "ebreak": ebreak,
    "csrrw": csrrw, "csrrs": csrrs, "csrrc": csrrc,
    "csrrwi": csrrwi, "csrrsi": csrrsi, "csrrci": csrrci,
    **AMO,
    "c.addi4spn": c_addi4spn, "c.lw": c_lw, "c.ld": c_ld, "c.sw": c_sw, "c.sd": c_sd,
    "c.nop": c_nop, "c.addi": c_addi, "c.addiw": c_addiw, "c.li": c_li,
    "c.addi16sp": c_addi16sp, "c.lui": c_lui, "c.srli": c_srli, "c.srai": c_srai,
    "c.andi": c_andi, "c.sub": c_sub, "c.xor": c_xor, "c.or": c_or, "c.and": c_and,
    "c.subw": c_subw, "c.addw": c_addw, "c.j": c_j, "c.beqz": c_beqz, "c.bnez": c_bnez,
    "c.slli": c_slli, "c.lwsp": c_lwsp, "c.ldsp": c_ldsp, "c.jr": c_jr, "c.mv": c_mv,
    "c.ebreak": c_ebreak, "c.jalr": c_jalr, "c.add": c_add, "c.swsp": c_swsp, "c.sdsp": c_sdsp,
}
