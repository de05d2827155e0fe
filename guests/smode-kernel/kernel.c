/* smode-kernel: the S-mode kernel.
 *
 * Entered from M-mode (mboot.c) through s_entry (strap.S). It turns on Sv39
 * paging, checks a few trap paths, reads a line from the UART through the
 * PLIC, runs the virtio-blk boot counter (virtio.c), then runs two U-mode
 * tasks (user.c) preemptively under a timer that first ticks the classic way
 * (M-mode CLINT interrupt forwarded as mip.STIP) and then through Sstc
 * (stimecmp), and finally checks the hardware-updated PTE A/D bits.
 *
 * Nothing printed depends on timing: per-task results are buffered and
 * printed in a fixed order at the end, and timer facts are printed as
 * "at least" statements. See guests/README.md.
 */
#include "rt.h"
#include "kernel.h"

#define SSTATUS_SIE     (1UL << 1)
#define SSTATUS_SUM     (1UL << 18)
#define SIE_SSIE        (1UL << 1)
#define SIE_STIE        (1UL << 5)
#define CAUSE_INTR      (1UL << 63)

#define PTE_V   0x01UL
#define PTE_R   0x02UL
#define PTE_W   0x04UL
#define PTE_X   0x08UL
#define PTE_U   0x10UL
#define PTE_G   0x20UL
#define PTE_A   0x40UL
#define PTE_D   0x80UL
#define PA2PTE(pa)  (((uint64_t)(pa) >> 12) << 10)
#define PTE2PA(pte) (((pte) >> 10) << 12)
#define SATP_SV39   (8UL << 60)

#define UART_IRQ        10
#define UART_REG(r)     (((volatile uint8_t *)RT_UART_BASE)[r])
#define UART_RBR        0
#define UART_IER        1
#define UART_LSR        5
#define LSR_DR          0x01

#define TICK_INTERVAL   10000UL         /* 1 ms at the 10 MHz timebase */
#define CLASSIC_TICKS   3               /* then switch to Sstc */
#define UART_TIMEOUT    5000000UL       /* 0.5 s without a complete line */
#define POOL_PAGES      64

/* ---- trap frames (layouts shared with strap.S) --------------------------- */
struct uframe {
    uint64_t x[32];
    uint64_t pc;
    uint64_t cause;
    uint64_t tval;
};

struct kframe {
    uint64_t x[32];
    uint64_t sepc;
    uint64_t sstatus;
    uint64_t scause;
    uint64_t stval;
};

void run_user(struct uframe *f);
void ktrap(struct kframe *f);
void kmain(uint64_t hartid, uint64_t fdt);
void user_start(long tid);                      /* user.c, at its user VA */

extern char __user_text_lma[], __user_data_lma[];
extern char __user_text_size[], __user_data_size[];

int kfailures;

/* ---- small helpers ------------------------------------------------------ */
static long mcall(long fn, long arg)
{
    register long a0 __asm__("a0") = arg;
    register long a7 __asm__("a7") = fn;
    __asm__ volatile ("ecall" : "+r"(a0) : "r"(a7) : "memory");
    return a0;
}

static inline uint64_t rdtime(void)
{
    uint64_t t;
    __asm__ volatile ("csrr %0, time" : "=r"(t));
    return t;
}

static inline void write_stimecmp(uint64_t v)
{
    __asm__ volatile ("csrw 0x14d, %0" :: "r"(v));     /* stimecmp (Sstc) */
}

static inline void sfence_all(void)
{
    __asm__ volatile ("sfence.vma zero, zero" ::: "memory");
}

void panic(const char *what)
{
    rt_printf("\n*** smode-kernel panic: %s\n", what);
    mcall(MCALL_SHUTDOWN, 3);
    for (;;)
        ;
}

static void check(int ok, const char *what)
{
    if (!ok) {
        kfailures++;
        rt_printf("CHECK FAILED: %s\n", what);
    }
}

