/* priv-selftest group interrupts: the six interrupt sources of an M/S hart
 * on the virt board (CLINT msip/mtimecmp, PLIC contexts 0 and 1 fed by the
 * UART's THR-empty interrupt, mip.SSIP/STIP/SEIP written by M-mode, Sstc's
 * stimecmp), global and per-source masking, delegation, priorities,
 * vectored mode and WFI.
 *
 * Nothing depends on how fast time runs: a timer is armed 1000 ticks ahead
 * and the wait loops give up only after 10 million iterations. */
#include "ps.h"
#include "vm.h"

#define WAIT_MAX 10000000U

uint64_t irq_on_mstatus(uint64_t), irq_on_mie(uint64_t), irq_on_sstatus(uint64_t),
    irq_on_sie(uint64_t), wfi_loop_m(uint64_t);
extern char irq_on_mstatus_next[], irq_on_mie_next[], irq_on_sstatus_next[],
    irq_on_sie_next[];

/* ---- devices ---------------------------------------------------------------- */

static void msip(uint32_t v)
{
    MMIO32(CLINT_MSIP) = v;
}

static void mtimecmp(uint64_t v)
{
    MMIO64(CLINT_MTIMECMP) = v;
}

static void plic_setup(unsigned ctx)
{
    MMIO32(PLIC_PRIORITY(UART_IRQ)) = 1;
    MMIO32(PLIC_THRESHOLD(ctx)) = 0;
    MMIO32(PLIC_ENABLE(ctx)) = 1U << UART_IRQ;
}

static void uart_thri(int on)
{
    MMIO8(RT_UART_BASE + UART_IER) = on ? UART_IER_THRI : 0;
}

static volatile uint32_t claimed[4];
static volatile unsigned n_claimed;

/* Claim, silence the UART, complete. */
static void plic_ack(unsigned ctx)
{
    uint32_t id = MMIO32(PLIC_CLAIM(ctx));
    if (n_claimed < 4)
        claimed[n_claimed] = id;
    n_claimed++;
    uart_thri(0);
    if (id)
        MMIO32(PLIC_CLAIM(ctx)) = id;
}

static void m_hook_plic(uint64_t code)
{
    if (code == IRQ_MEI)
        plic_ack(0);
}

static void s_hook_plic(uint64_t code)
{
    if (code == IRQ_SEI)
        plic_ack(1);
}

static void s_hook_stimecmp(uint64_t code)
{
    if (code == IRQ_STI)
        csr_write(0x14d, ~0UL);
}

static void m_hook_stimecmp(uint64_t code)
{
    if (code == IRQ_STI)
        csr_write(0x14d, ~0UL);
}

/* Wait (in any mode) until n trap records exist. */
static int wait_recs(unsigned n)
{
    for (volatile uint32_t i = 0; i < WAIT_MAX; i++)
        if (n_recs >= n)
            return 1;
    return 0;
}

static uint64_t s_wait_one(uint64_t unused)
{
    (void)unused;
    return wait_recs(1);
}

static void spin(unsigned n)
{
    for (volatile unsigned i = 0; i < n; i++)
        ;
}

static void expect_irq(const char *what, uint64_t level, unsigned code, uint64_t epc,
                       int prev_mode)
{
    expect_trap_from(what, level, INTR | code, epc, TV_ANY, prev_mode);
}

/* ---- machine-level sources ------------------------------------------------------ */

