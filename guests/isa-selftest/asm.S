/* isa-selftest: tests that need exact control over instruction encodings
 * or code layout (jumps, every RV64C form, trap sites).
 *
 * Everything here is assembled with .option norvc; compressed instructions
 * are written with explicit c.* mnemonics inside .option rvc regions, so
 * each one is guaranteed to be the 16-bit encoding.
 */
    .option norvc
    .text

/* ======================================================================
 * void test_jumps(uint64_t out[JT_N])
 * out[0]  link written by jal            (want jt_jal_site + 4)
 * out[1]  link written by jal backwards  (want jt_jal_back_site + 4)
 * out[2]  link of jalr 0(rs1)            (want jt_jalr0_site + 4)
 * out[3]  link of jalr +100(rs1)         (want jt_jalr1_site + 4)
 * out[4]  link of jalr -2048(rs1)        (want jt_jalr2_site + 4)
 * out[5]  link of jalr to odd address    (want jt_jalr3_site + 4)
 * out[6]  link of jalr 1(rs1) (odd sum)  (want jt_jalr4_site + 4)
 * out[7]  rd==rs1: jalr t2, 0(t2)        (want jt_jalr5_site + 4)
 * out[8]  marker bits of reached targets (want 0xff)
 * out[9]  error bits (wrong path taken)  (want 0)
 * ==================================================================== */
    .globl test_jumps
    .balign 4
test_jumps:
    li      t3, 0               /* reached-target markers */
    li      t4, 0               /* error markers */

    .globl jt_jal_site
jt_jal_site:
    jal     t1, 1f
    ori     t4, t4, 1
1:  ori     t3, t3, 1
    sd      t1, 0(a0)

    /* jal backwards */
    j       3f
2:  ori     t3, t3, 2
    sd      t1, 8(a0)
    j       4f
3:
    .globl jt_jal_back_site
jt_jal_back_site:
    jal     t1, 2b
    ori     t4, t4, 2
4:
    /* jalr with offset 0 */
    la      t2, 5f
    .globl jt_jalr0_site
jt_jalr0_site:
    jalr    t1, 0(t2)
    ori     t4, t4, 4
5:  ori     t3, t3, 4
    sd      t1, 16(a0)

    /* jalr with positive offset */
    la      t2, 6f
    addi    t2, t2, -100
    .globl jt_jalr1_site
jt_jalr1_site:
    jalr    t1, 100(t2)
    ori     t4, t4, 8
6:  ori     t3, t3, 8
    sd      t1, 24(a0)

    /* jalr with the most negative offset */
    la      t2, 7f
    li      t5, 2048
    add     t2, t2, t5
    .globl jt_jalr2_site
jt_jalr2_site:
    jalr    t1, -2048(t2)
    ori     t4, t4, 16
    .balign 4
7:  ori     t3, t3, 16
    sd      t1, 32(a0)

    /* jalr to target+1: bit 0 of the sum is cleared */
    la      t2, 8f
    addi    t2, t2, 1
    .globl jt_jalr3_site
jt_jalr3_site:
    jalr    t1, 0(t2)
    ori     t4, t4, 32
    .balign 4
8:  ori     t3, t3, 32
    sd      t1, 40(a0)

    /* odd immediate: 1(t2) with t2 = target */
    la      t2, 9f
    .globl jt_jalr4_site
jt_jalr4_site:
    jalr    t1, 1(t2)
    ori     t4, t4, 64
    .balign 4
9:  ori     t3, t3, 64
    sd      t1, 48(a0)

    /* rd == rs1: the target uses the old value */
    la      t2, 10f
    .globl jt_jalr5_site
jt_jalr5_site:
    jalr    t2, 0(t2)
    ori     t4, t4, 128
10: ori     t3, t3, 128
    sd      t2, 56(a0)

    sd      t3, 64(a0)
    sd      t4, 72(a0)
    ret

/* ======================================================================
 * void test_rvc(uint64_t out[RVC_N])  -- every RV64C integer form.
 * The values stored to out[] are compared against rvc_expect[] in main.c
 * (same order). t6 holds `out`; results are stored with 32-bit sd.
 * ==================================================================== */
