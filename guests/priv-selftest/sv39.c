/* priv-selftest group sv39: page walks (4 KiB, 2 MiB, 1 GiB pages),
 * permission checks (R/W/X, reserved W-without-R, V=0, U with SUM, MXR),
 * misaligned superpages, non-canonical addresses, hardware A/D updates,
 * SFENCE.VMA and satp switches, TVM, and M-mode accesses through MPRV.
 * The tables are in vm.c. */
#include "ps.h"
#include "vm.h"

static const char *mname(int mode)
{
    return mode == PRV_M ? "M" : mode == PRV_S ? "S" : "U";
}

static uint64_t level_for(uint64_t cause)
{
    return (csr_read(medeleg) >> cause) & 1 ? PRV_S : PRV_M;
}

/* Load from va in mode (with extra mstatus bits, e.g. SUM/MXR): ok -> value
 * `want`, else a load page fault with tval = va. */
static void acc_ld(const char *what, int mode, uint64_t va, int ok, uint64_t want,
                   uint64_t set)
{
    uint64_t r = run_at(mode, mode_pc(mode, site_ld), va, 0, set);
    char w[96];
    rt_snprintf(w, sizeof w, "%s: load 0x%lx from %s", what, (unsigned long)va, mname(mode));
    if (ok) {
        check(r, want, "%s", w);
        expect_no_trap(w);
    } else {
        check(r, va, "%s: rd unchanged", w);
        expect_trap_from(w, level_for(CAUSE_LOAD_PAGE), CAUSE_LOAD_PAGE,
                         mode_pc(mode, site_ld), va, mode);
    }
}

/* Store to va; pa (if non-zero) is where the value must (or must not) land. */
static void acc_sd(const char *what, int mode, uint64_t va, uint64_t pa, int ok,
                   uint64_t set)
{
    volatile uint64_t *p = (volatile uint64_t *)pa;
    uint64_t before = pa ? *p : 0;
    uint64_t v = before ^ 0xa5a5a5a500000000UL ^ va;
    run_at(mode, mode_pc(mode, site_sd), va, v, set);
    char w[96];
    rt_snprintf(w, sizeof w, "%s: store 0x%lx from %s", what, (unsigned long)va, mname(mode));
    if (ok) {
        if (pa)
            check(*p, v, "%s: memory", w);
        expect_no_trap(w);
    } else {
        if (pa)
            check(*p, before, "%s: memory unchanged", w);
        expect_trap_from(w, level_for(CAUSE_STORE_PAGE), CAUSE_STORE_PAGE,
                         mode_pc(mode, site_sd), va, mode);
    }
}

static void acc_fetch(const char *what, int mode, uint64_t va, int ok, uint64_t want,
                      uint64_t set)
{
    uint64_t r = run_at(mode, mode_pc(mode, site_call), va, 0, set);
    char w[96];
    rt_snprintf(w, sizeof w, "%s: fetch 0x%lx from %s", what, (unsigned long)va, mname(mode));
    if (ok) {
        check(r, want, "%s", w);
        expect_no_trap(w);
    } else {
        check(r, va, "%s: returned", w);
        expect_trap_from(w, level_for(CAUSE_FETCH_PAGE), CAUSE_FETCH_PAGE, va, va, mode);
    }
}

/* All three kinds of access to test page i from `mode`. */
static void page_rwx(const char *what, int mode, unsigned i, int r, int w, int x,
                     uint64_t set)
{
    acc_ld(what, mode, PG_VA(i), r, PG_VALUE(i), set);
    acc_ld(what, mode, PG_VA(i) + 0x800, r, PG_VALUE(i) + 0x800, set);
    acc_sd(what, mode, PG_VA(i) + 0x10, SCRATCH(i) + 0x10, w, set);
    acc_fetch(what, mode, PG_VA(i) + CODE_OFF, x, CODE_VALUE(i), set);
}

