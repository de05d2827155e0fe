"""The system layer, MMU and PMP driven directly (no guest code): page-table
walks with A/D updates and every fault kind, PMP matching modes and locking,
trap entry with delegation, interrupt priority and masking, CSR write masks."""

from __future__ import annotations

import pytest

from node.machine import csr as C
from node.machine import pmp
from node.machine.machine import Machine, MachineConfig
from node.machine.mmu import FETCH, LOAD, STORE, PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X
from node.machine.trap import (
    INST_PAGE_FAULT, LOAD_ACCESS_FAULT, LOAD_PAGE_FAULT, STORE_PAGE_FAULT, Trap,
)
from support import guest

RAM = 0x8000_0000
ROOT_PT = RAM + 0x10_0000  # page tables live here in these tests
L1_PT = ROOT_PT + 0x1000
L0_PT = ROOT_PT + 0x2000


@pytest.fixture
def m() -> Machine:
    machine = Machine(MachineConfig(kernel=guest("hello"), memory_size=16 << 20))
    machine.boot()
    return machine


def write64(m: Machine, addr: int, value: int) -> None:
    m.ram.write_bytes(addr - RAM, value.to_bytes(8, "little"))


def read64(m: Machine, addr: int) -> int:
    return int.from_bytes(m.ram.read_bytes(addr - RAM, 8), "little")


def pte(pa: int, flags: int) -> int:
    return ((pa >> 12) << 10) | flags


def enable_sv39(m: Machine) -> None:
    m.system.write_csr(C.SATP, (8 << 60) | (ROOT_PT >> 12))
    # Let S/U reach everything through PMP (one NAPOT entry covering all).
    m.system.write_csr(C.PMPADDR0, (1 << 54) - 1)
    m.system.write_csr(C.PMPCFG0, (C.PMP_NAPOT << 3) | C.PMP_R | C.PMP_W | C.PMP_X)


def map_4k(m: Machine, va: int, pa: int, flags: int) -> int:
    """Map one 4 KiB page through ROOT -> L1 -> L0; returns the PTE address."""
    write64(m, ROOT_PT + ((va >> 30) & 0x1FF) * 8, pte(L1_PT, PTE_V))
    write64(m, L1_PT + ((va >> 21) & 0x1FF) * 8, pte(L0_PT, PTE_V))
    addr = L0_PT + ((va >> 12) & 0x1FF) * 8
    write64(m, addr, pte(pa, flags))
    return addr


def translate(m: Machine, va: int, access: int, priv: int) -> int:
    return m.mmu.translate(va, 1, access, priv)


def fault_cause(m: Machine, va: int, access: int, priv: int) -> int:
    with pytest.raises(Trap) as info:
        translate(m, va, access, priv)
    assert info.value.tval == va
    return info.value.cause


# -- Sv39 ------------------------------------------------------------------------

def test_4k_page_translates_and_sets_accessed_then_dirty(m: Machine) -> None:
    enable_sv39(m)
    addr = map_4k(m, 0x4000_1000, RAM + 0x20_0000, PTE_V | PTE_R | PTE_W)
    assert translate(m, 0x4000_1234, LOAD, C.PRV_S) == RAM + 0x20_0234
    assert read64(m, addr) & (PTE_A | PTE_D) == PTE_A
    translate(m, 0x4000_1234, STORE, C.PRV_S)
    assert read64(m, addr) & (PTE_A | PTE_D) == PTE_A | PTE_D


def test_megapage_and_gigapage(m: Machine) -> None:
    enable_sv39(m)
    write64(m, ROOT_PT + 2 * 8, pte(RAM, PTE_V | PTE_R | PTE_X | PTE_A))  # 1 GiB at va 0x8000_0000
    assert translate(m, 0x8012_3456, FETCH, C.PRV_S) == 0x8012_3456
    write64(m, ROOT_PT + 1 * 8, pte(L1_PT, PTE_V))
    write64(m, L1_PT + 3 * 8, pte(RAM + 0x40_0000, PTE_V | PTE_R))  # 2 MiB at va 0x4060_0000
    assert translate(m, 0x4061_2345, LOAD, C.PRV_S) == RAM + 0x41_2345


