"""vmstate: a VM is a file. Save anywhere, restore anywhere, continue
bit-identically; refuse every kind of bad input cleanly."""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from node.machine.machine import Machine, MachineConfig, StopReason
from support import guest
from vmstate import VmstateError, codec
from vmstate import snapshot as S

FIXTURES = Path(__file__).parent / "fixtures"


def boot(name: str, memory: int = 64 << 20, **kw: object) -> tuple[Machine, bytearray]:
    out = bytearray()
    m = Machine(MachineConfig(kernel=guest(name), memory_size=memory, **kw), console=out.extend)  # type: ignore[arg-type]
    m.boot()
    return m, out


def finish(m: Machine, limit: int = 100_000_000) -> None:
    while m.run(1_000_000) is StopReason.LIMIT:
        assert m.instructions < limit


def reference(name: str, memory: int = 64 << 20) -> tuple[bytes, str, int]:
    m, out = boot(name, memory)
    finish(m)
    return bytes(out), S.state_digest(m), m.instructions


def save_restore_finish(name: str, n: int, tmp_path: Path, memory: int = 64 << 20,
                        options: S.SaveOptions | None = None, use_mmap: bool = False) -> tuple[bytes, str]:
    m, out = boot(name, memory)
    assert m.run(n) is StopReason.LIMIT
    path = tmp_path / f"{name}-{n}.vmstate"
    report = S.save(m, str(path), options=options)
    assert report.state_digest == S.state_digest(m)
    m.close()
    restored = S.load(str(path), use_mmap=use_mmap)
    r = restored.machine
    assert r is not None and r.instructions == n
    after = bytearray()
    r.console = after.extend
    finish(r)
    digest = S.state_digest(r)
    r.close()
    return bytes(out) + bytes(after), digest


@pytest.mark.parametrize("name,points", [
    ("hello", [1, 6, 100, 200]),
    ("isa-selftest", [7, 5_000, 61_234, 150_001]),
    ("dirtier", [1_000, 777_777, 3_000_000]),
])
def test_save_restore_continues_bit_identically(name: str, points: list[int], tmp_path: Path) -> None:
    ref_out, ref_digest, _ = reference(name)
    for n in points:
        out, digest = save_restore_finish(name, n, tmp_path)
        assert out == ref_out, f"console differs after restoring at {n}"
        assert digest == ref_digest, f"final state differs after restoring at {n}"


def test_cpubench_restored_midway_finishes_identically(tmp_path: Path) -> None:
    ref_out, ref_digest, total = reference("cpubench")
    out, digest = save_restore_finish("cpubench", total // 2 + 12_345, tmp_path,
                                      options=S.SaveOptions(compress=True))
    assert (out, digest) == (ref_out, ref_digest)


