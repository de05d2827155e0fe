"""Round 0's page records as a migration stream carries them: framed
straight from guest memory at the source, read as views of the received
message at the destination, and without a crc32 (the memory digest verifies
them: FORMAT.md), with every other check of the copying, checksummed path
kept: the same bytes on the wire, the same payloads, the same refusals."""

from __future__ import annotations

import gc
import os
import struct
import zlib

import pytest

from node.machine.memory import Ram
from node.migration import wire
from vmstate import VmstateError, codec
from vmstate.pages import PAGE_SIZE, WINDOW_BYTES, PageDecoder, PageEncoder


def _frame(body: bytes) -> bytes:
    return struct.pack("<II", len(body), zlib.crc32(body)) + body


def _plain(value: object) -> object:
    return bytes(value) if isinstance(value, memoryview) else value


def _memory() -> Ram:
    """Four windows: all data; half data, with a zero page among it; all zeros; one page of data."""
    ram = Ram(4 * WINDOW_BYTES)
    ram.write_bytes(0, os.urandom(WINDOW_BYTES))
    ram.write_bytes(WINDOW_BYTES, os.urandom(WINDOW_BYTES // 2))
    ram.write_bytes(WINDOW_BYTES + 3 * PAGE_SIZE, bytes(PAGE_SIZE))
    ram.write_bytes(3 * WINDOW_BYTES + 5 * PAGE_SIZE, b"tail")
    return ram


def test_a_frame_of_a_view_is_the_frame_of_its_bytes_and_holds_the_view_itself() -> None:
    data = bytearray(os.urandom(3 * codec.BIG))
    view = memoryview(data)[7:7 + 2 * codec.BIG]
    payload = {"first": 256, "data": view, "zstd": False}
    parts = codec.frame_parts(codec.PAGES, payload)
    assert any(part is view for part in parts)  # passed through, not copied
    assert b"".join(parts) == codec.encode_frame(codec.PAGES, {**payload, "data": view.tobytes()})
    # A view of another shape is packed as a value, like any other.
    words = memoryview(data).cast("I")
    assert b"".join(codec.frame_parts(codec.PAGES, {"data": words})) == \
        codec.encode_frame(codec.PAGES, {"data": words.tobytes()})


@pytest.mark.parametrize("compress", [False, True])
def test_full_windows_are_framed_from_guest_memory_and_restore_it_exactly(compress: bool) -> None:
    src = _memory()
    copies = list(PageEncoder(src.u8, compress=compress, canonical=False).all_pages())
    viewed = list(PageEncoder(src.u8, compress=compress, canonical=False, views=True).all_pages())
    assert [{k: _plain(v) for k, v in p.items()} for p in viewed] == copies
    full = viewed[0]["data"]
    assert isinstance(full, memoryview) is (not compress) and all(isinstance(p["data"], bytes) for p in viewed[1:])
    message = b"".join(part for p in viewed for part in codec.frame_parts(codec.PAGES, p))
    first_page = src.read_bytes(0, PAGE_SIZE)
    src.write_bytes(0, bytes(PAGE_SIZE))  # the guest runs on once the message is built
    dst = Ram(src.size)
    decoder = PageDecoder(dst, canonical=False)
    for frame in codec.FrameDecoder(views=codec.PAGE_RECORDS).feed(message):
        decoder.apply(frame.payload)
    assert dst.read_bytes(0, PAGE_SIZE) == first_page
    assert dst.read_bytes(PAGE_SIZE, src.size - PAGE_SIZE) == src.read_bytes(PAGE_SIZE, src.size - PAGE_SIZE)


def _records() -> list[tuple[int, dict]]:
    ram = _memory()
    pages = list(PageEncoder(ram.u8, canonical=False).all_pages())
    lists = list(PageEncoder(ram.u8, canonical=False).page_list(list(range(0, 700, 2)), limit=1000))
    packed = list(PageEncoder(ram.u8, compress=True, canonical=False).page_list([0, 1, 2, 300, 301]))
    return ([(codec.PAGES, p) for p in pages] + [(codec.PAGE_LIST, p) for p in lists + packed]
            + [(codec.CONSOLE, {"start": 5, "data": os.urandom(4 * codec.BIG)}),
               (codec.PAGES, {"first": 0, "note": "x" * 40, "many": list(range(300)), "data": bytes(2000),
                              "nested": {"a": [1, {"b": b"y" * 2000}]}, "small": b"z" * 10})])


@pytest.mark.parametrize("index", range(len(_records())))
def test_page_records_read_as_views_of_the_message_hold_what_copies_hold(index: int) -> None:
    kind, payload = _records()[index]
    message = codec.encode_frame(kind, payload)
    (copied,) = codec.FrameDecoder().feed(message)
    (viewed,) = codec.FrameDecoder(views=codec.PAGE_RECORDS).feed(message)
    assert viewed.kind == copied.kind == kind
    assert {k: _plain(v) for k, v in viewed.payload.items()} == copied.payload
    big = [v for v in viewed.payload.values() if isinstance(v, (bytes, memoryview)) and len(v) >= codec.BIG]
    assert big  # every case has a long byte string
    if kind in codec.PAGE_RECORDS:
        assert all(isinstance(v, memoryview) and v.readonly and v.obj is message for v in big)
    else:
        assert all(isinstance(v, bytes) for v in big)
    # Short byte strings are copies (nothing small keeps a whole message alive).
    assert all(not isinstance(v, memoryview) for k, v in viewed.payload.items() if k not in ("data", "pages", "zero"))


_DATA = b"\xa4data\xc5\x04\x00" + bytes(1024)
MALFORMED = {
    "a byte string past the end": b"\x92\x04\x81\xa4data\xc6" + struct.pack(">I", 5000) + bytes(1100),
    "a key that is not a string": b"\x92\x04\x82\x01\x02" + _DATA,
    "a key that is not UTF-8": b"\x92\x04\x82\xa2\xff\xfe\x01" + _DATA,
    "bytes after the payload": b"\x92\x04\x81" + _DATA + b"\xc0",
    "three items, not two": b"\x93\x04\x81" + _DATA + b"\xc0",
    "a payload that is not a map": b"\x92\x04\x92\xa1x" + _DATA[5:],
    "an array cut short": b"\x92\x04\x82\xa1x\xdc\xff\xff\xc0" + _DATA,
    "a kind that is not an integer": b"\x92\xa1x\x81" + _DATA,
    "a payload map cut short": b"\x92\x04\x83" + _DATA,
    "a duplicated key": b"\x92\x04\x82" + _DATA + _DATA,
    "a long key": b"\x92\x04\x82\xd9\x28" + b"k" * 40 + b"\x01" + _DATA,
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_page_record_meets_the_same_checks_with_views(name: str) -> None:
    """A body not of the shape the encoder writes goes the copying way: it is
    refused with the same error, or read to the same payload."""
    message = _frame(MALFORMED[name])

    def outcome(views: frozenset[int]) -> object:
        try:
            return [(f.kind, {k: _plain(v) for k, v in f.payload.items()})
                    for f in codec.FrameDecoder(views=views).feed(message)]
        except VmstateError as exc:
            return type(exc), str(exc)

    assert outcome(codec.PAGE_RECORDS) == outcome(frozenset())


def test_page_records_that_do_not_fit_are_refused_from_views_too() -> None:
    ram = Ram(4 << 20)
    decoder = PageDecoder(ram, canonical=False)
    frames = codec.FrameDecoder(views=codec.PAGE_RECORDS)
    beyond = codec.encode_frame(codec.PAGE_LIST, {"pages": struct.pack("<300I", *range(1000, 1300)),
                                                   "zero": b"", "data": bytes(300 * PAGE_SIZE)})
    (frame,) = frames.feed(beyond)
    with pytest.raises(VmstateError, match="page 1299 is beyond the guest's 1024 pages"):
        decoder.apply_list(frame.payload)
    short = codec.encode_frame(codec.PAGES, {"first": 0, "data_map": b"\xff" * 32, "zero_map": bytes(32),
                                             "data": bytes(WINDOW_BYTES - 1)})
    (frame,) = frames.feed(short)
    with pytest.raises(VmstateError, match=f"holds {WINDOW_BYTES - 1} bytes for 256 pages"):
        decoder.apply(frame.payload)
    assert not any(ram.read_bytes(0, ram.size))


def test_closing_memory_collects_a_view_only_a_garbage_cycle_holds() -> None:
    """A view of guest memory in an exception's traceback (a reference cycle)
    does not keep the memory from being given back; a view still in use does."""

    class Holder:
        pass

    ram = Ram(1 << 20)
    holder = Holder()
    holder.view, holder.me = ram.u8[:PAGE_SIZE], holder  # type: ignore[attr-defined]
    del holder
    gc.disable()
    try:
        ram.close()
        kept = Ram(1 << 20)
        view = kept.u8[:PAGE_SIZE]
        with pytest.raises(BufferError):
            kept.close()
        view.release()
        kept.data.close()
    finally:
        gc.enable()


def test_page_records_of_a_migration_stream_go_without_a_crc32_and_nothing_else_does() -> None:
    page = {"first": 0, "data_map": b"\xff" * 32, "zero_map": bytes(32), "data": os.urandom(WINDOW_BYTES)}
    checked = codec.encode_frame(codec.PAGES, page)
    unchecked = b"".join(wire.frame_parts(codec.PAGES, page))
    assert unchecked[8:] == checked[8:] and struct.unpack_from("<II", unchecked) == (len(checked) - 8, 0)
    stream = wire.frame_decoder()
    wrong = unchecked[:4] + b"\x01\x02\x03\x04" + unchecked[8:]
    for message in (checked, unchecked, wrong):  # whatever the field holds: not checked
        assert bytes(list(stream.feed(message))[0].payload["data"]) == page["data"]
    # A snapshot file's reader checks every frame.
    with pytest.raises(codec.ChecksumError, match="crc32 mismatch"):
        list(codec.FrameDecoder().feed(unchecked))
    # Every other record of the stream is checked, and so is a body whose kind is only disguised.
    others = [b"".join(codec.frame_parts(kind, payload, checksum=False)) for kind, payload in (
        (codec.ROUND, {"round": 1}), (codec.STATE, {"name": "hart", "state": {"pc": 1}}),
        (codec.CONSOLE, {"start": 0, "data": bytes(5000)}))]
    disguised = b"\x93\x04\x81\xa1x\x01\xc0"
    others.append(struct.pack("<II", len(disguised), 0) + disguised)
    for message in others:
        with pytest.raises(codec.ChecksumError, match="crc32 mismatch"):
            list(wire.frame_decoder().feed(message))


def test_an_unchecked_page_record_is_decoded_as_carefully() -> None:
    """No crc32 does not mean no checks: a malformed or oversized body is refused as before."""
    stream = wire.frame_decoder()
    body = MALFORMED["bytes after the payload"]
    with pytest.raises(codec.FormatError, match="undecodable record body"):
        list(stream.feed(struct.pack("<II", len(body), 0) + body))
    many = b"\x92\x04\x81\xa1x\xdd" + struct.pack(">I", 70000) + b"\xc0" * 70000
    with pytest.raises(codec.LimitError, match="more than 65536 msgpack objects"):
        list(wire.frame_decoder().feed(
            struct.pack("<II", len(many), 0) + many))