def test_misaligned_superpage_faults(m: Machine) -> None:
    enable_sv39(m)
    write64(m, ROOT_PT + 1 * 8, pte(L1_PT, PTE_V))
    write64(m, L1_PT + 0, pte(RAM + 0x1000, PTE_V | PTE_R))  # 2 MiB page, PPN not 2 MiB aligned
    assert fault_cause(m, 0x4000_0000, LOAD, C.PRV_S) == LOAD_PAGE_FAULT


@pytest.mark.parametrize("flags,access,priv,expected", [
    (0, LOAD, C.PRV_S, LOAD_PAGE_FAULT),                                   # V = 0
    (PTE_V | PTE_W, STORE, C.PRV_S, STORE_PAGE_FAULT),                     # W without R
    (PTE_V | PTE_R, STORE, C.PRV_S, STORE_PAGE_FAULT),                     # read-only
    (PTE_V | PTE_R, FETCH, C.PRV_S, INST_PAGE_FAULT),                      # not executable
    (PTE_V | PTE_X, LOAD, C.PRV_S, LOAD_PAGE_FAULT),                       # X only, MXR off
    (PTE_V | PTE_R | PTE_W | PTE_X, LOAD, C.PRV_U, LOAD_PAGE_FAULT),       # U on a non-U page
    (PTE_V | PTE_R | PTE_U, LOAD, C.PRV_S, LOAD_PAGE_FAULT),               # S on a U page, SUM off
    (PTE_V | PTE_R | PTE_X | PTE_U, FETCH, C.PRV_S, INST_PAGE_FAULT),      # S fetch from U page
])
def test_permission_faults(m: Machine, flags: int, access: int, priv: int, expected: int) -> None:
    enable_sv39(m)
    map_4k(m, 0x4000_0000, RAM + 0x20_0000, flags)
    assert fault_cause(m, 0x4000_0000, access, priv) == expected


def test_sum_and_mxr(m: Machine) -> None:
    enable_sv39(m)
    map_4k(m, 0x4000_0000, RAM + 0x20_0000, PTE_V | PTE_R | PTE_U)
    m.system.write_csr(C.MSTATUS, m.hart.mstatus | C.MSTATUS_SUM)
    assert translate(m, 0x4000_0000, LOAD, C.PRV_S) == RAM + 0x20_0000
    map_4k(m, 0x4000_0000, RAM + 0x20_0000, PTE_V | PTE_X)
    m.mmu.flush()
    m.system.write_csr(C.MSTATUS, m.hart.mstatus | C.MSTATUS_MXR)
    assert translate(m, 0x4000_0000, LOAD, C.PRV_S) == RAM + 0x20_0000


def test_non_canonical_address_faults(m: Machine) -> None:
    enable_sv39(m)
    assert fault_cause(m, 0x0000_0080_0000_0000, LOAD, C.PRV_S) == LOAD_PAGE_FAULT


def test_m_mode_is_never_translated_but_mprv_translates_data(m: Machine) -> None:
    enable_sv39(m)
    map_4k(m, 0x4000_0000, RAM + 0x20_0000, PTE_V | PTE_R | PTE_W)
    assert translate(m, 0x4000_0000, LOAD, C.PRV_M) == 0x4000_0000
    m.system.write_csr(C.MSTATUS, m.hart.mstatus | C.MSTATUS_MPRV | (C.PRV_S << 11))
    assert m.mmu.data_priv == C.PRV_S
    assert m.mmu.load(0x4000_0000, 8, False, 0, 0) == 0


# -- PMP -----------------------------------------------------------------------------

