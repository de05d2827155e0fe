/* priv-selftest group csr-masks: write patterns to each M and S CSR and
 * compare the read-back with the architecturally writable bits (WARL
 * fields); illegal-instruction for unimplemented CSRs, writes to read-only
 * CSRs and accesses above the current privilege.
 *
 * Every comparison is done under a "compare mask": bits where QEMU 7.2
 * deviates from the spec (or from this hart's documented choices where the
 * spec leaves a choice) are left out, see the QEMU_* masks. */
#include "ps.h"

typedef uint64_t (*seq_fn)(const uint64_t *vals, uint64_t *out, uint64_t n);
typedef uint64_t (*sc_fn)(uint64_t pattern, uint64_t *out);
typedef uint64_t (*site_fn)(uint64_t);

#define DECL(name) \
    uint64_t seq_##name(const uint64_t *, uint64_t *, uint64_t); \
    uint64_t sc_##name(uint64_t, uint64_t *);
DECL(mstatus) DECL(misa) DECL(medeleg) DECL(mideleg) DECL(mie) DECL(mip)
DECL(mtvec) DECL(mcounteren) DECL(menvcfg) DECL(mscratch) DECL(mepc)
DECL(mcause) DECL(mtval) DECL(sstatus) DECL(sie) DECL(sip) DECL(stvec)
DECL(scounteren) DECL(senvcfg) DECL(sscratch) DECL(sepc) DECL(scause)
DECL(stval) DECL(satp) DECL(stimecmp) DECL(pmpcfg0) DECL(pmpcfg2)
DECL(pmpaddr0) DECL(pmpaddr1) DECL(pmpaddr2) DECL(pmpaddr3) DECL(pmpaddr4)
DECL(pmpaddr5) DECL(pmpaddr6) DECL(pmpaddr7) DECL(pmpaddr8) DECL(pmpaddr9)
DECL(pmpaddr10) DECL(pmpaddr11) DECL(pmpaddr12) DECL(pmpaddr13)
DECL(pmpaddr14) DECL(pmpaddr15)
void imm_forms_mscratch(uint64_t *out);

#define DECL_RW(n) uint64_t rd_##n(uint64_t); uint64_t wr_##n(uint64_t);
DECL_RW(0x003) DECL_RW(0x100) DECL_RW(0x104) DECL_RW(0x105) DECL_RW(0x106)
DECL_RW(0x10a) DECL_RW(0x140) DECL_RW(0x141) DECL_RW(0x142) DECL_RW(0x143)
DECL_RW(0x144) DECL_RW(0x14d) DECL_RW(0x180) DECL_RW(0x300) DECL_RW(0x301)
DECL_RW(0x302) DECL_RW(0x303) DECL_RW(0x304) DECL_RW(0x305) DECL_RW(0x306)
DECL_RW(0x30a) DECL_RW(0x340) DECL_RW(0x341) DECL_RW(0x342) DECL_RW(0x343)
DECL_RW(0x344) DECL_RW(0x3a0) DECL_RW(0x3a1) DECL_RW(0x3a2) DECL_RW(0x3a3)
DECL_RW(0x3b0) DECL_RW(0x3bf) DECL_RW(0x600) DECL_RW(0x7c0) DECL_RW(0xb00)
DECL_RW(0xb02) DECL_RW(0xc00) DECL_RW(0xc01) DECL_RW(0xc02) DECL_RW(0xf11)
DECL_RW(0xf12) DECL_RW(0xf13) DECL_RW(0xf14) DECL_RW(0xf15)

uint64_t ro_csrrw_mhartid(uint64_t), ro_csrrwi_mhartid(uint64_t),
    ro_csrrs_mhartid_x0(uint64_t), ro_csrrsi_mhartid_0(uint64_t),
    ro_csrrci_mhartid_0(uint64_t), ro_csrrs_mhartid_a0(uint64_t),
    ro_csrrc_mhartid_a0(uint64_t), ro_csrrsi_mhartid_1(uint64_t),
    ro_csrrw_mvendorid(uint64_t), ro_csrrw_marchid(uint64_t),
    ro_csrrw_mimpid(uint64_t), ro_csrrw_mconfigptr(uint64_t),
    ro_csrrw_cycle(uint64_t), ro_csrrs_time_a0(uint64_t);

/* ---- expected values -------------------------------------------------------- */

