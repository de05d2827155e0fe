/* priv-selftest: shared declarations (framework in main.c, trap vectors and
 * mode switching in asm.S, one file per test group). */
#ifndef PRIV_SELFTEST_H
#define PRIV_SELFTEST_H

#include "rt.h"

/* ---- architecture constants (privileged spec 1.12) ------------------------ */
#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

#define MSTATUS_SIE   (1UL << 1)
#define MSTATUS_MIE   (1UL << 3)
#define MSTATUS_SPIE  (1UL << 5)
#define MSTATUS_UBE   (1UL << 6)
#define MSTATUS_MPIE  (1UL << 7)
#define MSTATUS_SPP   (1UL << 8)
#define MSTATUS_VS    (3UL << 9)
#define MSTATUS_MPP   (3UL << 11)
#define MSTATUS_FS    (3UL << 13)
#define MSTATUS_XS    (3UL << 15)
#define MSTATUS_MPRV  (1UL << 17)
#define MSTATUS_SUM   (1UL << 18)
#define MSTATUS_MXR   (1UL << 19)
#define MSTATUS_TVM   (1UL << 20)
#define MSTATUS_TW    (1UL << 21)
#define MSTATUS_TSR   (1UL << 22)
#define MSTATUS_UXL   (3UL << 32)
#define MSTATUS_SXL   (3UL << 34)
#define MSTATUS_SBE   (1UL << 36)
#define MSTATUS_MBE   (1UL << 37)
#define MSTATUS_GVA   (1UL << 38)
#define MSTATUS_MPV   (1UL << 39)
#define MSTATUS_SD    (1UL << 63)
#define MPP_SHIFT     11
#define MSTATUS_MPP_U (0UL << 11)
#define MSTATUS_MPP_S (1UL << 11)
#define MSTATUS_MPP_M (3UL << 11)

#define IRQ_SSI 1
#define IRQ_MSI 3
#define IRQ_STI 5
#define IRQ_MTI 7
#define IRQ_SEI 9
#define IRQ_MEI 11
#define MIP_SSIP (1UL << IRQ_SSI)
#define MIP_MSIP (1UL << IRQ_MSI)
#define MIP_STIP (1UL << IRQ_STI)
#define MIP_MTIP (1UL << IRQ_MTI)
#define MIP_SEIP (1UL << IRQ_SEI)
#define MIP_MEIP (1UL << IRQ_MEI)
#define INTR     (1UL << 63)

#define CAUSE_MISALIGNED_FETCH  0
#define CAUSE_FETCH_ACCESS      1
#define CAUSE_ILLEGAL           2
#define CAUSE_BREAKPOINT        3
#define CAUSE_MISALIGNED_LOAD   4
#define CAUSE_LOAD_ACCESS       5
#define CAUSE_MISALIGNED_STORE  6
#define CAUSE_STORE_ACCESS      7
#define CAUSE_ECALL_U           8
#define CAUSE_ECALL_S           9
#define CAUSE_ECALL_M           11
#define CAUSE_FETCH_PAGE        12
#define CAUSE_LOAD_PAGE         13
#define CAUSE_STORE_PAGE        15

#define MENVCFG_FIOM (1UL << 0)
#define MENVCFG_STCE (1UL << 63)

#define SATP_SV39    (8UL << 60)

/* PTE bits */
#define PTE_V (1UL << 0)
#define PTE_R (1UL << 1)
#define PTE_W (1UL << 2)
#define PTE_X (1UL << 3)
#define PTE_U (1UL << 4)
#define PTE_G (1UL << 5)
#define PTE_A (1UL << 6)
#define PTE_D (1UL << 7)

/* PMP cfg bits */
#define PMP_R     0x01
#define PMP_W     0x02
#define PMP_X     0x04
#define PMP_OFF   0x00
#define PMP_TOR   0x08
#define PMP_NA4   0x10
#define PMP_NAPOT 0x18
#define PMP_L     0x80

/* ---- QEMU virt devices ----------------------------------------------------- */
#define CLINT_MSIP     (RT_CLINT_BASE + 0x0000)
#define CLINT_MTIMECMP (RT_CLINT_BASE + 0x4000)
#define CLINT_MTIME    (RT_CLINT_BASE + 0xBFF8)
#define PLIC_BASE      0x0C000000UL
#define PLIC_PRIORITY(src)   (PLIC_BASE + 4UL * (src))
#define PLIC_ENABLE(ctx)     (PLIC_BASE + 0x2000UL + 0x80UL * (ctx))
#define PLIC_THRESHOLD(ctx)  (PLIC_BASE + 0x200000UL + 0x1000UL * (ctx))
#define PLIC_CLAIM(ctx)      (PLIC_BASE + 0x200004UL + 0x1000UL * (ctx))
#define UART_IRQ       10
#define UART_IER       1
#define UART_IIR       2
#define UART_IER_THRI  0x02

#define MMIO32(a) (*(volatile uint32_t *)(uintptr_t)(a))
#define MMIO64(a) (*(volatile uint64_t *)(uintptr_t)(a))
#define MMIO8(a)  (*(volatile uint8_t *)(uintptr_t)(a))

