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

#define AMO(op, name, addr, value) do { uint64_t v_ = 0xdead; trapped = 0; \
    __asm__ volatile (op " %0, %2, (%1)" : "+r"(v_) : "r"((uint64_t)(addr)), "r"((uint64_t)(value)) \
                      : "memory"); report(name, v_); } while (0)

/* AMOs, LR and SC on device registers: read-modify-write through the
 * device, as on RAM (the platform's choice; QEMU's virt allows them). */
static void atomics_on_devices(void)
{
    PLIC(4) = 5; /* priority of source 1 */
    AMO("amoor.w", "amoor.w PLIC priority 1 |= 2", 0x0c000004UL, 2);
    LOAD("lw", "PLIC priority 1", 0x0c000004UL);
    MTIMECMP = 0x55;
    AMO("amoswap.d", "amoswap.d mtimecmp", 0x02004000UL, 0x1234);
    LOAD("ld", "mtimecmp", 0x02004000UL);
    uint64_t v = 0xdead;
    trapped = 0;
    __asm__ volatile ("lr.w %0, (%1)" : "+r"(v) : "r"(0x0c000004UL) : "memory");
    report("lr.w PLIC priority 1", v);
    v = 0xdead;
    __asm__ volatile ("sc.w %0, %2, (%1)" : "+r"(v) : "r"(0x0c000004UL), "r"(1UL) : "memory");
    report("sc.w PLIC priority 1 = 1", v);
    LOAD("lw", "PLIC priority 1", 0x0c000004UL);
    AMO("amoadd.w", "amoadd.w reset ROM", 0x3000UL, 1);
    LOAD("lw", "reset ROM", 0x3000UL);
    PLIC(4) = 0;
    MTIMECMP = ~0UL;
}

/* The UART in loopback mode (MCR.LOOP): bytes written to THR are received
 * (never reach the console), MSR mirrors MCR's outputs, overruns set OE. */
static void uart_loopback(void)
{
    uint8_t seen[12]; /* printed once loopback is off: printing now would loop back too */
    UART(4) = 0x1f;   /* LOOP | OUT2 | OUT1 | RTS | DTR */
    seen[0] = UART(6);
    UART(0) = 'Z';
    seen[1] = UART(5);
    seen[2] = UART(0);
    seen[3] = UART(5);
    UART(0) = 'a';
    UART(0) = 'b'; /* RBR unread: an overrun */
    seen[4] = UART(5);
    seen[5] = UART(0);
    seen[6] = UART(5);
    UART(2) = 0x07; /* FIFO on, both FIFOs reset */
    for (int i = 0; i < 17; i++)
        UART(0) = (uint8_t)('A' + i);
    seen[7] = UART(5);
    seen[8] = UART(2);
    unsigned sum = 0, n = 0;
    while ((UART(5) & 1) && n < 100) {
        sum = sum * 31 + UART(0);
        n++;
    }
    seen[9] = UART(5);
    UART(2) = 0;
    UART(4) = 0x08;
    rt_printf("loopback msr=%x lsr=%x rbr=%x lsr=%x\n", seen[0], seen[1], seen[2], seen[3]);
    rt_printf("loopback overrun lsr=%x rbr=%x lsr=%x\n", seen[4], seen[5], seen[6]);
    rt_printf("loopback fifo lsr=%x iir=%x read=%u sum=%x lsr=%x\n", seen[7], seen[8], n, sum, seen[9]);
    rt_printf("loopback off msr=%x\n", UART(6));
}

/* PLIC pending bits, fed by the UART's THR-empty interrupt (source 10): a
 * raised line latches the bit (lowering it does not clear it; raising it
 * while the source is claimed sets it again), a claim clears it, and a
 * completion ends the claim even while the source is disabled. */