def cfg_list(**entries: int) -> list[int]:
    cfg = [0] * 16
    for key, value in entries.items():
        cfg[int(key[1:])] = value
    return cfg


def test_pmp_ranges() -> None:
    addrs = [0] * 16
    addrs[0] = 0x1000 >> 2
    addrs[1] = 0x3000 >> 2
    addrs[2] = (0x8000_0000 >> 2) | ((0x1_0000 >> 3) - 1)  # NAPOT 64 KiB
    addrs[3] = 0x9000 >> 2
    cfg = cfg_list(e1=C.PMP_TOR << 3, e2=C.PMP_NAPOT << 3, e3=C.PMP_NA4 << 3)
    assert pmp.entry_range(cfg, addrs, 1) == (0x1000, 0x3000)
    assert pmp.entry_range(cfg, addrs, 2) == (0x8000_0000, 0x8001_0000)
    assert pmp.entry_range(cfg, addrs, 3) == (0x9000, 0x9004)
    assert pmp.entry_range(cfg, addrs, 0) is None


def test_pmp_lowest_entry_wins_and_partial_match_fails() -> None:
    addrs = [0] * 16
    addrs[0] = 0x2000 >> 2   # TOR [0, 0x2000) read-only
    addrs[1] = 0x4000 >> 2   # TOR [0x2000, 0x4000) RW
    cfg = cfg_list(e0=(C.PMP_TOR << 3) | C.PMP_R, e1=(C.PMP_TOR << 3) | C.PMP_R | C.PMP_W)
    assert pmp.check(cfg, addrs, 0x1000, 4, pmp.READ, C.PRV_S)
    assert not pmp.check(cfg, addrs, 0x1000, 4, pmp.WRITE, C.PRV_S)
    assert pmp.check(cfg, addrs, 0x2000, 8, pmp.WRITE, C.PRV_U)
    assert not pmp.check(cfg, addrs, 0x1FFC, 8, pmp.READ, C.PRV_S)   # straddles entries 0 and 1
    assert not pmp.check(cfg, addrs, 0x5000, 4, pmp.READ, C.PRV_S)   # no match: S/U fail
    assert pmp.check(cfg, addrs, 0x5000, 4, pmp.READ, C.PRV_M)       # no match: M succeeds
    assert pmp.check(cfg, addrs, 0x1000, 4, pmp.WRITE, C.PRV_M)      # unlocked: M unrestricted


def test_pmp_locked_entry_binds_m_mode_and_ignores_writes(m: Machine) -> None:
    sysl = m.system
    sysl.write_csr(C.PMPADDR0, 0x9000_0000 >> 2)
    sysl.write_csr(C.PMPADDR0 + 1, 0xA000_0000 >> 2)
    sysl.write_csr(C.PMPCFG0, (C.PMP_L | (C.PMP_TOR << 3) | C.PMP_R) << 8)  # entry 1, TOR, locked R
    sysl.write_csr(C.PMPADDR0 + 1, 0xB000_0000 >> 2)  # ignored: entry 1 is locked
    assert sysl.read_csr(C.PMPADDR0 + 1) == 0xA000_0000 >> 2
    assert m.mmu.pmp_locked
    assert m.system.regime[2] is False  # M-mode data now goes through checks
    # Locked: cfg and addr writes are ignored, and so is the TOR base below it.
    sysl.write_csr(C.PMPCFG0, 0)
    assert (sysl.read_csr(C.PMPCFG0) >> 8) & 0xFF == C.PMP_L | (C.PMP_TOR << 3) | C.PMP_R
    sysl.write_csr(C.PMPADDR0, 0x1234)
    assert sysl.read_csr(C.PMPADDR0) == 0x9000_0000 >> 2
    with pytest.raises(Trap):
        m.mmu.translate(0x9000_0000, 4, STORE, C.PRV_M)
    assert m.mmu.translate(0x9000_0000, 4, LOAD, C.PRV_M) == 0x9000_0000


