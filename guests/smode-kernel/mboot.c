/* smode-kernel: the M-mode part (a tiny firmware).
 *
 * main() runs in M-mode (rt/crt0.S), sets up PMP, trap delegation, counter
 * access and its own trap vector, and mrets to the S-mode kernel (kernel.c).
 * Afterwards M-mode only runs m_trap(): the machine timer interrupt, which it
 * forwards to S-mode by setting mip.STIP, and the S-mode ecalls (kernel.h,
 * MCALL_*): program the timer (clearing STIP), switch to Sstc, shut down.
 */
#include "rt.h"
#include "kernel.h"

#define CLINT_MTIMECMP  (*(volatile uint64_t *)(RT_CLINT_BASE + 0x4000))

#define MIP_SSIP    (1UL << 1)
#define MIP_STIP    (1UL << 5)
#define MIP_MTIP    (1UL << 7)
#define MIP_SEIP    (1UL << 9)
#define MENVCFG_STCE (1UL << 63)

/* Exceptions delegated to S-mode: instruction misaligned (0), illegal
 * instruction (2), breakpoint (3), load misaligned (4), store misaligned (6),
 * ecall from U (8), instruction / load / store page faults (12, 13, 15). */
#define MEDELEG ((1UL << 0) | (1UL << 2) | (1UL << 3) | (1UL << 4) | (1UL << 6) | \
                 (1UL << 8) | (1UL << 12) | (1UL << 13) | (1UL << 15))
#define MIDELEG (MIP_SSIP | MIP_STIP | MIP_SEIP)

struct mframe {
    uint64_t x[32];
    uint64_t mepc;
    uint64_t mcause;
    uint64_t mtval;
};

void m_trap_entry(void);
void m_trap(struct mframe *f);
void enter_smode(uint64_t entry, uint64_t a0, uint64_t a1) __attribute__((noreturn));
void s_entry(void);     /* strap.S */

static uint8_t m_stack[4096] __attribute__((aligned(16)));

void m_trap(struct mframe *f)
{
    uint64_t cause = f->mcause;
    if (cause == ((1UL << 63) | 7)) {
        /* Machine timer: forward to S-mode, mask until S asks again. */
        __asm__ volatile ("csrc mie, %0" :: "r"(MIP_MTIP));
        __asm__ volatile ("csrs mip, %0" :: "r"(MIP_STIP));
        return;
    }
    if (cause == 9) {               /* ecall from S-mode */
        f->mepc += 4;
        uint64_t a0 = f->x[10];
        switch (f->x[17]) {
        case MCALL_SET_TIMER:
            /* a0 = ~0: timer off. mtimecmp is left alone (not set to ~0:
             * QEMU 7.2 then arms a host timer at INT64_MAX ns, and with
             * -icount sleep=off an idle hart warps the clock to it). */
            if (a0 != ~0UL)
                CLINT_MTIMECMP = a0;
            __asm__ volatile ("csrc mip, %0" :: "r"(MIP_STIP));
            if (a0 != ~0UL)
                __asm__ volatile ("csrs mie, %0" :: "r"(MIP_MTIP));
            else
                __asm__ volatile ("csrc mie, %0" :: "r"(MIP_MTIP));
            f->x[10] = 0;
            return;
        case MCALL_ENABLE_SSTC:
            __asm__ volatile ("csrc mie, %0" :: "r"(MIP_MTIP));
            __asm__ volatile ("csrc mip, %0" :: "r"(MIP_STIP));
            __asm__ volatile ("csrs 0x30a, %0" :: "r"(MENVCFG_STCE));  /* menvcfg */
            f->x[10] = (rt_csr_read(0x30a) & MENVCFG_STCE) ? 0 : (uint64_t)-1;
            return;
        case MCALL_SHUTDOWN:
            rt_exit((int)a0);
        default:
            f->x[10] = (uint64_t)-2;    /* not supported */
            return;
        }
    }
    rt_printf("\n*** M-mode: unexpected trap mcause=0x%lx mepc=0x%lx mtval=0x%lx\n",
              (unsigned long)cause, (unsigned long)f->mepc, (unsigned long)f->mtval);
    rt_exit(3);
}

int main(uint64_t hartid, uint64_t fdt)
{
    rt_printf("smode-kernel: M-mode boot on hart %lu\n", (unsigned long)hartid);

    rt_csr_write(mscratch, (uint64_t)(uintptr_t)(m_stack + sizeof m_stack));
    rt_csr_write(mtvec, (uint64_t)(uintptr_t)m_trap_entry);

    /* PMP: with entries implemented but none matching, S/U accesses fail.
     * Entry 0: NAPOT over the whole address space, RWX. */
    rt_csr_write(pmpaddr0, ~0UL);
    rt_csr_write(pmpcfg0, 0x1f);
    rt_printf("M: pmpcfg0=0x%lx (entry 0: NAPOT, whole address space, RWX)\n",
              (unsigned long)(rt_csr_read(pmpcfg0) & 0xff));

    rt_csr_write(medeleg, MEDELEG);
    rt_csr_write(mideleg, MIDELEG);
    rt_csr_write(mcounteren, 7);            /* CY, TM, IR for S (and U) */
    rt_csr_write(0x30a, 0);                 /* menvcfg: STCE off for now */
    rt_csr_write(mie, 0);
    rt_csr_write(mip, 0);
    rt_printf("M: medeleg=0x%lx mideleg=0x%lx mcounteren=0x7 (written)\n",
              (unsigned long)MEDELEG, (unsigned long)MIDELEG);
    rt_printf("M: mret to S-mode\n");
    enter_smode((uint64_t)(uintptr_t)s_entry, hartid, fdt);
}
