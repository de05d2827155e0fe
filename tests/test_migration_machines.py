"""The migration state machines, message by message (no sockets): the
source's convergence decisions and legal transitions, and the destination
building a real VM from frames and refusing what does not verify."""

from __future__ import annotations

import os

import pytest

from node.machine.machine import Machine, MachineConfig, StopReason
from node.migration.destination import DestinationMachine, Phase as DPhase, ProtocolError
from node.migration import wire
from node.migration.destination import MIGRATION_VERSION
from node.migration.digest import CHUNK_PAGES, CHUNK_SIZE, MemoryDigest, chunk_hash, digest_of
from node.migration.source import (HANDOVER_SECONDS, IllegalTransition, Next, Params, Phase, Round,
                                   SourceMachine)
from support import guest
from vmstate import codec
from vmstate.pages import FULL_WINDOW, PAGE_SIZE, WINDOW, PageDecoder, PageEncoder

MIB = 1 << 20


def source(**params: object) -> SourceMachine:
    sm = SourceMachine(Params(**params), total_pages=65536)  # type: ignore[arg-type]
    sm.begin()
    return sm


def round_of(number: int, mib: float, seconds: float) -> Round:
    return Round(number, pages=int(mib * 256), bytes=int(mib * MIB), seconds=seconds)


def test_stops_iterating_once_the_expected_downtime_fits() -> None:
    sm = source(downtime_ms=20)
    # 100 MiB/s; 1000 dirty pages = 39 ms + hand-over: keep going.
    assert sm.round_done(round_of(0, 100, 1.0), dirty_pages=1000, elapsed=1.0) is Next.ROUND
    assert sm.expected_downtime_ms == pytest.approx(1000 * 4096 / (100 * MIB) * 1000 + HANDOVER_SECONDS * 1000)
    # 100 dirty pages = 3.9 ms + 5 ms: stop.
    assert sm.round_done(round_of(1, 4, 0.04), dirty_pages=100, elapsed=1.1) is Next.STOP_AND_COPY
    sm.stop()
    sm.sent()
    sm.verified()
    sm.decide(True)
    assert sm.phase is Phase.COMMITTED and sm.status == "completed"


def test_scattered_pages_are_expected_at_their_measured_cost_not_at_round_0_speed() -> None:
    """Round 0 streams whole windows (1000 MiB/s: 4 µs a page); the pages left
    for the stop-and-copy are scattered and cost what the node measured."""
    decisions = {}
    for page_seconds in (1e-6, 20e-6):
        sm = SourceMachine(Params(downtime_ms=20), total_pages=65536, page_seconds=page_seconds)
        sm.begin()
        decisions[page_seconds] = (sm.round_done(round_of(0, 1000, 1.0), dirty_pages=1000, elapsed=1.0),
                                   sm.expected_downtime_ms)
    assert decisions[1e-6] == (Next.STOP_AND_COPY, pytest.approx(1000 * 4096 / (1000 * MIB) * 1000 + HANDOVER_SECONDS * 1000))
    assert decisions[20e-6] == (Next.ROUND, pytest.approx(1000 * 20e-3 + HANDOVER_SECONDS * 1000))


def test_the_hand_over_is_expected_at_its_measured_cost() -> None:
    """The rest of a downtime (state, verification, hand-over record, resume)
    counts at what the node measured: a slow hand-over keeps the migration
    iterating where the default guess would have stopped."""
    decisions = {}
    for handover in (HANDOVER_SECONDS, 0.018):
        sm = SourceMachine(Params(downtime_ms=20), total_pages=65536, handover_seconds=handover)
        sm.begin()
        decisions[handover] = (sm.round_done(round_of(0, 1000, 1.0), dirty_pages=500, elapsed=1.0),
                               sm.expected_downtime_ms)
    assert decisions[HANDOVER_SECONDS] == (Next.STOP_AND_COPY, pytest.approx(500 * 7e-3 + HANDOVER_SECONDS * 1000))
    assert decisions[0.018] == (Next.ROUND, pytest.approx(500 * 7e-3 + 18))


def test_timeout_aborts_or_forces_as_asked() -> None:
    for action, expected in (("abort", Next.ABORT), ("force", Next.STOP_AND_COPY)):
        sm = source(downtime_ms=10, timeout=5, on_timeout=action)
        assert sm.round_done(round_of(0, 10, 1.0), 50_000, elapsed=1.0) is Next.ROUND
        assert sm.round_done(round_of(1, 10, 4.5), 50_000, elapsed=5.5) is expected
        assert "5.5 s" in sm.reason