static const char *yesno(int v)
{
    return v ? "yes" : "no";
}

/* Length of the instruction at pc (kernel VA, or user VA with SUM set). */
static unsigned insn_len(uint64_t pc)
{
    uint16_t h = *(volatile uint16_t *)(uintptr_t)pc;
    return (h & 3) == 3 ? 4 : 2;
}

static unsigned user_insn_len(uint64_t pc)
{
    csr_set(sstatus, SSTATUS_SUM);
    unsigned n = insn_len(pc);
    csr_clear(sstatus, SSTATUS_SUM);
    return n;
}

/* ---- physical pages ----------------------------------------------------- */
static uint8_t *pool_next;
static uint8_t *pool_end;

void *page_alloc(void)
{
    if (pool_next >= pool_end)
        panic("out of pages");
    void *p = pool_next;
    pool_next += 4096;
    memset(p, 0, 4096);
    return p;
}

/* ---- Sv39 page tables ------------------------------------------------------ */
static uint64_t *kernel_root;

static void map_kernel(uint64_t *root)
{
    /* 0x0000_0000..0x3fff_ffff: MMIO (test device, CLINT, PLIC, UART, virtio). */
    root[0] = PA2PTE(0) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D | PTE_G;
    /* 0x8000_0000..0xbfff_ffff: RAM, identity, one gigapage. */
    root[2] = PA2PTE(0x80000000UL) | PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D | PTE_G;
}

/* The leaf PTE slot for va (4 KiB pages); allocates tables if alloc. */
static uint64_t *pte_slot(uint64_t *root, uint64_t va, int alloc)
{
    uint64_t *table = root;
    for (int level = 2; level > 0; level--) {
        uint64_t *pte = &table[(va >> (12 + 9 * level)) & 511];
        if (*pte & PTE_V) {
            if (*pte & (PTE_R | PTE_X))
                panic("pte_slot: superpage in the way");
            table = (uint64_t *)(uintptr_t)PTE2PA(*pte);
        } else {
            if (!alloc)
                return 0;
            uint64_t *next = page_alloc();
            *pte = PA2PTE(next) | PTE_V;
            table = next;
        }
    }
    return &table[(va >> 12) & 511];
}

static void map_page(uint64_t *root, uint64_t va, void *pa, uint64_t flags)
{
    *pte_slot(root, va, 1) = PA2PTE(pa) | flags | PTE_V;
}

static uint64_t satp_of(uint64_t *root)
{
    return SATP_SV39 | ((uint64_t)(uintptr_t)root >> 12);
}

/* ---- expected kernel faults -------------------------------------------- */
static volatile int kexpect_armed;
static volatile uint64_t kexpect_cause, kexpect_tval;

/* ---- interrupts --------------------------------------------------------- */
enum { TM_OFF, TM_DEADLINE, TM_CLASSIC, TM_SSTC };
static volatile int timer_mode;
static volatile int sstc_on;
static volatile int deadline_hit;
static volatile uint64_t ticks_total, ticks_classic, ticks_sstc;
static volatile uint64_t ssi_count, ssi_cause, spurious;

static volatile int uart_line_done;
static volatile unsigned uart_len, uart_irqs;
static uint8_t uart_buf[64];

static void timer_next(uint64_t when)
{
    if (sstc_on)
        write_stimecmp(when);
    else
        mcall(MCALL_SET_TIMER, (long)when);
}

/* Classic timer off (through M-mode). Under Sstc the callers just clear
 * sie.STIE: stimecmp is never set to ~0 (see MCALL_SET_TIMER in mboot.c). */
static void timer_off(void)
{
    if (!sstc_on)
        mcall(MCALL_SET_TIMER, -1);
}

