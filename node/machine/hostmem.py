"""What the host kernel knows about guest RAM, and advice to it.

Guest RAM is anonymous memory that the kernel fills lazily, one page fault
per 4 KiB page on first touch. Two questions about that matter to a live
migration, and both are answered here through libc (Linux; elsewhere the
functions report "unknown" and callers carry on without the hint):

* :func:`resident_runs` — which pages the source guest has ever touched
  (``mincore``): memory that was never touched is zero and needs no space
  on the destination;
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
_RESIDENT = re.compile(rb"[\x01-\xff]+")

try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _mincore = _libc.mincore
    _mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    _madvise = _libc.madvise
    _madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
except (OSError, AttributeError):  # pragma: no cover - not Linux/glibc
    _libc = None


def _address(buf: mmap.mmap) -> tuple[int, ctypes.c_char]:
    anchor = ctypes.c_char.from_buffer(buf)  # holds an export until dropped
    return ctypes.addressof(anchor), anchor


def resident_runs(buf: object, granule: int = 256) -> list[tuple[int, int]] | None:
    """Page runs ``(first, count)`` of ``buf`` (an mmap) that hold touched
    memory, widened to ``granule``-page blocks so the list stays short; None
    when the kernel cannot tell."""
    if _libc is None or not isinstance(buf, mmap.mmap) or len(buf) % PAGE_SIZE:
        return None
    npages = len(buf) // PAGE_SIZE
    vec = ctypes.create_string_buffer(npages)
    try:
        address, anchor = _address(buf)
    except TypeError:  # read-only mapping
        return None
    try:
        if _mincore(address, len(buf), vec) != 0:
            return None
    finally:
        del anchor
    blocks = bytearray(-(-npages // granule))
    for match in _RESIDENT.finditer(vec.raw):
        start, end = match.start() // granule, (match.end() - 1) // granule + 1
        blocks[start:end] = b"\x01" * (end - start)
    return [(m.start() * granule, min(m.end() * granule, npages) - m.start() * granule)
            for m in _RESIDENT.finditer(bytes(blocks))]


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
