/* sbi-hello: entry in S-mode, from OpenSBI (a0 = hart id, a1 = FDT).
 * Sets gp/sp, clears .bss, installs the S-mode trap vector, calls
 * main(hartid, fdt); if main returns, shuts down through SBI SRST. */
    .section .text.init, "ax", @progbits
    .globl _start
_start:
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    la      sp, __stack_top
    mv      s0, a0
    mv      s1, a1
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:
    la      t0, s_trap_entry
    csrw    stvec, t0
    mv      a0, s0
    mv      a1, s1
    call    main
    call    sbi_shutdown        /* never returns */
3:  wfi
    j       3b

/* S-mode trap entry: saves the caller-saved registers, calls
 * s_trap(scause, stval, sepc) and srets. */
    .section .text.s_trap_entry, "ax", @progbits
    .balign 4
s_trap_entry:
    addi    sp, sp, -16 * 8
    sd      ra, 0*8(sp)
    sd      t0, 1*8(sp)
    sd      t1, 2*8(sp)
    sd      t2, 3*8(sp)
    sd      a0, 4*8(sp)
    sd      a1, 5*8(sp)
    sd      a2, 6*8(sp)
    sd      a3, 7*8(sp)
    sd      a4, 8*8(sp)
    sd      a5, 9*8(sp)
    sd      a6, 10*8(sp)
    sd      a7, 11*8(sp)
    sd      t3, 12*8(sp)
    sd      t4, 13*8(sp)
    sd      t5, 14*8(sp)
    sd      t6, 15*8(sp)
    csrr    a0, scause
    csrr    a1, stval
    csrr    a2, sepc
    call    s_trap
    ld      ra, 0*8(sp)
    ld      t0, 1*8(sp)
    ld      t1, 2*8(sp)
    ld      t2, 3*8(sp)
    ld      a0, 4*8(sp)
    ld      a1, 5*8(sp)
    ld      a2, 6*8(sp)
    ld      a3, 7*8(sp)
    ld      a4, 8*8(sp)
    ld      a5, 9*8(sp)
    ld      a6, 10*8(sp)
    ld      a7, 11*8(sp)
    ld      t3, 12*8(sp)
    ld      t4, 13*8(sp)
    ld      t5, 14*8(sp)
    ld      t6, 15*8(sp)
    addi    sp, sp, 16 * 8
    sret
