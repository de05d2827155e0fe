/* priv-selftest group xret: MRET and SRET restore the privilege and the
 * interrupt enable from xPP / xPIE, set xPIE=1 and xPP to U, MRET to M keeps
 * MPRV; SRET is illegal in U and (TSR=1) in S, MRET in S and U.
 * Not tested (QEMU 7.2 differs from spec 1.12): xRET to a mode below M
 * clearing MPRV. */
#include "ps.h"
#include "vm.h"

uint64_t mret_to_m(uint64_t ms);
uint64_t s_sret_to_s(uint64_t set), s_sret_to_u(uint64_t set);
uint64_t s_read_sstatus(uint64_t);

#define PRIV_BITS (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MPRV)
#define SPRIV_BITS (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP)

static void t_mret_to_m(void)
{
    uint64_t base = csr_read(mstatus) & ~(PRIV_BITS | SPRIV_BITS);
    static const struct { uint64_t in, out; const char *what; } t[] = {
        { MSTATUS_MPP_M | MSTATUS_MPIE, MSTATUS_MIE | MSTATUS_MPIE,
          "mret to M, MPIE=1: MIE=1, MPIE=1, MPP=U" },
        { MSTATUS_MPP_M | MSTATUS_MIE, MSTATUS_MPIE,
          "mret to M, MIE=1 MPIE=0: MIE=0, MPIE=1, MPP=U" },
        { MSTATUS_MPP_M, MSTATUS_MPIE, "mret to M, MPIE=0: MIE=0, MPIE=1, MPP=U" },
        { MSTATUS_MPP_M | MSTATUS_MPRV | MSTATUS_MPIE,
          MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPRV, "mret to M keeps MPRV" },
    };
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        uint64_t ms = mret_to_m(base | t[i].in);
        check(ms & (PRIV_BITS | SPRIV_BITS), t[i].out, "%s", t[i].what);
    }
    /* S fields are untouched by mret */
    uint64_t ms = mret_to_m(base | MSTATUS_MPP_M | MSTATUS_SPIE | MSTATUS_SPP);
    check(ms & SPRIV_BITS, MSTATUS_SPIE | MSTATUS_SPP, "mret leaves SPIE/SPP/SIE");
    csr_write(mstatus, base);
    expect_no_trap("mret to M");
}

static void t_mret_down(void)
{
    for (int mode = PRV_U; mode <= PRV_S; mode++) {
        const char *m = mode == PRV_S ? "S" : "U";
        for (int mpie = 0; mpie <= 1; mpie++) {
            /* MIE in the lower mode is what mstatus.MPIE said; the exit trap
             * copies it back to MPIE. (MRET/SRET to a mode below M clearing
             * MPRV is not tested: QEMU 7.2 keeps MPRV.) */
            run_at(mode, ADDR(site_nop), 0, 0, mpie ? MSTATUS_MPIE : 0);
            check(last_exit_cause, mode == PRV_S ? CAUSE_ECALL_S : CAUSE_ECALL_U,
                  "mret to %s: runs in %s", m, m);
            check(last_exit_status & (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP),
                  (mpie ? MSTATUS_MPIE : 0) | ((uint64_t)mode << MPP_SHIFT),
                  "mret to %s with MPIE=%d: MIE in %s", m, mpie, m);
            csr_clear(mstatus, MSTATUS_MIE);
        }
    }
    /* SIE/SPIE/SPP unchanged by mret into S */
    run_at(PRV_S, ADDR(s_read_sstatus), 0, 0, MSTATUS_SPIE | MSTATUS_SPP);
    check(csr_read(mstatus) & SPRIV_BITS, MSTATUS_SPIE | MSTATUS_SPP,
          "sstatus fields across mret to S");
    csr_clear(mstatus, SPRIV_BITS);
    expect_no_trap("mret to S/U");
}

