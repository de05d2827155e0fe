"""The sending side of a live migration as a state machine (sans-I/O).

```
SETUP --begin--> ITERATING --stop--> STOP_AND_COPY --sent--> AWAIT_VERIFY
   ITERATING --round_done--> ITERATING | STOP_AND_COPY (convergence) | ABORTED
   AWAIT_VERIFY --verified--> AWAIT_DECISION --decide(commit)--> COMMITTED
                                             --decide(abort)---> ABORTED
   any phase before COMMITTED --abort--> ABORTED
```

After each pre-copy round, :meth:`SourceMachine.round_done` decides what
happens next from measured figures, as QEMU does: expected downtime = pages
still dirty x the larger of a page's time at the measured bandwidth and the
measured cost of one scattered page (``page_seconds``), plus the measured
cost of the rest of the downtime (``handover_seconds``); stop iterating once
it is under the downtime limit; otherwise, when rounds stop shrinking and
auto-converge is on, throttle the guest harder; past ``max_rounds`` or the
timeout, do what ``on_timeout`` says (``abort`` or ``force`` stop-and-copy).
An event that is illegal in the current phase raises
:class:`IllegalTransition` naming both.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

PAGE_SIZE = 4096

THROTTLE_INITIAL = 0.2
THROTTLE_STEP = 0.1
THROTTLE_MAX = 0.99
# A round "stops shrinking" when it dirtied at least this share of the previous one.
NOT_SHRINKING = 0.9
# What a stop-and-copy costs besides sending the dirty pages: device state, the
# destination's verification, the controller's hand-over record, the resume
# (measured on loopback: 3-6 ms). Counted so the downtime limit is the real one.
# This is the guess before a node has measured its own (Migrations.handover_seconds).
HANDOVER_SECONDS = 0.005
# What one dirty page costs the stop-and-copy before any was measured on this
# node: scattered pages are read, hashed and written one by one, at 5-8 µs
# each here (both ends), where round 0 streams whole windows at ~4 µs a page. The
# node then keeps what its own stop-and-copies measured (Migrations.page_seconds).
PAGE_SECONDS = 7e-6
# Under the limit, one more round is still worth it while rounds shrink this
# fast: it costs little and leaves less for the guest-visible pause.
SHRINKING_FAST = 0.5


class Phase(str, enum.Enum):
    SETUP = "setup"
    ITERATING = "active"
    STOP_AND_COPY = "stop-and-copy"
    AWAIT_VERIFY = "stop-and-copy "  # same status for users; distinct phase
    AWAIT_DECISION = "verified"
    COMMITTED = "completed"
    ABORTED = "failed"


class IllegalTransition(Exception):
    pass


class Next(str, enum.Enum):
    ROUND = "round"
    STOP_AND_COPY = "stop-and-copy"
    ABORT = "abort"


MIN_BANDWIDTH = 64 << 10  # bytes/s: a 1 MiB message every 16 s at most


@dataclass(frozen=True)
class Params:
    downtime_ms: float = 50.0
    max_bandwidth: int = 0            # bytes/s, 0 = unlimited
    auto_converge: bool = False
    max_rounds: int = 0               # 0 = unlimited
    timeout: float = 0.0              # seconds, 0 = unlimited
    on_timeout: str = "abort"
    compress: str = ""

    def __post_init__(self) -> None:
        if self.downtime_ms <= 0:
            raise ValueError("the downtime limit must be positive")
        if self.max_bandwidth < 0 or self.max_rounds < 0 or self.timeout < 0:
            raise ValueError("limits cannot be negative")
        if 0 < self.max_bandwidth < MIN_BANDWIDTH:
            raise ValueError(f"a bandwidth cap must be at least {MIN_BANDWIDTH >> 10} KiB/s "
                             f"(not {self.max_bandwidth} bytes/s): each message waits its turn, "
                             "and a destination gives up on a source silent for a minute")
        if self.on_timeout not in ("abort", "force"):
            raise ValueError(f"on-timeout must be abort or force, not {self.on_timeout!r}")
        if self.compress not in ("", "zstd"):
            raise ValueError(f"unknown compression {self.compress!r}")


@dataclass
class Round:
    number: int
    pages: int = 0           # data pages sent
    zero_pages: int = 0      # zero pages sent as bits
    bytes: int = 0
    seconds: float = 0.0
    dirtied: int = 0         # pages dirtied while the round was sent
    throttle: float = 0.0

    @property
    def bandwidth(self) -> float:
        return self.bytes / self.seconds if self.seconds > 0 else 0.0

    @property
    def dirty_rate(self) -> float:
        return self.dirtied / self.seconds if self.seconds > 0 else 0.0


@dataclass
class SourceMachine:
    params: Params
    total_pages: int
    page_seconds: float = PAGE_SECONDS  # what one dirty page costs the stop-and-copy
    handover_seconds: float = HANDOVER_SECONDS  # what the rest of the downtime costs
    phase: Phase = Phase.SETUP
    rounds: list[Round] = field(default_factory=list)
    throttle: float = 0.0
    reason: str = ""
    expected_downtime_ms: float = 0.0

    def _go(self, event: str, allowed: tuple[Phase, ...], to: Phase) -> None:
        if self.phase not in allowed:
            raise IllegalTransition(f"migration source: {event!r} is not possible in phase {self.phase.name}")
        self.phase = to

    def begin(self) -> None:
        self._go("begin", (Phase.SETUP,), Phase.ITERATING)

    def bandwidth(self) -> float:
        """Bytes per second, measured over the rounds so far (the first round
        alone is a good estimate; later small rounds are dominated by latency)."""
        sent = sum(r.bytes for r in self.rounds)
        seconds = sum(r.seconds for r in self.rounds)
        return sent / seconds if seconds > 0 else 0.0

    def expected_downtime(self, dirty_pages: int) -> float:
        """Seconds a stop-and-copy would take to send ``dirty_pages`` now."""
        bandwidth = self.bandwidth()
        if bandwidth <= 0:
            return float("inf")
        return dirty_pages * max(PAGE_SIZE / bandwidth, self.page_seconds) + self.handover_seconds

    def round_done(self, finished: Round, dirty_pages: int, elapsed: float) -> Next:
        """A round was sent; ``dirty_pages`` are dirty now, ``elapsed`` seconds
        since the migration began. Decide what comes next."""
        if self.phase is not Phase.ITERATING:
            raise IllegalTransition(f"migration source: 'round_done' is not possible in phase {self.phase.name}")
        finished.throttle = self.throttle
        previous = self.rounds[-1] if self.rounds else None
        self.rounds.append(finished)
        expected = self.expected_downtime(dirty_pages)
        self.expected_downtime_ms = expected * 1000
        if expected * 1000 <= self.params.downtime_ms:
            # Under the limit. Stop now unless another round would shrink the
            # final copy a lot (rounds are shrinking fast and not yet trivial).
            shrinking = previous is None or dirty_pages < SHRINKING_FAST * previous.dirtied
            if not shrinking or expected * 1000 <= self.params.downtime_ms / 2 or dirty_pages < 64:
                return Next.STOP_AND_COPY
        out_of_rounds = self.params.max_rounds and len(self.rounds) >= self.params.max_rounds
        out_of_time = self.params.timeout and elapsed >= self.params.timeout
        if out_of_rounds or out_of_time:
            why = f"{len(self.rounds)} rounds" if out_of_rounds else f"{elapsed:.1f} s"
            if self.params.on_timeout == "force":
                self.reason = f"forced stop-and-copy after {why} (expected downtime {expected * 1000:.0f} ms)"
                return Next.STOP_AND_COPY
            self.reason = (f"did not converge after {why}: expected downtime {expected * 1000:.0f} ms "
                           f"is over the {self.params.downtime_ms:.0f} ms limit")
            return Next.ABORT
        if (self.params.auto_converge and previous is not None
                and finished.dirtied >= previous.dirtied * NOT_SHRINKING):
            self.throttle = THROTTLE_INITIAL if not self.throttle else min(THROTTLE_MAX, self.throttle + THROTTLE_STEP)
        return Next.ROUND

    def stop(self) -> None:
        self._go("stop", (Phase.ITERATING,), Phase.STOP_AND_COPY)

    def sent(self) -> None:
        self._go("sent", (Phase.STOP_AND_COPY,), Phase.AWAIT_VERIFY)

    def verified(self) -> None:
        self._go("verified", (Phase.AWAIT_VERIFY,), Phase.AWAIT_DECISION)

    def decide(self, commit: bool) -> None:
        self._go("commit" if commit else "abort", (Phase.AWAIT_DECISION,),
                 Phase.COMMITTED if commit else Phase.ABORTED)

    def abort(self, reason: str) -> None:
        if self.phase is Phase.COMMITTED:
            raise IllegalTransition("migration source: 'abort' is not possible in phase COMMITTED")
        self.reason = self.reason or reason
        self.phase = Phase.ABORTED

    @property
    def status(self) -> str:
        return self.phase.value.strip()
