/* priv-selftest group pmp: physical memory protection from S and U (and
 * M with MPRV, and M under locked entries): TOR, NA4 and NAPOT regions
 * with R/W/X combinations, lowest-numbered match wins, partial matches
 * fail, no match fails for S/U, locked entries bind M and ignore writes.
 *
 * Entry 15 normally maps everything RWX (pmp_reset()) so that S/U code runs;
 * the tests use lower entries, which take priority. Regions are in RAM
 * above the image, at PMP_BASE. The locking tests come last: locked entries
 * stay until reset (they only cover LOCK_BASE.., unused afterwards). */
#include "ps.h"
#include "vm.h"

#define PMP_BASE   0x81800000UL
#define LOCK_BASE  0x81900000UL

/* ---- entry programming ----------------------------------------------------------- */

#define PMPADDR_CASE(n) case n: csr_write(pmpaddr##n, v); break;
static void pmpaddr_write(unsigned i, uint64_t v)
{
    switch (i) {
    PMPADDR_CASE(0) PMPADDR_CASE(1) PMPADDR_CASE(2) PMPADDR_CASE(3)
    PMPADDR_CASE(4) PMPADDR_CASE(5) PMPADDR_CASE(6) PMPADDR_CASE(7)
    PMPADDR_CASE(8) PMPADDR_CASE(9) PMPADDR_CASE(10) PMPADDR_CASE(11)
    PMPADDR_CASE(12) PMPADDR_CASE(13) PMPADDR_CASE(14) PMPADDR_CASE(15)
    }
}

#define PMPADDR_RCASE(n) case n: return csr_read(pmpaddr##n);
static uint64_t pmpaddr_read(unsigned i)
{
    switch (i) {
    PMPADDR_RCASE(0) PMPADDR_RCASE(1) PMPADDR_RCASE(2) PMPADDR_RCASE(3)
    PMPADDR_RCASE(4) PMPADDR_RCASE(5) PMPADDR_RCASE(6) PMPADDR_RCASE(7)
    PMPADDR_RCASE(8) PMPADDR_RCASE(9) PMPADDR_RCASE(10) PMPADDR_RCASE(11)
    PMPADDR_RCASE(12) PMPADDR_RCASE(13) PMPADDR_RCASE(14) PMPADDR_RCASE(15)
    }
    return 0;
}

static uint8_t pmpcfg_read(unsigned i)
{
    uint64_t c = i < 8 ? csr_read(pmpcfg0) : csr_read(pmpcfg2);
    return (uint8_t)(c >> (8 * (i & 7)));
}

static void pmpcfg_write(unsigned i, uint8_t cfg)
{
    unsigned sh = 8 * (i & 7);
    if (i < 8) {
        uint64_t c = csr_read(pmpcfg0);
        csr_write(pmpcfg0, (c & ~(0xffUL << sh)) | ((uint64_t)cfg << sh));
    } else {
        uint64_t c = csr_read(pmpcfg2);
        csr_write(pmpcfg2, (c & ~(0xffUL << sh)) | ((uint64_t)cfg << sh));
    }
}

/* Program entry i and synchronise (SFENCE.VMA after PMP changes). */
static void pmp_set(unsigned i, uint64_t addr_field, uint8_t cfg)
{
    pmpcfg_write(i, 0);
    pmpaddr_write(i, addr_field);
    pmpcfg_write(i, cfg);
    sfence_all();
}

static uint64_t napot(uint64_t base, uint64_t size)
{
    return (base >> 2) | ((size >> 3) - 1);
}

/* ---- access helpers ------------------------------------------------------------------ */

static const char *mname(int mode)
{
    return mode == PRV_M ? "M" : mode == PRV_S ? "S" : "U";
}

static void put_code(uint64_t pa, unsigned value)
{
    volatile uint32_t *c = (volatile uint32_t *)pa;
    c[0] = ((uint32_t)value << 20) | (10U << 7) | 0x13;    /* addi a0, zero, value */
    c[1] = 0x00008067;                                      /* ret */
    __asm__ volatile ("fence.i" ::: "memory");
}

