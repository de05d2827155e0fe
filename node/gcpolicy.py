"""When the node's garbage collector may run: not while a migration's guest waits.

CPython's full collection (generation 2) walks every tracked object. A node
holding a machine has ~50,000 of them (the interpreter's instruction closures
and cells, devices, gRPC state) and a full collection takes 8-18 ms on the
reference machine (``gc.callbacks`` timings during ``bench/migration.py``) —
as long as a whole downtime budget, or a stall of a tenth of a short round 0.
So a migration holds collection off on both nodes:

* ``Hold(FULL)`` from the job's start to its end: no full collection; the
  young generations still collect (under 1 ms each);
* ``Hold(ALL)`` from the guest's pause on the source, and from the final
  state's arrival on the destination, to the hand-over: no collection at all.

Holds nest (several migrations at once) and are released idempotently; when
the last hold of a kind goes, the collector's previous settings come back and
deferred work runs at its next natural trigger. Reference counting frees
acyclic garbage all along, so a hold only defers cycles.
"""

from __future__ import annotations

import gc

FULL = "full"
ALL = "all"
_NEVER = 1 << 30  # a generation-2 threshold that is never reached

_held = {FULL: 0, ALL: 0}
_saved_threshold: tuple[int, ...] | None = None
_was_enabled = True


def _acquire(kind: str) -> None:
    global _saved_threshold, _was_enabled
    if _held[kind] == 0:
        if kind == FULL:
            _saved_threshold = gc.get_threshold()
            gc.set_threshold(_saved_threshold[0], _saved_threshold[1], _NEVER)
        else:
            _was_enabled = gc.isenabled()
            gc.disable()
    _held[kind] += 1


def _release(kind: str) -> None:
    _held[kind] -= 1
    if _held[kind] == 0:
        if kind == FULL and _saved_threshold is not None:
            gc.set_threshold(*_saved_threshold)
        elif kind == ALL and _was_enabled:
            gc.enable()


class Hold:
    """One hold on the collector, taken at construction."""

    def __init__(self, kind: str) -> None:
        if kind not in _held:
            raise ValueError(f"unknown collector hold {kind!r}")
        self.kind = kind
        self.active = True
        _acquire(kind)

    def release(self) -> None:
        if self.active:
            self.active = False
            _release(self.kind)


def held(kind: str) -> int:
    """How many holds of ``kind`` are active (tests, metrics)."""
    return _held[kind]


class Holds:
    """The holds one migration job has taken, released together (idempotent)."""

    def __init__(self) -> None:
        self._holds: list[Hold] = []

    def take(self, kind: str) -> None:
        self._holds.append(Hold(kind))

    def release(self) -> None:
        for hold in self._holds:
            hold.release()
        self._holds.clear()
