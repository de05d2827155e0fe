"""The user ISA's semantics, written once (DESIGN.md §2 "User ISA vs system ISA").

Each instruction is a *template*: a few lines of Python over symbolic operands.
Execution backends turn templates into code: the reference interpreter
(:mod:`.interp`) compiles one closure factory per template at import time and
instantiates a closure per decoded instruction; a translating backend can paste
the same text into a whole basic block. Nothing here touches privileged state:
memory accesses that leave the fast path call the MMU's slow paths (``ld``,
``st``, ``amo``, ``lr``, ``sc``) and system instructions call into
:mod:`.system` (``fn``), which is where trap-and-emulate happens.

Names available to a template:

``R``             the register list (unsigned 64-bit values; x0 reads 0, writes
                  go to the sink slot 32)
``rd rs1 rs2``    register indices;  ``imm`` the sign-extended immediate
``v``             a value precomputed at decode time (see :func:`precompute`)
``t`` ``n``       branch/jump target and the next sequential pc
``pc`` ``idx``    the instruction's address and its index in the block
``inst``          the raw instruction bits (for tval)
memory            ``d`` (= imm - RAM base), ``K1..K8`` (range+alignment masks),
                  typed RAM views, ``hooks``/``hw`` (the store hook), ``tr``/``tw``
                  (TLB lookups) — see :func:`memory_templates`.

Every template is straight-line code; terminators end with ``return <next pc>``.
"""

from __future__ import annotations

from .memory import PAGE_SHIFT, RAM_BASE

M64 = 0xFFFFFFFFFFFFFFFF
SIGN64 = 0x8000000000000000

# Template kinds.
ALU = "alu"        # falls through to the next instruction
MEM = "mem"        # falls through; may leave the fast path
BRANCH = "branch"  # ends the block, returns the next pc
SYSTEM = "system"  # ends the block and hands control to the system layer
TRAP = "trap"      # always raises (illegal instruction)


def _sx32(expr: str) -> str:
    """Sign-extend the low 32 bits of ``expr`` to an unsigned 64-bit value."""
    return f"((((({expr}) & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000) & {M64:#x})"


def _s32(expr: str) -> str:
    """Interpret the low 32 bits of ``expr`` as a signed integer."""
    return f"(((({expr}) & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000)"


def _s64(expr: str) -> str:
    """Interpret an unsigned 64-bit value as signed."""
    return f"((({expr}) ^ {SIGN64:#x}) - {SIGN64:#x})"


_M = f"{M64:#x}"

