/* priv-selftest group exceptions: every synchronous cause the hart can
 * raise, from M, S and U, with the right xcause / xepc / xtval and
 * xstatus updates, not delegated (to M) and delegated (to S). */
#include "ps.h"
#include "vm.h"

typedef uint64_t (*fn1)(uint64_t);
typedef uint64_t (*fn2)(uint64_t, uint64_t);

/* Addresses with nothing behind them on the virt board (no RAM, no
 * device): accesses get an access fault. */
#define BAD_LOW   0x0000000000000400UL
#define BAD_HIGH  0x0000000090000000UL

static volatile uint64_t buf[4] __attribute__((aligned(32)));

static const char *mname(int mode)
{
    return mode == PRV_M ? "M" : mode == PRV_S ? "S" : "U";
}

/* Call fn in `mode` (M: directly). */
static uint64_t call1(int mode, fn1 fn, uint64_t a0)
{
    if (mode == PRV_M)
        return fn(a0);
    return run_mode(mode, fn, a0);
}

static uint64_t call2(int mode, fn2 fn, uint64_t a0, uint64_t a1)
{
    if (mode == PRV_M)
        return fn(a0, a1);
    return run_mode2(mode, fn, a0, a1);
}

/* The level (M or S) that takes an exception with this cause from `mode`. */
static uint64_t level_for(int mode, uint64_t cause)
{
    if (mode == PRV_M)
        return PRV_M;
    return (csr_read(medeleg) >> cause) & 1 ? PRV_S : PRV_M;
}

static uint32_t insn_bits(const void *p)
{
    uint16_t lo = *(const volatile uint16_t *)p;
    if ((lo & 3) != 3)
        return lo;
    return *(const volatile uint32_t *)p;
}

static void expect_exc(const char *what, int mode, uint64_t cause, uint64_t epc,
                       uint64_t tval)
{
    char w[96];
    rt_snprintf(w, sizeof w, "%s from %s", what, mname(mode));
    expect_trap_from(w, level_for(mode, cause), cause, epc, tval, mode);
}

/* ---- individual causes ---------------------------------------------------- */

static void t_ecall(int mode)
{
    static const uint64_t cause[4] = { CAUSE_ECALL_U, CAUSE_ECALL_S, 0, CAUSE_ECALL_M };
    check(call1(mode, site_ecall, 0x1234), 0x1234, "ecall from %s: resumed", mname(mode));
    expect_exc("ecall", mode, cause[mode], mode_pc(mode, site_ecall), 0);
}

static void t_breakpoint(int mode)
{
    static const struct { const char *name; fn1 fn; } bp[] = {
        { "ebreak", site_ebreak }, { "c.ebreak", site_c_ebreak },
    };
    for (unsigned i = 0; i < 2; i++) {
        check(call1(mode, bp[i].fn, 0x55), 0x55, "%s from %s: resumed", bp[i].name,
              mname(mode));
        uint64_t pc = mode_pc(mode, bp[i].fn);
        const volatile struct trap_rec *r = peek_trap();
        /* xtval for EBREAK is either 0 or the address of the instruction */
        if (r)
            check_true(r->tval == 0 || r->tval == pc, "%s from %s: tval is 0 or pc",
                       bp[i].name, mname(mode));
        expect_exc(bp[i].name, mode, CAUSE_BREAKPOINT, pc, TV_ANY);
    }
}

static void t_illegal(int mode)
{
    static const struct { const char *name; fn1 fn; } ill[] = {
        { "custom-0 opcode", site_ill_custom0 }, { "fadd.s (no F)", site_ill_fadd },
        { "flw (no F)", site_ill_flw }, { "c.unimp", site_ill_c_unimp },
        { "c.fld (no D)", site_ill_c_fld }, { "c.fsdsp (no D)", site_ill_c_fsdsp },
    };
    for (unsigned i = 0; i < sizeof(ill) / sizeof(ill[0]); i++) {
        check(call1(mode, ill[i].fn, 0x66), 0x66, "%s from %s: resumed", ill[i].name,
              mname(mode));
        expect_exc(ill[i].name, mode, CAUSE_ILLEGAL, mode_pc(mode, ill[i].fn),
                   insn_bits((const void *)ill[i].fn));
    }
}