static void t_msi(void)
{
    check(csr_read(mip) & MIP_MSIP, 0, "mip.MSIP before msip=1");
    msip(1);
    check(csr_read(mip) & MIP_MSIP, MIP_MSIP, "mip.MSIP after msip=1");
    /* masked by mie */
    csr_set(mstatus, MSTATUS_MIE);
    spin(100);
    csr_clear(mstatus, MSTATUS_MIE);
    expect_no_trap("MSI pending, mie.MSIE=0, MIE=1");
    /* masked by mstatus.MIE */
    csr_set(mie, MIP_MSIP);
    spin(100);
    expect_no_trap("MSI pending, mie.MSIE=1, MIE=0");
    /* taken right after the enabling write */
    irq_on_mstatus(MSTATUS_MIE);
    csr_clear(mstatus, MSTATUS_MIE);
    expect_irq("MSI on MIE=1", PRV_M, IRQ_MSI, ADDR(irq_on_mstatus_next), PRV_M);
    check(csr_read(mie) & MIP_MSIP, 0, "handler cleared mie.MSIE");
    /* and after enabling in mie with MIE=1 */
    csr_set(mstatus, MSTATUS_MIE);
    irq_on_mie(MIP_MSIP);
    csr_clear(mstatus, MSTATUS_MIE);
    expect_irq("MSI on mie.MSIE=1", PRV_M, IRQ_MSI, ADDR(irq_on_mie_next), PRV_M);
    msip(0);
    check(csr_read(mip) & MIP_MSIP, 0, "mip.MSIP after msip=0");
    /* mip.MSIP is read-only */
    csr_set(mip, MIP_MSIP);
    check(csr_read(mip) & MIP_MSIP, 0, "mip.MSIP not writable");
}

static void t_mti(void)
{
    check(csr_read(mip) & MIP_MTIP, 0, "mip.MTIP with mtimecmp=max");
    mtimecmp(0);
    check(csr_read(mip) & MIP_MTIP, MIP_MTIP, "mip.MTIP with mtimecmp=0");
    mtimecmp(~0UL);
    check(csr_read(mip) & MIP_MTIP, 0, "mip.MTIP with mtimecmp=max again");

    csr_set(mie, MIP_MTIP);
    csr_set(mstatus, MSTATUS_MIE);
    mtimecmp(mtime_now() + 1000);
    int got = wait_recs(1);
    csr_clear(mstatus, MSTATUS_MIE);
    check(got, 1, "MTI 1000 ticks ahead arrived");
    expect_irq("MTI", PRV_M, IRQ_MTI, TV_ANY, PRV_M);
    check(csr_read(mip) & MIP_MTIP, MIP_MTIP, "mip.MTIP still set after the interrupt");
    check(mtime_now() >= 1000, 1, "mtime advanced");
    mtimecmp(~0UL);
    check(csr_read(mip) & MIP_MTIP, 0, "mip.MTIP cleared by a new mtimecmp");
    csr_set(mip, MIP_MTIP);
    check(csr_read(mip) & MIP_MTIP, 0, "mip.MTIP not writable");
}

static void t_mei(void)
{
    plic_setup(0);
    n_claimed = 0;
    m_irq_hook = m_hook_plic;
    uart_thri(1);
    unsigned i = 0;
    while (!(csr_read(mip) & MIP_MEIP) && i < WAIT_MAX)
        i++;
    check(csr_read(mip) & MIP_MEIP, MIP_MEIP, "mip.MEIP with UART THRI enabled");
    csr_set(mie, MIP_MEIP);
    irq_on_mstatus(MSTATUS_MIE);
    csr_clear(mstatus, MSTATUS_MIE);
    expect_irq("MEI (PLIC context 0, UART)", PRV_M, IRQ_MEI, ADDR(irq_on_mstatus_next), PRV_M);
    check(n_claimed, 1, "PLIC claims");
    check(claimed[0], UART_IRQ, "claimed source");
    spin(100);
    check(csr_read(mip) & MIP_MEIP, 0, "mip.MEIP after claim/complete");
    /* below the threshold: not pending */
    MMIO32(PLIC_THRESHOLD(0)) = 1;
    uart_thri(1);
    spin(100);
    check(csr_read(mip) & MIP_MEIP, 0, "mip.MEIP with priority <= threshold");
    MMIO32(PLIC_THRESHOLD(0)) = 0;
    i = 0;
    while (!(csr_read(mip) & MIP_MEIP) && i < WAIT_MAX)
        i++;
    check(csr_read(mip) & MIP_MEIP, MIP_MEIP, "mip.MEIP after lowering the threshold");
    plic_ack(0);
    m_irq_hook = 0;
    MMIO32(PLIC_ENABLE(0)) = 0;
    csr_set(mip, MIP_MEIP);
    check(csr_read(mip) & MIP_MEIP, 0, "mip.MEIP not writable");
}

