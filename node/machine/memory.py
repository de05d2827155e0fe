"""Guest RAM and its dirty log (DESIGN.md §2, last bullet).

RAM is one contiguous buffer (a ``bytearray``, or a private ``mmap`` when a
snapshot is restored copy-on-write) seen through typed memoryviews so the
execution fast path reads and writes 1/2/4/8-byte words with a single index.

Every 4 KiB page has a *hook byte*, in the style of TinyEMU's dirty bitmap with
a re-armed write fast path: a store that hits a page whose hook byte is zero
costs one extra index and test; a non-zero hook sends the store through
:meth:`Ram.hooked_write`, which

* records the page in the dirty log when logging is armed for it (bit
  ``HOOK_DIRTY``) and disarms the page, so each page is logged once per round;
* tells the execution backend that a page holding translated code was written
  (bit ``HOOK_CODE``), so stale translations are dropped;
* reports stores to watched pages (bit ``HOOK_WATCH``), such as the page
  holding HTIF's ``tohost`` word.

:meth:`take_dirty` returns the pages written since the previous call and
re-arms exactly those pages, so a pre-copy round costs O(dirty pages), not
O(RAM size).
"""

from __future__ import annotations

import gc
import mmap
from typing import Callable

from . import hostmem

RAM_BASE = 0x8000_0000
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT

HOOK_DIRTY = 1
HOOK_CODE = 2
HOOK_WATCH = 4

_SET_DIRTY = bytes(i | HOOK_DIRTY for i in range(256))
_CLEAR_DIRTY = bytes(i & ~HOOK_DIRTY for i in range(256))
_CLEAR_CODE = bytes(i & ~HOOK_CODE for i in range(256))

ZERO_PAGE = bytes(PAGE_SIZE)

_KIB = 1024
_MIB = 1024 * _KIB
_GIB = 1024 * _MIB

MIN_RAM = 1 * _MIB
MAX_RAM = 16 * _GIB


def parse_size(text: str | int) -> int:
    """Parse a size such as ``64M``, ``1G``, ``4096`` or ``512K`` into bytes."""
    if isinstance(text, int):
        return text
    s = text.strip().upper().removesuffix("IB").removesuffix("B")
    units = {"K": _KIB, "M": _MIB, "G": _GIB, "T": 1024 * _GIB}
    mult = 1
    if s and s[-1] in units:
        mult = units[s[-1]]
        s = s[:-1]
    try:
        value = float(s) if "." in s else int(s, 0)
    except ValueError:
        raise ValueError(f"invalid size {text!r}: use a number with an optional K, M or G suffix") from None
    size = int(value * mult)
    if size <= 0:
        raise ValueError(f"invalid size {text!r}: must be positive")
    return size


