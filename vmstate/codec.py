"""Record framing: the one codec under snapshot files and migration streams.

A *frame* is ``u32 body length | u32 crc32(body) | body`` (little-endian), the
body a msgpack array ``[kind, payload]`` whose payload is a map. Frames are
self-delimiting, so a file is a preamble plus frames and a migration stream
carries the same frames in gRPC messages, split anywhere.

:class:`FrameDecoder` is incremental (feed it chunks of any size) and hostile
input safe: a frame longer than the reader's limit is refused from its 8-byte
prefix, before anything is allocated for its body, and a body of more than
:data:`MAX_OBJECTS` msgpack objects is refused before it is decoded (a body
byte can decode to a 64-byte Python object: a 16 MiB frame of empty arrays
would otherwise become a gigabyte of lists).
"""

from __future__ import annotations

import struct
from typing import Any, Iterator, NamedTuple

import msgpack

try:  # the same CRC-32 as zlib's (IEEE 802.3), computed with ISA-L: ~10x faster
    from isal.isal_zlib import crc32
except ImportError:  # pragma: no cover - platforms without an isal wheel
    from zlib import crc32

from .errors import ChecksumError, FormatError, LimitError, TruncatedError, VmstateError

FRAME_PREFIX = struct.Struct("<II")
MAX_FRAME = 16 << 20  # a page record of 256 pages plus overhead fits easily
# msgpack objects one frame may hold. Bulk data travels as single bin objects,
# so records are a few dozen objects, a few hundred for a device's state, and
# ~25,000 for the largest (a migration header's resident runs of a 16 GiB guest).
MAX_OBJECTS = 1 << 16

# Record kinds.
HEADER = 1      # format version, metadata, machine config, declared sizes
BEGIN = 2       # a section starts: {"section": name}
STATE = 3       # a component's state record: {"name": ..., "state": {...}}
PAGES = 4       # guest pages: see vmstate.pages
DISK = 5        # disk contents: {"offset": ..., "length": ..., "data"?: ..., "zstd"?: bool}
END = 6         # a section ends: {"section": name, "records": n, "digest": bytes}
TRAILER = 7     # the whole-stream digest: {"digest": bytes}
RAW = 8         # a mappable memory region elsewhere in the file
BOOT = 9        # a boot image segment kept for guest-requested resets
CONSOLE = 10    # console history bytes
# Migration streams (FORMAT.md "Migration streams") add:
ROUND = 11      # a pre-copy round starts: {"round": k}
FINAL = 12      # stop-and-copy is complete: digest, spot checks, pause time
ABORT = 13      # the sender gives up: {"reason": ...}
PAGE_LIST = 14  # scattered guest pages, by number: see vmstate.pages
PAGE_RECORDS = frozenset((PAGES, PAGE_LIST))

KIND_NAMES = {
    HEADER: "header", BEGIN: "begin", STATE: "state", PAGES: "pages", DISK: "disk",
    END: "end", TRAILER: "trailer", RAW: "raw", BOOT: "boot", CONSOLE: "console",
    ROUND: "round", FINAL: "final", ABORT: "abort", PAGE_LIST: "page list",
}


class Frame(NamedTuple):
    kind: int
    payload: dict[str, Any]
    body: bytes | memoryview  # the exact bytes that were checksummed (for section digests)
    crc: int

    @property
    def raw(self) -> bytes:
        """The frame exactly as it was encoded."""
        return FRAME_PREFIX.pack(len(self.body), self.crc) + self.body


BIG = 1 << 10  # byte strings at least this long are passed through, not copied


def _map_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x80 | n,))
    if n < 1 << 16:
        return b"\xde" + n.to_bytes(2, "big")
    return b"\xdf" + n.to_bytes(4, "big")


def _bin_header(n: int) -> bytes:
    if n < 1 << 8:
        return b"\xc4" + bytes((n,))
    if n < 1 << 16:
        return b"\xc5" + n.to_bytes(2, "big")
    return b"\xc6" + n.to_bytes(4, "big")


