/* board-edges: corners of the hart and the board where an emulator may
 * differ from QEMU's virt machine without any selftest noticing. Each probe
 * prints what the guest sees (a value, or the trap's mcause and mtval); the
 * reference test compares the whole output with QEMU's, byte for byte, so a
 * probe states no expected value of its own. Found by comparing hand-written
 * guests with QEMU (see guests/README.md). */
#include "rt.h"

#define RAM_END 0x88000000UL /* 128 MiB of RAM at 0x8000_0000 */
#define UART(o) (*(volatile uint8_t *)(0x10000000UL + (o)))
#define PLIC(o) (*(volatile uint32_t *)(0x0c000000UL + (o)))
#define MTIMECMP (*(volatile uint64_t *)0x02004000UL)

static volatile uint64_t trap_cause, trap_tval, trapped;

/* Records the trap and steps over the faulting instruction. */
static int probe_hook(struct rt_trap_frame *f)
{
    if (f->mcause >> 63)
        return 0;
    trapped = 1;
    trap_cause = f->mcause;
    trap_tval = f->mtval;
    uint16_t low = *(volatile uint16_t *)f->mepc;
    f->mepc += (low & 3) == 3 ? 4 : 2;
    return 1;
}

static void report(const char *name, uint64_t value)
{
    if (trapped)
        rt_printf("%-30s trap mcause=%lu mtval=0x%lx\n", name, (unsigned long)trap_cause,
                  (unsigned long)trap_tval);
    else
        rt_printf("%-30s 0x%lx\n", name, (unsigned long)value);
    trapped = 0;
}

#define LOAD(op, name, addr) do { uint64_t v_ = 0xdead; trapped = 0; \
    __asm__ volatile (op " %0, 0(%1)" : "+r"(v_) : "r"((uint64_t)(addr)) : "memory"); \
    report(name, v_); } while (0)
#define STORE(op, name, addr, value) do { trapped = 0; \
    __asm__ volatile (op " %1, 0(%0)" :: "r"((uint64_t)(addr)), "r"((uint64_t)(value)) : "memory"); \
    report(name, 0); } while (0)

/* A misaligned access whose second part is past the end of RAM: mtval is
 * the address of the part that faulted. */
static void misaligned_past_ram(void)
{
    LOAD("ld", "ld at RAM end - 4", RAM_END - 4);
    LOAD("lw", "lw at RAM end - 2", RAM_END - 2);
    STORE("sd", "sd at RAM end - 4", RAM_END - 4, 0x1122334455667788UL);
    LOAD("lbu", "first byte kept by that sd", RAM_END - 4);
}

int main(uint64_t hartid, uint64_t fdt)
{
    (void)hartid;
    (void)fdt;
    rt_trap_hook = probe_hook;
    misaligned_past_ram();
    rt_printf("board-edges: done\n");
    return 0;
}