static void on_timer(void)
{
    switch (timer_mode) {
    case TM_DEADLINE:
        deadline_hit = 1;
        timer_off();
        break;
    case TM_CLASSIC:
        ticks_total++;
        ticks_classic++;
        if (ticks_classic == CLASSIC_TICKS) {
            if (mcall(MCALL_ENABLE_SSTC, 0) != 0)
                panic("M-mode could not enable Sstc");
            sstc_on = 1;
            timer_mode = TM_SSTC;
        }
        timer_next(rdtime() + TICK_INTERVAL);
        break;
    case TM_SSTC:
        ticks_total++;
        ticks_sstc++;
        timer_next(rdtime() + TICK_INTERVAL);
        break;
    default:
        spurious++;
        timer_off();
        csr_clear(sie, SIE_STIE);
        break;
    }
}

static void timer_stop(void)
{
    csr_clear(sie, SIE_STIE);
    timer_mode = TM_OFF;
    timer_off();
}

void plic_enable(unsigned src)
{
    PLIC_PRIORITY(src) = 1;
    PLIC_S_ENABLE |= 1u << src;
}

void plic_disable(unsigned src)
{
    PLIC_S_ENABLE &= ~(1u << src);
}

static void uart_rx_irq(void)
{
    uart_irqs++;
    while (!uart_line_done && (UART_REG(UART_LSR) & LSR_DR)) {
        uint8_t c = UART_REG(UART_RBR);
        uart_buf[uart_len++] = c;
        if (c == '\n' || c == '\r' || uart_len == sizeof uart_buf)
            uart_line_done = 1;
    }
    if (uart_line_done)
        UART_REG(UART_IER) = 0;         /* leave any further input unread */
}

static void on_external(void)
{
    uint32_t src;
    while ((src = PLIC_S_CLAIM) != 0) {
        if (src == UART_IRQ)
            uart_rx_irq();
        else if (src == blk_irq_source())
            blk_irq();
        else
            spurious++;
        PLIC_S_CLAIM = src;             /* complete */
    }
}

static void on_interrupt(uint64_t code)
{
    switch (code) {
    case 1:                             /* supervisor software interrupt */
        csr_clear(sip, 1UL << 1);
        ssi_count++;
        break;
    case 5:
        on_timer();
        break;
    case 9:
        on_external();
        break;
    default:
        panic("unexpected interrupt");
    }
}

/* Traps taken while the kernel itself runs (sscratch == 0). */
void ktrap(struct kframe *f)
{
    uint64_t cause = f->scause;
    if (cause & CAUSE_INTR) {
        if ((cause & ~CAUSE_INTR) == 1)
            ssi_cause = cause;
        on_interrupt(cause & ~CAUSE_INTR);
        return;
    }
    if (kexpect_armed) {
        kexpect_armed = 0;
        kexpect_cause = cause;
        kexpect_tval = f->stval;
        f->sepc += insn_len(f->sepc);
        return;
    }
    rt_printf("\n*** S-mode: unexpected trap scause=0x%lx sepc=0x%lx stval=0x%lx\n",
              (unsigned long)cause, (unsigned long)f->sepc, (unsigned long)f->stval);
    mcall(MCALL_SHUTDOWN, 3);
}

/* Sleep until an interrupt arrives and handle it. Called with SIE = 0: a
 * pending interrupt makes wfi fall through, and the short SIE window takes it
 * through strap_entry -> ktrap. */
void idle_wait(void)
{
    __asm__ volatile ("wfi" ::: "memory");
    csr_set(sstatus, SSTATUS_SIE);
    csr_clear(sstatus, SSTATUS_SIE);
}

/* ---- tasks ---------------------------------------------------------------- */
enum { T_READY, T_SLEEPING, T_DONE };

struct task {
    struct uframe f;
    const char *name;
    uint64_t *root;
    uint64_t satp;
    int state;
    uint64_t wake;
    int64_t exit_code;
    uint64_t nsys[SYS_COUNT];
    uint64_t log_sum;
    struct uinfo *info;         /* kernel address of the task's info page */
    int demand_mapped;
    size_t out_len;
    char out[1536];
};

static struct task tasks[2];

