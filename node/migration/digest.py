"""A digest of all guest memory that both ends of a migration keep up to date
as pages move, so comparing it at stop-and-copy costs nothing.

Memory is cut into chunks of :data:`CHUNK_PAGES` pages. The digest is the
sum, modulo 2**128, of xxh3-128(chunk contents, seed = chunk number) over
every chunk that is not all zeros. Each end keeps one hash per non-zero chunk
and, whenever a PAGES or PAGE_LIST record is sent or applied, rehashes the chunks it
touched from its own memory: an O(1) update of the sum per chunk.
Recomputing a digest of all memory at stop-and-copy instead would cost ~9 ms
per 256 MiB even with xxh3 — most of a 20 ms downtime budget.

Why chunks and not pages: round 0 hashes every page of the guest on the
source's one thread, the thread that also writes the stream, where Python's
cost per call dominates: encoding and framing 256 MiB of random pages takes
0.25 ms per MiB with a hash per page, 0.185 ms with 4-page chunks and 0.16 ms
with 16-page ones. The price is paid in sparse rounds and in the
stop-and-copy, where a dirty page also rehashes its neighbours from cold
memory: ~1.4 µs a page at each end with 4-page chunks against ~0.5 µs with a
hash per page, and ~4 µs with 16-page chunks (with those, a 256 MiB dirtier's
downtime went from ~11 to ~18 ms).

Why the ends agree at the end although each hashes its *own* memory (the
source's may already hold newer contents of pages not yet sent): the last
record that touches a chunk comes after the last send of every page in it
(a page that changed after it was sent is dirty and is sent again), so at that
record both ends hash the same final contents.
"""

from __future__ import annotations

import xxhash

from vmstate.pages import FULL_WINDOW, PAGE_SIZE, WINDOW

CHUNK_PAGES = 4
CHUNK_SHIFT = 2
CHUNK_SIZE = CHUNK_PAGES * PAGE_SIZE
ZERO_CHUNK = bytes(CHUNK_SIZE)
_MOD = 1 << 128
_hash = xxhash.xxh3_128_intdigest

assert 1 << CHUNK_SHIFT == CHUNK_PAGES and WINDOW % CHUNK_PAGES == 0


def chunk_hash(memory: memoryview, chunk: int) -> int:
    """The hash of one chunk of ``memory`` (zero for an all-zero chunk: it
    is not part of the digest)."""
    view = memory[chunk * CHUNK_SIZE:(chunk + 1) * CHUNK_SIZE]
    if view.tobytes() == ZERO_CHUNK[:len(view)]:
        return 0
    return _hash(view, chunk)


class MemoryDigest:
    """The digest of ``memory`` as far as the records seen so far describe it."""

    def __init__(self, memory: memoryview) -> None:
        self.memory = memory
        self.total = 0
        self.chunks: dict[int, int] = {}  # non-zero chunk -> its hash

    def update(self, first: int, data: list[int], contents: memoryview, zero: list[int]) -> None:
        """Fold one PAGES or PAGE_LIST record in (a :data:`vmstate.pages.OnPages` hook):
        data pages ``first + i`` for ``i`` in ``data`` and zero pages
        ``first + i`` for ``i`` in ``zero``, already in (or still in) memory.
        ``contents`` is not read: the chunks are hashed from memory, whole.
        The hot path of every round, on both ends."""
        memory = self.memory
        chunks = self.chunks
        total = self.total
        h = _hash
        size = CHUNK_SIZE
        if data is FULL_WINDOW:  # round 0's usual record: every page of a window holds data
            hashed = range(first >> CHUNK_SHIFT, (first + WINDOW) >> CHUNK_SHIFT)
        else:
            hashed = []
            for i in data:  # ascending: a chunk's pages come together
                chunk = (first + i) >> CHUNK_SHIFT
                if not hashed or hashed[-1] != chunk:
                    hashed.append(chunk)
        for chunk in hashed:  # holds a data page: not all zeros
            new = h(memory[chunk * size:(chunk + 1) * size], chunk)
            total += new - chunks.get(chunk, 0)
            chunks[chunk] = new
        if zero:
            done = set(hashed)
            for i in zero:
                chunk = (first + i) >> CHUNK_SHIFT
                if chunk not in done:
                    done.add(chunk)
                    new = chunk_hash(memory, chunk)  # may be all zeros now
                    total += new - chunks.pop(chunk, 0)
                    if new:
                        chunks[chunk] = new
        self.total = total % _MOD

    @property
    def value(self) -> bytes:
        return self.total.to_bytes(16, "little")


def digest_of(memory: memoryview) -> bytes:
    """The same digest computed from scratch (tests; O(memory))."""
    total = 0
    for chunk in range(-(-len(memory) // CHUNK_SIZE)):
        total += chunk_hash(memory, chunk)
    return (total % _MOD).to_bytes(16, "little")