def _big(value: Any) -> bool:
    """A byte string (or a byte view: guest memory sent without a copy) long
    enough to be passed through rather than packed."""
    if isinstance(value, bytes):
        return len(value) >= BIG
    return (isinstance(value, memoryview) and value.itemsize == 1 and value.ndim == 1 and value.contiguous
            and value.nbytes >= BIG)


def frame_parts(kind: int, payload: dict[str, Any], checksum: bool = True) -> list[bytes | memoryview]:
    """A frame as a list of byte strings to write one after another; large
    byte values of the payload (``bytes``, or byte views such as guest
    memory) are included as they are, not copied. The result is
    byte-for-byte what :func:`encode_frame` returns. ``checksum=False``
    writes 0 for the crc32, for a reader that does not check it (a
    migration stream's page records: FORMAT.md).

    Runs of small entries are packed with one call (a migration's last round
    encodes hundreds of records while the guest waits; per-value ``packb``
    calls were half of that time)."""
    pack = msgpack.Packer(use_bin_type=True).pack  # one per call: snapshot saves encode in threads
    parts: list[bytes | memoryview] = [b""]
    head = bytearray(b"\x92")
    head += pack(kind)
    head += _map_header(len(payload))
    small: dict[str, Any] = {}
    for key, value in payload.items():
        if _big(value):
            if small:
                head += pack(small)[len(_map_header(len(small))):]
                small = {}
            head += pack(key)
            head += _bin_header(len(value))
            parts.append(bytes(head))
            parts.append(value)
            head = bytearray()
        else:
            small[key] = value
    if small:
        head += pack(small)[len(_map_header(len(small))):]
    parts.append(bytes(head))
    length = sum(len(p) for p in parts)
    if length > MAX_FRAME:
        raise LimitError(f"a {KIND_NAMES.get(kind, kind)} record of {length} bytes exceeds the frame limit")
    crc = 0
    for part in parts if checksum else ():
        crc = crc32(part, crc)
    parts[0] = FRAME_PREFIX.pack(length, crc)
    return parts


def encode_frame(kind: int, payload: dict[str, Any]) -> bytes:
    return b"".join(frame_parts(kind, payload))


_U8, _U16, _U32 = (struct.Struct(f">{c}").unpack_from for c in "BHI")


def _type_table() -> list[tuple[int, Any, int, int]]:
    """Per msgpack type byte: (bytes before any contents, the reader of its
    length field or None, what that length counts — 0 bytes of contents, 1
    objects, 2 key/value pairs —, objects a fixarray/fixmap announces)."""
    table: list[tuple[int, Any, int, int]] = [(1, None, 0, 0)] * 256  # fixints, nil, bools, unused 0xc1
    for n in range(16):
        table[0x80 + n] = (1, None, 0, 2 * n)  # fixmap
        table[0x90 + n] = (1, None, 0, n)      # fixarray
    for n in range(32):
        table[0xa0 + n] = (1 + n, None, 0, 0)  # fixstr
    for byte, size in ((0xca, 5), (0xcb, 9),                                   # float 32/64
                       (0xcc, 2), (0xcd, 3), (0xce, 5), (0xcf, 9),             # uint 8..64
                       (0xd0, 2), (0xd1, 3), (0xd2, 5), (0xd3, 9),             # int 8..64
                       (0xd4, 3), (0xd5, 4), (0xd6, 6), (0xd7, 10), (0xd8, 18)):  # fixext
        table[byte] = (size, None, 0, 0)
    for byte, size, read, per in ((0xc4, 2, _U8, 0), (0xc5, 3, _U16, 0), (0xc6, 5, _U32, 0),  # bin
                                  (0xc7, 3, _U8, 0), (0xc8, 4, _U16, 0), (0xc9, 6, _U32, 0),  # ext
                                  (0xd9, 2, _U8, 0), (0xda, 3, _U16, 0), (0xdb, 5, _U32, 0),  # str
                                  (0xdc, 3, _U16, 1), (0xdd, 5, _U32, 1),                     # array
                                  (0xde, 3, _U16, 2), (0xdf, 5, _U32, 2)):                    # map
        table[byte] = (size, read, per, 0)
    return table