def test_max_rounds_acts_like_the_timeout() -> None:
    sm = source(downtime_ms=10, max_rounds=3)
    decisions = [sm.round_done(round_of(i, 10, 1.0), 50_000, elapsed=i + 1.0) for i in range(3)]
    assert decisions == [Next.ROUND, Next.ROUND, Next.ABORT]
    assert "3 rounds" in sm.reason


def test_auto_converge_throttles_step_by_step_when_rounds_stop_shrinking() -> None:
    sm = source(downtime_ms=10, auto_converge=True)
    for i, dirtied in enumerate([50_000, 49_000, 48_500, 48_000, 10_000]):
        r = round_of(i, 10, 1.0)
        r.dirtied = dirtied
        sm.round_done(r, dirtied, elapsed=i + 1.0)
    throttles = [r.throttle for r in sm.rounds]
    assert throttles == [0.0, 0.0, pytest.approx(0.2), pytest.approx(0.3), pytest.approx(0.4)]
    assert sm.throttle == pytest.approx(0.4)  # the last round shrank: no further step
    plain = source(downtime_ms=10)
    for i in range(3):
        r = round_of(i, 10, 1.0)
        r.dirtied = 50_000
        plain.round_done(r, 50_000, elapsed=i + 1.0)
    assert plain.throttle == 0.0


@pytest.mark.parametrize("event", ["stop", "sent", "verified", "commit"])
def test_illegal_transitions_name_both_ends(event: str) -> None:
    sm = SourceMachine(Params(), total_pages=1)
    with pytest.raises(IllegalTransition, match=f"'{event}'.*SETUP"):
        if event == "commit":
            sm.decide(True)
        else:
            getattr(sm, event)()


def test_abort_is_legal_until_commit() -> None:
    for steps in ([], ["begin"], ["begin", "stop"], ["begin", "stop", "sent"], ["begin", "stop", "sent", "verified"]):
        sm = SourceMachine(Params(), total_pages=1)
        for step in steps:
            getattr(sm, step)()
        sm.abort("test")
        assert sm.phase is Phase.ABORTED
    sm = SourceMachine(Params(), total_pages=1)
    for step in ("begin", "stop", "sent", "verified"):
        getattr(sm, step)()
    sm.decide(True)
    with pytest.raises(IllegalTransition):
        sm.abort("too late")


@pytest.mark.parametrize("bad", [dict(downtime_ms=0), dict(on_timeout="maybe"), dict(compress="lz4"),
                                 dict(max_rounds=-1)])
def test_params_are_validated(bad: dict) -> None:
    with pytest.raises(ValueError):
        Params(**bad)


def test_digest_is_incremental_and_matches_a_full_computation() -> None:
    assert CHUNK_PAGES >= 2
    mem = bytearray(4 * CHUNK_SIZE)
    view = memoryview(mem)
    d = MemoryDigest(view)
    assert d.value == digest_of(view) == bytes(16)  # all zeros: nothing counts
    a, b, c = 0, CHUNK_PAGES - 1, 2 * CHUNK_PAGES + 1  # a and b share chunk 0; c is in chunk 2
    for page in (a, b, c):
        mem[page * PAGE_SIZE + 7] = page + 1
    d.update(0, [a, b, c], memoryview(b""), [])
    assert d.value == digest_of(view) and sorted(d.chunks) == [0, 2]
    mem[b * PAGE_SIZE + 7] = 0  # chunk 0 still holds page a
    d.update(0, [], memoryview(b""), [b])
    assert d.value == digest_of(view) and sorted(d.chunks) == [0, 2]
    mem[c * PAGE_SIZE + 7] = 0  # chunk 2 is all zeros again: it leaves the digest
    d.update(0, [], memoryview(b""), [c])
    assert d.value == digest_of(view) and sorted(d.chunks) == [0]
    mem[a * PAGE_SIZE + 5] = 1
    d.update(0, [a], memoryview(b""), [])
    assert d.value == digest_of(view)