static void vm_start(void)
{
    vm_fill_scratch();
    vm_build();
    csr_write(satp, satp_a());
    sfence_all();
}

/* ---- tests --------------------------------------------------------------------- */

static void t_perms(void)
{
    const int S = PRV_S, U = PRV_U;
    page_rwx("R", S, PG_R, 1, 0, 0, 0);
    page_rwx("RW", S, PG_RW, 1, 1, 0, 0);
    page_rwx("X", S, PG_X, 0, 0, 1, 0);
    page_rwx("RX", S, PG_RX, 1, 0, 1, 0);
    page_rwx("RWX", S, PG_RWX, 1, 1, 1, 0);
    page_rwx("W (reserved)", S, PG_W, 0, 0, 0, 0);
    page_rwx("WX (reserved)", S, PG_WX, 0, 0, 0, 0);
    page_rwx("V=0", S, PG_INV, 0, 0, 0, 0);
    page_rwx("pointer at level 0", S, PG_PTR, 0, 0, 0, 0);
    /* U pages from S: only with SUM, and never executable */
    page_rwx("U RW, SUM=0", S, PG_URW, 0, 0, 0, 0);
    page_rwx("U RW, SUM=1", S, PG_URW, 1, 1, 0, MSTATUS_SUM);
    page_rwx("U RX, SUM=1", S, PG_URX, 1, 0, 0, MSTATUS_SUM);
    page_rwx("U X, SUM=1", S, PG_UX, 0, 0, 0, MSTATUS_SUM);
    /* from U: only U pages */
    page_rwx("U RW", U, PG_URW, 1, 1, 0, 0);
    page_rwx("U RX", U, PG_URX, 1, 0, 1, 0);
    page_rwx("U R", U, PG_UR, 1, 0, 0, 0);
    page_rwx("U X", U, PG_UX, 0, 0, 1, 0);
    page_rwx("S RWX from U", U, PG_RWX, 0, 0, 0, 0);
    page_rwx("S RW from U, SUM=1", U, PG_RW, 0, 0, 0, MSTATUS_SUM);
    /* MXR: loads from execute-only pages */
    acc_ld("X, MXR=1", S, PG_VA(PG_X), 1, PG_VALUE(PG_X), MSTATUS_MXR);
    acc_sd("X, MXR=1", S, PG_VA(PG_X) + 8, SCRATCH(PG_X) + 8, 0, MSTATUS_MXR);
    acc_ld("U X, MXR=1", U, PG_VA(PG_UX), 1, PG_VALUE(PG_UX), MSTATUS_MXR);
    acc_ld("U X, MXR=1 SUM=1", S, PG_VA(PG_UX), 1, PG_VALUE(PG_UX),
           MSTATUS_MXR | MSTATUS_SUM);
    acc_ld("U X, MXR=1 SUM=0", S, PG_VA(PG_UX), 0, 0, MSTATUS_MXR);
    acc_ld("W (reserved), MXR=1", S, PG_VA(PG_W), 0, 0, MSTATUS_MXR);
}