static void t_access(int mode)
{
    static const struct { const char *name; fn1 fn; unsigned off; } ld[] = {
        { "lb", site_lb, 3 }, { "lh", site_lh, 2 }, { "lw", site_lw, 4 },
        { "ld", site_ld, 8 }, { "lbu", site_lbu, 1 }, { "lhu", site_lhu, 6 },
        { "lwu", site_lwu, 0 }, { "c.ld", site_c_ld, 16 }, { "lr.d", site_lr_d, 0 },
        { "lr.w", site_lr_w, 4 },
    };
    static const struct { const char *name; fn2 fn; unsigned off; } st[] = {
        { "sb", site_sb, 5 }, { "sh", site_sh, 2 }, { "sw", site_sw, 12 },
        { "sd", site_sd, 8 }, { "c.sd", site_c_sd, 24 },
    };
    static const uint64_t bases[2] = { BAD_LOW, BAD_HIGH };
    char w[64];
    for (unsigned b = 0; b < 2; b++) {
        for (unsigned i = 0; i < sizeof(ld) / sizeof(ld[0]); i++) {
            uint64_t a = bases[b] + ld[i].off;
            rt_snprintf(w, sizeof w, "%s 0x%lx", ld[i].name, (unsigned long)a);
            check(call1(mode, ld[i].fn, a), a, "%s from %s: rd unchanged", w, mname(mode));
            expect_exc(w, mode, CAUSE_LOAD_ACCESS, mode_pc(mode, ld[i].fn), a);
        }
        for (unsigned i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
            uint64_t a = bases[b] + st[i].off;
            rt_snprintf(w, sizeof w, "%s 0x%lx", st[i].name, (unsigned long)a);
            call2(mode, st[i].fn, a, 0x77);
            expect_exc(w, mode, CAUSE_STORE_ACCESS, mode_pc(mode, st[i].fn), a);
        }
        /* instruction fetch: resumes at the return address of the call */
        uint64_t t = bases[b];
        rt_snprintf(w, sizeof w, "fetch 0x%lx", (unsigned long)t);
        check(call1(mode, site_call, t), t, "%s from %s: returned", w, mname(mode));
        expect_exc(w, mode, CAUSE_FETCH_ACCESS, t, t);
    }
}

static void t_misaligned(int mode)
{
    /* LR must be naturally aligned (ordinary loads/stores and AMOs are
     * not tested here: see the report on QEMU's AMO causes). */
    uint64_t a = ADDR(buf) + 2;
    check(call1(mode, site_lr_w, a), a, "lr.w misaligned from %s: rd unchanged", mname(mode));
    expect_exc("lr.w misaligned", mode, CAUSE_MISALIGNED_LOAD, mode_pc(mode, site_lr_w), a);
    a = ADDR(buf) + 4;
    check(call1(mode, site_lr_d, a), a, "lr.d misaligned from %s: rd unchanged", mname(mode));
    expect_exc("lr.d misaligned", mode, CAUSE_MISALIGNED_LOAD, mode_pc(mode, site_lr_d), a);
    a = ADDR(buf) + 9;
    check(call1(mode, site_lr_d, a), a, "lr.d at +9 from %s: rd unchanged", mname(mode));
    expect_exc("lr.d at +9", mode, CAUSE_MISALIGNED_LOAD, mode_pc(mode, site_lr_d), a);
}

static void all_causes(int mode)
{
    t_ecall(mode);
    t_breakpoint(mode);
    t_illegal(mode);
    t_access(mode);
    t_misaligned(mode);
}

/* ---- xstatus updates ---------------------------------------------------------- */

