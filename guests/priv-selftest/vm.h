/* priv-selftest: Sv39 test mappings (see vm.c). */
#ifndef PRIV_SELFTEST_VM_H
#define PRIV_SELFTEST_VM_H

#include <stdint.h>

/* 4 KiB test pages: L0 index i maps VA PG_VA(i) to PA SCRATCH(i). */
enum {
    PG_R = 1, PG_RW, PG_X, PG_RX, PG_W, PG_WX, PG_INV, PG_URW, PG_URX, PG_UX,
    PG_UR, PG_RWX, PG_NOA, PG_NOD, PG_SW, PG_SW2, PG_PTR, PG_NOA_R,
    PG_COUNT
};

#define SCRATCH_PA     0x81000000UL
#define SCRATCH(i)     (SCRATCH_PA + 0x1000UL * (i))
#define PG_VA(i)       (0x1000UL * (i))
#define PG_VALUE(i)    (0x5ca7c40000000000UL | ((uint64_t)(i) << 8))
#define CODE_OFF       0x400UL
#define CODE_VALUE(i)  (0x100UL + (i))

#define MEGA_PA        0x81200000UL     /* 2 MiB aligned */
#define MEGA_VA        0x00200000UL
#define MEGA_BAD_VA    0x00400000UL     /* misaligned megapage */
#define L1_INV_VA      0x00600000UL     /* L1 entry with V=0 */
#define GIGA_VA        0x40000000UL     /* -> PA 0x8000_0000 */
#define GIGA_DATA_PA   0x81400000UL
#define GIGA_DATA_VA   (GIGA_VA + (GIGA_DATA_PA - 0x80000000UL))
#define GIGA_BAD_VA    0xc0000000UL     /* misaligned gigapage */
#define HIGH_VA        0xffffffffc0000000UL   /* -> PA 0x8000_0000 */

#define U_ALIAS(x)     (opaque((uint64_t)(x)) - 0x80000000UL + 0x100000000UL)

extern uint64_t pt_root_a[512], pt_root_b[512], pt_l1[512], pt_l1b[512],
    pt_l0a[512], pt_l0b[512];

uint64_t pte_leaf(uint64_t pa, uint64_t flags);
void vm_fill_scratch(void);
void vm_build(void);
uint64_t satp_a(void);
uint64_t satp_b(void);

/* sites.S */
uint64_t site_lb(uint64_t), site_lh(uint64_t), site_lw(uint64_t),
    site_ld(uint64_t), site_lbu(uint64_t), site_lhu(uint64_t),
    site_lwu(uint64_t), site_lr_w(uint64_t), site_lr_d(uint64_t),
    site_c_ld(uint64_t);
uint64_t site_sb(uint64_t, uint64_t), site_sh(uint64_t, uint64_t),
    site_sw(uint64_t, uint64_t), site_sd(uint64_t, uint64_t),
    site_c_sd(uint64_t, uint64_t);
uint64_t site_ecall(uint64_t), site_ebreak(uint64_t), site_c_ebreak(uint64_t);
uint64_t site_ill_custom0(uint64_t), site_ill_fadd(uint64_t),
    site_ill_flw(uint64_t), site_ill_c_unimp(uint64_t),
    site_ill_c_fld(uint64_t), site_ill_c_fsdsp(uint64_t);
uint64_t site_nop(uint64_t), site_mret(uint64_t), site_sret(uint64_t), site_wfi(uint64_t),
    site_sfence(uint64_t), site_sfence_va(uint64_t), site_sfence_asid(uint64_t);
uint64_t site_call(uint64_t target);
uint64_t mprv_ld(uint64_t addr, uint64_t set);
uint64_t mprv_sd(uint64_t addr, uint64_t val, uint64_t set);
extern char mprv_ld_site[], mprv_sd_site[];
uint64_t s_set_satp(uint64_t);

#endif
