"""PLIC (SiFive layout, as on QEMU virt) at 0x0C00_0000.

Sources 1..95 with priorities 0..7, a pending bitmap, per-context enables,
thresholds and claim/complete registers. Hart 0 has two contexts: 0 is M-mode
(drives mip.MEIP) and 1 is S-mode (drives mip.SEIP).

Pending bits behave as QEMU's ``sifive_plic``, the reference: a device raising
its line sets the source's pending bit, also while the source is claimed;
lowering the line leaves it set; a claim clears it. A completion ends the
claim of any source, enabled or not; a source pending meanwhile is then
claimable again. (The PLIC specification's gateway would instead ignore a
level-triggered source while it is claimed, re-sample it at completion, and
drop completions for sources the context has not enabled.) The devices here
raise their lines whenever their interrupt state is updated, as QEMU's do, so
a source pends as often as it does on QEMU.
"""

from __future__ import annotations

from typing import Any

from ..state import Fields, check_state

BASE = 0x0C00_0000
SIZE = 0x60_0000
NUM_SOURCES = 96
NUM_CONTEXTS = 2
PRIORITY_MASK = 7

PENDING_BASE = 0x1000
ENABLE_BASE = 0x2000
ENABLE_STRIDE = 0x80
CONTEXT_BASE = 0x20_0000
CONTEXT_STRIDE = 0x1000

STATE_VERSION = 1
_WORDS = (NUM_SOURCES + 31) // 32


class Plic:
    name = "plic"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.priority = [0] * NUM_SOURCES
        self.level = [False] * NUM_SOURCES
        self.pending = [False] * NUM_SOURCES
        self.claimed = [False] * NUM_SOURCES
        self.enable = [[False] * NUM_SOURCES for _ in range(NUM_CONTEXTS)]
        self.threshold = [0] * NUM_CONTEXTS

    # -- device side -----------------------------------------------------------

    def set_irq(self, source: int, level: bool) -> None:
        self.level[source] = level
        if level:
            self.pending[source] = True

    def line(self, source: int):
        """A callable a device raises/lowers its interrupt line with."""
        return lambda level: self.set_irq(source, level)

    def irq_pending(self, context: int) -> bool:
        if True not in self.pending:
            return False
        enable = self.enable[context]
        threshold = self.threshold[context]
        priority = self.priority
        pending = self.pending
        claimed = self.claimed
        for s in range(1, NUM_SOURCES):
            if pending[s] and enable[s] and priority[s] > threshold and not claimed[s]:
                return True
        return False

    # -- registers ------------------------------------------------------------------

    def _claim(self, context: int) -> int:
        enable = self.enable[context]
        best, best_prio = 0, self.threshold[context]
        for s in range(1, NUM_SOURCES):
            if self.pending[s] and enable[s] and self.priority[s] > best_prio and not self.claimed[s]:
                best, best_prio = s, self.priority[s]
        if best:
            self.pending[best] = False
            self.claimed[best] = True
        return best

    def _complete(self, context: int, source: int) -> None:
        if 0 < source < NUM_SOURCES:
            self.claimed[source] = False

    def read(self, offset: int, size: int) -> int:
        if offset < PENDING_BASE:
            src = offset >> 2
            return self.priority[src] if src < NUM_SOURCES else 0
        if offset < ENABLE_BASE:
            return _bits(self.pending, (offset - PENDING_BASE) >> 2)
        if offset < CONTEXT_BASE:
            ctx, rel = divmod(offset - ENABLE_BASE, ENABLE_STRIDE)
            if ctx < NUM_CONTEXTS:
                return _bits(self.enable[ctx], rel >> 2)
            return 0
        ctx, rel = divmod(offset - CONTEXT_BASE, CONTEXT_STRIDE)
        if ctx >= NUM_CONTEXTS:
            return 0
        if rel == 0:
            return self.threshold[ctx]
        if rel == 4:
            return self._claim(ctx)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        value &= 0xFFFFFFFF
        if offset < PENDING_BASE:
            src = offset >> 2
            if 0 < src < NUM_SOURCES:
                self.priority[src] = value & PRIORITY_MASK
            return
        if offset < ENABLE_BASE:
            return  # pending bits are read-only
        if offset < CONTEXT_BASE:
            ctx, rel = divmod(offset - ENABLE_BASE, ENABLE_STRIDE)
            word = rel >> 2
            if ctx < NUM_CONTEXTS and word < _WORDS:
                enable = self.enable[ctx]
                for bit in range(32):  # source 0's bit too: it reads back, as on QEMU (source 0 never pends)
                    src = word * 32 + bit
                    if src < NUM_SOURCES:
                        enable[src] = bool(value >> bit & 1)
            return
        ctx, rel = divmod(offset - CONTEXT_BASE, CONTEXT_STRIDE)
        if ctx >= NUM_CONTEXTS:
            return
        if rel == 0:
            self.threshold[ctx] = value & PRIORITY_MASK
        elif rel == 4:
            self._complete(ctx, value)

    # -- state ------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": self.name, "version": STATE_VERSION,
            "priority": list(self.priority),
            "level": _pack(self.level), "pending": _pack(self.pending), "claimed": _pack(self.claimed),
            "enable": [_pack(e) for e in self.enable],
            "threshold": list(self.threshold),
        }

    def from_state(self, state: dict[str, Any]) -> None:
        check_state(state, self.name, STATE_VERSION)
        f = Fields(state, self.name)
        bits = PRIORITY_MASK.bit_length()
        priority = f.uints("priority", NUM_SOURCES, bits)
        threshold = f.uints("threshold", NUM_CONTEXTS, bits)
        enable = [_unpack(e) for e in f.blobs("enable", NUM_CONTEXTS, _WORDS * 4)]
        level, pending, claimed = (_unpack(f.blob(k, _WORDS * 4, exact=True)) for k in ("level", "pending", "claimed"))
        self.priority, self.enable, self.threshold = priority, enable, threshold
        self.level, self.pending, self.claimed = level, pending, claimed


def _bits(flags: list[bool], word: int) -> int:
    value = 0
    for bit in range(32):
        src = word * 32 + bit
        if src < NUM_SOURCES and flags[src]:
            value |= 1 << bit
    return value


def _pack(flags: list[bool]) -> bytes:
    return sum(1 << i for i, f in enumerate(flags) if f).to_bytes(_WORDS * 4, "little")


def _unpack(data: bytes) -> list[bool]:
    value = int.from_bytes(data, "little")
    return [bool(value >> i & 1) for i in range(NUM_SOURCES)]
