/* priv-selftest: self-checking test of the privileged architecture (spec
 * 1.12) of an RV64IMAC M/S/U hart with Sv39, PMP and Sstc on QEMU's virt
 * board: CSR write masks, exceptions, interrupts, xRET, PMP, Sv39,
 * counters.
 *
 * Prints "PASS <group> (<n> checks)" or up to 8 FAIL lines plus
 * "FAIL <group> (<k> of <n> checks failed)" per group, then a summary;
 * exits 0 only if everything passed. Nothing that depends on time or on the
 * number of instructions executed is printed.
 *
 * This file: the framework (checks, trap records, the M and S trap
 * handlers in C, running code in S/U) and main().
 */
#include "ps.h"

#define MAX_FAIL_LINES 8
#define MAX_TRAPS_PER_GROUP 2000

static const char *group;
static unsigned g_checks, g_fails;
static unsigned n_checks, n_fails, n_groups, n_groups_failed;

volatile struct trap_rec recs[MAX_RECS];
volatile unsigned n_recs;
volatile unsigned n_recs_lost;
static volatile unsigned n_traps_group;

void (*volatile m_irq_hook)(uint64_t code);
void (*volatile s_irq_hook)(uint64_t code);
volatile uint64_t vec_slot_m = ~0UL, vec_slot_s = ~0UL;

/* The trap that ended the last run_mode (cause and mstatus at the trap). */
volatile uint64_t last_exit_cause, last_exit_status;

/* Where the code run by run_mode returns to (mode_exit_site or an alias). */
static volatile uint64_t cur_exit_ra;

void trap_reset(void)
{
    n_recs = 0;
    n_recs_lost = 0;
    m_irq_hook = 0;
    s_irq_hook = 0;
    vec_slot_m = ~0UL;
    vec_slot_s = ~0UL;
}

/* ------------------------------------------------------------------------
 * Checks
 * ---------------------------------------------------------------------- */

static void fail_line(const char *fmt, va_list ap, uint64_t got, uint64_t want,
                      int values)
{
    if (++g_fails <= MAX_FAIL_LINES) {
        rt_printf("FAIL %s: ", group);
        rt_vprintf(fmt, ap);
        if (values)
            rt_printf(" got 0x%lx want 0x%lx", (unsigned long)got,
                      (unsigned long)want);
        rt_printf("\n");
    }
}

int check(uint64_t got, uint64_t want, const char *fmt, ...)
{
    g_checks++;
    if (got == want)
        return 1;
    va_list ap;
    va_start(ap, fmt);
    fail_line(fmt, ap, got, want, 1);
    va_end(ap);
    return 0;
}

int check_true(int cond, const char *fmt, ...)
{
    g_checks++;
    if (cond)
        return 1;
    va_list ap;
    va_start(ap, fmt);
    fail_line(fmt, ap, 0, 0, 0);
    va_end(ap);
    return 0;
}

void begin(const char *name)
{
    group = name;
    rt_trap_context = name;
    g_checks = g_fails = 0;
    n_traps_group = 0;
    machine_quiesce();
    trap_reset();
}

