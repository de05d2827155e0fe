"""Randomized differential-testing program generator for RV64IMAC.

``generate(seed, length)`` returns a raw binary image that is loaded at
0x8000_0000 and entered in M-mode (QEMU: ``-machine virt -bios none -kernel``).
The program is deterministic on any correct RV64IMAC implementation of the
QEMU ``virt`` platform pieces it uses (RAM at 0x8000_0000, NS16550A UART at
0x1000_0000, SiFive test device at 0x0010_0000), so the console output of an
emulator can be compared byte-for-byte with QEMU's (``reference.run_qemu``).

Memory map:

* ``0x8000_0000``  image: prologue, random body, epilogue (print routine and
  its subroutines), trap handler, constant tables, initial data-area image.
* ``0x8010_0000``  ``DATA_BASE``: 4 KiB data area accessed by the random
  loads, stores, LR/SC and AMOs (and by nothing else).
* ``DATA_BASE-2048 .. DATA_BASE``  bookkeeping, addressed as ``off(x31)``:
  trap log (``TRAP_LOG_MAX`` entries of mcause/mtval/mepc at -2048), register
  save area (-512), mscratch save (-32), trap count (-24), trap-handler
  spill slots for x29/x30 (-16/-8).

Register conventions:

* ``x31`` (t6) = ``DATA_BASE`` from the prologue on.  No generated
  instruction writes it (it is used freely as a source); the trap handler
  and the epilogue rely on it.
* ``x1..x30`` start with random values (often "interesting" ones: 0, ±1,
  INT64_MIN/MAX, sign-extended INT32_MIN/MAX, 0x8000_0000, ...) loaded from a
  table; ``mscratch`` likewise.  Nothing else is reserved: sp/gp/tp/ra are
  ordinary registers.  Memory instructions get their base from a setup
  instruction in the same group (``addi rB, x31, k``, ``c.mv rB, x31`` [+
  ``c.addi``/``c.addi16sp``]) or use ``x31`` directly.
* The trap handler spills x29/x30 below x31 and restores them; it does not
  touch mscratch, so traps are invisible to the body except for the log.
* Harts other than hart 0 park in a wfi loop.

The body is a sequence of *groups* (setup instructions + the instruction
under test).  Branches/jumps only go forward to a later group start (or the
epilogue), so control flow terminates and never enters a group midway; an LR
is always followed, in the same group, by its SC with only base-ISA ALU
instructions in between (so it must succeed), and a lone SC is never
preceded by an open reservation (so it must fail with rd = 1).  ``length``
is the minimum number of body instructions (setup included).

Output (UART, ``\\n`` line endings)::

    x01=0123456789abcdef      (x01 .. x31, lowercase hex, 16 digits)
    ...
    traps=N                   (decimal, traps taken in the body)
    trap mcause=%016x mtval=%016x mepc=%016x   (first min(N, TRAP_LOG_MAX))
    mscratch=%016x
    mem=%016x                 (mem_checksum() of the 4 KiB data area)
    end

then a 32-bit store of 0x5555 to 0x0010_0000 powers the machine off (QEMU
exit code 0).  The trap handler skips the trapping instruction (2 or 4
bytes, from the low two bits of the halfword at mepc).
"""

from __future__ import annotations

import argparse
import collections
import random
import re
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterable, Union

from . import rvasm as A
from .rvasm import Insn

__all__ = [
    "generate", "generate_program", "Program", "mem_checksum", "parse_output",
    "IMAGE_BASE", "DATA_BASE", "DATA_SIZE", "BASE_REG", "TRAP_LOG_MAX",
    "ALL_KINDS", "CATEGORIES", "build_program",
]

IMAGE_BASE = 0x8000_0000
DATA_BASE = 0x8010_0000
DATA_SIZE = 4096
BASE_REG = 31                      # x31 (t6) == DATA_BASE, never written by the body

UART_BASE = 0x1000_0000
TEST_DEV_BASE = 0x0010_0000

# bookkeeping, as offsets from x31
OFF_TRAP_SAVE_X30 = -8
OFF_TRAP_SAVE_X29 = -16
OFF_TRAP_COUNT = -24
OFF_MSCRATCH_SAVE = -32
OFF_REG_SAVE = -512                # x1..x31 -> -512 .. -272
OFF_TRAP_LOG = -2048               # 24-byte entries: mcause, mtval, mepc
TRAP_LOG_MAX = 48                  # -2048 .. -896
assert OFF_TRAP_LOG + 24 * TRAP_LOG_MAX <= OFF_REG_SAVE
assert OFF_REG_SAVE + 8 * 31 <= OFF_MSCRATCH_SAVE

CSR_MSTATUS, CSR_MISA, CSR_MIE, CSR_MTVEC = 0x300, 0x301, 0x304, 0x305
CSR_MSCRATCH, CSR_MEPC, CSR_MCAUSE, CSR_MTVAL = 0x340, 0x341, 0x342, 0x343
CSR_MHARTID = 0xF14

M64 = (1 << 64) - 1
INT64_MIN = 1 << 63
INT64_MAX = (1 << 63) - 1

INTERESTING = [
    0, 1, 2, 3, 7, 31, 32, 63, 64, 0x7FF, 0x800, 0xFFF, M64, M64 - 1,
    INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1,
    0x7FFF_FFFF, 0xFFFF_FFFF_8000_0000, 0x8000_0000, 0xFFFF_FFFF,
    0x1_0000_0000, 0xFFFF_FFFF_7FFF_FFFF, 0x0000_0000_FFFF_FFFF,
    0xFFFF_FFFF_FFFF_F800, 0x8000, 0xFFFF, 0xFFFF_FFFF_FFFF_8000, 0x80, 0xFF,
    0x5555_5555_5555_5555, 0xAAAA_AAAA_AAAA_AAAA, 0x0123_4567_89AB_CDEF,
]


def mem_checksum(data: bytes) -> int:
    """The checksum printed as ``mem=``: over the 512 little-endian dwords
    d[i], h = ((rotl(h, 7) ^ d[i]) + (512 - i)) mod 2**64, starting at 0."""
    assert len(data) == DATA_SIZE
    h = 0
    n = DATA_SIZE // 8
    for i in range(n):
        d = int.from_bytes(data[8 * i:8 * i + 8], "little")
        h = ((h << 7) | (h >> 57)) & M64
        h ^= d
        h = (h + (n - i)) & M64
    return h


# ---------------------------------------------------------------------------
# A tiny two-pass assembler with labels and fix-ups.

Resolver = Callable[[str], "int | None"]


@dataclass
class Fixup:
    size: int
    fn: Callable[[int, Resolver], Union[Insn, list]]   # (pc, resolve) -> Insn(s)


@dataclass
class Entry:
    addr: int
    insn: Insn
    section: str
    note: str = ""
    kind: str = ""          # scenario tag of the group (body only)
    traps: bool = False     # expected to trap (illegal/ecall/ebreak)
    group_start: bool = False