#define MSTATUS_W (MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | \
                   MSTATUS_SPP | MSTATUS_MPP | MSTATUS_MPRV | MSTATUS_SUM |  \
                   MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR)
#define SSTATUS_W (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR)
#define XL64      ((2UL << 34) | (2UL << 32))   /* SXL = UXL = 2 */
#define SXL64     (2UL << 34)
#define UXL64     (2UL << 32)

/* QEMU 7.2 (with h=false and no V) still lets software write mstatus.VS
 * (and so SD), MPV, GVA, and UXL (to 1 or 3). */
#define QEMU_MSTATUS_X (MSTATUS_VS | MSTATUS_SD | MSTATUS_MPV | MSTATUS_GVA | MSTATUS_UXL)
/* QEMU 7.2 with h=false: medeleg bits 10, 11 (ecall from VS/M), 20-23
 * (guest page faults, virtual instruction) are writable. */
#define QEMU_MEDELEG_X ((1UL << 10) | (1UL << 11) | (0xfUL << 20))
/* QEMU 7.2 with h=false: VSSIP/VSTIP/VSEIP (2, 6, 10) and LCOFIP (13)
 * writable in mideleg/mie/mip. */
#define QEMU_IRQ_X     ((1UL << 2) | (1UL << 6) | (1UL << 10) | (1UL << 13))
/* QEMU 7.2: menvcfg.CBIE/CBCFE/CBZE (7:4) and PBMTE (62), senvcfg 7:4
 * writable without Zicbom/Zicboz/Svpbmt. */
#define QEMU_ENVCFG_X  ((0xfUL << 4) | (1UL << 62))
/* mcounteren/scounteren: only CY/TM/IR are compared (HPM bits are WARL;
 * QEMU 7.2 also keeps bits 63:32 of these 32-bit registers). */
#define COUNTEREN_CMP  0x7UL
/* QEMU 7.2 keeps bit 0 of mepc/sepc. */
#define EPC_CMP        (~1UL)
/* PMP: QEMU 7.2 keeps the reserved pmpcfg bits 6:5 and all 64 bits of
 * pmpaddr. */
#define PMPCFG_CMP     0x9f9f9f9f9f9f9f9fUL
#define PMPADDR_W      0x003fffffffffffffUL
/* satp: ASID width is implementation-defined (WARL); not compared. */
#define SATP_CMP       (~(0xffffUL << 44))

#define MEDELEG_W 0xb3ffUL      /* causes 0-9, 12, 13, 15 */
#define IRQ_S_W   (MIP_SSIP | MIP_STIP | MIP_SEIP)
#define IRQ_ALL_W (IRQ_S_W | MIP_MSIP | MIP_MTIP | MIP_MEIP)
#define MISA_RV64_ACIMSU 0x8000000000141105UL

/* ---- helpers -------------------------------------------------------------- */

/* Writes vals[] one by one, compares each read-back under cmp. */
static void seq_check(const char *name, seq_fn fn, const uint64_t *vals,
                      const uint64_t *want, unsigned n, uint64_t cmp)
{
    uint64_t out[16];
    uint64_t orig = fn(vals, out, n);
    (void)orig;
    for (unsigned i = 0; i < n; i++)
        check(out[i] & cmp, want[i] & cmp, "%s: write 0x%lx", name,
              (unsigned long)vals[i]);
}

/* csrrs/csrrc with all ones from 0: returns of the old values and the
 * read-backs. */
static void sc_check(const char *name, sc_fn fn, uint64_t pattern,
                     uint64_t want_set, uint64_t want_zero, uint64_t cmp)
{
    uint64_t out[4];
    fn(pattern, out);
    check(out[0] & cmp, want_zero & cmp, "%s: csrrs old value", name);
    check(out[1] & cmp, want_set & cmp, "%s: after csrrs 0x%lx", name,
          (unsigned long)pattern);
    check(out[2] & cmp, want_set & cmp, "%s: csrrc old value", name);
    check(out[3] & cmp, want_zero & cmp, "%s: after csrrc 0x%lx", name,
          (unsigned long)pattern);
}

