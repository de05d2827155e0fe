/* priv-selftest: small position-independent instruction sites. Each is a
 * leaf function whose first instruction is the one under test (so the
 * function address is the expected xepc), using only a0-a2/t0-t2 and no
 * global data, so they also run in U-mode through the user alias mapping
 * of the image (see vm.c). The trapping instruction is skipped by the
 * handlers; a trapping load leaves rd = a0 (the address) unchanged. */
    .option norvc
    .section .text.ps_sites, "ax", @progbits

.macro SITE name, insn:vararg
    .balign 4
    .globl \name
\name:
    \insn
    ret
.endm

/* loads: a0 = address, returns the value */
    SITE    site_lb, lb a0, 0(a0)
    SITE    site_lh, lh a0, 0(a0)
    SITE    site_lw, lw a0, 0(a0)
    SITE    site_ld, ld a0, 0(a0)
    SITE    site_lbu, lbu a0, 0(a0)
    SITE    site_lhu, lhu a0, 0(a0)
    SITE    site_lwu, lwu a0, 0(a0)
    SITE    site_lr_w, lr.w a0, (a0)
    SITE    site_lr_d, lr.d a0, (a0)
/* stores: a0 = address, a1 = value */
    SITE    site_sb, sb a1, 0(a0)
    SITE    site_sh, sh a1, 0(a0)
    SITE    site_sw, sw a1, 0(a0)
    SITE    site_sd, sd a1, 0(a0)

/* compressed load/store (2-byte trapping instruction) */
    .balign 4
    .globl site_c_ld
site_c_ld:
    .option push
    .option rvc
    c.ld    a0, 0(a0)
    .option pop
    ret
    .balign 4
    .globl site_c_sd
site_c_sd:
    .option push
    .option rvc
    c.sd    a1, 0(a0)
    .option pop
    ret

/* environment calls and breakpoints */
    SITE    site_ecall, ecall
    SITE    site_ebreak, ebreak
    .balign 4
    .globl site_c_ebreak
site_c_ebreak:
    .option push
    .option rvc
    c.ebreak
    .option pop
    ret

/* illegal instructions (32- and 16-bit) */
    SITE    site_ill_custom0, .word 0x0000500b
    SITE    site_ill_fadd, .word 0x00000053       /* fadd.s: no F */
    SITE    site_ill_flw, .word 0x00052007        /* flw f0, 0(a0): no F */
    SITE    site_ill_c_unimp, .half 0x0000
    SITE    site_ill_c_fld, .half 0x2000          /* c.fld f8, 0(s0): no D */
    SITE    site_ill_c_fsdsp, .half 0xa002        /* c.fsdsp f0, 0(sp): no D */

/* privileged instructions */
    SITE    site_mret, mret
    SITE    site_sret, sret
    SITE    site_wfi, wfi
    SITE    site_sfence, sfence.vma zero, zero
    SITE    site_sfence_va, sfence.vma a0, zero
    SITE    site_sfence_asid, sfence.vma zero, a0

/* uint64_t site_call(target): calls target (a0 = target); a fetch fault
 * resumes at the return address, so a0 = target then. */
    .balign 4
    .globl site_call
site_call:
    addi    sp, sp, -16
    sd      ra, 0(sp)
    jalr    ra, 0(a0)
    ld      ra, 0(sp)
    addi    sp, sp, 16
    ret

/* uint64_t mprv_ld(addr, set): M-mode load with mstatus |= set (MPRV,
 * MPP, SUM, MXR); MPP is cleared first, MPRV and `set` afterwards. The
 * instruction after the load touches no memory (after a trap, mret leaves
 * MPRV=1 with MPP=U). */
    .balign 4
    .globl mprv_ld
mprv_ld:
    li      t0, (3 << 11)
    csrc    mstatus, t0
    csrs    mstatus, a1
    .globl mprv_ld_site
mprv_ld_site:
    ld      a0, 0(a0)
    li      t0, (1 << 17) | (3 << 11)
    or      t0, t0, a1
    csrc    mstatus, t0
    ret

    .balign 4
    .globl mprv_sd
