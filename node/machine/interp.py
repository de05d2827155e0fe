"""The ``interp`` execution backend: the reference decode-and-dispatch interpreter.

Instructions are decoded once into closures (instantiated from the templates of
:mod:`.isa`) and grouped by basic block; running a block is a loop over its
closures. Blocks end at a branch, a jump, a system instruction, a page boundary
or :data:`MAX_BLOCK` instructions. Decoded blocks are cached per *regime* (the
privilege and memory-access mode, see :meth:`System.update_regime`) and keyed by
virtual pc; they are dropped when their page is written (the RAM store hook),
on FENCE.I, and — for translated regimes — on SFENCE.VMA and satp writes.

Determinism: the run loop never runs past the deadline it is given (the next
timer event, the end of the time slice, a snapshot point); when a block is
longer than what is left, only its first instructions run. So interrupts are
taken at an exact retired-instruction count whatever the block boundaries are,
and a restored snapshot continues bit-identically.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any, Callable

from . import isa
from .bus import BusError
from .decode import Decoded, decode, expand_compressed
from .hart import X0_SINK
from .memory import PAGE_SHIFT, PAGE_SIZE, RAM_BASE
from .trap import INST_ACCESS_FAULT, SyncExit, Trap

if TYPE_CHECKING:
    from .machine import Machine

MAX_BLOCK = 64

# Block: (closures, instruction count, ends with a system instruction, pcs).
Block = tuple[tuple[Callable[[], Any], ...], int, bool, tuple[int, ...]]

_PARAMS = (
    "R", "rd", "rs1", "rs2", "imm", "v", "t", "n", "pc", "idx", "inst", "d",
    "K1", "K2", "K4", "K8", "u8", "s8", "u16", "s16", "u32", "s32", "u64",
    "hooks", "hw", "ld", "st", "tr", "tw", "amo", "lr", "sc", "fn", "aop", "size",
)
_FACTORY_GLOBALS = {"Trap": Trap, "SyncExit": SyncExit, "__builtins__": __builtins__}
_factories: dict[tuple[str, bool], Callable[..., Callable[[], Any]]] = {}


def _factory(body: str, tail: bool) -> Callable[..., Callable[[], Any]]:
    """Compile (once per template text) a function that instantiates the template
    as a closure over its operands."""
    key = (body, tail)
    factory = _factories.get(key)
    if factory is None:
        code = body + ("\nreturn n" if tail else "")
        src = (
            f"def factory({', '.join(_PARAMS)}):\n"
            f"    def op():\n{textwrap.indent(code, ' ' * 8)}\n"
            "    return op\n"
        )
        namespace: dict[str, Any] = dict(_FACTORY_GLOBALS)
        exec(compile(src, f"<template {body.splitlines()[0]!r}>", "exec"), namespace)
        factory = _factories[key] = namespace["factory"]
    return factory


_TERMINATORS = (isa.BRANCH, isa.SYSTEM, isa.TRAP)

RegimeKey = tuple[int, int, bool]


class _PageCode:
    """Translated code on one physical RAM page: which bytes, which blocks.
    Stores to the page that miss those bytes (data sharing a page with code)
    leave the translations alone, as QEMU's code bitmaps do."""

    __slots__ = ("bytes", "blocks")

    def __init__(self) -> None:
        self.bytes = bytearray(PAGE_SIZE)
        self.blocks: list[tuple[int, int, RegimeKey, int]] = []  # (lo, hi, regime, pc)

    def add(self, lo: int, hi: int, key: RegimeKey, pc: int) -> None:
        self.blocks.append((lo, hi, key, pc))
        self.bytes[lo:hi] = b"\x01" * (hi - lo)

    def rebuild(self) -> None:
        self.bytes = bytearray(PAGE_SIZE)
        for lo, hi, _, _ in self.blocks:
            self.bytes[lo:hi] = b"\x01" * (hi - lo)