def test_restore_at_lr_sc_and_trap_points(tmp_path: Path) -> None:
    """Points chosen where the hart is inside an LR/SC sequence or a trap handler."""
    m, _ = boot("isa-selftest")
    lr_points: list[int] = []
    trap_points: list[int] = []
    real_lr, real_trap = m.mmu.lr, m.system.take_trap

    def lr(*args):  # type: ignore[no-untyped-def]
        lr_points.append(m.hart.icount + m.hart.idx + 1)
        return real_lr(*args)

    def take_trap(*args, **kw):  # type: ignore[no-untyped-def]
        trap_points.append(m.hart.icount + 2)
        return real_trap(*args, **kw)

    m.mmu.lr = lr  # type: ignore[method-assign]
    m.system.take_trap = take_trap  # type: ignore[method-assign]
    m.backend.reset_environment()
    finish(m)
    assert lr_points and trap_points
    ref_out, ref_digest, _ = reference("isa-selftest")
    for n in lr_points[:3] + trap_points[:: max(1, len(trap_points) // 4)][:4]:
        assert save_restore_finish("isa-selftest", n, tmp_path) == (ref_out, ref_digest), n


@pytest.mark.parametrize("options,use_mmap", [
    (S.SaveOptions(compress=True), False),
    (S.SaveOptions(mappable=True), False),
    (S.SaveOptions(mappable=True), True),
])
def test_layouts_restore_identically(options: S.SaveOptions, use_mmap: bool, tmp_path: Path) -> None:
    ref_out, ref_digest, _ = reference("dirtier")
    assert save_restore_finish("dirtier", 1_500_000, tmp_path, options=options,
                               use_mmap=use_mmap) == (ref_out, ref_digest)


def test_saving_twice_gives_identical_sections_and_digest(tmp_path: Path) -> None:
    m, _ = boot("dirtier")
    m.run(500_000)
    a = S.save(m, str(tmp_path / "a.vmstate"), meta={"created": "one"})
    b = S.save(m, str(tmp_path / "b.vmstate"), meta={"created": "two"})
    assert a.state_digest == b.state_digest
    assert [(s.name, s.digest, s.records) for s in a.sections] == \
        [(s.name, s.digest, s.records) for s in b.sections]
    ra, rb = S.inspect(str(tmp_path / "a.vmstate")), S.inspect(str(tmp_path / "b.vmstate"))
    assert ra.meta["created"] == "one" and rb.meta["created"] == "two"
    assert ra.state_digest == rb.state_digest == a.state_digest


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_fixture_of_each_format_version_restores_and_continues(version: str) -> None:
    expected = json.loads((FIXTURES / f"vmstate-{version}-dirtier.json").read_text())
    restored = S.load(str(FIXTURES / f"vmstate-{version}-dirtier.vmstate"))
    m = restored.machine
    assert m is not None
    assert restored.report.format == tuple(int(n) for n in version.split("."))
    assert restored.console == expected["console_before"].encode()
    assert S.state_digest(m) == expected["state_digest_at_save"]
    out = bytearray()
    m.console = out.extend
    finish(m)
    assert out.decode() == expected["console_after"]
    assert m.exit_code == expected["exit_code"]
    assert m.instructions == expected["final_instret"]
    assert S.state_digest(m) == expected["final_state_digest"]


def test_disk_is_embedded_or_referenced(tmp_path: Path) -> None:
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"DISKDATA" * 64 + bytes(1 << 20))
    m, _ = boot("hello", disk=str(disk))
    m.run(50)
    S.save(m, str(tmp_path / "emb.vmstate"))
    S.save(m, str(tmp_path / "ref.vmstate"), options=S.SaveOptions(include_disk=False))
    m.close()
    with pytest.raises(VmstateError, match="say where to write it"):
        S.load(str(tmp_path / "emb.vmstate"))
    with pytest.raises(VmstateError, match=r"cannot write its disk to .*/nowhere/copy.img \(No such file"):
        S.load(str(tmp_path / "emb.vmstate"), disk=str(tmp_path / "nowhere" / "copy.img"))
    restored = S.load(str(tmp_path / "emb.vmstate"), disk=str(tmp_path / "copy.img"))
    assert (tmp_path / "copy.img").read_bytes() == disk.read_bytes()
    restored.machine.close()  # type: ignore[union-attr]
    S.load(str(tmp_path / "ref.vmstate")).machine.close()  # type: ignore[union-attr]
    disk.write_bytes(b"CHANGED!" + disk.read_bytes()[8:])
    with pytest.raises(VmstateError, match="has changed since the snapshot"):
        S.load(str(tmp_path / "ref.vmstate"))


# -- bad input ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_snapshot(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    m, _ = boot("hello", memory=4 << 20)
    m.run(100)
    path = tmp_path_factory.mktemp("snap") / "small.vmstate"
    S.save(m, str(path), meta={"created": "fixed"}, options=S.SaveOptions(console=b"hi"))
    return path.read_bytes()


def _rewrite(data: bytes, edit) -> bytes:  # type: ignore[no-untyped-def]
    """Decode the frames, let ``edit`` change (kind, payload) pairs, re-encode
    with valid crcs (and recompute digests only where the edit wants)."""
    frames = list(codec.FrameDecoder().feed(data[S.PREAMBLE.size:]))
    out = data[:S.PREAMBLE.size]
    for fr in frames:
        kind, payload = edit(fr.kind, dict(fr.payload))
        out += codec.encode_frame(kind, payload)
    return out


def _load_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.vmstate"
    path.write_bytes(data)
    S.load(str(path))


def test_refuses_a_vm_larger_than_the_limit(tmp_path: Path, small_snapshot: bytes) -> None:
    def claim_1tib(kind, payload):  # type: ignore[no-untyped-def]
        if kind == codec.HEADER:
            payload["memory_size"] = 1 << 40
        return kind, payload

    with pytest.raises(S.LimitError, match="memory"):
        _load_bytes(tmp_path, _rewrite(small_snapshot, claim_1tib))


def test_refuses_a_newer_major_version(tmp_path: Path, small_snapshot: bytes) -> None:
    data = bytearray(small_snapshot)
    struct.pack_into("<H", data, 8, 2)
    with pytest.raises(S.VersionError, match="newer"):
        _load_bytes(tmp_path, bytes(data))


def test_refuses_an_unknown_section(tmp_path: Path, small_snapshot: bytes) -> None:
    def rename(kind, payload):  # type: ignore[no-untyped-def]
        if kind == codec.BEGIN and payload["section"] == "console":
            payload["section"] = "gpu"
        return kind, payload

    with pytest.raises(S.FormatError, match="unknown section 'gpu'"):
        _load_bytes(tmp_path, _rewrite(small_snapshot, rename))


def test_refuses_an_unknown_component_version(tmp_path: Path, small_snapshot: bytes) -> None:
    def bump(kind, payload):  # type: ignore[no-untyped-def]
        if kind == codec.STATE and payload["name"] == "hart":
            payload["state"] = dict(payload["state"], version=99)
        return kind, payload

    with pytest.raises(VmstateError):  # the section digest catches it first; never restored
        _load_bytes(tmp_path, _rewrite(small_snapshot, bump))


def test_refuses_truncation_and_flipped_bits(tmp_path: Path, small_snapshot: bytes) -> None:
    with pytest.raises(S.TruncatedError):
        _load_bytes(tmp_path, small_snapshot[:len(small_snapshot) // 2])
    flipped = bytearray(small_snapshot)
    flipped[len(flipped) // 2] ^= 0x10
    with pytest.raises(S.ChecksumError):
        _load_bytes(tmp_path, bytes(flipped))
    with pytest.raises(S.FormatError, match="not a vmstate file"):
        _load_bytes(tmp_path, b"NOTVMST!" + small_snapshot[8:])


def test_refuses_a_giant_record_before_reading_it(tmp_path: Path, small_snapshot: bytes) -> None:
    data = small_snapshot[:S.PREAMBLE.size] + struct.pack("<II", 0xFFFF_FFF0, 0)
    with pytest.raises(S.LimitError, match="claims"):
        _load_bytes(tmp_path, data)


FUZZ_CASES = 2500


def test_fuzzed_files_fail_cleanly(tmp_path: Path, small_snapshot: bytes) -> None:
    rng = random.Random(2026)
    path = tmp_path / "fuzz.vmstate"
    outcomes = {"refused": 0, "loaded": 0}
    for case in range(FUZZ_CASES):
        data = bytearray(small_snapshot)
        how = case % 4
        if how == 0:
            data = data[:rng.randrange(len(data))]
        elif how == 1:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif how == 2:
            pos = rng.randrange(len(data))
            data[pos:pos + rng.randint(1, 64)] = os.urandom(rng.randint(0, 64))
        else:
            pos = rng.randrange(S.PREAMBLE.size, len(data))
            data = data[:pos] + data[pos + rng.randint(1, 200):]
        path.write_bytes(bytes(data))
        try:
            restored = S.load(str(path))
        except VmstateError:
            outcomes["refused"] += 1
            continue
        # Only an unchanged state may load (a change in ignored bytes is impossible:
        # every byte up to the trailer is covered by a digest).
        assert S.state_digest(restored.machine) == S.inspect(str(path)).state_digest  # type: ignore[arg-type]
        restored.machine.close()  # type: ignore[union-attr]
        outcomes["loaded"] += 1
    assert outcomes["refused"] >= FUZZ_CASES * 0.99


@pytest.mark.parametrize("compress", [False, True])
def test_page_lists_carry_scattered_pages_by_number(compress: bool) -> None:
    from node.machine.memory import Ram
    from vmstate.pages import PAGE_SIZE, PageDecoder, PageEncoder

    src, dst = Ram(4 << 20), Ram(4 << 20)
    pages = [3, 4, 5, 100, 700, 1023]
    for page in pages:
        dst.write_bytes(page * PAGE_SIZE, b"stale" * 100)
        if page != 100:  # page 100 is zero now: it travels as its number alone
            src.write_bytes(page * PAGE_SIZE, os.urandom(PAGE_SIZE))
    seen: list[tuple[list[int], list[int]]] = []
    enc = PageEncoder(src.u8, compress=compress, canonical=False)
    dec = PageDecoder(dst, canonical=False, on_pages=lambda first, data, contents, zero: seen.append((data, zero)))
    records = list(enc.page_list(pages, limit=4))
    for payload in records:
        framed = list(codec.FrameDecoder().feed(codec.encode_frame(codec.PAGE_LIST, payload)))[0]
        dec.apply_list(framed.payload)
    assert len(records) == 2 and seen == [([3, 4, 5], [100]), ([700, 1023], [])]
    assert (enc.data_pages, enc.zero_pages) == (dec.data_pages, dec.zero_pages) == (5, 1)
    for page in pages:
        assert dst.read_bytes(page * PAGE_SIZE, PAGE_SIZE) == src.read_bytes(page * PAGE_SIZE, PAGE_SIZE)


@pytest.mark.parametrize("payload,error", [
    ({"pages": b"\x01\x00\x00", "zero": b"", "data": b""}, "malformed page list record"),
    ({"pages": struct.pack("<I", 1024), "zero": b"", "data": bytes(4096)}, "beyond the guest's 1024 pages"),
    ({"pages": struct.pack("<I", 1), "zero": b"", "data": bytes(100)}, "holds 100 bytes for 1 pages"),
    ({"pages": b"", "zero": bytes(4 * 70000), "data": b""}, "names 70000 pages"),
    ({"pages": b"", "zero": b"", "data": "text"}, "malformed page list record"),
])
def test_page_lists_that_do_not_fit_are_refused(payload: dict, error: str) -> None:
    from node.machine.memory import Ram
    from vmstate.pages import PageDecoder

    with pytest.raises(VmstateError, match=error):
        PageDecoder(Ram(4 << 20), canonical=False).apply_list(payload)


def _window_cases() -> tuple[object, list[int]]:
    """RAM of 6 windows: random; random but every page starting with eight
    zero bytes; one zero page among random ones; all zeros; sparse; random.
    Returns the RAM and the number of data pages per window."""
    from node.machine.memory import Ram
    from vmstate.pages import PAGE_SIZE, WINDOW_BYTES

    ram = Ram(6 * WINDOW_BYTES)
    ram.write_bytes(0, os.urandom(WINDOW_BYTES))
    heads = bytearray(os.urandom(WINDOW_BYTES))
    for page in range(256):
        heads[page * PAGE_SIZE:page * PAGE_SIZE + 8] = bytes(8)  # looks like a zero page at first sight
    ram.write_bytes(WINDOW_BYTES, bytes(heads))
    ram.write_bytes(2 * WINDOW_BYTES, os.urandom(WINDOW_BYTES))
    ram.write_bytes(2 * WINDOW_BYTES + 17 * PAGE_SIZE, bytes(PAGE_SIZE))
    ram.write_bytes(4 * WINDOW_BYTES + 9 * PAGE_SIZE, b"sparse")
    ram.write_bytes(5 * WINDOW_BYTES, os.urandom(WINDOW_BYTES))
    return ram, [256, 256, 255, 0, 1, 256]


def test_whole_windows_skip_the_scan_for_zero_pages_only_when_none_can_be_zero() -> None:
    """A window is sent whole without looking for zero pages only when every
    page's first eight bytes are non-zero; pages that merely start with
    zeros, and a real zero page, go the careful way, and what is sent
    restores the memory exactly."""
    from node.machine.memory import Ram
    from vmstate.pages import PageDecoder, PageEncoder

    ram, per_window = _window_cases()
    encoder = PageEncoder(ram.u8)
    payloads = list(encoder.all_pages())
    assert [bin(int.from_bytes(p["data_map"], "little")).count("1") for p in payloads] == [n for n in per_window if n]
    assert (encoder.data_pages, encoder.zero_pages) == (1024, 6 * 256 - 1024)
    copy = Ram(ram.size)
    decoder = PageDecoder(copy)
    for payload in payloads:
        decoder.apply(list(codec.FrameDecoder().feed(codec.encode_frame(codec.PAGES, payload)))[0].payload)
    assert bytes(copy.u8) == bytes(ram.u8) and decoder.digest.digest() == encoder.digest.digest()


def test_atomic_files_hold_the_old_contents_or_the_new_never_a_mix(tmp_path: Path) -> None:
    """vmstate.durable: a write that fails leaves the old file as it was and
    no temporary file behind; one that completes replaces it whole, with the
    permissions a plain open would give."""
    from vmstate.durable import atomic_file

    path = tmp_path / "state"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(str(path)) as f:
            f.write(b"new, half")
            raise RuntimeError("the disk filled up")
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["state"]
    with atomic_file(str(path), "w") as f:
        f.write("new")
    assert path.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["state"]
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


# -- verify refuses what restore refuses ------------------------------------------------------

def _reseal(data: bytes, edit) -> bytes:  # type: ignore[no-untyped-def]
    """Like :func:`_rewrite`, but ``edit`` returns a list of (kind, payload)
    pairs to put in the frame's place, and the section digests and record
    counts (of the sections digested by record bodies) and the trailer are
    recomputed: a file wrong only in what the edit did."""
    out = bytearray(data[:S.PREAMBLE.size])
    whole = hashlib.sha256(out)
    section, body_hash, count = None, hashlib.sha256(), 0
    digests: dict[str, bytes] = {}
    for fr in codec.FrameDecoder().feed(data[S.PREAMBLE.size:]):
        for kind, payload in edit(fr.kind, dict(fr.payload)):
            if kind == codec.BEGIN:
                section, body_hash, count = payload["section"], hashlib.sha256(), 0
            elif kind == codec.END:
                if section not in S.CONTENT_SECTIONS:
                    payload = dict(payload, records=count, digest=body_hash.digest())
                digests[payload["section"]] = payload["digest"]
            elif kind == codec.TRAILER:
                payload = {"digest": whole.digest(), "state_digest": S._combine(digests)}
            frame = codec.encode_frame(kind, payload)
            if section is None or kind in (codec.BEGIN, codec.END):
                whole.update(frame)
            else:
                body_hash.update(frame[codec.FRAME_PREFIX.size:])
                count += 1
            if kind == codec.END:
                section = None
            out += frame
    return bytes(out)


def _write(tmp_path: Path, data: bytes, name: str = "bad.vmstate") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.fixture(scope="module")
def mappable_snapshot(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, S.Report]:
    m, _ = boot("dirtier", memory=16 << 20)
    m.run(300_000)
    path = tmp_path_factory.mktemp("snap") / "mappable.vmstate"
    report = S.save(m, str(path), options=S.SaveOptions(mappable=True))
    m.close()
    return path.read_bytes(), report


def test_verify_checks_a_mappable_snapshots_memory_image(tmp_path: Path, mappable_snapshot: tuple[bytes, S.Report],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """inspect (caravan vmstate verify) checks the raw memory image's length
    and digest as a restore does, reading it a piece at a time, and says
    what the memory is."""
    data, saved = mappable_snapshot
    image_offset = len(data) - (16 << 20)  # the image ends the file
    flipped = bytearray(data)
    flipped[image_offset + 0x1000 * 5 + 17] ^= 0x01
    for check in (S.inspect, S.load):
        with pytest.raises(S.ChecksumError, match="the memory image does not match its digest"):
            check(_write(tmp_path, bytes(flipped)))
        with pytest.raises(S.TruncatedError, match="the memory image is cut short"):
            check(_write(tmp_path, data[:100_000]))
    monkeypatch.setattr(S, "IMAGE_CHUNK", 3 << 20)  # pieces that are not a power of two, the last one short
    report = S.inspect(_write(tmp_path, data, "good.vmstate"))
    assert report.mappable and (report.image_offset, report.image_bytes) == (image_offset, 16 << 20)
    assert image_offset % 4096 == 0 and image_offset == saved.image_offset
    assert (report.data_pages, report.zero_pages) == (saved.data_pages, saved.zero_pages) and saved.data_pages > 0
    proc = subprocess.run([sys.executable, "-c", "from controller.cli import main; main()", "vmstate", "inspect",
                           _write(tmp_path, data, "good.vmstate")], capture_output=True, timeout=120)
    assert proc.returncode == 0 and b"a raw memory image of 16777216 bytes" in proc.stdout, proc.stdout


def test_memory_seen_in_pieces_has_the_digest_of_memory_seen_whole() -> None:
    from node.machine.memory import Ram
    from vmstate.pages import PAGE_SIZE, WINDOW_BYTES, PiecewiseDigest, memory_digest

    ram, _ = _window_cases()
    odd = Ram(ram.size + 3 * PAGE_SIZE)  # ends inside a window
    odd.write_bytes(0, bytes(ram.u8))
    odd.write_bytes(ram.size + PAGE_SIZE, b"tail")
    for memory in (ram, odd):
        for piece in (WINDOW_BYTES, 2 * WINDOW_BYTES, memory.size):
            digest = PiecewiseDigest()
            for start in range(0, memory.size, piece):
                digest.update(memory.u8[start:start + piece])
            assert digest.digest.digest() == memory_digest(memory.u8), (memory.size, piece)
            assert digest.data_pages == 1024 + (memory is odd)


def test_a_pages_record_with_a_negative_first_page_is_refused_cleanly(tmp_path: Path, small_snapshot: bytes) -> None:
    pages = [fr.payload for fr in codec.FrameDecoder().feed(small_snapshot[S.PREAMBLE.size:]) if fr.kind == codec.PAGES]

    def negative(kind, payload):  # type: ignore[no-untyped-def]
        if kind == codec.PAGES and payload == pages[-1]:
            payload["first"] = -256
        return [(kind, payload)]

    path = _write(tmp_path, _reseal(small_snapshot, negative))
    for check in (S.inspect, S.load):
        with pytest.raises(S.FormatError, match="malformed pages record"):
            check(path)


def test_a_frame_of_many_small_objects_is_refused_before_it_is_decoded() -> None:
    """Bulk data is one byte string; a frame that would decode to more than
    MAX_OBJECTS objects (a 16 MiB frame of empty arrays: 1.3 GB of lists) is
    refused without decoding it, in a few milliseconds."""
    import time
    import tracemalloc

    def frame(n: int) -> bytes:  # [PAGES, {"x": [None] * n}]: n + 5 objects
        return codec.encode_frame(codec.PAGES, {"x": [None] * n})

    assert len(list(codec.FrameDecoder().feed(frame(65536 - 5)))) == 1
    with pytest.raises(S.LimitError, match="more than 65536 msgpack objects"):
        list(codec.FrameDecoder().feed(frame(65536 - 4)))
    nested = b"\x92\x04\x81\xa1x\xdc\xff\xff" + (b"\xdc\x00\xfa" + b"\x90" * 250) * 0xFFFF
    amplifier = struct.pack("<II", len(nested), zlib.crc32(nested)) + nested
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(S.LimitError, match="at byte 0: a record of 16580363 bytes holds more than"):
        list(codec.FrameDecoder().feed(amplifier))
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 * len(amplifier) and seconds < 2, (peak, seconds)  # the input kept, nothing decoded


def test_errors_name_file_offsets(tmp_path: Path, small_snapshot: bytes) -> None:
    """A frame's offset in a message counts the file's 16-byte preamble."""
    first = codec.FRAME_PREFIX.size + struct.unpack_from("<I", small_snapshot, S.PREAMBLE.size)[0]
    second = S.PREAMBLE.size + first
    corrupt = bytearray(small_snapshot)
    corrupt[second + codec.FRAME_PREFIX.size + 2] ^= 0x40
    with pytest.raises(S.ChecksumError, match=f"record at byte {second} is corrupt"):
        S.inspect(_write(tmp_path, bytes(corrupt)))


def test_verify_names_the_file_once(tmp_path: Path, small_snapshot: bytes) -> None:
    path = _write(tmp_path, small_snapshot[:-5])
    proc = subprocess.run([sys.executable, "-c", "from controller.cli import main; main()", "vmstate", "verify", path],
                          capture_output=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith(f"{path}: BAD: ") and proc.stderr.decode().count(path) == 1, proc.stderr


def test_verify_restores_the_state_records(tmp_path: Path) -> None:
    """A snapshot whose records are intact but whose hart record does not
    restore (a bad value, written by a buggy or hostile writer with valid
    digests) verifies BAD, as a restore refuses it; inspect alone passes."""
    m, _ = boot("hello", memory=4 << 20)
    m.run(100)
    good = str(tmp_path / "good.vmstate")
    S.save(m, good)
    state = m.hart.to_state()
    m.hart.to_state = lambda: {**state, "pc": "somewhere"}  # type: ignore[method-assign]
    bad = str(tmp_path / "bad.vmstate")
    S.save(m, bad)
    m.close()
    assert not S.inspect(bad).states_checked and S.inspect(good, check_states=True).states_checked
    with pytest.raises(VmstateError):
        S.load(bad)
    with pytest.raises(S.FormatError, match=r"bad.vmstate: hart state: malformed record \(pc is .somewhere., not an integer\)"):
        S.inspect(bad, check_states=True)
    cli = [sys.executable, "-c", "from controller.cli import main; main()", "vmstate", "verify"]
    proc = subprocess.run([*cli, bad], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.startswith(f"{bad}: BAD: ") and "hart state" in proc.stderr, proc.stderr
    proc = subprocess.run([*cli, good], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith(f"{good}: ok (format {S.FORMAT_MAJOR}.{S.FORMAT_MINOR}, state "), proc.stdout


def test_nothing_may_follow_the_trailer(tmp_path: Path, small_snapshot: bytes,
                                        mappable_snapshot: tuple[bytes, S.Report]) -> None:
    trailer = list(codec.FrameDecoder().feed(small_snapshot[S.PREAMBLE.size:]))[-1]
    assert trailer.kind == codec.TRAILER
    image = mappable_snapshot[0]
    padding = len(image) - (16 << 20) - 1  # the last byte between the trailer and the image
    assert image[padding] == 0
    cases = [small_snapshot + b"garbage", small_snapshot + trailer.raw, small_snapshot + bytes(4096),
             image + b"\0", image[:padding] + b"\x01" + image[padding + 1:]]
    for data in cases:
        path = _write(tmp_path, data)
        for check in (S.inspect, S.load):
            with pytest.raises(S.FormatError, match="data after the (trailer|memory image)"):
                check(path)


@pytest.mark.parametrize("section,anchor", [
    ("config", (codec.STATE, "machine")), ("hart", (codec.STATE, "hart")), ("devices", (codec.STATE, "board")),
    ("console", (codec.CONSOLE, None))])
def test_records_of_kinds_a_section_does_not_hold_are_refused(section: str, anchor: tuple[int, str | None],
                                                              tmp_path: Path, small_snapshot: bytes) -> None:
    """FORMAT.md: a new record kind is a major version change, so a reader
    refuses a kind it does not know (or one out of place) whatever the minor
    version; new payload keys are the minor additions it ignores."""
    def insert(extra: tuple[int, dict]):  # type: ignore[no-untyped-def]
        def edit(kind, payload):  # type: ignore[no-untyped-def]
            if (kind, payload.get("name")) == anchor:
                return [extra, (kind, payload)]
            return [(kind, payload)]
        return edit

    for extra, message in (((99, {"future": 1}), f"record of unknown kind 99 in the {section} section"),
                           ((codec.PAGES, {}), f"pages record in the {section} section")):
        with pytest.raises(S.FormatError, match=message):
            S.inspect(_write(tmp_path, _reseal(small_snapshot, insert(extra))))

    def minor_1_1(kind, payload):  # type: ignore[no-untyped-def]
        if kind == codec.HEADER:
            payload = dict(payload, format=[1, 1], future={"key": 1}, meta=dict(payload["meta"], new="x"))
        elif kind == codec.STATE:
            payload = dict(payload, future=True, state=dict(payload["state"], future_field=7))
        elif kind in (codec.PAGES, codec.CONSOLE, codec.BEGIN, codec.END):
            payload = dict(payload, future=b"x")
        return [(kind, payload)]

    newer = bytearray(small_snapshot)
    struct.pack_into("<H", newer, 10, 1)  # the preamble's minor version
    path = _write(tmp_path, _reseal(bytes(newer), minor_1_1))
    assert S.inspect(path).format == (1, 1)
    S.load(path).machine.close()  # type: ignore[union-attr]


def test_inspect_json_shows_metadata_whatever_its_keys(tmp_path: Path) -> None:
    """A file's metadata is the writer's to choose: bytes keys too (msgpack
    allows them). `inspect --json` shows them in hex, as it shows bytes values,
    rather than failing with an internal error."""
    m, _ = boot("hello", memory=4 << 20)
    m.run(100)
    path = tmp_path / "meta.vmstate"
    S.save(m, str(path), meta={"name": "odd", b"\x01raw": b"\xff"})
    m.close()
    for flags in (["--json"], ["-o", "json"]):  # -o json as every other command has it
        proc = subprocess.run([sys.executable, "-c", "from controller.cli import main; main()", "vmstate", "inspect",
                               *flags, str(path)], capture_output=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        meta = json.loads(proc.stdout)["meta"]
        assert meta["name"] == "odd" and meta[b"\x01raw".hex()] == "ff"