static void t_sret(void)
{
    /* sret S -> S */
    uint64_t ss = run_mode(PRV_S, s_sret_to_s, MSTATUS_SPP | MSTATUS_SPIE);
    check(ss & SPRIV_BITS, MSTATUS_SIE | MSTATUS_SPIE, "sret to S, SPIE=1: SIE=1, SPIE=1, SPP=U");
    ss = run_mode(PRV_S, s_sret_to_s, MSTATUS_SPP | MSTATUS_SIE);
    check(ss & SPRIV_BITS, MSTATUS_SPIE, "sret to S, SIE=1 SPIE=0: SIE=0, SPIE=1, SPP=U");
    check(last_exit_cause, CAUSE_ECALL_S, "sret to S: still in S");
    /* sret S -> U */
    for (int spie = 0; spie <= 1; spie++) {
        run_mode(PRV_S, s_sret_to_u, spie ? MSTATUS_SPIE : 0);
        check(last_exit_cause, CAUSE_ECALL_U, "sret to U (SPIE=%d): runs in U", spie);
        check(csr_read(mstatus) & SPRIV_BITS, (spie ? MSTATUS_SIE : 0) | MSTATUS_SPIE,
              "sret to U with SPIE=%d: SIE, SPIE, SPP", spie);
        csr_clear(mstatus, SPRIV_BITS);
    }
    expect_no_trap("sret from S");

    /* sret from M (allowed; TSR only concerns S): to S and to U */
    for (int mode = PRV_U; mode <= PRV_S; mode++) {
        uint64_t ms = csr_read(mstatus) & ~(PRIV_BITS | SPRIV_BITS | MSTATUS_TSR);
        ms |= MSTATUS_MPP_M | MSTATUS_SPIE | MSTATUS_TSR |
              (mode == PRV_S ? MSTATUS_SPP : 0);
        mode_enter_sret(ms, ADDR(site_nop), 0, ADDR(mode_stack_top),
                        ADDR(mode_exit_site), 0);
        check(last_exit_cause, mode == PRV_S ? CAUSE_ECALL_S : CAUSE_ECALL_U,
              "sret from M to %s: mode", mode == PRV_S ? "S" : "U");
        check(csr_read(mstatus) & SPRIV_BITS, MSTATUS_SIE | MSTATUS_SPIE,
              "sret from M to %s: SIE=1, SPIE=1, SPP=U", mode == PRV_S ? "S" : "U");
        csr_clear(mstatus, SPRIV_BITS | MSTATUS_TSR | MSTATUS_MPRV);
    }
    expect_no_trap("sret from M");
}

static void t_illegal(void)
{
    const uint64_t mret_bits = *(volatile uint32_t *)(uintptr_t)site_mret;
    const uint64_t sret_bits = *(volatile uint32_t *)(uintptr_t)site_sret;
    check(mret_bits, 0x30200073, "mret encoding");
    check(sret_bits, 0x10200073, "sret encoding");
    run_mode(PRV_S, site_mret, 0);
    expect_trap_from("mret in S", PRV_M, CAUSE_ILLEGAL, ADDR(site_mret), mret_bits, PRV_S);
    run_mode(PRV_U, site_mret, 0);
    expect_trap_from("mret in U", PRV_M, CAUSE_ILLEGAL, ADDR(site_mret), mret_bits, PRV_U);
    run_mode(PRV_U, site_sret, 0);
    expect_trap_from("sret in U", PRV_M, CAUSE_ILLEGAL, ADDR(site_sret), sret_bits, PRV_U);
    csr_set(mstatus, MSTATUS_TSR);
    run_mode(PRV_S, site_sret, 0);
    expect_trap_from("sret in S with TSR=1", PRV_M, CAUSE_ILLEGAL, ADDR(site_sret),
                     sret_bits, PRV_S);
    csr_clear(mstatus, MSTATUS_TSR);
    /* delegated to S */
    csr_write(medeleg, 1UL << CAUSE_ILLEGAL);
    run_mode(PRV_U, site_sret, 0);
    expect_trap_from("sret in U (delegated)", PRV_S, CAUSE_ILLEGAL, ADDR(site_sret),
                     sret_bits, PRV_U);
    run_mode(PRV_U, site_mret, 0);
    expect_trap_from("mret in U (delegated)", PRV_S, CAUSE_ILLEGAL, ADDR(site_mret),
                     mret_bits, PRV_U);
    run_mode(PRV_S, site_mret, 0);
    expect_trap_from("mret in S (delegated)", PRV_S, CAUSE_ILLEGAL, ADDR(site_mret),
                     mret_bits, PRV_S);
    csr_write(medeleg, 0);
}

void group_xret(void)
{
    begin("xret");
    t_mret_to_m();
    t_mret_down();
    t_sret();
    t_illegal();
    end();
}