/* ---- supervisor-level sources ------------------------------------------------------ */

static void t_ssi(void)
{
    /* not delegated: taken in M */
    csr_set(mip, MIP_SSIP);
    csr_set(mie, MIP_SSIP);
    irq_on_mstatus(MSTATUS_MIE);
    csr_clear(mstatus, MSTATUS_MIE);
    expect_irq("SSI (not delegated) in M", PRV_M, IRQ_SSI, ADDR(irq_on_mstatus_next), PRV_M);

    /* delegated: not taken in M even with MIE=1 and SIE=1 */
    csr_write(mideleg, MIP_SSIP);
    csr_set(mie, MIP_SSIP);
    csr_set(mstatus, MSTATUS_MIE | MSTATUS_SIE);
    spin(100);
    csr_clear(mstatus, MSTATUS_MIE | MSTATUS_SIE);
    expect_no_trap("delegated SSI pending in M");
    check(csr_read(sip) & MIP_SSIP, MIP_SSIP, "sip.SSIP");
    /* in S with SIE=0: not taken */
    run_at(PRV_S, ADDR(site_nop), 0, 0, 0);
    expect_no_trap("delegated SSI in S with SIE=0");
    /* in S, taken as soon as SIE is set */
    run_at(PRV_S, ADDR(irq_on_sstatus), MSTATUS_SIE, 0, 0);
    expect_irq("SSI in S on SIE=1", PRV_S, IRQ_SSI, ADDR(irq_on_sstatus_next), PRV_S);
    /* in S with SIE=1, taken when enabled in sie */
    csr_clear(mie, MIP_SSIP);
    run_at(PRV_S, ADDR(irq_on_sie), MIP_SSIP, 0, MSTATUS_SIE);
    expect_irq("SSI in S on sie.SSIE=1", PRV_S, IRQ_SSI, ADDR(irq_on_sie_next), PRV_S);
    /* right after the mret into S with SIE=1 */
    csr_set(mie, MIP_SSIP);
    run_at(PRV_S, ADDR(site_nop), 0, 0, MSTATUS_SIE);
    expect_irq("SSI on entering S with SIE=1", PRV_S, IRQ_SSI, ADDR(site_nop), PRV_S);
    /* in U: taken even with SIE=0 */
    csr_set(mie, MIP_SSIP);
    run_at(PRV_U, ADDR(site_nop), 0, 0, 0);
    expect_irq("SSI in U with SIE=0", PRV_S, IRQ_SSI, ADDR(site_nop), PRV_U);
    /* S clears it through sip */
    csr_clear(sip, MIP_SSIP);
    check(csr_read(mip) & MIP_SSIP, 0, "mip.SSIP cleared through sip");
    csr_write(mideleg, 0);

    /* not delegated, in S with MIE=0: taken in M */
    csr_set(mip, MIP_SSIP);
    csr_set(mie, MIP_SSIP);
    run_at(PRV_S, ADDR(site_nop), 0, 0, 0);
    expect_irq("SSI (not delegated) from S with MIE=0", PRV_M, IRQ_SSI, ADDR(site_nop), PRV_S);
    csr_clear(mip, MIP_SSIP);
}

