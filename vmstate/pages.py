"""Guest memory as PAGES records — for snapshot files and migration rounds alike.

A PAGES record covers a window of up to :data:`WINDOW` pages starting at a
window-aligned page number ``first``:

* ``data_map`` — bitmap of pages whose contents follow in ``data``;
* ``zero_map`` — bitmap of pages that are all zeros (sent as one bit, never
  as data);
* ``data`` — the data pages concatenated in page order, zstd-compressed when
  ``zstd`` is true.

A page in neither bitmap is not described by the record (in a snapshot file
that means zero; in a migration round, unchanged).

A PAGE_LIST record (migration rounds after the first, and the stop-and-copy)
carries scattered pages by number instead, so a dirty page costs one entry
rather than a record of its own:

* ``pages`` — the data pages' numbers, u32 little-endian, ascending;
* ``zero`` — the numbers of pages that are now all zeros, likewise;
* ``data`` — the data pages concatenated in that order (``zstd`` as above).

Both ends can be told of every record as it is encoded or applied
(``on_pages(first, data, contents, zero)``: the window's first page number,
the indices of its data pages, those pages' uncompressed contents
concatenated, and the indices of its zero pages; a PAGE_LIST record comes
with ``first`` 0 and page numbers as indices) — the migration keeps its
memory digest up to date this way, once per record rather than per page.
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from typing import Any, Callable, Iterable, Iterator

OnPages = Callable[[int, list[int], memoryview, list[int]], None]

import zstandard

from .errors import FormatError, LimitError

PAGE_SIZE = 4096
PAGE_SHIFT = 12
WINDOW = 256
WINDOW_BYTES = WINDOW * PAGE_SIZE
ZERO_PAGE = bytes(PAGE_SIZE)
ZERO_WINDOW = bytes(WINDOW_BYTES)
_MAP_BYTES = WINDOW // 8
MAX_LIST = 65536  # pages one PAGE_LIST record may name (data pages are bounded by the frame size)


_ALL = list(range(WINDOW))  # every page of a window (shared: never modified)
FULL_WINDOW = _ALL  # what on_pages gets as ``data`` for a window whose every page holds data
_FULL_MAP = bytes([0xFF]) * _MAP_BYTES
_FULL = int.from_bytes(_FULL_MAP, "little")


_HEAD_STRIDE = PAGE_SIZE // 8  # in u64 words
_ZERO_HEAD = bytes(8)


def _no_zero_page(window: memoryview) -> bool:
    """True when no page of a whole window is all zeros, judged by the first
    eight bytes of every page (a zero page starts with eight zero bytes): one
    strided copy of 2 KiB instead of a scan of the window. False means
    "maybe": the caller checks page by page. Eight zero bytes straddling two
    pages' heads also answer "maybe", which costs time, never correctness."""
    heads = window.cast("Q")[::_HEAD_STRIDE].tobytes()
    return heads.find(_ZERO_HEAD) < 0


def _bitmap(indices: Iterable[int]) -> bytes:
    if indices is _ALL:
        return _FULL_MAP
    value = 0
    for i in indices:
        value |= 1 << i
    return value.to_bytes(_MAP_BYTES, "little")


def _bits(value: int) -> list[int]:
    """The indices of the bits set in ``value`` (a bitmap read as an int)."""
    if value == _FULL:
        return _ALL
    out = []
    while value:
        low = value & -value
        out.append(low.bit_length() - 1)
        value ^= low
    return out