/* all-ones / zero / ones via csrrs / zero via csrrc */
static void ones_zero(const char *name, seq_fn seq, sc_fn sc, uint64_t want_ones,
                      uint64_t want_zero, uint64_t cmp)
{
    const uint64_t vals[3] = { ~0UL, 0, ~0UL };
    const uint64_t want[3] = { want_ones, want_zero, want_ones };
    seq_check(name, seq, vals, want, 3, cmp);
    sc_check(name, sc, ~0UL, want_ones, want_zero, cmp);
}

/* Expect fn(arg) at `site` to raise illegal instruction (to M) with mtval =
 * the instruction bits; rd must not change. */
static void expect_illegal_m(const char *what, site_fn fn, uint64_t arg)
{
    uint64_t r = fn(arg);
    check(r, arg, "%s: rd unchanged", what);
    expect_trap(what, PRV_M, CAUSE_ILLEGAL, ADDR(fn),
                *(volatile uint32_t *)(uintptr_t)fn);
}

static void expect_ok_m(const char *what, site_fn fn, uint64_t arg)
{
    fn(arg);
    expect_no_trap(what);
}

/* Run fn(arg) in `mode`; expect an illegal-instruction trap to M. */
static void expect_illegal_in(const char *what, int mode, site_fn fn, uint64_t arg)
{
    uint64_t r = run_mode(mode, fn, arg);
    check(r, arg, "%s: rd unchanged", what);
    expect_trap_from(what, PRV_M, CAUSE_ILLEGAL, ADDR(fn),
                     *(volatile uint32_t *)(uintptr_t)fn, mode);
}

static void expect_ok_in(const char *what, int mode, site_fn fn, uint64_t arg)
{
    run_mode(mode, fn, arg);
    expect_no_trap(what);
}

/* ---- the group -------------------------------------------------------------------- */

static void test_mstatus(void)
{
    uint64_t ms = csr_read(mstatus);
    check(ms & (MSTATUS_SXL | MSTATUS_UXL), XL64, "mstatus: SXL/UXL at reset");
    check(ms & (MSTATUS_FS | MSTATUS_XS | MSTATUS_VS | MSTATUS_SD), 0,
          "mstatus: FS/XS/VS/SD at reset");
    check(ms & (MSTATUS_MBE | MSTATUS_SBE | MSTATUS_UBE), 0, "mstatus: MBE/SBE/UBE");

    uint64_t cmp = ~QEMU_MSTATUS_X;
    ones_zero("mstatus", seq_mstatus, sc_mstatus, MSTATUS_W | SXL64, SXL64, cmp);

    /* Field by field (MPP: 0, 1, 3; 2 is reserved, see the report). */
    static const uint64_t vals[] = {
        MSTATUS_MPP_U, MSTATUS_MPP_S, MSTATUS_MPP_M, MSTATUS_SPP,
        MSTATUS_MIE | MSTATUS_MPP_M, MSTATUS_SIE | MSTATUS_MPP_M,
        MSTATUS_MPIE | MSTATUS_SPIE | MSTATUS_MPP_M,
        MSTATUS_MPRV | MSTATUS_MPP_M, MSTATUS_SUM | MSTATUS_MXR,
        MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR,
        MSTATUS_FS | MSTATUS_XS | MSTATUS_MPP_M,
        MSTATUS_MBE | MSTATUS_SBE | MSTATUS_UBE | MSTATUS_MPP_M,
        MSTATUS_SXL | MSTATUS_MPP_M,
    };
    uint64_t want[sizeof(vals) / 8];
    for (unsigned i = 0; i < sizeof(vals) / 8; i++)
        want[i] = (vals[i] & MSTATUS_W) | SXL64;
    seq_check("mstatus", seq_mstatus, vals, want, sizeof(vals) / 8, cmp);

    /* UXL reads 2 again once written with 2 (the seq restored it). */
    check(csr_read(mstatus) & MSTATUS_UXL, UXL64, "mstatus: UXL after restore");
}