#define OUT(reg, idx) sd reg, (idx)*8(t6)

    .globl test_rvc
    .balign 4
test_rvc:
    mv      t6, a0
    addi    sp, sp, -16
    sd      s0, 0(sp)
    sd      s1, 8(sp)
    mv      t5, ra

    .option rvc
    /* 0..3: c.li, c.lui */
    c.li    a0, -32
    OUT(a0, 0)
    c.li    a1, 31
    OUT(a1, 1)
    c.lui   a2, 0xfffe0         /* nzimm = -0x20000 */
    OUT(a2, 2)
    c.lui   a3, 0x1f
    OUT(a3, 3)

    /* 4..5: c.addi */
    c.li    a0, 5
    c.addi  a0, -32
    OUT(a0, 4)
    .option norvc
    li      a0, 0x7fffffffffffffff
    .option rvc
    c.addi  a0, 1
    OUT(a0, 5)

    /* 6..7: c.addiw */
    .option norvc
    li      a1, 0x7fffffff
    .option rvc
    c.addiw a1, 1
    OUT(a1, 6)
    .option norvc
    li      a1, 0x123456789abcdef0
    .option rvc
    c.addiw a1, 0               /* sext.w */
    OUT(a1, 7)

    /* 8..10: c.addi16sp */
    mv      t0, sp
    c.addi16sp sp, -512
    sub     t1, sp, t0
    OUT(t1, 8)
    c.addi16sp sp, 496
    sub     t1, sp, t0
    OUT(t1, 9)
    c.addi16sp sp, 16
    sub     t1, sp, t0
    OUT(t1, 10)

    /* 11..12: c.addi4spn */
    c.addi4spn a0, sp, 1020
    sub     t1, a0, sp
    OUT(t1, 11)
    c.addi4spn s1, sp, 4
    sub     t1, s1, sp
    OUT(t1, 12)

    /* 13..14: c.slli */
    c.li    a2, 1
    c.slli  a2, 63
    OUT(a2, 13)
    .option norvc
    li      a3, 0x123456789abcdef0
    .option rvc
    c.slli  a3, 4
    OUT(a3, 14)

    /* 15..16: c.srli */
    c.srli  a2, 63              /* a2 = 1 << 63 from above */
    OUT(a2, 15)
    .option norvc
    li      a3, 0x89abcdef87654321
    .option rvc
    c.srli  a3, 32
    OUT(a3, 16)

    /* 17..19: c.srai */
    .option norvc
    li      a4, 0x8000000000000000
    .option rvc
    c.srai  a4, 63
    OUT(a4, 17)
    .option norvc
    li      a4, 0x89abcdef87654321
    .option rvc
    c.srai  a4, 4
    OUT(a4, 18)
    .option norvc
    li      a4, 0x7edcba9812345678
    .option rvc
    c.srai  a4, 32
    OUT(a4, 19)

    /* 20..21: c.andi */
    .option norvc
    li      a5, 0x123456789abcdef0
    .option rvc
    c.andi  a5, -32
    OUT(a5, 20)
    c.li    a5, -1
    c.andi  a5, 21
    OUT(a5, 21)

    /* 22..23: c.mv, c.add */
    .option norvc
    li      a1, 0xdeadbeefcafebabe
    .option rvc
    c.mv    a0, a1
    OUT(a0, 22)
    .option norvc
    li      a0, 0x7fffffffffffffff
    .option rvc
    c.li    a1, 1
    c.add   a0, a1
    OUT(a0, 23)

    /* 24: c.add rd == rs2 */
    .option norvc
    li      a0, 0x4000000000000003
    .option rvc
    c.add   a0, a0
    OUT(a0, 24)

    /* 25..29: c.sub c.xor c.or c.and c.subw */
    c.li    a0, 0
    c.li    a1, 1
    c.sub   a0, a1
    OUT(a0, 25)
    .option norvc
    li      s0, 0xff00ff00ff00ff00
    li      a1, 0x0ff00ff00ff00ff0
    .option rvc
    c.mv    a0, s0
    c.xor   a0, a1
    OUT(a0, 26)
    c.mv    a0, s0
    c.or    a0, a1
    OUT(a0, 27)
    c.mv    s1, s0
    c.and   s1, a1
    OUT(s1, 28)
    .option norvc
    li      a0, 0x100000000
    .option rvc
    c.li    a1, 1
    c.subw  a0, a1
    OUT(a0, 29)

    /* 30..31: c.addw */
    .option norvc
    li      a0, 0x7fffffff
    .option rvc
    c.li    a1, 1
    c.addw  a0, a1
    OUT(a0, 30)
    .option norvc
    li      a0, 0xdeadbeef00000005
    li      a1, 0x12345678fffffff0
    .option rvc
    c.addw  a0, a1
    OUT(a0, 31)

    /* 32: c.nop leaves everything alone */
    c.li    a0, 7
    c.nop
    OUT(a0, 32)

    /* 33..38: c.sd / c.ld / c.sw / c.lw on rvc_buf */
    .option norvc
    la      a1, rvc_buf
    li      a0, 0x1122334455667788
    .option rvc
    c.sd    a0, 248(a1)
    c.ld    a2, 248(a1)
    OUT(a2, 33)
    .option norvc
    ld      a2, 248(a1)         /* cross-check with the 32-bit load */
    .option rvc
    OUT(a2, 34)
    c.sw    a0, 124(a1)
    c.lw    a3, 124(a1)
    OUT(a3, 35)
    .option norvc
    li      a0, 0x00000000deadbeef
    .option rvc
    c.sw    a0, 0(a1)
    c.lw    a3, 0(a1)
    OUT(a3, 36)
    .option norvc
    lwu     a3, 0(a1)
    .option rvc
    OUT(a3, 37)
    c.sd    a0, 8(a1)
    c.ld    s0, 8(a1)
    OUT(s0, 38)

    /* 39..43: c.sdsp / c.ldsp / c.swsp / c.lwsp */
    .option norvc
    addi    sp, sp, -512
    li      a0, 0xffffffff87654321
    .option rvc
    c.sdsp  a0, 504(sp)
    c.ldsp  t0, 504(sp)
    OUT(t0, 39)
    c.swsp  a0, 252(sp)
    c.lwsp  t1, 252(sp)
    OUT(t1, 40)
    .option norvc
    lwu     t1, 252(sp)
    .option rvc
    OUT(t1, 41)
    c.sdsp  a1, 0(sp)
    c.ldsp  t2, 0(sp)
    sub     t2, t2, a1
    OUT(t2, 42)
    c.swsp  a0, 0(sp)
    c.lwsp  t2, 0(sp)
    OUT(t2, 43)
    .option norvc
    addi    sp, sp, 512
    .option rvc

    /* 44: control flow markers (want 0x7ff), 45: errors (want 0) */
    li      t3, 0
    li      t4, 0
    /* c.j forward */
    c.j     1f
    ori     t4, t4, 1