class PageEncoder:
    """Turns pages of a RAM buffer into PAGES (and PAGE_LIST) payloads."""

    def __init__(self, memory: memoryview, compress: bool = False, level: int = 1,
                 canonical: bool = True, on_pages: OnPages | None = None, views: bool = False) -> None:
        """``views``: a window whose every page holds data is passed on as a
        view of ``memory`` rather than a copy — for a caller that has used
        the payload (framed and joined it) before memory can change, as the
        migration source does between two writes."""
        self.memory = memory
        self.on_pages = on_pages
        self.views = views
        self.canonical = canonical  # keep the canonical digest (snapshot files need it)
        self.compressor = zstandard.ZstdCompressor(level=level) if compress else None
        self.data_pages = 0
        self.zero_pages = 0
        self.raw_bytes = 0
        self.encoded_bytes = 0
        # Canonical digest of what all_pages() described (see memory_digest).
        self.digest = hashlib.sha256()

    def _payload(self, first: int, data: list[int], zero: list[int], blob: bytes | memoryview,
                 digest: bool = False) -> dict[str, Any]:
        """``blob``: the data pages' contents, concatenated (copied out of guest
        memory once by the callers, or a view of it: ``views``)."""
        payload: dict[str, Any] = {"first": first, "data_map": _bitmap(data), "zero_map": _bitmap(zero)}
        if digest and self.canonical:
            self.digest.update(first.to_bytes(8, "little"))
            self.digest.update(payload["data_map"])
            self.digest.update(blob)
        return self._seal(payload, first, data, zero, blob)

    def _seal(self, payload: dict[str, Any], first: int, data: list[int], zero: list[int],
              blob: bytes | memoryview) -> dict[str, Any]:
        """Count the record, tell ``on_pages`` and add its (compressed) data."""
        self.data_pages += len(data)
        self.zero_pages += len(zero)
        self.raw_bytes += len(blob)
        if self.on_pages is not None:
            self.on_pages(first, data, memoryview(blob), zero)
        if self.compressor is not None and blob:
            blob = self.compressor.compress(blob)
            payload["zstd"] = True
        payload["data"] = blob
        self.encoded_bytes += len(blob)
        return payload

    def all_pages(self, touched: bytes | None = None, base: int = 0) -> Iterator[dict[str, Any]]:
        """Every non-zero page of memory (zero pages elided, as in a snapshot).
        ``touched``, when given, has one byte per window: a window whose byte
        is 0 is known to be zero and is not read. ``base``: the page number
        of the memory's first page (memory seen in pieces, see
        :class:`PiecewiseDigest`)."""
        mem = self.memory
        npages = len(mem) >> PAGE_SHIFT
        for first in range(0, npages, WINDOW):
            start = first << PAGE_SHIFT
            count = min(WINDOW, npages - first)
            if touched is not None and not touched[first // WINDOW]:
                self.zero_pages += count
                continue
            if count == WINDOW:
                view = mem[start:start + WINDOW_BYTES]
                if _no_zero_page(view):  # every page holds data: no scan for zeros
                    yield self._payload(base + first, _ALL, [], view if self.views else view.tobytes(),
                                        digest=True)
                    continue
            window = mem[start:start + count * PAGE_SIZE].tobytes()
            if window == (ZERO_WINDOW if count == WINDOW else bytes(count * PAGE_SIZE)):
                self.zero_pages += count
                continue
            if count == WINDOW and window.find(ZERO_PAGE) < 0:
                # No run of 4 KiB zeros anywhere: every page holds data (one C-level scan).
                yield self._payload(base + first, _ALL, [], window, digest=True)
                continue
            data = [i for i in range(count) if window[i << PAGE_SHIFT:(i + 1) << PAGE_SHIFT] != ZERO_PAGE]
            self.zero_pages += count - len(data)
            blob = b"".join(window[i << PAGE_SHIFT:(i + 1) << PAGE_SHIFT] for i in data)
            yield self._payload(base + first, data, [], blob, digest=True)

    def page_list(self, page_numbers: Iterable[int], limit: int = WINDOW) -> Iterator[dict[str, Any]]:
        """PAGE_LIST payloads for the given pages (ascending), ``limit``
        pages a record: non-zero ones as data, zero ones by number alone."""
        mem = self.memory
        data: list[int] = []
        zero: list[int] = []
        contents: list[memoryview] = []  # views of the data pages, joined (copied once) into the record
        page_view: memoryview | None = None
        for page in page_numbers:
            page_view = mem[page << PAGE_SHIFT:(page + 1) << PAGE_SHIFT]
            if page_view == ZERO_PAGE:
                zero.append(page)
            else:
                data.append(page)
                contents.append(page_view)
            if len(data) + len(zero) == limit:
                payload = self._list_payload(data, zero, b"".join(contents))
                data, zero, contents, page_view = [], [], [], None  # no view kept while the caller waits
                yield payload
        if data or zero:
            payload = self._list_payload(data, zero, b"".join(contents))
            contents.clear()
            page_view = None
            yield payload

    def _list_payload(self, data: list[int], zero: list[int], blob: bytes) -> dict[str, Any]:
        return self._seal({"pages": _u32(data), "zero": _u32(zero)}, 0, data, zero, blob)


assert array("I").itemsize == 4, "page lists are u32 arrays"


def _u32(numbers: list[int]) -> bytes:
    packed = array("I", numbers)
    if sys.byteorder != "little":  # pragma: no cover - big-endian hosts
        packed.byteswap()
    return packed.tobytes()


def _from_u32(raw: Any, what: str) -> list[int]:
    if not isinstance(raw, (bytes, memoryview)) or len(raw) % 4:
        raise FormatError(f"malformed page list record ({what})")
    packed = array("I")
    packed.frombytes(raw)
    if sys.byteorder != "little":  # pragma: no cover - big-endian hosts
        packed.byteswap()
    return packed.tolist()


class PageDecoder:
    """Validates PAGES (and PAGE_LIST) payloads and writes them into a RAM object (``write_bytes``,
    ``write_pages``: :class:`node.machine.memory.Ram`; their
    byte strings may be ``bytes`` or byte views: see ``codec.FrameDecoder(views=...)``), keeping the
    digest of what it applied (equal to the encoder's canonical digest when the
    records came from :meth:`PageEncoder.all_pages`)."""

    def __init__(self, ram: Any, canonical: bool = True, on_pages: OnPages | None = None) -> None:
        self.ram = ram
        self.npages = ram.size >> PAGE_SHIFT
        self.decompressor = zstandard.ZstdDecompressor()
        self.data_pages = 0
        self.zero_pages = 0
        self.digest = hashlib.sha256()
        self.canonical = canonical
        self.on_pages = on_pages

    def apply_list(self, payload: dict[str, Any]) -> None:
        """Validate a PAGE_LIST record (see the module docstring) and write it into RAM."""
        data = _from_u32(payload.get("pages"), "pages")
        zero = _from_u32(payload.get("zero"), "zero")
        blob = payload.get("data")
        if not isinstance(blob, (bytes, memoryview)):
            raise FormatError("malformed page list record (data)")
        if len(data) + len(zero) > MAX_LIST:
            raise LimitError(f"a page list record names {len(data) + len(zero)} pages (limit {MAX_LIST})")
        top = max(max(data, default=-1), max(zero, default=-1))
        if top >= self.npages:
            raise LimitError(f"page {top} is beyond the guest's {self.npages} pages")
        self._write(0, data, self._contents(payload, blob, len(data), "page list record"), zero, scattered=True)

    def apply(self, payload: dict[str, Any]) -> None:
        try:
            first = payload["first"]
            data_map = payload["data_map"]
            zero_map = payload["zero_map"]
            blob = payload["data"]
        except KeyError as exc:
            raise FormatError(f"pages record without {exc.args[0]!r}") from None
        if (not isinstance(first, int) or first < 0 or first % WINDOW
                or not isinstance(data_map, bytes) or len(data_map) != _MAP_BYTES
                or not isinstance(zero_map, bytes) or len(zero_map) != _MAP_BYTES
                or not isinstance(blob, (bytes, memoryview))):
            raise FormatError("malformed pages record")
        if first >= self.npages:
            raise LimitError(f"a pages record starts at page {first}, beyond the guest's {self.npages} pages")
        data_bits = int.from_bytes(data_map, "little")
        zero_bits = int.from_bytes(zero_map, "little")
        if data_bits & zero_bits:
            raise FormatError("a page is both data and zero in one record")
        top = (data_bits | zero_bits).bit_length() - 1
        data = _bits(data_bits)
        zero = _bits(zero_bits)
        if first + top >= self.npages:
            raise LimitError(f"page {first + top} is beyond the guest's {self.npages} pages")
        blob = self._contents(payload, blob, len(data), "pages record")
        if data and self.canonical:
            self.digest.update(first.to_bytes(8, "little"))
            self.digest.update(data_map)
            self.digest.update(blob)
        self._write(first, data, blob, zero)

    def _contents(self, payload: dict[str, Any], blob: bytes, count: int, what: str) -> bytes:
        """The record's data pages, decompressed and checked to be ``count`` pages."""
        expected = count * PAGE_SIZE
        if payload.get("zstd"):
            try:
                blob = self.decompressor.decompress(blob, max_output_size=expected)
            except zstandard.ZstdError as exc:
                raise FormatError(f"undecodable compressed pages ({exc})") from None
        if len(blob) != expected:
            raise FormatError(f"{what} holds {len(blob)} bytes for {count} pages")
        return blob

    def _write(self, first: int, data: list[int], blob: bytes, zero: list[int], scattered: bool = False) -> None:
        """Pages ``first + i``: data for ``i`` in ``data`` (``blob``, in order), zeros for ``i`` in ``zero``.
        ``scattered``: few of the pages are neighbours (a PAGE_LIST record), so they are written one
        by one in a single call (``ram.write_pages``) rather than by runs."""
        ram = self.ram
        if data is _ALL:
            ram.write_bytes(first << PAGE_SHIFT, blob)
        elif scattered:
            ram.write_pages(first, data, blob)
        else:
            view = memoryview(blob)
            run_start = 0
            for n in range(1, len(data) + 1):  # one write per run of consecutive pages
                if n == len(data) or data[n] != data[n - 1] + 1:
                    ram.write_bytes((first + data[run_start]) << PAGE_SHIFT,
                                    view[run_start * PAGE_SIZE:n * PAGE_SIZE])
                    run_start = n
        for i in zero:
            ram.write_bytes((first + i) << PAGE_SHIFT, ZERO_PAGE)
        if self.on_pages is not None:
            self.on_pages(first, data, memoryview(blob), zero)
        self.data_pages += len(data)
        self.zero_pages += len(zero)


def memory_digest(memory: memoryview) -> bytes:
    """A digest of memory contents that does not depend on how they were sent or
    compressed: sha256 over, for each window holding a non-zero page, its first
    page number, its bitmap of non-zero pages and those pages."""
    encoder = PageEncoder(memory)
    for _ in encoder.all_pages():
        pass
    return encoder.digest.digest()


class PiecewiseDigest:
    """:func:`memory_digest` of memory seen a piece at a time, in order (a
    memory image read from a file a few MiB at a time, never whole)."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.pages = 0       # pages seen so far
        self.data_pages = 0  # of which not all zeros

    def update(self, piece: memoryview) -> None:
        """The next piece: whole windows, except that the last may end early."""
        if self.pages % WINDOW:
            raise ValueError("only the last piece of memory may end inside a window")
        encoder = PageEncoder(piece)
        encoder.digest = self.digest
        for _ in encoder.all_pages(base=self.pages):
            pass
        self.pages += len(piece) >> PAGE_SHIFT
        self.data_pages += encoder.data_pages