static void t_sti_sw(void)
{
    /* STIP written by M (STCE=0) */
    csr_write(mideleg, MIP_STIP);
    csr_set(mip, MIP_STIP);
    check(csr_read(sip) & MIP_STIP, MIP_STIP, "sip.STIP (written by M)");
    csr_set(sip, MIP_STIP);
    csr_clear(sip, MIP_STIP);
    check(csr_read(mip) & MIP_STIP, MIP_STIP, "sip.STIP is read-only");
    csr_set(mie, MIP_STIP);
    run_at(PRV_S, ADDR(site_nop), 0, 0, MSTATUS_SIE);
    expect_irq("STI (mip.STIP by M) in S", PRV_S, IRQ_STI, ADDR(site_nop), PRV_S);
    csr_clear(mip, MIP_STIP);
    check(csr_read(mip) & MIP_STIP, 0, "mip.STIP cleared by M");
    csr_write(mideleg, 0);
    /* not delegated: in M */
    csr_set(mip, MIP_STIP);
    csr_set(mie, MIP_STIP);
    irq_on_mstatus(MSTATUS_MIE);
    csr_clear(mstatus, MSTATUS_MIE);
    expect_irq("STI (not delegated) in M", PRV_M, IRQ_STI, ADDR(irq_on_mstatus_next), PRV_M);
    csr_clear(mip, MIP_STIP);
}

/* S-mode: arm stimecmp 1000 ticks ahead and wait for the interrupt. */
static uint64_t s_sstc(uint64_t unused)
{
    (void)unused;
    csr_write(0x14d, csr_read(time) + 1000);
    csr_set(sie, MIP_STIP);
    csr_set(sstatus, MSTATUS_SIE);
    int got = wait_recs(1);
    csr_clear(sstatus, MSTATUS_SIE);
    return got;
}

static void t_sti_sstc(void)
{
    csr_write(menvcfg, MENVCFG_STCE);
    csr_write(mcounteren, 7);
    csr_write(0x14d, ~0UL);
    check(csr_read(mip) & MIP_STIP, 0, "Sstc: STIP with stimecmp=max");
    csr_set(mip, MIP_STIP);
    check(csr_read(mip) & MIP_STIP, 0, "Sstc: mip.STIP not writable with STCE=1");
    csr_write(0x14d, 0);
    check(csr_read(mip) & MIP_STIP, MIP_STIP, "Sstc: STIP with stimecmp=0");
    csr_clear(mip, MIP_STIP);
    check(csr_read(mip) & MIP_STIP, MIP_STIP, "Sstc: mip.STIP not clearable with STCE=1");
    csr_write(0x14d, csr_read(time) - 1);
    check(csr_read(mip) & MIP_STIP, MIP_STIP, "Sstc: STIP with stimecmp=time-1");
    csr_write(0x14d, ~0UL);
    check(csr_read(mip) & MIP_STIP, 0, "Sstc: STIP cleared by stimecmp=max");

    /* not delegated: taken in M */
    m_irq_hook = m_hook_stimecmp;
    csr_set(mie, MIP_STIP);
    csr_set(mstatus, MSTATUS_MIE);
    csr_write(0x14d, csr_read(time) + 1000);
    int got = wait_recs(1);
    csr_clear(mstatus, MSTATUS_MIE);
    check(got, 1, "Sstc STI (not delegated) arrived");
    expect_irq("Sstc STI (not delegated) in M", PRV_M, IRQ_STI, TV_ANY, PRV_M);
    check(csr_read(mip) & MIP_STIP, 0, "STIP after the handler's stimecmp write");
    m_irq_hook = 0;

    /* delegated, armed and taken in S */
    csr_write(mideleg, MIP_STIP);
    s_irq_hook = s_hook_stimecmp;
    check(run_mode(PRV_S, s_sstc, 0), 1, "Sstc STI in S arrived");
    expect_irq("Sstc STI in S", PRV_S, IRQ_STI, TV_ANY, PRV_S);
    check(csr_read(mip) & MIP_STIP, 0, "STIP after S wrote stimecmp");
    s_irq_hook = 0;
    csr_write(mideleg, 0);
    csr_write(menvcfg, 0);
    csr_clear(mip, MIP_STIP);
}

static uint64_t s_sei(uint64_t unused)
{
    (void)unused;
    csr_set(sie, MIP_SEIP);
    csr_set(sstatus, MSTATUS_SIE);
    uart_thri(1);
    int got = wait_recs(1);
    csr_clear(sstatus, MSTATUS_SIE);
    return got;
}

