"""The system layer: privileged state and trap-and-emulate (DESIGN.md §2).

Everything privileged happens here, never in the execution backend: CSR
instructions (with the access rules of privileged spec 1.12 §2.1), ECALL,
EBREAK, MRET/SRET, WFI, SFENCE.VMA and FENCE.I, trap entry with delegation
(:meth:`System.take_trap`, the one place where traps are taken), interrupt
priority and masking (:meth:`System.check_interrupts`) and the timer deadline
the run loop must stop at so interrupts are taken at an exact instruction
count (:meth:`System.next_event`).

After anything that can change how memory is accessed (privilege, satp,
MPRV/MPP, SUM/MXR, PMP), :meth:`System.update_regime` recomputes the *regime*:
the key that selects the backend's translation cache and the MMU's TLB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from . import csr as C
from . import pmp
from .hart import Hart, MASK64
from .trap import (
    BREAKPOINT, ECALL_FROM_U, ILLEGAL_INSTRUCTION, INTERRUPT_BIT, Trap, describe_cause,
)

if TYPE_CHECKING:
    from .devices.clint import Clint
    from .devices.plic import Plic
    from .mmu import Mmu


class Backend:
    """What the system layer needs from an execution backend."""

    def flush_all(self) -> None: ...

    def flush_paged(self) -> None: ...


# Traps in a row with no instruction retired between them: the trap vector
# itself faults, and the hart can never make progress again.
TRAP_STORM_LIMIT = 1000


class GuestHung(Exception):
    """The guest can never make progress again (e.g. its trap vector faults)."""


class System:
    def __init__(self, hart: Hart, mmu: "Mmu", clint: "Clint", plic: "Plic | None" = None) -> None:
        self.hart = hart
        self.mmu = mmu
        self.clint = clint
        self.plic = plic
        self.backend: Backend = Backend()
        self.regime: tuple[int, int, bool] = (C.PRV_M, C.PRV_M, True)
        self._last_trap_icount = -1
        self._trap_streak = 0
        self._readers: dict[int, Callable[[], int]] = {}
        self._writers: dict[int, Callable[[int], None]] = {}
        self._build_csr_table()
        self.update_regime()

    # -- regime ---------------------------------------------------------------------

    def update_regime(self) -> None:
        hart = self.hart
        priv = hart.priv
        data_priv = priv
        if priv == C.PRV_M and hart.mstatus & C.MSTATUS_MPRV:
            data_priv = (hart.mstatus >> C.MSTATUS_MPP_SHIFT) & 3
        locked = pmp.any_locked(hart.pmpcfg)
        self.mmu.data_priv = data_priv
        self.mmu.pmp_locked = locked
        self.regime = (priv, data_priv, data_priv == C.PRV_M and not locked)

    # -- interrupts -----------------------------------------------------------------

    def mip(self) -> int:
        """The current value of mip: software bits plus device lines."""
        hart = self.hart
        clint = self.clint
        value = hart.mip_sw
        if clint.msip:
            value |= C.MIP_MSIP
        now = clint.time()
        if now >= clint.mtimecmp:
            value |= C.MIP_MTIP
        if hart.menvcfg & C.MENVCFG_STCE:
            value &= ~C.MIP_STIP
            if now >= hart.stimecmp:
                value |= C.MIP_STIP
        plic = self.plic
        if plic is not None:
            if plic.irq_pending(0):
                value |= C.MIP_MEIP
            if plic.irq_pending(1):
                value |= C.MIP_SEIP
        return value

    def pending_enabled(self) -> int:
        return self.mip() & self.hart.mie

    def interrupt_to_take(self) -> int | None:
        hart = self.hart
        pending = self.mip() & hart.mie
        if not pending:
            return None
        priv = hart.priv
        mstatus = hart.mstatus
        m_pending = pending & ~hart.mideleg
        if m_pending and (priv < C.PRV_M or mstatus & C.MSTATUS_MIE):
            return _highest(m_pending)
        s_pending = pending & hart.mideleg
        if s_pending and (priv < C.PRV_S or (priv == C.PRV_S and mstatus & C.MSTATUS_SIE)):
            return _highest(s_pending)
        return None

    def check_interrupts(self) -> bool:
        """Take the highest-priority pending and enabled interrupt, if any."""
        cause = self.interrupt_to_take()
        if cause is None:
            return False
        self.take_trap(cause, 0, self.hart.pc, interrupt=True)
        return True

    def next_event(self) -> int | None:
        """The retired-instruction count at which an enabled timer interrupt
        becomes pending, if one is ahead; the run loop stops exactly there."""
        hart = self.hart
        clint = self.clint
        now = clint.time()
        best: int | None = None
        if hart.mie & C.MIP_MTIP and clint.mtimecmp > now:
            best = clint.mtimecmp - now
        if hart.mie & C.MIP_STIP and hart.menvcfg & C.MENVCFG_STCE and hart.stimecmp > now:
            delta = hart.stimecmp - now
            best = delta if best is None else min(best, delta)
        return None if best is None else hart.icount + hart.idx + best

    def wfi_wakeup_time(self) -> int | None:
        """For a hart in WFI with nothing pending: the mtime at which an enabled
        timer fires, or None if only an external event can wake it."""
        hart = self.hart
        clint = self.clint
        times = []
        if hart.mie & C.MIP_MTIP:
            times.append(clint.mtimecmp)
        if hart.mie & C.MIP_STIP and hart.menvcfg & C.MENVCFG_STCE:
            times.append(hart.stimecmp)
        return min(times) if times else None

    # -- traps ------------------------------------------------------------------------

    def take_trap(self, cause: int, tval: int, epc: int, interrupt: bool = False) -> None:
        hart = self.hart
        if hart.icount == self._last_trap_icount:
            self._trap_streak += 1
            if self._trap_streak >= TRAP_STORM_LIMIT:
                raise GuestHung(f"trap storm: {describe_cause(cause)} at pc={epc:#x} over and over "
                                f"without retiring an instruction (the trap handler itself faults)")
        else:
            self._trap_streak = 0
            self._last_trap_icount = hart.icount
        priv = hart.priv
        deleg = hart.mideleg if interrupt else hart.medeleg
        code = cause | (INTERRUPT_BIT if interrupt else 0)
        mstatus = hart.mstatus
        if priv <= C.PRV_S and (deleg >> cause) & 1:
            hart.scause = code
            hart.sepc = epc
            hart.stval = tval
            mstatus &= ~(C.MSTATUS_SPIE | C.MSTATUS_SPP | C.MSTATUS_SIE)
            if hart.mstatus & C.MSTATUS_SIE:
                mstatus |= C.MSTATUS_SPIE
            if priv == C.PRV_S:
                mstatus |= C.MSTATUS_SPP
            vector = hart.stvec
            hart.priv = C.PRV_S
        else:
            hart.mcause = code
            hart.mepc = epc
            hart.mtval = tval
            mstatus &= ~(C.MSTATUS_MPIE | C.MSTATUS_MPP | C.MSTATUS_MIE)
            if hart.mstatus & C.MSTATUS_MIE:
                mstatus |= C.MSTATUS_MPIE
            mstatus |= priv << C.MSTATUS_MPP_SHIFT
            vector = hart.mtvec
            hart.priv = C.PRV_M
        hart.mstatus = mstatus
        base = vector & ~3
        hart.pc = base + 4 * cause if (vector & 1 and interrupt) else base
        hart.res_addr = -1
        hart.wfi = False
        self.update_regime()

    # -- system instructions (called from translated blocks) ---------------------------

    def _illegal(self, inst: int, pc: int, idx: int) -> Trap:
        return Trap(ILLEGAL_INSTRUCTION, inst, pc, idx)

    def ecall(self, inst: int, pc: int, idx: int, npc: int) -> int:
        self.hart.idx = idx
        raise Trap(ECALL_FROM_U + self.hart.priv, 0, pc, idx)

    def ebreak(self, inst: int, pc: int, idx: int, npc: int) -> int:
        self.hart.idx = idx
        raise Trap(BREAKPOINT, 0, pc, idx)

    def mret(self, inst: int, pc: int, idx: int, npc: int) -> int:
        hart = self.hart
        hart.idx = idx
        if hart.priv < C.PRV_M:
            raise self._illegal(inst, pc, idx)
        mstatus = hart.mstatus
        mpp = (mstatus >> C.MSTATUS_MPP_SHIFT) & 3
        mstatus &= ~(C.MSTATUS_MIE | C.MSTATUS_MPP)
        if mstatus & C.MSTATUS_MPIE:
            mstatus |= C.MSTATUS_MIE
        mstatus |= C.MSTATUS_MPIE
        if mpp != C.PRV_M:
            mstatus &= ~C.MSTATUS_MPRV
        hart.mstatus = mstatus
        hart.priv = mpp
        hart.res_addr = -1
        self.update_regime()
        return hart.mepc

    def sret(self, inst: int, pc: int, idx: int, npc: int) -> int:
        hart = self.hart
        hart.idx = idx
        if hart.priv == C.PRV_U or (hart.priv == C.PRV_S and hart.mstatus & C.MSTATUS_TSR):
            raise self._illegal(inst, pc, idx)
        mstatus = hart.mstatus
        spp = C.PRV_S if mstatus & C.MSTATUS_SPP else C.PRV_U
        mstatus &= ~(C.MSTATUS_SIE | C.MSTATUS_SPP | C.MSTATUS_MPRV)
        if mstatus & C.MSTATUS_SPIE:
            mstatus |= C.MSTATUS_SIE
        mstatus |= C.MSTATUS_SPIE
        hart.mstatus = mstatus
        hart.priv = spp
        hart.res_addr = -1
        self.update_regime()
        return hart.sepc

    def wfi(self, inst: int, pc: int, idx: int, npc: int) -> int:
        hart = self.hart
        hart.idx = idx
        if hart.priv == C.PRV_U or (hart.priv == C.PRV_S and hart.mstatus & C.MSTATUS_TW):
            raise self._illegal(inst, pc, idx)
        hart.wfi = True
        return npc

    def sfence_vma(self, inst: int, pc: int, idx: int, npc: int) -> int:
        hart = self.hart
        hart.idx = idx
        if hart.priv == C.PRV_U or (hart.priv == C.PRV_S and hart.mstatus & C.MSTATUS_TVM):
            raise self._illegal(inst, pc, idx)
        self.mmu.flush()
        self.backend.flush_paged()
        return npc

    def fence_i(self, inst: int, pc: int, idx: int, npc: int) -> int:
        self.hart.idx = idx
        self.backend.flush_all()
        return npc

    def csr_instruction(self, inst: int, pc: int, idx: int, npc: int) -> int:
        hart = self.hart
        hart.idx = idx
        f3 = (inst >> 12) & 7
        rd = (inst >> 7) & 31
        field = (inst >> 15) & 31
        addr = inst >> 20
        op = f3 & 3
        src = field if f3 & 4 else hart.regs[field]
        writes = op == 1 or field != 0
        reads = op != 1 or rd != 0
        if not self._accessible(addr, writes):
            raise self._illegal(inst, pc, idx)
        old = self._readers[addr]() if reads or op != 1 else 0
        if writes:
            if op == 1:
                new = src
            else:
                base = hart.mip_sw if addr in (C.MIP, C.SIP) else old
                new = base | src if op == 2 else base & ~src
            self._writers[addr](new & MASK64)
            self.update_regime()
        if rd:
            hart.regs[rd] = old
        return npc

    # -- CSR access rules --------------------------------------------------------------

    def _accessible(self, addr: int, writes: bool) -> bool:
        if addr not in self._readers:
            return False
        hart = self.hart
        priv = hart.priv
        if priv < (addr >> 8) & 3:
            return False
        if writes and (addr >> 10) == 3:
            return False
        if addr == C.SATP and priv == C.PRV_S and hart.mstatus & C.MSTATUS_TVM:
            return False
        if 0xC00 <= addr <= 0xC1F and priv < C.PRV_M:
            bit = 1 << (addr - 0xC00)
            if not hart.mcounteren & bit:
                return False
            if priv == C.PRV_U and not hart.scounteren & bit:
                return False
        if addr == C.STIMECMP and priv < C.PRV_M:
            if not (hart.mcounteren & C.COUNTEREN_TM and hart.menvcfg & C.MENVCFG_STCE):
                return False
        return True

    def read_csr(self, addr: int) -> int:
        """Read a CSR from the host side (tests, debugging); no access checks."""
        return self._readers[addr]()

    def write_csr(self, addr: int, value: int) -> None:
        self._writers[addr](value & MASK64)
        self.update_regime()

    def _build_csr_table(self) -> None:
        hart = self.hart
        r = self._readers
        w = self._writers

        def plain(addr: int, name: str, mask: int = MASK64) -> None:
            r[addr] = lambda: getattr(hart, name)
            w[addr] = lambda v: setattr(hart, name, v & mask)

        def const(addr: int, value: int) -> None:
            r[addr] = lambda: value
            w[addr] = lambda v: None

        # Machine information.
        const(C.MVENDORID, C.MVENDORID_VALUE)
        const(C.MARCHID, C.MARCHID_VALUE)
        const(C.MIMPID, C.MIMPID_VALUE)
        r[C.MHARTID] = lambda: hart.hartid
        w[C.MHARTID] = lambda v: None
        const(C.MCONFIGPTR, 0)
        # Trap setup and handling.
        r[C.MSTATUS] = lambda: hart.mstatus
        w[C.MSTATUS] = self._write_mstatus
        const(C.MISA, C.MISA_VALUE)
        plain(C.MEDELEG, "medeleg", C.MEDELEG_WRITABLE)
        plain(C.MIDELEG, "mideleg", C.MIDELEG_WRITABLE)
        plain(C.MIE, "mie", C.MIE_WRITABLE)
        r[C.MTVEC] = lambda: hart.mtvec
        w[C.MTVEC] = lambda v: _write_tvec(hart, "mtvec", v)
        plain(C.MCOUNTEREN, "mcounteren", 0xFFFFFFFF)
        plain(C.MENVCFG, "menvcfg", C.MENVCFG_WRITABLE)
        const(C.MCOUNTINHIBIT, 0)
        plain(C.MSCRATCH, "mscratch")
        plain(C.MEPC, "mepc", MASK64 & ~1)
        plain(C.MCAUSE, "mcause")
        plain(C.MTVAL, "mtval")
        r[C.MIP] = self.mip
        w[C.MIP] = self._write_mip
        # Counters.
        r[C.MCYCLE] = lambda: (hart.now() + hart.cycle_offset) & MASK64
        w[C.MCYCLE] = lambda v: setattr(hart, "cycle_offset", v - hart.now() - 1)
        r[C.MINSTRET] = lambda: (hart.now() + hart.instret_offset) & MASK64
        w[C.MINSTRET] = lambda v: setattr(hart, "instret_offset", v - hart.now() - 1)
        r[C.CYCLE] = r[C.MCYCLE]
        r[C.TIME] = lambda: self.clint.time() & MASK64
        r[C.INSTRET] = r[C.MINSTRET]
        for addr in (C.CYCLE, C.TIME, C.INSTRET):
            w[addr] = lambda v: None
        for i in range(3, 32):
            const(C.MHPMCOUNTER3 + i - 3, 0)
            const(C.HPMCOUNTER3 + i - 3, 0)
            const(C.MHPMEVENT3 + i - 3, 0)
        # PMP.
        for i in range(0, C.PMP_ENTRIES // 4, 2):
            r[C.PMPCFG0 + i] = (lambda i=i: sum(hart.pmpcfg[4 * i + k] << (8 * k) for k in range(8)))
            w[C.PMPCFG0 + i] = (lambda v, i=i: self._write_pmpcfg(i, v))
        for i in range(C.PMP_ENTRIES):
            r[C.PMPADDR0 + i] = (lambda i=i: hart.pmpaddr[i])
            w[C.PMPADDR0 + i] = (lambda v, i=i: self._write_pmpaddr(i, v))
        # Supervisor.
        r[C.SSTATUS] = lambda: hart.mstatus & C.SSTATUS_VIEW
        w[C.SSTATUS] = lambda v: self._write_mstatus(
            (hart.mstatus & ~C.SSTATUS_WRITABLE) | (v & C.SSTATUS_WRITABLE))
        r[C.SIE] = lambda: hart.mie & hart.mideleg
        w[C.SIE] = lambda v: setattr(hart, "mie", (hart.mie & ~hart.mideleg) | (v & hart.mideleg & C.MIE_WRITABLE))
        r[C.STVEC] = lambda: hart.stvec
        w[C.STVEC] = lambda v: _write_tvec(hart, "stvec", v)
        plain(C.SCOUNTEREN, "scounteren", 0xFFFFFFFF)
        plain(C.SENVCFG, "senvcfg", C.SENVCFG_WRITABLE)
        plain(C.SSCRATCH, "sscratch")
        plain(C.SEPC, "sepc", MASK64 & ~1)
        plain(C.SCAUSE, "scause")
        plain(C.STVAL, "stval")
        r[C.SIP] = lambda: self.mip() & hart.mideleg
        w[C.SIP] = self._write_sip
        plain(C.STIMECMP, "stimecmp")
        r[C.SATP] = lambda: hart.satp
        w[C.SATP] = self._write_satp

    def _write_mstatus(self, value: int) -> None:
        hart = self.hart
        old = hart.mstatus
        new = (old & ~C.MSTATUS_WRITABLE) | (value & C.MSTATUS_WRITABLE)
        if (new >> C.MSTATUS_MPP_SHIFT) & 3 == 2:  # reserved: legalise to U
            new &= ~C.MSTATUS_MPP
        new = (new & ~(C.MSTATUS_UXL | C.MSTATUS_SXL)) | C.MSTATUS_FIXED
        hart.mstatus = new
        if (old ^ new) & (C.MSTATUS_SUM | C.MSTATUS_MXR):
            self.mmu.flush()

    def _write_mip(self, value: int) -> None:
        hart = self.hart
        writable = C.MIP_SW_WRITABLE
        if hart.menvcfg & C.MENVCFG_STCE:
            writable &= ~C.MIP_STIP
        hart.mip_sw = (hart.mip_sw & ~writable) | (value & writable)

    def _write_sip(self, value: int) -> None:
        hart = self.hart
        writable = C.MIP_SSIP & hart.mideleg
        hart.mip_sw = (hart.mip_sw & ~writable) | (value & writable)

    def _write_satp(self, value: int) -> None:
        mode = value >> C.SATP_MODE_SHIFT
        if mode not in (C.SATP_MODE_BARE, C.SATP_MODE_SV39):
            return  # unsupported modes leave satp unchanged (WARL)
        self.hart.satp = value
        self.mmu.flush()
        self.backend.flush_paged()

    def _write_pmpcfg(self, reg: int, value: int) -> None:
        hart = self.hart
        for k in range(8):
            i = 4 * reg + k
            if hart.pmpcfg[i] & C.PMP_L:
                continue
            cfg = (value >> (8 * k)) & 0x9F
            if cfg & C.PMP_W and not cfg & C.PMP_R:
                cfg &= ~C.PMP_W  # R=0, W=1 is reserved
            hart.pmpcfg[i] = cfg
        self._pmp_changed()

    def _write_pmpaddr(self, i: int, value: int) -> None:
        hart = self.hart
        if hart.pmpcfg[i] & C.PMP_L:
            return
        if i + 1 < C.PMP_ENTRIES:
            nxt = hart.pmpcfg[i + 1]
            if nxt & C.PMP_L and (nxt >> C.PMP_A_SHIFT) & 3 == C.PMP_TOR:
                return
        hart.pmpaddr[i] = value & C.PMPADDR_MASK
        self._pmp_changed()

    def _pmp_changed(self) -> None:
        self.mmu.flush()
        self.backend.flush_all()


def _highest(pending: int) -> int:
    for cause in C.IRQ_PRIORITY:
        if pending >> cause & 1:
            return cause
    raise AssertionError("no pending interrupt")


def _write_tvec(hart: Hart, name: str, value: int) -> None:
    if value & 3 >= 2:
        return  # reserved modes: the write is ignored, as QEMU does
    setattr(hart, name, value)