def test_pmp_denial_is_an_access_fault(m: Machine) -> None:
    with pytest.raises(Trap) as info:
        m.mmu.translate(RAM, 4, LOAD, C.PRV_S)   # PMP configured with no entries: S fails
    assert info.value.cause == LOAD_ACCESS_FAULT


# -- traps and interrupts ------------------------------------------------------------------

def test_trap_to_m_saves_state(m: Machine) -> None:
    h = m.hart
    h.priv = C.PRV_U
    h.mstatus |= C.MSTATUS_MIE
    m.system.write_csr(C.MTVEC, RAM + 0x100)
    m.system.take_trap(8, 0, 0x8000_0040)
    assert (h.priv, h.pc, h.mepc, h.mcause) == (C.PRV_M, RAM + 0x100, 0x8000_0040, 8)
    assert (h.mstatus >> 11) & 3 == C.PRV_U
    assert h.mstatus & C.MSTATUS_MPIE and not h.mstatus & C.MSTATUS_MIE


def test_delegated_exception_goes_to_s(m: Machine) -> None:
    h = m.hart
    m.system.write_csr(C.MEDELEG, 1 << 8)
    m.system.write_csr(C.STVEC, RAM + 0x200)
    h.priv = C.PRV_U
    h.mstatus |= C.MSTATUS_SIE
    m.system.take_trap(8, 0, 0x1000)
    assert (h.priv, h.pc, h.sepc, h.scause) == (C.PRV_S, RAM + 0x200, 0x1000, 8)
    assert not h.mstatus & C.MSTATUS_SPP and h.mstatus & C.MSTATUS_SPIE


def test_delegation_does_not_apply_in_m_mode(m: Machine) -> None:
    m.system.write_csr(C.MEDELEG, 1 << 2)
    m.system.take_trap(2, 0, 0x1000)
    assert m.hart.priv == C.PRV_M and m.hart.mcause == 2


def test_vectored_interrupt_entry(m: Machine) -> None:
    m.system.write_csr(C.MTVEC, RAM + 0x400 + 1)
    m.hart.priv = C.PRV_S
    m.system.take_trap(7, 0, 0x1000, interrupt=True)
    assert m.hart.pc == RAM + 0x400 + 4 * 7
    assert m.hart.mcause == (1 << 63) | 7


def test_interrupt_priority_and_masking(m: Machine) -> None:
    h, s = m.hart, m.system
    s.write_csr(C.MIE, C.MIP_MSIP | C.MIP_MTIP | C.MIP_SSIP | C.MIP_STIP)
    s.write_csr(C.MIP, C.MIP_SSIP | C.MIP_STIP)
    m.clint.msip = 1
    m.clint.mtimecmp = 0
    assert s.interrupt_to_take() is None           # M-mode with MIE clear
    h.mstatus |= C.MSTATUS_MIE
    assert s.interrupt_to_take() == 3               # MSI before MTI
    m.clint.msip = 0
    assert s.interrupt_to_take() == 7
    m.clint.mtimecmp = (1 << 64) - 1
    assert s.interrupt_to_take() == 1               # SSI before STI (not delegated: taken in M)
    s.write_csr(C.MIDELEG, C.MIP_SSIP | C.MIP_STIP)
    assert s.interrupt_to_take() is None            # delegated: never taken in M
    h.priv = C.PRV_U
    assert s.interrupt_to_take() == 1               # in U, S-level interrupts are enabled


def test_sstc_drives_stip(m: Machine) -> None:
    s = m.system
    s.write_csr(C.STIMECMP, 0)
    assert not s.mip() & C.MIP_STIP
    s.write_csr(C.MENVCFG, C.MENVCFG_STCE)
    assert s.mip() & C.MIP_STIP
    s.write_csr(C.STIMECMP, (1 << 64) - 1)
    assert not s.mip() & C.MIP_STIP
    s.write_csr(C.MIP, C.MIP_STIP)           # not writable while STCE is set
    assert not s.mip() & C.MIP_STIP


