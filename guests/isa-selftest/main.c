/* isa-selftest: self-checking tests of the RV64IMAC + Zicsr + Zifencei
 * user-level instructions (plus the M-mode trap entry/return they need).
 *
 * Prints one line per group ("PASS <group> (<n> checks)" or FAIL lines with
 * got/want values followed by "FAIL <group> ..."), then a summary, and exits
 * 0 only if everything passed. Expected values are architectural (see
 * gen_vectors.py for the table-driven ones); nothing machine-specific such as
 * cycle counts is compared.
 */
#include "rt.h"

struct store_vec { uint64_t off, lo, hi; };

/* ------------------------------------------------------------------------
 * Framework
 * ---------------------------------------------------------------------- */

#define MAX_FAIL_LINES 8

static const char *group;
static unsigned g_checks, g_fails;
static unsigned n_checks, n_fails, n_groups, n_groups_failed;

/* Trap bookkeeping (filled by trap_hook). */
static volatile struct {
    uint64_t count, cause, epc, tval, mstatus, len;
} trap;

static void trap_clear(void)
{
    trap.count = trap.cause = trap.epc = trap.tval = trap.mstatus = trap.len = 0;
}

/* Every trap during the tests lands here (through the runtime's entry,
 * which saves/restores all registers). Synchronous exceptions are recorded
 * and skipped; anything we cannot skip is left to the fatal handler. */
static int trap_hook(struct rt_trap_frame *f)
{
    uint64_t cause = f->mcause;
    if (cause >> 63)
        return 0;                       /* interrupt: unexpected */
    if (cause == 0 || cause == 1 || cause == 12)
        return 0;                       /* cannot skip a bad fetch */
    uint16_t lo = *(volatile uint16_t *)(uintptr_t)f->mepc;
    uint64_t len = (lo & 3) == 3 ? 4 : 2;
    trap.count++;
    trap.cause = cause;
    trap.epc = f->mepc;
    trap.tval = f->mtval;
    trap.mstatus = f->mstatus;
    trap.len = len;
    f->mepc += len;
    return 1;
}

static void begin(const char *name)
{
    group = name;
    rt_trap_context = name;
    g_checks = g_fails = 0;
    trap_clear();
}

static void fail_prefix(void)
{
    rt_printf("FAIL %s: ", group);
}