class Asm:
    def __init__(self, base: int):
        self.base = base
        self.items: list = []           # (offset, Insn|Fixup|bytes, section, note, kind, traps)
        self.size = 0
        self.labels: dict[str, int] = {}
        self.section = ""

    @property
    def pc(self) -> int:
        return self.base + self.size

    def label(self, name: str) -> None:
        if name in self.labels:
            raise ValueError(f"duplicate label {name}")
        self.labels[name] = self.pc

    def emit(self, item, note: str = "", kind: str = "", traps: bool = False) -> None:
        if isinstance(item, (list, tuple)) and not isinstance(item, Insn):
            for it in item:
                self.emit(it, note, kind, traps)
            return
        if isinstance(item, Insn):
            size = item.size
        elif isinstance(item, Fixup):
            size = item.size
        elif isinstance(item, (bytes, bytearray)):
            size = len(item)
        else:
            raise TypeError(item)
        self.items.append((self.size, item, self.section, note, kind, traps))
        self.size += size

    def align(self, n: int) -> None:
        while self.size % n:
            if self.size % 4 == 2 and n >= 4:
                self.emit(A.c_nop())
            else:
                self.emit(b"\0")

    # convenience ----------------------------------------------------------
    def la(self, rd: int, target: "str | int") -> None:
        """auipc+addi pair computing an absolute address pc-relatively."""
        def fn(pc: int, resolve: Resolver, rd=rd, target=target):
            addr = target if isinstance(target, int) else resolve(target)
            delta = addr - pc
            lo = A.sext(delta, 12)
            hi = (delta - lo) >> 12
            return [A.auipc(rd, hi & 0xFFFFF), A.addi(rd, rd, lo)]
        self.emit(Fixup(8, fn), note=f"la x{rd},{target if isinstance(target, str) else hex(target)}")

    def branch(self, enc, rs1: int, rs2: int, label: str) -> None:
        self.emit(Fixup(4, lambda pc, r: enc(rs1, rs2, r(label) - pc)), note=label)

    def jal(self, rd: int, label: str) -> None:
        self.emit(Fixup(4, lambda pc, r: A.jal(rd, r(label) - pc)), note=label)

    def assemble(self) -> tuple[bytes, list[Entry]]:
        out = bytearray()
        listing: list[Entry] = []

        def resolve(name: str):
            return self.labels.get(name)

        for off, item, section, note, kind, traps in self.items:
            assert off == len(out), (off, len(out))
            pc = self.base + off
            if isinstance(item, (bytes, bytearray)):
                out += item
                continue
            insns = item if isinstance(item, Insn) else item.fn(pc, resolve)
            if isinstance(insns, Insn):
                insns = [insns]
            size = sum(i.size for i in insns)
            want = item.size
            if size != want:
                raise AssertionError(f"fixup size mismatch at {pc:#x}: {size} != {want}")
            for i in insns:
                listing.append(Entry(self.base + len(out), i, section, note, kind, traps))
                out += i.to_bytes()
        return bytes(out), listing


# ---------------------------------------------------------------------------
# Instruction kinds (used for --stats).  Every kind listed here is generated.

RV64I_R = ["add", "sub", "sll", "slt", "sltu", "xor", "srl", "sra", "or", "and",
           "addw", "subw", "sllw", "srlw", "sraw"]
RV64I_IMM = ["addi", "slti", "sltiu", "xori", "ori", "andi", "addiw"]
RV64I_SHIFT = ["slli", "srli", "srai", "slliw", "srliw", "sraiw"]
M_OPS = ["mul", "mulh", "mulhsu", "mulhu", "div", "divu", "rem", "remu",
         "mulw", "divw", "divuw", "remw", "remuw"]
LOADS = {"lb": 1, "lh": 2, "lw": 4, "ld": 8, "lbu": 1, "lhu": 2, "lwu": 4}
STORES = {"sb": 1, "sh": 2, "sw": 4, "sd": 8}
AMO_OPS = ["amoswap", "amoadd", "amoxor", "amoand", "amoor", "amomin", "amomax",
           "amominu", "amomaxu"]
BRANCHES = ["beq", "bne", "blt", "bge", "bltu", "bgeu"]
CSR_OPS = ["csrrw", "csrrs", "csrrc", "csrrwi", "csrrsi", "csrrci"]
C_ALU = ["c.addi", "c.addiw", "c.li", "c.lui", "c.srli", "c.srai", "c.andi", "c.sub",
         "c.xor", "c.or", "c.and", "c.subw", "c.addw", "c.slli", "c.mv", "c.add",
         "c.nop", "c.addi4spn", "c.addi16sp"]
C_MEM = ["c.lw", "c.ld", "c.sw", "c.sd", "c.lwsp", "c.ldsp", "c.swsp", "c.sdsp"]

ALL_MNEMONICS = sorted(set(
    RV64I_R + RV64I_IMM + RV64I_SHIFT + M_OPS + list(LOADS) + list(STORES) + BRANCHES + CSR_OPS
    + C_ALU + C_MEM
    + ["lui", "auipc", "jal", "jalr", "fence", "fence.tso", "fence.i", "ecall", "ebreak",
       "c.j", "c.jr", "c.jalr", "c.beqz", "c.bnez", "c.ebreak"]
    + [f"{op}.{w}" for op in AMO_OPS + ["lr", "sc"] for w in ("w", "d")]))

# Deliberately reserved encodings.  Each of these raises an illegal-instruction
# exception on QEMU 7.2 (default rv64 CPU) and must on any RV64IMAC.
ILLEGAL_KINDS = [
    "illegal:zero16",          # 0x0000: defined illegal instruction
    "illegal:c.addi4spn0",     # c.addi4spn nzuimm=0
    "illegal:c.addi16sp0",     # c.addi16sp nzimm=0
    "illegal:c.lui0",          # c.lui rd!=0,2 nzimm=0
    "illegal:c.lwsp0",         # c.lwsp rd=0
    "illegal:c.ldsp0",         # c.ldsp rd=0
    "illegal:c.jr0",           # c.jr rs1=0
    "illegal:opcode",          # major opcode 1101011 (reserved)
    "illegal:load-f3",         # LOAD funct3=111
    "illegal:store-f3",        # STORE funct3=1xx
    "illegal:opimm32-f3",      # OP-IMM-32 funct3 in {010,011,100,110,111}
    "illegal:op32-f7",         # OP-32 with a funct7 no extension uses
    "illegal:lr-rs2",          # LR with rs2 != 0
    "illegal:csr-ro-write",    # csrrw to mhartid (read-only)
    "illegal:csr-missing",     # CSR number no implementation defines
    "illegal:c.addiw0",        # c.addiw rd=0
    "illegal:fp",              # F/D instructions (QEMU: mstatus.FS=Off; IMAC: no F/D)
]

HINT_KINDS = [
    "hint:c.nop-imm", "hint:c.addi-imm0", "hint:c.li-x0", "hint:c.lui-x0", "hint:c.mv-x0",
    "hint:c.add-x0", "hint:c.slli-x0", "hint:c.slli-sh0", "hint:c.srli-sh0",
    "hint:c.srai-sh0", "hint:fence-0",
]

SCENARIO_KINDS = [
    "div-by-zero", "div-overflow", "lrsc-success", "sc-fail", "misaligned-load",
    "misaligned-store", "jalr-odd-target", "c.jr-odd-target", "misa-read", "mhartid-read",
    "branch-to-end",
] + ILLEGAL_KINDS + HINT_KINDS

ALL_KINDS = ALL_MNEMONICS + SCENARIO_KINDS


# ---------------------------------------------------------------------------

@dataclass
class Program:
    seed: int
    length: int
    image: bytes
    listing: list[Entry]
    body_start: int
    body_end: int
    reg_init: list[int]            # x1..x31 initial values
    mscratch_init: int
    data_init: bytes
    kinds: collections.Counter = field(default_factory=collections.Counter)

    def disasm(self, body_only: bool = False) -> str:
        lines = []
        last_section = None
        last_note = None
        for e in self.listing:
            if body_only and e.section != "body":
                continue
            if e.section != last_section:
                lines.append(f"# --- {e.section}")
                last_section = e.section
            word = f"{e.insn.word:08x}" if e.insn.size == 4 else f"    {e.insn.word:04x}"
            text = e.insn.text
            # show absolute targets for pc-relative forms
            if ",." in text or " ." in text:
                m = re.search(r"\.([+-])(\d+)$", text)
                if m:
                    tgt = e.addr + int(m.group(1) + m.group(2))
                    text += f"  <{tgt:x}>"
            tag = ""
            if e.group_start:
                tag = f"  ; {e.kind}" + (f" [{e.note}]" if e.note else "")
            elif e.section != "body" and e.note and e.note != last_note:
                tag = f"  ; {e.note}"
            if e.traps:
                tag += "  (traps)"
            last_note = e.note
            lines.append(f"{e.addr:08x}: {word}  {text:<34}{tag}".rstrip())
        return "\n".join(lines)

    def trap_pcs(self) -> set[int]:
        return {e.addr for e in self.listing if e.traps}