def test_digest_folds_whole_windows_and_sparse_records() -> None:
    mem = bytearray(os.urandom(2 * 256 * PAGE_SIZE))
    mem[2 * PAGE_SIZE:3 * PAGE_SIZE] = bytes(PAGE_SIZE)
    view = memoryview(mem)
    d, by_list = MemoryDigest(view), MemoryDigest(view)
    d.update(0, FULL_WINDOW, view[:256 * PAGE_SIZE], [])  # a full window (round 0's usual record)
    by_list.update(0, list(range(256)), memoryview(b""), [])  # the same pages, not marked as a full window
    assert d.value == by_list.value and d.chunks == by_list.chunks
    d.update(256, [i for i in range(256) if i != 2], memoryview(b""), [])
    assert d.value == digest_of(view)
    mem[256 * PAGE_SIZE:(256 + CHUNK_PAGES) * PAGE_SIZE] = bytes(CHUNK_SIZE)
    d.update(256, [], memoryview(b""), list(range(CHUNK_PAGES)))
    assert d.value == digest_of(view) and (256 // CHUNK_PAGES) not in d.chunks


def test_both_ends_agree_although_the_source_hashes_newer_memory() -> None:
    """The source hashes a chunk from its memory, which may already hold a
    newer page that is sent only in the next round; the digests agree once
    that page has been sent (the last record touching a chunk decides)."""
    src = bytearray(os.urandom(CHUNK_SIZE * 2))
    dst = bytearray(len(src))
    s, d = MemoryDigest(memoryview(src)), MemoryDigest(memoryview(dst))

    def send(pages: list[int]) -> None:
        for p in pages:
            dst[p * PAGE_SIZE:(p + 1) * PAGE_SIZE] = src[p * PAGE_SIZE:(p + 1) * PAGE_SIZE]
        s.update(0, pages, memoryview(b""), [])
        d.update(0, pages, memoryview(b""), [])

    send(list(range(2 * CHUNK_PAGES)))  # round 0
    assert s.value == d.value
    src[1 * PAGE_SIZE] ^= 0xFF  # dirtied: sent next round
    src[2 * PAGE_SIZE] ^= 0xFF  # dirtied: sent the round after
    send([1])  # the source's hash of chunk 0 already covers the new page 2
    assert s.value != d.value
    send([2])
    assert s.value == d.value == digest_of(memoryview(src))


# -- the destination, fed real frames ----------------------------------------------------------


class Built:
    """A minimal Target: a real machine from the frames (as node/migration/driver.Incoming)."""

    def __init__(self) -> None:
        self.machine: Machine | None = None
        self.digest: MemoryDigest | None = None
        self.finished = False

    def build(self, header: dict) -> None:
        self.header = header
        self.boot_records: list[dict] = []

    def boot(self, payload: dict) -> None:
        self.boot_records.append(payload)

    def booted(self) -> None:
        self.machine = Machine.from_config_state(self.header["machine"], [], None)
        self.digest = MemoryDigest(self.machine.ram.u8)
        self.decoder = PageDecoder(self.machine.ram, canonical=False, on_pages=self.digest.update)

    def pages(self, payload: dict) -> None:
        self.decoder.apply(payload)

    def page_list(self, payload: dict) -> None:
        self.decoder.apply_list(payload)

    def disk(self, payload: dict) -> None:
        raise ProtocolError("no disk")

    def memory_digest(self) -> bytes:
        return self.digest.value  # type: ignore[union-attr]

    def chunk_hash(self, chunk: int) -> int:
        return chunk_hash(self.machine.ram.u8, chunk)  # type: ignore[union-attr]

    def finish(self, hart: dict, devices: dict, console: object, final: dict) -> None:
        self.machine.restore_states(hart, devices)  # type: ignore[union-attr]
        self.finished = True


def stream_of(machine: Machine, tamper: str = "") -> list[codec.Frame]:
    frames = [codec.encode_frame(codec.HEADER, {"migration": MIGRATION_VERSION, "machine": machine.config_state()})]
    frames.append(codec.encode_frame(codec.ROUND, {"round": 0}))
    sent = MemoryDigest(machine.ram.u8)
    enc = PageEncoder(machine.ram.u8, canonical=False, on_pages=sent.update, views=True)
    for n, payload in enumerate(enc.all_pages()):
        if n == 0 and tamper == "page data":  # a byte changed in transit
            data = bytearray(payload["data"])
            data[len(data) // 2] ^= 0x40
            payload["data"] = bytes(data)
        if n == 0 and tamper == "page place":  # the window's number changed in transit
            payload["first"] += WINDOW
        # As the node sends them: straight from guest memory, without a crc32 (the digest checks).
        frames.append(b"".join(wire.frame_parts(codec.PAGES, payload)))
    frames.append(codec.encode_frame(codec.STATE, {"name": "hart", "state": machine.hart.to_state()}))
    for name, state in machine.device_states().items():
        frames.append(codec.encode_frame(codec.STATE, {"name": f"device:{name}", "state": state}))
    digest = sent.value if tamper != "digest" else bytes(16)
    spot_chunk = sorted(sent.chunks)[0]
    spot = chunk_hash(machine.ram.u8, spot_chunk)
    if tamper == "spot":
        spot ^= 1
    frames.append(codec.encode_frame(codec.FINAL, {"digest": digest, "spot": [[spot_chunk, spot.to_bytes(16, "little")]],
                                                   "paused_at": 0.0}))
    return list(wire.frame_decoder().feed(b"".join(frames)))


def running_machine() -> Machine:
    m = Machine(MachineConfig(kernel=guest("dirtier"), memory_size=16 << 20))
    m.boot()
    m.run(300_000)
    return m


def test_destination_builds_an_identical_vm_from_frames() -> None:
    src = running_machine()
    target = Built()
    dm = DestinationMachine(target)
    for frame in stream_of(src):
        dm.feed(frame)
    assert dm.phase is DPhase.VERIFIED and target.finished
    dm.commit()
    copy = target.machine
    assert copy is not None
    out_a, out_b = bytearray(), bytearray()
    src.console, copy.console = out_a.extend, out_b.extend
    for m in (src, copy):
        while m.run(1_000_000) is StopReason.LIMIT:
            pass
    assert out_a == out_b and copy.exit_code == src.exit_code == 0


@pytest.mark.parametrize("tamper,message", [("digest", "digest mismatch"), ("spot", "differs from the source"),
                                            ("page data", "digest mismatch"), ("page place", "digest mismatch")])
def test_destination_refuses_state_that_does_not_verify(tamper: str, message: str) -> None:
    dm = DestinationMachine(Built())
    frames = stream_of(running_machine(), tamper)
    with pytest.raises(ProtocolError, match=message):
        for frame in frames:
            dm.feed(frame)
    assert dm.phase is DPhase.RECEIVING
    dm.abort("bad state")
    assert dm.phase is DPhase.ABORTED


def test_destination_rejects_records_out_of_order() -> None:
    dm = DestinationMachine(Built())
    page = list(codec.FrameDecoder().feed(codec.encode_frame(codec.PAGES, {"first": 0})))[0]
    with pytest.raises(ProtocolError, match="pages record is not allowed in phase AWAIT_HEADER"):
        dm.feed(page)
    frames = stream_of(running_machine())
    dm.feed(frames[0])
    skipped = list(codec.FrameDecoder().feed(codec.encode_frame(codec.ROUND, {"round": 5})))[0]
    with pytest.raises(ProtocolError, match="round 5 after round -1"):
        dm.feed(skipped)
    with pytest.raises(ProtocolError, match="commit"):
        dm.commit()
    abort = list(codec.FrameDecoder().feed(codec.encode_frame(codec.ABORT, {"reason": "test"})))[0]
    assert dm.feed(abort) is DPhase.ABORTED and dm.reason == "test"


@pytest.mark.parametrize("used", [20, 500, 3000])
def test_spot_checks_sample_sent_chunks_whatever_their_density(used: int) -> None:
    """Random probes find chunks in a busy guest's memory; a guest using a
    sliver of its memory falls back to sampling the sent chunks themselves."""
    from types import SimpleNamespace

    from node.machine.memory import Ram
    from node.migration.driver import SPOT_CHECKS, Migrations

    ram = Ram(256 << 20)
    digest = MemoryDigest(ram.u8)
    for page in range(0, used * CHUNK_PAGES, CHUNK_PAGES + 1):
        ram.write_bytes(page * PAGE_SIZE, page.to_bytes(8, "little") + b"\x01")
        digest.update(page - page % 256, [page % 256], memoryview(b""), [])
    out = SimpleNamespace(digest=digest, machine=SimpleNamespace(ram=ram))
    spots = Migrations._spot_checks(None, out, "job-1")  # type: ignore[arg-type]
    chunks = [c for c, _ in spots]
    assert len(chunks) == len(set(chunks)) == min(SPOT_CHECKS, len(digest.chunks))
    for chunk, expected in spots:
        assert chunk in digest.chunks
        assert chunk_hash(ram.u8, chunk) == int.from_bytes(expected, "little")
    assert Migrations._spot_checks(None, out, "job-1") == spots  # type: ignore[arg-type]


def test_destination_names_a_migration_protocol_it_does_not_speak() -> None:
    dm = DestinationMachine(Built())
    header = codec.encode_frame(codec.HEADER, {"migration": MIGRATION_VERSION - 1, "machine": {}})
    with pytest.raises(ProtocolError, match=f"protocol {MIGRATION_VERSION - 1}, this node {MIGRATION_VERSION}"):
        dm.feed(list(codec.FrameDecoder().feed(header))[0])
    garbage = codec.encode_frame(codec.HEADER, {"format": [1, 0]})
    with pytest.raises(ProtocolError, match="not a migration stream header"):
        DestinationMachine(Built()).feed(list(codec.FrameDecoder().feed(garbage))[0])


def test_destination_takes_the_counted_boot_records_before_anything_else() -> None:
    machine = running_machine()

    def feed(*frames: bytes) -> tuple[DestinationMachine, Built]:
        built = Built()
        dm = DestinationMachine(built)
        for fr in codec.FrameDecoder().feed(b"".join(frames)):
            dm.feed(fr)
        return dm, built

    def header(count: object) -> bytes:
        return codec.encode_frame(codec.HEADER, {"migration": MIGRATION_VERSION, "machine": machine.config_state(),
                                                 "boot_records": count})

    boot = codec.encode_frame(codec.BOOT, {"address": 0x8000_0000, "data": b"x", "memsize": 1})
    dm, built = feed(header(2), boot)
    assert dm.phase is DPhase.AWAIT_BOOT and built.machine is None  # not made before its last boot record
    dm, built = feed(header(2), boot, boot)
    assert dm.phase is DPhase.RECEIVING and len(built.boot_records) == 2 and built.machine is not None
    with pytest.raises(ProtocolError, match="a round record is not allowed in phase AWAIT_BOOT"):
        feed(header(1), codec.encode_frame(codec.ROUND, {"round": 0}))
    with pytest.raises(ProtocolError, match="a boot record is not allowed in phase RECEIVING"):
        feed(header(0), boot)
    for bad in (-1, "2", 1 << 40):
        with pytest.raises(ProtocolError, match="bad boot record count"):
            feed(header(bad))
    machine.close()


def test_a_rounds_first_message_goes_with_its_first_page_record_then_a_megabyte_at_a_time() -> None:
    from node.migration.driver import BATCH_BYTES, Batch

    memory = bytearray(4 * WINDOW * PAGE_SIZE)
    half = WINDOW * PAGE_SIZE // 2
    for window in range(4):  # half of each window holds data: a record of half a megabyte
        memory[2 * window * half:(2 * window + 1) * half] = os.urandom(half)
    records = list(PageEncoder(memoryview(memory), canonical=False, views=True).all_pages())
    eager, plain = Batch(eager=True), Batch()
    for batch in (eager, plain):
        batch.add(codec.ROUND, {"round": 0})
        batch.add(codec.PAGES, records[0])
    assert eager.full and not plain.full
    first = eager.take()
    assert [f.kind for f in wire.frame_decoder().feed(b"".join(first))] == [codec.ROUND, codec.PAGES]
    sizes = []
    for record in records[1:]:  # after the first message: about BATCH_BYTES each, as before
        eager.add(codec.PAGES, record)
        if eager.full:
            sizes.append(sum(len(p) for p in eager.take()))
    assert len(sizes) == 1 and sizes[0] >= BATCH_BYTES


# -- the console history, in pieces ------------------------------------------------------------


def _console_frame(start: int, data: bytes) -> codec.Frame:
    return list(codec.FrameDecoder().feed(codec.encode_frame(codec.CONSOLE, {"start": start, "data": data})))[0]


class _NoMachine(Built):
    def booted(self) -> None:  # console records need no machine
        pass


def _receiving(console_limit: int = 1 << 20) -> DestinationMachine:
    dm = DestinationMachine(_NoMachine(), console_limit=console_limit)
    dm.feed(list(codec.FrameDecoder().feed(codec.encode_frame(
        codec.HEADER, {"migration": MIGRATION_VERSION, "machine": {}})))[0])
    assert dm.phase is DPhase.RECEIVING
    return dm


def test_the_console_history_arrives_in_pieces_that_continue_each_other() -> None:
    dm = _receiving()
    dm.feed(_console_frame(100, b"boot\n"))
    dm.feed(_console_frame(105, b"iter=1\n"))
    dm.feed(_console_frame(112, b""))
    dm.feed(_console_frame(112, b"iter=2\n"))
    assert dm.console is not None
    assert (dm.console.start, bytes(dm.console.data)) == (100, b"boot\niter=1\niter=2\n")


def test_a_console_piece_after_a_gap_starts_the_history_over_and_a_repeat_is_refused() -> None:
    dm = _receiving()
    dm.feed(_console_frame(0, b"old output\n"))
    dm.feed(_console_frame(50, b"kept\n"))  # the source dropped offsets 11-49: so does the copy
    assert dm.console is not None and (dm.console.start, bytes(dm.console.data)) == (50, b"kept\n")
    with pytest.raises(ProtocolError, match="offset 52 repeats output already received"):
        dm.feed(_console_frame(52, b"pt\n"))
    with pytest.raises(ProtocolError, match="malformed console record"):
        dm.feed(_console_frame(-1, b"x"))


def test_the_destination_keeps_its_own_console_limit_of_the_pieces() -> None:
    dm = _receiving(console_limit=8)
    dm.feed(_console_frame(0, b"0123456789"))
    dm.feed(_console_frame(10, b"abcd"))
    assert dm.console is not None and (dm.console.start, bytes(dm.console.data)) == (6, b"6789abcd")


def test_each_console_record_of_the_source_carries_only_the_output_since_the_last() -> None:
    """Rounds send the history as it grows, so the stop-and-copy (in the
    guest's downtime) carries only the last lines, not up to a megabyte."""
    from types import SimpleNamespace

    from node.console import ConsoleBuffer
    from node.migration.driver import Outgoing

    console = ConsoleBuffer(limit=16)
    console.append(b"0123456789")
    out = SimpleNamespace(vm=SimpleNamespace(console=console), console_sent=None)
    record = Outgoing.console_record
    assert record(out) == {"start": 0, "data": b"0123456789"}  # type: ignore[arg-type]
    assert record(out) is None  # type: ignore[arg-type]
    console.append(b"abc")
    assert record(out) == {"start": 10, "data": b"abc"}  # type: ignore[arg-type]
    console.append(b"x" * 20)  # more than the buffer keeps: the record starts at the oldest byte kept
    assert record(out) == {"start": 17, "data": b"x" * 16}  # type: ignore[arg-type]
    assert record(out) is None  # type: ignore[arg-type]
    # The destination, fed the same records, holds the same history.
    dm = _receiving(console_limit=16)
    for start, data in ((0, b"0123456789"), (10, b"abc"), (17, b"x" * 16)):
        dm.feed(_console_frame(start, data))
    assert dm.console is not None and (dm.console.start, bytes(dm.console.data)) == (console.start, bytes(console.data))


def test_an_empty_console_is_sent_once_with_its_offset() -> None:
    from types import SimpleNamespace

    from node.console import ConsoleBuffer
    from node.migration.driver import Outgoing

    out = SimpleNamespace(vm=SimpleNamespace(console=ConsoleBuffer(limit=0, start=42)), console_sent=None)
    assert Outgoing.console_record(out) == {"start": 42, "data": b""}  # type: ignore[arg-type]
    assert Outgoing.console_record(out) is None  # type: ignore[arg-type]


def test_scattered_rounds_go_in_several_messages_so_both_ends_work_at_once() -> None:
    from node.migration.driver import LIST_MESSAGES, MIN_LIST_PAGES, list_record_pages, scattered_records

    assert list_record_pages(240) == 30 and -(-240 // list_record_pages(240)) == LIST_MESSAGES
    assert list_record_pages(5) == MIN_LIST_PAGES  # a message has a cost of its own
    assert list_record_pages(100_000) == WINDOW  # a large round: records as large as ever
    memory = memoryview(os.urandom(240 * PAGE_SIZE))
    batch, records = scattered_records(PageEncoder(memory, canonical=False), list(range(240)))
    messages = []
    for payload in records:
        batch.add(codec.PAGE_LIST, payload)
        if batch.full:
            messages.append(batch.take())
    if batch.size:
        messages.append(batch.take())
    assert len(messages) == LIST_MESSAGES
    assert all(len(list(wire.frame_decoder().feed(b"".join(m)))) == 1 for m in messages)  # a record each
