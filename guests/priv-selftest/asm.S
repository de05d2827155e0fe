/* priv-selftest: trap vectors (M and S, direct and vectored), privilege
 * switching, and instruction sites whose exact address or encoding the
 * tests need. Everything here is assembled without compressed
 * instructions unless stated, so trap sites have known lengths. */

#define FRAME_SIZE (36 * 8)

    .option norvc

/* ------------------------------------------------------------------------
 * Trap frames: the layout of struct rt_trap_frame (x0..x31, then the
 * epc / cause / tval / status of the handling level).
 * ---------------------------------------------------------------------- */
.macro SAVE_GPRS
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
.endm

.macro RESTORE_GPRS
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
.endm

    .section .text.ps_trap, "ax", @progbits

/* M-mode entry. mscratch always holds the top of the M trap stack while
 * not in the handler. */
    .balign 64
    .globl m_trap_vector
m_trap_vector:
    csrrw   sp, mscratch, sp
    addi    sp, sp, -FRAME_SIZE
    SAVE_GPRS
    csrr    t0, mscratch
    sd      t0, 2*8(sp)
    csrr    t0, mepc
    sd      t0, 32*8(sp)
    csrr    t0, mcause
    sd      t0, 33*8(sp)
    csrr    t0, mtval
    sd      t0, 34*8(sp)
    csrr    t0, mstatus
    sd      t0, 35*8(sp)
    mv      a0, sp
    call    m_trap_c
    ld      t0, 32*8(sp)
    csrw    mepc, t0
    ld      t0, 2*8(sp)
    csrw    mscratch, t0
    RESTORE_GPRS
    addi    sp, sp, FRAME_SIZE
    csrrw   sp, mscratch, sp
    mret

/* S-mode entry, same scheme with sscratch. Runs in S-mode: the code, the
 * S trap stack and the trap records must be reachable (identity-mapped
 * supervisor pages when translation is on). */
    .balign 64
    .globl s_trap_vector
s_trap_vector:
    csrrw   sp, sscratch, sp
    addi    sp, sp, -FRAME_SIZE
    SAVE_GPRS
    csrr    t0, sscratch
    sd      t0, 2*8(sp)
    csrr    t0, sepc
    sd      t0, 32*8(sp)
    csrr    t0, scause
    sd      t0, 33*8(sp)
    csrr    t0, stval
    sd      t0, 34*8(sp)
    csrr    t0, sstatus
    sd      t0, 35*8(sp)
    mv      a0, sp
    call    s_trap_c
    ld      t0, 32*8(sp)
    csrw    sepc, t0
    ld      t0, 2*8(sp)
    csrw    sscratch, t0
    RESTORE_GPRS
    addi    sp, sp, FRAME_SIZE
    csrrw   sp, sscratch, sp
    sret

/* Vectored tables: slot i (at base + 4*i) records i in vec_slot_m/s and
 * continues at the common entry. */
.macro VSTUB lvl, scratch, i
\lvl\()_vstub\i:
    csrrw   sp, \scratch, sp
    addi    sp, sp, -16
    sd      t0, 0(sp)
    sd      t1, 8(sp)
    li      t0, \i
    la      t1, vec_slot_\lvl
    sd      t0, 0(t1)
    ld      t0, 0(sp)
    ld      t1, 8(sp)
    addi    sp, sp, 16
    csrrw   sp, \scratch, sp
    j       \lvl\()_trap_vector
.endm

    .balign 256
    .globl m_vector_table
m_vector_table:
    .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    j       m_vstub\i
    .endr
    .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    VSTUB   m, mscratch, \i
    .endr

    .balign 256
    .globl s_vector_table
s_vector_table:
    .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    j       s_vstub\i
    .endr
    .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    VSTUB   s, sscratch, \i
    .endr

/* ------------------------------------------------------------------------
 * uint64_t mode_enter(mstatus, pc, arg, sp, ra, arg1)
 * Saves the M-mode context, writes mstatus and mepc and mrets to pc with
 * a0 = arg, a1 = arg1. The code returns (through ra) to mode_exit_site, whose ecall the
 * M handler turns into an mret to mode_return_landing, which restores the
 * context and returns the code's a0.
 * ---------------------------------------------------------------------- */
    .section .text.ps_mode, "ax", @progbits
    .balign 4
    .globl mode_enter