static void t_superpages(void)
{
    volatile uint64_t *m = (volatile uint64_t *)MEGA_PA;
    acc_ld("2 MiB page", PRV_S, MEGA_VA, 1, m[0], 0);
    acc_ld("2 MiB page, last 4K", PRV_S, MEGA_VA + 0x1ff000, 1, m[0x1ff000 / 8], 0);
    acc_sd("2 MiB page", PRV_S, MEGA_VA + 0x12340, MEGA_PA + 0x12340, 1, 0);
    acc_ld("misaligned 2 MiB page", PRV_S, MEGA_BAD_VA + 0x18, 0, 0, 0);
    acc_sd("misaligned 2 MiB page", PRV_S, MEGA_BAD_VA + 0x1000, 0, 0, 0);
    acc_ld("invalid L1 entry", PRV_S, L1_INV_VA + 0x28, 0, 0, 0);
    volatile uint64_t *g = (volatile uint64_t *)GIGA_DATA_PA;
    acc_ld("1 GiB page", PRV_S, GIGA_DATA_VA, 1, g[0], 0);
    acc_sd("1 GiB page", PRV_S, GIGA_DATA_VA + 0x40, GIGA_DATA_PA + 0x40, 1, 0);
    acc_ld("1 GiB page (image)", PRV_S, GIGA_VA + (SCRATCH(PG_R) - 0x80000000UL), 1,
           PG_VALUE(PG_R), 0);
    acc_fetch("1 GiB page without X", PRV_S, GIGA_VA + (SCRATCH(PG_R) - 0x80000000UL) +
              CODE_OFF, 0, 0, 0);
    acc_ld("misaligned 1 GiB page", PRV_S, GIGA_BAD_VA + 0x30, 0, 0, 0);
    acc_fetch("misaligned 1 GiB page", PRV_S, GIGA_BAD_VA + 0x400, 0, 0, 0);
    acc_ld("1 GiB page, upper half", PRV_S, HIGH_VA + (GIGA_DATA_PA - 0x80000000UL), 1,
           g[0], 0);
    /* the user alias gigapage */
    acc_ld("U 1 GiB page", PRV_U, U_ALIAS(SCRATCH(PG_R)), 1, PG_VALUE(PG_R), 0);
    acc_ld("U 1 GiB page from S, SUM=0", PRV_S, U_ALIAS(SCRATCH(PG_R)), 0, 0, 0);
}

static void t_canonical(void)
{
    static const uint64_t bad[] = {
        0x0000004000000000UL, 0xffffffbffffff000UL, 0x8000000080000000UL,
        0x0000008000001000UL, 0x7fffffffc0000000UL, 0xfffffe0000000008UL,
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        acc_ld("non-canonical", PRV_S, bad[i], 0, 0, 0);
        acc_sd("non-canonical", PRV_S, bad[i] + 8, 0, 0, 0);
    }
    acc_fetch("non-canonical", PRV_S, 0x0000004000000400UL, 0, 0, 0);
    acc_fetch("non-canonical", PRV_S, 0xffff7fff80000400UL, 0, 0, 0);
    acc_ld("non-canonical", PRV_U, 0x0000004100000000UL, 0, 0, 0);
}

static uint64_t pte(unsigned i)
{
    return *(volatile uint64_t *)&pt_l0a[i];
}

