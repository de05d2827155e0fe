/* sbi-hello: an S-mode payload for OpenSBI (fw_jump / fw_dynamic).
 *
 * Prints only through SBI calls (legacy console putchar), queries the base
 * extension, probes a few extensions, takes one S-mode timer interrupt set up
 * through the TIME extension, and shuts the machine down through SRST.
 * Nothing printed depends on timing or on the CPU's vendor/arch/impl ids
 * (those differ between QEMU and the emulator; only the calls' success is
 * printed). See guests/README.md.
 */
#include "rt.h"

#define SBI_EXT_LEGACY_PUTCHAR  0x01
#define SBI_EXT_LEGACY_SHUTDOWN 0x08
#define SBI_EXT_BASE            0x10
#define SBI_EXT_TIME            0x54494d45
#define SBI_EXT_IPI             0x735049
#define SBI_EXT_RFNC            0x52464e43
#define SBI_EXT_HSM             0x48534d
#define SBI_EXT_SRST            0x53525354

#define SBI_SRST_SHUTDOWN       0
#define SBI_SRST_NO_REASON      0

#define SIE_STIE                (1UL << 5)
#define SSTATUS_SIE             (1UL << 1)
#define CAUSE_S_TIMER           ((1UL << 63) | 5)

#define TEST_DEVICE             ((volatile uint32_t *)0x00100000UL)

struct sbiret {
    long error;
    long value;
};

static struct sbiret sbi_call(long eid, long fid, long arg0, long arg1)
{
    register long a0 __asm__("a0") = arg0;
    register long a1 __asm__("a1") = arg1;
    register long a6 __asm__("a6") = fid;
    register long a7 __asm__("a7") = eid;
    __asm__ volatile ("ecall" : "+r"(a0), "+r"(a1) : "r"(a6), "r"(a7) : "memory");
    return (struct sbiret){ a0, a1 };
}

/* The console of rt/printf.c: SBI legacy console putchar. */
void rt_putc(char c)
{
    register long a0 __asm__("a0") = (unsigned char)c;
    register long a7 __asm__("a7") = SBI_EXT_LEGACY_PUTCHAR;
    __asm__ volatile ("ecall" : "+r"(a0) : "r"(a7) : "memory", "a1");
}

void rt_puts(const char *s)
{
    while (*s)
        rt_putc(*s++);
}

void sbi_shutdown(void) __attribute__((noreturn));
void s_trap(uint64_t scause, uint64_t stval, uint64_t sepc);

/* Last resort: the SiFive test device (OpenSBI's root domain lets S-mode
 * reach it), (code << 16) | 0x3333 = fail. */
static void __attribute__((noreturn)) fail_exit(int code)
{
    *TEST_DEVICE = ((uint32_t)code << 16) | 0x3333;
    for (;;)
        __asm__ volatile ("wfi");
}

void sbi_shutdown(void)
{
    struct sbiret r = sbi_call(SBI_EXT_SRST, 0, SBI_SRST_SHUTDOWN, SBI_SRST_NO_REASON);
    rt_printf("sbi: SRST system_reset returned, error %ld\n", r.error);
    sbi_call(SBI_EXT_LEGACY_SHUTDOWN, 0, 0, 0);
    fail_exit(1);
}

static volatile int timer_fired;
static volatile uint64_t timer_cause;

void s_trap(uint64_t scause, uint64_t stval, uint64_t sepc)
{
    if (scause == CAUSE_S_TIMER) {
        /* Mask the timer: the SBI way to clear a pending timer interrupt
         * without scheduling another one. */
        __asm__ volatile ("csrc sie, %0" :: "r"(SIE_STIE));
        timer_cause = scause;
        timer_fired = 1;
        return;
    }
    rt_printf("\n*** sbi-hello: unexpected trap scause=0x%lx sepc=0x%lx stval=0x%lx\n",
              (unsigned long)scause, (unsigned long)sepc, (unsigned long)stval);
    fail_exit(3);
}

static int failures;

static long base_call(long fid, const char *what)
{
    struct sbiret r = sbi_call(SBI_EXT_BASE, fid, 0, 0);
    if (r.error != 0) {
        rt_printf("sbi: %s failed, error %ld\n", what, r.error);
        failures++;
    }
    return r.value;
}

static uint32_t be32(const volatile uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int main(uint64_t hartid, uint64_t fdt)
{
    rt_printf("sbi-hello: S-mode payload at %p, hart %lu\n", (void *)__image_start,
              (unsigned long)hartid);
    rt_printf("sbi-hello: a1 points at a device tree: %s\n",
              fdt && be32((const volatile uint8_t *)(uintptr_t)fdt) == 0xd00dfeedu ? "yes" : "no");

    long spec = base_call(0, "get_spec_version");
    rt_printf("sbi: specification version %ld.%ld\n", (spec >> 24) & 0x7f, spec & 0xffffff);
    long impl = base_call(1, "get_impl_id");
    long impl_version = base_call(2, "get_impl_version");
    rt_printf("sbi: implementation id %ld%s, version 0x%lx\n", impl,
              impl == 1 ? " (OpenSBI)" : "", impl_version);
    if (impl == 1)
        rt_printf("sbi: OpenSBI version %ld.%ld\n", impl_version >> 16, impl_version & 0xffff);
    (void)base_call(4, "get_mvendorid");
    (void)base_call(5, "get_marchid");
    (void)base_call(6, "get_mimpid");
    rt_printf("sbi: get_mvendorid/get_marchid/get_mimpid: %s\n", failures ? "FAILED" : "ok");

    static const struct { const char *name; long eid; } exts[] = {
        { "TIME", SBI_EXT_TIME }, { "IPI", SBI_EXT_IPI }, { "RFNC", SBI_EXT_RFNC },
        { "HSM", SBI_EXT_HSM }, { "SRST", SBI_EXT_SRST }, { "0x0a000000 (none)", 0x0a000000 },
    };
    for (unsigned i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        struct sbiret r = sbi_call(SBI_EXT_BASE, 3, exts[i].eid, 0);
        rt_printf("sbi: probe %-17s %s\n", exts[i].name,
                  r.error ? "error" : r.value ? "available" : "not available");
        if (r.error || !r.value != (exts[i].eid == 0x0a000000))
            failures++;
    }

    /* One timer interrupt, 1 ms ahead, through the TIME extension. */
    uint64_t now;
    __asm__ volatile ("csrr %0, time" : "=r"(now));
    struct sbiret r = sbi_call(SBI_EXT_TIME, 0, (long)(now + 10000), 0);
    rt_printf("sbi: set_timer(now + 10000): error %ld\n", r.error);
    if (r.error)
        failures++;
    __asm__ volatile ("csrs sie, %0" :: "r"(SIE_STIE));
    while (!timer_fired) {
        __asm__ volatile ("wfi");
        __asm__ volatile ("csrs sstatus, %0" :: "r"(SSTATUS_SIE));
        __asm__ volatile ("csrc sstatus, %0" :: "r"(SSTATUS_SIE));
    }
    rt_printf("sbi: S-mode timer interrupt arrived (scause=0x%lx)\n", (unsigned long)timer_cause);

    if (failures) {
        rt_printf("sbi-hello: FAILED (%d)\n", failures);
        fail_exit(1);
    }
    rt_printf("sbi-hello: done, shutting down through SRST\n");
    sbi_shutdown();
}