@pytest.mark.parametrize("addr,written,expected", [
    (C.MSTATUS, (1 << 64) - 1, C.MSTATUS_WRITABLE | C.MSTATUS_FIXED),
    (C.MEDELEG, (1 << 64) - 1, C.MEDELEG_WRITABLE),
    (C.MIDELEG, (1 << 64) - 1, C.MIDELEG_WRITABLE),
    (C.MIE, (1 << 64) - 1, C.MIE_WRITABLE),
    (C.MEPC, (1 << 64) - 1, ((1 << 64) - 1) & ~1),
    (C.MTVEC, 0x8000_0003, 0),                # reserved mode: ignored
    (C.MTVEC, 0x8000_0101, 0x8000_0101),
    (C.MISA, 0, C.MISA_VALUE),
    (C.MENVCFG, (1 << 64) - 1, C.MENVCFG_WRITABLE),
    (C.SATP, (1 << 60) | 5, 0),              # Sv32 mode on RV64: ignored
    (C.SATP, (9 << 60) | 5, 0),              # Sv48 not implemented: ignored
    (C.PMPADDR0 + 3, (1 << 64) - 1, (1 << 54) - 1),
    (C.MHPMCOUNTER3 + 4, 1234, 0),
])
def test_csr_write_masks(m: Machine, addr: int, written: int, expected: int) -> None:
    m.system.write_csr(addr, written)
    assert m.system.read_csr(addr) == expected


def test_sstatus_is_a_view_of_mstatus(m: Machine) -> None:
    m.system.write_csr(C.SSTATUS, (1 << 64) - 1)
    mstatus = m.system.read_csr(C.MSTATUS)
    assert mstatus & C.SSTATUS_WRITABLE == C.SSTATUS_WRITABLE
    assert not mstatus & (C.MSTATUS_MIE | C.MSTATUS_MPIE | C.MSTATUS_MPRV | C.MSTATUS_TVM)
    assert m.system.read_csr(C.SSTATUS) & ~C.SSTATUS_VIEW == 0


def test_sie_and_sip_follow_mideleg(m: Machine) -> None:
    s = m.system
    s.write_csr(C.SIE, (1 << 64) - 1)
    assert s.read_csr(C.SIE) == 0 and s.read_csr(C.MIE) == 0
    s.write_csr(C.MIDELEG, C.MIP_SSIP | C.MIP_STIP)
    s.write_csr(C.SIE, (1 << 64) - 1)
    assert s.read_csr(C.SIE) == C.MIP_SSIP | C.MIP_STIP
    s.write_csr(C.SIP, (1 << 64) - 1)
    assert s.read_csr(C.SIP) == C.MIP_SSIP


def test_csr_access_rules(m: Machine) -> None:
    s, h = m.system, m.hart
    assert s._accessible(C.MSTATUS, writes=True)
    assert not s._accessible(C.MHARTID, writes=True)       # read-only
    assert not s._accessible(0x7C0, writes=False)          # not implemented
    assert not s._accessible(C.PMPCFG0 + 1, writes=False)  # odd pmpcfg is RV32-only
    h.priv = C.PRV_S
    assert not s._accessible(C.MSTATUS, writes=False)
    assert s._accessible(C.SATP, writes=True)
    h.mstatus |= C.MSTATUS_TVM
    assert not s._accessible(C.SATP, writes=False)
    assert not s._accessible(C.CYCLE, writes=False)
    h.mcounteren = C.COUNTEREN_CY
    assert s._accessible(C.CYCLE, writes=False)
    h.priv = C.PRV_U
    assert not s._accessible(C.CYCLE, writes=False)
    h.scounteren = C.COUNTEREN_CY
    assert s._accessible(C.CYCLE, writes=False)
    assert not s._accessible(C.SSTATUS, writes=False)
