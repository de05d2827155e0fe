"""Address translation: Sv39, PMP and the software TLB (DESIGN.md §2 "Hart").

The execution fast path handles aligned RAM accesses itself (physically, or
through the TLB dictionaries owned here); everything else comes to the slow
paths of :class:`Mmu` — :meth:`Mmu.load`, :meth:`Mmu.store`, :meth:`Mmu.amo`,
:meth:`Mmu.lr`, :meth:`Mmu.sc` — which translate, check PMP, fill the TLB and
reach RAM or MMIO through the bus.

The TLB is one dict per (effective data privilege, read/write) mapping a
virtual page number to ``ram_offset - virtual_address`` for the page. Entries
exist only for RAM pages that are uniformly allowed by PMP; write entries only
once the PTE's D bit is set, so the first store walks the table and sets D in
hardware, as QEMU does. SFENCE.VMA, satp writes, PMP writes and changes to
mstatus.SUM/MXR flush it (see :mod:`.system`).
"""

from __future__ import annotations

from . import csr as C
from . import pmp
from .bus import Bus, BusError
from .hart import Hart, MASK64
from .memory import PAGE_SHIFT, PAGE_SIZE
from .trap import (
    INST_ACCESS_FAULT, INST_PAGE_FAULT, LOAD_ACCESS_FAULT, LOAD_ADDR_MISALIGNED,
    LOAD_PAGE_FAULT, STORE_ACCESS_FAULT, STORE_ADDR_MISALIGNED, STORE_PAGE_FAULT,
    SyncExit, Trap,
)

FETCH = 0
LOAD = 1
STORE = 2

_PAGE_FAULT = {FETCH: INST_PAGE_FAULT, LOAD: LOAD_PAGE_FAULT, STORE: STORE_PAGE_FAULT}
_ACCESS_FAULT = {FETCH: INST_ACCESS_FAULT, LOAD: LOAD_ACCESS_FAULT, STORE: STORE_ACCESS_FAULT}
_PMP_BIT = {FETCH: pmp.EXEC, LOAD: pmp.READ, STORE: pmp.WRITE}

PTE_V = 1 << 0
PTE_R = 1 << 1
PTE_W = 1 << 2
PTE_X = 1 << 3
PTE_U = 1 << 4
PTE_G = 1 << 5
PTE_A = 1 << 6
PTE_D = 1 << 7
PTE_PPN_MASK = (1 << 44) - 1

TLB_LIMIT = 8192

_AMO_FUNCS = {
    "amoswap": lambda old, src, bits: src,
    "amoadd": lambda old, src, bits: (old + src) & ((1 << bits) - 1),
    "amoxor": lambda old, src, bits: old ^ src,
    "amoand": lambda old, src, bits: old & src,
    "amoor": lambda old, src, bits: old | src,
    "amomin": lambda old, src, bits: old if _signed(old, bits) <= _signed(src, bits) else src,
    "amomax": lambda old, src, bits: old if _signed(old, bits) >= _signed(src, bits) else src,
    "amominu": lambda old, src, bits: old if old <= src else src,
    "amomaxu": lambda old, src, bits: old if old >= src else src,
}


def _signed(value: int, bits: int) -> int:
    sign = 1 << (bits - 1)
    return (value ^ sign) - sign


def _fault_va(va: int, pa: int, exc: BusError) -> int:
    """The virtual address of the part of an access (``va`` at ``pa``) that the bus refused."""
    return va if exc.paddr is None else (va + exc.paddr - pa) & MASK64


def _extend(value: int, size: int) -> int:
    """Sign-extend a ``size``-byte value to an unsigned 64-bit register value."""
    bits = size * 8
    sign = 1 << (bits - 1)
    return ((value ^ sign) - sign) & MASK64