static void plic_pending(void)
{
    uint32_t seen[12]; /* printed at the end: printing raises the UART's line */
    int n = 0;
    PLIC(10 * 4) = 1;
    PLIC(0x2000) = 1 << 10; /* context 0 (M) */
    PLIC(0x200000) = 0;
    UART(1) = 0x02; /* IER.THRI: the line goes high */
    seen[n++] = PLIC(0x1000);
    UART(1) = 0x00; /* and low again, before any claim */
    seen[n++] = PLIC(0x1000);
    uint32_t claim = PLIC(0x200004);
    seen[n++] = claim;
    seen[n++] = PLIC(0x1000);
    PLIC(0x200004) = claim;
    seen[n++] = PLIC(0x200004); /* nothing left */
    UART(1) = 0x02;
    claim = PLIC(0x200004);
    seen[n++] = claim;
    UART(1) = 0x00;
    UART(1) = 0x02; /* raised again while claimed */
    UART(1) = 0x00;
    seen[n++] = PLIC(0x1000);
    seen[n++] = PLIC(0x200004); /* claimed: not claimable */
    PLIC(0x2000) = 0;           /* disabled, then completed */
    PLIC(0x200004) = claim;
    PLIC(0x2000) = 1 << 10;
    seen[n++] = PLIC(0x200004); /* the completion counted: claimable again */
    PLIC(0x200004) = seen[n - 1];
    PLIC(0x2000) = 0xffffffff;  /* source 0's enable bit reads back */
    seen[n++] = PLIC(0x2000);
    PLIC(0x2000) = 0;
    PLIC(10 * 4) = 0;
    rt_printf("plic pending: high=%x low=%x claim=%u then=%x again=%u\n", seen[0], seen[1], seen[2], seen[3],
              seen[4]);
    rt_printf("plic claimed: claim=%u pending=%x claim=%u after disabled completion=%u enable0=%x\n", seen[5],
              seen[6], seen[7], seen[8], seen[9]);
}

/* Device registers take the access sizes QEMU's virt gives them (PLIC and
 * CLINT msip: 4 bytes; mtimecmp: 4 or 8; the test device: 2 or 4; the UART:
 * any, one byte register each; virtio: any, in 4-byte pieces), only inside
 * their register windows; a misaligned device load is two aligned ones, a
 * misaligned device store is stored a byte at a time. */
static void device_access_sizes(void)
{
    PLIC(8) = 6; /* priority of source 2 */
    MTIMECMP = 0x1122334455667788UL;
    STORE("sb", "sb PLIC priority 1", 0x0c000004UL, 3);
    LOAD("lbu", "lbu PLIC priority 2", 0x0c000008UL);
    LOAD("ld", "ld PLIC priority 2", 0x0c000008UL);
    LOAD("lw", "lw PLIC priority 1 + 2", 0x0c000006UL);
    STORE("sw", "sw PLIC priority 1 + 2", 0x0c000006UL, 7);
    LOAD("lw", "lw PLIC priority 2", 0x0c000008UL);
    LOAD("lh", "lh CLINT msip + 1", 0x02000001UL);
    STORE("sb", "sb CLINT msip", 0x02000000UL, 1);
    LOAD("lw", "lw CLINT msip", 0x02000000UL);
    LOAD("lhu", "lhu mtimecmp", 0x02004000UL);
    LOAD("lw", "lw mtimecmp + 4", 0x02004004UL);
    LOAD("lw", "lw mtimecmp + 6", 0x02004006UL);
    LOAD("ld", "ld mtimecmp + 4", 0x02004004UL);
    STORE("sd", "sd mtimecmp + 4", 0x02004004UL, 1);
    LOAD("ld", "ld CLINT 0xbffc", 0x0200bffcUL);
    LOAD("lw", "lw CLINT 0xc000", 0x0200c000UL);
    LOAD("lb", "lb test device", 0x00100000UL);
    LOAD("lh", "lh test device", 0x00100000UL);
    LOAD("lw", "lw UART + 3", 0x10000003UL);
    LOAD("lh", "lh UART + 3", 0x10000003UL);
    LOAD("lw", "lw UART + 5", 0x10000005UL);
    STORE("sh", "sh UART scratch + 1", 0x10000007UL, 0x4142);
    LOAD("lbu", "lbu UART scratch", 0x10000007UL);
    LOAD("lbu", "lbu UART + 8", 0x10000008UL);
    LOAD("lbu", "lbu virtio7 magic", 0x10008000UL);
    LOAD("lhu", "lhu virtio7 magic", 0x10008000UL);
    LOAD("lbu", "lbu virtio7 magic + 1", 0x10008001UL);
    LOAD("lwu", "lwu virtio7 vendor", 0x1000800cUL);
    LOAD("lwu", "lwu virtio7 + 0x1fc", 0x100081fcUL);
    LOAD("lwu", "lwu virtio7 + 0x200", 0x10008200UL);
    PLIC(8) = 0;
    MTIMECMP = ~0UL;
    UART(7) = 0;
}