static void t_sei(void)
{
    /* PLIC context 1 (S-mode), handled in S */
    plic_setup(1);
    n_claimed = 0;
    csr_write(mideleg, MIP_SEIP);
    s_irq_hook = s_hook_plic;
    check(run_mode(PRV_S, s_sei, 0), 1, "SEI in S arrived");
    expect_irq("SEI (PLIC context 1, UART) in S", PRV_S, IRQ_SEI, TV_ANY, PRV_S);
    check(n_claimed, 1, "PLIC context 1 claims");
    check(claimed[0], UART_IRQ, "claimed source (context 1)");
    spin(100);
    check(csr_read(mip) & MIP_SEIP, 0, "mip.SEIP after claim/complete");
    s_irq_hook = 0;
    MMIO32(PLIC_ENABLE(1)) = 0;
    csr_write(mideleg, 0);

    /* mip.SEIP reads as the OR of the software-writable bit and the PLIC's
     * context-1 line; only the software bit takes part in CSRRS/CSRRC's
     * read-modify-write. */
    plic_setup(1);
    uart_thri(1);
    unsigned i = 0;
    while (!(csr_read(mip) & MIP_SEIP) && i < WAIT_MAX)
        i++;
    check(csr_read(mip) & MIP_SEIP, MIP_SEIP, "mip.SEIP: PLIC line high");
    csr_clear(mip, MIP_SEIP);
    check(csr_read(mip) & MIP_SEIP, MIP_SEIP, "mip.SEIP: csrc does not hide the line");
    csr_clear(mip, MIP_SSIP);       /* RMW of another bit: must not latch SEIP */
    plic_ack(1);
    spin(100);
    check(csr_read(mip) & MIP_SEIP, 0, "mip.SEIP: line low, software bit clear");
    uart_thri(1);
    i = 0;
    while (!(csr_read(mip) & MIP_SEIP) && i < WAIT_MAX)
        i++;
    csr_set(mip, MIP_SEIP);
    plic_ack(1);
    spin(100);
    check(csr_read(mip) & MIP_SEIP, MIP_SEIP, "mip.SEIP: software bit set, line low");
    csr_clear(mip, MIP_SEIP);
    check(csr_read(mip) & MIP_SEIP, 0, "mip.SEIP: both clear");
    MMIO32(PLIC_ENABLE(1)) = 0;

    /* mip.SEIP written by M, delegated */
    csr_write(mideleg, MIP_SEIP);
    csr_set(mip, MIP_SEIP);
    check(csr_read(sip) & MIP_SEIP, MIP_SEIP, "sip.SEIP (written by M)");
    csr_set(mie, MIP_SEIP);
    run_at(PRV_S, ADDR(site_nop), 0, 0, MSTATUS_SIE);
    expect_irq("SEI (mip.SEIP by M) in S", PRV_S, IRQ_SEI, ADDR(site_nop), PRV_S);
    csr_clear(mip, MIP_SEIP);
    csr_write(mideleg, 0);
}

/* ---- priorities --------------------------------------------------------------
 * Spec order at one level: MEI > MSI > MTI > SEI > SSI > STI; interrupts for
 * M before those delegated to S. QEMU 7.2 (no AIA) takes the lowest-numbered
 * pending interrupt of a level instead, so only subsets where both orders
 * agree are checked: MSI > MTI > SEI, MSI > STI, SSI > STI, and M-level
 * before S-level whatever the numbers. */

static void mei_pending(void)
{
    plic_setup(0);
    uart_thri(1);
    unsigned i = 0;
    while (!(csr_read(mip) & MIP_MEIP) && i < WAIT_MAX)
        i++;
}

static void mei_quiet(void)
{
    plic_ack(0);
    MMIO32(PLIC_ENABLE(0)) = 0;
}

/* Pend the interrupts in `set` (all not delegated), enable them, set MIE
 * and expect them in the order given. */
