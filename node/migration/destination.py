"""The receiving side of a live migration as a state machine (sans-I/O).

```
AWAIT_HEADER --HEADER--> AWAIT_BOOT --BOOT x boot_records--> RECEIVING   (no BOOT records: straight on)
RECEIVING --ROUND|PAGES|DISK|STATE|CONSOLE--> RECEIVING   (CONSOLE: the next piece of the history)
RECEIVING --FINAL (digest and spot checks verified)--> VERIFIED
VERIFIED --commit()--> COMMITTED        any phase but COMMITTED --ABORT|abort()--> ABORTED
```

Frames come from :class:`vmstate.codec.FrameDecoder`; the machine checks
that each record is legal in the current phase (an illegal pair raises
:class:`ProtocolError` naming both) and hands the work to a :class:`Target`,
which builds the VM. The stream is treated as hostile: sizes are checked
against the reservation before the target allocates memory, and the final
state is accepted only when the memory digest and the spot checks match.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol

from vmstate import codec
from vmstate.codec import Frame

from ..console import DEFAULT_LIMIT, ConsoleBuffer

# 2: the memory digest and spot checks are by chunk (node.migration.digest),
# rounds after the first send PAGE_LIST records, and the destination
# acknowledges each ROUND record k >= 1 once it has applied everything before
# it (the source waits for that before it pauses the guest).
# 3: the boot segments follow the header as BOOT records (vmstate.bootrecords:
# any size, in pieces), which the header counts (``boot_records``).
# 4: PAGES and PAGE_LIST records carry crc32 0 and are not checked on arrival: the
# memory digest verifies their contents end to end (FORMAT.md "Migration streams").
# 5: the console history travels in pieces: each pre-copy round ends with a
# CONSOLE record of the output since the last one, and the stop-and-copy carries
# only the rest (a full history is up to 1 MiB: it was sent in the downtime).
MIGRATION_VERSION = 5
MAX_BOOT_RECORDS = 4096


class Phase(str, enum.Enum):
    AWAIT_HEADER = "await-header"
    AWAIT_BOOT = "await-boot"
    RECEIVING = "receiving"
    VERIFIED = "verified"
    COMMITTED = "committed"
    ABORTED = "aborted"


class ProtocolError(Exception):
    """The sender broke the protocol (or the state does not verify)."""


class Target(Protocol):
    def build(self, header: dict[str, Any]) -> None: ...

    def boot(self, payload: dict[str, Any]) -> None: ...

    def booted(self) -> None: ...

    def pages(self, payload: dict[str, Any]) -> None: ...

    def page_list(self, payload: dict[str, Any]) -> None: ...

    def disk(self, payload: dict[str, Any]) -> None: ...

    def memory_digest(self) -> bytes: ...

    def chunk_hash(self, chunk: int) -> int: ...

    def finish(self, hart: dict[str, Any], devices: dict[str, Any], console: ConsoleBuffer | None,
               final: dict[str, Any]) -> None: ...


class DestinationMachine:
    def __init__(self, target: Target, console_limit: int = DEFAULT_LIMIT) -> None:
        self.target = target
        self.console_limit = console_limit
        self.phase = Phase.AWAIT_HEADER
        self.round = -1
        self.hart: dict[str, Any] | None = None
        self.devices: dict[str, Any] = {}
        self.console: ConsoleBuffer | None = None  # the history so far, kept to console_limit
        self.final: dict[str, Any] = {}
        self.reason = ""
        self.boot_left = 0

    def _illegal(self, kind: int) -> ProtocolError:
        return ProtocolError(f"migration destination: a {codec.KIND_NAMES.get(kind, kind)} record "
                             f"is not allowed in phase {self.phase.name}")

    def feed(self, frame: Frame) -> Phase:
        kind, p = frame.kind, frame.payload
        if kind == codec.ABORT:
            if self.phase is Phase.COMMITTED:
                raise self._illegal(kind)
            self.phase = Phase.ABORTED
            self.reason = str(p.get("reason", "the source gave up"))
            return self.phase
        if self.phase is Phase.AWAIT_HEADER:
            if kind != codec.HEADER:
                raise self._illegal(kind)
            version = p.get("migration")
            if version != MIGRATION_VERSION:
                if not isinstance(version, int):
                    raise ProtocolError("migration destination: not a migration stream header")
                raise ProtocolError(f"migration destination: the source speaks migration protocol {version}, "
                                    f"this node {MIGRATION_VERSION}; run the same Caravan version on both nodes")
            count = p.get("boot_records", 0)
            if not isinstance(count, int) or not 0 <= count <= MAX_BOOT_RECORDS:
                raise ProtocolError(f"migration destination: bad boot record count {count!r}")
            self.target.build(p)
            self.boot_left = count
            self.phase = Phase.AWAIT_BOOT
            return self._boot_done() if not count else self.phase
        if self.phase is Phase.AWAIT_BOOT:
            if kind != codec.BOOT:
                raise self._illegal(kind)
            self.target.boot(p)
            self.boot_left -= 1
            return self._boot_done() if not self.boot_left else self.phase
        if self.phase is not Phase.RECEIVING:
            raise self._illegal(kind)
        if kind == codec.ROUND:
            number = p.get("round")
            if not isinstance(number, int) or number != self.round + 1:
                raise ProtocolError(f"migration destination: round {number!r} after round {self.round}")
            self.round = number
        elif kind == codec.PAGES:
            self.target.pages(p)
        elif kind == codec.PAGE_LIST:
            self.target.page_list(p)
        elif kind == codec.DISK:
            self.target.disk(p)
        elif kind == codec.STATE:
            name = p.get("name")
            if name == "hart" and self.hart is None:
                self.hart = p.get("state")
            elif isinstance(name, str) and name.startswith("device:") and name[7:] not in self.devices:
                self.devices[name[7:]] = p.get("state")
            else:
                raise ProtocolError(f"migration destination: unexpected state record {name!r}")
        elif kind == codec.CONSOLE:
            self._console(p)
        elif kind == codec.FINAL:
            self._verify(p)
            self.phase = Phase.VERIFIED
        else:
            raise self._illegal(kind)
        return self.phase

    def _console(self, p: dict[str, Any]) -> None:
        """The next piece of the console history: it continues the last one,
        or starts after a gap (the source's buffer dropped the output between
        them, so nothing before it is kept there either)."""
        start, data = p.get("start"), p.get("data")
        if not isinstance(start, int) or start < 0 or not isinstance(data, bytes):
            raise ProtocolError("migration destination: malformed console record")
        if self.console is None or start > self.console.end:
            self.console = ConsoleBuffer(self.console_limit, start, data)
        elif start == self.console.end:
            self.console.append(data)
        else:
            raise ProtocolError(f"migration destination: console record at offset {start} repeats output "
                                f"already received (up to offset {self.console.end})")

    def _boot_done(self) -> Phase:
        self.target.booted()
        self.phase = Phase.RECEIVING
        return self.phase

    def _verify(self, final: dict[str, Any]) -> None:
        if self.hart is None:
            raise ProtocolError("migration destination: the final state has no hart record")
        if final.get("digest") != self.target.memory_digest():
            raise ProtocolError("migration destination: memory digest mismatch (the copy is not the source's memory)")
        for item in final.get("spot", []):
            chunk, expected = item
            if self.target.chunk_hash(int(chunk)) != int.from_bytes(expected, "little"):
                raise ProtocolError(f"migration destination: memory chunk {chunk} differs from the source's")
        self.final = final
        self.target.finish(self.hart, self.devices, self.console, final)

    def commit(self) -> None:
        if self.phase is not Phase.VERIFIED:
            raise ProtocolError(f"migration destination: 'commit' is not possible in phase {self.phase.name}")
        self.phase = Phase.COMMITTED

    def abort(self, reason: str) -> None:
        if self.phase is Phase.COMMITTED:
            raise ProtocolError("migration destination: 'abort' is not possible in phase COMMITTED")
        self.phase = Phase.ABORTED
        self.reason = self.reason or reason
