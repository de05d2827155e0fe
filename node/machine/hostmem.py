"""What the host kernel knows about guest RAM, and advice to it.

Guest RAM is anonymous memory that the kernel fills lazily, one page fault
per 4 KiB page on first touch. Two questions about that matter to a live
migration and to snapshots, and both are answered here through the kernel's
Linux interfaces (elsewhere the functions report "unknown" and callers carry
on without the hint):

* :func:`touched_pages` — which pages the guest has ever touched
  (``/proc/self/pagemap``): memory that was never touched is zero, so it is
  neither read (each first read would fault) nor sent, and needs no space on
  the destination;
* :func:`keep_freed_memory` — keep the daemon's own freed heap mapped, and
  share it among threads, so buffers are reused rather than faulted in again;
* :func:`populate` — commit a range before bulk writes land in it
  (``madvise(MADV_POPULATE_WRITE)``, Linux 5.14+). One call replaces a page
  fault per page, and the destination learns it is out of memory while the
  guest still runs on the source, not half-way through round 0. ctypes drops
  the GIL for the call, so run it in a thread and the event loop goes on.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import re

PAGE_SIZE = 4096
MADV_POPULATE_WRITE = 23
_TOUCHED_RUN = re.compile(rb"\x01+")
_TOUCHED = bytes(1 if i & 0xC0 else 0 for i in range(256))

try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _madvise = _libc.madvise
    _madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
except (OSError, AttributeError):  # pragma: no cover - not Linux/glibc
    _libc = None


def _address(buf: mmap.mmap) -> tuple[int, ctypes.c_char]:
    anchor = ctypes.c_char.from_buffer(buf)  # holds an export until dropped
    return ctypes.addressof(anchor), anchor


def touched_pages(buf: object) -> bytes | None:
    """One byte per page of ``buf`` (an anonymous private mmap): 1 when the
    page was ever touched (mapped or swapped out, from ``/proc/self/pagemap``),
    0 when it never was and so holds zeros. None when the kernel cannot tell.

    Unlike ``mincore``, this counts a swapped-out page as touched, so a 0 is
    a promise the caller may rely on (skip the page as zero without reading
    it: reading an untouched page costs a page fault)."""
    if not isinstance(buf, mmap.mmap) or len(buf) % PAGE_SIZE:
        return None
    npages = len(buf) // PAGE_SIZE
    try:
        address, anchor = _address(buf)
    except TypeError:  # read-only mapping
        return None
    try:
        with open("/proc/self/pagemap", "rb", buffering=0) as f:
            f.seek(address // PAGE_SIZE * 8)
            entries = f.read(npages * 8)
    except OSError:
        return None
    finally:
        del anchor
    if len(entries) != npages * 8:
        return None
    # Bit 63 = present, bit 62 = swapped: the top byte of each little-endian entry.
    return entries[7::8].translate(_TOUCHED)


def block_runs(blocks: bytes, granule: int, npages: int) -> list[tuple[int, int]]:
    """Page runs ``(first, count)`` covered by the 1-blocks of ``blocks``
    (as :func:`blocks_touched` returns them)."""
    return [(m.start() * granule, min(m.end() * granule, npages) - m.start() * granule)
            for m in _TOUCHED_RUN.finditer(blocks)]


def blocks_touched(touched: bytes, granule: int) -> bytes:
    """Per block of ``granule`` pages: 1 when any page in it was touched."""
    blocks = bytearray(-(-len(touched) // granule))
    for match in _TOUCHED_RUN.finditer(touched):
        start, end = match.start() // granule, (match.end() - 1) // granule + 1
        blocks[start:end] = b"\x01" * (end - start)
    return bytes(blocks)


M_TRIM_THRESHOLD = -1  # glibc mallopt parameters
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def keep_freed_memory(trim_threshold: int = 128 << 20, mmap_threshold: int = 32 << 20, arenas: int = 1) -> bool:
    """Ask glibc's malloc to keep freed memory mapped (up to ``trim_threshold``
    bytes at the top of the heap), to serve blocks below ``mmap_threshold``
    from the heap, and to share ``arenas`` heaps among all threads. By default
    it hands freed memory back to the kernel at once and maps big blocks
    afresh, so a daemon that copies page data in and out of ``bytes`` objects
    takes a page fault per 4 KiB of every new buffer — here that made copying
    scattered guest pages ~6x slower (2.8 µs instead of 0.4 µs per page).

    By default each new thread also gets a heap of its own (up to 8 per core),
    which starts cold: gRPC's event-engine threads, which receive a migration
    stream, each faulted their heap in afresh, so a node's first incoming
    migrations spent a fifth of their time zeroing pages and moved round 0 at
    half the speed of later ones (bench/migration.py's first repeats; ``perf``:
    ``clear_page_erms`` under the event-engine threads). One shared heap is
    warm for every thread; these threads allocate few, large blocks, so its
    lock is not contended. False where this is not glibc."""
    if _libc is None:
        return False
    try:
        mallopt = _libc.mallopt
    except AttributeError:  # pragma: no cover - not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    trimmed = mallopt(M_TRIM_THRESHOLD, trim_threshold)
    mapped = mallopt(M_MMAP_THRESHOLD, mmap_threshold)
    shared = mallopt(M_ARENA_MAX, arenas)
    return bool(trimmed and mapped and shared)


def populate(buf: object, offset: int, length: int) -> bool:
    """Commit ``[offset, offset + length)`` of ``buf`` (an mmap). Raises
    MemoryError when the host has no memory for it; False when the kernel
    cannot populate (older than 5.14) — the pages then fault in as written."""
    if _libc is None or not isinstance(buf, mmap.mmap) or length <= 0:
        return False
    if offset < 0 or offset + length > len(buf) or offset % PAGE_SIZE:
        raise ValueError(f"range [{offset:#x}, {offset + length:#x}) is not a page-aligned part of the mapping")
    try:
        address, anchor = _address(buf)
    except TypeError:
        return False
    try:
        if _madvise(address + offset, length, MADV_POPULATE_WRITE) == 0:
            return True
        err = ctypes.get_errno()
    finally:
        del anchor
    if err == errno.ENOMEM:
        raise MemoryError(f"the host cannot commit {length} bytes of guest memory")
    return False
