"""VM phases and which actions are legal in each — decided here, in one table
(Firecracker's habit: the API layer only parses, this table rules)."""

from __future__ import annotations

import enum

from .errors import FailedPrecondition


class Phase(str, enum.Enum):
    STOPPED = "stopped"      # defined; not running (never started, powered off, or stopped)
    RUNNING = "running"
    PAUSED = "paused"
    CRASHED = "crashed"      # stopped by a fault; the reason is kept
    MIGRATING = "migrating"  # running here while a migration copies it away


_ANY = frozenset(Phase)
LEGAL: dict[str, frozenset[Phase]] = {
    "start": frozenset({Phase.STOPPED, Phase.CRASHED}),
    "pause": frozenset({Phase.RUNNING}),
    "resume": frozenset({Phase.PAUSED}),
    "stop": frozenset({Phase.RUNNING, Phase.PAUSED, Phase.CRASHED, Phase.STOPPED}),
    "destroy": _ANY - {Phase.MIGRATING},
    "snapshot": frozenset({Phase.RUNNING, Phase.PAUSED}),
    "console-write": frozenset({Phase.RUNNING, Phase.PAUSED, Phase.MIGRATING, Phase.STOPPED}),
    "migrate-out": frozenset({Phase.RUNNING, Phase.PAUSED}),
}


def check(action: str, phase: Phase, vm_id: str) -> None:
    if phase not in LEGAL[action]:
        allowed = ", ".join(sorted(p.value for p in LEGAL[action]))
        raise FailedPrecondition(f"cannot {action} VM {vm_id}: it is {phase.value} (allowed when {allowed})")