static void m_order(const char *what, const unsigned *order, unsigned n)
{
    uint64_t set = 0;
    for (unsigned k = 0; k < n; k++)
        set |= 1UL << order[k];
    if (set & MIP_MSIP)
        msip(1);
    if (set & MIP_MTIP)
        mtimecmp(0);
    csr_set(mip, set & (MIP_SEIP | MIP_SSIP | MIP_STIP));
    check(csr_read(mip) & 0xaaa, set, "%s: pending", what);
    csr_write(mie, set);
    irq_on_mstatus(MSTATUS_MIE);
    csr_clear(mstatus, MSTATUS_MIE);
    char w[64];
    for (unsigned k = 0; k < n; k++) {
        rt_snprintf(w, sizeof w, "%s #%u", what, k + 1);
        expect_irq(w, PRV_M, order[k], ADDR(irq_on_mstatus_next), PRV_M);
    }
    check(csr_read(mie), 0, "%s: all masked by the handler", what);
    msip(0);
    mtimecmp(~0UL);
    csr_clear(mip, MIP_SEIP | MIP_SSIP | MIP_STIP);
}

static void t_priority(void)
{
    static const unsigned o1[] = { IRQ_MSI, IRQ_MTI, IRQ_SEI };
    static const unsigned o2[] = { IRQ_SSI, IRQ_STI };
    static const unsigned o3[] = { IRQ_MSI, IRQ_STI };
    static const unsigned o4[] = { IRQ_MTI, IRQ_SEI };
    m_order("MSI > MTI > SEI in M", o1, 3);
    m_order("SSI > STI in M", o2, 2);
    m_order("MSI > STI in M", o3, 2);
    m_order("MTI > SEI in M", o4, 2);

    /* in S: MEI (to M) first, then SSI > STI (delegated) */
    mei_pending();
    csr_write(mideleg, MIP_SEIP | MIP_SSIP | MIP_STIP);
    csr_set(mip, MIP_SSIP | MIP_STIP);
    csr_write(mie, MIP_MEIP | MIP_SSIP | MIP_STIP);
    m_irq_hook = m_hook_plic;
    run_at(PRV_S, ADDR(site_nop), 0, 0, MSTATUS_SIE);
    m_irq_hook = 0;
    expect_irq("in S: #1 MEI (to M)", PRV_M, IRQ_MEI, ADDR(site_nop), PRV_S);
    expect_irq("in S: #2 SSI", PRV_S, IRQ_SSI, ADDR(site_nop), PRV_S);
    expect_irq("in S: #3 STI", PRV_S, IRQ_STI, ADDR(site_nop), PRV_S);
    mei_quiet();

    /* in U: MTI (to M) first, then SEI (delegated) */
    mtimecmp(0);
    csr_set(mip, MIP_SEIP);
    csr_write(mie, MIP_MTIP | MIP_SEIP);
    run_at(PRV_U, ADDR(site_nop), 0, 0, 0);
    expect_irq("in U: #1 MTI (to M)", PRV_M, IRQ_MTI, ADDR(site_nop), PRV_U);
    expect_irq("in U: #2 SEI", PRV_S, IRQ_SEI, ADDR(site_nop), PRV_U);
    mtimecmp(~0UL);

    /* in U: MSI (to M) first, then SSI > STI */
    msip(1);
    csr_write(mie, MIP_MSIP | MIP_SSIP | MIP_STIP);
    run_at(PRV_U, ADDR(site_nop), 0, 0, 0);
    expect_irq("in U: #1 MSI (to M)", PRV_M, IRQ_MSI, ADDR(site_nop), PRV_U);
    expect_irq("in U: #2 SSI", PRV_S, IRQ_SSI, ADDR(site_nop), PRV_U);
    expect_irq("in U: #3 STI", PRV_S, IRQ_STI, ADDR(site_nop), PRV_U);

    csr_write(mideleg, 0);
    csr_write(mie, 0);
    msip(0);
    csr_clear(mip, MIP_SEIP | MIP_SSIP | MIP_STIP);
}