mode_enter:
    la      t0, mode_ctx
    sd      ra, 0*8(t0)
    sd      sp, 1*8(t0)
    sd      s0, 2*8(t0)
    sd      s1, 3*8(t0)
    sd      s2, 4*8(t0)
    sd      s3, 5*8(t0)
    sd      s4, 6*8(t0)
    sd      s5, 7*8(t0)
    sd      s6, 8*8(t0)
    sd      s7, 9*8(t0)
    sd      s8, 10*8(t0)
    sd      s9, 11*8(t0)
    sd      s10, 12*8(t0)
    sd      s11, 13*8(t0)
    sd      tp, 14*8(t0)
    csrw    mstatus, a0
    csrw    mepc, a1
    mv      a0, a2
    mv      a1, a5
    mv      sp, a3
    mv      ra, a4
    mret

/* Same, but enters with sret from M-mode (pc in sepc, mode from
 * mstatus.SPP as given in a0). */
    .globl mode_enter_sret
mode_enter_sret:
    la      t0, mode_ctx
    sd      ra, 0*8(t0)
    sd      sp, 1*8(t0)
    sd      s0, 2*8(t0)
    sd      s1, 3*8(t0)
    sd      s2, 4*8(t0)
    sd      s3, 5*8(t0)
    sd      s4, 6*8(t0)
    sd      s5, 7*8(t0)
    sd      s6, 8*8(t0)
    sd      s7, 9*8(t0)
    sd      s8, 10*8(t0)
    sd      s9, 11*8(t0)
    sd      s10, 12*8(t0)
    sd      s11, 13*8(t0)
    sd      tp, 14*8(t0)
    csrw    mstatus, a0
    csrw    sepc, a1
    mv      a0, a2
    mv      a1, a5
    mv      sp, a3
    mv      ra, a4
    sret

    .globl mode_return_landing
mode_return_landing:
    la      t0, mode_ctx
    ld      ra, 0*8(t0)
    ld      sp, 1*8(t0)
    ld      s0, 2*8(t0)
    ld      s1, 3*8(t0)
    ld      s2, 4*8(t0)
    ld      s3, 5*8(t0)
    ld      s4, 6*8(t0)
    ld      s5, 7*8(t0)
    ld      s6, 8*8(t0)
    ld      s7, 9*8(t0)
    ld      s8, 10*8(t0)
    ld      s9, 11*8(t0)
    ld      s10, 12*8(t0)
    ld      s11, 13*8(t0)
    ld      tp, 14*8(t0)
    ret

/* The mode-exit ecall (from U or S). If ecalls are delegated to S, the S
 * handler redirects to s_exit_stub (S-mode ecall) and, if that is
 * delegated too, to s_exit_stub2 (ebreak). */
    .balign 4
    .globl mode_exit_site
mode_exit_site:
    ecall
    .globl s_exit_stub
s_exit_stub:
    ecall
    .globl s_exit_stub2
s_exit_stub2:
    ebreak
1:  j       1b

/* uint64_t read_insn_mprv(addr): M-mode halfword load with the translation
 * and protection of mstatus.MPP (plus SUM and MXR), for reading the
 * trapping instruction of translated S/U code. */
    .globl read_insn_mprv
read_insn_mprv:
    li      t1, (1 << 17) | (1 << 18) | (1 << 19)
    csrrs   t2, mstatus, t1
    lhu     a0, 0(a0)
    csrw    mstatus, t2
    ret

/* ------------------------------------------------------------------------
 * Stacks and the saved M context
 * ---------------------------------------------------------------------- */
    .section .bss.ps_stacks, "aw", @nobits
    .balign 16
    .globl m_trap_stack_bottom
m_trap_stack_bottom:
    .zero   8192
    .globl m_trap_stack_top
m_trap_stack_top:
    .zero   8192
    .globl s_trap_stack_top
s_trap_stack_top:
    .zero   16384
    .globl mode_stack_top
mode_stack_top:

    .section .sbss.ps_ctx, "aw", @nobits
    .balign 8
mode_ctx:
    .zero   15 * 8