static void t_ad(void)
{
    vm_build();
    check(pte(PG_NOA) & (PTE_A | PTE_D), 0, "PTE A/D initially clear");
    acc_fetch("A=0 page", PRV_S, PG_VA(PG_NOA) + CODE_OFF, 1, CODE_VALUE(PG_NOA), 0);
    check(pte(PG_NOA) & (PTE_A | PTE_D), PTE_A, "A set by a fetch");
    acc_ld("A=1 D=0 page", PRV_S, PG_VA(PG_NOA), 1, PG_VALUE(PG_NOA), 0);
    check(pte(PG_NOA) & (PTE_A | PTE_D), PTE_A, "D still clear after a load");
    acc_sd("A=1 D=0 page", PRV_S, PG_VA(PG_NOA) + 8, SCRATCH(PG_NOA) + 8, 1, 0);
    check(pte(PG_NOA) & (PTE_A | PTE_D), PTE_A | PTE_D, "D set by a store");
    check(pte(PG_NOA) & ~(PTE_A | PTE_D), pte_leaf(SCRATCH(PG_NOA), PTE_R | PTE_W | PTE_X),
          "rest of the PTE unchanged");

    acc_ld("D=0 page", PRV_S, PG_VA(PG_NOD), 1, PG_VALUE(PG_NOD), 0);
    check(pte(PG_NOD) & (PTE_A | PTE_D), PTE_A, "load leaves D clear");
    acc_sd("D=0 page", PRV_S, PG_VA(PG_NOD) + 8, SCRATCH(PG_NOD) + 8, 1, 0);
    check(pte(PG_NOD) & (PTE_A | PTE_D), PTE_A | PTE_D, "store sets D");

    /* a faulting access sets neither */
    acc_sd("R, A=0 page", PRV_S, PG_VA(PG_NOA_R) + 8, SCRATCH(PG_NOA_R) + 8, 0, 0);
    check(pte(PG_NOA_R) & (PTE_A | PTE_D), 0, "a faulting store sets neither A nor D");
    acc_fetch("R, A=0 page", PRV_S, PG_VA(PG_NOA_R) + CODE_OFF, 0, 0, 0);
    check(pte(PG_NOA_R) & (PTE_A | PTE_D), 0, "a faulting fetch does not set A");
    acc_ld("R, A=0 page", PRV_S, PG_VA(PG_NOA_R), 1, PG_VALUE(PG_NOA_R), 0);
    check(pte(PG_NOA_R) & (PTE_A | PTE_D), PTE_A, "load sets A");

    /* from U, and through MPRV */
    vm_build();
    run_at(PRV_U, mode_pc(PRV_U, site_ld), PG_VA(PG_NOA), 0, 0);
    expect_trap("U load from an S page with A=0", PRV_M, CAUSE_LOAD_PAGE,
                mode_pc(PRV_U, site_ld), PG_VA(PG_NOA));
    check(pte(PG_NOA) & (PTE_A | PTE_D), 0, "U fault leaves A clear");
    check(mprv_ld(PG_VA(PG_NOA), MSTATUS_MPRV | MSTATUS_MPP_S), PG_VALUE(PG_NOA),
          "MPRV load from an A=0 page");
    check(pte(PG_NOA) & (PTE_A | PTE_D), PTE_A, "MPRV load sets A");
    mprv_sd(PG_VA(PG_NOA) + 8, 5, MSTATUS_MPRV | MSTATUS_MPP_S);
    check(pte(PG_NOA) & (PTE_A | PTE_D), PTE_A | PTE_D, "MPRV store sets D");
    expect_no_trap("MPRV A/D");
    vm_build();
}

static void t_sfence(void)
{
    const uint64_t va = PG_VA(PG_SW);
    acc_ld("before remap", PRV_S, va, 1, PG_VALUE(PG_SW), 0);
    /* remap, SFENCE.VMA with the address (from S) */
    pt_l0a[PG_SW] = pte_leaf(SCRATCH(PG_SW2), PTE_R | PTE_W | PTE_A | PTE_D);
    run_mode(PRV_S, site_sfence_va, va);
    acc_ld("after remap + sfence.vma va", PRV_S, va, 1, PG_VALUE(PG_SW2), 0);
    /* back, SFENCE.VMA x0, x0 from M */
    pt_l0a[PG_SW] = pte_leaf(SCRATCH(PG_SW), PTE_R | PTE_W | PTE_A | PTE_D);
    sfence_all();
    acc_ld("after remap back + sfence.vma (M)", PRV_S, va, 1, PG_VALUE(PG_SW), 0);
    /* invalidate, SFENCE.VMA x0, x0 from S */
    pt_l0a[PG_SW] = 0;
    run_mode(PRV_S, site_sfence, 0);
    acc_ld("after V=0 + sfence.vma", PRV_S, va, 0, 0, 0);
    /* valid again, SFENCE.VMA x0, asid=0 */
    pt_l0a[PG_SW] = pte_leaf(SCRATCH(PG_SW2), PTE_R | PTE_A);
    run_mode(PRV_S, site_sfence_asid, 0);
    acc_ld("after remap + sfence.vma x0, asid", PRV_S, va, 1, PG_VALUE(PG_SW2), 0);
    acc_sd("read-only after remap", PRV_S, va + 8, SCRATCH(PG_SW2) + 8, 0, 0);
    /* superpage entry changed to a table pointer */
    pt_l1[1] = pte_leaf(ADDR(pt_l0b), 0);           /* V only: pointer */
    run_mode(PRV_S, site_sfence_va, MEGA_VA + PG_VA(PG_R));
    acc_ld("megapage replaced by a table", PRV_S, MEGA_VA + PG_VA(PG_R), 1,
           PG_VALUE(PG_R), 0);
    vm_build();
    expect_no_trap("sfence");
}