1:  ori     t3, t3, 1
    /* c.j backward */
    c.j     3f
2:  ori     t3, t3, 2
    c.j     4f
3:  c.j     2b
    ori     t4, t4, 2
4:
    /* c.beqz taken (forward) / not taken */
    c.li    a0, 0
    c.beqz  a0, 5f
    ori     t4, t4, 4
5:  ori     t3, t3, 4
    c.li    a0, 1
    c.beqz  a0, 6f
    ori     t3, t3, 8
6:
    /* c.bnez taken (forward) / not taken */
    c.li    a0, -1
    c.bnez  a0, 7f
    ori     t4, t4, 8
7:  ori     t3, t3, 16
    c.li    a0, 0
    c.bnez  a0, 8f
    ori     t3, t3, 32
8:
    /* c.beqz / c.bnez taken backwards */
    c.li    a0, 0
    c.j     10f
9:  ori     t3, t3, 64
    c.j     11f
10: c.beqz  a0, 9b
    ori     t4, t4, 16
11: c.li    a0, 3
    c.j     13f
12: ori     t3, t3, 128
    c.j     14f
13: c.bnez  a0, 12b
    ori     t4, t4, 32
14:
    /* c.jr */
    .option norvc
    la      a2, 15f
    .option rvc
    c.jr    a2
    ori     t4, t4, 64