/* A guest-requested reset (the SiFive test device's 0x7777) keeps the CSRs
 * but mstatus.MIE/MPRV and mcause, and keeps the CLINT's mtimecmp; the
 * PLIC's and the UART's registers return to their reset values. The
 * second boot finds RESET_MAGIC in RAM (RAM survives a reset). */
#define RESET_MAGIC (*(volatile uint64_t *)0x87f00000UL)

static void before_reset(void)
{
    MTIMECMP = 0x123456789UL;
    rt_csr_write(mscratch, 0x77);
    rt_csr_write(medeleg, 0x100);
    rt_csr_write(mideleg, 0x222);
    rt_csr_write(sscratch, 0x55);
    rt_csr_write(mepc, 0x80002000UL);
    rt_csr_write(mtval, 0x1234);
    rt_csr_write(mstatus, rt_csr_read(mstatus) | (1UL << 1) | (1UL << 11) | (1UL << 19));
    PLIC(4) = 5;
    UART(7) = 0x42; /* scratch */
    RESET_MAGIC = 0xfeed;
    *(volatile uint32_t *)0x100000UL = 0x7777;
    for (;;)
        ;
}

static void after_reset(void)
{
    RESET_MAGIC = 0;
    rt_printf("after reset mtimecmp=%lx mscratch=%lx medeleg=%lx mideleg=%lx sscratch=%lx\n",
              (unsigned long)MTIMECMP, (unsigned long)rt_csr_read(mscratch), (unsigned long)rt_csr_read(medeleg),
              (unsigned long)rt_csr_read(mideleg), (unsigned long)rt_csr_read(sscratch));
    rt_printf("after reset mepc=%lx mtval=%lx mcause=%lx mstatus=%lx plic=%x uart scr=%x\n",
              (unsigned long)rt_csr_read(mepc), (unsigned long)rt_csr_read(mtval),
              (unsigned long)rt_csr_read(mcause), (unsigned long)rt_csr_read(mstatus), PLIC(4), UART(7));
    rt_csr_write(mideleg, 0);
    rt_csr_write(medeleg, 0);
}

int main(uint64_t hartid, uint64_t fdt)
{
    (void)hartid;
    (void)fdt;
    if (RESET_MAGIC == 0xfeed) {
        after_reset();
        rt_printf("board-edges: done\n");
        return 0;
    }
    /* At power-on mtimecmp is 0, so the machine timer is pending. */
    rt_printf("power-on mtimecmp=%lx mip.MTIP=%lu\n", (unsigned long)MTIMECMP,
              (unsigned long)(rt_csr_read(mip) >> 7 & 1));
    rt_trap_hook = probe_hook;
    misaligned_past_ram();
    atomics_on_devices();
    uart_loopback();
    plic_pending();
    device_access_sizes();
    rt_trap_hook = 0;
    before_reset();
    return 1;
}