static void t_status_m(void)
{
    /* trap from M with MIE=1: MPIE=1, MIE=0, MPP=M; mret restores MIE */
    csr_set(mstatus, MSTATUS_MIE);
    site_ecall(0);
    uint64_t ms = csr_read(mstatus);
    csr_clear(mstatus, MSTATUS_MIE);
    const volatile struct trap_rec *r = peek_trap();
    if (check_true(r != 0, "ecall from M with MIE=1: trapped")) {
        check(r->status & (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP),
              MSTATUS_MPIE | MSTATUS_MPP_M, "trap from M, MIE=1: mstatus");
        drop_trap();
    }
    check(ms & MSTATUS_MIE, MSTATUS_MIE, "MIE back to 1 after mret");

    /* trap from M with MIE=0 */
    site_ecall(0);
    r = peek_trap();
    if (check_true(r != 0, "ecall from M with MIE=0: trapped")) {
        check(r->status & (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP), MSTATUS_MPP_M,
              "trap from M, MIE=0: mstatus");
        drop_trap();
    }

    /* from S and U with MIE=1 (set by the mret from MPIE=1) and 0 */
    for (int mode = PRV_U; mode <= PRV_S; mode++) {
        for (int mie = 0; mie <= 1; mie++) {
            run_at(mode, ADDR(site_ecall), 0, 0, mie ? MSTATUS_MPIE : 0);
            r = peek_trap();
            if (check_true(r != 0, "ecall from %s: trapped", mname(mode))) {
                check(r->status & (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP),
                      (mie ? MSTATUS_MPIE : 0) | ((uint64_t)mode << MPP_SHIFT),
                      "trap from %s with MIE=%d: mstatus", mname(mode), mie);
                drop_trap();
            }
        }
    }
}

static void t_status_s(void)
{
    /* delegated: SPIE = SIE, SIE = 0, SPP = previous mode */
    csr_write(medeleg, 1UL << CAUSE_ILLEGAL);
    for (int mode = PRV_U; mode <= PRV_S; mode++) {
        for (int sie = 0; sie <= 1; sie++) {
            run_at(mode, mode_pc(mode, site_ill_custom0), 0, 0, sie ? MSTATUS_SIE : 0);
            const volatile struct trap_rec *r = peek_trap();
            if (check_true(r != 0, "illegal from %s (delegated): trapped", mname(mode))) {
                check(r->level, PRV_S, "illegal from %s (delegated): level", mname(mode));
                check(r->status & (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP),
                      (sie ? MSTATUS_SPIE : 0) | (mode == PRV_S ? MSTATUS_SPP : 0),
                      "trap to S from %s with SIE=%d: sstatus", mname(mode), sie);
                drop_trap();
            }
        }
    }
    csr_write(medeleg, 0);
}

/* ---- delegation ----------------------------------------------------------------- */

static void t_delegated(void)
{
    /* Everything delegable except breakpoints (the run_mode exit path may
     * end in an ebreak), then breakpoints alone. Exceptions raised in M are
     * never delegated. */
    const uint64_t all = 0xb3ffUL & ~(1UL << CAUSE_BREAKPOINT);
    csr_write(medeleg, all);
    check(csr_read(medeleg) & 0xffffUL & ~(3UL << 10), all, "medeleg");
    all_causes(PRV_M);
    t_ecall(PRV_U);
    t_ecall(PRV_S);
    t_illegal(PRV_U);
    t_illegal(PRV_S);
    t_access(PRV_U);
    t_access(PRV_S);
    t_misaligned(PRV_U);
    t_misaligned(PRV_S);

    /* one cause delegated, another not */
    csr_write(medeleg, 1UL << CAUSE_LOAD_ACCESS);
    t_access(PRV_U);
    csr_write(medeleg, 1UL << CAUSE_BREAKPOINT);
    t_breakpoint(PRV_U);
    t_breakpoint(PRV_S);
    t_breakpoint(PRV_M);
    csr_write(medeleg, 0);

    /* the S CSRs hold the trap state after a delegated trap */
    csr_write(medeleg, 1UL << CAUSE_ILLEGAL);
    csr_write(scause, 0);
    csr_write(sepc, 0);
    csr_write(stval, 0);
    run_mode(PRV_U, site_ill_fadd, 0);
    check(csr_read(scause), CAUSE_ILLEGAL, "scause after delegated trap");
    check(csr_read(sepc), ADDR(site_ill_fadd) + 4, "sepc (advanced by the handler)");
    check(csr_read(stval), insn_bits((const void *)site_ill_fadd), "stval");
    expect_trap("illegal from U (delegated)", PRV_S, CAUSE_ILLEGAL, ADDR(site_ill_fadd),
                insn_bits((const void *)site_ill_fadd));
    csr_write(medeleg, 0);
}

