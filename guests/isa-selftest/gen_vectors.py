#!/usr/bin/env python3
"""Generate isa-selftest/vectors.h: expected results for the table-driven
checks, computed from a small reference model of the RV64IMA semantics
written straight from the ISA manual. The build does not run this script;
vectors.h is checked in. Regenerate with:

    python3 isa-selftest/gen_vectors.py > isa-selftest/vectors.h
"""

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1


def s64(x):
    x &= M64
    return x - (1 << 64) if x >> 63 else x


def s32(x):
    x &= M32
    return x - (1 << 32) if x >> 31 else x


def sext32(x):
    return s32(x) & M64


def u(x):
    return x & M64


def tdiv(a, b):
    """Signed division rounding toward zero (a, b Python ints, b != 0)."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


INT64_MIN = 1 << 63
INT32_MIN = 1 << 31


def div(a, b):
    a, b = s64(a), s64(b)
    if b == 0:
        return M64
    if a == -(1 << 63) and b == -1:
        return INT64_MIN
    return u(tdiv(a, b))


def rem(a, b):
    a, b = s64(a), s64(b)
    if b == 0:
        return u(a)
    if a == -(1 << 63) and b == -1:
        return 0
    return u(a - tdiv(a, b) * b)


def divw(a, b):
    a, b = s32(a), s32(b)
    if b == 0:
        return M64
    if a == -(1 << 31) and b == -1:
        return sext32(INT32_MIN)
    return sext32(tdiv(a, b))


def remw(a, b):
    a, b = s32(a), s32(b)
    if b == 0:
        return sext32(a)
    if a == -(1 << 31) and b == -1:
        return 0
    return sext32(a - tdiv(a, b) * b)


def divuw(a, b):
    a, b = a & M32, b & M32
    return M64 if b == 0 else sext32(a // b)


def remuw(a, b):
    a, b = a & M32, b & M32
    return sext32(a if b == 0 else a % b)


RR = {
    # RV64I
    "add": lambda a, b: u(a + b),
    "sub": lambda a, b: u(a - b),
    "sll": lambda a, b: u(a << (b & 63)),
    "slt": lambda a, b: int(s64(a) < s64(b)),
    "sltu": lambda a, b: int(a < b),
    "xor": lambda a, b: a ^ b,
    "srl": lambda a, b: a >> (b & 63),
    "sra": lambda a, b: u(s64(a) >> (b & 63)),
    "or": lambda a, b: a | b,
    "and": lambda a, b: a & b,
    "addw": lambda a, b: sext32(a + b),
    "subw": lambda a, b: sext32(a - b),
    "sllw": lambda a, b: sext32(a << (b & 31)),
    "srlw": lambda a, b: sext32((a & M32) >> (b & 31)),
    "sraw": lambda a, b: sext32(s32(a) >> (b & 31)),
    # M
    "mul": lambda a, b: u(a * b),
    "mulh": lambda a, b: u((s64(a) * s64(b)) >> 64),
    "mulhsu": lambda a, b: u((s64(a) * b) >> 64),
    "mulhu": lambda a, b: u((a * b) >> 64),
    "mulw": lambda a, b: sext32(a * b),
    "div": div,
    "divu": lambda a, b: M64 if b == 0 else a // b,
    "rem": rem,
    "remu": lambda a, b: a if b == 0 else a % b,
    "divw": divw,
    "divuw": divuw,
    "remw": remw,
    "remuw": remuw,
}

RR_GROUPS = [
    ("alu", ["add", "sub", "sll", "slt", "sltu", "xor", "srl", "sra", "or", "and"]),
    ("alu-w", ["addw", "subw", "sllw", "srlw", "sraw"]),
    ("mul", ["mul", "mulh", "mulhsu", "mulhu", "mulw"]),
    ("div", ["div", "divu", "rem", "remu", "divw", "divuw", "remw", "remuw"]),
]

# Cross-product operand pool (every op is checked on all 64 pairs).
POOL = [0, 1, M64, INT64_MIN, INT64_MIN - 1, 0xffffffff80000000,
        0x0000000080000000, 0x123456789abcdef0]

SHIFT_A = [0x89abcdef87654321, 0x7edcba9812345678]
SHIFT_B = [0, 1, 31, 32, 33, 63, 64, 65, 0x7f, M64, 0xffffffffffffffc0,
           0x20, 0x1f]
SHIFT_OPS = ["sll", "srl", "sra", "sllw", "srlw", "sraw"]

# Extra curated pairs per op (on top of the cross product).
EXTRA = {
    "add": [(0x7fffffff, 1), (M64, M64)],
    "sub": [(0, 1), (0x80000000, 1)],
    "slt": [(M64, 0), (0, M64), (0x7fffffff, 0x80000000), (M64 - 1, M64)],
    "sltu": [(M64, 0), (0, M64), (M64 - 1, M64)],
    "addw": [(0x7fffffff, 1), (0xffffffff, 1), (0x00000001ffffffff, 0),
             (0x123456787fffffff, 0x1)],
    "subw": [(0x80000000, 1), (0, 1), (0xdeadbeef00000000, 0xcafebabe00000001)],
    "mul": [(0x123456789abcdef0, 0xfedcba9876543210), (M64, 2),
            (0x100000000, 0x100000000)],
    "mulh": [(0x123456789abcdef0, 0xfedcba9876543210), (M64, 2), (2, M64),
             (0x100000000, 0x100000000)],
    "mulhsu": [(0x123456789abcdef0, 0xfedcba9876543210), (M64, 2), (2, M64),
               (0xfedcba9876543210, 0x123456789abcdef0)],
    "mulhu": [(0x123456789abcdef0, 0xfedcba9876543210), (M64, 2),
              (0x100000000, 0x100000000)],
    "mulw": [(0x7fffffff, 2), (0x7fffffff, 0x7fffffff),
             (0xdeadbeef00010000, 0xcafebabe00010000), (0x80000000, M64)],
    "div": [(7, 2), (u(-7), 2), (7, u(-2)), (u(-7), u(-2)), (7, 0),
            (u(-1), 0), (5, 7), (u(-5), 7)],
    "rem": [(7, 2), (u(-7), 2), (7, u(-2)), (u(-7), u(-2)), (7, 0),
            (u(-1), 0), (5, 7), (u(-5), 7)],
    "divu": [(7, 2), (u(-7), 2), (7, u(-2)), (7, 0), (M64, 3)],
    "remu": [(7, 2), (u(-7), 2), (7, u(-2)), (7, 0), (M64, 3)],
    "divw": [(7, 2), (u(-7), 2), (7, u(-2)), (u(-7), u(-2)), (7, 0),
             (0xffffffff80000000, M64), (0x1234567880000000, 0xabcdef00ffffffff),
             (0xdeadbeef00000010, 0xcafebabe00000003), (0x7fffffff, 0)],
    "remw": [(7, 2), (u(-7), 2), (7, u(-2)), (u(-7), u(-2)), (7, 0),
             (0xffffffff80000000, M64), (0x1234567880000000, 0xabcdef00ffffffff),
             (0xdeadbeef00000010, 0xcafebabe00000003), (0xdeadbeef80000001, 0)],
    "divuw": [(7, 2), (0xffffffff, 2), (7, 0), (0xdeadbeef00000010, 0xcafebabe00000003),
              (0x80000000, 1), (0xffffffff, 0xffffffff)],
    "remuw": [(7, 2), (0xffffffff, 2), (7, 0), (0xdeadbeef80000010, 0xcafebabe00000000),
              (0xdeadbeef00000010, 0xcafebabe00000003), (0x80000001, 0x80000000)],
}

# ---- immediate forms --------------------------------------------------

def sx12(imm):
    return u(imm)


RI = {
    "addi": lambda a, i: u(a + i),
    "slti": lambda a, i: int(s64(a) < i),
    "sltiu": lambda a, i: int(a < u(i)),
    "xori": lambda a, i: a ^ u(i),
    "ori": lambda a, i: a | u(i),
    "andi": lambda a, i: a & u(i),
    "slli": lambda a, i: u(a << i),
    "srli": lambda a, i: a >> i,
    "srai": lambda a, i: u(s64(a) >> i),
    "addiw": lambda a, i: sext32(a + i),
    "slliw": lambda a, i: sext32(a << i),
    "srliw": lambda a, i: sext32((a & M32) >> i),
    "sraiw": lambda a, i: sext32(s32(a) >> i),
}

IMM12 = [0, 1, -1, 2047, -2048, 0x555, -0x556]
RI_A = [0, 1, M64, INT64_MIN, INT64_MIN - 1, 0xffffffff80000000, 0x7fffffff,
        0x123456789abcdef0]
RI_CASES = {
    "addi": (RI_A, IMM12),
    "slti": ([0, 1, M64, INT64_MIN, INT64_MIN - 1, 0x7ff, u(-2048), u(-2049)],
             [0, 1, -1, 2047, -2048]),
    "sltiu": ([0, 1, M64, M64 - 1, 0x7ff, 0x800, u(-2048), u(-2049)],
              [0, 1, -1, 2047, -2048]),
    "xori": ([0, M64, 0x123456789abcdef0], IMM12),
    "ori": ([0, 0x123456789abcdef0, INT64_MIN], IMM12),
    "andi": ([M64, 0x123456789abcdef0, INT64_MIN - 1], IMM12),
    "slli": ([0x89abcdef87654321, 1], [0, 1, 31, 32, 63]),
    "srli": ([0x89abcdef87654321, M64], [0, 1, 31, 32, 63]),
    "srai": ([0x89abcdef87654321, 0x7edcba9812345678], [0, 1, 31, 32, 63]),
    "addiw": ([0, 0x7fffffff, 0xffffffff, 0x123456789abcdef0, 0xffffffff80000000,
               0x00000000ffffffff],
              [0, 1, -1, 2047, -2048]),
    "slliw": ([0x89abcdef87654321, 0x7edcba9812345678, 1], [0, 1, 16, 31]),
    "srliw": ([0x89abcdef87654321, 0x7edcba9812345678, 0x0000000080000000],
              [0, 1, 16, 31]),
    "sraiw": ([0x89abcdef87654321, 0x7edcba9812345678, 0x0000000080000000],
              [0, 1, 16, 31]),
}
RI_GROUPS = [
    ("alu", ["addi", "slti", "sltiu", "xori", "ori", "andi", "slli", "srli",
             "srai"]),
    ("alu-w", ["addiw", "slliw", "srliw", "sraiw"]),
]

# lui: rd = sext32(imm20 << 12)
LUI_IMMS = [0, 1, 0x7ffff, 0x80000, 0xfffff, 0x12345, 0xabcde]

# ---- branches ---------------------------------------------------------

BR = {
    "beq": lambda a, b: a == b,
    "bne": lambda a, b: a != b,
    "blt": lambda a, b: s64(a) < s64(b),
    "bge": lambda a, b: s64(a) >= s64(b),
    "bltu": lambda a, b: a < b,
    "bgeu": lambda a, b: a >= b,
}
BR_POOL = [0, 1, M64, INT64_MIN, INT64_MIN - 1, 0xffffffff80000000,
           0x0000000080000000]

# ---- loads / stores ---------------------------------------------------

MEM_PATTERN = [0x01, 0x82, 0x43, 0xf4, 0x15, 0x96, 0x27, 0xa8,
               0x79, 0xea, 0x6b, 0xdc, 0x5d, 0xce, 0x3f, 0xb0]


def load(op, off):
    size = {"lb": 1, "lbu": 1, "lh": 2, "lhu": 2, "lw": 4, "lwu": 4, "ld": 8}[op]
    v = int.from_bytes(bytes(MEM_PATTERN[off:off + size]), "little")
    if op in ("lb", "lh", "lw"):
        bits = size * 8
        if v >> (bits - 1):
            v -= 1 << bits
    return u(v)


LOADS = [("lb", range(16)), ("lbu", range(16)), ("lh", range(15)),
         ("lhu", range(15)), ("lw", range(13)), ("lwu", range(13)),
         ("ld", range(9))]

STORE_VALUE = 0x1122334455667788
STORES = [("sb", [0, 1, 7, 8, 15]), ("sh", [0, 2, 6, 14, 1, 7]),
          ("sw", [0, 4, 12, 2, 6, 11]), ("sd", [0, 8, 4, 3, 1])]


def store(op, off):
    size = {"sb": 1, "sh": 2, "sw": 4, "sd": 8}[op]
    m = list(MEM_PATTERN)
    m[off:off + size] = list(STORE_VALUE.to_bytes(8, "little")[:size])
    return (int.from_bytes(bytes(m[:8]), "little"),
            int.from_bytes(bytes(m[8:]), "little"))

# ---- AMOs ---------------------------------------------------------------

AMO = {
    "amoswap": lambda m, r, w: r,
    "amoadd": lambda m, r, w: m + r,
    "amoxor": lambda m, r, w: m ^ r,
    "amoand": lambda m, r, w: m & r,
    "amoor": lambda m, r, w: m | r,
    "amomin": lambda m, r, w: m if sgn(m, w) <= sgn(r, w) else r,
    "amomax": lambda m, r, w: m if sgn(m, w) >= sgn(r, w) else r,
    "amominu": lambda m, r, w: m if trunc(m, w) <= trunc(r, w) else r,
    "amomaxu": lambda m, r, w: m if trunc(m, w) >= trunc(r, w) else r,
}


def trunc(x, w):
    return x & (M32 if w else M64)


def sgn(x, w):
    return s32(x) if w else s64(x)


AMO_W_MEM = [0x1111111180000000, 0x222222227fffffff, 0x33333333ffffffff,
             0x4444444400000005]
AMO_W_RS2 = [0xdeadbeef00000001, 0x00000000ffffffff, 0x0000000080000000,
             0x5555555500000007]
AMO_D_MEM = [INT64_MIN, INT64_MIN - 1, M64, 5]
AMO_D_RS2 = [1, M64, INT64_MIN, 0x7fffffff00000000]


def amo(op, mem, rs2, w):
    """Returns (rd, new 64-bit cell) for an AMO on the low word/dword."""
    if w:
        old = mem & M32
        new = trunc(AMO[op](old, rs2 & M32, True), True)
        return sext32(old), (mem & ~M32 & M64) | new
    new = trunc(AMO[op](mem, rs2, False), False)
    return mem, new

# ---- output -------------------------------------------------------------
#
# To keep the ELF small every 64-bit value is stored once in V[] and the
# tables hold uint16_t indices into it.

def hx(v):
    return f"0x{u(v):016x}ULL"


def ident(v):
    return f"m{-v}" if v < 0 else str(v)


class Values:
    def __init__(self):
        self.index = {}

    def __call__(self, v):
        v = u(v)
        if v not in self.index:
            self.index[v] = len(self.index)
        return self.index[v]


def main():
    V = Values()
    body = []
    p = body.append

    p(f"#define POOL_N {len(POOL)}")
    p("static const uint16_t pool[POOL_N] = { " +
      ", ".join(str(V(v)) for v in POOL) + " };")
    p("")
    for _, ops in RR_GROUPS:
        for op in ops:
            p(f"static const uint16_t cross_{op}[POOL_N * POOL_N] = {{")
            for a in POOL:
                p("    " + ", ".join(str(V(RR[op](a, b))) for b in POOL) + ",")
            p("};")
            vecs = list(EXTRA.get(op, []))
            if op in SHIFT_OPS:
                vecs += [(a, b) for a in SHIFT_A for b in SHIFT_B]
            p(f"static const uint16_t extra_{op}[][3] = {{")
            for a, b in vecs:
                p(f"    {{ {V(a)}, {V(b)}, {V(RR[op](a, b))} }},")
            p("};")
            p(f"#define N_EXTRA_{op} {len(vecs)}")
            p("")

    # immediate forms: one tiny function per (op, imm), cases index them
    fns = []
    for group, ops in RI_GROUPS:
        for op in ops:
            for i in RI_CASES[op][1]:
                fns.append((op, i))
    p("/* RI_FN(op, imm, id) defines ri_<op>_<id>(a) = op(a, imm) */")
    for op, i in fns:
        p(f"RI_FN({op}, {i}, {ident(i)})")
    p("static uint64_t (*const ri_fn[])(uint64_t) = {")
    for op, i in fns:
        p(f"    ri_{op}_{ident(i)},")
    p("};")
    p("static const char *const ri_name[] = {")
    for op, i in fns:
        p(f'    "{op}",')
    p("};")
    p("static const int16_t ri_imm[] = {")
    p("    " + ", ".join(str(i) for _, i in fns))
    p("};")
    for group, ops in RI_GROUPS:
        fn = group.replace("-", "_")
        cases = []
        for op in ops:
            As, imms = RI_CASES[op]
            for a in As:
                for i in imms:
                    cases.append((fns.index((op, i)), V(a), V(RI[op](a, i))))
        p(f"static const uint16_t ri_cases_{fn}[][3] = {{")
        for c in cases:
            p(f"    {{ {c[0]}, {c[1]}, {c[2]} }},")
        p("};")
    p("")
    p("static void lui_vectors(void)")
    p("{")
    for imm in LUI_IMMS:
        p(f"    LUI(0x{imm:05x}, {hx(sext32(imm << 12))});")
    p("}")
    p("")
    p(f"#define BR_POOL_N {len(BR_POOL)}")
    p("static const uint64_t br_pool[BR_POOL_N] = {")
    for v in BR_POOL:
        p(f"    {hx(v)},")
    p("};")
    for op, f in BR.items():
        mask = 0
        for i, a in enumerate(BR_POOL):
            for j, b in enumerate(BR_POOL):
                if f(a, b):
                    mask |= 1 << (i * len(BR_POOL) + j)
        p(f"#define BR_TAKEN_{op} {hx(mask)}")
    p("")
    p("/* ldbuf[] in main.c holds this pattern: */")
    p("/* " + " ".join(f"{b:02x}" for b in MEM_PATTERN) + " */")
    for op, offs in LOADS:
        p(f"static const uint64_t load_{op}[{len(offs)}] = {{")
        p("    " + ", ".join(hx(load(op, o)) for o in offs))
        p("};")
    p(f"#define STORE_VALUE {hx(STORE_VALUE)}")
    for op, offs in STORES:
        p(f"static const struct store_vec store_{op}[] = {{")
        for o in offs:
            lo, hi = store(op, o)
            p(f"    {{ {o}, {hx(lo)}, {hx(hi)} }},")
        p("};")
    p("")
    for w, mems, rs2s in ((True, AMO_W_MEM, AMO_W_RS2), (False, AMO_D_MEM, AMO_D_RS2)):
        sfx = "w" if w else "d"
        p(f"static const uint16_t amo_mem_{sfx}[4] = {{ " + ", ".join(str(V(v)) for v in mems) + " };")
        p(f"static const uint16_t amo_rs2_{sfx}[4] = {{ " + ", ".join(str(V(v)) for v in rs2s) + " };")
        for op in AMO:
            p(f"/* {op}.{sfx}: {{ rd, memory }} for mem[i] x rs2[j] */")
            p(f"static const uint16_t amo_exp_{op}_{sfx}[16][2] = {{")
            for m in mems:
                for r in rs2s:
                    rd, nm = amo(op, m, r, w)
                    p(f"    {{ {V(rd)}, {V(nm)} }},")
            p("};")

    out = []
    out.append("/* Generated by gen_vectors.py -- do not edit. Expected values come from")
    out.append(" * the reference model in that script (RV64IMA semantics per the ISA")
    out.append(" * manual). Tables hold uint16_t indices into V[]. */")
    out.append("")
    out.append(f"static const uint64_t V[{len(V.index)}] = {{")
    for v in V.index:
        out.append(f"    {hx(v)},")
    out.append("};")
    out.append("")
    print("\n".join(out + body))


if __name__ == "__main__":
    main()
