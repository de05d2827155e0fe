/* smode-kernel: the two U-mode tasks.
 *
 * This file is linked at its user virtual address (USER_BASE, see link.ld):
 * code and rodata in pages shared by both tasks, .data/.bss copied into a
 * private page per task. It must not call anything in the kernel image (no
 * memcpy etc.); everything goes through ecall (kernel.h, SYS_*).
 */
#define USER_CODE
#include "kernel.h"

static inline long sys(long n, long a0, long a1)
{
    register long r0 __asm__("a0") = a0;
    register long r1 __asm__("a1") = a1;
    register long r7 __asm__("a7") = n;
    __asm__ volatile ("ecall" : "+r"(r0) : "r"(r1), "r"(r7) : "memory");
    return r0;
}

static uint64_t seed = 0x243f6a8885a308d3UL;   /* .data: a private copy per task */
static volatile uint64_t iterations;           /* .bss */

static char *put_str(char *p, const char *s)
{
    while (*s)
        *p++ = *s++;
    return p;
}

static char *put_hex(char *p, uint64_t v)
{
    *p++ = '0';
    *p++ = 'x';
    for (int shift = 60; shift >= 0; shift -= 4)
        *p++ = "0123456789abcdef"[(v >> shift) & 15];
    return p;
}

static char *put_dec(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* "<label><value>\n" through SYS_WRITE; the buffer lives on the user stack. */
static void report(const char *label, uint64_t value, int decimal)
{
    char buf[96];
    char *p = put_str(buf, label);
    p = decimal ? put_dec(p, value) : put_hex(p, value);
    *p++ = '\n';
    sys(SYS_WRITE, (long)buf, p - buf);
}

static void say(const char *s)
{
    long n = 0;
    while (s[n])
        n++;
    sys(SYS_WRITE, (long)s, n);
}

/* Task A: a hash chain with a LOG syscall per step and a SLEEP every sixth
 * step; then reads its info page, stores to it (read-only: page fault 15),
 * and hits a breakpoint. */
static long task_a(volatile struct uinfo *info)
{
    uint64_t h = seed;
    for (int i = 0; i < 36; i++) {
        h = (h ^ (uint64_t)i) * 0x100000001b3UL;
        h ^= h >> 29;
        iterations++;
        sys(SYS_LOG, (long)h, 0);
        if (i % 6 == 5)
            sys(SYS_SLEEP, 1, 0);
    }
    report("A: hash chain ", h, 0);
    report("A: info page magic ", info->magic, 0);
    report("A: info page tid ", info->tid, 1);
    info->scratch = 0x1234;             /* read-only: the kernel skips it */
    __asm__ volatile ("ebreak");
    report("A: scratch after the store ", info->scratch, 1);
    report("A: iterations ", iterations, 1);
    return 0;
}

/* Task B: touches an unmapped page (demand-mapped by the kernel), executes
 * an M-mode CSR read (illegal instruction), spins until the timer has
 * preempted it twice, then LOG + YIELD in a loop and three SLEEPs. */
static long task_b(volatile struct uinfo *info)
{
    volatile uint64_t *d = (volatile uint64_t *)USER_DEMAND_VA;
    uint64_t first = d[0];
    for (uint64_t i = 0; i < 512; i++)
        d[i] = i * i + seed;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < 512; i++)
        sum += d[i];
    report("B: demand page first word ", first, 0);
    report("B: demand page sum ", sum, 0);

    uint64_t v = 0x55;
    __asm__ volatile ("csrr %0, mstatus" : "+r"(v));
    report("B: register after the illegal csrr ", v, 0);

    while (info->preempted < 2)
        ;
    say("B: preempted twice while spinning\n");

    for (uint64_t i = 0; i < 20; i++) {
        sys(SYS_LOG, (long)(i * i * i), 0);
        sys(SYS_YIELD, 0, 0);
        iterations++;
    }
    for (int i = 0; i < 3; i++)
        sys(SYS_SLEEP, 1, 0);
    report("B: iterations ", iterations, 1);
    return 7;
}

void user_start(long tid) __attribute__((noreturn));

void user_start(long tid)
{
    volatile struct uinfo *info = (volatile struct uinfo *)USER_INFO_VA;
    long code = tid == 0 ? task_a(info) : task_b(info);
    sys(SYS_EXIT, code, 0);
    for (;;)
        ;
}