static int check(uint64_t got, uint64_t want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int check(uint64_t got, uint64_t want, const char *fmt, ...)
{
    g_checks++;
    if (got == want)
        return 1;
    if (++g_fails <= MAX_FAIL_LINES) {
        va_list ap;
        va_start(ap, fmt);
        fail_prefix();
        rt_vprintf(fmt, ap);
        va_end(ap);
        rt_printf(" got 0x%lx want 0x%lx\n", (unsigned long)got,
                  (unsigned long)want);
    }
    return 0;
}

static void end(void)
{
    if (trap.count) {
        g_checks++;
        g_fails++;
        fail_prefix();
        rt_printf("%lu unexpected trap(s), last mcause=0x%lx mepc=0x%lx mtval=0x%lx\n",
                  (unsigned long)trap.count, (unsigned long)trap.cause,
                  (unsigned long)trap.epc, (unsigned long)trap.tval);
    }
    n_groups++;
    n_checks += g_checks;
    if (g_fails) {
        n_groups_failed++;
        n_fails += g_fails;
        rt_printf("FAIL %s (%u of %u checks failed)\n", group, g_fails, g_checks);
    } else {
        rt_printf("PASS %s (%u checks)\n", group, g_checks);
    }
    rt_trap_context = 0;
}

#define NO_ALT_CAUSE (~0ULL)

/* Check that exactly one trap with the given cause (or alt_cause, see the
 * misaligned-AMO note in group_trap) happened at `epc` and consume it.
 * tval is only compared if check_tval. */
static void expect_trap2(const char *what, uint64_t cause, uint64_t alt_cause,
                         const void *epc, uint64_t len, int check_tval,
                         uint64_t tval)
{
    check(trap.count, 1, "%s: trap count", what);
    check(trap.cause == alt_cause ? cause : trap.cause, cause, "%s: mcause", what);
    check(trap.epc, (uint64_t)(uintptr_t)epc, "%s: mepc", what);
    check(trap.len, len, "%s: instruction length", what);
    check((trap.mstatus >> 11) & 3, 3, "%s: mstatus.MPP", what);
    if (check_tval)
        check(trap.tval, tval, "%s: mtval", what);
    trap_clear();
}

static void expect_trap(const char *what, uint64_t cause, const void *epc,
                        uint64_t len, int check_tval, uint64_t tval)
{
    expect_trap2(what, cause, NO_ALT_CAUSE, epc, len, check_tval, tval);
}

/* Pointer arithmetic the compiler cannot see through (for base registers
 * deliberately pointing outside an object, with the offset in the insn). */
static inline uintptr_t opaque(uintptr_t x)
{
    __asm__ ("" : "+r"(x));
    return x;
}
#define OFFSET_PTR(p, off) ((void *)(opaque((uintptr_t)(p)) + (off)))

#define NORVC(s) ".option push\n\t.option norvc\n\t" s "\n\t.option pop"

/* ------------------------------------------------------------------------
 * Generated vectors
 * ---------------------------------------------------------------------- */

#define RI_FN(op, imm, id)                                                  \
    static uint64_t ri_##op##_##id(uint64_t a)                              \
    {                                                                       \
        uint64_t r;                                                         \
        __asm__ volatile (NORVC(#op " %0, %1, %2")                          \
                          : "=r"(r) : "r"(a), "i"(imm));                    \
        return r;                                                           \
    }

#define LUI(imm, want) do {                                                 \
        uint64_t _r;                                                        \
        __asm__ volatile (NORVC("lui %0, " #imm) : "=r"(_r));               \
        check(_r, (want), "lui(" #imm ")");                                 \
    } while (0)

#include "vectors.h"

/* ------------------------------------------------------------------------
 * Register-register ops (alu, alu-w, mul, div)
 * ---------------------------------------------------------------------- */

#define DEF_RR(op)                                                          \
    static uint64_t rr_##op(uint64_t a, uint64_t b)                         \
    {                                                                       \
        uint64_t r;                                                         \
        __asm__ volatile (NORVC(#op " %0, %1, %2")                          \
                          : "=r"(r) : "r"(a), "r"(b));                      \
        return r;                                                           \
    }

DEF_RR(add) DEF_RR(sub) DEF_RR(sll) DEF_RR(slt) DEF_RR(sltu)
DEF_RR(xor) DEF_RR(srl) DEF_RR(sra) DEF_RR(or) DEF_RR(and)
DEF_RR(addw) DEF_RR(subw) DEF_RR(sllw) DEF_RR(srlw) DEF_RR(sraw)
DEF_RR(mul) DEF_RR(mulh) DEF_RR(mulhsu) DEF_RR(mulhu) DEF_RR(mulw)
DEF_RR(div) DEF_RR(divu) DEF_RR(rem) DEF_RR(remu)
DEF_RR(divw) DEF_RR(divuw) DEF_RR(remw) DEF_RR(remuw)

struct rr_op {
    const char *name;
    uint64_t (*fn)(uint64_t, uint64_t);
    const uint16_t *cross;              /* indices into V[] */
    const uint16_t (*extra)[3];         /* { a, b, want } indices into V[] */
    unsigned n_extra;
};

#define RR_ENTRY(op) { #op, rr_##op, cross_##op, extra_##op, N_EXTRA_##op }

static const struct rr_op tab_alu[] = {
    RR_ENTRY(add), RR_ENTRY(sub), RR_ENTRY(sll), RR_ENTRY(slt), RR_ENTRY(sltu),
    RR_ENTRY(xor), RR_ENTRY(srl), RR_ENTRY(sra), RR_ENTRY(or), RR_ENTRY(and),
};
static const struct rr_op tab_alu_w[] = {
    RR_ENTRY(addw), RR_ENTRY(subw), RR_ENTRY(sllw), RR_ENTRY(srlw), RR_ENTRY(sraw),
};
static const struct rr_op tab_mul[] = {
    RR_ENTRY(mul), RR_ENTRY(mulh), RR_ENTRY(mulhsu), RR_ENTRY(mulhu), RR_ENTRY(mulw),
};
static const struct rr_op tab_div[] = {
    RR_ENTRY(div), RR_ENTRY(divu), RR_ENTRY(rem), RR_ENTRY(remu),
    RR_ENTRY(divw), RR_ENTRY(divuw), RR_ENTRY(remw), RR_ENTRY(remuw),
};

static void run_rr(const struct rr_op *ops, unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        const struct rr_op *op = &ops[k];
        for (unsigned i = 0; i < POOL_N; i++)
            for (unsigned j = 0; j < POOL_N; j++) {
                uint64_t a = V[pool[i]], b = V[pool[j]];
                check(op->fn(a, b), V[op->cross[i * POOL_N + j]],
                      "%s(0x%lx, 0x%lx)", op->name, (unsigned long)a,
                      (unsigned long)b);
            }
        for (unsigned i = 0; i < op->n_extra; i++) {
            uint64_t a = V[op->extra[i][0]], b = V[op->extra[i][1]];
            check(op->fn(a, b), V[op->extra[i][2]], "%s(0x%lx, 0x%lx)",
                  op->name, (unsigned long)a, (unsigned long)b);
        }
    }
}

static void run_ri(const uint16_t (*cases)[3], unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        unsigned f = cases[k][0];
        uint64_t a = V[cases[k][1]];
        check(ri_fn[f](a), V[cases[k][2]], "%s(0x%lx, %d)", ri_name[f],
              (unsigned long)a, ri_imm[f]);
    }
}
#define RUN_RI(cases) run_ri(cases, sizeof(cases) / sizeof(cases[0]))

/* x0 is hard-wired to zero whatever is written to it. */
static void check_x0(void)
{
    uint64_t r;
    __asm__ volatile (NORVC("li t0, 123\n\t"
                            "add x0, t0, t0\n\t"
                            "addi x0, t0, 1\n\t"
                            "lui x0, 0x12345\n\t"
                            "add %0, x0, x0")
                      : "=r"(r) : : "t0");
    check(r, 0, "writes to x0");
    __asm__ volatile (NORVC("li %0, 77\n\t"
                            "addi %0, x0, 0")
                      : "=&r"(r));
    check(r, 0, "read x0");
}

static void group_alu(void)
{
    begin("alu");
    run_rr(tab_alu, sizeof(tab_alu) / sizeof(tab_alu[0]));
    RUN_RI(ri_cases_alu);
    check_x0();
    end();
}

static void group_alu_w(void)
{
    begin("alu-w");
    run_rr(tab_alu_w, sizeof(tab_alu_w) / sizeof(tab_alu_w[0]));
    RUN_RI(ri_cases_alu_w);
    end();
}

static void group_mul(void)
{
    begin("mul");
    run_rr(tab_mul, sizeof(tab_mul) / sizeof(tab_mul[0]));
    end();
}

static void group_div(void)
{
    begin("div");
    run_rr(tab_div, sizeof(tab_div) / sizeof(tab_div[0]));
    end();
}

/* ------------------------------------------------------------------------
 * lui / auipc
 * ---------------------------------------------------------------------- */

#define AUIPC(imm) do {                                                     \
        uint64_t _r, _pc;                                                   \
        __asm__ volatile (NORVC("1: auipc %0, " #imm "\n\t"                 \
                                "lla %1, 1b")                               \
                          : "=&r"(_r), "=&r"(_pc));                         \
        uint64_t _off = (uint64_t)(int64_t)(int32_t)((uint32_t)(imm) << 12); \
        check(_r, _pc + _off, "auipc(" #imm ") at 0x%lx", (unsigned long)_pc); \
    } while (0)

static void group_upper(void)
{
    begin("lui-auipc");
    lui_vectors();
    AUIPC(0);
    AUIPC(1);
    AUIPC(0x7ffff);
    AUIPC(0x80000);
    AUIPC(0xfffff);
    AUIPC(0xff000);
    end();
}

/* ------------------------------------------------------------------------
 * Loads and stores
 * ---------------------------------------------------------------------- */

static const uint8_t ldbuf[16] __attribute__((aligned(16))) = {
    0x01, 0x82, 0x43, 0xf4, 0x15, 0x96, 0x27, 0xa8,
    0x79, 0xea, 0x6b, 0xdc, 0x5d, 0xce, 0x3f, 0xb0,
};

#define DEF_LOAD(op)                                                        \
    static uint64_t ld_##op(const void *p)                                  \
    {                                                                       \
        uint64_t r;                                                         \
        __asm__ volatile (NORVC(#op " %0, 0(%1)")                           \
                          : "=r"(r) : "r"(p) : "memory");                   \
        return r;                                                           \
    }
DEF_LOAD(lb) DEF_LOAD(lbu) DEF_LOAD(lh) DEF_LOAD(lhu)
DEF_LOAD(lw) DEF_LOAD(lwu) DEF_LOAD(ld)

#define DEF_STORE(op)                                                       \
    static void st_##op(void *p, uint64_t v)                                \
    {                                                                       \
        __asm__ volatile (NORVC(#op " %1, 0(%0)")                           \
                          : : "r"(p), "r"(v) : "memory");                   \
    }
DEF_STORE(sb) DEF_STORE(sh) DEF_STORE(sw) DEF_STORE(sd)

static const struct {
    const char *name;
    uint64_t (*fn)(const void *);
    const uint64_t *want;
    unsigned n;
} loads[] = {
    { "lb", ld_lb, load_lb, 16 }, { "lbu", ld_lbu, load_lbu, 16 },
    { "lh", ld_lh, load_lh, 15 }, { "lhu", ld_lhu, load_lhu, 15 },
    { "lw", ld_lw, load_lw, 13 }, { "lwu", ld_lwu, load_lwu, 13 },
    { "ld", ld_ld, load_ld, 9 },
};

static const struct {
    const char *name;
    void (*fn)(void *, uint64_t);
    const struct store_vec *v;
    unsigned n;
} stores[] = {
    { "sb", st_sb, store_sb, sizeof(store_sb) / sizeof(store_sb[0]) },
    { "sh", st_sh, store_sh, sizeof(store_sh) / sizeof(store_sh[0]) },
    { "sw", st_sw, store_sw, sizeof(store_sw) / sizeof(store_sw[0]) },
    { "sd", st_sd, store_sd, sizeof(store_sd) / sizeof(store_sd[0]) },
};

static volatile uint64_t stbuf[2] __attribute__((aligned(16)));
/* Two pages plus slack; aligned at run time (keeps the ELF free of a
 * 4 KiB-aligned section and its file padding). */
static uint8_t pagebuf_raw[3 * 4096] __attribute__((aligned(16)));

static void group_loadstore(void)
{
    begin("load-store");
    /* every load at every offset in a 16-byte pattern (incl. misaligned) */
    for (unsigned k = 0; k < sizeof(loads) / sizeof(loads[0]); k++)
        for (unsigned off = 0; off < loads[k].n; off++)
            check(loads[k].fn(ldbuf + off), loads[k].want[off], "%s at +%u",
                  loads[k].name, off);

    /* immediate offsets: extremes and negative */
    {
        uint64_t r;
        const uint8_t *p = OFFSET_PTR(ldbuf, 3 + 2048);
        __asm__ volatile (NORVC("lb %0, -2048(%1)") : "=r"(r) : "r"(p));
        check(r, load_lb[3], "lb -2048(rs1)");
        p = OFFSET_PTR(ldbuf, 11 - 2047);
        __asm__ volatile (NORVC("lbu %0, 2047(%1)") : "=r"(r) : "r"(p));
        check(r, load_lbu[11], "lbu 2047(rs1)");
        p = ldbuf + 16;
        __asm__ volatile (NORVC("lw %0, -4(%1)") : "=r"(r) : "r"(p));
        check(r, load_lw[12], "lw -4(rs1)");
        __asm__ volatile (NORVC("ld %0, -16(%1)") : "=r"(r) : "r"(p));
        check(r, load_ld[0], "ld -16(rs1)");
        __asm__ volatile (NORVC("lhu %0, -2(%1)") : "=r"(r) : "r"(p));
        check(r, load_lhu[14], "lhu -2(rs1)");
        /* rd == rs1 */
        __asm__ volatile (NORVC("mv %0, %1\n\tld %0, 8(%0)") : "=&r"(r) : "r"(ldbuf));
        check(r, load_ld[8], "ld rd==rs1");
    }

    /* every store width at aligned and misaligned offsets */
    const uint64_t pat_lo = load_ld[0], pat_hi = load_ld[8];
    for (unsigned k = 0; k < sizeof(stores) / sizeof(stores[0]); k++)
        for (unsigned i = 0; i < stores[k].n; i++) {
            const struct store_vec *v = &stores[k].v[i];
            stbuf[0] = pat_lo;
            stbuf[1] = pat_hi;
            stores[k].fn((uint8_t *)stbuf + v->off, STORE_VALUE);
            check(stbuf[0], v->lo, "%s at +%lu (bytes 0-7)", stores[k].name,
                  (unsigned long)v->off);
            check(stbuf[1], v->hi, "%s at +%lu (bytes 8-15)", stores[k].name,
                  (unsigned long)v->off);
        }
    /* negative and large store offsets */
    {
        stbuf[0] = 0;
        stbuf[1] = 0;
        uint8_t *p = (uint8_t *)stbuf + 16;
        __asm__ volatile (NORVC("sd %1, -8(%0)") : : "r"(p), "r"(0x0123456789abcdefULL) : "memory");
        check(stbuf[1], 0x0123456789abcdefULL, "sd -8(rs1)");
        p = OFFSET_PTR(stbuf, -2047);
        __asm__ volatile (NORVC("sb %1, 2047(%0)") : : "r"(p), "r"(0xffULL) : "memory");
        check(stbuf[0], 0xff, "sb 2047(rs1)");
        p = OFFSET_PTR(stbuf, 2048 + 4);
        __asm__ volatile (NORVC("sw %1, -2048(%0)") : : "r"(p), "r"(0xaabbccddeeff0011ULL) : "memory");
        check(stbuf[0], 0xeeff0011000000ffULL, "sw -2048(rs1)");
    }

    /* misaligned accesses crossing a page boundary */
    {
        uint8_t *pagebuf = (uint8_t *)(((uintptr_t)pagebuf_raw + 4095) & ~(uintptr_t)4095);
        uint8_t *edge = pagebuf + 4096;
        for (int i = -8; i < 8; i++)
            edge[i] = 0;
        st_sd(edge - 3, 0x8877665544332211ULL);
        check(ld_ld(edge - 3), 0x8877665544332211ULL, "ld/sd across page boundary");
        check(ld_lbu(edge - 3), 0x11, "byte 0 of page-crossing sd");
        check(ld_lbu(edge - 1), 0x33, "byte 2 of page-crossing sd");
        check(ld_lbu(edge), 0x44, "byte 3 of page-crossing sd");
        check(ld_lbu(edge + 4), 0x88, "byte 7 of page-crossing sd");
        check(ld_lw(edge - 2), 0xffffffff55443322ULL & 0x0000000055443322ULL,
              "lw across page boundary");
        st_sw(edge - 1, 0xf0e0d0c0ULL);
        check(ld_lwu(edge - 1), 0xf0e0d0c0ULL, "lwu across page boundary");
        check(ld_lw(edge - 1), 0xfffffffff0e0d0c0ULL, "lw across page boundary (sign)");
        st_sh(edge - 1, 0x8001ULL);
        check(ld_lh(edge - 1), 0xffffffffffff8001ULL, "lh across page boundary");
        check(ld_lhu(edge - 1), 0x8001ULL, "lhu across page boundary");
    }
    end();
}

/* ------------------------------------------------------------------------
 * Branches
 * ---------------------------------------------------------------------- */

#define DEF_BR(op)                                                          \
    static uint64_t brf_##op(uint64_t a, uint64_t b)                        \
    {                                                                       \
        uint64_t r;                                                         \
        __asm__ volatile (NORVC("li %0, 1\n\t"                              \
                                #op " %1, %2, 1f\n\t"                       \
                                "li %0, 0\n"                                \
                                "1:")                                       \
                          : "=&r"(r) : "r"(a), "r"(b));                     \
        return r;                                                           \
    }                                                                       \
    static uint64_t brb_##op(uint64_t a, uint64_t b)                        \
    {                                                                       \
        uint64_t r;                                                         \
        __asm__ volatile (NORVC("j 2f\n"                                    \
                                "1: li %0, 1\n\t"                           \
                                "j 3f\n"                                    \
                                "2: " #op " %1, %2, 1b\n\t"                 \
                                "li %0, 0\n"                                \
                                "3:")                                       \
                          : "=&r"(r) : "r"(a), "r"(b));                     \
        return r;                                                           \
    }
DEF_BR(beq) DEF_BR(bne) DEF_BR(blt) DEF_BR(bge) DEF_BR(bltu) DEF_BR(bgeu)

static const struct {
    const char *name;
    uint64_t (*fwd)(uint64_t, uint64_t);
    uint64_t (*back)(uint64_t, uint64_t);
    uint64_t taken;
} branches[] = {
#define BR_ENTRY(op) { #op, brf_##op, brb_##op, BR_TAKEN_##op }
    BR_ENTRY(beq), BR_ENTRY(bne), BR_ENTRY(blt),
    BR_ENTRY(bge), BR_ENTRY(bltu), BR_ENTRY(bgeu),
};

static void group_branch(void)
{
    begin("branch");
    for (unsigned k = 0; k < sizeof(branches) / sizeof(branches[0]); k++)
        for (unsigned i = 0; i < BR_POOL_N; i++)
            for (unsigned j = 0; j < BR_POOL_N; j++) {
                uint64_t want = (branches[k].taken >> (i * BR_POOL_N + j)) & 1;
                check(branches[k].fwd(br_pool[i], br_pool[j]), want,
                      "%s(0x%lx, 0x%lx) forward taken", branches[k].name,
                      (unsigned long)br_pool[i], (unsigned long)br_pool[j]);
                check(branches[k].back(br_pool[i], br_pool[j]), want,
                      "%s(0x%lx, 0x%lx) backward taken", branches[k].name,
                      (unsigned long)br_pool[i], (unsigned long)br_pool[j]);
            }
    /* same register for both operands */
    uint64_t r;
    __asm__ volatile (NORVC("li %0, 0\n\tbeq %0, %0, 1f\n\tli %0, 5\n1:") : "=&r"(r));
    check(r, 0, "beq rs1==rs2");
    __asm__ volatile (NORVC("li %0, -1\n\tblt %0, %0, 1f\n\tli %0, 5\n1:") : "=&r"(r));
    check(r, 5, "blt rs1==rs2");
    __asm__ volatile (NORVC("li %0, -1\n\tbgeu %0, %0, 1f\n\tli %0, 5\n1:") : "=&r"(r));
    check(r, (uint64_t)-1, "bgeu rs1==rs2");
    end();
}

/* ------------------------------------------------------------------------
 * jal / jalr
 * ---------------------------------------------------------------------- */

void test_jumps(uint64_t *out);
extern char jt_jal_site[], jt_jal_back_site[], jt_jalr0_site[], jt_jalr1_site[],
    jt_jalr2_site[], jt_jalr3_site[], jt_jalr4_site[], jt_jalr5_site[];

#define ADDR(sym) ((uint64_t)(uintptr_t)(sym))

static void group_jump(void)
{
    uint64_t out[10];
    begin("jump");
    for (int i = 0; i < 10; i++)
        out[i] = 0xbad;
    test_jumps(out);
    check(out[0], ADDR(jt_jal_site) + 4, "jal link");
    check(out[1], ADDR(jt_jal_back_site) + 4, "jal (backward) link");
    check(out[2], ADDR(jt_jalr0_site) + 4, "jalr 0(rs1) link");
    check(out[3], ADDR(jt_jalr1_site) + 4, "jalr 100(rs1) link");
    check(out[4], ADDR(jt_jalr2_site) + 4, "jalr -2048(rs1) link");
    check(out[5], ADDR(jt_jalr3_site) + 4, "jalr to odd address link");
    check(out[6], ADDR(jt_jalr4_site) + 4, "jalr 1(rs1) link");
    check(out[7], ADDR(jt_jalr5_site) + 4, "jalr rd==rs1 link");
    check(out[8], 0xff, "jump targets reached (bit mask)");
    check(out[9], 0, "wrong-path instructions executed (bit mask)");
    end();
}

/* ------------------------------------------------------------------------
 * LR / SC
 * ---------------------------------------------------------------------- */

static volatile uint64_t rsv[64] __attribute__((aligned(64)));

static void group_lrsc(void)
{
    uint64_t r, sc, sc2;
    volatile uint64_t *a = &rsv[0];
    volatile uint64_t *b = &rsv[32];    /* 256 bytes away: another granule */
    begin("lr-sc");

    /* SC without any reservation fails and does not write */
    *a = 0x1111;
    __asm__ volatile ("sc.d %0, %2, (%1)" : "=&r"(sc) : "r"(a), "r"(0x2222ULL) : "memory");
    check(sc != 0, 1, "sc.d without reservation fails");
    check(*a, 0x1111, "sc.d without reservation leaves memory");
    __asm__ volatile ("sc.w %0, %2, (%1)" : "=&r"(sc) : "r"(a), "r"(0x2222ULL) : "memory");
    check(sc != 0, 1, "sc.w without reservation fails");
    check(*a, 0x1111, "sc.w without reservation leaves memory");

    /* LR.D / SC.D success; second SC fails (reservation consumed) */
    *a = 0x0123456789abcdefULL;
    __asm__ volatile ("lr.d %0, (%3)\n\t"
                      "sc.d %1, %4, (%3)\n\t"
                      "sc.d %2, %5, (%3)"
                      : "=&r"(r), "=&r"(sc), "=&r"(sc2)
                      : "r"(a), "r"(0xfedcba9876543210ULL), "r"(0x5555ULL)
                      : "memory");
    check(r, 0x0123456789abcdefULL, "lr.d value");
    check(sc, 0, "sc.d after lr.d succeeds");
    check(sc2 != 0, 1, "second sc.d fails");
    check(*a, 0xfedcba9876543210ULL, "memory after sc.d");

    /* LR.W sign-extends, SC.W writes 32 bits only */
    *a = 0x7777777780000001ULL;
    __asm__ volatile ("lr.w %0, (%3)\n\t"
                      "sc.w %1, %4, (%3)\n\t"
                      "sc.w %2, %5, (%3)"
                      : "=&r"(r), "=&r"(sc), "=&r"(sc2)
                      : "r"(a), "r"(0xaaaaaaaa12345678ULL), "r"(0x5555ULL)
                      : "memory");
    check(r, 0xffffffff80000001ULL, "lr.w sign extension");
    check(sc, 0, "sc.w after lr.w succeeds");
    check(sc2 != 0, 1, "second sc.w fails");
    check(*a, 0x7777777712345678ULL, "memory after sc.w");

    /* SC to a different address than the LR fails; the SC still clears
     * the reservation so a following SC to the LR address fails too. */
    *a = 0xa0;
    *b = 0xb0;
    __asm__ volatile ("lr.d %0, (%3)\n\t"
                      "sc.d %1, %5, (%4)\n\t"
                      "sc.d %2, %5, (%3)"
                      : "=&r"(r), "=&r"(sc), "=&r"(sc2)
                      : "r"(a), "r"(b), "r"(0xccULL)
                      : "memory");
    check(r, 0xa0, "lr.d value (2)");
    check(sc != 0, 1, "sc.d to another address fails");
    check(*b, 0xb0, "memory at other address unchanged");
    check(sc2 != 0, 1, "sc.d after failed sc.d fails");
    check(*a, 0xa0, "memory at lr address unchanged");

    /* lr.w / sc.w on the upper word of a doubleword */
    *a = 0x1122334455667788ULL;
    __asm__ volatile ("lr.w %0, (%2)\n\t"
                      "sc.w %1, %3, (%2)"
                      : "=&r"(r), "=&r"(sc)
                      : "r"((volatile uint8_t *)a + 4), "r"(0x99ULL)
                      : "memory");
    check(r, 0x11223344, "lr.w upper word");
    check(sc, 0, "sc.w upper word succeeds");
    check(*a, 0x0000009955667788ULL, "memory after sc.w upper word");

    /* aq/rl encodings */
    *a = 42;
    __asm__ volatile ("lr.d.aq %0, (%2)\n\t"
                      "sc.d.rl %1, %3, (%2)"
                      : "=&r"(r), "=&r"(sc) : "r"(a), "r"(43ULL) : "memory");
    check(r, 42, "lr.d.aq value");
    check(sc, 0, "sc.d.rl succeeds");
    __asm__ volatile ("lr.w.aqrl %0, (%2)\n\t"
                      "sc.w.aqrl %1, %3, (%2)"
                      : "=&r"(r), "=&r"(sc) : "r"(a), "r"(44ULL) : "memory");
    check(r, 43, "lr.w.aqrl value");
    check(sc, 0, "sc.w.aqrl succeeds");
    check(*a, 44, "memory after sc.w.aqrl");

    /* a simple retry loop (the usual idiom) */
    *a = 1000;
    for (int i = 0; i < 10; i++) {
        uint64_t tmp, fail;
        __asm__ volatile ("1: lr.d %0, (%2)\n\t"
                          "addi %0, %0, 7\n\t"
                          "sc.d %1, %0, (%2)\n\t"
                          "bnez %1, 1b"
                          : "=&r"(tmp), "=&r"(fail) : "r"(a) : "memory");
    }
    check(*a, 1070, "lr/sc increment loop");
    end();
}

/* ------------------------------------------------------------------------
 * AMOs
 * ---------------------------------------------------------------------- */

/* The mnemonic has a dot, so spell each one out. */
#define DEF_AMO2(name, mnem)                                                \
    static uint64_t amo_##name(volatile uint64_t *p, uint64_t v)            \
    {                                                                       \
        uint64_t r;                                                         \
        __asm__ volatile (mnem " %0, %2, (%1)"                              \
                          : "=&r"(r) : "r"(p), "r"(v) : "memory");          \
        return r;                                                           \
    }
#define DEF_AMO_PAIR(op) DEF_AMO2(op##_w, #op ".w") DEF_AMO2(op##_d, #op ".d")
DEF_AMO_PAIR(amoswap) DEF_AMO_PAIR(amoadd) DEF_AMO_PAIR(amoxor)
DEF_AMO_PAIR(amoand) DEF_AMO_PAIR(amoor) DEF_AMO_PAIR(amomin)
DEF_AMO_PAIR(amomax) DEF_AMO_PAIR(amominu) DEF_AMO_PAIR(amomaxu)

static const struct {
    const char *name;
    uint64_t (*fn)(volatile uint64_t *, uint64_t);
    const uint16_t (*exp)[2];           /* { rd, memory } indices into V[] */
    int w;
} amos[] = {
#define AMO_ENTRY(op)                                                       \
    { #op ".w", amo_##op##_w, amo_exp_##op##_w, 1 },                        \
    { #op ".d", amo_##op##_d, amo_exp_##op##_d, 0 }
    AMO_ENTRY(amoswap), AMO_ENTRY(amoadd), AMO_ENTRY(amoxor),
    AMO_ENTRY(amoand), AMO_ENTRY(amoor), AMO_ENTRY(amomin),
    AMO_ENTRY(amomax), AMO_ENTRY(amominu), AMO_ENTRY(amomaxu),
};

static volatile uint64_t amocell[2] __attribute__((aligned(16)));

static void group_amo(void)
{
    begin("amo");
    for (unsigned k = 0; k < sizeof(amos) / sizeof(amos[0]); k++) {
        const uint16_t *mems = amos[k].w ? amo_mem_w : amo_mem_d;
        const uint16_t *rs2s = amos[k].w ? amo_rs2_w : amo_rs2_d;
        for (unsigned i = 0; i < 4; i++)
            for (unsigned j = 0; j < 4; j++) {
                const uint16_t *e = amos[k].exp[i * 4 + j];
                uint64_t m = V[mems[i]], v = V[rs2s[j]];
                amocell[0] = m;
                amocell[1] = 0x5a5a5a5a5a5a5a5aULL;
                uint64_t rd = amos[k].fn(&amocell[0], v);
                check(rd, V[e[0]], "%s(mem=0x%lx, rs2=0x%lx) rd", amos[k].name,
                      (unsigned long)m, (unsigned long)v);
                check(amocell[0], V[e[1]], "%s(mem=0x%lx, rs2=0x%lx) memory",
                      amos[k].name, (unsigned long)m, (unsigned long)v);
                check(amocell[1], 0x5a5a5a5a5a5a5a5aULL,
                      "%s(mem=0x%lx, rs2=0x%lx) next doubleword", amos[k].name,
                      (unsigned long)m, (unsigned long)v);
            }
    }

    /* .W on the upper word of a doubleword */
    uint64_t r;
    volatile uint8_t *hi = (volatile uint8_t *)&amocell[0] + 4;
    amocell[0] = 0xfffffffe00000010ULL;
    __asm__ volatile ("amoadd.w %0, %2, (%1)" : "=&r"(r) : "r"(hi), "r"(3ULL) : "memory");
    check(r, 0xfffffffffffffffeULL, "amoadd.w upper word rd");
    check(amocell[0], 0x0000000100000010ULL, "amoadd.w upper word memory");
    __asm__ volatile ("amomin.w %0, %2, (%1)" : "=&r"(r) : "r"(hi), "r"(0x80000000ULL) : "memory");
    check(r, 1, "amomin.w upper word rd");
    check(amocell[0], 0x8000000000000010ULL, "amomin.w upper word memory");

    /* rd = x0 still updates memory */
    amocell[0] = 5;
    __asm__ volatile ("amoadd.d x0, %1, (%0)" : : "r"(&amocell[0]), "r"(10ULL) : "memory");
    check(amocell[0], 15, "amoadd.d rd=x0 memory");
    __asm__ volatile ("amoswap.w x0, %1, (%0)" : : "r"(&amocell[0]), "r"(0xffffffff00000007ULL) : "memory");
    check(amocell[0], 7, "amoswap.w rd=x0 memory");

    /* rd == rs2: the register gets the old memory value */
    amocell[0] = 0x1234;
    r = 0x5678;
    __asm__ volatile ("amoswap.d %0, %0, (%1)" : "+r"(r) : "r"(&amocell[0]) : "memory");
    check(r, 0x1234, "amoswap.d rd==rs2 rd");
    check(amocell[0], 0x5678, "amoswap.d rd==rs2 memory");
    r = 0x10;
    __asm__ volatile ("amoadd.w %0, %0, (%1)" : "+r"(r) : "r"(&amocell[0]) : "memory");
    check(r, 0x5678, "amoadd.w rd==rs2 rd");
    check(amocell[0], 0x5688, "amoadd.w rd==rs2 memory");

    /* aq / rl / aqrl encodings */
    amocell[0] = 100;
    __asm__ volatile ("amoadd.d.aq %0, %2, (%1)" : "=&r"(r) : "r"(&amocell[0]), "r"(1ULL) : "memory");
    check(r, 100, "amoadd.d.aq");
    __asm__ volatile ("amoor.w.rl %0, %2, (%1)" : "=&r"(r) : "r"(&amocell[0]), "r"(0x100ULL) : "memory");
    check(r, 101, "amoor.w.rl");
    __asm__ volatile ("amomaxu.d.aqrl %0, %2, (%1)" : "=&r"(r) : "r"(&amocell[0]), "r"(0x1000ULL) : "memory");
    check(r, 0x165, "amomaxu.d.aqrl");
    check(amocell[0], 0x1000, "memory after aq/rl AMOs");
    end();
}

/* ------------------------------------------------------------------------
 * RV64C
 * ---------------------------------------------------------------------- */

#define RVC_N 48
void test_rvc(uint64_t *out);
extern char rvc_jalr_site[], rvc_jalr_ra_site[];

static const struct {
    const char *what;
    uint64_t want;
} rvc_expect[RVC_N - 2] = {
    { "c.li a0, -32", 0xffffffffffffffe0ULL },
    { "c.li a1, 31", 0x1f },
    { "c.lui a2, 0xfffe0", 0xfffffffffffe0000ULL },
    { "c.lui a3, 0x1f", 0x1f000 },
    { "c.addi 5, -32", 0xffffffffffffffe5ULL },
    { "c.addi INT64_MAX, 1", 0x8000000000000000ULL },
    { "c.addiw 0x7fffffff, 1", 0xffffffff80000000ULL },
    { "c.addiw x, 0 (sext.w)", 0xffffffff9abcdef0ULL },
    { "c.addi16sp -512", 0xfffffffffffffe00ULL },
    { "c.addi16sp +496", 0xfffffffffffffff0ULL },
    { "c.addi16sp +16", 0 },
    { "c.addi4spn 1020", 1020 },
    { "c.addi4spn 4 (rd=s1)", 4 },
    { "c.slli 1, 63", 0x8000000000000000ULL },
    { "c.slli 4", 0x23456789abcdef00ULL },
    { "c.srli 63", 1 },
    { "c.srli 32", 0x89abcdefULL },
    { "c.srai INT64_MIN, 63", 0xffffffffffffffffULL },
    { "c.srai 4", 0xf89abcdef8765432ULL },
    { "c.srai positive, 32", 0x7edcba98ULL },
    { "c.andi -32", 0x123456789abcdee0ULL },
    { "c.andi 21", 21 },
    { "c.mv", 0xdeadbeefcafebabeULL },
    { "c.add", 0x8000000000000000ULL },
    { "c.add rd==rs2", 0x8000000000000006ULL },
    { "c.sub 0 - 1", 0xffffffffffffffffULL },
    { "c.xor", 0xf0f0f0f0f0f0f0f0ULL },
    { "c.or", 0xfff0fff0fff0fff0ULL },
    { "c.and (rd=s1)", 0x0f000f000f000f00ULL },
    { "c.subw", 0xffffffffffffffffULL },
    { "c.addw overflow", 0xffffffff80000000ULL },
    { "c.addw upper bits ignored", 0xfffffffffffffff5ULL },
    { "c.nop", 7 },
    { "c.sd/c.ld 248", 0x1122334455667788ULL },
    { "c.sd 248 read by ld", 0x1122334455667788ULL },
    { "c.sw/c.lw 124", 0x55667788ULL },
    { "c.sw/c.lw sign extension", 0xffffffffdeadbeefULL },
    { "c.sw read by lwu", 0xdeadbeefULL },
    { "c.sd/c.ld 8 (rd=s0)", 0xdeadbeefULL },
    { "c.sdsp/c.ldsp 504", 0xffffffff87654321ULL },
    { "c.swsp/c.lwsp 252", 0xffffffff87654321ULL },
    { "c.swsp read by lwu", 0x87654321ULL },
    { "c.sdsp/c.ldsp 0", 0 },
    { "c.swsp/c.lwsp 0", 0xffffffff87654321ULL },
    { "control flow targets reached (bit mask)", 0x7ff },
    { "wrong-path instructions executed (bit mask)", 0 },
};

static void group_rvc(void)
{
    uint64_t out[RVC_N];
    begin("rvc");
    for (int i = 0; i < RVC_N; i++)
        out[i] = 0xbadbadbadULL;
    test_rvc(out);
    for (int i = 0; i < RVC_N - 2; i++)
        check(out[i], rvc_expect[i].want, "%s", rvc_expect[i].what);
    check(out[46], ADDR(rvc_jalr_site) + 2, "c.jalr link");
    check(out[47], ADDR(rvc_jalr_ra_site) + 2, "c.jalr ra link");
    end();
}

/* ------------------------------------------------------------------------
 * Zicsr
 * ---------------------------------------------------------------------- */

static void group_csr(void)
{
    uint64_t old, v;
    begin("csr");

    __asm__ volatile ("csrw mscratch, %0" : : "r"(0x0123456789abcdefULL));
    __asm__ volatile ("csrr %0, mscratch" : "=r"(v));
    check(v, 0x0123456789abcdefULL, "csrw/csrr mscratch");

    __asm__ volatile ("csrrw %0, mscratch, %1" : "=&r"(old) : "r"(0xfedcba9876543210ULL));
    __asm__ volatile ("csrr %0, mscratch" : "=r"(v));
    check(old, 0x0123456789abcdefULL, "csrrw old value");
    check(v, 0xfedcba9876543210ULL, "csrrw new value");

    __asm__ volatile ("csrrs %0, mscratch, %1" : "=&r"(old) : "r"(0x0f0f0f0f0f0f0f0fULL));
    __asm__ volatile ("csrr %0, mscratch" : "=r"(v));
    check(old, 0xfedcba9876543210ULL, "csrrs old value");
    check(v, 0xffdfbf9f7f5f3f1fULL, "csrrs new value");

    __asm__ volatile ("csrrc %0, mscratch, %1" : "=&r"(old) : "r"(0xff000000000000ffULL));
    __asm__ volatile ("csrr %0, mscratch" : "=r"(v));
    check(old, 0xffdfbf9f7f5f3f1fULL, "csrrc old value");
    check(v, 0x00dfbf9f7f5f3f00ULL, "csrrc new value");

    /* rs1 = x0: read only, no write */
    __asm__ volatile ("csrrs %0, mscratch, x0" : "=r"(old));
    __asm__ volatile ("csrrc %0, mscratch, x0" : "=r"(v));
    check(old, 0x00dfbf9f7f5f3f00ULL, "csrrs rs1=x0 reads");
    check(v, 0x00dfbf9f7f5f3f00ULL, "csrrc rs1=x0 does not write");

    /* immediate forms (uimm zero-extended) */
    __asm__ volatile ("csrrwi %0, mscratch, 17" : "=r"(old));
    __asm__ volatile ("csrr %0, mscratch" : "=r"(v));
    check(old, 0x00dfbf9f7f5f3f00ULL, "csrrwi old value");
    check(v, 17, "csrrwi new value");
    __asm__ volatile ("csrrsi %0, mscratch, 0x1f" : "=r"(old));
    __asm__ volatile ("csrr %0, mscratch" : "=r"(v));
    check(old, 17, "csrrsi old value");
    check(v, 31, "csrrsi new value");
    __asm__ volatile ("csrrci %0, mscratch, 3" : "=r"(old));
    __asm__ volatile ("csrr %0, mscratch" : "=r"(v));
    check(old, 31, "csrrci old value");
    check(v, 28, "csrrci new value");
    __asm__ volatile ("csrrsi %0, mscratch, 0" : "=r"(old));
    __asm__ volatile ("csrrci %0, mscratch, 0" : "=r"(v));
    check(old, 28, "csrrsi uimm=0 reads");
    check(v, 28, "csrrci uimm=0 does not write");
    __asm__ volatile ("csrrwi %0, mscratch, 0" : "=r"(old));
    __asm__ volatile ("csrr %0, mscratch" : "=r"(v));
    check(old, 28, "csrrwi 0 old value");
    check(v, 0, "csrrwi 0 writes zero");

    /* rd == rs1: swap */
    v = 0xabcdULL;
    __asm__ volatile ("csrw mscratch, %1\n\t"
                      "csrrw %0, mscratch, %0" : "+r"(v) : "r"(0x9999ULL));
    __asm__ volatile ("csrr %0, mscratch" : "=r"(old));
    check(v, 0x9999, "csrrw rd==rs1 old value");
    check(old, 0xabcd, "csrrw rd==rs1 new value");

    /* read-only CSRs: the non-writing forms must not trap */
    uint64_t c0, c1, i0, i1, t0, t1, h, ro;
    __asm__ volatile ("csrrs %0, cycle, x0" : "=r"(c0));
    __asm__ volatile ("csrrs %0, instret, x0" : "=r"(i0));
    __asm__ volatile ("csrrs %0, time, x0" : "=r"(t0));
    for (volatile int k = 0; k < 100; k++)
        ;
    __asm__ volatile ("csrrc %0, cycle, x0" : "=r"(c1));
    __asm__ volatile ("csrrsi %0, instret, 0" : "=r"(i1));
    __asm__ volatile ("csrrci %0, time, 0" : "=r"(t1));
    check(c1 >= c0, 1, "cycle non-decreasing (0x%lx -> 0x%lx)",
          (unsigned long)c0, (unsigned long)c1);
    check(i1 >= i0, 1, "instret non-decreasing (0x%lx -> 0x%lx)",
          (unsigned long)i0, (unsigned long)i1);
    check(t1 >= t0, 1, "time non-decreasing (0x%lx -> 0x%lx)",
          (unsigned long)t0, (unsigned long)t1);
    __asm__ volatile ("csrr %0, mcycle" : "=r"(c0));
    __asm__ volatile ("csrr %0, mcycle" : "=r"(c1));
    check(c1 >= c0, 1, "mcycle non-decreasing");
    __asm__ volatile ("csrr %0, minstret" : "=r"(i0));
    __asm__ volatile ("csrr %0, minstret" : "=r"(i1));
    check(i1 >= i0, 1, "minstret non-decreasing");

    __asm__ volatile ("csrr %0, mhartid" : "=r"(h));
    check(h, 0, "mhartid");
    __asm__ volatile ("csrrsi %0, mhartid, 0" : "=r"(h));
    check(h, 0, "csrrsi mhartid, 0");
    __asm__ volatile ("csrr %0, mvendorid\n\tcsrr %0, marchid\n\tcsrr %0, mimpid"
                      : "=r"(ro));
    (void)ro;

    uint64_t misa;
    __asm__ volatile ("csrr %0, misa" : "=r"(misa));
    check(misa >> 62, 2, "misa.MXL (RV64)");
    uint64_t need = (1 << ('I' - 'A')) | (1 << ('M' - 'A')) |
                    (1 << ('A' - 'A')) | (1 << ('C' - 'A'));
    check(misa & need, need, "misa has I, M, A, C (misa=0x%lx)", (unsigned long)misa);
    end();
}

/* ------------------------------------------------------------------------
 * fence, fence.i and self-modifying code
 * ---------------------------------------------------------------------- */

static volatile uint64_t fence_mem[4];

static void group_fence(void)
{
    begin("fence");
    fence_mem[0] = 1;
    __asm__ volatile ("fence" ::: "memory");
    fence_mem[1] = fence_mem[0] + 1;
    __asm__ volatile ("fence rw, rw" ::: "memory");
    fence_mem[2] = fence_mem[1] + 1;
    __asm__ volatile ("fence r, r\n\tfence w, w\n\tfence i, o\n\tfence iorw, iorw"
                      ::: "memory");
    fence_mem[3] = fence_mem[2] + 1;
    __asm__ volatile ("fence.tso" ::: "memory");
    __asm__ volatile (".4byte 0x0100000f" ::: "memory");    /* pause */
    __asm__ volatile ("fence.i" ::: "memory");
    check(fence_mem[0] + fence_mem[1] + fence_mem[2] + fence_mem[3], 10,
          "memory through fences");
    end();
}

typedef uint64_t (*code_fn)(uint64_t);

static uint32_t codebuf[16] __attribute__((aligned(64)));

static uint32_t enc_addi(unsigned rd, unsigned rs1, int imm)
{
    return ((uint32_t)(imm & 0xfff) << 20) | (rs1 << 15) | (rd << 7) | 0x13;
}

#define INSN_RET 0x00008067U            /* jalr x0, 0(ra) */
#define C_RET    0x8082U                /* c.jr ra */

static uint16_t enc_c_li(unsigned rd, int imm)
{
    return (uint16_t)(0x4001 | (((unsigned)imm & 0x20) << 7) | (rd << 7) |
                      (((unsigned)imm & 0x1f) << 2));
}

static void group_fencei(void)
{
    begin("fence.i");
    code_fn fn = (code_fn)(uintptr_t)codebuf;
    /* write, run, rewrite, run: a stale copy of the code must not be used */
    for (int k = 0; k < 6; k++) {
        int imm = (k & 1) ? -(k * 100) : k * 100 + 1;
        codebuf[0] = enc_addi(10, 10, imm);     /* addi a0, a0, imm */
        codebuf[1] = INSN_RET;
        __asm__ volatile ("fence.i" ::: "memory");
        uint64_t r = fn(1000);
        check(r, (uint64_t)(1000 + imm), "generated addi a0, a0, %d", imm);
    }
    /* compressed code in RAM: c.li a0, imm ; c.jr ra */
    for (int k = 0; k < 4; k++) {
        int imm = k * 9 - 16;                   /* -16 .. 11 */
        volatile uint16_t *h = (volatile uint16_t *)codebuf;
        h[0] = enc_c_li(10, imm);
        h[1] = C_RET;
        __asm__ volatile ("fence.i" ::: "memory");
        check(fn(0), (uint64_t)(int64_t)imm, "generated c.li a0, %d", imm);
    }
    /* patch only the second instruction of a two-instruction sequence */
    codebuf[0] = enc_addi(10, 10, 5);
    codebuf[1] = enc_addi(10, 10, 7);
    codebuf[2] = INSN_RET;
    __asm__ volatile ("fence.i" ::: "memory");
    check(fn(0), 12, "generated addi; addi");
    codebuf[1] = enc_addi(10, 10, 70);
    __asm__ volatile ("fence.i" ::: "memory");
    check(fn(0), 75, "patched second addi");
    end();
}

/* ------------------------------------------------------------------------
 * Traps: ecall, ebreak, c.ebreak, illegal instructions, misaligned
 * AMO / LR (which must trap, unlike ordinary misaligned loads/stores).
 * ---------------------------------------------------------------------- */

uint64_t trap_ecall(void), trap_ebreak(void), trap_c_ebreak(void);
uint64_t trap_illegal32(void), trap_illegal16(void);
uint64_t trap_amoadd_w(volatile void *, uint64_t), trap_amoswap_w(volatile void *, uint64_t);
uint64_t trap_amoadd_d(volatile void *, uint64_t), trap_amomaxu_d(volatile void *, uint64_t);
uint64_t trap_lr_w(volatile void *, uint64_t), trap_lr_d(volatile void *, uint64_t);
uint64_t raw_ecall(uint64_t *rec);
void raw_trap_handler(void);
extern char site_ecall[], site_ebreak[], site_c_ebreak[], site_illegal32[],
    site_illegal16[], site_amoadd_w[], site_amoswap_w[], site_amoadd_d[],
    site_amomaxu_d[], site_lr_w[], site_lr_d[], site_raw_ecall[];

#define CAUSE_MISALIGNED_LOAD   4
#define CAUSE_MISALIGNED_STORE  6
#define CAUSE_ILLEGAL           2
#define CAUSE_BREAKPOINT        3
#define CAUSE_ECALL_M           11

static volatile uint64_t trapmem[4] __attribute__((aligned(32)));

static void group_trap(void)
{
    begin("trap");

    /* a temporary handler installed directly in mtvec */
    {
        uint64_t rec[2] = { 0, 0 };
        uint64_t tvec = raw_ecall(rec);
        check(tvec, ADDR(raw_trap_handler), "mtvec read back");
        check(rec[0], CAUSE_ECALL_M, "raw handler: ecall mcause");
        check(rec[1], ADDR(site_raw_ecall), "raw handler: ecall mepc");
        check(rt_csr_read(mtvec), ADDR(rt_trap_entry), "mtvec restored");
    }

    check(trap_ecall(), 0x5a, "ecall: resumed after mret");
    expect_trap("ecall", CAUSE_ECALL_M, site_ecall, 4, 0, 0);
    check(trap_ebreak(), 0x5a, "ebreak: resumed after mret");
    expect_trap("ebreak", CAUSE_BREAKPOINT, site_ebreak, 4, 0, 0);
    check(trap_c_ebreak(), 0x5a, "c.ebreak: resumed after mret");
    expect_trap("c.ebreak", CAUSE_BREAKPOINT, site_c_ebreak, 2, 0, 0);
    check(trap_illegal32(), 0x5a, "csrw cycle: resumed");
    expect_trap("csrw to read-only cycle", CAUSE_ILLEGAL, site_illegal32, 4, 0, 0);
    check(trap_illegal16(), 0x5a, "c.unimp: resumed");
    expect_trap("c.unimp (0x0000)", CAUSE_ILLEGAL, site_illegal16, 2, 0, 0);

    /* Misaligned AMOs raise "store/AMO address misaligned" (6) and misaligned
     * LRs "load address misaligned" (4), with mtval = the address, and do
     * not touch rd or memory.
     *
     * QEMU 7.2 quirk: with a single hart (-smp 1, serial TCG) QEMU emulates
     * an AMO as a load followed by a store and reports a misaligned AMO as
     * a *load* misalignment (4); with -smp 2 it reports 6. To keep the
     * output identical on QEMU and the emulator, 4 is tolerated for AMOs
     * (the Caravan emulator should raise 6). */
    const uint64_t marker = 0x1badc0de;
    volatile uint8_t *base = (volatile uint8_t *)trapmem;
    static const struct {
        const char *name;
        uint64_t (*fn)(volatile void *, uint64_t);
        const char *site;
        unsigned off;
        uint64_t cause;
    } mis[] = {
        { "amoadd.w at +2", trap_amoadd_w, site_amoadd_w, 2, CAUSE_MISALIGNED_STORE },
        { "amoswap.w at +1", trap_amoswap_w, site_amoswap_w, 1, CAUSE_MISALIGNED_STORE },
        { "amoadd.d at +4", trap_amoadd_d, site_amoadd_d, 4, CAUSE_MISALIGNED_STORE },
        { "amomaxu.d at +7", trap_amomaxu_d, site_amomaxu_d, 7, CAUSE_MISALIGNED_STORE },
        { "lr.w at +2", trap_lr_w, site_lr_w, 2, CAUSE_MISALIGNED_LOAD },
        { "lr.d at +4", trap_lr_d, site_lr_d, 4, CAUSE_MISALIGNED_LOAD },
    };
    for (unsigned k = 0; k < sizeof(mis) / sizeof(mis[0]); k++) {
        trapmem[0] = 0x1111111111111111ULL;
        trapmem[1] = 0x2222222222222222ULL;
        volatile uint8_t *addr = base + mis[k].off;
        uint64_t rd = mis[k].fn(addr, marker);
        check(rd, marker, "%s: rd must not be written", mis[k].name);
        expect_trap2(mis[k].name, mis[k].cause,
                     mis[k].cause == CAUSE_MISALIGNED_STORE ? CAUSE_MISALIGNED_LOAD
                                                            : NO_ALT_CAUSE,
                     mis[k].site, 4, 1, (uint64_t)(uintptr_t)addr);
        check(trapmem[0], 0x1111111111111111ULL, "%s: memory unchanged", mis[k].name);
        check(trapmem[1], 0x2222222222222222ULL, "%s: memory unchanged (2)", mis[k].name);
    }
    end();
}

/* ------------------------------------------------------------------------ */

int main(uint64_t hartid, uint64_t fdt)
{
    (void)hartid;
    (void)fdt;
    rt_puts("isa-selftest: RV64IMAC + Zicsr + Zifencei\n");
    rt_trap_hook = trap_hook;

    group_alu();
    group_alu_w();
    group_upper();
    group_mul();
    group_div();
    group_loadstore();
    group_branch();
    group_jump();
    group_lrsc();
    group_amo();
    group_rvc();
    group_csr();
    group_fence();
    group_fencei();
    group_trap();

    rt_trap_hook = 0;
    rt_printf("isa-selftest: %u groups, %u checks, %u failed checks, %u failed groups\n",
              n_groups, n_checks, n_fails, n_groups_failed);
    if (n_fails) {
        rt_puts("isa-selftest: FAILED\n");
        return 1;
    }
    rt_puts("isa-selftest: ALL PASS\n");
    return 0;
}