void end(void)
{
    machine_quiesce();
    if (n_recs || n_recs_lost) {
        const volatile struct trap_rec *r = &recs[0];
        check(n_recs + n_recs_lost, 0,
              "unexpected trap(s) left over, first cause=0x%lx epc=0x%lx tval=0x%lx level=%lu",
              (unsigned long)r->cause, (unsigned long)r->epc,
              (unsigned long)r->tval, (unsigned long)r->level);
    }
    trap_reset();
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

const volatile struct trap_rec *peek_trap(void)
{
    return n_recs ? &recs[0] : 0;
}

void drop_trap(void)
{
    if (!n_recs)
        return;
    for (unsigned i = 1; i < n_recs; i++)
        recs[i - 1] = recs[i];
    n_recs--;
}

static const char *level_name(uint64_t l)
{
    return l == PRV_M ? "M" : l == PRV_S ? "S" : "?";
}

void expect_trap_from(const char *what, uint64_t level, uint64_t cause,
                      uint64_t epc, uint64_t tval, int prev_mode)
{
    const volatile struct trap_rec *r = peek_trap();
    if (!check_true(r != 0, "%s: no trap (want cause 0x%lx to %s)", what,
                    (unsigned long)cause, level_name(level))) {
        return;
    }
    check(r->level, level, "%s: handled in (3=M, 1=S)", what);
    check(r->cause, cause, "%s: %scause", what, level_name(r->level));
    if (epc != TV_ANY)
        check(r->epc, epc, "%s: %sepc", what, level_name(r->level));
    if (tval != TV_ANY)
        check(r->tval, tval, "%s: %stval", what, level_name(r->level));
    if (prev_mode >= 0) {
        uint64_t pp = r->level == PRV_M ? (r->status >> 11) & 3
                                        : (r->status >> 8) & 1;
        check(pp, (uint64_t)prev_mode, "%s: %s", what,
              r->level == PRV_M ? "mstatus.MPP" : "sstatus.SPP");
    }
    drop_trap();
}

void expect_trap(const char *what, uint64_t level, uint64_t cause,
                 uint64_t epc, uint64_t tval)
{
    expect_trap_from(what, level, cause, epc, tval, -1);
}

void expect_no_trap(const char *what)
{
    const volatile struct trap_rec *r = peek_trap();
    if (r) {
        check(n_recs, 0, "%s: unexpected trap cause=0x%lx epc=0x%lx tval=0x%lx level=%s",
              what, (unsigned long)r->cause, (unsigned long)r->epc,
              (unsigned long)r->tval, level_name(r->level));
        n_recs = 0;
    } else {
        check(0, 0, "%s: no trap", what);
    }
}

/* ------------------------------------------------------------------------
 * Trap handlers (C side; the entries are in asm.S)
 * ---------------------------------------------------------------------- */

static void fatal(const char *msg, struct rt_trap_frame *f)
{
    rt_printf("\n*** FATAL (%s) in %s: cause=0x%lx epc=0x%lx tval=0x%lx\n", msg,
              group ? group : "-", (unsigned long)f->mcause,
              (unsigned long)f->mepc, (unsigned long)f->mtval);
    rt_exit(3);
}

static void record(struct rt_trap_frame *f, uint64_t level, uint64_t slot)
{
    if (++n_traps_group > MAX_TRAPS_PER_GROUP)
        fatal("trap storm", f);
    if (n_recs >= MAX_RECS) {
        n_recs_lost++;
        return;
    }
    volatile struct trap_rec *r = &recs[n_recs];
    r->cause = f->mcause;
    r->epc = f->mepc;
    r->tval = f->mtval;
    r->status = f->mstatus;
    r->level = level;
    r->slot = slot;
    n_recs++;
}

static int is_exit_site(uint64_t epc)
{
    return epc == ADDR(mode_exit_site) || (cur_exit_ra && epc == cur_exit_ra);
}

static volatile int in_m_handler;

void m_trap_c(struct rt_trap_frame *f);
void m_trap_c(struct rt_trap_frame *f)
{
    uint64_t cause = f->mcause;
    uint64_t slot = vec_slot_m;
    vec_slot_m = ~0UL;

    if (in_m_handler)
        fatal("trap in the M-mode handler", f);
    in_m_handler = 1;

    /* End of run_mode: back to M-mode at mode_return_landing. */
    if (((cause == CAUSE_ECALL_U || cause == CAUSE_ECALL_S) && is_exit_site(f->mepc)) ||
        (cause == CAUSE_ECALL_S && f->mepc == ADDR(s_exit_stub)) ||
        (cause == CAUSE_BREAKPOINT && f->mepc == ADDR(s_exit_stub2))) {
        last_exit_cause = cause;
        last_exit_status = f->mstatus;
        f->mepc = ADDR(mode_return_landing);
        csr_set(mstatus, MSTATUS_MPP);
        in_m_handler = 0;
        return;
    }

    record(f, PRV_M, slot);

    if (cause >> 63) {
        uint64_t code = cause & 63;
        csr_clear(mie, 1UL << code);
        if (m_irq_hook)
            m_irq_hook(code);
    } else if (cause == CAUSE_MISALIGNED_FETCH || cause == CAUSE_FETCH_ACCESS ||
               cause == CAUSE_FETCH_PAGE) {
        f->mepc = f->x[1];          /* the faulting jump was a call */
    } else {
        /* skip the instruction; translated S/U code is read through MPRV */
        uint64_t lo;
        uint64_t mpp = (f->mstatus >> 11) & 3;
        if (mpp != PRV_M && (csr_read(satp) >> 60) != 0)
            lo = read_insn_mprv(f->mepc);
        else
            lo = *(volatile uint16_t *)(uintptr_t)f->mepc;
        f->mepc += (lo & 3) == 3 ? 4 : 2;
    }
    in_m_handler = 0;
}

static volatile int in_s_handler;

/* Runs in S-mode: only S CSRs. */
void s_trap_c(struct rt_trap_frame *f);
void s_trap_c(struct rt_trap_frame *f)
{
    uint64_t cause = f->mcause;
    uint64_t slot = vec_slot_s;
    vec_slot_s = ~0UL;

    if (in_s_handler)
        fatal("trap in the S-mode handler", f);
    in_s_handler = 1;

    if ((cause == CAUSE_ECALL_U || cause == CAUSE_ECALL_S) && is_exit_site(f->mepc)) {
        f->mepc = ADDR(s_exit_stub);
        csr_set(sstatus, MSTATUS_SPP);
        in_s_handler = 0;
        return;
    }
    if (cause == CAUSE_ECALL_S && f->mepc == ADDR(s_exit_stub)) {
        f->mepc = ADDR(s_exit_stub2);
        csr_set(sstatus, MSTATUS_SPP);
        in_s_handler = 0;
        return;
    }

    record(f, PRV_S, slot);

    if (cause >> 63) {
        uint64_t code = cause & 63;
        csr_clear(sie, 1UL << code);
        if (s_irq_hook)
            s_irq_hook(code);
    } else if (cause == CAUSE_MISALIGNED_FETCH || cause == CAUSE_FETCH_ACCESS ||
               cause == CAUSE_FETCH_PAGE) {
        f->mepc = f->x[1];
    } else {
        /* SUM and MXR: the instruction may be on a user or execute-only page */
        uint64_t old = csr_read(sstatus);
        csr_set(sstatus, MSTATUS_SUM | MSTATUS_MXR);
        uint64_t lo = *(volatile uint16_t *)(uintptr_t)f->mepc;
        csr_write(sstatus, old);
        f->mepc += (lo & 3) == 3 ? 4 : 2;
    }
    in_s_handler = 0;
}

/* ------------------------------------------------------------------------
 * Running code in S/U
 * ---------------------------------------------------------------------- */

static int vm_on(void)
{
    return (csr_read(satp) >> 60) != 0;
}

/* With translation on, U-mode code runs through the user alias of the
 * image (vm.h). */
uint64_t mode_pc(int mode, const void *fn)
{
    uint64_t pc = opaque(ADDR(fn));   /* no symbol+offset relocations */
    if (mode == PRV_U && vm_on() && pc >= 0x80000000UL && pc < 0xc0000000UL)
        pc = pc - 0x80000000UL + 0x100000000UL;
    return pc;
}

uint64_t run_at(int mode, uint64_t pc, uint64_t a0, uint64_t a1,
                uint64_t set_bits)
{
    uint64_t ms = csr_read(mstatus);
    ms &= ~(MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_SIE | MSTATUS_SUM | MSTATUS_MXR);
    ms |= ((uint64_t)mode << MPP_SHIFT) | set_bits;
    uint64_t sp = mode_pc(mode, mode_stack_top);
    uint64_t ra = mode_pc(mode, mode_exit_site);
    cur_exit_ra = ra;
    uint64_t r = mode_enter(ms, pc, a0, sp, ra, a1);
    cur_exit_ra = 0;
    return r;
}

uint64_t run_mode(int mode, uint64_t (*fn)(uint64_t), uint64_t arg)
{
    return run_at(mode, mode_pc(mode, (const void *)fn), arg, 0, 0);
}

uint64_t run_mode2(int mode, uint64_t (*fn)(uint64_t, uint64_t), uint64_t a0,
                   uint64_t a1)
{
    return run_at(mode, mode_pc(mode, (const void *)fn), a0, a1, 0);
}

/* ------------------------------------------------------------------------
 * Machine state between tests
 * ---------------------------------------------------------------------- */

uint64_t mtime_now(void)
{
    return MMIO64(CLINT_MTIME);
}

void pmp_reset(void)
{
    /* pmpcfg0 covers entries 0-7, pmpcfg2 entries 8-15 (RV64). Entries
     * locked by the PMP group stay locked (writes to them are ignored). */
    csr_write(pmpcfg0, 0);
    csr_write(pmpcfg2, 0);
    csr_write(pmpaddr15, 0x003fffffffffffffUL);
    csr_write(pmpcfg2, (uint64_t)(PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 56);
    sfence_all();
}

void machine_quiesce(void)
{
    csr_clear(mstatus, MSTATUS_MIE | MSTATUS_SIE | MSTATUS_MPRV | MSTATUS_SUM |
              MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR);
    csr_write(mie, 0);
    csr_write(mideleg, 0);
    csr_write(medeleg, 0);
    csr_write(mtvec, ADDR(m_trap_vector));
    csr_write(stvec, ADDR(s_trap_vector));
    csr_write(satp, 0);
    sfence_all();
    /* stimecmp far in the future first (QEMU lets stimecmp drive STIP even
     * with STCE=0), then STIP is an ordinary software bit again. */
    csr_write(0x14d, ~0UL);
    csr_write(menvcfg, 0);
    csr_write(senvcfg, 0);
    csr_clear(mip, MIP_SSIP | MIP_STIP | MIP_SEIP);
    MMIO32(CLINT_MSIP) = 0;
    MMIO64(CLINT_MTIMECMP) = ~0UL;
    MMIO8(RT_UART_BASE + UART_IER) = 0;
    MMIO32(PLIC_ENABLE(0)) = 0;
    MMIO32(PLIC_ENABLE(1)) = 0;
    MMIO32(PLIC_PRIORITY(UART_IRQ)) = 0;
    csr_write(mcounteren, 7);
    csr_write(scounteren, 7);
    pmp_reset();
}

/* ------------------------------------------------------------------------ */

int main(uint64_t hartid, uint64_t fdt)
{
    (void)hartid;
    (void)fdt;
    rt_puts("priv-selftest: M/S/U, Sv39, PMP, Sstc (privileged spec 1.12)\n");
    csr_write(mscratch, ADDR(m_trap_stack_top));
    csr_write(sscratch, ADDR(s_trap_stack_top));
    csr_write(mtvec, ADDR(m_trap_vector));

    group_csr_masks();
    group_exceptions();
    group_interrupts();
    group_xret();
    group_pmp();
    group_sv39();
    group_counters();

    machine_quiesce();
    csr_write(mtvec, ADDR(rt_trap_entry));
    rt_printf("priv-selftest: %u groups, %u checks, %u failed checks, %u failed groups\n",
              n_groups, n_checks, n_fails, n_groups_failed);
    if (n_fails) {
        rt_puts("priv-selftest: FAILED\n");
        return 1;
    }
    rt_puts("priv-selftest: ALL PASS\n");
    return 0;
}