class _Body:
    """Random body generator.  Produces a list of groups; a group is a short
    atomic sequence (setup + instruction under test).  Branches and jumps only
    target group starts strictly ahead, so control flow always terminates and
    never lands in the middle of a setup sequence or an LR/SC pair."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.groups: list[tuple[str, list, str]] = []   # (kind, items, note)
        self.kinds: collections.Counter = collections.Counter()

    # -- register / value helpers -------------------------------------------
    def dst(self, allow_zero: bool = True) -> int:
        """Destination register: x1..x30, occasionally x0; never x31."""
        if allow_zero and self.rng.random() < 0.04:
            return 0
        return self.rng.randrange(1, 31)

    def src(self) -> int:
        r = self.rng.random()
        if r < 0.07:
            return 0
        if r < 0.12:
            return BASE_REG
        return self.rng.randrange(1, 31)

    def creg(self) -> int:
        return self.rng.randrange(8, 16)

    def value(self) -> int:
        rng = self.rng
        r = rng.random()
        if r < 0.45:
            return rng.choice(INTERESTING)
        if r < 0.6:
            return rng.randrange(-16, 17) & M64
        if r < 0.75:
            return A.sext(rng.getrandbits(32), 32) & M64
        return rng.getrandbits(64)

    def imm12(self) -> int:
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            return rng.choice([0, 1, -1, 2047, -2048, 2, -2, 0x7F, 0x80, 0x555, -0x556])
        if r < 0.5:
            return rng.randrange(-16, 17)
        return rng.randrange(-2048, 2048)

    def imm6(self, nonzero: bool = False) -> int:
        while True:
            v = self.rng.choice([self.rng.randrange(-32, 32), -32, 31, 1, -1])
            if v or not nonzero:
                return v

    # -- address helpers ------------------------------------------------------
    def data_offset(self, size: int, aligned: bool, lo: int = 0, hi: int = DATA_SIZE) -> int:
        """Offset in [lo, hi-size] of the data area; size-aligned if aligned,
        else misaligned (for size > 1)."""
        hi = min(hi, DATA_SIZE) - size
        if aligned or size == 1:
            lo_al = (lo + size - 1) // size * size
            return self.rng.randrange(lo_al, hi + 1, size)
        while True:
            off = self.rng.randrange(lo, hi + 1)
            if off % size:
                return off

    def set_base(self, reg: int, k: int) -> list[Insn]:
        """reg = DATA_BASE + k, with some variety in the instruction forms."""
        rng = self.rng
        if k == 0 and rng.random() < 0.4:
            return [A.c_mv(reg, BASE_REG)]
        if -32 <= k < 32 and k and rng.random() < 0.4:
            return [A.c_mv(reg, BASE_REG), A.c_addi(reg, k)]
        if reg == 2 and k and k % 16 == 0 and -512 <= k <= 496 and rng.random() < 0.5:
            return [A.c_mv(reg, BASE_REG), A.c_addi16sp(k)]
        if A.fits_signed(k, 12):
            return [A.addi(reg, BASE_REG, k)]
        return [A.addi(reg, BASE_REG, 2047), A.addi(reg, reg, k - 2047)]

    # -- group emission -------------------------------------------------------
    def add(self, kind: str, items: list, note: str = "", traps: bool = False) -> None:
        self.groups.append((kind, items, note, traps))
        self.kinds[kind] += 1

    def branch_fixup(self, size: int, make: Callable[[int], Insn], gidx: int) -> Fixup:
        """A fixup that jumps forward to the start of group gidx+k (k random,
        shrunk until the offset is encodable).  make(offset) -> Insn."""
        rng = self.rng
        k = rng.choice([1, 1, 1, 2, 2, 3, 4, 6])

        def fn(pc: int, resolve: Resolver) -> Insn:
            for kk in range(k, 0, -1):
                tgt = resolve(f"g{gidx + kk}")
                if tgt is None:
                    tgt = resolve("body_end")
                try:
                    return make(tgt - pc)
                except A.EncodingError:
                    continue
            raise AssertionError("no encodable forward target")
        return Fixup(size, fn)

    def target_fixup(self, size: int, make: Callable[[int, int], "Insn | list"], gidx: int) -> Fixup:
        """Like branch_fixup but make(pc, target) gets absolute addresses."""
        k = self.rng.choice([1, 1, 2, 3, 5])

        def fn(pc: int, resolve: Resolver):
            tgt = resolve(f"g{gidx + k}")
            if tgt is None:
                tgt = resolve("body_end")
            return make(pc, tgt)
        return Fixup(size, fn)

    # -- generators -----------------------------------------------------------
    def gen_alu_r(self):
        op = self.rng.choice(RV64I_R)
        self.add(op, [A.ENCODERS[op](self.dst(), self.src(), self.src())])

    def gen_alu_i(self):
        op = self.rng.choice(RV64I_IMM)
        self.add(op, [A.ENCODERS[op](self.dst(), self.src(), self.imm12())])

    def gen_shift_i(self):
        op = self.rng.choice(RV64I_SHIFT)
        bits = 5 if op.endswith("w") else 6
        sh = self.rng.choice([0, 1, (1 << bits) - 1, 1 << (bits - 1), self.rng.randrange(1 << bits)])
        self.add(op, [A.ENCODERS[op](self.dst(), self.src(), sh)])

    def gen_upper(self):
        rng = self.rng
        imm = rng.choice([0, 1, 0x80000, 0xFFFFF, 0x7FFFF, rng.randrange(1 << 20)])
        if rng.random() < 0.5:
            self.add("lui", [A.lui(self.dst(), imm)])
        else:
            self.add("auipc", [A.auipc(self.dst(), imm)])

    def gen_li(self):
        rd = self.dst(allow_zero=False)
        v = self.value()
        self.add("li", A.li(rd, v), note=f"li x{rd},{v:#x}")

    def gen_muldiv(self):
        rng = self.rng
        op = rng.choice(M_OPS)
        word = op.endswith("w")
        setup: list[Insn] = []
        rd = self.dst()
        rs1, rs2 = self.src(), self.src()
        is_div = op.startswith(("div", "rem"))
        r = rng.random()
        note = ""
        if is_div and r < 0.25:
            # divisor 0 (x0 or a register set to zero / zero low word)
            note = "div-by-zero"
            c = rng.random()
            if c < 0.3:
                rs2 = 0
            else:
                rs2 = self.dst(allow_zero=False)
                if word and c < 0.6:
                    setup += A.li(rs2, rng.choice([0x1_0000_0000, 0xFFFF_FFFF_0000_0000, 0x8000_0000_0000_0000]))
                else:
                    setup.append(rng.choice([A.addi(rs2, 0, 0), A.c_li(rs2, 0), A.andi(rs2, rs2, 0)]))
                if rs1 == rs2:
                    rs1 = self.src()
        elif is_div and r < 0.5:
            note = "div-overflow"
            rs1 = self.dst(allow_zero=False)
            rs2 = self.dst(allow_zero=False)
            while rs2 == rs1:
                rs2 = self.dst(allow_zero=False)
            if word:
                setup += [A.lui(rs1, 0x80000)] if rng.random() < 0.6 else \
                    A.li(rs1, rng.choice([0x1234_5678_8000_0000, 0xFFFF_FFFF_8000_0000]))
                setup += [A.c_li(rs2, -1)] if rng.random() < 0.5 else A.li(rs2, rng.choice([M64, 0xFFFF_FFFF]))
            else:
                setup += [A.addi(rs1, 0, -1), A.slli(rs1, rs1, 63)]
                setup += [rng.choice([A.addi(rs2, 0, -1), A.c_li(rs2, -1)])]
        elif r < 0.65:
            # interesting operands
            rs1 = self.dst(allow_zero=False)
            rs2 = self.dst(allow_zero=False)
            setup += A.li(rs1, self.value())
            if rs2 != rs1:
                setup += A.li(rs2, self.value())
        self.add(op, setup + [A.ENCODERS[op](rd, rs1, rs2)], note=note)
        if note:
            self.kinds[note] += 1

    def gen_load(self):
        rng = self.rng
        op = rng.choice(list(LOADS))
        size = LOADS[op]
        aligned = rng.random() < 0.7
        rd = self.dst()
        if rng.random() < 0.35:
            off = self.data_offset(size, aligned, 0, 2048)
            items = [A.ENCODERS[op](rd, BASE_REG, off)]
        else:
            base = self.dst(allow_zero=False)
            off = self.data_offset(size, aligned)
            imm = rng.randrange(max(-2048, off - 4094), min(2048, off + 2049))
            items = self.set_base(base, off - imm) + [A.ENCODERS[op](rd, base, imm)]
        tag = "misaligned-load" if off % size else ""
        if tag:
            self.kinds[tag] += 1
        self.add(op, items, note=tag)

    def gen_store(self):
        rng = self.rng
        op = rng.choice(list(STORES))
        size = STORES[op]
        aligned = rng.random() < 0.7
        rs2 = self.src()
        if rng.random() < 0.35:
            off = self.data_offset(size, aligned, 0, 2048)
            items = [A.ENCODERS[op](rs2, BASE_REG, off)]
        else:
            base = self.dst(allow_zero=False)
            off = self.data_offset(size, aligned)
            imm = rng.randrange(max(-2048, off - 4094), min(2048, off + 2049))
            items = self.set_base(base, off - imm) + [A.ENCODERS[op](rs2, base, imm)]
        tag = "misaligned-store" if off % size else ""
        if tag:
            self.kinds[tag] += 1
        self.add(op, items, note=tag)

    def _aq_rl(self):
        return self.rng.random() < 0.3, self.rng.random() < 0.3

    def gen_amo(self):
        rng = self.rng
        op = rng.choice(AMO_OPS)
        w = rng.choice("wd")
        size = 4 if w == "w" else 8
        name = f"{op}.{w}"
        base = self.dst(allow_zero=False)
        off = self.data_offset(size, True)
        items = self.set_base(base, off)
        aq, rl = self._aq_rl()
        items.append(A.AMO[name](self.dst(), self.src(), base, aq, rl))
        self.add(name, items)

    def gen_lrsc(self):
        rng = self.rng
        w = rng.choice("wd")
        size = 4 if w == "w" else 8
        base = self.dst(allow_zero=False)
        off = self.data_offset(size, True)
        items = self.set_base(base, off)
        rd = self.dst()
        while rd == base:
            rd = self.dst()
        items.append(A.AMO[f"lr.{w}"](rd, base, *self._aq_rl()))
        # a few base-ISA ALU ops in between (constrained LR/SC loop rules)
        val_reg = self.src()
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            t = self.dst()
            while t == base:
                t = self.dst()
            if rng.random() < 0.5:
                items.append(A.addi(t, rd if rng.random() < 0.7 else self.src(), self.imm12()))
            else:
                items.append(A.ENCODERS[rng.choice(["add", "xor", "sub", "or", "and", "sllw"])](
                    t, rd, self.src()))
            val_reg = t
        sc_rd = self.dst()
        items.append(A.AMO[f"sc.{w}"](sc_rd, val_reg if rng.random() < 0.8 else self.src(), base,
                                      *self._aq_rl()))
        self.add("lrsc-success", items)

    def gen_sc_fail(self):
        rng = self.rng
        w = rng.choice("wd")
        size = 4 if w == "w" else 8
        base = self.dst(allow_zero=False)
        off = self.data_offset(size, True)
        items = self.set_base(base, off)
        items.append(A.AMO[f"sc.{w}"](self.dst(), self.src(), base, *self._aq_rl()))
        self.add("sc-fail", items)

    def gen_c_alu(self):
        rng = self.rng
        op = rng.choice(C_ALU)
        nz = lambda: rng.randrange(1, 31)  # noqa: E731  (x1..x30)
        if op == "c.addi":
            i = A.c_addi(nz(), self.imm6(nonzero=True))
        elif op == "c.addiw":
            i = A.c_addiw(nz(), self.imm6())
        elif op == "c.li":
            i = A.c_li(nz(), self.imm6())
        elif op == "c.lui":
            rd = nz()
            while rd == 2:
                rd = nz()
            i = A.c_lui(rd, self.imm6(nonzero=True))
        elif op in ("c.srli", "c.srai"):
            i = A.ENCODERS[op](self.creg(), rng.choice([1, 31, 32, 63, rng.randrange(1, 64)]))
        elif op == "c.andi":
            i = A.c_andi(self.creg(), self.imm6())
        elif op in ("c.sub", "c.xor", "c.or", "c.and", "c.subw", "c.addw"):
            i = A.ENCODERS[op](self.creg(), self.creg())
        elif op == "c.slli":
            i = A.c_slli(nz(), rng.choice([1, 31, 32, 63, rng.randrange(1, 64)]))
        elif op in ("c.mv", "c.add"):
            i = A.ENCODERS[op](nz(), rng.randrange(1, 32))
        elif op == "c.nop":
            i = A.c_nop()
        elif op == "c.addi4spn":
            i = A.c_addi4spn(self.creg(), rng.randrange(4, 1024, 4))
        elif op == "c.addi16sp":
            v = 0
            while not v:
                v = rng.randrange(-512, 512, 16)
            i = A.c_addi16sp(v)
        else:
            raise AssertionError(op)
        self.add(op, [i])

    def gen_c_mem(self):
        rng = self.rng
        op = rng.choice(C_MEM)
        size = 8 if op in ("c.ld", "c.sd", "c.ldsp", "c.sdsp") else 4
        sp_form = op.endswith("sp")
        if sp_form:
            base = 2
            max_uimm = 504 if size == 8 else 252
        else:
            base = self.creg()
            max_uimm = 248 if size == 8 else 124
        uimm = rng.choice([0, max_uimm, rng.randrange(0, max_uimm + 1, size)])
        aligned = rng.random() < 0.7
        off = self.data_offset(size, aligned)
        items = self.set_base(base, off - uimm)
        store = op in ("c.sw", "c.sd", "c.swsp", "c.sdsp")
        if sp_form:
            if store:
                i = A.ENCODERS[op](self.src(), uimm)
            else:
                i = A.ENCODERS[op](self.dst(allow_zero=False), uimm)
        else:
            i = A.ENCODERS[op](self.creg(), base, uimm)
        items.append(i)
        tag = ""
        if off % size:
            tag = "misaligned-store" if store else "misaligned-load"
            self.kinds[tag] += 1
        self.add(op, items, note=tag)

    def gen_branch(self):
        rng = self.rng
        g = len(self.groups)
        if rng.random() < 0.75:
            op = rng.choice(BRANCHES)
            rs1 = self.src()
            rs2 = rs1 if rng.random() < 0.15 else self.src()
            enc = A.ENCODERS[op]
            self.add(op, [self.branch_fixup(4, lambda off: enc(rs1, rs2, off), g)])
        else:
            op = rng.choice(["c.beqz", "c.bnez"])
            rs1 = self.creg()
            enc = A.ENCODERS[op]
            self.add(op, [self.branch_fixup(2, lambda off: enc(rs1, off), g)])

    def gen_jump(self):
        rng = self.rng
        g = len(self.groups)
        kind = rng.choice(["jal", "jal", "c.j", "jalr", "c.jr", "c.jalr"])
        if kind == "jal":
            rd = self.dst()
            self.add("jal", [self.branch_fixup(4, lambda off: A.jal(rd, off), g)])
        elif kind == "c.j":
            self.add("c.j", [self.branch_fixup(2, lambda off: A.c_j(off), g)])
        elif kind == "jalr":
            rx = self.dst(allow_zero=False)
            rd = self.dst()
            odd = rng.random() < 0.25
            k = rng.choice([0, 0, rng.randrange(-100, 100)])
            items = [A.auipc(rx, 0)]
            if k:
                items.append(A.addi(rx, rx, k))
            back = 4 * len(items)
            items.append(self.target_fixup(
                4, lambda pc, tgt: A.jalr(rd, rx, tgt - (pc - back) - k + int(odd)), g))
            self.add("jalr", items, note="jalr-odd-target" if odd else "")
            if odd:
                self.kinds["jalr-odd-target"] += 1
        else:
            rx = self.dst(allow_zero=False)
            if kind == "c.jalr" and rng.random() < 0.2:
                rx = 1   # c.jalr x1: target read before ra is written
            odd = rng.random() < 0.25
            enc = A.c_jr if kind == "c.jr" else A.c_jalr
            items = [A.auipc(rx, 0),
                     self.target_fixup(4, lambda pc, tgt: A.addi(rx, rx, tgt - (pc - 4) + int(odd)), g),
                     enc(rx)]
            self.add(kind, items, note="c.jr-odd-target" if odd else "")
            if odd:
                self.kinds["c.jr-odd-target"] += 1

    def gen_csr(self):
        rng = self.rng
        op = rng.choice(CSR_OPS)
        src = rng.randrange(32) if op.endswith("i") else self.src()
        self.add(op, [A.ENCODERS[op](self.dst(), CSR_MSCRATCH, src)])

    def gen_csr_ro(self):
        """Reads of mhartid (0 on hart 0) and misa (masked to the fields an
        RV64IMAC implementation must agree on)."""
        rng = self.rng
        op = rng.choice(["csrrs", "csrrc", "csrrsi", "csrrci"])
        rd = self.dst()
        csr = rng.choice([CSR_MHARTID, CSR_MISA])
        items = [A.ENCODERS[op](rd, csr, 0)]
        if csr == CSR_MISA:
            tag = "misa-read"
            if rd:
                m = rng.randrange(3)
                if m == 0:          # A, C, I extension bits
                    items.append(A.andi(rd, rd, 0x105))
                elif m == 1:        # MXL (2 = 64-bit)
                    items.append(A.srli(rd, rd, 62))
                else:               # M extension bit
                    items += [A.srli(rd, rd, 12), A.andi(rd, rd, 1)]
        else:
            tag = "mhartid-read"
        self.kinds[tag] += 1
        self.add(op, items, note=tag)

    def gen_fence(self):
        rng = self.rng
        r = rng.random()
        if r < 0.5:
            pred, succ = rng.randrange(1, 16), rng.randrange(1, 16)
            self.add("fence", [A.fence(pred, succ)])
        elif r < 0.7:
            self.add("fence.tso", [A.fence_tso()])
        else:
            self.add("fence.i", [A.fence_i()])

    def gen_trap(self):
        op = self.rng.choice(["ecall", "ebreak", "c.ebreak"])
        self.add(op, [A.ENCODERS[op]()], traps=True)

    def gen_illegal(self):
        rng = self.rng
        kind = rng.choice(ILLEGAL_KINDS)
        r5 = lambda: rng.randrange(1, 31)  # noqa: E731
        if kind == "illegal:zero16":
            i = A.raw16(0x0000, "c.unimp (0x0000)")
        elif kind == "illegal:c.addi4spn0":
            i = A.c_addi4spn(self.creg(), 0, allow_reserved=True)
        elif kind == "illegal:c.addi16sp0":
            i = A.c_addi16sp(0, allow_reserved=True)
        elif kind == "illegal:c.lui0":
            rd = r5()
            while rd == 2:
                rd = r5()
            i = A.c_lui(rd, 0, allow_reserved=True)
        elif kind == "illegal:c.lwsp0":
            i = A.c_lwsp(0, rng.randrange(0, 256, 4), allow_reserved=True)
        elif kind == "illegal:c.ldsp0":
            i = A.c_ldsp(0, rng.randrange(0, 512, 8), allow_reserved=True)
        elif kind == "illegal:c.jr0":
            i = A.c_jr(0, allow_reserved=True)
        elif kind == "illegal:opcode":
            i = A.raw32((rng.getrandbits(25) << 7) | 0b1101011, ".word (opcode 1101011)")
        elif kind == "illegal:load-f3":
            w = A.fmt_i(A.OP_LOAD, r5(), 0b111, BASE_REG, rng.getrandbits(12))
            i = A.raw32(w, ".word (LOAD funct3=111)")
        elif kind == "illegal:store-f3":
            w = A.fmt_s(A.OP_STORE, rng.randrange(4, 8), BASE_REG, r5(), rng.getrandbits(12))
            i = A.raw32(w, ".word (STORE funct3>=4)")
        elif kind == "illegal:opimm32-f3":
            w = A.fmt_i(A.OP_IMM_32, r5(), rng.choice([2, 3, 4, 6, 7]), r5(), rng.getrandbits(12))
            i = A.raw32(w, ".word (OP-IMM-32 reserved funct3)")
        elif kind == "illegal:op32-f7":
            w = A.fmt_r(A.OP_OP_32, r5(), rng.choice([0, 1, 5]), r5(), r5(),
                        rng.choice([0b0000010, 0b1111111, 0b0100001, 0b0000011]))
            i = A.raw32(w, ".word (OP-32 reserved funct7)")
        elif kind == "illegal:lr-rs2":
            w = A.lr_d(r5(), BASE_REG).word | (rng.randrange(1, 32) << 20)
            if rng.random() < 0.5:
                w = (w & ~(7 << 12)) | (2 << 12)   # lr.w
            i = A.raw32(w, ".word (LR with rs2!=0)")
        elif kind == "illegal:csr-ro-write":
            op = rng.choice(["csrrw", "csrrwi"])
            src = rng.randrange(32) if op == "csrrwi" else self.src()
            i = A.ENCODERS[op](r5(), CSR_MHARTID, src)
        elif kind == "illegal:csr-missing":
            csr = rng.choice([0x7FF, 0x8FF, 0x5FF, 0xBFF])   # custom ranges: QEMU and Caravan implement none
            i = A.csrrs(r5(), csr, 0)
        elif kind == "illegal:c.addiw0":
            i = A.c_addiw(0, self.imm6(), allow_reserved=True)
        elif kind == "illegal:fp":
            f = rng.randrange(8)
            if f < 4:   # c.fld, c.fsd, c.fldsp, c.fsdsp with random operand bits
                w = ([0b001, 0b101, 0b001, 0b101][f] << 13) | (rng.getrandbits(11) << 2) | \
                    (0b00 if f < 2 else 0b10)
                i = A.raw16(w, ".half (" + ["c.fld", "c.fsd", "c.fldsp", "c.fsdsp"][f] + ")")
            elif f == 4:  # flw / fld
                w = A.fmt_i(0b0000111, r5(), rng.choice([2, 3]), BASE_REG, rng.getrandbits(12))
                i = A.raw32(w, ".word (flw/fld)")
            elif f == 5:  # fsw / fsd
                w = A.fmt_s(0b0100111, rng.choice([2, 3]), BASE_REG, r5(), rng.getrandbits(12))
                i = A.raw32(w, ".word (fsw/fsd)")
            elif f == 6:  # fadd.s / fadd.d / fmul.d ...
                w = A.fmt_r(0b1010011, r5(), rng.randrange(8), r5(), r5(),
                            rng.choice([0x00, 0x01, 0x04, 0x05, 0x08, 0x09]))
                i = A.raw32(w, ".word (OP-FP)")
            else:         # fmadd.s / fmadd.d
                w = A.fmt_r(0b1000011, r5(), rng.randrange(8), r5(), r5(),
                            (r5() << 2) | rng.choice([0, 1]))
                i = A.raw32(w, ".word (fmadd)")
        else:
            raise AssertionError(kind)
        self.kinds[kind] += 1
        self.add(i.mnemonic if not i.mnemonic.startswith(".") else "illegal", [i], note=kind, traps=True)

    def gen_hint(self):
        rng = self.rng
        kind = rng.choice(HINT_KINDS)
        nz = rng.randrange(1, 31)
        if kind == "hint:c.nop-imm":
            i = A.c_nop(self.imm6(nonzero=True), allow_reserved=True)
        elif kind == "hint:c.addi-imm0":
            i = A.c_addi(nz, 0, allow_reserved=True)
        elif kind == "hint:c.li-x0":
            i = A.c_li(0, self.imm6(), allow_reserved=True)
        elif kind == "hint:c.lui-x0":
            i = A.c_lui(0, self.imm6(nonzero=True), allow_reserved=True)
        elif kind == "hint:c.mv-x0":
            i = A.c_mv(0, rng.randrange(1, 32), allow_reserved=True)
        elif kind == "hint:c.add-x0":
            i = A.c_add(0, rng.randrange(1, 32), allow_reserved=True)
        elif kind == "hint:c.slli-x0":
            i = A.c_slli(0, rng.randrange(1, 64), allow_reserved=True)
        elif kind == "hint:c.slli-sh0":
            i = A.c_slli(nz, 0, allow_reserved=True)
        elif kind == "hint:c.srli-sh0":
            i = A.c_srli(self.creg(), 0, allow_reserved=True)
        elif kind == "hint:c.srai-sh0":
            i = A.c_srai(self.creg(), 0, allow_reserved=True)
        elif kind == "hint:fence-0":
            i = A.fence(*rng.choice([(0, 0), (0b0001, 0), (0, 0b1111), (0b1111, 0)]))
        else:
            raise AssertionError(kind)
        self.kinds[kind] += 1
        self.add(i.mnemonic, [i], note=kind)

    WEIGHTS = [
        ("gen_alu_r", 10), ("gen_alu_i", 7), ("gen_shift_i", 5), ("gen_upper", 2.5),
        ("gen_li", 3), ("gen_muldiv", 8), ("gen_load", 6), ("gen_store", 6),
        ("gen_amo", 5), ("gen_lrsc", 2), ("gen_sc_fail", 1), ("gen_c_alu", 12),
        ("gen_c_mem", 6), ("gen_branch", 6), ("gen_jump", 4), ("gen_csr", 3),
        ("gen_csr_ro", 1), ("gen_fence", 1.5), ("gen_trap", 1), ("gen_illegal", 1.5),
        ("gen_hint", 1),
    ]

    def run(self, length: int, weights: "dict[str, float] | None" = None) -> None:
        table = dict((n[4:], w) for n, w in self.WEIGHTS)
        if weights is not None:
            unknown = set(weights) - set(table)
            if unknown:
                raise ValueError(f"unknown generator categories: {sorted(unknown)}; "
                                 f"known: {sorted(table)}")
            table = {n: w for n, w in weights.items() if w > 0}
        names = ["gen_" + n for n in table]
        weights = list(table.values())
        count = 0
        while count < length:
            getattr(self, self.rng.choices(names, weights)[0])()
            count += len(self.groups[-1][1])


# ---------------------------------------------------------------------------
# fixed parts of the program


def _emit_prologue(a: Asm) -> None:
    a.section = "prologue"
    # only hart 0 runs the test; other harts (if any) park in a wfi loop
    a.emit(A.csrrs(5, CSR_MHARTID, 0), note="park harts != 0")
    a.branch(A.beq, 5, 0, "hart0")
    a.jal(0, "park")
    a.label("hart0")
    a.emit(A.csrrw(0, CSR_MIE, 0), note="no interrupts")
    a.emit(A.csrrci(0, CSR_MSTATUS, 8))
    a.la(5, "trap_handler")
    a.emit(A.csrrw(0, CSR_MTVEC, 5), note="mtvec = trap_handler (direct)")
    a.la(BASE_REG, DATA_BASE)
    # copy the initial data-area image
    a.la(5, "data_init")
    a.emit([A.addi(6, BASE_REG, 0), A.addi(7, 0, DATA_SIZE // 8)], note="copy data area")
    a.label("copy_loop")
    a.emit([A.ld(28, 5, 0), A.sd(28, 6, 0), A.addi(5, 5, 8), A.addi(6, 6, 8), A.addi(7, 7, -1)])
    a.branch(A.bne, 7, 0, "copy_loop")
    a.emit(A.sd(0, BASE_REG, OFF_TRAP_COUNT), note="trap count = 0")
    a.la(30, "reg_init")
    a.emit([A.ld(5, 30, 8 * 31), A.csrrw(0, CSR_MSCRATCH, 5)], note="mscratch init")
    for r in range(1, 31):
        a.emit(A.ld(r, 30, 8 * (r - 1)), note="register init")   # x30 last


def _emit_epilogue(a: Asm) -> None:
    a.section = "epilogue"
    a.label("body_end")
    for r in range(1, 32):
        a.emit(A.sd(r, BASE_REG, OFF_REG_SAVE + 8 * (r - 1)), note="save x1..x31")
    a.emit([A.csrrs(5, CSR_MSCRATCH, 0), A.sd(5, BASE_REG, OFF_MSCRATCH_SAVE)], note="save mscratch")

    # register lines: x20 = count, x21 = ptr, x22/x23 = decimal digits
    a.emit([A.addi(21, BASE_REG, OFF_REG_SAVE), A.addi(20, 0, 31),
            A.addi(22, 0, ord("0")), A.addi(23, 0, ord("1"))], note="print registers")
    a.label("reg_loop")
    for insn in (A.addi(10, 0, ord("x")), A.addi(10, 22, 0), A.addi(10, 23, 0),
                 A.addi(10, 0, ord("="))):
        a.emit(insn)
        a.jal(1, "putc")
    a.emit(A.ld(11, 21, 0))
    a.jal(18, "puthex")
    a.emit(A.addi(10, 0, ord("\n")))
    a.jal(1, "putc")
    a.emit([A.addi(21, 21, 8), A.addi(23, 23, 1), A.addi(5, 0, ord("9") + 1)])
    a.branch(A.bne, 23, 5, "reg_digit_ok")
    a.emit([A.addi(23, 0, ord("0")), A.addi(22, 22, 1)])
    a.label("reg_digit_ok")
    a.emit(A.addi(20, 20, -1))
    a.branch(A.bne, 20, 0, "reg_loop")

    # traps=N
    a.la(12, "str_traps")
    a.jal(18, "putstr")
    a.emit(A.ld(11, BASE_REG, OFF_TRAP_COUNT))
    a.jal(18, "putdec")
    a.emit(A.addi(10, 0, ord("\n")))
    a.jal(1, "putc")
    # trap lines
    a.emit([A.ld(20, BASE_REG, OFF_TRAP_COUNT), A.addi(5, 0, TRAP_LOG_MAX)], note="print trap log")
    a.branch(A.bltu, 20, 5, "trap_n_ok")
    a.emit(A.addi(20, 5, 0))
    a.label("trap_n_ok")
    a.emit(A.addi(21, BASE_REG, OFF_TRAP_LOG))
    a.label("trap_loop")
    a.branch(A.beq, 20, 0, "trap_done")
    for k, s in enumerate(("str_mcause", "str_mtval", "str_mepc")):
        a.la(12, s)
        a.jal(18, "putstr")
        a.emit(A.ld(11, 21, 8 * k))
        a.jal(18, "puthex")
    a.emit(A.addi(10, 0, ord("\n")))
    a.jal(1, "putc")
    a.emit([A.addi(21, 21, 24), A.addi(20, 20, -1)])
    a.jal(0, "trap_loop")
    a.label("trap_done")
    # mscratch
    a.la(12, "str_mscratch")
    a.jal(18, "putstr")
    a.emit(A.ld(11, BASE_REG, OFF_MSCRATCH_SAVE))
    a.jal(18, "puthex")
    a.emit(A.addi(10, 0, ord("\n")))
    a.jal(1, "putc")
    # checksum
    a.emit([A.addi(21, BASE_REG, 0), A.addi(20, 0, DATA_SIZE // 8), A.addi(26, 0, 0)],
           note="data-area checksum")
    a.label("sum_loop")
    a.emit([A.ld(5, 21, 0), A.slli(6, 26, 7), A.srli(26, 26, 57), A.or_(26, 26, 6),
            A.xor(26, 26, 5), A.add(26, 26, 20), A.addi(21, 21, 8), A.addi(20, 20, -1)])
    a.branch(A.bne, 20, 0, "sum_loop")
    a.la(12, "str_mem")
    a.jal(18, "putstr")
    a.emit(A.addi(11, 26, 0))
    a.jal(18, "puthex")
    a.la(12, "str_end")
    a.jal(18, "putstr")
    # power off via the SiFive test device
    a.emit([A.lui(5, TEST_DEV_BASE >> 12), A.lui(6, 5), A.addiw(6, 6, 0x555), A.sw(6, 5, 0)],
           note="poweroff")
    a.label("hang")
    a.jal(0, "hang")
    a.label("park")
    a.emit(A.csrrw(0, CSR_MIE, 0), note="park")
    a.label("park_loop")
    a.emit(A.wfi())
    a.jal(0, "park_loop")

    # ---- subroutines -------------------------------------------------------
    # putc: x10 = char; clobbers x5, x6; link x1
    a.label("putc")
    a.emit(A.lui(5, UART_BASE >> 12), note="putc")
    a.label("putc_wait")
    a.emit([A.lbu(6, 5, 5), A.andi(6, 6, 0x20)])
    a.branch(A.beq, 6, 0, "putc_wait")
    a.emit([A.sb(10, 5, 0), A.jalr(0, 1, 0)])

    # puthex: x11 = value, 16 lowercase hex digits; clobbers x7, x28, x10, x5, x6; link x18
    a.label("puthex")
    a.emit(A.addi(7, 0, 60), note="puthex")
    a.label("puthex_loop")
    a.emit([A.srl(10, 11, 7), A.andi(10, 10, 15), A.addi(28, 0, 10)])
    a.branch(A.bltu, 10, 28, "puthex_digit")
    a.emit(A.addi(10, 10, ord("a") - ord("0") - 10))
    a.label("puthex_digit")
    a.emit(A.addi(10, 10, ord("0")))
    a.jal(1, "putc")
    a.emit(A.addi(7, 7, -4))
    a.branch(A.bge, 7, 0, "puthex_loop")
    a.emit(A.jalr(0, 18, 0))

    # putstr: x12 = NUL-terminated string; clobbers x10, x12, x5, x6; link x18
    a.label("putstr")
    a.emit(A.lbu(10, 12, 0), note="putstr")
    a.branch(A.beq, 10, 0, "putstr_done")
    a.jal(1, "putc")
    a.emit(A.addi(12, 12, 1))
    a.jal(0, "putstr")
    a.label("putstr_done")
    a.emit(A.jalr(0, 18, 0))

    # putdec: x11 = unsigned value; clobbers x13, x14, x7, x28, x10, x5, x6; link x18
    a.label("putdec")
    a.la(13, "pow10")
    a.emit(A.addi(14, 0, 0), note="putdec")
    a.label("putdec_loop")
    a.emit([A.ld(7, 13, 0), A.addi(28, 0, 0)])
    a.label("putdec_sub")
    a.branch(A.bltu, 11, 7, "putdec_digit")
    a.emit([A.sub(11, 11, 7), A.addi(28, 28, 1)])
    a.jal(0, "putdec_sub")
    a.label("putdec_digit")
    a.emit([A.or_(14, 14, 28), A.addi(5, 0, 1)])
    a.branch(A.beq, 7, 5, "putdec_print")    # always print the last digit
    a.branch(A.beq, 14, 0, "putdec_next")    # suppress leading zeros
    a.label("putdec_print")
    a.emit(A.addi(10, 28, ord("0")))
    a.jal(1, "putc")
    a.label("putdec_next")
    a.emit(A.addi(13, 13, 8))
    a.emit(A.addi(5, 0, 1))
    a.branch(A.bne, 7, 5, "putdec_loop")
    a.emit(A.jalr(0, 18, 0))


def _emit_trap_handler(a: Asm, record_mtval: bool = True) -> None:
    """Logs (mcause, mtval, mepc) of the first TRAP_LOG_MAX traps, counts all
    traps, skips the trapping instruction (2 or 4 bytes by its low bits) and
    returns with mret.  Only x29/x30 are used; they are spilled below x31, so
    the handler is invisible to the interrupted code (mscratch is untouched)."""
    a.section = "trap_handler"
    a.align(4)
    a.label("trap_handler")
    a.emit([A.sd(30, BASE_REG, OFF_TRAP_SAVE_X30), A.sd(29, BASE_REG, OFF_TRAP_SAVE_X29),
            A.ld(30, BASE_REG, OFF_TRAP_COUNT), A.addi(29, 0, TRAP_LOG_MAX)])
    a.branch(A.bgeu, 30, 29, "trap_nolog")
    a.emit([A.slli(29, 30, 4), A.slli(30, 30, 3), A.add(29, 29, 30), A.add(29, 29, BASE_REG),
            A.csrrs(30, CSR_MCAUSE, 0), A.sd(30, 29, OFF_TRAP_LOG),
            A.csrrs(30, CSR_MTVAL, 0) if record_mtval else A.addi(30, 0, 0),
            A.sd(30, 29, OFF_TRAP_LOG + 8),
            A.csrrs(30, CSR_MEPC, 0), A.sd(30, 29, OFF_TRAP_LOG + 16),
            A.ld(30, BASE_REG, OFF_TRAP_COUNT)])
    a.label("trap_nolog")
    a.emit([A.addi(30, 30, 1), A.sd(30, BASE_REG, OFF_TRAP_COUNT),
            A.csrrs(30, CSR_MEPC, 0), A.lhu(29, 30, 0), A.andi(29, 29, 3),
            A.addi(30, 30, 2), A.addi(29, 29, -3)])
    a.branch(A.bne, 29, 0, "trap_len2")
    a.emit(A.addi(30, 30, 2))
    a.label("trap_len2")
    a.emit([A.csrrw(0, CSR_MEPC, 30), A.ld(29, BASE_REG, OFF_TRAP_SAVE_X29),
            A.ld(30, BASE_REG, OFF_TRAP_SAVE_X30), A.mret()])


def _data_init(rng: random.Random) -> bytes:
    out = bytearray()
    for _ in range(DATA_SIZE // 8):
        r = rng.random()
        if r < 0.25:
            v = rng.choice(INTERESTING)
        elif r < 0.35:
            v = A.sext(rng.getrandbits(32), 32) & M64
        else:
            v = rng.getrandbits(64)
        out += v.to_bytes(8, "little")
    return bytes(out)


CATEGORIES = [n[4:] for n, _ in _Body.WEIGHTS]


def generate_program(seed: int, length: int = 200,
                     weights: "dict[str, float] | None" = None,
                     record_mtval: bool = True) -> Program:
    """Generate the program for seed (``generate()`` returns its image).

    weights optionally replaces the category weights (keys from CATEGORIES,
    e.g. {"muldiv": 1, "c_alu": 1}) to focus a run; the default mix is
    _Body.WEIGHTS.  record_mtval=False makes the trap handler log 0 instead of
    mtval (whose contents are partly implementation-defined)."""
    rng = random.Random(seed)
    body = _Body(random.Random(rng.getrandbits(64)))
    reg_init = [body.value() for _ in range(30)] + [DATA_BASE]
    mscratch_init = body.value()
    data_init = _data_init(rng)
    body.run(length, weights)
    prog = build_program(body.groups, reg_init[:30], mscratch_init, data_init,
                         record_mtval=record_mtval)
    prog.seed, prog.length = seed, length
    for k, v in body.kinds.items():
        if k in SCENARIO_KINDS:
            prog.kinds[k] += v
    return prog


def build_program(body: list, reg_init: "list[int] | None" = None, mscratch_init: int = 0,
                  data_init: "bytes | None" = None, record_mtval: bool = True) -> Program:
    """Wrap a body in the standard prologue/epilogue/trap handler.

    body is a list of groups ``(kind, items, note, traps)`` as produced by the
    random generator, or simply a list of :class:`Insn` for directed tests
    (each Insn becomes its own group; mark expected traps yourself).
    reg_init gives x1..x30 (default 0), data_init the 4 KiB data area
    (default zeros).  x31 is always DATA_BASE."""
    if reg_init is None:
        reg_init = [0] * 30
    if len(reg_init) != 30:
        raise ValueError("reg_init must give x1..x30")
    reg_init = [v & M64 for v in reg_init]
    if data_init is None:
        data_init = bytes(DATA_SIZE)
    if len(data_init) != DATA_SIZE:
        raise ValueError(f"data_init must be {DATA_SIZE} bytes")
    groups = [("insn", [g], "", False) if isinstance(g, Insn) else g for g in body]

    a = Asm(IMAGE_BASE)
    _emit_prologue(a)
    a.section = "body"
    body_start = a.pc
    for idx, (kind, items, note, traps) in enumerate(groups):
        a.label(f"g{idx}")
        a.emit(items, note=note, kind=kind, traps=traps)
    body_end = a.pc
    _emit_epilogue(a)
    _emit_trap_handler(a, record_mtval)

    a.section = "data"
    a.align(8)
    a.label("reg_init")
    a.emit(b"".join(v.to_bytes(8, "little") for v in reg_init) +
           bytes(8) + (mscratch_init & M64).to_bytes(8, "little"))
    a.label("pow10")
    a.emit(b"".join((10 ** k).to_bytes(8, "little") for k in range(19, -1, -1)))
    for name, s in (("str_traps", "traps="), ("str_mcause", "trap mcause="),
                    ("str_mtval", " mtval="), ("str_mepc", " mepc="),
                    ("str_mscratch", "mscratch="), ("str_mem", "mem="), ("str_end", "\nend\n")):
        a.label(name)
        a.emit(s.encode() + b"\0")
    a.align(8)
    a.label("data_init")
    a.emit(data_init)

    image, listing = a.assemble()
    if IMAGE_BASE + len(image) > DATA_BASE + OFF_TRAP_LOG:
        raise ValueError("program too long: image overlaps the data/bookkeeping area")
    starts = {a.labels[f"g{i}"] for i in range(len(groups))}
    kinds: collections.Counter = collections.Counter()
    for e in listing:
        if e.section != "body":
            continue
        if e.addr in starts:
            e.group_start = True
            starts.discard(e.addr)
        m = _AMO_ORDER.sub("", e.insn.mnemonic)
        if not m.startswith(".") and not e.note.startswith(("illegal:", "hint:")):
            kinds[m] += 1
        if _target(e) == body_end:
            kinds["branch-to-end"] += 1
    return Program(-1, len(listing), image, listing, body_start, body_end,
                   reg_init + [DATA_BASE], mscratch_init & M64, bytes(data_init), kinds)


_AMO_ORDER = re.compile(r"\.(aq|rl|aqrl)$")


def _target(e: Entry) -> "int | None":
    m = re.search(r"\.([+-])(\d+)$", e.insn.text)
    if not m:
        return None
    return e.addr + int(m.group(1) + m.group(2))


def generate(seed: int, length: int = 200) -> bytes:
    """Raw binary image to be loaded and entered at 0x8000_0000 in M-mode."""
    return generate_program(seed, length).image


def parse_output(out: "bytes | str") -> dict:
    """Parse the console output into {'regs': {1: int, ...}, 'traps': int,
    'trap_log': [(mcause, mtval, mepc)], 'mscratch': int, 'mem': int,
    'end': bool}.  Raises ValueError on malformed output."""
    if isinstance(out, bytes):
        out = out.decode("ascii", "replace")
    res: dict = {"regs": {}, "trap_log": [], "end": False}
    for line in out.splitlines():
        if line.startswith("x") and "=" in line:
            n, v = line[1:].split("=", 1)
            res["regs"][int(n)] = int(v, 16)
        elif line.startswith("traps="):
            res["traps"] = int(line[6:])
        elif line.startswith("trap "):
            f = dict(kv.split("=") for kv in line[5:].split())
            res["trap_log"].append((int(f["mcause"], 16), int(f["mtval"], 16), int(f["mepc"], 16)))
        elif line.startswith("mscratch="):
            res["mscratch"] = int(line[9:], 16)
        elif line.startswith("mem="):
            res["mem"] = int(line[4:], 16)
        elif line == "end":
            res["end"] = True
        elif line:
            raise ValueError(f"unexpected output line {line!r}")
    return res


# ---------------------------------------------------------------------------
# CLI


def _stats(seeds: Iterable[int], length: int) -> int:
    seeds = list(seeds)
    total: collections.Counter = collections.Counter()
    sizes = []
    for s in seeds:
        p = generate_program(s, length)
        total.update(p.kinds)
        sizes.append(len(p.image))
    width = max(len(k) for k in ALL_KINDS)
    missing = []
    for k in ALL_KINDS:
        flag = "" if total[k] >= 3 else "   <-- RARE"
        if flag:
            missing.append(k)
        print(f"{k:<{width}} {total[k]:7d}{flag}")
    extra = sorted(set(total) - set(ALL_KINDS))
    for k in extra:
        print(f"{k:<{width}} {total[k]:7d}   (untracked)")
    print(f"# seeds={len(seeds)} length={length} image bytes min/max={min(sizes)}/{max(sizes)}")
    if missing:
        print(f"# {len(missing)} kinds generated fewer than 3 times: {' '.join(missing)}")
        return 1
    return 0


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.difftest.rvgen", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--length", type=int, default=200, help="number of random body instructions")
    ap.add_argument("-o", "--output", help="write the raw image here")
    ap.add_argument("--disasm", action="store_true", help="print a listing of the whole program")
    ap.add_argument("--body-only", action="store_true", help="with --disasm: only the random body")
    ap.add_argument("--stats", action="store_true",
                    help="print a histogram of generated kinds over --seeds seeds (from --seed)")
    ap.add_argument("--seeds", type=int, default=200, help="number of seeds for --stats")
    ap.add_argument("--run", action="store_true", help="run the image on QEMU and print its output")
    args = ap.parse_args(argv)

    if args.stats:
        return _stats(range(args.seed, args.seed + args.seeds), args.length)
    prog = generate_program(args.seed, args.length)
    if args.output:
        with open(args.output, "wb") as f:
            f.write(prog.image)
    if args.disasm:
        print(prog.disasm(body_only=args.body_only))
    if args.run:
        from .reference import run_qemu
        out, rc = run_qemu(prog.image)
        sys.stdout.write(out.decode("ascii", "replace"))
        print(f"# qemu exit code {rc}")
        return 0 if rc == 0 else 1
    if not (args.output or args.disasm):
        print(f"# {len(prog.image)} bytes; use -o FILE, --disasm, --run or --stats", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
