/* smode-kernel: S-mode entry, trap vector and the return to U-mode.
 *
 * sscratch is 0 while the kernel runs and points at the current task's
 * struct uframe (kernel.c) while a task runs in U-mode.
 *
 * run_user(frame) saves the kernel's callee-saved registers in kctx and
 * srets into the task; the next trap from U-mode saves the task's registers,
 * pc, scause and stval in its frame and "returns" from run_user. Traps taken
 * in S-mode (interrupts in the idle loop, the kernel's own expected faults)
 * push a struct kframe on the kernel stack and call ktrap(frame).
 */
#define UF_PC     (32 * 8)
#define UF_CAUSE  (33 * 8)
#define UF_TVAL   (34 * 8)
#define KFRAME    (36 * 8)      /* x[32], sepc, sstatus, scause, stval */

    .section .text.s_entry, "ax", @progbits
    .globl s_entry
s_entry:
    la      sp, __stack_top
    la      t0, strap_entry
    csrw    stvec, t0
    csrw    sscratch, zero
    call    kmain
1:  j       1b

    .section .text.strap_entry, "ax", @progbits
    .balign 4
    .globl strap_entry
strap_entry:
    csrrw   sp, sscratch, sp
    beqz    sp, from_kernel

    /* From U-mode: sp = the task's frame. */
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
    csrr    t0, sscratch
    sd      t0, 2*8(sp)
    csrw    sscratch, zero
    csrr    t0, sepc
    sd      t0, UF_PC(sp)
    csrr    t0, scause
    sd      t0, UF_CAUSE(sp)
    csrr    t0, stval
    sd      t0, UF_TVAL(sp)
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    la      t0, kctx
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
    ret                             /* from run_user() */

from_kernel:
    csrrw   sp, sscratch, sp        /* sp = kernel sp, sscratch = 0 */
    addi    sp, sp, -KFRAME
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
    addi    t0, sp, KFRAME
    sd      t0, 2*8(sp)
    csrr    t0, sepc
    sd      t0, 32*8(sp)
    csrr    t0, sstatus
    sd      t0, 33*8(sp)
    csrr    t0, scause
    sd      t0, 34*8(sp)
    csrr    t0, stval
    sd      t0, 35*8(sp)

    mv      a0, sp
    call    ktrap

    ld      t0, 32*8(sp)
    csrw    sepc, t0
    ld      t0, 33*8(sp)
    csrw    sstatus, t0
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
    addi    sp, sp, KFRAME
    sret

/* void run_user(struct uframe *f): enter U-mode with f's registers and pc;
 * returns when the task traps (f then holds its state, pc, scause, stval). */
    .section .text.run_user, "ax", @progbits
    .globl run_user
run_user:
    la      t0, kctx
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
    ld      t0, UF_PC(a0)
    csrw    sepc, t0
    li      t0, (1 << 8)            /* SPP = U */
    csrc    sstatus, t0
    li      t0, (1 << 5)            /* SPIE */
    csrs    sstatus, t0
    csrw    sscratch, a0
    ld      x1, 1*8(a0)
    ld      x2, 2*8(a0)
    ld      x3, 3*8(a0)
    ld      x4, 4*8(a0)
    ld      x5, 5*8(a0)
    ld      x6, 6*8(a0)
    ld      x7, 7*8(a0)
    ld      x8, 8*8(a0)
    ld      x9, 9*8(a0)
    ld      x11, 11*8(a0)
    ld      x12, 12*8(a0)
    ld      x13, 13*8(a0)
    ld      x14, 14*8(a0)
    ld      x15, 15*8(a0)
    ld      x16, 16*8(a0)
    ld      x17, 17*8(a0)
    ld      x18, 18*8(a0)
    ld      x19, 19*8(a0)
    ld      x20, 20*8(a0)
    ld      x21, 21*8(a0)
    ld      x22, 22*8(a0)
    ld      x23, 23*8(a0)
    ld      x24, 24*8(a0)
    ld      x25, 25*8(a0)
    ld      x26, 26*8(a0)
    ld      x27, 27*8(a0)
    ld      x28, 28*8(a0)
    ld      x29, 29*8(a0)
    ld      x30, 30*8(a0)
    ld      x31, 31*8(a0)
    ld      x10, 10*8(a0)
    sret

    .section .sbss.kctx, "aw", @nobits
    .balign 8
    .globl kctx
kctx:
    .zero   15 * 8