mprv_sd:
    li      t0, (3 << 11)
    csrc    mstatus, t0
    csrs    mstatus, a2
    .globl mprv_sd_site
mprv_sd_site:
    sd      a1, 0(a0)
    li      t0, (1 << 17) | (3 << 11)
    or      t0, t0, a2
    csrc    mstatus, t0
    ret

/* uint64_t s_set_satp(v): from S, write satp then sfence.vma */
    .balign 4
    .globl s_set_satp
s_set_satp:
    csrw    satp, a0
    sfence.vma zero, zero
    ret

/* Interrupt sites: enable something, then a nop. An interrupt made
 * takeable by the CSR write is taken right after it, so xepc = the nop. */
    .balign 4
    .globl irq_on_mstatus
irq_on_mstatus:
    csrs    mstatus, a0
    .globl irq_on_mstatus_next
irq_on_mstatus_next:
    nop
    ret
    .balign 4
    .globl irq_on_mie
irq_on_mie:
    csrs    mie, a0
    .globl irq_on_mie_next
irq_on_mie_next:
    nop
    ret
    .balign 4
    .globl irq_on_sstatus
irq_on_sstatus:
    csrs    sstatus, a0
    .globl irq_on_sstatus_next
irq_on_sstatus_next:
    nop
    ret
    .balign 4
    .globl irq_on_sie
irq_on_sie:
    csrs    sie, a0
    .globl irq_on_sie_next
irq_on_sie_next:
    nop
    ret
    SITE    site_nop, nop

/* uint64_t wfi_loop(max): wfi until an interrupt is pending in mip&mie
 * (M-mode) or max rounds; returns the rounds left (0 = gave up). */
    .balign 4
    .globl wfi_loop_m
wfi_loop_m:
1:  csrr    t0, mip
    csrr    t1, mie
    and     t0, t0, t1
    bnez    t0, 2f
    wfi
    addi    a0, a0, -1
    bnez    a0, 1b
2:  ret

/* ---- xRET sites ---- */
/* uint64_t mret_to_m(mstatus): write mstatus (MPP=M), mret to the next
 * instruction, return mstatus read there; MPRV is cleared afterwards. */
    .balign 4
    .globl mret_to_m
mret_to_m:
    csrw    mstatus, a0
    la      t0, 1f
    csrw    mepc, t0
    mret
1:  csrr    a0, mstatus
    li      t0, (1 << 17) | (1 << 3)
    csrc    mstatus, t0
    ret

/* S-mode: clear SIE/SPIE/SPP, set a0, sret to the next instruction.
 * s_sret_to_s returns sstatus as read after the sret (needs SPP=S in a0),
 * s_sret_to_u just returns (in U). */
    .balign 4
    .globl s_sret_to_s
s_sret_to_s:
    li      t0, (1 << 1) | (1 << 5) | (1 << 8)
    csrc    sstatus, t0
    csrs    sstatus, a0
    la      t0, 1f
    csrw    sepc, t0
    sret
1:  csrr    a0, sstatus
    ret
    .balign 4
    .globl s_sret_to_u
s_sret_to_u:
    li      t0, (1 << 1) | (1 << 5) | (1 << 8)
    csrc    sstatus, t0
    csrs    sstatus, a0
    la      t0, 1f
    csrw    sepc, t0
    sret
1:  ret

/* S-mode: read sstatus */
    SITE    s_read_sstatus, csrr a0, sstatus

/* ---- counters ---- */
/* uint64_t wr_rd_mcycle(v): csrw mcycle, v; return csrr mcycle */
    .balign 4
    .globl wr_rd_mcycle
wr_rd_mcycle:
    csrw    mcycle, a0
    csrr    a0, mcycle
    ret
    .balign 4
    .globl wr_rd_minstret
wr_rd_minstret:
    csrw    minstret, a0
    csrr    a0, minstret
    ret
    SITE    site_rdcycle, rdcycle a0
    SITE    site_rdtime, rdtime a0
    SITE    site_rdinstret, rdinstret a0