static void test_sstatus(void)
{
    uint64_t cmp = ~(MSTATUS_VS | MSTATUS_SD | MSTATUS_UXL);
    ones_zero("sstatus", seq_sstatus, sc_sstatus, SSTATUS_W, 0, cmp);

    /* sstatus is a view: M-only fields are neither visible nor changed. */
    uint64_t saved = csr_read(mstatus);
    uint64_t mbits = MSTATUS_MPIE | MSTATUS_MPP_M | MSTATUS_TW | MSTATUS_TSR |
                     MSTATUS_TVM;
    csr_write(mstatus, (saved & ~MSTATUS_W) | mbits | MSTATUS_SUM);
    uint64_t ss = csr_read(sstatus);
    check(ss & cmp & ~(MSTATUS_UXL), MSTATUS_SUM, "sstatus: view of mstatus");
    check(ss & MSTATUS_UXL, UXL64, "sstatus: UXL");
    csr_write(sstatus, MSTATUS_SPIE | MSTATUS_SPP);
    uint64_t ms = csr_read(mstatus);
    check(ms & MSTATUS_W, mbits | MSTATUS_SPIE | MSTATUS_SPP,
          "mstatus after sstatus write");
    csr_clear(sstatus, ~0UL);
    check(csr_read(mstatus) & MSTATUS_W, mbits, "mstatus after csrc sstatus, -1");
    csr_write(mstatus, saved);
}

static void test_misa(void)
{
    check(csr_read(misa), MISA_RV64_ACIMSU, "misa: RV64 ACIMSU");
    ones_zero("misa", seq_misa, sc_misa, MISA_RV64_ACIMSU, MISA_RV64_ACIMSU, ~0UL);
    check(csr_read(misa), MISA_RV64_ACIMSU, "misa: unchanged");
}

static void test_deleg_ie_ip(void)
{
    ones_zero("medeleg", seq_medeleg, sc_medeleg, MEDELEG_W, 0, ~QEMU_MEDELEG_X);
    ones_zero("mideleg", seq_mideleg, sc_mideleg, IRQ_S_W, 0, ~QEMU_IRQ_X);
    ones_zero("mie", seq_mie, sc_mie, IRQ_ALL_W, 0, ~QEMU_IRQ_X);
    /* mip: from M only SSIP/STIP/SEIP are writable (MSIP/MTIP/MEIP come from
     * the CLINT/PLIC, all quiet here). */
    ones_zero("mip", seq_mip, sc_mip, IRQ_S_W, 0, ~QEMU_IRQ_X);
    {
        static const uint64_t v[] = { MIP_MSIP | MIP_MTIP | MIP_MEIP, MIP_SSIP,
                                      MIP_STIP, MIP_SEIP, 0 };
        static const uint64_t w[] = { 0, MIP_SSIP, MIP_STIP, MIP_SEIP, 0 };
        seq_check("mip", seq_mip, v, w, 5, ~QEMU_IRQ_X);
    }
    {
        static const uint64_t v[] = { 1UL << 0, 1UL << 1, 1UL << 2, 1UL << 3,
                                      1UL << 4, 1UL << 5, 1UL << 9, 1UL << 12,
                                      1UL << 13, 1UL << 15, 1UL << 16, 0 };
        uint64_t w[12];
        for (int i = 0; i < 12; i++)
            w[i] = v[i] & MEDELEG_W;
        seq_check("medeleg", seq_medeleg, v, w, 12, ~QEMU_MEDELEG_X);
    }

    /* sie / sip are views through mideleg. */
    static const uint64_t deleg[] = { 0, IRQ_S_W, MIP_STIP, MIP_SSIP | MIP_SEIP };
    for (unsigned k = 0; k < 4; k++) {
        uint64_t d = deleg[k];
        csr_write(mideleg, d);
        csr_write(mie, 0);
        ones_zero("sie", seq_sie, sc_sie, d, 0, ~QEMU_IRQ_X);
        /* sie writes only reach delegated bits of mie */
        csr_write(mie, MIP_MSIP | MIP_MTIP | MIP_MEIP);
        csr_write(sie, ~0UL);
        check(csr_read(mie) & ~QEMU_IRQ_X, MIP_MSIP | MIP_MTIP | MIP_MEIP | d,
              "mie after sie=-1 (mideleg=0x%lx)", (unsigned long)d);
        csr_write(sie, 0);
        check(csr_read(mie) & ~QEMU_IRQ_X, MIP_MSIP | MIP_MTIP | MIP_MEIP,
              "mie after sie=0 (mideleg=0x%lx)", (unsigned long)d);
        csr_write(mie, 0);
        /* sip: only SSIP is writable from S; STIP/SEIP visible if delegated */
        csr_write(mip, 0);
        ones_zero("sip", seq_sip, sc_sip, d & MIP_SSIP, 0, ~QEMU_IRQ_X);
        csr_write(mip, IRQ_S_W);
        check(csr_read(sip) & ~QEMU_IRQ_X, d, "sip with mip=0x222 (mideleg=0x%lx)",
              (unsigned long)d);
        csr_write(sip, 0);
        check(csr_read(mip) & ~QEMU_IRQ_X, IRQ_S_W & ~(d & MIP_SSIP),
              "mip after sip=0 (mideleg=0x%lx)", (unsigned long)d);
        csr_write(mip, 0);
    }
    csr_write(mideleg, 0);
}

