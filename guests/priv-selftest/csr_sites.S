/* priv-selftest: CSR helpers with the CSR number as an immediate.
 *
 *   uint64_t seq_<name>(const uint64_t *vals, uint64_t *out, uint64_t n)
 *       for each value: csrw, then csrr into out[i]; finally restores the
 *       original value (returned). No memory access between a write and its
 *       read-back; nothing can trap in between.
 *   uint64_t sc_<name>(uint64_t pattern, uint64_t *out)
 *       csrw 0; out[0] = csrrs pattern (old value); out[1] = csrr;
 *       out[2] = csrrc pattern (old value); out[3] = csrr; restores.
 *   uint64_t rd_<num>(uint64_t a0)  "csrr a0, num; ret" (a0 unchanged if
 *       the read traps)
 *   uint64_t wr_<num>(uint64_t a0)  "csrw num, a0; ret"
 */
    .option norvc
    .section .text.ps_csr, "ax", @progbits

.macro CSRSEQ name, csr
    .balign 4
    .globl seq_\name
seq_\name:
    csrr    t0, \csr
1:  beqz    a2, 2f
    ld      t1, 0(a0)
    csrw    \csr, t1
    csrr    t2, \csr
    sd      t2, 0(a1)
    addi    a0, a0, 8
    addi    a1, a1, 8
    addi    a2, a2, -1
    j       1b
2:  csrw    \csr, t0
    mv      a0, t0
    ret

    .globl sc_\name
sc_\name:
    csrr    t0, \csr
    csrw    \csr, zero
    csrrs   t1, \csr, a0
    csrr    t2, \csr
    csrrc   t3, \csr, a0
    csrr    t4, \csr
    csrw    \csr, t0
    sd      t1, 0(a1)
    sd      t2, 8(a1)
    sd      t3, 16(a1)
    sd      t4, 24(a1)
    mv      a0, t0
    ret
.endm

    CSRSEQ  mstatus, mstatus
    CSRSEQ  misa, misa
    CSRSEQ  medeleg, medeleg
    CSRSEQ  mideleg, mideleg
    CSRSEQ  mie, mie
    CSRSEQ  mip, mip
    CSRSEQ  mtvec, mtvec
    CSRSEQ  mcounteren, mcounteren
    CSRSEQ  menvcfg, 0x30a
    CSRSEQ  mscratch, mscratch
    CSRSEQ  mepc, mepc
    CSRSEQ  mcause, mcause
    CSRSEQ  mtval, mtval
    CSRSEQ  sstatus, sstatus
    CSRSEQ  sie, sie
    CSRSEQ  sip, sip
    CSRSEQ  stvec, stvec
    CSRSEQ  scounteren, scounteren
    CSRSEQ  senvcfg, 0x10a
    CSRSEQ  sscratch, sscratch
    CSRSEQ  sepc, sepc
    CSRSEQ  scause, scause
    CSRSEQ  stval, stval
    CSRSEQ  satp, satp
    CSRSEQ  stimecmp, 0x14d
    CSRSEQ  pmpcfg0, pmpcfg0
    CSRSEQ  pmpcfg2, pmpcfg2
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    CSRSEQ  pmpaddr\n, pmpaddr\n
    .endr

/* Immediate forms on mscratch: a0 = out[6]. */
    .globl imm_forms_mscratch
imm_forms_mscratch:
    csrr    t0, mscratch
    csrrwi  t1, mscratch, 0x15      /* t1 = old, mscratch = 0x15 */
    csrrsi  t2, mscratch, 0x0a      /* t2 = 0x15, mscratch = 0x1f */
    csrrci  t3, mscratch, 0x11      /* t3 = 0x1f, mscratch = 0x0e */
    csrrsi  t4, mscratch, 0         /* read only: t4 = 0x0e */
    csrr    t5, mscratch
    csrw    mscratch, t0
    sd      t1, 0(a0)
    sd      t2, 8(a0)
    sd      t3, 16(a0)
    sd      t4, 24(a0)
    sd      t5, 32(a0)
    ret

/* Single-access sites. */
.macro RDWR num
    .balign 4
    .globl rd_\num
rd_\num:
    csrr    a0, \num
    ret
    .globl wr_\num
wr_\num:
    csrw    \num, a0
    ret
.endm

    .irp n, 0x003, 0x100, 0x104, 0x105, 0x106, 0x10a, 0x140, 0x141, 0x142, 0x143, 0x144, 0x14d, 0x180
    RDWR    \n
    .endr
    .irp n, 0x300, 0x301, 0x302, 0x303, 0x304, 0x305, 0x306, 0x30a, 0x340, 0x341, 0x342, 0x343, 0x344
    RDWR    \n
    .endr
    .irp n, 0x3a0, 0x3a1, 0x3a2, 0x3a3, 0x3b0, 0x3bf, 0x600, 0x7c0, 0xb00, 0xb02
    RDWR    \n
    .endr
    .irp n, 0xc00, 0xc01, 0xc02, 0xf11, 0xf12, 0xf13, 0xf14, 0xf15
    RDWR    \n
    .endr

/* Read-only CSRs: the forms that write (and must trap) and those that
 * do not write (and must not). Each site is one instruction + ret. */
.macro SITE name, insn:vararg
    .balign 4
    .globl \name
\name:
    \insn
    ret
.endm
    SITE    ro_csrrw_mhartid, csrrw a0, mhartid, a0
    SITE    ro_csrrwi_mhartid, csrrwi a0, mhartid, 0
    SITE    ro_csrrs_mhartid_x0, csrrs a0, mhartid, x0
    SITE    ro_csrrsi_mhartid_0, csrrsi a0, mhartid, 0
    SITE    ro_csrrci_mhartid_0, csrrci a0, mhartid, 0
    SITE    ro_csrrs_mhartid_a0, csrrs a0, mhartid, a0
    SITE    ro_csrrc_mhartid_a0, csrrc a0, mhartid, a0
    SITE    ro_csrrsi_mhartid_1, csrrsi a0, mhartid, 1
    SITE    ro_csrrw_mvendorid, csrrw a0, mvendorid, a0
    SITE    ro_csrrw_marchid, csrrw a0, marchid, a0
    SITE    ro_csrrw_mimpid, csrrw a0, mimpid, a0
    SITE    ro_csrrw_mconfigptr, csrrw a0, 0xf15, a0
    SITE    ro_csrrw_cycle, csrrw a0, cycle, a0
    SITE    ro_csrrs_time_a0, csrrs a0, time, a0