static void t_satp(void)
{
    const uint64_t va = PG_VA(PG_SW);
    run_mode(PRV_S, s_set_satp, satp_b());
    check(csr_read(satp), satp_b(), "satp written from S");
    acc_ld("table B", PRV_S, va, 1, PG_VALUE(PG_SW2), 0);
    acc_ld("table B, other page", PRV_S, PG_VA(PG_R), 1, PG_VALUE(PG_R), 0);
    run_mode(PRV_S, s_set_satp, satp_a());
    acc_ld("table A again", PRV_S, va, 1, PG_VALUE(PG_SW), 0);
    /* Bare from S: no translation */
    run_mode(PRV_S, s_set_satp, 0);
    acc_ld("satp Bare", PRV_S, SCRATCH(PG_INV), 1, PG_VALUE(PG_INV), 0);
    run_mode(PRV_S, s_set_satp, 7UL << 60);     /* unsupported mode: ignored */
    check(csr_read(satp), 0, "satp MODE=7 from S ignored");
    csr_write(satp, satp_a());
    sfence_all();
    expect_no_trap("satp switches");
}

static void t_tvm(void)
{
    const uint64_t sf = *(volatile uint32_t *)(uintptr_t)site_sfence;
    csr_set(mstatus, MSTATUS_TVM);
    run_mode(PRV_S, site_sfence, 0);
    expect_trap_from("sfence.vma in S with TVM=1", PRV_M, CAUSE_ILLEGAL, ADDR(site_sfence),
                     sf, PRV_S);
    extern uint64_t rd_0x180(uint64_t), wr_0x180(uint64_t);
    run_mode(PRV_S, rd_0x180, 0);
    expect_trap_from("csrr satp in S with TVM=1", PRV_M, CAUSE_ILLEGAL, ADDR(rd_0x180),
                     *(volatile uint32_t *)(uintptr_t)rd_0x180, PRV_S);
    run_mode(PRV_S, wr_0x180, 0);
    expect_trap_from("csrw satp in S with TVM=1", PRV_M, CAUSE_ILLEGAL, ADDR(wr_0x180),
                     *(volatile uint32_t *)(uintptr_t)wr_0x180, PRV_S);
    check(csr_read(satp), satp_a(), "satp unchanged");
    /* M is not affected by TVM */
    sfence_all();
    csr_write(satp, satp_a());
    expect_no_trap("sfence.vma / satp in M with TVM=1");
    csr_clear(mstatus, MSTATUS_TVM);
    /* U: always illegal */
    run_mode(PRV_U, site_sfence, 0);
    expect_trap_from("sfence.vma in U", PRV_M, CAUSE_ILLEGAL, mode_pc(PRV_U, site_sfence),
                     sf, PRV_U);
    run_mode(PRV_U, site_sfence_va, 0);
    expect_trap_from("sfence.vma a0 in U", PRV_M, CAUSE_ILLEGAL,
                     mode_pc(PRV_U, site_sfence_va),
                     *(volatile uint32_t *)(uintptr_t)site_sfence_va, PRV_U);
    /* S with TVM=0: fine */
    run_mode(PRV_S, site_sfence, 0);
    expect_no_trap("sfence.vma in S with TVM=0");
}