class Interpreter:
    """Executes guest code for one machine."""

    name = "interp"

    def __init__(self, machine: "Machine") -> None:
        self.machine = machine
        self.hart = machine.hart
        self.system = machine.system
        self.mmu = machine.mmu
        self.bus = machine.bus
        self.ram = machine.ram
        self.caches: dict[RegimeKey, dict[int, Block]] = {}
        self.code_pages: dict[int, _PageCode] = {}
        self.ram.on_code_write = self._code_written
        self.system.backend = self
        self._envs: dict[tuple[int, bool], dict[str, Any]] = {}
        self.blocks_built = 0
        self._system_fns = {
            "ecall": self.system.ecall, "ebreak": self.system.ebreak,
            "mret": self.system.mret, "sret": self.system.sret, "wfi": self.system.wfi,
            "sfence.vma": self.system.sfence_vma, "fence.i": self.system.fence_i,
        }
        for name in ("csrrw", "csrrs", "csrrc", "csrrwi", "csrrsi", "csrrci"):
            self._system_fns[name] = self.system.csr_instruction

    # -- cache management (called by the system layer and RAM) ----------------------

    def flush_all(self) -> None:
        for cache in self.caches.values():
            cache.clear()
        self.code_pages.clear()
        self.ram.clear_code_marks()

    def flush_paged(self) -> None:
        """Drop blocks whose fetch was translated (S and U mode)."""
        stale = [key for key in self.caches if key[0] != 3]
        if not stale:
            return
        for key in stale:
            self.caches[key].clear()
        stale_set = set(stale)
        for page, info in list(self.code_pages.items()):
            kept = [b for b in info.blocks if b[2] not in stale_set]
            if len(kept) == len(info.blocks):
                continue
            if kept:
                info.blocks = kept
                info.rebuild()
            else:
                del self.code_pages[page]
                self.ram.unmark_code(page)

    def reset_environment(self) -> None:
        """RAM views changed (restore): forget every closure."""
        self._envs.clear()
        self.flush_all()

    def _code_written(self, off: int, size: int) -> bool:
        """A store hit a page holding translated code: drop the blocks whose
        bytes it overwrote. Returns True if it overwrote any."""
        page = off >> PAGE_SHIFT
        info = self.code_pages.get(page)
        if info is None:
            self.ram.unmark_code(page)
            return False
        lo = off & (PAGE_SIZE - 1)
        hi = min(lo + size, PAGE_SIZE)
        if info.bytes.find(1, lo, hi) < 0:
            return False
        kept = []
        for entry in info.blocks:
            if entry[0] < hi and lo < entry[1]:
                cache = self.caches.get(entry[2])
                if cache is not None:
                    cache.pop(entry[3], None)
            else:
                kept.append(entry)
        if kept:
            info.blocks = kept
            info.rebuild()
        else:
            del self.code_pages[page]
            self.ram.unmark_code(page)
        return True

    # -- translation ---------------------------------------------------------------------

    def _env(self, data_priv: int, bare: bool) -> dict[str, Any]:
        key = (data_priv, bare)
        env = self._envs.get(key)
        if env is None:
            ram = self.ram
            mmu = self.mmu
            env = dict.fromkeys(_PARAMS)
            env.update(isa.range_masks(ram.size))
            env.update(
                R=self.hart.regs, u8=ram.u8, s8=ram.s8, u16=ram.u16, s16=ram.s16,
                u32=ram.u32, s32=ram.s32, u64=ram.u64, hooks=ram.hooks, hw=ram.hooked_write,
                ld=mmu.load, st=mmu.store, amo=mmu.amo, lr=mmu.lr, sc=mmu.sc,
                tr=mmu.tlb_r[data_priv].get, tw=mmu.tlb_w[data_priv].get,
            )
            self._envs[key] = env
        return env

    def _make_op(self, env: dict[str, Any], dec: Decoded | None, raw: int, pc: int, npc: int,
                 idx: int, regime: str, tail: bool) -> Callable[[], Any]:
        args = dict(env)
        args.update(pc=pc, idx=idx, n=npc, inst=raw)
        if dec is None:
            return _factory(isa.TRAP_TEMPLATE, False)(**args)
        name = dec.name
        args.update(rd=dec.rd or X0_SINK, rs1=dec.rs1, rs2=dec.rs2, imm=dec.imm,
                    v=isa.precompute(name, dec.imm, pc), d=isa.ram_delta(dec.imm))
        kind = isa.kind_of(name)
        if kind == isa.BRANCH:
            args["t"] = (pc + dec.imm) & isa.M64
        elif kind == isa.SYSTEM:
            args["fn"] = self._system_fns[name]
        elif "." in name and name not in ("fence.i", "sfence.vma"):
            base, width = name.split(".")
            args["size"] = 4 if width == "w" else 8
            args["aop"] = base
        body = isa.template_for(name, regime)
        return _factory(body, tail and kind not in _TERMINATORS)(**args)

    def _fetch(self, va: int) -> tuple[int, int, list[tuple[int, int]]]:
        """(raw instruction, length, physical byte spans it occupies) at ``va``."""
        mmu = self.mmu
        bus = self.bus
        pa = mmu.translate_fetch(va, 2)
        lo = bus.fetch16(pa)
        if lo & 3 != 3:
            return lo, 2, [(pa, pa + 2)]
        va2 = va + 2
        if va2 & (PAGE_SIZE - 1):
            pa2 = pa + 2
            mmu.translate_fetch(va, 4)  # PMP check of the whole instruction
            spans = [(pa, pa + 4)]
        else:
            try:
                pa2 = mmu.translate_fetch(va2, 2)
            except Trap as trap:
                trap.tval = va2
                raise
            spans = [(pa, pa + 2), (pa2, pa2 + 2)]
        return lo | (bus.fetch16(pa2) << 16), 4, spans

    def translate(self, pc: int) -> Block:
        regime_key = self.system.regime
        priv, data_priv, bare = regime_key
        env = self._env(data_priv, bare)
        regime = isa.BARE if bare else isa.TLB
        page_end = (pc | (PAGE_SIZE - 1)) + 1
        entries: list[tuple[Decoded | None, int, int, int]] = []  # (decoded, raw, pc, npc)
        spans: dict[int, list[int]] = {}  # RAM page -> [lo, hi) of the block's bytes on it
        cur = pc
        while True:
            try:
                raw, ilen, pas = self._fetch(cur)
            except (Trap, BusError) as exc:
                if entries:
                    break  # the next block will raise the fault precisely
                if isinstance(exc, BusError):
                    raise Trap(INST_ACCESS_FAULT, cur, cur, 0) from None
                exc.epc, exc.idx = cur, 0
                raise
            for start, end in pas:
                off = start - RAM_BASE
                if 0 <= off < self.ram.size:
                    page, lo = off >> PAGE_SHIFT, off & (PAGE_SIZE - 1)
                    span = spans.get(page)
                    if span is None:
                        spans[page] = [lo, lo + end - start]
                    else:
                        span[0] = min(span[0], lo)
                        span[1] = max(span[1], lo + end - start)
            inst = raw if ilen == 4 else expand_compressed(raw)
            dec = decode(inst) if inst is not None else None
            npc = cur + ilen
            entries.append((dec, raw, cur, npc))
            kind = isa.TRAP if dec is None else isa.kind_of(dec.name)
            cur = npc
            if kind in _TERMINATORS or len(entries) >= MAX_BLOCK or cur >= page_end:
                break
        last = len(entries) - 1
        ops = tuple(
            self._make_op(env, dec, raw, ipc, npc, i, regime, i == last)
            for i, (dec, raw, ipc, npc) in enumerate(entries)
        )
        last_dec = entries[last][0]
        ends_system = last_dec is not None and isa.kind_of(last_dec.name) == isa.SYSTEM
        block: Block = (ops, len(ops), ends_system, tuple(e[2] for e in entries) + (cur,))
        cache = self.caches.get(regime_key)
        if cache is None:
            cache = self.caches[regime_key] = {}
        cache[pc] = block
        ram = self.ram
        for page, (lo, hi) in spans.items():
            info = self.code_pages.get(page)
            if info is None:
                info = self.code_pages[page] = _PageCode()
            info.add(lo, hi, regime_key, pc)
            ram.mark_code(page)
        self.blocks_built += 1
        return block

    # -- the run loop ---------------------------------------------------------------------

    def run(self, deadline: int) -> None:
        """Execute until ``deadline`` instructions have retired, or until the
        system layer must look at the machine (trap, system instruction, MMIO
        store, code modification)."""
        hart = self.hart
        regime_key = self.system.regime
        cache = self.caches.get(regime_key)
        if cache is None:
            cache = self.caches[regime_key] = {}
        get = cache.get
        translate = self.translate
        pc = hart.pc
        icount = hart.icount
        try:
            while icount < deadline:
                block = get(pc)
                if block is None:
                    hart.icount = icount
                    block = translate(pc)
                ops, count, ends_system, pcs = block
                hart.icount = icount
                if icount + count > deadline:
                    k = deadline - icount
                    for op in ops[:k]:
                        op()
                    pc = pcs[k]
                    icount = deadline
                    break
                for op in ops:
                    r = op()
                pc = r
                icount += count
                if ends_system:
                    break
        except Trap as trap:
            hart.icount = icount + trap.idx
            hart.idx = 0
            self.system.take_trap(trap.cause, trap.tval, trap.epc)
            return
        except SyncExit as ex:
            pc = ex.next_pc
            icount += ex.idx + 1
        hart.pc = pc
        hart.icount = icount
        hart.idx = 0