ALU_TEMPLATES: dict[str, str] = {
    "lui": "R[rd] = v",
    "auipc": "R[rd] = v",
    "addi": f"R[rd] = (R[rs1] + imm) & {_M}",
    "slti": f"R[rd] = 1 if (R[rs1] ^ {SIGN64:#x}) < v else 0",
    "sltiu": "R[rd] = 1 if R[rs1] < v else 0",
    "xori": "R[rd] = R[rs1] ^ v",
    "ori": "R[rd] = R[rs1] | v",
    "andi": "R[rd] = R[rs1] & v",
    "slli": f"R[rd] = (R[rs1] << imm) & {_M}",
    "srli": "R[rd] = R[rs1] >> imm",
    "srai": f"R[rd] = ({_s64('R[rs1]')} >> imm) & {_M}",
    "addiw": f"R[rd] = {_sx32('R[rs1] + imm')}",
    "slliw": f"R[rd] = {_sx32('R[rs1] << imm')}",
    "srliw": f"R[rd] = {_sx32('(R[rs1] & 0xFFFFFFFF) >> imm')}",
    "sraiw": f"R[rd] = ({_s32('R[rs1]')} >> imm) & {_M}",
    "add": f"R[rd] = (R[rs1] + R[rs2]) & {_M}",
    "sub": f"R[rd] = (R[rs1] - R[rs2]) & {_M}",
    "sll": f"R[rd] = (R[rs1] << (R[rs2] & 63)) & {_M}",
    "slt": f"R[rd] = 1 if (R[rs1] ^ {SIGN64:#x}) < (R[rs2] ^ {SIGN64:#x}) else 0",
    "sltu": "R[rd] = 1 if R[rs1] < R[rs2] else 0",
    "xor": "R[rd] = R[rs1] ^ R[rs2]",
    "srl": "R[rd] = R[rs1] >> (R[rs2] & 63)",
    "sra": f"R[rd] = ({_s64('R[rs1]')} >> (R[rs2] & 63)) & {_M}",
    "or": "R[rd] = R[rs1] | R[rs2]",
    "and": "R[rd] = R[rs1] & R[rs2]",
    "addw": f"R[rd] = {_sx32('R[rs1] + R[rs2]')}",
    "subw": f"R[rd] = {_sx32('R[rs1] - R[rs2]')}",
    "sllw": f"R[rd] = {_sx32('R[rs1] << (R[rs2] & 31)')}",
    "srlw": f"R[rd] = {_sx32('(R[rs1] & 0xFFFFFFFF) >> (R[rs2] & 31)')}",
    "sraw": f"R[rd] = ({_s32('R[rs1]')} >> (R[rs2] & 31)) & {_M}",
    "mul": f"R[rd] = (R[rs1] * R[rs2]) & {_M}",
    "mulh": f"R[rd] = (({_s64('R[rs1]')} * {_s64('R[rs2]')}) >> 64) & {_M}",
    "mulhsu": f"R[rd] = (({_s64('R[rs1]')} * R[rs2]) >> 64) & {_M}",
    "mulhu": "R[rd] = (R[rs1] * R[rs2]) >> 64",
    "div": (
        "b = R[rs2]\n"
        "if b:\n"
        f"    a = {_s64('R[rs1]')}\n"
        f"    b = {_s64('b')}\n"
        "    q = abs(a) // abs(b)\n"
        f"    R[rd] = (-q if (a < 0) != (b < 0) else q) & {_M}\n"
        "else:\n"
        f"    R[rd] = {_M}"
    ),
    "divu": f"b = R[rs2]\nR[rd] = R[rs1] // b if b else {_M}",
    "rem": (
        "b = R[rs2]\n"
        "if b:\n"
        f"    a = {_s64('R[rs1]')}\n"
        f"    r = abs(a) % abs({_s64('b')})\n"
        f"    R[rd] = (-r if a < 0 else r) & {_M}\n"
        "else:\n"
        "    R[rd] = R[rs1]"
    ),
    "remu": "b = R[rs2]\nR[rd] = R[rs1] % b if b else R[rs1]",
    "mulw": f"R[rd] = {_sx32('R[rs1] * R[rs2]')}",
    "divw": (
        "b = R[rs2] & 0xFFFFFFFF\n"
        "if b:\n"
        "    a = ((R[rs1] & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000\n"
        "    b = (b ^ 0x80000000) - 0x80000000\n"
        "    q = abs(a) // abs(b)\n"
        f"    R[rd] = {_sx32('-q if (a < 0) != (b < 0) else q')}\n"
        "else:\n"
        f"    R[rd] = {_M}"
    ),
    "divuw": (
        "b = R[rs2] & 0xFFFFFFFF\n"
        f"R[rd] = {_sx32('(R[rs1] & 0xFFFFFFFF) // b')} if b else {_M}"
    ),
    "remw": (
        "b = R[rs2] & 0xFFFFFFFF\n"
        "if b:\n"
        "    a = ((R[rs1] & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000\n"
        "    r = abs(a) % abs((b ^ 0x80000000) - 0x80000000)\n"
        f"    R[rd] = {_sx32('-r if a < 0 else r')}\n"
        "else:\n"
        f"    R[rd] = {_sx32('R[rs1]')}"
    ),
    "remuw": (
        "b = R[rs2] & 0xFFFFFFFF\n"
        f"R[rd] = {_sx32('(R[rs1] & 0xFFFFFFFF) % b')} if b else {_sx32('R[rs1]')}"
    ),
    "fence": "pass",
}

BRANCH_TEMPLATES: dict[str, str] = {
    "beq": "return t if R[rs1] == R[rs2] else n",
    "bne": "return t if R[rs1] != R[rs2] else n",
    "blt": f"return t if (R[rs1] ^ {SIGN64:#x}) < (R[rs2] ^ {SIGN64:#x}) else n",
    "bge": f"return t if (R[rs1] ^ {SIGN64:#x}) >= (R[rs2] ^ {SIGN64:#x}) else n",
    "bltu": "return t if R[rs1] < R[rs2] else n",
    "bgeu": "return t if R[rs1] >= R[rs2] else n",
    "jal": "R[rd] = n\nreturn t",
    "jalr": "j = (R[rs1] + imm) & 0xFFFFFFFFFFFFFFFE\nR[rd] = n\nreturn j",
}

# System instructions: ``fn`` is the system layer's handler for the instruction;
# it returns the next pc (or raises a Trap) and the block ends after it.
SYSTEM_NAMES = (
    "ecall", "ebreak", "mret", "sret", "wfi", "sfence.vma", "fence.i",
    "csrrw", "csrrs", "csrrc", "csrrwi", "csrrsi", "csrrci",
)
SYSTEM_TEMPLATE = "return fn(inst, pc, idx, n)"

TRAP_TEMPLATE = "raise Trap(2, inst, pc, idx)"

# Atomics go through the MMU's read-modify-write slow path.
AMO_OPS = ("amoadd", "amoswap", "amoxor", "amoor", "amoand", "amomin", "amomax", "amominu", "amomaxu")
AMO_TEMPLATE = "amo(aop, size, rd, R[rs1], R[rs2], pc, idx, n)"
LR_TEMPLATE = "lr(size, rd, R[rs1], pc, idx)"
SC_TEMPLATE = "sc(size, rd, R[rs1], R[rs2], pc, idx, n)"

