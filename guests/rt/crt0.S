/* Caravan guest runtime: entry point.
 *
 * QEMU's reset ROM (and the Caravan emulator) jump to 0x8000_0000 in M-mode
 * with a0 = hart id and a1 = flattened device tree address.
 */
    .section .text.init, "ax", @progbits
    .globl _start
_start:
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    /* Only hart 0 runs the program; any other hart parks. */
    bnez    a0, rt_park
    la      sp, __stack_top
    mv      s0, a0
    mv      s1, a1

    /* Clear .bss (8-byte aligned bounds, see link.ld). */
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:
    la      t0, rt_trap_entry
    csrw    mtvec, t0

    la      t0, rt_boot_hartid
    sd      s0, 0(t0)
    la      t0, rt_boot_fdt
    sd      s1, 0(t0)

    mv      a0, s0
    mv      a1, s1
    call    main
    call    rt_exit         /* never returns */

    .globl rt_park
rt_park:
    wfi
    j       rt_park

    .section .sbss, "aw", @nobits
    .balign 8
    .globl rt_boot_hartid
rt_boot_hartid:
    .zero   8
    .globl rt_boot_fdt
rt_boot_fdt:
    .zero   8