static uint64_t call1(int mode, uint64_t (*fn)(uint64_t), uint64_t a0)
{
    return mode == PRV_M ? fn(a0) : run_mode(mode, fn, a0);
}

/* Load from `a` in `mode`: expect success with value `want`, or an access
 * fault. */
static void probe_load(const char *what, int mode, uint64_t a, int ok, uint64_t want)
{
    uint64_t r = call1(mode, site_ld, a);
    if (ok) {
        check(r, want, "%s: load 0x%lx from %s", what, (unsigned long)a, mname(mode));
        expect_no_trap(what);
    } else {
        char w[96];
        rt_snprintf(w, sizeof w, "%s: load 0x%lx from %s", what, (unsigned long)a, mname(mode));
        expect_trap_from(w, PRV_M, CAUSE_LOAD_ACCESS, ADDR(site_ld), a, mode);
    }
}

/* Cleared while M-mode itself cannot read the probed region (locked
 * entries without R): then memory contents are not compared. */
static int m_can_read = 1;

static void probe_store(const char *what, int mode, uint64_t a, int ok)
{
    volatile uint64_t *p = (volatile uint64_t *)a;
    uint64_t before = m_can_read ? *p : 0;
    uint64_t v = before ^ 0x0123456789abcdefUL;
    if (mode == PRV_M)
        site_sd(a, v);
    else
        run_mode2(mode, site_sd, a, v);
    char w[96];
    rt_snprintf(w, sizeof w, "%s: store 0x%lx from %s", what, (unsigned long)a, mname(mode));
    if (ok) {
        if (m_can_read)
            check(*p, v, "%s", w);
        expect_no_trap(w);
    } else {
        if (m_can_read)
            check(*p, before, "%s: memory unchanged", w);
        expect_trap_from(w, PRV_M, CAUSE_STORE_ACCESS, ADDR(site_sd), a, mode);
    }
}

static void probe_fetch(const char *what, int mode, uint64_t a, int ok, unsigned value)
{
    uint64_t r = call1(mode, site_call, a);
    char w[96];
    rt_snprintf(w, sizeof w, "%s: fetch 0x%lx from %s", what, (unsigned long)a, mname(mode));
    if (ok) {
        check(r, value, "%s", w);
        expect_no_trap(w);
    } else {
        check(r, a, "%s: returned", w);
        expect_trap_from(w, PRV_M, CAUSE_FETCH_ACCESS, a, a, mode);
    }
}

/* R/W/X combinations other than the reserved R=0 W=1. */
static const uint8_t perms[6] = {
    0, PMP_R, PMP_X, PMP_R | PMP_X, PMP_R | PMP_W, PMP_R | PMP_W | PMP_X,
};

/* Check a region [base, base+size) configured with perms p. Code for the
 * fetch checks sits at base + 0x400 (regions are page-sized: QEMU 7.2
 * checks a fetch against the PMP up to the end of its page). */
static void probe_region(const char *what, uint64_t base, uint64_t size, uint8_t p)
{
    for (int mode = PRV_U; mode <= PRV_S; mode++) {
        probe_load(what, mode, base + 8, p & PMP_R, *(volatile uint64_t *)(base + 8));
        probe_load(what, mode, base + size - 8, p & PMP_R,
                   *(volatile uint64_t *)(base + size - 8));
        probe_store(what, mode, base + 16, (p & PMP_W) != 0);
        probe_fetch(what, mode, base + 0x400, (p & PMP_X) != 0, 0x400 + (unsigned)p);
        /* just outside: entry 15 (everything RWX) */
        probe_load(what, mode, base - 8, 1, *(volatile uint64_t *)(base - 8));
        probe_load(what, mode, base + size, 1, *(volatile uint64_t *)(base + size));
    }
    /* unlocked entries do not restrict M */
    probe_load(what, PRV_M, base + 8, 1, *(volatile uint64_t *)(base + 8));
    probe_store(what, PRV_M, base + 24, 1);
    probe_fetch(what, PRV_M, base + 0x400, 1, 0x400 + (unsigned)p);
}

