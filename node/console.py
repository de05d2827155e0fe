"""A VM's console history: a bounded buffer of output bytes addressed by
absolute offset, so a reader can resume where it stopped (and a migration can
carry the history along). Followers wait on an asyncio.Event."""

from __future__ import annotations

import asyncio

DEFAULT_LIMIT = 1 << 20


class ConsoleBuffer:
    def __init__(self, limit: int = DEFAULT_LIMIT, start: int = 0, history: bytes = b"") -> None:
        self.limit = limit
        self.start = start            # absolute offset of data[0]
        self.data = bytearray(history[-limit:] if limit else b"")
        self.start += len(history) - len(self.data)
        self._changed = asyncio.Event()
        self.closed = False  # the VM left this node: nothing more will be appended here

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    def append(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.data += chunk
        excess = len(self.data) - self.limit
        if excess > 0:
            del self.data[:excess]
            self.start += excess
        self._changed.set()

    def read(self, offset: int, limit: int = 64 << 10) -> tuple[int, bytes, bool]:
        """(offset of the returned bytes, bytes, whether output before it was lost)."""
        truncated = offset < self.start
        offset = max(offset, self.start)
        pos = offset - self.start
        return offset, bytes(self.data[pos:pos + limit]), truncated

    async def wait_beyond(self, offset: int) -> None:
        """Until there is output beyond ``offset``, or the buffer is closed."""
        while self.end <= offset and not self.closed:
            self._changed.clear()
            await self._changed.wait()

    def close(self) -> None:
        """The VM left this node (migrated, destroyed): wake every follower,
        to move on at once rather than at its next look."""
        self.closed = True
        self._changed.set()

    def snapshot(self) -> tuple[int, bytes]:
        return self.start, bytes(self.data)
