/* smode-kernel: definitions shared by the M-mode boot, the S-mode kernel and
 * (the syscall numbers and user layout) the U-mode tasks. See guests/README.md. */
#ifndef SMODE_KERNEL_H
#define SMODE_KERNEL_H

#include <stdint.h>

/* ---- SBI-like calls from S-mode to M-mode (ecall, a7 = function) -------- */
#define MCALL_SET_TIMER     0   /* a0 = absolute mtime (~0: off); clears mip.STIP */
#define MCALL_ENABLE_SSTC   1   /* stop the M timer, set menvcfg.STCE        */
#define MCALL_SHUTDOWN      2   /* a0 = exit code (0 = pass)                  */

/* ---- system calls from U-mode (ecall, a7 = number, a0.. = arguments) ---- */
#define SYS_EXIT    0   /* a0 = exit code */
#define SYS_WRITE   1   /* a0 = user pointer, a1 = length: append to the task's transcript */
#define SYS_YIELD   2
#define SYS_SLEEP   3   /* a0 = timer ticks */
#define SYS_LOG     4   /* a0 = value: counted and folded into the task's log sum */
#define SYS_COUNT   5

/* ---- user virtual address space (Sv39, 4 KiB pages, one per task) -------- */
#define USER_BASE       0x40000000UL    /* text + rodata, shared, R-X */
#define USER_TEXT_PAGES 2
#define USER_DATA_VA    0x40002000UL    /* .data + .bss, per task, RW- */
#define USER_DATA_PAGES 1
#define USER_STACK_VA   0x40010000UL    /* one page, per task, RW- */
#define USER_INFO_VA    0x40020000UL    /* kernel info page, per task, R-- */
#define USER_DEMAND_VA  0x40030000UL    /* unmapped; mapped on first touch */
#define USER_IDLE_VA    0x40040000UL    /* mapped RW-, never touched */
#define USER_END        0x40200000UL    /* everything above lives in one L0 table */

#define UINFO_MAGIC     0x4f464e49444b5253UL    /* "SRKDINFO" */

/* The read-only page the kernel shares with each task. */
struct uinfo {
    uint64_t magic;
    uint64_t tid;
    uint64_t preempted;     /* timer interrupts taken while this task ran in U */
    uint64_t scratch;       /* the task tries to store here (page fault 15) */
};


/* ---- kernel-internal interface (kernel.c, virtio.c) ---------------------- */
#ifndef USER_CODE
#define csr_set(csr, v)   __asm__ volatile ("csrs " #csr ", %0" :: "r"((uint64_t)(v)) : "memory")
#define csr_clear(csr, v) __asm__ volatile ("csrc " #csr ", %0" :: "r"((uint64_t)(v)) : "memory")

#define SIE_SEIE        (1UL << 9)

#define PLIC_BASE               0x0c000000UL
#define PLIC_PRIORITY(src)      (*(volatile uint32_t *)(PLIC_BASE + 4 * (src)))
#define PLIC_S_ENABLE           (*(volatile uint32_t *)(PLIC_BASE + 0x2080))   /* context 1, sources 0..31 */
#define PLIC_S_THRESHOLD        (*(volatile uint32_t *)(PLIC_BASE + 0x201000))
#define PLIC_S_CLAIM            (*(volatile uint32_t *)(PLIC_BASE + 0x201004))

void *page_alloc(void);                     /* zeroed 4 KiB page (VA == PA) */
void idle_wait(void);                       /* wfi, then take pending interrupts */
void panic(const char *what) __attribute__((noreturn));
void plic_enable(unsigned src);
void plic_disable(unsigned src);
extern int kfailures;                       /* failed checks so far */

/* virtio.c */
int  blk_probe(void);                       /* 1 = a modern virtio-blk device is ready */
void blk_irq(void);
unsigned blk_irq_source(void);              /* PLIC source of the device (slot + 1) */
void blk_boot_counter(void);
#endif

#endif
