/* priv-selftest group counters: cycle/time/instret readable in M, and in S
 * and U only as mcounteren (and, for U, scounteren) allow; mcycle/minstret
 * writable; time follows mtime and increases.
 *
 * Only causal facts are checked (time moves on; a written counter reads
 * back at or a little above the written value): on QEMU the counters follow
 * the host clock, on Caravan the instruction count. */
#include "ps.h"
#include "vm.h"

uint64_t wr_rd_mcycle(uint64_t), wr_rd_minstret(uint64_t);
uint64_t site_rdcycle(uint64_t), site_rdtime(uint64_t), site_rdinstret(uint64_t);

#define WAIT_MAX 10000000U

static void t_m_reads(void)
{
    uint64_t c1 = csr_read(cycle), i1 = csr_read(instret), t1 = csr_read(time);
    uint64_t mc1 = csr_read(mcycle), mi1 = csr_read(minstret);
    for (volatile int k = 0; k < 1000; k++)
        ;
    uint64_t c2 = csr_read(cycle), i2 = csr_read(instret);
    uint64_t mc2 = csr_read(mcycle), mi2 = csr_read(minstret);
    check_true(c2 > c1, "cycle increases");
    check_true(i2 > i1, "instret increases");
    check_true(mc2 > mc1, "mcycle increases");
    check_true(mi2 > mi1, "minstret increases");
    check_true(mc1 >= c1 && mc2 >= mc1, "mcycle and cycle agree");
    /* time moves on */
    unsigned n = 0;
    uint64_t t2 = csr_read(time);
    while (t2 == t1 && n < WAIT_MAX) {
        t2 = csr_read(time);
        n++;
    }
    check_true(t2 > t1, "time increases");
    /* time is mtime */
    uint64_t m1 = mtime_now();
    uint64_t t = csr_read(time);
    uint64_t m2 = mtime_now();
    check_true(m1 <= t && t <= m2, "mtime <= time <= mtime");
    expect_no_trap("counter reads in M");
}

static void t_writes(void)
{
    /* write, read back at once: >= the value written, and (best of 16,
     * the first round warms up) less than 1000 above it */
    static const uint64_t vals[4] = {
        0x100000000UL, 0x123456789000UL, 0x7fffffff00000000UL, 0x10UL,
    };
    for (unsigned v = 0; v < 4; v++) {
        uint64_t x = vals[v];
        uint64_t best_c = ~0UL, best_i = ~0UL;
        int ge_c = 1, ge_i = 1;
        for (int k = 0; k < 16; k++) {
            uint64_t c = wr_rd_mcycle(x);
            uint64_t i = wr_rd_minstret(x);
            ge_c &= c >= x;
            ge_i &= i >= x;
            if (c - x < best_c)
                best_c = c - x;
            if (i - x < best_i)
                best_i = i - x;
        }
        check_true(ge_c, "mcycle read back >= 0x%lx", (unsigned long)x);
        check_true(ge_i, "minstret read back >= 0x%lx", (unsigned long)x);
        check_true(best_c < 1000, "mcycle read back close to 0x%lx", (unsigned long)x);
        check_true(best_i < 1000, "minstret read back close to 0x%lx", (unsigned long)x);
        uint64_t c = csr_read(cycle);
        check_true(c >= x, "cycle follows mcycle (0x%lx)", (unsigned long)x);
        uint64_t i = csr_read(instret);
        check_true(i >= x, "instret follows minstret (0x%lx)", (unsigned long)x);
    }
}

static const struct {
    const char *name;
    uint64_t (*fn)(uint64_t);
    unsigned bit;
} ctr[3] = {
    { "cycle", site_rdcycle, 0 },
    { "time", site_rdtime, 1 },
    { "instret", site_rdinstret, 2 },
};

static void try_read(int mode, unsigned c, uint64_t men, uint64_t sen)
{
    csr_write(mcounteren, men);
    csr_write(scounteren, sen);
    int ok = (men >> ctr[c].bit) & 1;
    if (mode == PRV_U)
        ok &= (sen >> ctr[c].bit) & 1;
    uint64_t r = run_mode(mode, ctr[c].fn, 0xdead);
    char w[96];
    rt_snprintf(w, sizeof w, "%s from %s, mcounteren=%lx scounteren=%lx", ctr[c].name,
                mode == PRV_S ? "S" : "U", (unsigned long)men, (unsigned long)sen);
    if (ok) {
        check_true(r != 0xdead, "%s: read", w);
        expect_no_trap(w);
    } else {
        check(r, 0xdead, "%s: rd unchanged", w);
        expect_trap_from(w, PRV_M, CAUSE_ILLEGAL, mode_pc(mode, ctr[c].fn),
                         *(volatile uint32_t *)(uintptr_t)ctr[c].fn, mode);
    }
}

static void t_enables(void)
{
    static const uint64_t en[] = { 0, 1, 2, 4, 7, 6, 5, 3 };
    for (unsigned c = 0; c < 3; c++) {
        for (unsigned m = 0; m < sizeof(en) / 8; m++) {
            try_read(PRV_S, c, en[m], 0);
            try_read(PRV_S, c, en[m], 7);
            for (unsigned s = 0; s < sizeof(en) / 8; s++)
                try_read(PRV_U, c, en[m], en[s]);
        }
    }
    /* values seen from S/U move on too */
    csr_write(mcounteren, 7);
    csr_write(scounteren, 7);
    uint64_t t1 = run_mode(PRV_U, site_rdtime, 0);
    uint64_t t2 = t1;
    for (unsigned n = 0; t2 == t1 && n < 1000000; n++)
        t2 = run_mode(PRV_U, site_rdtime, 0);
    check_true(t2 > t1, "time from U increases");
    uint64_t c1 = run_mode(PRV_S, site_rdcycle, 0);
    uint64_t c2 = run_mode(PRV_S, site_rdcycle, 0);
    check_true(c2 > c1, "cycle from S increases");
    uint64_t i1 = run_mode(PRV_U, site_rdinstret, 0);
    uint64_t i2 = run_mode(PRV_U, site_rdinstret, 0);
    check_true(i2 > i1, "instret from U increases");
    /* delegated to S */
    csr_write(mcounteren, 0);
    csr_write(medeleg, 1UL << CAUSE_ILLEGAL);
    run_mode(PRV_U, site_rdtime, 0);
    expect_trap_from("time from U, delegated", PRV_S, CAUSE_ILLEGAL, ADDR(site_rdtime),
                     *(volatile uint32_t *)(uintptr_t)site_rdtime, PRV_U);
    csr_write(medeleg, 0);
    csr_write(mcounteren, 7);
}

static void t_under_vm(void)
{
    /* the same checks with translation on (U code through the alias) */
    vm_fill_scratch();
    vm_build();
    csr_write(satp, satp_a());
    sfence_all();
    for (unsigned c = 0; c < 3; c++) {
        try_read(PRV_U, c, 7, 7 & ~(1UL << ctr[c].bit));
        try_read(PRV_U, c, 7, 7);
        try_read(PRV_S, c, 7 & ~(1UL << ctr[c].bit), 7);
    }
    csr_write(satp, 0);
    sfence_all();
}

void group_counters(void)
{
    begin("counters");
    t_m_reads();
    t_writes();
    t_enables();
    t_under_vm();
    end();
}