class Mmu:
    def __init__(self, hart: Hart, bus: Bus) -> None:
        self.hart = hart
        self.bus = bus
        self.ram = bus.ram
        self.tlb_r: dict[int, dict[int, int]] = {p: {} for p in (C.PRV_U, C.PRV_S, C.PRV_M)}
        self.tlb_w: dict[int, dict[int, int]] = {p: {} for p in (C.PRV_U, C.PRV_S, C.PRV_M)}
        # The effective privilege of data accesses (mstatus.MPRV) and whether
        # they are translated; kept current by System.update_regime().
        self.data_priv = C.PRV_M
        self.pmp_locked = False

    def flush(self) -> None:
        for table in (*self.tlb_r.values(), *self.tlb_w.values()):
            table.clear()

    # -- translation ---------------------------------------------------------------

    def paged(self, priv: int) -> bool:
        return priv != C.PRV_M and (self.hart.satp >> C.SATP_MODE_SHIFT) == C.SATP_MODE_SV39

    def translate(self, va: int, size: int, access: int, priv: int) -> int:
        """Virtual to physical for an access of ``size`` bytes within one page;
        raises Trap (cause and tval set, epc not yet) on a fault."""
        if self.paged(priv):
            pa = self._walk(va, access, priv)
        else:
            pa = va
        hart = self.hart
        if (priv != C.PRV_M or self.pmp_locked) and not pmp.check(
                hart.pmpcfg, hart.pmpaddr, pa, size, _PMP_BIT[access], priv):
            raise Trap(_ACCESS_FAULT[access], va)
        return pa

    def _walk(self, va: int, access: int, priv: int) -> int:
        hart = self.hart
        top = va >> 38
        if top != 0 and top != (1 << 26) - 1:
            raise Trap(_PAGE_FAULT[access], va)
        mstatus = hart.mstatus
        table = (hart.satp & C.SATP_PPN_MASK) << PAGE_SHIFT
        bus = self.bus
        for level in (2, 1, 0):
            pte_addr = table + ((va >> (PAGE_SHIFT + 9 * level)) & 0x1FF) * 8
            if not pmp.check(hart.pmpcfg, hart.pmpaddr, pte_addr, 8, pmp.READ, C.PRV_S):
                raise Trap(_ACCESS_FAULT[access], va)
            try:
                pte = bus.load(pte_addr, 8)
            except BusError:
                raise Trap(_ACCESS_FAULT[access], va) from None
            if not pte & PTE_V or (pte & (PTE_R | PTE_W)) == PTE_W or pte >> 54:
                raise Trap(_PAGE_FAULT[access], va)
            if not pte & (PTE_R | PTE_X):
                if level == 0 or pte & (PTE_A | PTE_D | PTE_U):
                    raise Trap(_PAGE_FAULT[access], va)
                table = ((pte >> 10) & PTE_PPN_MASK) << PAGE_SHIFT
                continue
            # Leaf: permission checks.
            if pte & PTE_U:
                if priv == C.PRV_S and (access == FETCH or not mstatus & C.MSTATUS_SUM):
                    raise Trap(_PAGE_FAULT[access], va)
            elif priv == C.PRV_U:
                raise Trap(_PAGE_FAULT[access], va)
            if access == FETCH:
                ok = pte & PTE_X
            elif access == LOAD:
                ok = pte & PTE_R or (mstatus & C.MSTATUS_MXR and pte & PTE_X)
            else:
                ok = pte & PTE_W
            if not ok:
                raise Trap(_PAGE_FAULT[access], va)
            ppn = (pte >> 10) & PTE_PPN_MASK
            span_bits = 9 * level
            if ppn & ((1 << span_bits) - 1):
                raise Trap(_PAGE_FAULT[access], va)  # misaligned superpage
            need = PTE_A | (PTE_D if access == STORE else 0)
            if pte & need != need:
                if not pmp.check(hart.pmpcfg, hart.pmpaddr, pte_addr, 8, pmp.WRITE, C.PRV_S):
                    raise Trap(_ACCESS_FAULT[access], va)
                try:
                    bus.store(pte_addr, 8, pte | need)
                except BusError:
                    raise Trap(_ACCESS_FAULT[access], va) from None
            offset_bits = PAGE_SHIFT + span_bits
            return ((ppn >> span_bits) << offset_bits) | (va & ((1 << offset_bits) - 1))
        raise AssertionError("unreachable")

    def _fill(self, va: int, pa: int, access: int, priv: int) -> None:
        """Cache the page of ``va`` in the data TLB when that is safe."""
        ram = self.ram
        page_pa = pa & ~(PAGE_SIZE - 1)
        off = page_pa - ram.base
        if not 0 <= off <= ram.size - PAGE_SIZE:
            return
        hart = self.hart
        if (priv != C.PRV_M or self.pmp_locked) and not pmp.page_uniform(
                hart.pmpcfg, hart.pmpaddr, page_pa, PAGE_SIZE, _PMP_BIT[access], priv):
            return
        table = (self.tlb_w if access == STORE else self.tlb_r)[priv]
        if len(table) >= TLB_LIMIT:
            table.clear()
        table[va >> PAGE_SHIFT] = off - (va & ~(PAGE_SIZE - 1))

    def translate_fetch(self, va: int, size: int) -> int:
        return self.translate(va, size, FETCH, self.hart.priv)

    # -- data slow paths (called from the execution fast path) ------------------------

    def _data(self, va: int, size: int, access: int) -> int:
        priv = self.data_priv
        pa = self.translate(va, size, access, priv)
        self._fill(va, pa, access, priv)
        return pa

    def load(self, va: int, size: int, signed: bool, pc: int, idx: int) -> int:
        self.hart.idx = idx
        try:
            first = PAGE_SIZE - (va & (PAGE_SIZE - 1))
            if first >= size:
                pa = self._data(va, size, LOAD)
                try:
                    value = self.bus.load(pa, size)
                except BusError as exc:
                    raise Trap(LOAD_ACCESS_FAULT, _fault_va(va, pa, exc), pc, idx) from None
            else:  # crosses a page boundary: two translations
                pa = self._data(va, first, LOAD)
                try:
                    lo = self.bus.load(pa, first)
                except BusError as exc:
                    raise Trap(LOAD_ACCESS_FAULT, _fault_va(va, pa, exc), pc, idx) from None
                va2 = (va + first) & MASK64
                pa2 = self._data(va2, size - first, LOAD)
                try:
                    hi = self.bus.load(pa2, size - first)
                except BusError as exc:  # mtval: the address of the part that faulted (as QEMU)
                    raise Trap(LOAD_ACCESS_FAULT, _fault_va(va2, pa2, exc), pc, idx) from None
                value = lo | (hi << (8 * first))
        except Trap as trap:
            trap.epc, trap.idx = pc, idx
            raise
        return _extend(value, size) if signed else value

    def store(self, va: int, size: int, value: int, pc: int, idx: int) -> bool:
        """Returns True when the run loop must look at machine state again."""
        self.hart.idx = idx
        value &= (1 << (8 * size)) - 1
        try:
            first = PAGE_SIZE - (va & (PAGE_SIZE - 1))
            if first >= size:
                pa = self._data(va, size, STORE)
                try:
                    return self.bus.store(pa, size, value)
                except BusError as exc:
                    raise Trap(STORE_ACCESS_FAULT, _fault_va(va, pa, exc), pc, idx) from None
            va2 = (va + first) & MASK64
            pa1 = self._data(va, first, STORE)
            pa2 = self._data(va2, size - first, STORE)
            try:
                changed = self.bus.store(pa1, first, value & ((1 << (8 * first)) - 1))
            except BusError as exc:
                raise Trap(STORE_ACCESS_FAULT, _fault_va(va, pa1, exc), pc, idx) from None
            try:
                return self.bus.store(pa2, size - first, value >> (8 * first)) or changed
            except BusError as exc:  # mtval: the address of the part that faulted (as QEMU)
                raise Trap(STORE_ACCESS_FAULT, _fault_va(va2, pa2, exc), pc, idx) from None
        except Trap as trap:
            trap.epc, trap.idx = pc, idx
            raise

    def _atomic_pa(self, va: int, size: int, misaligned_cause: int, access: int, pc: int, idx: int) -> int:
        if va & (size - 1):
            raise Trap(misaligned_cause, va, pc, idx)
        try:
            pa = self._data(va, size, access)
            if access == STORE and (self.data_priv != C.PRV_M or self.pmp_locked):
                hart = self.hart
                if not pmp.check(hart.pmpcfg, hart.pmpaddr, pa, size, pmp.READ, self.data_priv):
                    raise Trap(STORE_ACCESS_FAULT, va)
        except Trap as trap:
            trap.epc, trap.idx = pc, idx
            raise
        return pa

    def amo(self, op: str, size: int, rd: int, va: int, src: int, pc: int, idx: int, npc: int) -> None:
        """A read-modify-write of RAM or of a device register (as QEMU does;
        whether a device supports AMOs is the platform's choice)."""
        self.hart.idx = idx
        pa = self._atomic_pa(va, size, STORE_ADDR_MISALIGNED, STORE, pc, idx)
        bits = size * 8
        try:
            old = self.bus.load(pa, size)
            new = _AMO_FUNCS[op](old, src & ((1 << bits) - 1), bits)
            changed = self.bus.store(pa, size, new)
        except BusError:
            raise Trap(STORE_ACCESS_FAULT, va, pc, idx) from None
        self.hart.regs[rd] = _extend(old, size)
        if changed:
            raise SyncExit(npc, idx)

    def lr(self, size: int, rd: int, va: int, pc: int, idx: int) -> None:
        self.hart.idx = idx
        pa = self._atomic_pa(va, size, LOAD_ADDR_MISALIGNED, LOAD, pc, idx)
        try:
            value = self.bus.load(pa, size)
        except BusError:
            raise Trap(LOAD_ACCESS_FAULT, va, pc, idx) from None
        hart = self.hart
        hart.res_addr = va
        hart.res_val = value
        hart.regs[rd] = _extend(value, size)

    def sc(self, size: int, rd: int, va: int, src: int, pc: int, idx: int, npc: int) -> None:
        """Store-conditional with QEMU's semantics: it succeeds when the address
        matches the reservation and memory still holds the value LR read."""
        hart = self.hart
        hart.idx = idx
        if va != hart.res_addr:
            hart.res_addr = -1
            hart.regs[rd] = 1
            return
        hart.res_addr = -1
        pa = self._atomic_pa(va, size, STORE_ADDR_MISALIGNED, STORE, pc, idx)
        try:
            if self.bus.load(pa, size) != hart.res_val:
                hart.regs[rd] = 1
                return
            changed = self.bus.store(pa, size, src & ((1 << (8 * size)) - 1))
        except BusError:
            raise Trap(STORE_ACCESS_FAULT, va, pc, idx) from None
        hart.regs[rd] = 0
        if changed:
            raise SyncExit(npc, idx)