/* M-level interrupts are taken in S and U whatever mstatus.MIE says. */
static void t_m_in_lower(void)
{
    msip(1);
    csr_set(mie, MIP_MSIP);
    run_at(PRV_S, ADDR(site_nop), 0, 0, 0);
    expect_irq("MSI in S with MIE=0", PRV_M, IRQ_MSI, ADDR(site_nop), PRV_S);
    csr_set(mie, MIP_MSIP);
    run_at(PRV_U, ADDR(site_nop), 0, 0, 0);
    expect_irq("MSI in U with MIE=0", PRV_M, IRQ_MSI, ADDR(site_nop), PRV_U);
    msip(0);

    /* timer arrives while S code waits, MIE=0 */
    csr_set(mie, MIP_MTIP);
    mtimecmp(mtime_now() + 1000);
    check(run_mode(PRV_S, s_wait_one, 0), 1, "MTI arrived while in S");
    expect_irq("MTI in S with MIE=0", PRV_M, IRQ_MTI, TV_ANY, PRV_S);
    mtimecmp(~0UL);
}

/* ---- vectored mode --------------------------------------------------------------- */

static void t_vectored(void)
{
    csr_write(mtvec, ADDR(m_vector_table) | 1);
    check(csr_read(mtvec), ADDR(m_vector_table) | 1, "mtvec vectored");
    msip(1);
    csr_set(mie, MIP_MSIP);
    irq_on_mstatus(MSTATUS_MIE);
    csr_clear(mstatus, MSTATUS_MIE);
    msip(0);
    const volatile struct trap_rec *r = peek_trap();
    if (r)
        check(r->slot, IRQ_MSI, "vectored MSI: entry slot (base + 4*3)");
    expect_irq("vectored MSI", PRV_M, IRQ_MSI, ADDR(irq_on_mstatus_next), PRV_M);

    mtimecmp(0);
    csr_set(mie, MIP_MTIP);
    irq_on_mstatus(MSTATUS_MIE);
    csr_clear(mstatus, MSTATUS_MIE);
    mtimecmp(~0UL);
    r = peek_trap();
    if (r)
        check(r->slot, IRQ_MTI, "vectored MTI: entry slot (base + 4*7)");
    expect_irq("vectored MTI", PRV_M, IRQ_MTI, ADDR(irq_on_mstatus_next), PRV_M);

    csr_set(mip, MIP_SSIP);
    csr_set(mie, MIP_SSIP);
    irq_on_mstatus(MSTATUS_MIE);
    csr_clear(mstatus, MSTATUS_MIE);
    csr_clear(mip, MIP_SSIP);
    r = peek_trap();
    if (r)
        check(r->slot, IRQ_SSI, "vectored SSI in M: entry slot (base + 4*1)");
    expect_irq("vectored SSI in M", PRV_M, IRQ_SSI, ADDR(irq_on_mstatus_next), PRV_M);

    /* exceptions use the base */
    site_ecall(0);
    r = peek_trap();
    if (r)
        check(r->slot, 0, "vectored mtvec, ecall: entry slot (base)");
    expect_trap("vectored ecall", PRV_M, CAUSE_ECALL_M, ADDR(site_ecall), 0);

    /* stvec vectored */
    csr_write(stvec, ADDR(s_vector_table) | 1);
    check(csr_read(stvec), ADDR(s_vector_table) | 1, "stvec vectored");
    csr_write(mideleg, (MIP_SSIP | MIP_STIP | MIP_SEIP));
    static const unsigned codes[3] = { IRQ_SEI, IRQ_SSI, IRQ_STI };
    for (unsigned k = 0; k < 3; k++) {
        csr_set(mip, 1UL << codes[k]);
        csr_set(mie, 1UL << codes[k]);
        run_at(PRV_S, ADDR(site_nop), 0, 0, MSTATUS_SIE);
        csr_clear(mip, 1UL << codes[k]);
        r = peek_trap();
        if (r)
            check(r->slot, codes[k], "vectored stvec, code %u: entry slot", codes[k]);
        expect_irq("vectored S interrupt", PRV_S, codes[k], ADDR(site_nop), PRV_S);
    }
    csr_write(medeleg, 1UL << CAUSE_ILLEGAL);
    run_mode(PRV_U, site_ill_fadd, 0);
    r = peek_trap();
    if (r)
        check(r->slot, 0, "vectored stvec, illegal: entry slot (base)");
    expect_trap("vectored illegal in S", PRV_S, CAUSE_ILLEGAL, ADDR(site_ill_fadd), TV_ANY);
    csr_write(medeleg, 0);
    csr_write(mideleg, 0);
    csr_write(stvec, ADDR(s_trap_vector));
    csr_write(mtvec, ADDR(m_trap_vector));
}