static void test_tvec(const char *name, seq_fn seq)
{
    /* MODE 0 (direct) and 1 (vectored) are legal; a write with MODE 2 or 3
     * is ignored (WARL, this hart keeps the old value). */
    static const uint64_t v[] = {
        0x80001230UL, 0x80001231UL, 0x80001232UL, 0x80001233UL,
        0xfffffffffffffffcUL, 0xfffffffffffffffdUL, ~0UL, 0x4UL, 0x0UL,
        0x80004441UL, 0x80004442UL,
    };
    static const uint64_t w[] = {
        0x80001230UL, 0x80001231UL, 0x80001231UL, 0x80001231UL,
        0xfffffffffffffffcUL, 0xfffffffffffffffdUL, 0xfffffffffffffffdUL,
        0x4UL, 0x0UL, 0x80004441UL, 0x80004441UL,
    };
    seq_check(name, seq, v, w, sizeof(v) / 8, ~0UL);
}

static void test_plain(void)
{
    /* full 64-bit registers */
    static const uint64_t v[] = { ~0UL, 0, 0x8000000000000001UL, 0x5555aaaa3333ccccUL, 0 };
    seq_check("mscratch", seq_mscratch, v, v, 5, ~0UL);
    seq_check("sscratch", seq_sscratch, v, v, 5, ~0UL);
    seq_check("mtval", seq_mtval, v, v, 5, ~0UL);
    seq_check("stval", seq_stval, v, v, 5, ~0UL);
    seq_check("stimecmp", seq_stimecmp, v, v, 5, ~0UL);
    sc_check("mscratch", sc_mscratch, ~0UL, ~0UL, 0, ~0UL);
    sc_check("sscratch", sc_sscratch, 0xf0f0UL, 0xf0f0UL, 0, ~0UL);
    sc_check("mtval", sc_mtval, ~0UL, ~0UL, 0, ~0UL);
    sc_check("stval", sc_stval, ~0UL, ~0UL, 0, ~0UL);

    /* immediate forms */
    uint64_t o[5];
    imm_forms_mscratch(o);
    check(o[1], 0x15, "csrrsi mscratch: old value");
    check(o[2], 0x1f, "csrrci mscratch: old value");
    check(o[3], 0x0e, "csrrsi mscratch, 0: value");
    check(o[4], 0x0e, "mscratch after immediate forms");

    /* xepc: bit 0 is always zero (not compared: QEMU keeps it), bit 1
     * writable (IALIGN=16) */
    static const uint64_t e[] = { ~0UL, 0, 0x80001002UL, 0x2UL, 0x8000000000000000UL };
    static const uint64_t ew[] = { ~1UL, 0, 0x80001002UL, 0x2UL, 0x8000000000000000UL };
    seq_check("mepc", seq_mepc, e, ew, 5, EPC_CMP);
    seq_check("sepc", seq_sepc, e, ew, 5, EPC_CMP);
    sc_check("mepc", sc_mepc, ~0UL, ~1UL, 0, EPC_CMP);
    sc_check("sepc", sc_sepc, ~0UL, ~1UL, 0, EPC_CMP);

    /* xcause is WLRL: legal values round-trip */
    static const uint64_t c[] = { 2, 15, INTR | IRQ_MTI, INTR | IRQ_SSI, 8, 0 };
    seq_check("mcause", seq_mcause, c, c, 6, ~0UL);
    seq_check("scause", seq_scause, c, c, 6, ~0UL);

    ones_zero("mcounteren", seq_mcounteren, sc_mcounteren, 7, 0, COUNTEREN_CMP);
    ones_zero("scounteren", seq_scounteren, sc_scounteren, 7, 0, COUNTEREN_CMP);
    {
        static const uint64_t v2[] = { 1, 2, 4, 5, 0 };
        seq_check("mcounteren", seq_mcounteren, v2, v2, 5, COUNTEREN_CMP);
        seq_check("scounteren", seq_scounteren, v2, v2, 5, COUNTEREN_CMP);
    }

    ones_zero("menvcfg", seq_menvcfg, sc_menvcfg, MENVCFG_FIOM | MENVCFG_STCE, 0,
              ~QEMU_ENVCFG_X);
    ones_zero("senvcfg", seq_senvcfg, sc_senvcfg, MENVCFG_FIOM, 0, ~QEMU_ENVCFG_X);
}