static void t_mprv(void)
{
    struct { const char *what; uint64_t va, set; int ok; uint64_t want; } t[] = {
        { "MPRV MPP=S, S page", PG_VA(PG_R), MSTATUS_MPP_S, 1, PG_VALUE(PG_R) },
        { "MPRV MPP=S, V=0", PG_VA(PG_INV) + 8, MSTATUS_MPP_S, 0, 0 },
        { "MPRV MPP=S, U page", PG_VA(PG_URW), MSTATUS_MPP_S, 0, 0 },
        { "MPRV MPP=S, U page, SUM", PG_VA(PG_URW), MSTATUS_MPP_S | MSTATUS_SUM, 1,
          PG_VALUE(PG_URW) },
        { "MPRV MPP=S, X page", PG_VA(PG_X), MSTATUS_MPP_S, 0, 0 },
        { "MPRV MPP=S, X page, MXR", PG_VA(PG_X), MSTATUS_MPP_S | MSTATUS_MXR, 1,
          PG_VALUE(PG_X) },
        { "MPRV MPP=U, U page", PG_VA(PG_URW) + 0x800, MSTATUS_MPP_U, 1,
          PG_VALUE(PG_URW) + 0x800 },
        { "MPRV MPP=U, S page", PG_VA(PG_RW), MSTATUS_MPP_U, 0, 0 },
        { "MPRV MPP=S, 2 MiB page", MEGA_VA, MSTATUS_MPP_S, 1, 0 },
    };
    t[8].want = *(volatile uint64_t *)MEGA_PA;
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        uint64_t r = mprv_ld(t[i].va, MSTATUS_MPRV | t[i].set);
        if (t[i].ok) {
            check(r, t[i].want, "%s", t[i].what);
            expect_no_trap(t[i].what);
        } else {
            check(r, t[i].va, "%s: rd unchanged", t[i].what);
            expect_trap_from(t[i].what, PRV_M, CAUSE_LOAD_PAGE, ADDR(mprv_ld_site),
                             t[i].va, PRV_M);
        }
        check(csr_read(mstatus) & MSTATUS_MPRV, 0, "%s: MPRV off again", t[i].what);
    }
    mprv_sd(PG_VA(PG_R) + 8, 1, MSTATUS_MPRV | MSTATUS_MPP_S);
    expect_trap_from("MPRV store MPP=S to a read-only page", PRV_M, CAUSE_STORE_PAGE,
                     ADDR(mprv_sd_site), PG_VA(PG_R) + 8, PRV_M);
    mprv_sd(PG_VA(PG_RW) + 8, 0x77, MSTATUS_MPRV | MSTATUS_MPP_S);
    check(*(volatile uint64_t *)(SCRATCH(PG_RW) + 8), 0x77, "MPRV store MPP=S");
    /* MPRV with MPP=M: no translation */
    check(mprv_ld(SCRATCH(PG_INV), MSTATUS_MPRV | MSTATUS_MPP_M), PG_VALUE(PG_INV),
          "MPRV MPP=M: physical");
    /* MPRV does not affect fetches: this code kept running */
    expect_no_trap("MPRV");
}

static void t_delegated(void)
{
    csr_write(medeleg, (1UL << CAUSE_FETCH_PAGE) | (1UL << CAUSE_LOAD_PAGE) |
                       (1UL << CAUSE_STORE_PAGE));
    page_rwx("delegated, R", PRV_S, PG_R, 1, 0, 0, 0);
    page_rwx("delegated, V=0", PRV_U, PG_INV, 0, 0, 0, 0);
    page_rwx("delegated, U RX", PRV_S, PG_URX, 0, 0, 0, 0);
    acc_ld("delegated, non-canonical", PRV_S, 0x0000004000000000UL, 0, 0, 0);
    csr_write(medeleg, 0);
}

void group_sv39(void)
{
    begin("sv39");
    vm_start();
    t_perms();
    t_superpages();
    t_canonical();
    t_ad();
    t_sfence();
    t_satp();
    t_tvm();
    t_mprv();
    t_delegated();
    csr_write(satp, 0);
    sfence_all();
    end();
}
