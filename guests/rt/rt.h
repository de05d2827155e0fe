/* Caravan guest runtime (rt): tiny, deterministic, M-mode only.
 * See guests/README.md. */
#ifndef CARAVAN_RT_H
#define CARAVAN_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- machine (QEMU virt) ------------------------------------------------ */
#define RT_UART_BASE    0x10000000UL    /* NS16550A */
#define RT_TEST_BASE    0x00100000UL    /* sifive,test0 finisher */
#define RT_CLINT_BASE   0x02000000UL
#define RT_RAM_BASE     0x80000000UL

/* Values handed over by the boot ROM (saved by crt0). */
extern uint64_t rt_boot_hartid;
extern uint64_t rt_boot_fdt;

/* Linker-script symbols. */
extern char __image_start[], __bss_start[], __bss_end[];
extern char __stack_bottom[], __stack_top[], _end[];

/* ---- console ---------------------------------------------------------- */
void rt_putc(char c);                 /* polls LSR.THRE before each byte */
void rt_puts(const char *s);          /* no newline appended */
int  rt_getc(void);                   /* blocking */
int  rt_trygetc(void);                /* -1 if no byte is waiting */

/* printf subset: %d %i %u %x %X %c %s %p %%, flags '-' and '0', a width
 * (digits or '*'), length modifiers l, ll, z. */
int rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int rt_vprintf(const char *fmt, va_list ap);
int rt_snprintf(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int rt_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);

/* ---- power ------------------------------------------------------------ */
/* Exit through the SiFive test device: 0 -> 0x5555 (pass), else
 * (code << 16) | 0x3333. Never returns. */
void rt_exit(int code) __attribute__((noreturn));
void rt_poweroff(void) __attribute__((noreturn));   /* rt_exit(0) */

/* ---- traps ------------------------------------------------------------ */
struct rt_trap_frame {
    uint64_t x[32];         /* x[0] = 0, x[2] = sp at the time of the trap */
    uint64_t mepc;          /* written back to mepc before mret */
    uint64_t mcause;
    uint64_t mtval;
    uint64_t mstatus;
};

/* If set, called for every trap; return non-zero when handled (the handler
 * normally advances f->mepc), zero to fall through to the fatal report. */
typedef int (*rt_trap_hook_fn)(struct rt_trap_frame *f);
extern rt_trap_hook_fn rt_trap_hook;
/* Optional text printed with the fatal trap report (e.g. current test). */
extern const char *rt_trap_context;

void rt_trap_entry(void);   /* the mtvec target installed by crt0 */

/* ---- CSR helpers ------------------------------------------------------ */
#define rt_csr_read(csr) ({ uint64_t _v; \
    __asm__ volatile ("csrr %0, " #csr : "=r"(_v)); _v; })
#define rt_csr_write(csr, v) \
    __asm__ volatile ("csrw " #csr ", %0" :: "r"((uint64_t)(v)))

/* ---- freestanding string functions (rt/string.c) ----------------------- */
void  *memset(void *d, int c, size_t n);
void  *memcpy(void *d, const void *s, size_t n);
void  *memmove(void *d, const void *s, size_t n);
int    memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int    strcmp(const char *a, const char *b);
int    strncmp(const char *a, const char *b, size_t n);

int main(uint64_t hartid, uint64_t fdt);

#endif