def format_size(n: int) -> str:
    for unit, div in (("G", _GIB), ("M", _MIB), ("K", _KIB)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return str(n)


class Ram:
    """Guest physical RAM at :data:`RAM_BASE` with per-page hooks and a dirty log."""

    def __init__(self, size: int, backing: bytearray | memoryview | None = None) -> None:
        if size % PAGE_SIZE or size < MIN_RAM:
            raise ValueError(f"RAM size must be a multiple of 4 KiB and at least 1 MiB, not {size}")
        if size > MAX_RAM:
            raise ValueError(f"RAM size {format_size(size)} exceeds the limit of {format_size(MAX_RAM)}")
        self.size = size
        self.base = RAM_BASE
        # Anonymous private memory is zero-filled lazily by the host kernel, so
        # a guest costs host memory only for the pages it touches.
        self.data = backing if backing is not None else mmap.mmap(
            -1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        # Untouched pages of anonymous memory are known to be zero (touched_blocks).
        self.anonymous = backing is None
        if len(self.data) != size:
            raise ValueError("RAM backing buffer has the wrong size")
        self._set_views()
        self.npages = size >> PAGE_SHIFT
        self.hooks = bytearray(self.npages)
        self.dirty_pages: list[int] = []
        self.logging = False
        # Called with (RAM offset, size) of a store to a page holding translated
        # code; returns True if translated code was overwritten (the current
        # block must stop). The backend clears the page's mark when no code is left.
        self.on_code_write: Callable[[int, int], bool] = lambda off, size: False
        # Called with the RAM offset of a store to a watched page; returns True
        # when the machine must stop and look (e.g. the guest powered off).
        self.on_watch: Callable[[int], bool] = lambda off: False

    def _set_views(self) -> None:
        mv = memoryview(self.data)
        self.u8 = mv
        self.s8 = mv.cast("b")
        self.u16 = mv.cast("H")
        self.s16 = mv.cast("h")
        self.u32 = mv.cast("I")
        self.s32 = mv.cast("i")
        self.u64 = mv.cast("Q")

    def replace_backing(self, backing: bytearray | memoryview) -> None:
        """Swap the whole contents (restore). Every translation is invalidated by
        the caller; the dirty log marks every page dirty if armed."""
        if len(backing) != self.size:
            raise ValueError("RAM backing buffer has the wrong size")
        old = self.data
        self.release_views()
        if isinstance(old, mmap.mmap):
            old.close()
        self.data = backing
        self.anonymous = False
        self._set_views()
        code_pages = [p for p, h in enumerate(self.hooks) if h & HOOK_CODE]
        for page in code_pages:
            self.on_code_write(page << PAGE_SHIFT, PAGE_SIZE)
        self.hooks[:] = self.hooks.translate(_CLEAR_CODE)
        if self.logging:
            self.dirty_pages = list(range(self.npages))
            self.hooks[:] = self.hooks.translate(_CLEAR_DIRTY)

    def release_views(self) -> None:
        for name in ("u64", "s32", "u32", "s16", "u16", "s8", "u8"):
            view = getattr(self, name, None)
            if view is not None:
                view.release()

    def close(self) -> None:
        """Give the memory back to the host."""
        self.release_views()
        if isinstance(self.data, mmap.mmap):
            try:
                self.data.close()
            except BufferError:
                # A view of guest memory is still alive. Where it is only held by a garbage
                # cycle (an exception's traceback and the frames in it), collecting frees it.
                gc.collect()
                self.data.close()

    # -- the store hook ------------------------------------------------------

    def hooked_write(self, off: int, size: int = 1) -> bool:
        """Handle a store of ``size`` bytes at RAM offset ``off`` to a hooked
        page; returns True when the run loop must stop after this store
        (translated code was overwritten, or a watcher asked for it)."""
        page = off >> PAGE_SHIFT
        hook = self.hooks[page]
        stop = False
        if hook & HOOK_DIRTY:
            self.dirty_pages.append(page)
            self.hooks[page] &= ~HOOK_DIRTY
        if hook & HOOK_CODE:
            stop = self.on_code_write(off, size)
        if hook & HOOK_WATCH:
            stop = self.on_watch(off) or stop
        return stop

    def mark_code(self, page: int) -> None:
        self.hooks[page] |= HOOK_CODE

    def unmark_code(self, page: int) -> None:
        self.hooks[page] &= ~HOOK_CODE

    def watch(self, page: int) -> None:
        self.hooks[page] |= HOOK_WATCH

    def clear_code_marks(self) -> None:
        self.hooks[:] = self.hooks.translate(_CLEAR_CODE)

    # -- host-side access (loaders, DMA, snapshots) ---------------------------

    def write_bytes(self, off: int, data: bytes | bytearray | memoryview) -> None:
        """Write from the host side (loader, device DMA), honouring the hooks."""
        end = off + len(data)
        if off < 0 or end > self.size:
            raise IndexError(f"RAM write [{off:#x}, {end:#x}) outside RAM of {self.size:#x} bytes")
        self.u8[off:end] = data
        first, last = off >> PAGE_SHIFT, ((end - 1) >> PAGE_SHIFT) + 1
        hooks = self.hooks
        if len(data) and hooks.count(0, first, last) != last - first:  # a hooked page (one C-level scan)
            for page in range(first, last):
                if hooks[page]:
                    lo = max(off, page << PAGE_SHIFT)
                    hi = min(end, (page + 1) << PAGE_SHIFT)
                    self.hooked_write(lo, hi - lo)

    def write_pages(self, first: int, pages: list[int], data: bytes | memoryview) -> None:
        """Write page ``first + p`` for each ``p`` in ``pages`` from the
        consecutive pages of ``data``, as :meth:`write_bytes` would one by one
        (hooks honoured) but without a call per page: a migration's scattered
        dirty pages, applied during the guest's downtime."""
        if not pages:
            return
        if len(data) != len(pages) << PAGE_SHIFT:
            raise ValueError(f"{len(data)} bytes for {len(pages)} pages")
        if first + min(pages) < 0 or first + max(pages) >= self.npages:
            raise IndexError(f"a page beyond RAM of {self.npages} pages")
        u8, hooks, view = self.u8, self.hooks, memoryview(data)
        pos = 0
        for page in pages:
            page += first
            off = page << PAGE_SHIFT
            u8[off:off + PAGE_SIZE] = view[pos:pos + PAGE_SIZE]
            pos += PAGE_SIZE
            if hooks[page]:
                self.hooked_write(off, PAGE_SIZE)

    def read_bytes(self, off: int, length: int) -> bytes:
        end = off + length
        if off < 0 or end > self.size:
            raise IndexError(f"RAM read [{off:#x}, {end:#x}) outside RAM of {self.size:#x} bytes")
        return bytes(self.u8[off:end])

    # -- the dirty log -------------------------------------------------------

    def start_dirty_log(self) -> None:
        """Arm every page; from now on each first write to a page is logged."""
        self.dirty_pages = []
        self.hooks[:] = self.hooks.translate(_SET_DIRTY)
        self.logging = True

    def take_dirty(self) -> list[int]:
        """Pages written since logging started or since the previous call, sorted;
        those pages are re-armed."""
        pages = self.dirty_pages
        self.dirty_pages = []
        hooks = self.hooks
        for page in pages:
            hooks[page] |= HOOK_DIRTY
        pages.sort()
        return pages

    def stop_dirty_log(self) -> None:
        self.logging = False
        self.dirty_pages = []
        self.hooks[:] = self.hooks.translate(_CLEAR_DIRTY)

    def touched_blocks(self, pages_per_block: int) -> bytes | None:
        """Per block of ``pages_per_block`` pages: 1 when the guest may have
        written it, 0 when it certainly holds zeros because the host never
        gave it a page (anonymous memory only). None when that is unknown.
        Readers skip the zero blocks instead of reading them: the first read
        of an untouched page costs a fault (~1.5 µs each, 0.4 ms per MiB here)."""
        if not self.anonymous:
            return None
        touched = hostmem.touched_pages(self.data)
        return None if touched is None else hostmem.blocks_touched(touched, pages_per_block)

    def page_is_zero(self, page: int) -> bool:
        off = page << PAGE_SHIFT
        return self.u8[off:off + PAGE_SIZE].tobytes() == ZERO_PAGE