/* ---- CSR access ----------------------------------------------------------- */
#define csr_read(csr) rt_csr_read(csr)
#define csr_write(csr, v) rt_csr_write(csr, v)
#define csr_set(csr, v) \
    __asm__ volatile ("csrs " #csr ", %0" :: "r"((uint64_t)(v)) : "memory")
#define csr_clear(csr, v) \
    __asm__ volatile ("csrc " #csr ", %0" :: "r"((uint64_t)(v)) : "memory")
#define csr_swap(csr, v) ({ uint64_t _o; \
    __asm__ volatile ("csrrw %0, " #csr ", %1" : "=r"(_o) : "r"((uint64_t)(v)) : "memory"); _o; })

#define NORVC(s) ".option push\n\t.option norvc\n\t" s "\n\t.option pop"
#define ADDR(p) ((uint64_t)(uintptr_t)(p))

static inline uintptr_t opaque(uintptr_t x)
{
    __asm__ ("" : "+r"(x));
    return x;
}

static inline void sfence_all(void)
{
    __asm__ volatile ("sfence.vma zero, zero" ::: "memory");
}

/* ---- trap records (main.c) --------------------------------------------------
 * Every trap taken by the test's M-mode vector (m_trap_vector) or S-mode
 * vector (s_trap_vector) is appended here, except the mode-exit ecalls that
 * end run_mode(). */
struct trap_rec {
    uint64_t cause, epc, tval;
    uint64_t status;    /* mstatus (M handler) or sstatus (S handler) at entry */
    uint64_t level;     /* PRV_M or PRV_S: which handler took it */
    uint64_t slot;      /* vectored entry slot (or ~0 when entered directly) */
};
#define MAX_RECS 16
extern volatile struct trap_rec recs[MAX_RECS];
extern volatile unsigned n_recs;
extern volatile unsigned n_recs_lost;

/* Handler policy: interrupts are recorded and masked (their bit in mie or
 * sie is cleared), then m_irq_hook / s_irq_hook is called if set; fetch
 * faults resume at ra (the faulting jump was a call); other exceptions
 * resume after the trapping instruction. */
extern void (*volatile m_irq_hook)(uint64_t code);
extern void (*volatile s_irq_hook)(uint64_t code);
extern volatile uint64_t vec_slot_m, vec_slot_s;   /* set by the vector stubs */

void trap_reset(void);

/* The exception that ended the last run_mode (normally the ecall at
 * mode_exit_site: 8 from U, 9 from S) and mstatus at that trap. */
extern volatile uint64_t last_exit_cause, last_exit_status;

/* ---- framework (main.c) ----------------------------------------------------- */
void begin(const char *name);
void end(void);
int check(uint64_t got, uint64_t want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int check_true(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Consume the oldest trap record and compare it. */
#define TV_ANY (~0ULL)   /* do not compare tval */
void expect_trap(const char *what, uint64_t level, uint64_t cause,
                 uint64_t epc, uint64_t tval);
/* Same, also comparing the previous privilege (xPP) in the saved status. */
void expect_trap_from(const char *what, uint64_t level, uint64_t cause,
                      uint64_t epc, uint64_t tval, int prev_mode);
void expect_no_trap(const char *what);
/* Oldest record (or 0): for tests that look at the status word. */
const volatile struct trap_rec *peek_trap(void);
void drop_trap(void);

/* Run fn(arg) in `mode` (PRV_U or PRV_S) with mret; returns fn's result when
 * it returns (through an ecall at mode_exit_site that the M handler turns
 * into a return to M-mode). run_at: mstatus for the mret is the current one
 * with MPP=mode and MPIE, SIE, SUM, MXR clear, plus set_bits. With
 * translation on, U-mode code, stack and exit site are used through the
 * user alias of the image (mode_pc(), vm.h). */
uint64_t run_mode(int mode, uint64_t (*fn)(uint64_t), uint64_t arg);
uint64_t run_mode2(int mode, uint64_t (*fn)(uint64_t, uint64_t), uint64_t a0,
                   uint64_t a1);
uint64_t run_at(int mode, uint64_t pc, uint64_t a0, uint64_t a1,
                uint64_t set_bits);
uint64_t mode_pc(int mode, const void *fn);

/* ---- asm.S --------------------------------------------------------------------- */
void m_trap_vector(void);
void s_trap_vector(void);
void m_vector_table(void);
void s_vector_table(void);
uint64_t mode_enter(uint64_t mstatus, uint64_t pc, uint64_t arg, uint64_t sp,
                    uint64_t ra, uint64_t arg1);
uint64_t mode_enter_sret(uint64_t mstatus, uint64_t pc, uint64_t arg,
                         uint64_t sp, uint64_t ra, uint64_t arg1);
void mode_return_landing(void);
extern char mode_exit_site[], s_exit_stub[], s_exit_stub2[];
uint64_t read_insn_mprv(uint64_t addr);
extern char m_trap_stack_top[], s_trap_stack_top[], mode_stack_top[];

/* ---- helpers shared by groups ------------------------------------------------------- */
void pmp_reset(void);          /* entries 0..14 off, 15 = NAPOT everything RWX */
void machine_quiesce(void);    /* all interrupt sources off, nothing pending */
uint64_t mtime_now(void);

/* groups */
void group_csr_masks(void);
void group_exceptions(void);
void group_interrupts(void);
void group_xret(void);
void group_pmp(void);
void group_sv39(void);
void group_counters(void);

#endif