_TYPES = _type_table()


def _walk(body: bytes | memoryview, pos: int, limit: int) -> tuple[int, bool]:
    """Walk the msgpack object at ``pos`` over its type bytes, skipping the
    contents of strings, byte strings and extensions: ``(where it ends,
    whether it holds at most limit objects)``. The walk stops as soon as the
    objects read plus those announced by container headers exceed ``limit``
    (so at most ``limit`` steps); an object cut short ends at the end of
    ``body`` (the decoder then says what is wrong with it)."""
    end = len(body)
    left = total = 1  # objects announced and not read yet; objects read or announced
    try:
        while left:
            if pos >= end:
                return end, True
            size, read, per, announced = _TYPES[body[pos]]
            if read is not None:
                n = read(body, pos + 1)[0]
                if per:
                    announced = per * n
                else:
                    pos += n
            pos += size
            left += announced - 1
            if announced:
                total += announced
                if total > limit:
                    return pos, False
    except struct.error:  # a length field cut short
        return end, True
    return pos, True


def objects_within(body: bytes | memoryview, limit: int = MAX_OBJECTS) -> bool:
    """Whether the msgpack ``body`` holds at most ``limit`` objects, counted
    without decoding anything (see :func:`_walk`). A malformed body is left
    to the decoder."""
    return _walk(body, 0, limit)[1]


_UNPACK = {"raw": False, "strict_map_key": True, "max_bin_len": MAX_FRAME, "max_str_len": 1 << 20,
           "max_array_len": 1 << 16, "max_map_len": 1 << 16}
_BIN = {0xc4: (2, _U8), 0xc5: (3, _U16), 0xc6: (5, _U32)}  # bin 8/16/32: header bytes, length reader


def _decode_viewing(body: memoryview) -> tuple[int, dict[str, Any]] | None:
    """``[kind, payload]`` with the payload's long byte strings as views of
    ``body`` instead of copies; None when the body is not of the shape
    :func:`frame_parts` writes (a small kind, a map with short string keys),
    or is malformed: :func:`decode_body` then decodes it, or says why not."""
    try:
        if body[0] != 0x92 or body[1] > 0x7F:
            return None
        kind, head = body[1], body[2]
        if 0x80 <= head <= 0x8F:
            count, pos = head & 0x0F, 3
        elif head == 0xDE:
            count, pos = _U16(body, 3)[0], 5
        else:
            return None
        payload: dict[str, Any] = {}
        for _ in range(count):
            head = body[pos]
            if not 0xA0 <= head <= 0xBF:  # keys are fixstr
                return None
            start, pos = pos + 1, pos + 1 + (head & 0x1F)
            key = str(body[start:pos], "utf-8")
            head = body[pos]
            if head in _BIN:
                size, read = _BIN[head]
                start = pos + size
                pos = start + read(body, pos + 1)[0]
                payload[key] = body[start:pos] if pos - start >= BIG else bytes(body[start:pos])
            else:
                start = pos
                pos, small = _walk(body, pos, MAX_OBJECTS)
                if not small:
                    return None
                payload[key] = msgpack.unpackb(body[start:pos], **_UNPACK)
        return (kind, payload) if pos == len(body) else None
    except Exception:  # malformed in some way: decode_body says how
        return None


def decode_body(body: bytes | memoryview, views: bool = False) -> tuple[int, dict[str, Any]]:
    """``[kind, payload]`` from a frame's body. ``views``: the payload's long
    byte strings may be read-only views of ``body`` (which must then never
    change: a view of ``bytes``) rather than copies."""
    # A body no longer than the limit cannot hold more objects (each takes a byte or more).
    if len(body) > MAX_OBJECTS and not objects_within(body, MAX_OBJECTS):
        raise LimitError(f"a record of {len(body)} bytes holds more than {MAX_OBJECTS} msgpack objects")
    if views and len(body) > BIG:
        decoded = _decode_viewing(body if isinstance(body, memoryview) else memoryview(body))
        if decoded is not None:
            return decoded
    try:
        value = msgpack.unpackb(body, **_UNPACK)
    except Exception as exc:  # msgpack raises several unrelated types
        raise FormatError(f"undecodable record body ({type(exc).__name__})") from None
    if (not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], int)
            or not isinstance(value[1], dict)):
        raise FormatError("a record is not [kind, payload]")
    return value[0], value[1]