static void fill(uint64_t base, uint64_t size)
{
    volatile uint64_t *p = (volatile uint64_t *)base;
    for (uint64_t i = 0; i < size / 8; i += 1)
        p[i] = 0xd00d000000000000UL ^ (base + 8 * i);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void t_tor(void)
{
    char w[48];
    for (unsigned k = 0; k < 6; k++) {
        put_code(PMP_BASE + 0x400, 0x400 + perms[k]);
        pmp_set(0, PMP_BASE >> 2, PMP_OFF);
        pmp_set(1, (PMP_BASE + 0x1000) >> 2, PMP_TOR | perms[k]);
        rt_snprintf(w, sizeof w, "TOR perms %x", perms[k]);
        probe_region(w, PMP_BASE, 0x1000, perms[k]);
    }
    /* TOR with pmpaddr[i-1] >= pmpaddr[i] matches nothing */
    pmp_set(0, (PMP_BASE + 0x1000) >> 2, PMP_OFF);
    pmp_set(1, PMP_BASE >> 2, PMP_TOR);
    probe_load("empty TOR", PRV_S, PMP_BASE + 8, 1, *(volatile uint64_t *)(PMP_BASE + 8));
    /* entry 0 in TOR mode: [0, pmpaddr0) */
    pmp_set(1, 0, PMP_OFF);
    pmp_set(0, (PMP_BASE + 0x1000) >> 2, PMP_TOR | PMP_R | PMP_W | PMP_X);
    pmp_set(2, PMP_BASE >> 2, PMP_OFF);
    pmp_set(3, (PMP_BASE + 0x2000) >> 2, PMP_TOR | PMP_R);
    /* [0, PMP_BASE+0x1000) matches entry 0 (RWX) first; the part of entry 3's
     * range above that is read-only */
    probe_store("TOR entry 0 before entry 3", PRV_S, PMP_BASE + 0x10, 1);
    probe_store("TOR entry 3 above entry 0", PRV_S, PMP_BASE + 0x1010, 0);
    pmp_reset();
}

static void t_na4(void)
{
    const uint64_t a = PMP_BASE + 0x1104;     /* a - 4 is 8-byte aligned */
    char w[48];
    for (unsigned k = 0; k < 6; k++) {
        pmp_set(2, a >> 2, PMP_NA4 | perms[k]);
        rt_snprintf(w, sizeof w, "NA4 perms %x", perms[k]);
        for (int mode = PRV_U; mode <= PRV_S; mode++) {
            uint64_t r = call1(mode, site_lw, a);
            if (perms[k] & PMP_R) {
                check(r, (uint64_t)(int64_t)*(volatile int32_t *)a, "%s: lw from %s", w,
                      mname(mode));
                expect_no_trap(w);
            } else {
                expect_trap_from(w, PRV_M, CAUSE_LOAD_ACCESS, ADDR(site_lw), a, mode);
            }
            call1(mode, site_lb, a + 3);
            if (perms[k] & PMP_R)
                expect_no_trap(w);
            else
                expect_trap_from(w, PRV_M, CAUSE_LOAD_ACCESS, ADDR(site_lb), a + 3, mode);
            if (mode == PRV_S)
                run_mode2(mode, site_sw, a, 0x11223344);
            else
                run_mode2(mode, site_sh, a + 2, 0x5566);
            if (perms[k] & PMP_W)
                expect_no_trap(w);
            else
                expect_trap_from(w, PRV_M, CAUSE_STORE_ACCESS,
                                 mode == PRV_S ? ADDR(site_sw) : ADDR(site_sh),
                                 mode == PRV_S ? a : a + 2, mode);
            /* the neighbouring words are outside the entry */
            call1(mode, site_lw, a + 4);
            call1(mode, site_lw, a - 4);
            expect_no_trap("NA4 neighbours");
        }
    }
    /* an access that only partly matches the entry fails whatever its
     * permissions: ld of [a-4, a+4) against NA4 [a, a+4) RW */
    pmp_set(2, a >> 2, PMP_NA4 | PMP_R | PMP_W);
    for (int mode = PRV_U; mode <= PRV_S; mode++) {
        call1(mode, site_ld, a - 4);
        expect_trap_from("ld partly in an NA4 entry", PRV_M, CAUSE_LOAD_ACCESS,
                         ADDR(site_ld), a - 4, mode);
    }
    pmp_reset();
}

static void t_napot(void)
{
    const uint64_t base = PMP_BASE + 0x2000;
    char w[48];
    for (unsigned k = 0; k < 6; k++) {
        put_code(base + 0x400, 0x400 + perms[k]);
        pmp_set(3, napot(base, 0x1000), PMP_NAPOT | perms[k]);
        rt_snprintf(w, sizeof w, "NAPOT 4K perms %x", perms[k]);
        probe_region(w, base, 0x1000, perms[k]);
    }
    /* the smallest NAPOT region: 8 bytes */
    pmp_set(3, napot(base + 0x808, 8), PMP_NAPOT);
    for (int mode = PRV_U; mode <= PRV_S; mode++) {
        probe_load("NAPOT 8 bytes", mode, base + 0x808, 0, 0);
        probe_load("NAPOT 8 bytes, next", mode, base + 0x810, 1,
                   *(volatile uint64_t *)(base + 0x810));
        probe_load("NAPOT 8 bytes, previous", mode, base + 0x800, 1,
                   *(volatile uint64_t *)(base + 0x800));
    }
    /* a large one: 64 KiB at PMP_BASE */
    pmp_set(3, napot(PMP_BASE, 0x10000), PMP_NAPOT | PMP_R);
    for (int mode = PRV_U; mode <= PRV_S; mode++) {
        probe_store("NAPOT 64K R", mode, PMP_BASE + 0xfff8, 0);
        probe_load("NAPOT 64K R", mode, PMP_BASE + 0x8000, 1,
                   *(volatile uint64_t *)(PMP_BASE + 0x8000));
        probe_store("NAPOT 64K R, above", mode, PMP_BASE + 0x10000, 1);
    }
    pmp_reset();
}

static void t_priority(void)
{
    const uint64_t base = PMP_BASE + 0x4000;
    /* entry 4: [base, +4K) R; entry 5: [base, +8K) RW */
    pmp_set(4, napot(base, 0x1000), PMP_NAPOT | PMP_R);
    pmp_set(5, napot(base, 0x2000), PMP_NAPOT | PMP_R | PMP_W);
    for (int mode = PRV_U; mode <= PRV_S; mode++) {
        probe_store("entry 4 (R) before entry 5 (RW)", mode, base + 8, 0);
        probe_store("entry 5 (RW) beyond entry 4", mode, base + 0x1008, 1);
    }
    /* reversed permissions */
    pmp_set(4, napot(base, 0x1000), PMP_NAPOT | PMP_R | PMP_W);
    pmp_set(5, napot(base, 0x2000), PMP_NAPOT);
    for (int mode = PRV_U; mode <= PRV_S; mode++) {
        probe_store("entry 4 (RW) before entry 5 (none)", mode, base + 8, 1);
        probe_load("entry 5 (none) beyond entry 4", mode, base + 0x1008, 0, 0);
    }
    /* a higher-numbered entry (5, RW) does not override a lower one (4,
     * none) even though both match */
    pmp_set(4, napot(base, 0x2000), PMP_NAPOT);
    pmp_set(5, napot(base, 0x1000), PMP_NAPOT | PMP_R | PMP_W);
    for (int mode = PRV_U; mode <= PRV_S; mode++)
        probe_load("entry 4 (none) over entry 5 (RW)", mode, base + 8, 0, 0);
    pmp_reset();
}

static uint64_t image_word = 0x1357246813572468UL;

static void t_no_match(void)
{
    /* Entry 15 off; entry 0 covers the image (16 MiB at 0x8000_0000) only.
     * Accesses from S/U that match no entry fail; M is not affected. */
    pmp_set(15, 0, PMP_OFF);
    pmp_set(0, napot(0x80000000UL, 0x1000000UL), PMP_NAPOT | PMP_R | PMP_W | PMP_X);
    for (int mode = PRV_U; mode <= PRV_S; mode++) {
        probe_load("no entry matches", mode, PMP_BASE + 0x8, 0, 0);
        probe_store("no entry matches", mode, PMP_BASE + 0x10, 0);
        probe_load("entry 0 matches", mode, ADDR(&image_word), 1, image_word);
    }
    probe_load("no entry matches", PRV_M, PMP_BASE + 0x8, 1,
               *(volatile uint64_t *)(PMP_BASE + 0x8));
    pmp_reset();
}

static void t_mprv(void)
{
    /* MPRV=1: M-mode loads and stores are checked with the privilege in MPP */
    const uint64_t base = PMP_BASE + 0x6000;
    pmp_set(6, napot(base, 0x1000), PMP_NAPOT | PMP_R);
    static const uint64_t mpps[2] = { MSTATUS_MPP_U, MSTATUS_MPP_S };
    for (int k = 0; k < 2; k++) {
        uint64_t set = MSTATUS_MPRV | mpps[k];
        check(mprv_ld(base + 8, set), *(volatile uint64_t *)(base + 8),
              "MPRV load, MPP=%s, R region", k ? "S" : "U");
        expect_no_trap("MPRV load");
        mprv_sd(base + 16, 1, set);
        expect_trap_from(k ? "MPRV store, MPP=S, R region" : "MPRV store, MPP=U, R region",
                         PRV_M, CAUSE_STORE_ACCESS, ADDR(mprv_sd_site), base + 16, PRV_M);
        check(csr_read(mstatus) & MSTATUS_MPRV, 0, "MPRV cleared by the site");
    }
    /* MPP=M: no restriction */
    mprv_sd(base + 16, 2, MSTATUS_MPRV | MSTATUS_MPP_M);
    expect_no_trap("MPRV store, MPP=M");
    check(*(volatile uint64_t *)(base + 16), 2, "MPRV store with MPP=M");
    pmp_reset();
}

static void t_delegated(void)
{
    /* PMP access faults delegated to S */
    pmp_set(0, napot(PMP_BASE, 0x1000), PMP_NAPOT);
    csr_write(medeleg, (1UL << CAUSE_LOAD_ACCESS) | (1UL << CAUSE_STORE_ACCESS) |
                       (1UL << CAUSE_FETCH_ACCESS));
    put_code(PMP_BASE + 0x400, 0x400);
    run_mode(PRV_U, site_ld, PMP_BASE + 8);
    expect_trap_from("PMP load fault delegated", PRV_S, CAUSE_LOAD_ACCESS, ADDR(site_ld),
                     PMP_BASE + 8, PRV_U);
    run_mode2(PRV_U, site_sd, PMP_BASE + 8, 0);
    expect_trap_from("PMP store fault delegated", PRV_S, CAUSE_STORE_ACCESS, ADDR(site_sd),
                     PMP_BASE + 8, PRV_U);
    run_mode(PRV_S, site_call, PMP_BASE + 0x400);
    expect_trap_from("PMP fetch fault delegated", PRV_S, CAUSE_FETCH_ACCESS,
                     PMP_BASE + 0x400, PMP_BASE + 0x400, PRV_S);
    csr_write(medeleg, 0);
    pmp_reset();
}

static void t_locked(void)
{
    /* Entry 12: NAPOT 4K at LOCK_BASE+0x2000, locked, R only.
     * Entries 10/11: TOR [LOCK_BASE, LOCK_BASE+0x1000), 11 locked, X only. */
    const uint64_t nb = LOCK_BASE + 0x2000;
    fill(LOCK_BASE, 0x3000);
    put_code(LOCK_BASE + 0x400, 0x7a);
    put_code(nb + 0x400, 0x7b);

    pmp_set(12, napot(nb, 0x1000), PMP_NAPOT | PMP_R | PMP_L);
    probe_load("locked R", PRV_M, nb + 8, 1, *(volatile uint64_t *)(nb + 8));
    probe_store("locked R", PRV_M, nb + 16, 0);
    probe_fetch("locked R", PRV_M, nb + 0x400, 0, 0);
    probe_store("locked R", PRV_S, nb + 16, 0);
    probe_load("locked R", PRV_U, nb + 8, 1, *(volatile uint64_t *)(nb + 8));

    /* writes to a locked entry are ignored */
    uint64_t a12 = pmpaddr_read(12);
    pmpcfg_write(12, PMP_NAPOT | PMP_R | PMP_W | PMP_X);
    pmpaddr_write(12, 0);
    csr_clear(pmpcfg2, ~0UL);
    sfence_all();
    pmp_reset();        /* entry 15 back (S/U code must run) */
    check(pmpcfg_read(12), PMP_NAPOT | PMP_R | PMP_L, "locked pmpcfg12 ignores writes");
    check(pmpaddr_read(12), a12, "locked pmpaddr12 ignores writes");
    probe_store("locked R after write attempts", PRV_M, nb + 16, 0);

    pmp_set(10, LOCK_BASE >> 2, PMP_OFF);
    pmp_set(11, (LOCK_BASE + 0x1000) >> 2, PMP_TOR | PMP_X | PMP_L);
    probe_load("locked TOR X", PRV_M, LOCK_BASE + 8, 0, 0);
    m_can_read = 0;
    probe_store("locked TOR X", PRV_M, LOCK_BASE + 16, 0);
    m_can_read = 1;
    probe_fetch("locked TOR X", PRV_M, LOCK_BASE + 0x400, 1, 0x7a);
    probe_fetch("locked TOR X", PRV_S, LOCK_BASE + 0x400, 1, 0x7a);
    probe_load("locked TOR X", PRV_U, LOCK_BASE + 8, 0, 0);
    /* the entry below a locked TOR entry: pmpaddr10 is locked, cfg10 is not */
    pmpaddr_write(10, (LOCK_BASE + 0x800) >> 2);
    check(pmpaddr_read(10), LOCK_BASE >> 2, "pmpaddr10 below a locked TOR entry ignores writes");
    pmpaddr_write(11, 0);
    check(pmpaddr_read(11), (LOCK_BASE + 0x1000) >> 2, "locked pmpaddr11 ignores writes");
    pmpcfg_write(10, PMP_NA4 | PMP_R);
    check(pmpcfg_read(10), PMP_NA4 | PMP_R, "pmpcfg10 (unlocked) is writable");
    check(pmpcfg_read(11), PMP_TOR | PMP_X | PMP_L, "pmpcfg11 still locked");
    pmpcfg_write(10, PMP_OFF);
    sfence_all();
    probe_load("locked TOR X, still", PRV_M, LOCK_BASE + 0x808, 0, 0);
    /* pmp_reset() leaves the locked entries alone */
    pmp_reset();
    check(pmpcfg_read(12), PMP_NAPOT | PMP_R | PMP_L, "pmpcfg12 after pmp_reset");
    check(pmpcfg_read(11), PMP_TOR | PMP_X | PMP_L, "pmpcfg11 after pmp_reset");
    check(pmpcfg_read(15), PMP_NAPOT | PMP_R | PMP_W | PMP_X, "pmpcfg15 after pmp_reset");
}

void group_pmp(void)
{
    begin("pmp");
    fill(PMP_BASE, 0x11000);
    t_tor();
    t_na4();
    t_napot();
    t_priority();
    t_no_match();
    t_mprv();
    t_delegated();
    t_locked();
    end();
}