/* ---- page faults ------------------------------------------------------------------- */

static void t_page_faults(int mode)
{
    char w[64];
    /* loads from an invalid page, a page without R, and (U) a supervisor page */
    static const unsigned ld_pages[] = { PG_INV, PG_X, PG_W };
    for (unsigned i = 0; i < 3; i++) {
        uint64_t va = PG_VA(ld_pages[i]) + 8 * i + 8;
        rt_snprintf(w, sizeof w, "load VA 0x%lx", (unsigned long)va);
        check(call1(mode, site_ld, va), va, "%s from %s: rd unchanged", w, mname(mode));
        expect_exc(w, mode, CAUSE_LOAD_PAGE, mode_pc(mode, site_ld), va);
    }
    uint64_t va = PG_VA(mode == PRV_U ? PG_UR : PG_R) + 0x10;
    rt_snprintf(w, sizeof w, "store to read-only VA 0x%lx", (unsigned long)va);
    call2(mode, site_sd, va, 1);
    expect_exc(w, mode, CAUSE_STORE_PAGE, mode_pc(mode, site_sd), va);
    va = PG_VA(PG_INV) + 0x20;
    rt_snprintf(w, sizeof w, "store to invalid VA 0x%lx", (unsigned long)va);
    call2(mode, site_sw, va, 1);
    expect_exc(w, mode, CAUSE_STORE_PAGE, mode_pc(mode, site_sw), va);
    /* fetch from a page without X */
    va = PG_VA(mode == PRV_U ? PG_URW : PG_RW) + CODE_OFF;
    rt_snprintf(w, sizeof w, "fetch VA 0x%lx", (unsigned long)va);
    check(call1(mode, site_call, va), va, "%s from %s: returned", w, mname(mode));
    expect_exc(w, mode, CAUSE_FETCH_PAGE, va, va);
    /* and the mappings that do work */
    check(call1(mode, site_ld, PG_VA(mode == PRV_U ? PG_URW : PG_RW)),
          PG_VALUE(mode == PRV_U ? PG_URW : PG_RW), "load through a valid page from %s",
          mname(mode));
    check(call1(mode, site_call, PG_VA(mode == PRV_U ? PG_URX : PG_RX) + CODE_OFF),
          CODE_VALUE(mode == PRV_U ? PG_URX : PG_RX), "fetch from a valid page from %s",
          mname(mode));
    expect_no_trap("valid mappings");
}

static void t_vm(void)
{
    vm_fill_scratch();
    vm_build();
    csr_write(satp, satp_a());
    sfence_all();
    for (int deleg = 0; deleg <= 1; deleg++) {
        csr_write(medeleg, deleg ? (1UL << CAUSE_FETCH_PAGE) | (1UL << CAUSE_LOAD_PAGE) |
                                   (1UL << CAUSE_STORE_PAGE) : 0);
        t_page_faults(PRV_S);
        t_page_faults(PRV_U);
    }
    csr_write(medeleg, 0);
    csr_write(satp, 0);
    sfence_all();
}

void group_exceptions(void)
{
    begin("exceptions");
    all_causes(PRV_M);
    all_causes(PRV_S);
    all_causes(PRV_U);
    t_status_m();
    t_status_s();
    t_delegated();
    t_vm();
    end();
}