/* ---- WFI ---------------------------------------------------------------------------- */

static uint64_t s_wfi_pending(uint64_t unused)
{
    (void)unused;
    /* delegated SSI pending and enabled in sie, SIE=0: WFI must return */
    __asm__ volatile ("wfi");
    return 0x33;
}

static void t_wfi(void)
{
    /* M, MIE=0: a pending-and-enabled interrupt ends WFI without a trap */
    msip(1);
    csr_set(mie, MIP_MSIP);
    site_wfi(0);
    expect_no_trap("wfi with MSI pending, MIE=0");
    msip(0);
    csr_clear(mie, MIP_MSIP);

    /* M, MIE=0: wait for a timer 1000 ticks ahead */
    csr_set(mie, MIP_MTIP);
    mtimecmp(mtime_now() + 1000);
    uint64_t left = wfi_loop_m(WAIT_MAX);
    check_true(left != 0, "wfi loop: the timer woke us");
    check(csr_read(mip) & MIP_MTIP, MIP_MTIP, "wfi loop: MTIP pending afterwards");
    expect_no_trap("wfi with MIE=0");
    mtimecmp(~0UL);
    csr_clear(mie, MIP_MTIP);

    /* TW does not affect M-mode */
    csr_set(mstatus, MSTATUS_TW);
    msip(1);
    csr_set(mie, MIP_MSIP);
    site_wfi(0);
    expect_no_trap("wfi in M with TW=1");
    msip(0);
    csr_clear(mie, MIP_MSIP);
    csr_clear(mstatus, MSTATUS_TW);

    /* U: illegal (S-mode is implemented) */
    run_mode(PRV_U, site_wfi, 0);
    expect_trap_from("wfi in U", PRV_M, CAUSE_ILLEGAL, ADDR(site_wfi),
                     *(volatile uint32_t *)(uintptr_t)site_wfi, PRV_U);
    /* S with TW=1: illegal */
    csr_set(mstatus, MSTATUS_TW);
    run_mode(PRV_S, site_wfi, 0);
    expect_trap_from("wfi in S with TW=1", PRV_M, CAUSE_ILLEGAL, ADDR(site_wfi),
                     *(volatile uint32_t *)(uintptr_t)site_wfi, PRV_S);
    csr_clear(mstatus, MSTATUS_TW);
    /* S with TW=0 and a locally enabled interrupt pending: returns */
    csr_write(mideleg, MIP_SSIP);
    csr_set(mip, MIP_SSIP);
    csr_set(mie, MIP_SSIP);
    check(run_mode(PRV_S, s_wfi_pending, 0), 0x33, "wfi in S (TW=0) returned");
    expect_no_trap("wfi in S with SIE=0");
    csr_clear(mip, MIP_SSIP);
    csr_write(mie, 0);
    csr_write(mideleg, 0);
}

void group_interrupts(void)
{
    begin("interrupts");
    t_msi();
    t_mti();
    t_mei();
    t_ssi();
    t_sti_sw();
    t_sti_sstc();
    t_sei();
    t_priority();
    t_m_in_lower();
    t_vectored();
    t_wfi();
    end();
}
