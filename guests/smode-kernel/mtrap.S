/* smode-kernel: M-mode trap entry and the jump to S-mode.
 *
 * M-mode keeps its own stack in mscratch: a trap can come from U-mode (the
 * machine timer interrupt), where sp is a user virtual address. The frame is
 * struct mframe (mboot.c): x[32], mepc, mcause, mtval.
 */
#define MFRAME (35 * 8)

    .section .text.m_trap_entry, "ax", @progbits
    .balign 4
    .globl m_trap_entry
m_trap_entry:
    csrrw   sp, mscratch, sp
    addi    sp, sp, -MFRAME
    sd      x1, 1*8(sp)
    sd      x3, 3*8(sp)
    sd      x4, 4*8(sp)
    sd      x5, 5*8(sp)
    sd      x6, 6*8(sp)
    sd      x7, 7*8(sp)
    sd      x8, 8*8(sp)
    sd      x9, 9*8(sp)
    sd      x10, 10*8(sp)
    sd      x11, 11*8(sp)
    sd      x12, 12*8(sp)
    sd      x13, 13*8(sp)
    sd      x14, 14*8(sp)
    sd      x15, 15*8(sp)
    sd      x16, 16*8(sp)
    sd      x17, 17*8(sp)
    sd      x18, 18*8(sp)
    sd      x19, 19*8(sp)
    sd      x20, 20*8(sp)
    sd      x21, 21*8(sp)
    sd      x22, 22*8(sp)
    sd      x23, 23*8(sp)
    sd      x24, 24*8(sp)
    sd      x25, 25*8(sp)
    sd      x26, 26*8(sp)
    sd      x27, 27*8(sp)
    sd      x28, 28*8(sp)
    sd      x29, 29*8(sp)
    sd      x30, 30*8(sp)
    sd      x31, 31*8(sp)
    sd      zero, 0(sp)
    csrr    t0, mscratch            /* the interrupted sp */
    sd      t0, 2*8(sp)
    csrr    t0, mepc
    sd      t0, 32*8(sp)
    csrr    t0, mcause
    sd      t0, 33*8(sp)
    csrr    t0, mtval
    sd      t0, 34*8(sp)
    .option push
    .option norelax
    la      gp, __global_pointer$   /* gp may be a user value */
    .option pop

    mv      a0, sp
    call    m_trap

    ld      t0, 32*8(sp)
    csrw    mepc, t0
    ld      x1, 1*8(sp)
    ld      x3, 3*8(sp)
    ld      x4, 4*8(sp)
    ld      x5, 5*8(sp)
    ld      x6, 6*8(sp)
    ld      x7, 7*8(sp)
    ld      x8, 8*8(sp)
    ld      x9, 9*8(sp)
    ld      x10, 10*8(sp)
    ld      x11, 11*8(sp)
    ld      x12, 12*8(sp)
    ld      x13, 13*8(sp)
    ld      x14, 14*8(sp)
    ld      x15, 15*8(sp)
    ld      x16, 16*8(sp)
    ld      x17, 17*8(sp)
    ld      x18, 18*8(sp)
    ld      x19, 19*8(sp)
    ld      x20, 20*8(sp)
    ld      x21, 21*8(sp)
    ld      x22, 22*8(sp)
    ld      x23, 23*8(sp)
    ld      x24, 24*8(sp)
    ld      x25, 25*8(sp)
    ld      x26, 26*8(sp)
    ld      x27, 27*8(sp)
    ld      x28, 28*8(sp)
    ld      x29, 29*8(sp)
    ld      x30, 30*8(sp)
    ld      x31, 31*8(sp)
    addi    sp, sp, MFRAME
    csrrw   sp, mscratch, sp
    mret

/* void enter_smode(uint64_t entry, uint64_t a0, uint64_t a1): mret to S-mode
 * at entry with interrupts (SIE) off and satp = 0. Never returns. */
    .section .text.enter_smode, "ax", @progbits
    .globl enter_smode
enter_smode:
    csrw    mepc, a0
    li      t0, (3 << 11) | (1 << 7) | (1 << 3) | (1 << 5) | (1 << 1) | (1 << 17) | (1 << 18) | (1 << 19)
    csrc    mstatus, t0             /* MPP, MPIE, MIE, SPIE, SIE, MPRV, SUM, MXR */
    li      t0, (1 << 11)           /* MPP = S */
    csrs    mstatus, t0
    csrw    satp, zero
    mv      a0, a1
    mv      a1, a2
    mret
