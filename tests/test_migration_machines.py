"""The migration state machines, message by message (no sockets): the
source's convergence decisions and legal transitions, and the destination
building a real VM from frames and refusing what does not verify."""

from __future__ import annotations

import os

import pytest

from node.machine.machine import Machine, MachineConfig, StopReason
from node.migration.destination import DestinationMachine, Phase as DPhase, ProtocolError
from node.migration.digest import MemoryDigest, digest_of, page_hash
from node.migration.source import (HANDOVER_SECONDS, IllegalTransition, Next, Params, Phase, Round,
                                   SourceMachine)
from support import guest
from vmstate import codec
from vmstate.pages import PAGE_SIZE, PageDecoder, PageEncoder

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
    mem = bytearray(64 * PAGE_SIZE)
    d = MemoryDigest()
    for page in (3, 7, 9):
        mem[page * PAGE_SIZE] = page
        d.set(page, memoryview(mem)[page * PAGE_SIZE:(page + 1) * PAGE_SIZE])
    assert d.value == digest_of(memoryview(mem))
    mem[7 * PAGE_SIZE] = 0
    d.zero(7)
    mem[3 * PAGE_SIZE + 5] = 1
    d.set(3, memoryview(mem)[3 * PAGE_SIZE:4 * PAGE_SIZE])
    assert d.value == digest_of(memoryview(mem))


def test_digest_update_folds_whole_records() -> None:
    mem = bytearray(os.urandom(8 * PAGE_SIZE))
    mem[2 * PAGE_SIZE:3 * PAGE_SIZE] = bytes(PAGE_SIZE)
    view = memoryview(mem)
    by_record, by_page = MemoryDigest(), MemoryDigest()
    by_record.update(0, [0, 1, 3, 4, 5, 6, 7], memoryview(bytes(view[:2 * PAGE_SIZE]) + bytes(view[3 * PAGE_SIZE:])), [2])
    for page in (0, 1, 3, 4, 5, 6, 7):
        by_page.set(page, view[page * PAGE_SIZE:(page + 1) * PAGE_SIZE])
    assert by_record.value == by_page.value == digest_of(view)
    # A page that was data and is now zero leaves the digest.
    mem[5 * PAGE_SIZE:6 * PAGE_SIZE] = bytes(PAGE_SIZE)
    by_record.update(0, [], memoryview(b""), [5])
    assert by_record.value == digest_of(view)


# -- the destination, fed real frames ----------------------------------------------------------


class Built:
    """A minimal Target: a real machine from the frames (as node/migration/driver.Incoming)."""

    def __init__(self) -> None:
        self.machine: Machine | None = None
        self.digest = MemoryDigest()
        self.finished = False

    def build(self, header: dict) -> None:
        self.machine = Machine.from_config_state(header["machine"], [], None)
        self.decoder = PageDecoder(self.machine.ram, canonical=False, on_pages=self.digest.update)

    def pages(self, payload: dict) -> None:
        self.decoder.apply(payload)

    def disk(self, payload: dict) -> None:
        raise ProtocolError("no disk")

    def memory_digest(self) -> bytes:
        return self.digest.value

    def page_hash(self, page: int) -> int:
        mem = self.machine.ram.u8  # type: ignore[union-attr]
        return page_hash(page, mem[page * PAGE_SIZE:(page + 1) * PAGE_SIZE])

    def finish(self, hart: dict, devices: dict, console: object, final: dict) -> None:
        self.machine.restore_states(hart, devices)  # type: ignore[union-attr]
        self.finished = True


def stream_of(machine: Machine, tamper: str = "") -> list[codec.Frame]:
    frames = [codec.encode_frame(codec.HEADER, {"migration": 1, "machine": machine.config_state()})]
    frames.append(codec.encode_frame(codec.ROUND, {"round": 0}))
    sent = MemoryDigest()
    enc = PageEncoder(machine.ram.u8, canonical=False, on_pages=sent.update)
    for payload in enc.all_pages():
        frames.append(codec.encode_frame(codec.PAGES, payload))
    frames.append(codec.encode_frame(codec.STATE, {"name": "hart", "state": machine.hart.to_state()}))
    for name, state in machine.device_states().items():
        frames.append(codec.encode_frame(codec.STATE, {"name": f"device:{name}", "state": state}))
    digest = sent.value if tamper != "digest" else bytes(16)
    spot_page = sorted(sent.pages)[0]
    spot = page_hash(spot_page, machine.ram.u8[spot_page * PAGE_SIZE:(spot_page + 1) * PAGE_SIZE])
    if tamper == "spot":
        spot ^= 1
    frames.append(codec.encode_frame(codec.FINAL, {"digest": digest, "spot": [[spot_page, spot.to_bytes(16, "little")]],
                                                   "paused_at": 0.0}))
    return list(codec.FrameDecoder().feed(b"".join(frames)))


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


@pytest.mark.parametrize("tamper,message", [("digest", "digest mismatch"), ("spot", "differs from the source")])
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


@pytest.mark.parametrize("used", [20, 500, 20000])
def test_spot_checks_sample_sent_pages_whatever_their_density(used: int) -> None:
    """Random probes find pages in a busy guest's memory; a guest using a
    sliver of its memory falls back to sampling the sent pages themselves."""
    from types import SimpleNamespace

    from node.machine.memory import Ram
    from node.migration.driver import SPOT_CHECKS, Migrations

    ram = Ram(256 << 20)
    digest = MemoryDigest()
    for page in range(0, used * 3, 3):
        ram.write_bytes(page * PAGE_SIZE, page.to_bytes(8, "little") + b"\x01")
        digest.set(page, ram.u8[page * PAGE_SIZE:(page + 1) * PAGE_SIZE])
    out = SimpleNamespace(digest=digest, machine=SimpleNamespace(ram=ram))
    spots = Migrations._spot_checks(None, out, "job-1")  # type: ignore[arg-type]
    pages = [p for p, _ in spots]
    assert len(pages) == len(set(pages)) == min(SPOT_CHECKS, used)
    for page, expected in spots:
        assert page in digest.pages
        assert page_hash(page, ram.u8[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]) == int.from_bytes(expected, "little")
    assert Migrations._spot_checks(None, out, "job-1") == spots  # type: ignore[arg-type]