class FrameDecoder:
    """Incremental frame reader."""

    def __init__(self, max_frame: int = MAX_FRAME, start: int = 0, views: frozenset[int] = frozenset(),
                 unchecked: frozenset[int] = frozenset()) -> None:
        """``start``: the offset of the first byte fed, for error messages and
        :attr:`frame_end` (a file's frames start after its preamble).
        ``views``: the kinds of record whose long byte strings are returned as
        read-only views rather than copies (a migration destination's page
        records: their data is copied once, into guest memory).
        ``unchecked``: the kinds of record whose crc32 is not checked (a
        migration stream's page records, verified end to end by the memory
        digest instead: FORMAT.md). Their bodies are decoded as carefully."""
        self.max_frame = max_frame
        self.views = views
        self.unchecked = unchecked
        self._buf = bytearray()
        self.offset = start     # stream offset of the start of the buffer
        self.frame_end = start  # stream offset just after the last frame yielded

    def feed(self, data: bytes | bytearray | memoryview) -> Iterator[Frame]:
        """Yield the frames completed by ``data``. A consumer may stop early;
        the frames it did not take stay buffered for the next call.

        When nothing is buffered and ``data`` is ``bytes`` or a view of
        ``bytes`` (immutable), frames are parsed in place: their bodies are
        views of ``data``, not copies (the migration stream's hot path: whole
        frames per message)."""
        if not self._buf and isinstance(data.obj if isinstance(data, memoryview) else data, bytes):
            yield from self._parse(memoryview(data), in_place=True)
            return
        self._buf.extend(data)
        yield from self._parse(self._buf, in_place=False)

    def _parse(self, buf: bytearray | memoryview, in_place: bool) -> Iterator[Frame]:
        pos = 0
        size = len(buf)
        try:
            while size - pos >= FRAME_PREFIX.size:
                length, crc = FRAME_PREFIX.unpack_from(buf, pos)
                if length > self.max_frame:
                    raise LimitError(f"record at byte {self.offset + pos} claims {length} bytes "
                                     f"(limit {self.max_frame})")
                end = pos + FRAME_PREFIX.size + length
                if size < end:
                    break
                if in_place:
                    body: bytes | memoryview = buf[pos + FRAME_PREFIX.size:end]
                else:
                    with memoryview(buf) as view:
                        body = bytes(view[pos + FRAME_PREFIX.size:end])
                # The kind, if the body is [kind, payload] as the encoder writes it (decode_body checks).
                hint = body[1] if len(body) > 1 and body[0] == 0x92 else -1
                if hint not in self.unchecked and crc32(body) != crc:
                    raise ChecksumError(f"record at byte {self.offset + pos} is corrupt (crc32 mismatch)")
                try:
                    kind, payload = decode_body(body, hint in self.views)
                except VmstateError as exc:
                    raise type(exc)(f"record at byte {self.offset + pos}: {exc}") from None
                pos = end
                self.frame_end = self.offset + end
                yield Frame(kind, payload, body, crc)
        finally:
            if in_place:
                self._buf.extend(buf[pos:])
            elif pos:
                del buf[:pos]  # type: ignore[arg-type]
            self.offset += pos

    def close(self) -> None:
        """The input ended: anything left over is a truncated record."""
        if self._buf:
            raise TruncatedError(f"input ends inside a record at byte {self.offset} "
                                 f"({len(self._buf)} bytes of it present)")

    @property
    def pending(self) -> int:
        return len(self._buf)