15: ori     t3, t3, 256
    /* c.jalr: link = address of the c.jalr + 2 */
    .option norvc
    la      a2, 16f
    .option rvc
    .globl rvc_jalr_site
rvc_jalr_site:
    c.jalr  a2
    ori     t4, t4, 128
16: ori     t3, t3, 512
    OUT(ra, 46)
    /* c.jalr ra: target is the old ra */
    .option norvc
    la      ra, 17f
    .option rvc
    .globl rvc_jalr_ra_site
rvc_jalr_ra_site:
    c.jalr  ra
    ori     t4, t4, 256
17: ori     t3, t3, 1024
    OUT(ra, 47)
    OUT(t3, 44)
    OUT(t4, 45)

    .option norvc
    mv      ra, t5
    ld      s0, 0(sp)
    ld      s1, 8(sp)
    addi    sp, sp, 16
    ret

/* ======================================================================
 * Trap sites. Each returns 0x5a in a0 if execution resumed after the
 * trapping instruction; rd of a faulting instruction should be unchanged.
 * ==================================================================== */
    .globl trap_ecall
    .balign 4
trap_ecall:
    li      a0, 0
    .globl site_ecall
site_ecall:
    ecall
    li      a0, 0x5a
    ret

    .globl trap_ebreak
trap_ebreak:
    li      a0, 0
    .globl site_ebreak
site_ebreak:
    ebreak
    li      a0, 0x5a
    ret

    .globl trap_c_ebreak
trap_c_ebreak:
    li      a0, 0
    .globl site_c_ebreak
site_c_ebreak:
    .option rvc
    c.ebreak
    .option norvc
    li      a0, 0x5a
    ret

    .globl trap_illegal32
trap_illegal32:
    li      a0, 0
    .globl site_illegal32
site_illegal32:
    .4byte  0xc0001073          /* csrrw x0, cycle, x0: write to read-only CSR */
    li      a0, 0x5a
    ret

    .globl trap_illegal16
trap_illegal16:
    li      a0, 0
    .globl site_illegal16
site_illegal16:
    .2byte  0x0000              /* c.unimp: defined illegal */
    .2byte  0x0001              /* c.nop, keeps the rest 4-byte aligned */
    li      a0, 0x5a
    ret

/* uint64_t trap_xxx(void *addr, uint64_t rd_marker): rd = rd_marker before
 * the access; returns rd after it (should still be rd_marker). */
#define TRAP_MEM(name, ...)             \
    .globl trap_##name;                 \
trap_##name:                            \
    mv      a2, a1;                     \
    li      a1, 0x77;                   \
    .globl site_##name;                 \
site_##name:                            \
    __VA_ARGS__;                        \
    mv      a0, a2;                     \
    ret

TRAP_MEM(amoadd_w, amoadd.w a2, a1, (a0))
TRAP_MEM(amoswap_w, amoswap.w a2, a1, (a0))
TRAP_MEM(amoadd_d, amoadd.d a2, a1, (a0))
TRAP_MEM(amomaxu_d, amomaxu.d a2, a1, (a0))
TRAP_MEM(lr_w, lr.w a2, (a0))
TRAP_MEM(lr_d, lr.d a2, (a0))

/* uint64_t raw_ecall(uint64_t *rec): installs raw_trap_handler directly in
 * mtvec, executes ecall, restores mtvec. rec[0] = mcause, rec[1] = mepc,
 * return value = mtvec as read back after the write. */
    .globl raw_ecall
raw_ecall:
    csrr    t0, mtvec
    la      t1, raw_trap_handler
    csrw    mtvec, t1
    csrr    a1, mtvec
    mv      t2, a0
    .globl site_raw_ecall
site_raw_ecall:
    ecall
    csrw    mtvec, t0
    mv      a0, a1
    ret

    .globl raw_trap_handler
    .balign 4
raw_trap_handler:
    csrr    t3, mcause
    sd      t3, 0(t2)
    csrr    t3, mepc
    sd      t3, 8(t2)
    addi    t3, t3, 4
    csrw    mepc, t3
    mret

    .bss
    .balign 8
    .globl rvc_buf
rvc_buf:
    .zero   256