# (width in bytes, view name, signed) for each load; (width, view) for stores.
LOADS = {
    "lb": (1, "s8", True), "lh": (2, "s16", True), "lw": (4, "s32", True), "ld": (8, "u64", False),
    "lbu": (1, "u8", False), "lhu": (2, "u16", False), "lwu": (4, "u32", False),
}
STORES = {"sb": (1, "u8"), "sh": (2, "u16"), "sw": (4, "u32"), "sd": (8, "u64")}
_SHIFT = {1: 0, 2: 1, 4: 2, 8: 3}
_TRUNC = {1: " & 0xFF", 2: " & 0xFFFF", 4: " & 0xFFFFFFFF", 8: ""}

# Data-access regimes (see node.machine.mmu): physical with no checks, or
# through the software TLB (translation and/or PMP checks).
BARE = "bare"
TLB = "tlb"


def _index(expr: str, width: int) -> str:
    shift = _SHIFT[width]
    return f"{expr} >> {shift}" if shift else expr


def load_template(name: str, regime: str) -> str:
    width, view, signed = LOADS[name]
    post = f" & {_M}" if signed else ""
    if regime == BARE:
        return (
            "o = R[rs1] + d\n"
            f"if not o & K{width}:\n"
            f"    R[rd] = {view}[{_index('o', width)}]{post}\n"
            "else:\n"
            f"    R[rd] = ld((R[rs1] + imm) & {_M}, {width}, {signed}, pc, idx)"
        )
    align = f" and not a & {width - 1}" if width > 1 else ""
    return (
        f"a = (R[rs1] + imm) & {_M}\n"
        f"e = tr(a >> {PAGE_SHIFT})\n"
        f"if e is not None{align}:\n"
        f"    R[rd] = {view}[{_index('(a + e)', width)}]{post}\n"
        "else:\n"
        f"    R[rd] = ld(a, {width}, {signed}, pc, idx)"
    )


def store_template(name: str, regime: str) -> str:
    width, view = STORES[name]
    trunc = _TRUNC[width]
    if regime == BARE:
        return (
            "o = R[rs1] + d\n"
            f"if not o & K{width}:\n"
            f"    {view}[{_index('o', width)}] = R[rs2]{trunc}\n"
            f"    if hooks[o >> {PAGE_SHIFT}] and hw(o, {width}):\n"
            "        raise SyncExit(n, idx)\n"
            f"elif st((R[rs1] + imm) & {_M}, {width}, R[rs2], pc, idx):\n"
            "    raise SyncExit(n, idx)"
        )
    align = f" and not a & {width - 1}" if width > 1 else ""
    return (
        f"a = (R[rs1] + imm) & {_M}\n"
        f"e = tw(a >> {PAGE_SHIFT})\n"
        f"if e is not None{align}:\n"
        "    o = a + e\n"
        f"    {view}[{_index('o', width)}] = R[rs2]{trunc}\n"
        f"    if hooks[o >> {PAGE_SHIFT}] and hw(o, {width}):\n"
        "        raise SyncExit(n, idx)\n"
        f"elif st(a, {width}, R[rs2], pc, idx):\n"
        "    raise SyncExit(n, idx)"
    )


def kind_of(name: str) -> str:
    if name in ALU_TEMPLATES:
        return ALU
    if name in BRANCH_TEMPLATES:
        return BRANCH
    if name in SYSTEM_NAMES:
        return SYSTEM
    return MEM


def template_for(name: str, regime: str) -> str:
    """The template text of instruction ``name`` for data regime ``regime``."""
    if name in ALU_TEMPLATES:
        return ALU_TEMPLATES[name]
    if name in BRANCH_TEMPLATES:
        return BRANCH_TEMPLATES[name]
    if name in SYSTEM_NAMES:
        return SYSTEM_TEMPLATE
    if name in LOADS:
        return load_template(name, regime)
    if name in STORES:
        return store_template(name, regime)
    if name.startswith("lr."):
        return LR_TEMPLATE
    if name.startswith("sc."):
        return SC_TEMPLATE
    if name.split(".")[0] in AMO_OPS:
        return AMO_TEMPLATE
    raise KeyError(f"no template for instruction {name!r}")


def precompute(name: str, imm: int, pc: int) -> int:
    """The decode-time constant ``v`` of an instruction."""
    if name == "lui":
        return imm & M64
    if name == "auipc":
        return (pc + imm) & M64
    if name == "slti":
        return (imm & M64) ^ SIGN64
    if name in ("sltiu", "xori", "ori", "andi"):
        return imm & M64
    return 0


def range_masks(ram_size: int) -> dict[str, int]:
    """``K<w>``: ``o & K<w> == 0`` iff RAM offset ``o`` is inside the largest
    power-of-two prefix of RAM and ``w``-aligned (one test instead of three);
    anything else takes the slow path, which handles all of RAM correctly."""
    span = 1 << (ram_size.bit_length() - 1)
    return {f"K{w}": ~(span - 1) | (w - 1) for w in (1, 2, 4, 8)}


def ram_delta(imm: int) -> int:
    return imm - RAM_BASE