static void test_satp(void)
{
    const uint64_t ppn = 0x00000fffffffffffUL;
    const uint64_t sv = SATP_SV39 | 0x80123UL;
    /* Bare (all zero) and Sv39 are accepted; any other MODE leaves satp
     * unchanged (Sv48/Sv57 are not implemented by this hart; QEMU 7.2
     * implements them, so MODE 9/10 are not tried). */
    static uint64_t v[16], w[16];
    unsigned n = 0;
    v[n] = SATP_SV39 | ppn;           w[n++] = SATP_SV39 | ppn;
    v[n] = 0;                         w[n++] = 0;
    v[n] = sv;                        w[n++] = sv;
    static const unsigned bad[] = { 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14, 15 };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v[n] = ((uint64_t)bad[i] << 60) | 0x456UL;
        w[n++] = sv;
    }
    v[n] = SATP_SV39 | (0xffffUL << 44) | 0x777UL;  w[n++] = SATP_SV39 | 0x777UL;
    seq_check("satp", seq_satp, v, w, n, SATP_CMP);
    check(csr_read(satp), 0, "satp restored to Bare");
}

static void test_pmp_csrs(void)
{
    /* pmpcfg: R/W/X/A/L per byte; L is never written here (it would stick
     * until reset). R=0/W=1 (reserved) is not written (QEMU 7.2 stores
     * it). NA4 is available (G=0). */
    static const uint64_t v[] = {
        0x7f7f7f7f7f7f7f7fUL, 0, 0x0f0b0d09050b0301UL, 0x1f1b1d1915131711UL,
        0x1c18141008070301UL, 0,
    };
    seq_check("pmpcfg0", seq_pmpcfg0, v, v, 6, PMPCFG_CMP);
    seq_check("pmpcfg2", seq_pmpcfg2, v, v, 6, PMPCFG_CMP);
    sc_check("pmpcfg0", sc_pmpcfg0, 0x1f1f1f1f1f1f1f1fUL, 0x1f1f1f1f1f1f1f1fUL, 0,
             PMPCFG_CMP);

    static const seq_fn addr[16] = {
        seq_pmpaddr0, seq_pmpaddr1, seq_pmpaddr2, seq_pmpaddr3, seq_pmpaddr4,
        seq_pmpaddr5, seq_pmpaddr6, seq_pmpaddr7, seq_pmpaddr8, seq_pmpaddr9,
        seq_pmpaddr10, seq_pmpaddr11, seq_pmpaddr12, seq_pmpaddr13,
        seq_pmpaddr14, seq_pmpaddr15,
    };
    static const uint64_t av[] = { ~0UL, 0, 0x0123456789abcdefUL, 0x20000400UL };
    static const uint64_t aw[] = { PMPADDR_W, 0, 0x0123456789abcdefUL & PMPADDR_W,
                                   0x20000400UL };
    static const char *names[16] = {
        "pmpaddr0", "pmpaddr1", "pmpaddr2", "pmpaddr3", "pmpaddr4", "pmpaddr5",
        "pmpaddr6", "pmpaddr7", "pmpaddr8", "pmpaddr9", "pmpaddr10",
        "pmpaddr11", "pmpaddr12", "pmpaddr13", "pmpaddr14", "pmpaddr15",
    };
    for (int i = 0; i < 16; i++)
        seq_check(names[i], addr[i], av, aw, 4, PMPADDR_W);
    pmp_reset();
}

