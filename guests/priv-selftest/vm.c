/* priv-selftest: Sv39 page tables shared by the exceptions and sv39 groups.
 *
 * Table A (satp_a()):
 *   root[2]   VA 0x8000_0000 (1 GiB)  -> PA 0x8000_0000  gigapage, S, RWX:
 *             the image (code, data, stacks, tables) identity-mapped
 *   root[1]   VA 0x4000_0000 (1 GiB)  -> PA 0x8000_0000  gigapage, S, RW
 *   root[3]   VA 0xc000_0000          -> misaligned gigapage (PPN 0x80200)
 *   root[4]   VA 0x1_0000_0000        -> PA 0x8000_0000  gigapage, U, RWX:
 *             the user alias of the image (U_ALIAS())
 *   root[511] VA 0xffff_ffff_c000_0000 -> PA 0x8000_0000 gigapage, S, RW
 *   root[0]   -> L1:
 *     L1[0]   -> L0: 4 KiB test pages, VA = PG_VA(i) -> PA = SCRATCH(i)
 *     L1[1]   VA 0x20_0000 (2 MiB)    -> PA MEGA_PA      megapage, S, RW
 *     L1[2]   VA 0x40_0000            -> misaligned megapage
 *     L1[3]   V=0
 * Table B (satp_b()): a copy of A (own root, L1, L0) except that L0 entry
 * PG_SW maps SCRATCH(PG_SW2).
 *
 * Scratch pages are plain RAM above the image (0x8100_0000..), written
 * through their physical addresses from M-mode.
 */
#include "ps.h"
#include "vm.h"

uint64_t pt_root_a[512] __attribute__((aligned(4096)));
uint64_t pt_root_b[512] __attribute__((aligned(4096)));
uint64_t pt_l1[512] __attribute__((aligned(4096)));
uint64_t pt_l1b[512] __attribute__((aligned(4096)));
uint64_t pt_l0a[512] __attribute__((aligned(4096)));
uint64_t pt_l0b[512] __attribute__((aligned(4096)));

uint64_t pte_leaf(uint64_t pa, uint64_t flags)
{
    return ((pa >> 12) << 10) | flags | PTE_V;
}

static uint64_t pte_table(const void *t)
{
    return ((ADDR(t) >> 12) << 10) | PTE_V;
}

#define RWXAD (PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)

/* Flags of the 4 KiB test pages (PTE_V added unless the entry is 0). */
static const uint64_t pg_flags[PG_COUNT] = {
    [PG_R]     = PTE_R | PTE_A,
    [PG_RW]    = PTE_R | PTE_W | PTE_A | PTE_D,
    [PG_X]     = PTE_X | PTE_A,
    [PG_RX]    = PTE_R | PTE_X | PTE_A,
    [PG_W]     = PTE_W | PTE_A | PTE_D,             /* reserved */
    [PG_WX]    = PTE_W | PTE_X | PTE_A | PTE_D,     /* reserved */
    [PG_INV]   = 0,                                 /* V=0 */
    [PG_URW]   = PTE_U | PTE_R | PTE_W | PTE_A | PTE_D,
    [PG_URX]   = PTE_U | PTE_R | PTE_X | PTE_A,
    [PG_UX]    = PTE_U | PTE_X | PTE_A,
    [PG_UR]    = PTE_U | PTE_R | PTE_A,
    [PG_RWX]   = RWXAD,
    [PG_NOA]   = PTE_R | PTE_W | PTE_X,             /* A=0, D=0 */
    [PG_NOD]   = PTE_R | PTE_W | PTE_A,             /* D=0 */
    [PG_SW]    = PTE_R | PTE_W | PTE_A | PTE_D,     /* remapped by the tests */
    [PG_SW2]   = PTE_R | PTE_W | PTE_A | PTE_D,
    [PG_PTR]   = 0,                                 /* special: V only */
    [PG_NOA_R] = PTE_R,                             /* A=0 */
};

void vm_fill_scratch(void)
{
    for (unsigned i = 1; i < PG_COUNT; i++) {
        volatile uint64_t *p = (volatile uint64_t *)SCRATCH(i);
        p[0] = PG_VALUE(i);
        p[1] = ~PG_VALUE(i);
        p[0x800 / 8] = PG_VALUE(i) + 0x800;
        /* code at +CODE_OFF: addi a0, zero, 0x100+i ; ret */
        volatile uint32_t *c = (volatile uint32_t *)(SCRATCH(i) + CODE_OFF);
        c[0] = ((0x100U + i) << 20) | (10U << 7) | 0x13;
        c[1] = 0x00008067;
    }
    volatile uint64_t *m = (volatile uint64_t *)MEGA_PA;
    m[0] = 0x3e9a000000000000UL;
    m[0x1ff000 / 8] = 0x3e9a0000001ff000UL;
    volatile uint64_t *g = (volatile uint64_t *)GIGA_DATA_PA;
    g[0] = 0x919a000000000001UL;
    __asm__ volatile ("fence.i" ::: "memory");
}

void vm_build(void)
{
    memset(pt_root_a, 0, sizeof pt_root_a);
    memset(pt_l1, 0, sizeof pt_l1);
    memset(pt_l0a, 0, sizeof pt_l0a);

    pt_root_a[0] = pte_table(pt_l1);
    pt_root_a[1] = pte_leaf(0x80000000UL, PTE_R | PTE_W | PTE_A | PTE_D);
    pt_root_a[2] = pte_leaf(0x80000000UL, RWXAD);
    pt_root_a[3] = pte_leaf(0x80200000UL, PTE_R | PTE_W | PTE_A | PTE_D);
    pt_root_a[4] = pte_leaf(0x80000000UL, RWXAD | PTE_U);
    pt_root_a[511] = pte_leaf(0x80000000UL, PTE_R | PTE_W | PTE_A | PTE_D);

    pt_l1[0] = pte_table(pt_l0a);
    pt_l1[1] = pte_leaf(MEGA_PA, PTE_R | PTE_W | PTE_A | PTE_D);
    pt_l1[2] = pte_leaf(MEGA_PA + 0x1000, PTE_R | PTE_W | PTE_A | PTE_D);
    pt_l1[3] = 0;

    for (unsigned i = 1; i < PG_COUNT; i++) {
        if (i == PG_PTR)
            pt_l0a[i] = PTE_V;      /* a pointer at the last level */
        else if (pg_flags[i])
            pt_l0a[i] = pte_leaf(SCRATCH(i), pg_flags[i]);
        else
            pt_l0a[i] = pte_leaf(SCRATCH(i), 0) & ~PTE_V;
    }

    /* Table B: its own root, L1 and L0, differing only in PG_SW. */
    memcpy(pt_root_b, pt_root_a, sizeof pt_root_b);
    memcpy(pt_l1b, pt_l1, sizeof pt_l1b);
    memcpy(pt_l0b, pt_l0a, sizeof pt_l0b);
    pt_root_b[0] = pte_table(pt_l1b);
    pt_l1b[0] = pte_table(pt_l0b);
    pt_l0b[PG_SW] = pte_leaf(SCRATCH(PG_SW2), pg_flags[PG_SW]);
    __asm__ volatile ("fence" ::: "memory");
    sfence_all();
}

uint64_t satp_a(void)
{
    return SATP_SV39 | (ADDR(pt_root_a) >> 12);
}

uint64_t satp_b(void)
{
    return SATP_SV39 | (ADDR(pt_root_b) >> 12);
}
