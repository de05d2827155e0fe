"""Physical memory protection (privileged spec 1.12 §3.7): 16 entries, TOR, NA4
and NAPOT matching, granularity 4 bytes (G=0), as on QEMU's virt board.

Pure functions over the hart's ``pmpcfg``/``pmpaddr`` lists; the MMU calls
:func:`check` on the slow path and :func:`page_uniform` to decide whether a
whole page may be cached in the software TLB.
"""

from __future__ import annotations

from . import csr as C

READ = C.PMP_R
WRITE = C.PMP_W
EXEC = C.PMP_X

_MATCH_NONE = 0
_MATCH_FULL = 1
_MATCH_PARTIAL = 2


def entry_range(pmpcfg: list[int], pmpaddr: list[int], i: int) -> tuple[int, int] | None:
    """The byte range [lo, hi) entry ``i`` covers, or None when it is off/empty."""
    mode = (pmpcfg[i] >> C.PMP_A_SHIFT) & 3
    addr = pmpaddr[i]
    if mode == C.PMP_OFF:
        return None
    if mode == C.PMP_TOR:
        lo = (pmpaddr[i - 1] << 2) if i else 0
        hi = addr << 2
        return (lo, hi) if lo < hi else None
    if mode == C.PMP_NA4:
        lo = addr << 2
        return lo, lo + 4
    ones = (addr ^ (addr + 1))  # trailing ones plus the first zero, as a mask
    lo = (addr & ~ones) << 2
    return lo, lo + ((ones + 1) << 2)


def _find(pmpcfg: list[int], pmpaddr: list[int], pa: int, size: int) -> tuple[int, int]:
    """(match kind, entry index) of the lowest-numbered entry overlapping the range."""
    end = pa + size
    for i in range(C.PMP_ENTRIES):
        rng = entry_range(pmpcfg, pmpaddr, i)
        if rng is None:
            continue
        lo, hi = rng
        if pa >= lo and end <= hi:
            return _MATCH_FULL, i
        if pa < hi and lo < end:
            return _MATCH_PARTIAL, i
    return _MATCH_NONE, -1


def check(pmpcfg: list[int], pmpaddr: list[int], pa: int, size: int, access: int, priv: int) -> bool:
    """Whether an access of ``size`` bytes at ``pa`` with permission bit ``access``
    (READ/WRITE/EXEC) from privilege ``priv`` is allowed."""
    kind, i = _find(pmpcfg, pmpaddr, pa, size)
    if kind == _MATCH_NONE:
        # No entry matches: M-mode succeeds; S/U fail because entries exist.
        return priv == C.PRV_M
    if kind == _MATCH_PARTIAL:
        return False
    cfg = pmpcfg[i]
    if priv == C.PRV_M and not cfg & C.PMP_L:
        return True
    return bool(cfg & access)


def page_uniform(pmpcfg: list[int], pmpaddr: list[int], page_pa: int, page_size: int,
                 access: int, priv: int) -> bool:
    """True when every access inside the page gets the same (allowing) answer,
    so the page may be cached in the TLB."""
    kind, i = _find(pmpcfg, pmpaddr, page_pa, page_size)
    if kind == _MATCH_PARTIAL:
        return False
    if kind == _MATCH_NONE:
        return priv == C.PRV_M
    cfg = pmpcfg[i]
    if priv == C.PRV_M and not cfg & C.PMP_L:
        return True
    return bool(cfg & access)


def any_locked(pmpcfg: list[int]) -> bool:
    return any(cfg & C.PMP_L and (cfg >> C.PMP_A_SHIFT) & 3 for cfg in pmpcfg)