static void test_illegal(void)
{
    /* unimplemented / not-on-RV64 / extensions the hart does not have */
    expect_illegal_m("csrr 0x7c0", rd_0x7c0, 0x1111);
    expect_illegal_m("csrw 0x7c0", wr_0x7c0, 0x1111);
    expect_illegal_m("csrr pmpcfg1 (RV32 only)", rd_0x3a1, 0x2222);
    expect_illegal_m("csrw pmpcfg1 (RV32 only)", wr_0x3a1, 0);
    expect_illegal_m("csrr pmpcfg3 (RV32 only)", rd_0x3a3, 0x3333);
    expect_illegal_m("csrr hstatus (no H)", rd_0x600, 0x4444);
    expect_illegal_m("csrr fcsr (no F)", rd_0x003, 0x5555);

    /* read-only CSRs: writes trap, reads do not */
    expect_illegal_m("csrrw mhartid", ro_csrrw_mhartid, 0x66);
    expect_illegal_m("csrrwi mhartid, 0", ro_csrrwi_mhartid, 0x67);
    expect_illegal_m("csrrs mhartid, a0!=0", ro_csrrs_mhartid_a0, 0x68);
    expect_illegal_m("csrrc mhartid, a0!=0", ro_csrrc_mhartid_a0, 0x69);
    expect_illegal_m("csrrsi mhartid, 1", ro_csrrsi_mhartid_1, 0x6a);
    expect_illegal_m("csrrw mvendorid", ro_csrrw_mvendorid, 0x6b);
    expect_illegal_m("csrrw marchid", ro_csrrw_marchid, 0x6c);
    expect_illegal_m("csrrw mimpid", ro_csrrw_mimpid, 0x6d);
    expect_illegal_m("csrrw mconfigptr", ro_csrrw_mconfigptr, 0x6e);
    expect_illegal_m("csrrw cycle", ro_csrrw_cycle, 0x6f);
    expect_illegal_m("csrrs time, a0!=0", ro_csrrs_time_a0, 0x70);
    expect_illegal_m("csrw mhartid", wr_0xf14, 0);
    check(ro_csrrs_mhartid_x0(0x71), 0, "csrrs a0, mhartid, x0 (read)");
    check(ro_csrrsi_mhartid_0(0x72), 0, "csrrsi a0, mhartid, 0 (read)");
    check(ro_csrrci_mhartid_0(0x73), 0, "csrrci a0, mhartid, 0 (read)");
    expect_no_trap("read forms of read-only CSRs");
    check(rd_0xf14(0x74), 0, "mhartid");
    check(rd_0xf15(0x75), 0, "mconfigptr");
    /* IDs: only readable (values differ between machines, not printed) */
    expect_ok_m("csrr mvendorid", rd_0xf11, 0);
    expect_ok_m("csrr marchid", rd_0xf12, 0);
    expect_ok_m("csrr mimpid", rd_0xf13, 0);
    {
        uint64_t a = rd_0xf11(0), b = rd_0xf11(1);
        check(a == b, 1, "mvendorid stable");
    }
    expect_no_trap("id reads");

    /* M CSRs from S and U, S CSRs from U */
    static const struct { const char *name; site_fn rd, wr; } mcsrs[] = {
        { "mstatus", rd_0x300, wr_0x300 }, { "misa", rd_0x301, wr_0x301 },
        { "medeleg", rd_0x302, wr_0x302 }, { "mideleg", rd_0x303, wr_0x303 },
        { "mie", rd_0x304, wr_0x304 }, { "mtvec", rd_0x305, wr_0x305 },
        { "mcounteren", rd_0x306, wr_0x306 }, { "menvcfg", rd_0x30a, wr_0x30a },
        { "mscratch", rd_0x340, wr_0x340 }, { "mepc", rd_0x341, wr_0x341 },
        { "mcause", rd_0x342, wr_0x342 }, { "mtval", rd_0x343, wr_0x343 },
        { "mip", rd_0x344, wr_0x344 }, { "pmpcfg0", rd_0x3a0, wr_0x3a0 },
        { "pmpcfg2", rd_0x3a2, wr_0x3a2 }, { "pmpaddr0", rd_0x3b0, wr_0x3b0 },
        { "pmpaddr15", rd_0x3bf, wr_0x3bf }, { "mcycle", rd_0xb00, wr_0xb00 },
        { "minstret", rd_0xb02, wr_0xb02 }, { "mhartid", rd_0xf14, wr_0xf14 },
        { "mvendorid", rd_0xf11, wr_0xf11 },
    };
    static const struct { const char *name; site_fn rd, wr; } scsrs[] = {
        { "sstatus", rd_0x100, wr_0x100 }, { "sie", rd_0x104, wr_0x104 },
        { "stvec", rd_0x105, wr_0x105 }, { "scounteren", rd_0x106, wr_0x106 },
        { "senvcfg", rd_0x10a, wr_0x10a }, { "sscratch", rd_0x140, wr_0x140 },
        { "sepc", rd_0x141, wr_0x141 }, { "scause", rd_0x142, wr_0x142 },
        { "stval", rd_0x143, wr_0x143 }, { "sip", rd_0x144, wr_0x144 },
        { "stimecmp", rd_0x14d, wr_0x14d }, { "satp", rd_0x180, wr_0x180 },
    };
    char what[64];
    for (unsigned i = 0; i < sizeof(mcsrs) / sizeof(mcsrs[0]); i++) {
        for (int mode = PRV_U; mode <= PRV_S; mode++) {
            rt_snprintf(what, sizeof what, "csrr %s from %c", mcsrs[i].name,
                        mode == PRV_S ? 'S' : 'U');
            expect_illegal_in(what, mode, mcsrs[i].rd, 0xabc0 + i);
            rt_snprintf(what, sizeof what, "csrw %s from %c", mcsrs[i].name,
                        mode == PRV_S ? 'S' : 'U');
            expect_illegal_in(what, mode, mcsrs[i].wr, 0);
        }
    }
    for (unsigned i = 0; i < sizeof(scsrs) / sizeof(scsrs[0]); i++) {
        rt_snprintf(what, sizeof what, "csrr %s from U", scsrs[i].name);
        expect_illegal_in(what, PRV_U, scsrs[i].rd, 0xbcd0 + i);
        rt_snprintf(what, sizeof what, "csrw %s from U", scsrs[i].name);
        expect_illegal_in(what, PRV_U, scsrs[i].wr, 0);
    }
    /* S CSRs from S are fine (stimecmp needs STCE, see below) */
    for (unsigned i = 0; i < sizeof(scsrs) / sizeof(scsrs[0]); i++) {
        if (scsrs[i].rd == rd_0x14d)
            continue;
        rt_snprintf(what, sizeof what, "csrr %s from S", scsrs[i].name);
        expect_ok_in(what, PRV_S, scsrs[i].rd, 0);
    }
    /* from S, writes to sscratch and stval reach the registers */
    run_mode(PRV_S, wr_0x140, 0x5a5a5a5a5a5a5a5aUL);
    run_mode(PRV_S, wr_0x143, 0x123456789UL);
    expect_no_trap("csrw sscratch/stval from S");
    check(csr_read(sscratch), 0x5a5a5a5a5a5a5a5aUL, "sscratch written from S");
    check(csr_read(stval), 0x123456789UL, "stval written from S");
    csr_write(sscratch, ADDR(s_trap_stack_top));

    /* stimecmp from S: needs menvcfg.STCE and mcounteren.TM (Sstc) */
    csr_write(menvcfg, 0);
    expect_illegal_in("csrr stimecmp from S, STCE=0", PRV_S, rd_0x14d, 0x77);
    csr_write(menvcfg, MENVCFG_STCE);
    csr_write(mcounteren, 5);
    expect_illegal_in("csrr stimecmp from S, TM=0", PRV_S, rd_0x14d, 0x78);
    csr_write(mcounteren, 7);
    check(run_mode(PRV_S, rd_0x14d, 0x79), ~0UL, "csrr stimecmp from S, STCE=1 TM=1");
    run_mode(PRV_S, wr_0x14d, 0xfffffffffffff000UL);
    expect_no_trap("stimecmp from S, STCE=1 TM=1");
    check(csr_read(0x14d), 0xfffffffffffff000UL, "stimecmp written from S");
    expect_illegal_in("csrr stimecmp from U, STCE=1", PRV_U, rd_0x14d, 0x7a);
    csr_write(0x14d, ~0UL);
    csr_write(menvcfg, 0);
    csr_clear(mip, MIP_STIP);
}

void group_csr_masks(void)
{
    begin("csr-masks");
    test_mstatus();
    test_sstatus();
    test_misa();
    test_deleg_ie_ip();
    csr_write(mtvec, ADDR(m_trap_vector));
    test_tvec("mtvec", seq_mtvec);
    test_tvec("stvec", seq_stvec);
    test_plain();
    test_satp();
    test_pmp_csrs();
    test_illegal();
    end();
}