static void tprintf(struct task *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tprintf(struct task *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = sizeof t->out - t->out_len;
    int n = rt_vsnprintf(t->out + t->out_len, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->out_len += (size_t)n < room ? (size_t)n : room - 1;
}

static void task_create(struct task *t, int tid, const char *name)
{
    t->name = name;
    t->root = page_alloc();
    map_kernel(t->root);

    /* Text + rodata: shared by both tasks, mapped straight from the image. */
    uint64_t text_size = (uint64_t)(uintptr_t)__user_text_size;
    for (uint64_t off = 0; off < text_size; off += 4096)
        map_page(t->root, USER_BASE + off, __user_text_lma + off, PTE_R | PTE_X | PTE_U);

    /* .data + .bss: a private copy. */
    uint8_t *data = page_alloc();
    memcpy(data, __user_data_lma, (size_t)(uintptr_t)__user_data_size);
    map_page(t->root, USER_DATA_VA, data, PTE_R | PTE_W | PTE_U);

    map_page(t->root, USER_STACK_VA, page_alloc(), PTE_R | PTE_W | PTE_U);

    t->info = page_alloc();
    t->info->magic = UINFO_MAGIC;
    t->info->tid = (uint64_t)tid;
    map_page(t->root, USER_INFO_VA, t->info, PTE_R | PTE_U);

    map_page(t->root, USER_IDLE_VA, page_alloc(), PTE_R | PTE_W | PTE_U);
    /* USER_DEMAND_VA stays unmapped until the task touches it. */

    t->satp = satp_of(t->root);
    t->f.pc = (uint64_t)(uintptr_t)user_start;
    t->f.x[2] = USER_STACK_VA + 4096;
    t->f.x[10] = (uint64_t)tid;
    t->state = T_READY;
}

/* Copy a user string into the task's transcript (sstatus.SUM on). */
static long sys_write(struct task *t, uint64_t ptr, uint64_t len)
{
    if (len > 256 || ptr < USER_BASE || ptr + len > USER_END)
        return -1;
    char tmp[257];
    csr_set(sstatus, SSTATUS_SUM);
    for (uint64_t i = 0; i < len; i++)
        tmp[i] = ((volatile char *)(uintptr_t)ptr)[i];
    csr_clear(sstatus, SSTATUS_SUM);
    tmp[len] = 0;
    tprintf(t, "%s", tmp);
    return (long)len;
}

/* Returns 1 when the scheduler should switch to the other task. */
static int do_syscall(struct task *t)
{
    uint64_t n = t->f.x[17], a0 = t->f.x[10], a1 = t->f.x[11];
    t->f.pc += 4;
    if (n < SYS_COUNT)
        t->nsys[n]++;
    switch (n) {
    case SYS_EXIT:
        t->exit_code = (int64_t)a0;
        t->state = T_DONE;
        return 1;
    case SYS_WRITE:
        t->f.x[10] = (uint64_t)sys_write(t, a0, a1);
        return 0;
    case SYS_YIELD:
        t->f.x[10] = 0;
        return 1;
    case SYS_SLEEP:
        t->wake = ticks_total + a0;
        t->state = T_SLEEPING;
        t->f.x[10] = 0;
        return 1;
    case SYS_LOG:
        t->log_sum = (t->log_sum ^ a0) * 0x100000001b3UL;
        t->f.x[10] = 0;
        return 0;
    default:
        t->f.x[10] = (uint64_t)-1;
        return 0;
    }
}

static int user_trap(struct task *t)
{
    uint64_t cause = t->f.cause, tval = t->f.tval;
    if (cause & CAUSE_INTR) {
        uint64_t code = cause & ~CAUSE_INTR;
        if (code == 5)
            t->info->preempted++;
        on_interrupt(code);
        return code == 5;               /* a timer tick preempts the task */
    }
    switch (cause) {
    case 8:
        return do_syscall(t);
    case 12:
    case 13:
    case 15:
        if (tval >= USER_DEMAND_VA && tval < USER_DEMAND_VA + 4096 && !t->demand_mapped) {
            map_page(t->root, USER_DEMAND_VA, page_alloc(), PTE_R | PTE_W | PTE_U);
            __asm__ volatile ("sfence.vma %0, zero" :: "r"(USER_DEMAND_VA) : "memory");
            t->demand_mapped = 1;
            tprintf(t, "kernel: page fault scause=%lu stval=0x%lx: mapped a zero page on demand, resumed\n",
                    (unsigned long)cause, (unsigned long)tval);
            return 0;
        }
        if (cause == 15 && tval >= USER_INFO_VA && tval < USER_INFO_VA + 4096) {
            tprintf(t, "kernel: store to read-only page: scause=15 stval=0x%lx, instruction skipped\n",
                    (unsigned long)tval);
            t->f.pc += user_insn_len(t->f.pc);
            return 0;
        }
        break;
    case 2:
        tprintf(t, "kernel: illegal instruction (scause=2), skipped\n");
        t->f.pc += user_insn_len(t->f.pc);
        return 0;
    case 3:
        tprintf(t, "kernel: breakpoint (scause=3), skipped\n");
        t->f.pc += user_insn_len(t->f.pc);
        return 0;
    default:
        break;
    }
    tprintf(t, "kernel: killed: scause=%lu sepc=0x%lx stval=0x%lx\n", (unsigned long)cause,
            (unsigned long)t->f.pc, (unsigned long)tval);
    kfailures++;
    t->exit_code = -1;
    t->state = T_DONE;
    return 1;
}

static void run_tasks(void)
{
    int cur = 0;
    uint64_t satp = 0;
    for (;;) {
        int alive = 0;
        for (int i = 0; i < 2; i++) {
            struct task *t = &tasks[i];
            if (t->state == T_SLEEPING && ticks_total >= t->wake)
                t->state = T_READY;
            alive += t->state != T_DONE;
        }
        if (!alive)
            break;
        int pick = -1;
        for (int k = 0; k < 2 && pick < 0; k++)
            if (tasks[(cur + k) % 2].state == T_READY)
                pick = (cur + k) % 2;
        if (pick < 0) {
            idle_wait();
            continue;
        }
        cur = pick;
        struct task *t = &tasks[cur];
        if (satp != t->satp) {
            satp = t->satp;
            rt_csr_write(satp, satp);
            sfence_all();
        }
        run_user(&t->f);
        if (user_trap(t))
            cur = (cur + 1) % 2;
    }
    rt_csr_write(satp, satp_of(kernel_root));
    sfence_all();
}

static const char *ad(uint64_t pte, char *buf)
{
    if (!(pte & PTE_V))
        return "unmapped";
    rt_snprintf(buf, 16, "A=%d D=%d", (int)!!(pte & PTE_A), (int)!!(pte & PTE_D));
    return buf;
}

static void check_ad(struct task *t)
{
    static const struct { const char *name; uint64_t va; uint64_t want; } pages[] = {
        { "text", USER_BASE, PTE_A },
        { "data", USER_DATA_VA, PTE_A | PTE_D },
        { "stack", USER_STACK_VA, PTE_A | PTE_D },
        { "info(ro)", USER_INFO_VA, PTE_A },
        { "untouched", USER_IDLE_VA, 0 },
        { "demand", USER_DEMAND_VA, PTE_A | PTE_D },
    };
    rt_printf("a/d: task %s:", t->name);
    int ok = 1;
    for (unsigned i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        uint64_t *slot = pte_slot(t->root, pages[i].va, 0);
        uint64_t pte = slot ? *slot : 0;
        char buf[16];
        rt_printf("%s %s %s", i ? "," : "", pages[i].name, ad(pte, buf));
        if (i == 5 && !t->demand_mapped)
            ok &= !(pte & PTE_V);
        else
            ok &= (pte & PTE_V) && (pte & (PTE_A | PTE_D)) == pages[i].want;
    }
    rt_printf("\n");
    check(ok, "hardware A/D bits");
}

/* ---- the kernel ------------------------------------------------------------- */
static void uart_phase(void)
{
    uart_len = 0;
    uart_line_done = 0;
    deadline_hit = 0;
    timer_mode = TM_DEADLINE;
    timer_next(rdtime() + UART_TIMEOUT);
    csr_set(sie, SIE_STIE);
    plic_enable(UART_IRQ);
    UART_REG(UART_IER) = 0x01;          /* received data available */
    while (!uart_line_done && !deadline_hit)
        idle_wait();
    UART_REG(UART_IER) = 0;
    plic_disable(UART_IRQ);
    timer_stop();

    if (!uart_len) {
        rt_printf("uart: no input (timeout)\n");
        return;
    }
    rt_printf("uart: RX interrupt through PLIC source %d (S context 1), %u bytes%s:",
              UART_IRQ, uart_len, uart_line_done ? "" : " (timeout)");
    for (unsigned i = 0; i < uart_len; i++)
        rt_printf(" %02x", uart_buf[i]);
    rt_printf("\nuart: line \"");
    for (unsigned i = 0; i < uart_len; i++) {
        uint8_t c = uart_buf[i];
        if (c == '\n' || c == '\r')
            break;
        if (c >= 0x20 && c < 0x7f)
            rt_putc((char)c);
        else
            rt_printf("\\x%02x", c);
    }
    rt_printf("\"\n");
    check(uart_irqs >= 1, "uart interrupt");
}

static void task_phase(void)
{
    task_create(&tasks[0], 0, "A");
    task_create(&tasks[1], 1, "B");

    /* Kernel access to a U page: faults without sstatus.SUM, works with it. */
    rt_csr_write(satp, tasks[0].satp);
    sfence_all();
    kexpect_armed = 1;
    kexpect_cause = kexpect_tval = 0;
    (void)*(volatile uint64_t *)USER_BASE;
    int faulted = !kexpect_armed;
    kexpect_armed = 0;
    csr_set(sstatus, SSTATUS_SUM);
    uint32_t word = *(volatile uint32_t *)(USER_BASE + 4);
    csr_clear(sstatus, SSTATUS_SUM);
    rt_printf("S: load from user page 0x%lx without sstatus.SUM -> scause=%lu stval=0x%lx; "
              "with SUM: %s\n", USER_BASE, faulted ? (unsigned long)kexpect_cause : 0UL,
              (unsigned long)kexpect_tval,
              word == *(volatile uint32_t *)(__user_text_lma + 4) ? "ok" : "WRONG DATA");
    check(faulted && kexpect_cause == 13 && kexpect_tval == USER_BASE &&
          word == *(volatile uint32_t *)(__user_text_lma + 4), "SUM");
    rt_csr_write(satp, satp_of(kernel_root));
    sfence_all();

    rt_printf("tasks: A and B in U-mode, own Sv39 address spaces, timer every %lu ticks: "
              "%d via M-mode (CLINT mtimecmp -> mip.STIP), then Sstc (stimecmp)\n",
              TICK_INTERVAL, CLASSIC_TICKS);
    ticks_total = ticks_classic = ticks_sstc = 0;
    timer_mode = TM_CLASSIC;
    timer_next(rdtime() + TICK_INTERVAL);
    csr_set(sie, SIE_STIE);
    run_tasks();
    timer_stop();

    rt_printf("tasks: all done\n");
    rt_printf("timer: %lu ticks via M-mode forwarding, then menvcfg.STCE: %s\n",
              (unsigned long)ticks_classic, yesno(sstc_on));
    rt_printf("timer: Sstc ticks >= 3: %s\n", yesno(ticks_sstc >= 3));
    rt_printf("timer: task B preempted >= 2 times while spinning in U-mode: %s\n",
              yesno(tasks[1].info->preempted >= 2));
    check(ticks_classic == CLASSIC_TICKS && sstc_on && ticks_sstc >= 3 &&
          tasks[1].info->preempted >= 2, "timer ticks");

    static const char *const names[SYS_COUNT] = { "exit", "write", "yield", "sleep", "log" };
    for (int i = 0; i < 2; i++) {
        struct task *t = &tasks[i];
        uint64_t total = 0;
        for (int n = 0; n < SYS_COUNT; n++)
            total += t->nsys[n];
        rt_printf("task %s: exit code %ld, %lu syscalls (", t->name, (long)t->exit_code,
                  (unsigned long)total);
        for (int n = 0; n < SYS_COUNT; n++)
            rt_printf("%s%s %lu", n ? ", " : "", names[n], (unsigned long)t->nsys[n]);
        rt_printf("), log sum 0x%016lx\n", (unsigned long)t->log_sum);
        /* The task's transcript, one "  | " per line. */
        const char *p = t->out, *end = t->out + t->out_len;
        while (p < end) {
            rt_puts("  | ");
            while (p < end && *p != '\n')
                rt_putc(*p++);
            rt_putc('\n');
            if (p < end)
                p++;
        }
    }
    for (int i = 0; i < 2; i++)
        check_ad(&tasks[i]);
}

void kmain(uint64_t hartid, uint64_t fdt)
{
    (void)hartid;
    (void)fdt;

    /* Are we really in S-mode? mstatus is not accessible here. */
    kexpect_armed = 1;
    (void)rt_csr_read(mstatus);
    rt_printf("S: kernel running in S-mode (csrr mstatus -> scause=%lu)\n",
              (unsigned long)kexpect_cause);
    check(!kexpect_armed && kexpect_cause == 2, "S-mode");
    rt_csr_write(scounteren, 7);

    pool_next = (uint8_t *)_end;
    pool_end = pool_next + POOL_PAGES * 4096;

    kernel_root = page_alloc();
    map_kernel(kernel_root);
    rt_csr_write(satp, satp_of(kernel_root));
    sfence_all();
    rt_printf("S: Sv39 on: RAM 0x80000000 and MMIO 0x0 identity-mapped with gigapages, "
              "satp.MODE=%lu\n", (unsigned long)(rt_csr_read(satp) >> 60));

    kexpect_armed = 1;
    kexpect_cause = kexpect_tval = 0;
    (void)*(volatile uint64_t *)0xc0000000UL;
    rt_printf("S: load from unmapped 0xc0000000 -> scause=%lu stval=0x%lx, handled\n",
              (unsigned long)kexpect_cause, (unsigned long)kexpect_tval);
    check(!kexpect_armed && kexpect_cause == 13 && kexpect_tval == 0xc0000000UL, "kernel page fault");

    csr_set(sie, SIE_SSIE);
    csr_set(sip, 1UL << 1);
    while (!ssi_count)
        idle_wait();
    csr_clear(sie, SIE_SSIE);
    rt_printf("S: supervisor software interrupt (sip.SSIP) -> scause=0x%lx, handled\n",
              (unsigned long)ssi_cause);

    /* PLIC, S-mode context 1 of hart 0: every source off, threshold 0. */
    PLIC_S_ENABLE = 0;
    PLIC_S_THRESHOLD = 0;
    csr_set(sie, SIE_SEIE);

    uart_phase();
    if (blk_probe())
        blk_boot_counter();
    task_phase();

    if (spurious)
        rt_printf("S: %lu spurious interrupts\n", (unsigned long)spurious);
    check(!spurious, "no spurious interrupts");
    if (kfailures) {
        rt_printf("smode-kernel: FAILED (%d checks)\n", kfailures);
        mcall(MCALL_SHUTDOWN, 1);
    }
    rt_printf("smode-kernel: done\n");
    mcall(MCALL_SHUTDOWN, 0);
}
