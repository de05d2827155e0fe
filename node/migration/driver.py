"""Live migration on a node: the asyncio shell around the two state machines.

Source (``MigrateOut``, called by the controller): opens ``MigrateIn`` on the
destination and streams vmstate frames — header, round 0 (every non-zero
page, with dirty logging on and the VM running), rounds k (pages dirtied
during round k-1), then stop-and-copy (VM paused, last dirty pages and disk
chunks, hart and device records, the console output since the last round
(each round carries the output since the one before), FINAL with the memory
digest and spot checks). Each pre-copy round ends with the next round's
marker, which the destination acknowledges once it has applied everything
before it: a round's bandwidth is what reached the destination's memory, and
no backlog sits in the stream's buffers when the guest is paused. Progress
goes back to the controller after every round; the call ends once the
destination has verified the state. The paused copy then waits for
``FinishMigration``: commit frees it, abort resumes it.

Destination (``MigrateIn``): feeds the frames to :class:`DestinationMachine`;
:class:`Incoming` builds the VM (capacity from the controller's reservation)
but resumes it only on ``FinishMigration(commit)``. Anything before that —
a protocol error, a cancelled stream, an abort — drops the partial copy.

Nothing here blocks the loop for long: frames are built one window of pages at
a time, and between writes the scheduler keeps running the VM (that is what
makes it pre-copy).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator

import grpc
import structlog
import zstandard
from google.protobuf.message import DecodeError

from caravan import node_pb2
from vmstate import VmstateError, bootrecords, codec, durable
from vmstate.pages import PAGE_SHIFT, PAGE_SIZE, WINDOW, PageDecoder, PageEncoder
from vmstate.snapshot import FORMAT_MAJOR, FORMAT_MINOR

from .. import errors as E
from .. import gcpolicy
from ..console import ConsoleBuffer
from ..daemon import grpc_options
from ..machine import hostmem
from ..machine.devices.virtio_blk import DIRTY_CHUNK
from ..machine.loader import Segment
from ..machine.machine import Machine
from ..machine.memory import Ram
from ..machine.state import StateError
from ..phases import Phase, check
from ..store import DEFAULT_SHARES, DirectoryTaken, VmDefinition
from ..tls import TlsFiles, channel_credentials
from ..vm import Vm
from . import wire
from .destination import MIGRATION_VERSION, DestinationMachine, Phase as DestPhase, ProtocolError
from .digest import CHUNK_SIZE, MemoryDigest, chunk_hash
from .source import HANDOVER_SECONDS, PAGE_SECONDS, IllegalTransition, Next, Params, Round, SourceMachine

if TYPE_CHECKING:
    from ..hypervisor import Hypervisor

log = structlog.get_logger("node.migration")

SPOT_CHECKS = 32
FIRST_SLICE_WAIT = 1.0  # seconds FinishMigration waits for a resumed VM's first slice
BATCH_BYTES = 1 << 20
LIST_MESSAGES = 8  # a round k >= 1 and the stop-and-copy go in at least this many messages (list_record_pages)
MIN_LIST_PAGES = 16  # ... of at least this many pages each (64 KiB): a message has a cost of its own
PROGRESS_SECONDS = 0.5  # a long round reports its progress this often (the controller's progress bar)
# Neither end of a stream waits for the other forever: a source whose
# destination stops reading or answering gives up (the VM runs on here), and a
# destination whose source stops sending drops its copy. While the guest is
# paused for the stop-and-copy the source waits less. A job's --timeout also
# ends a wait that runs past it (checked by Migrations._watch).
IDLE_SECONDS = 60.0
PAUSED_IDLE_SECONDS = 15.0
TIMEOUT_GRACE_SECONDS = 5.0  # a wait past the job's timeout, this long: the destination is stuck
WATCH_SECONDS = 1.0
# A verified copy waits this long for the controller's decision, then is
# dropped (a commit after that is answered NOT_FOUND: the controller hands the
# VM back to the source's paused copy).
VERIFIED_HOLD_SECONDS = 600.0
MAX_CHANNELS = 64  # destinations whose channel is kept (see Migrations._channel)
MEASURED_PAGES = 64  # a stop-and-copy of at least this many pages updates Migrations.page_seconds
MAX_HANDOVER_SECONDS = 1.0  # a measured hand-over longer than this is an outlier, not learnt


def scattered_records(encoder: PageEncoder, pages: list[int]) -> tuple["Batch", Iterator[dict[str, Any]]]:
    """The batch and the PAGE_LIST records for a round k >= 1 or the
    stop-and-copy of ``pages`` (ascending): a record per message, of
    :func:`list_record_pages` pages."""
    per = list_record_pages(len(pages))
    return Batch(eager=True, limit=per * PAGE_SIZE), encoder.page_list(pages, per)


def list_record_pages(pages: int) -> int:
    """Pages per PAGE_LIST record (and message) for a round k >= 1 or the
    stop-and-copy of ``pages`` pages: at least :data:`LIST_MESSAGES` messages,
    so the destination applies the first while the source still encodes the
    rest. One record of all a small round's pages made the round end-to-end
    serial — encode all, send, apply all, acknowledge — and every millisecond
    a late round lasts, the guest dirties pages for the stop-and-copy (64M
    high in bench/migration.py: downtime median 16.0 -> 13.0 ms over 10
    migrations each)."""
    return max(MIN_LIST_PAGES, min(WINDOW, -(-pages // LIST_MESSAGES)))


class Batch:
    """Frames gathered into one message of about ``limit`` bytes (a
    scattered round asks for less than :data:`BATCH_BYTES`: list_record_pages),
    kept as parts (page data is not copied until the message is joined for the wire).

    ``eager``: the first message is full as soon as it holds a frame (the
    senders check after each page record, so round 0's marker goes with the
    first window), and the destination starts on a round while the source
    encodes the rest of its first megabyte (round 0 of a 64 MiB dirtier: the first pages reached
    the destination 4.4 ms into the round, not 6.6 ms; medians of 12)."""

    def __init__(self, eager: bool = False, limit: int = BATCH_BYTES) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.batch_bytes = limit
        self.limit = 1 if eager else limit

    def add(self, kind: int, payload: dict[str, Any]) -> None:
        parts = wire.frame_parts(kind, payload)
        self.parts.extend(parts)
        self.size += sum(len(p) for p in parts)

    @property
    def full(self) -> bool:
        return self.size >= self.limit

    def take(self) -> list[bytes]:
        parts, self.parts, self.size, self.limit = self.parts, [], 0, self.batch_bytes
        return parts


class MigrationAborted(Exception):
    """The migration stops before the hand-over; the VM stays on the source."""


def params_from_proto(p: node_pb2.MigrationParams) -> Params:
    try:
        return Params(downtime_ms=p.downtime_ms or 50, max_bandwidth=p.max_bandwidth,
                      auto_converge=p.auto_converge, max_rounds=p.max_rounds, timeout=p.timeout_seconds,
                      on_timeout=p.on_timeout or "abort", compress=p.compress)
    except ValueError as exc:
        raise E.InvalidArgument(str(exc)) from None


@dataclass
class Outgoing:
    job_id: str
    vm: Vm
    machine: Machine
    sm: SourceMachine
    prior: Phase
    destination: str
    started: float = field(default_factory=time.monotonic)
    setup_ms: float = 0.0
    sent_bytes: int = 0
    state_bytes: int = 0
    disk_bytes: int = 0
    zero_pages: int = 0
    paused_at: float = 0.0
    pages_sent_at: float = 0.0  # wall clock: the stop-and-copy's last pages are written
    channel: grpc.aio.Channel | None = None
    call: Any = None
    touched: bytes | None = None  # per window: may hold data (round 0 reads only these)
    waiting_since: float = 0.0  # monotonic: a write to or read from the destination is under way
    round_plan: tuple[int, int] | None = None  # a round under way: sent_bytes at its start, bytes it should send
    finished_round: Round | None = None  # the last round Migrations._round sent
    stalled: str = ""  # why Migrations._watch gave up on the destination
    console_sent: int | None = None  # the console history is sent up to this offset (None: none yet)
    digest: MemoryDigest = field(init=False)
    holds: gcpolicy.Holds = field(default_factory=gcpolicy.Holds)  # on the garbage collector (node.gcpolicy)

    def __post_init__(self) -> None:
        self.digest = MemoryDigest(self.machine.ram.u8)

    def account_pages(self, first: int, data: list[int], contents: memoryview, zero: list[int]) -> None:
        """Every PAGES or PAGE_LIST record sent goes through here (the encoder's hook)."""
        self.digest.update(first, data, contents, zero)
        self.zero_pages += len(zero)

    def console_record(self) -> dict[str, Any] | None:
        """The console output since the last record (all of it the first
        time; after a gap, from the oldest byte still kept), or None when
        there is none: a round sends it so the stop-and-copy has only the rest."""
        console = self.vm.console
        if self.console_sent == console.end:
            return None
        start, data, _ = console.read(self.console_sent or 0, console.limit)
        self.console_sent = start + len(data)
        return {"start": start, "data": data}

    def stats(self) -> node_pb2.MigrationStats:
        sm = self.sm
        elapsed = time.monotonic() - self.started
        latest = sm.rounds[-1] if sm.rounds else None
        remaining = latest.dirtied * PAGE_SIZE if latest is not None and sm.phase.name == "ITERATING" else 0
        if self.round_plan is not None:  # a round under way: what it has still to send
            start, planned = self.round_plan
            remaining = max(planned - (self.sent_bytes - start), 0)
        return node_pb2.MigrationStats(
            status=sm.status, setup_ms=self.setup_ms, total_ms=elapsed * 1000,
            rounds=[node_pb2.RoundStats(round=r.number, pages=r.pages, zero_pages=r.zero_pages, bytes=r.bytes,
                                        seconds=r.seconds, dirtied=r.dirtied, bandwidth=r.bandwidth,
                                        dirty_rate=r.dirty_rate, throttle=r.throttle) for r in sm.rounds],
            transferred_bytes=self.sent_bytes, remaining_bytes=remaining,
            total_pages=self.machine.ram.npages, zero_pages=self.zero_pages,
            throughput=self.sent_bytes / elapsed if elapsed > 0 else 0.0,
            dirty_rate=latest.dirty_rate if latest else 0.0,
            expected_downtime_ms=sm.expected_downtime_ms, throttle=sm.throttle,
            state_bytes=self.state_bytes, disk_bytes=self.disk_bytes)


class Migrations:
    """Both sides of every migration this node takes part in."""

    def __init__(self, hv: "Hypervisor", tls: TlsFiles | None) -> None:
        self.hv = hv
        self.tls = tls
        self.outgoing: dict[str, Outgoing] = {}
        self.incoming: dict[str, Incoming] = {}
        self.channels: dict[str, grpc.aio.Channel] = {}  # by destination address (see _channel)
        # What one dirty page cost this node's last stop-and-copies (moving average):
        # the convergence decision's estimate of the next one (node.migration.source).
        self.page_seconds = PAGE_SECONDS
        # And what the rest of a downtime cost (state, verification, the controller's
        # hand-over record, the resume), learnt from the destinations' measurements.
        self.handover_seconds = HANDOVER_SECONDS
        self._closing: list[asyncio.Future] = []  # replaced channels being closed
        self._expiry: dict[str, asyncio.Task] = {}  # verified incoming copies awaiting a decision

    # -- source ------------------------------------------------------------------------

    def _channel(self, address: str) -> grpc.aio.Channel:
        """The channel to a destination node, kept for the next migration.

        A new HTTP/2 connection starts with 4 MiB flow-control windows and
        small writes and needs ~0.3 s of traffic to open them up (gRPC's BDP
        estimate), which is all of a small VM's round 0; a kept connection is
        already at full pace (and past its TLS handshake). A channel whose
        connection failed is replaced rather than left to its reconnect backoff."""
        channel = self.channels.get(address)
        if channel is not None:
            state = channel.get_state(try_to_connect=False)
            if state not in (grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.SHUTDOWN):
                return channel
            self._closing = [f for f in self._closing if not f.done()]
            self._closing.append(asyncio.ensure_future(channel.close()))
        if address not in self.channels and len(self.channels) >= MAX_CHANNELS:
            in_use = {id(out.channel) for out in self.outgoing.values()}
            idle = [a for a, c in self.channels.items() if id(c) not in in_use]  # oldest first
            if idle:
                self._closing.append(asyncio.ensure_future(self.channels.pop(idle[0]).close()))
        options = grpc_options()
        if self.tls is None:
            channel = grpc.aio.insecure_channel(address, options=options)
        else:
            channel = grpc.aio.secure_channel(address, channel_credentials(self.tls), options=options)
        self.channels[address] = channel
        return channel

    async def close(self) -> None:
        """The node shuts down (every migration has been aborted or finished)."""
        channels, self.channels = list(self.channels.values()), {}
        for task in self._expiry.values():
            task.cancel()
        self._expiry.clear()
        await asyncio.gather(*self._closing, *(c.close() for c in channels), return_exceptions=True)
        self._closing.clear()

    async def migrate_out(self, req: node_pb2.MigrateOutRequest) -> AsyncIterator[node_pb2.MigrationStats]:
        hv = self.hv
        vm = hv.get(req.vm_id)
        check("migrate-out", vm.phase, req.vm_id)
        if not req.job_id:
            raise E.InvalidArgument("a migration needs a job id")
        if req.job_id in self.outgoing:
            raise E.AlreadyExists(f"migration job {req.job_id!r} is already running here")
        vm.check_not_busy()
        if vm.machine is None:
            raise E.FailedPrecondition(f"VM {req.vm_id} has no machine to migrate (it is {vm.phase.value})")
        params = params_from_proto(req.params)
        machine = vm.machine
        sm = SourceMachine(params, machine.ram.npages, self.page_seconds, self.handover_seconds)
        out = Outgoing(req.job_id, vm, machine, sm, vm.phase, req.destination_name or req.destination)
        self.outgoing[req.job_id] = out
        out.holds.take(gcpolicy.FULL)
        vm.phase = Phase.MIGRATING
        vm.frozen = out.prior is Phase.PAUSED
        log.info("migration out", job_id=req.job_id, vm_id=vm.vm_id, destination=out.destination)
        watchdog: asyncio.Task | None = None
        try:
            out.channel = self._channel(req.destination)
            out.call = wire.open_stream(out.channel)
            watchdog = asyncio.create_task(self._watch(out), name=f"watch-{req.job_id}")
            async for stats in self._send(out, req, params):
                yield stats
        except BaseException as exc:
            if out.sm.phase.name == "AWAIT_DECISION":
                # Verified, and the controller's call ended (it died, or its stream broke):
                # it may have recorded the hand-over already. Only its decision
                # (FinishMigration, also from a restarted controller) may resume or free
                # this paused copy; resuming it here could run the VM on two nodes.
                log.warning("the controller's call ended after verification; the paused copy waits for "
                            "its decision", job_id=req.job_id, vm_id=vm.vm_id)
                raise
            # The stream to the destination was cancelled under this call, not this call
            # itself: by the watchdog (a stuck destination) or by an abort (the controller's).
            by_stream = isinstance(exc, asyncio.CancelledError) and not asyncio.current_task().cancelling()  # type: ignore[union-attr]
            reason = str(exc) if isinstance(exc, (MigrationAborted, E.NodeError)) else \
                f"{type(exc).__name__}: {exc}" if not isinstance(exc, asyncio.CancelledError) else "cancelled"
            if isinstance(exc, grpc.RpcError):
                reason = f"destination: {exc.details()}"  # type: ignore[attr-defined]
            if by_stream:
                reason = out.stalled or out.sm.reason or "aborted"
            self._abort_out(out, reason)
            if isinstance(exc, (MigrationAborted, grpc.RpcError)) or by_stream:
                raise E.FailedPrecondition(f"migration of {vm.vm_id} aborted: {reason}") from None
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()

    async def _watch(self, out: Outgoing) -> None:
        """Give up on a destination that stopped reading or answering: a write
        or read pending for :data:`IDLE_SECONDS` (:data:`PAUSED_IDLE_SECONDS`
        once the guest is paused), or past the job's timeout during pre-copy.
        Cancelling the stream ends the pending call; migrate_out then aborts
        with :attr:`Outgoing.stalled` as the reason."""
        timeout = out.sm.params.timeout
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            since = out.waiting_since
            if not since:
                continue
            now = time.monotonic()
            idle = PAUSED_IDLE_SECONDS if out.paused_at else IDLE_SECONDS
            if now - since >= idle:
                out.stalled = f"the destination did not answer for {idle:g} s"
            elif (timeout and not out.paused_at and now - out.started >= timeout
                  and now - since >= TIMEOUT_GRACE_SECONDS):
                out.stalled = f"timed out after {timeout:g} s waiting for the destination"
            else:
                continue
            log.warning("destination stuck", job_id=out.job_id, reason=out.stalled)
            out.call.cancel()
            return

    async def _write(self, out: Outgoing, frames: list[bytes], first: bool = False,
                     request: node_pb2.MigrateOutRequest | None = None) -> None:
        if first and request is not None:
            msg = wire.first_message(request.job_id, request.reservation_id, self.hv.config.name, frames)
        else:
            msg = wire.frames_message(frames)
        size = sum(len(f) for f in frames)
        frames.clear()  # round 0's pages are views of guest memory: none is kept while the guest runs
        out.waiting_since = time.monotonic()
        try:
            await out.call.write(msg)
        except asyncio.InvalidStateError:  # grpc.aio: the call already ended (the destination went away)
            details = await out.call.details() or f"status {(await out.call.code()).name}"
            raise MigrationAborted(f"destination: the stream ended ({details})") from None
        finally:
            out.waiting_since = 0.0
        out.sent_bytes += size

    @staticmethod
    async def _read(out: Outgoing) -> Any:
        """The destination's next acknowledgement (watched, as writes are)."""
        out.waiting_since = time.monotonic()
        try:
            return await out.call.read()
        finally:
            out.waiting_since = 0.0

    def _check_alive(self, out: Outgoing) -> None:
        vm = out.vm
        if vm.machine is not out.machine or out.machine.halted or vm.phase is not Phase.MIGRATING:
            raise MigrationAborted("the guest stopped running during the migration")

    async def _send(self, out: Outgoing, req: node_pb2.MigrateOutRequest,
                    params: Params) -> AsyncIterator[node_pb2.MigrationStats]:
        machine, vm, sm = out.machine, out.vm, out.sm
        ram = machine.ram
        d = vm.definition
        boot = bootrecords.records(machine.boot_segments())
        header = {
            "format": [FORMAT_MAJOR, FORMAT_MINOR], "migration": MIGRATION_VERSION, "job_id": req.job_id,
            "vm": {"vm_id": d.vm_id, "name": d.name, "shares": d.shares, "generation": d.generation,
                   "image_name": d.image_name},
            "memory_size": ram.size, "machine": machine.config_state(),
            "boot_records": len(boot),  # BOOT records follow the header
            "disk": {"size": machine.disk.size} if machine.disk is not None else None,
            # Where the guest has touched memory: the destination commits it before round 0.
            "resident": self._resident(ram),
        }
        await self._write(out, [codec.encode_frame(codec.HEADER, header)], first=True, request=req)
        batch = Batch()
        for payload in boot:
            batch.add(codec.BOOT, payload)
            if batch.full:
                await self._write(out, batch.take())
        if batch.size:
            await self._write(out, batch.take())
        ack = await self._read(out)
        if ack is grpc.aio.EOF or ack.kind != "ready":
            raise MigrationAborted(f"destination: {ack.error if ack is not grpc.aio.EOF else 'closed the stream'}")
        ram.start_dirty_log()
        # Known-zero memory (never touched) is skipped by round 0 without being
        # read; asked after arming the log, so a block touched later is logged.
        out.touched = ram.touched_blocks(WINDOW)
        if machine.disk is not None:
            machine.disk.track_writes()
        sm.begin()
        out.setup_ms = (time.monotonic() - out.started) * 1000
        yield out.stats()
        # Round 0's full windows are framed straight from guest memory (views=True): each
        # message is joined before the next await, that is before the guest runs again.
        encoder = PageEncoder(ram.u8, compress=params.compress == "zstd", canonical=False,
                              on_pages=out.account_pages, views=True)
        zstd = zstandard.ZstdCompressor(level=1) if params.compress == "zstd" else None
        pending: list[int] | None = None
        pending_disk: list[int] | None = None
        while True:
            self._check_alive(out)
            async for progress in self._round(out, encoder, zstd, pending, pending_disk, params):
                yield progress  # during a long round too (every PROGRESS_SECONDS)
            finished = out.finished_round
            self._check_alive(out)
            dirty = ram.take_dirty()
            pending_disk = machine.disk.take_dirty() if machine.disk is not None else None
            finished.dirtied = len(dirty)
            decision = sm.round_done(finished, len(dirty), time.monotonic() - out.started)
            vm.throttle = sm.throttle
            pending = dirty
            yield out.stats()
            if decision is Next.ABORT:
                raise MigrationAborted(sm.reason)
            if decision is Next.STOP_AND_COPY:
                break
        # Stop-and-copy: the guest's last instruction on this node.
        sm.stop()
        out.holds.take(gcpolicy.ALL)
        vm.migration_paused = True
        vm.throttle = 0.0
        out.paused_at = time.time()
        paused = time.perf_counter()
        final_pages = sorted(set(pending) | set(ram.take_dirty()))
        final_disk = sorted(set(pending_disk or ()) | set(machine.disk.take_dirty() if machine.disk else ()))
        # Stream the last pages in batches so encoding, transfer and the
        # destination's writes overlap (the downtime is the longest stage, not the sum).
        # Round len(sm.rounds): its marker ended the last pre-copy round.
        batch, records = scattered_records(encoder, final_pages)
        for payload in records:
            batch.add(codec.PAGE_LIST, payload)
            if batch.full:
                await self._write(out, batch.take())
        out.pages_sent_at = time.time()
        page_seconds = (time.perf_counter() - paused) / max(len(final_pages), 1)
        if len(final_pages) >= MEASURED_PAGES:
            self.page_seconds = (self.page_seconds + page_seconds) / 2
        frames = batch.take() + self._disk_frames(out, final_disk, zstd)
        if vm.pending_input:
            machine.uart.feed(bytes(vm.pending_input))
            vm.pending_input.clear()
        state = [codec.encode_frame(codec.STATE, {"name": "hart", "state": machine.hart.to_state()})]
        for name, record in machine.device_states().items():
            state.append(codec.encode_frame(codec.STATE, {"name": f"device:{name}", "state": record}))
        if (console := out.console_record()) is not None:  # the rest: the rounds sent the history before it
            state.append(codec.encode_frame(codec.CONSOLE, console))
        out.state_bytes = sum(len(f) for f in state)
        spots = self._spot_checks(out, req.job_id)
        state.append(codec.encode_frame(codec.FINAL, {
            "digest": out.digest.value, "spot": spots, "paused_at": out.paused_at,
            "instret": machine.instructions, "running": out.prior is Phase.RUNNING}))
        built = time.time()
        await self._write(out, frames + state)
        written = time.time()
        sm.sent()
        yield out.stats()
        await out.call.done_writing()
        while (ack := await self._read(out)) is not grpc.aio.EOF:
            if ack.kind == "verified":
                sm.verified()
                log.info("migration verified", job_id=req.job_id, vm_id=vm.vm_id, rounds=len(sm.rounds),
                         bytes=out.sent_bytes, final_pages=len(final_pages), page_us=round(page_seconds * 1e6, 2),
                         build_ms=round((built - out.paused_at) * 1000, 2),
                         write_ms=round((written - built) * 1000, 2),
                         verify_ms=round((time.time() - written) * 1000, 2))
                yield out.stats()
                return
            if ack.kind == "error":
                raise MigrationAborted(f"destination: {ack.error}")
        raise MigrationAborted("the destination closed the stream without verifying the state")

    @staticmethod
    def _resident(ram: Ram) -> list[tuple[int, int]] | None:
        blocks = ram.touched_blocks(WINDOW)
        return None if blocks is None else hostmem.block_runs(blocks, WINDOW, ram.npages)

    def _disk_frames(self, out: Outgoing, chunks: list[int] | None, zstd: Any) -> list[bytes]:
        disk = out.machine.disk
        if disk is None:
            return []
        frames = []
        if chunks is None:  # round 0: every non-zero chunk
            zero = bytes(DIRTY_CHUNK)
            chunks = [c for c in range(-(-disk.size // DIRTY_CHUNK))
                      if disk.read(c * DIRTY_CHUNK, min(DIRTY_CHUNK, disk.size - c * DIRTY_CHUNK)) != zero[:min(DIRTY_CHUNK, disk.size - c * DIRTY_CHUNK)]]
        for chunk in chunks:
            offset = chunk * DIRTY_CHUNK
            length = min(DIRTY_CHUNK, disk.size - offset)
            if length <= 0:
                continue
            data = disk.read(offset, length)
            payload: dict[str, Any] = {"offset": offset, "length": length}
            if zstd is not None:
                payload["data"], payload["zstd"] = zstd.compress(data), True
            else:
                payload["data"] = data
            frame = codec.encode_frame(codec.DISK, payload)
            out.disk_bytes += len(frame)
            frames.append(frame)
        return frames

    async def _round(self, out: Outgoing, encoder: PageEncoder, zstd: Any, pages: list[int] | None,
                     disk_chunks: list[int] | None, params: Params) -> AsyncIterator[node_pb2.MigrationStats]:
        """Send one pre-copy round (``pages``: the dirty ones; None: round 0,
        all memory); the statistics every :data:`PROGRESS_SECONDS` meanwhile,
        and the finished round in ``out.finished_round``."""
        number = len(out.sm.rounds)
        finished = Round(number)
        start = time.monotonic()
        sent_before = out.sent_bytes
        # Bytes this round is expected to send (for remaining_bytes): the dirty pages, or round 0's
        # touched windows (some of which turn out to be zero).
        planned = len(pages) if pages is not None else \
            (sum(1 for t in out.touched if t) * WINDOW if out.touched is not None else out.machine.ram.npages)
        out.round_plan = (sent_before, planned * PAGE_SIZE)
        progress_at = start + PROGRESS_SECONDS
        if pages is None:  # round 0: whole windows
            batch, kind, source = Batch(eager=True), codec.PAGES, encoder.all_pages(out.touched)
            batch.add(codec.ROUND, {"round": number})  # later rounds' markers end the round before them
        else:  # the pages dirtied since, scattered: by number
            batch, source = scattered_records(encoder, pages)
            kind = codec.PAGE_LIST
        data_before, zero_before = encoder.data_pages, encoder.zero_pages
        payload: dict[str, Any] = {}
        try:
            for payload in source:
                batch.add(kind, payload)
                if batch.full:
                    await self._write(out, batch.take())
                    await self._pace(out, start, sent_before, params)
                    self._check_alive(out)
                    self._check_time(out, params, number)
                    if time.monotonic() >= progress_at:
                        progress_at = time.monotonic() + PROGRESS_SECONDS
                        yield out.stats()
        except BaseException:
            batch.take()  # round 0's pages in it are views of guest memory (below)
            raise
        finally:
            # A round that ends early (an abort) drops its views of guest memory now — the
            # encoder's, and round 0's pages (views too: PageEncoder(views=True)) in the last
            # payload and the batch: one left in a suspended generator, or in this frame as the
            # abort's traceback keeps it, kept the VM's memory from being unmapped ("cannot
            # close exported pointers exist" on the next stop or rm).
            source.close()
            payload = {}
        # The next round's marker ends this one: the destination acknowledges it
        # once it has applied every page before it. Until then the round is not
        # over (the guest keeps running): the round's time and bandwidth are the
        # destination's, and no backlog is left in the stream's buffers to be
        # worked off during the downtime (up to 60 ms of it, measured).
        if (console := out.console_record()) is not None:
            batch.add(codec.CONSOLE, console)
        batch.add(codec.ROUND, {"round": number + 1})
        await self._write(out, batch.take() + self._disk_frames(out, disk_chunks, zstd))
        await self._round_applied(out, number + 1)
        finished.pages = encoder.data_pages - data_before
        finished.zero_pages = encoder.zero_pages - zero_before
        if pages is None:  # round 0 leaves zero pages out (later rounds send them as numbers: account_pages)
            out.zero_pages += finished.zero_pages
        finished.bytes = out.sent_bytes - sent_before
        finished.seconds = max(time.monotonic() - start, 1e-6)
        out.round_plan = None
        out.finished_round = finished

    async def _round_applied(self, out: Outgoing, number: int) -> None:
        ack = await self._read(out)
        if ack is grpc.aio.EOF:
            raise MigrationAborted("the destination closed the stream")
        if ack.kind == "error":
            raise MigrationAborted(f"destination: {ack.error}")
        if ack.kind != "round" or ack.round != number:
            raise MigrationAborted(f"destination: expected the acknowledgement of round {number}, "
                                   f"got {ack.kind!r} {ack.round}")

    async def _pace(self, out: Outgoing, start: float, sent_before: int, params: Params) -> None:
        """Hold the round to ``--max-bandwidth`` — never past the job's
        ``--timeout`` (checked next: :meth:`_check_time`); once past it with
        ``--on-timeout force``, the rest of the round goes at full speed, as
        the stop-and-copy that follows does."""
        if params.max_bandwidth:
            now = time.monotonic()
            ahead = (out.sent_bytes - sent_before) / params.max_bandwidth - (now - start)
            if params.timeout:
                left = params.timeout - (now - out.started)
                if left <= 0 and params.on_timeout == "force":
                    return
                ahead = min(ahead, max(left, 0.0))
            if ahead > 0:
                await asyncio.sleep(ahead)

    @staticmethod
    def _check_time(out: Outgoing, params: Params, number: int) -> None:
        """``--timeout`` with ``--on-timeout abort`` ends the job when the time
        is up, not at the end of a round that may take far longer (a round
        cut short cannot be forced: ``force`` finishes the round first)."""
        if params.timeout and params.on_timeout == "abort":
            elapsed = time.monotonic() - out.started
            if elapsed >= params.timeout:
                raise MigrationAborted(f"did not converge after {elapsed:.1f} s: round {number} was still "
                                       f"being sent at the {params.timeout:g} s timeout")

    def _spot_checks(self, out: Outgoing, job_id: str) -> list[list[Any]]:
        """A few random non-zero memory chunks with their hashes, chosen during
        the downtime: random probes, not a pass over every chunk (sorting
        them all cost ~7 ms for a 512 MiB working set)."""
        chunks = out.digest.chunks
        rng = random.Random(job_id)
        want = min(SPOT_CHECKS, len(chunks))
        nchunks = -(-out.machine.ram.size // CHUNK_SIZE)
        found: dict[int, None] = {}
        for _ in range(SPOT_CHECKS * 64):
            if len(found) == want:
                break
            chunk = rng.randrange(nchunks)
            if chunk in chunks:
                found[chunk] = None
        if len(found) < want:  # a guest using a tiny share of its memory: take from the chunks themselves
            rest = [c for c in chunks if c not in found]
            found.update(dict.fromkeys(rng.sample(rest, want - len(found))))
        mem = out.machine.ram.u8
        return [[c, chunk_hash(mem, c).to_bytes(16, "little")] for c in found]

    def _abort_out(self, out: Outgoing, reason: str) -> None:
        """Leave the VM running on the source, untouched."""
        out.holds.release()
        if out.sm.phase.name == "COMMITTED":
            return
        out.sm.abort(reason)
        vm = out.vm
        vm.migration_paused = False
        vm.frozen = False
        vm.throttle = 0.0
        if vm.machine is out.machine and vm.phase is Phase.MIGRATING:
            vm.phase = out.prior
        if out.machine.disk is not None:
            out.machine.disk.stop_tracking()
        if out.call is not None:
            out.call.cancel()
        self.outgoing.pop(out.job_id, None)
        self.hv.wake()
        log.warning("migration aborted; VM stays here", job_id=out.job_id, vm_id=vm.vm_id, reason=reason)

    async def finish(self, job_id: str, commit: bool, downtime_ms: float = 0.0,
                     vm_id: str = "") -> tuple[Vm | None, float, float]:
        """The controller's decision for ``job_id`` (idempotent on both sides).
        On the source, a commit may bring the downtime the destination measured.
        A commit naming ``vm_id`` is addressed to the destination: if this node
        holds neither the job's copy nor the VM (it restarted before resuming
        it, and discarded the copy), it says so with NOT_FOUND rather than
        success, so the controller hands the VM back to its source instead of
        freeing the last copy."""
        if job_id in self.incoming:
            return await self._finish_in(self.incoming[job_id], commit)
        out = self.outgoing.get(job_id)
        if out is None:
            if commit and vm_id:
                vm = self.hv.vms.get(vm_id)
                if vm is None:
                    raise E.NotFound(f"node {self.hv.config.name} holds no copy of VM {vm_id} from migration job "
                                     f"{job_id}: it lost it before resuming it (it restarted)")
                return vm, 0.0, 0.0  # committed already: a retry
            return None, 0.0, 0.0
        if commit:
            try:
                out.sm.decide(True)
            except IllegalTransition as exc:
                raise E.FailedPrecondition(str(exc)) from None
            self.outgoing.pop(job_id, None)
            out.holds.release()
            handover = self._learn_handover(out, downtime_ms)
            await self.hv.drop_migrated(out.vm)
            log.info("migration committed; source copy freed", job_id=job_id, vm_id=out.vm.vm_id,
                     downtime_ms=round(downtime_ms, 2), handover_ms=round(handover * 1000, 2) if handover else None)
            return None, 0.0, 0.0
        self._abort_out(out, "aborted by the controller")
        return out.vm, 0.0, 0.0

    def _learn_handover(self, out: Outgoing, downtime_ms: float) -> float | None:
        """Fold one measured hand-over into the moving average: the downtime
        the destination measured minus the part this node spent on the last
        pages. Returns it (None when there is nothing to learn from)."""
        if downtime_ms <= 0 or not out.pages_sent_at:
            return None
        handover = downtime_ms / 1000 - (out.pages_sent_at - out.paused_at)
        if not 0 < handover < MAX_HANDOVER_SECONDS:  # clocks apart, or a stall: not this node's usual cost
            return None
        self.handover_seconds = (self.handover_seconds + handover) / 2
        return handover

    # -- destination -------------------------------------------------------------------------

    async def migrate_in(self, requests: AsyncIterator[bytes]) -> AsyncIterator[node_pb2.MigrationAck]:
        first: node_pb2.MigrationData | None = None
        incoming: Incoming | None = None
        received = 0
        acked = 0
        idle = _Idle(time.monotonic())
        watchdog = asyncio.create_task(self._watch_in(idle, asyncio.current_task()))  # type: ignore[arg-type]
        try:
            async for raw in requests:
                idle.since = 0.0  # not waiting for the source while this message is handled
                msg, data = wire.parse(raw)
                if first is None:
                    if msg is None or not msg.job_id or msg.job_id in self.incoming:
                        raise ProtocolError(f"bad or duplicate migration job {msg.job_id if msg else ''!r}")
                    first = msg
                    incoming = Incoming(self.hv, msg.job_id, msg.reservation_id, msg.source)
                    incoming.holds.take(gcpolicy.FULL)
                    self.incoming[msg.job_id] = incoming
                received += len(data)
                for frame in incoming.decoder.feed(data):  # type: ignore[union-attr]
                    phase = incoming.machine_sm.feed(frame)  # type: ignore[union-attr]
                    if phase is DestPhase.ABORTED:
                        raise ProtocolError(f"aborted by the source: {incoming.machine_sm.reason}")  # type: ignore[union-attr]
                    if incoming.awaiting_ready:  # type: ignore[union-attr]
                        # The header is checked: make the VM before the next record.
                        await incoming.prepare()  # type: ignore[union-attr]
                        yield node_pb2.MigrationAck(kind="ready")
                if incoming.machine_sm.round > acked:  # type: ignore[union-attr]
                    acked = incoming.machine_sm.round  # type: ignore[union-attr]
                    if acked >= 1:  # everything before round `acked` is applied (MIGRATION_VERSION)
                        yield node_pb2.MigrationAck(kind="round", round=acked, bytes=received)
                idle.since = time.monotonic()
            if incoming is None:
                raise ProtocolError("empty migration stream")
            incoming.decoder.close()
            if incoming.machine_sm.phase is not DestPhase.VERIFIED:
                raise ProtocolError("the stream ended before the final state")
            log.info("migration in verified", job_id=incoming.job_id, vm_id=incoming.vm_id, bytes=received,
                     since_pause_ms=round((time.time() - float(incoming.final.get("paused_at", 0))) * 1000, 2))
            self._expiry[incoming.job_id] = asyncio.create_task(self._expire(incoming),
                                                               name=f"expire-{incoming.job_id}")
            yield node_pb2.MigrationAck(kind="verified", bytes=received)
        except Exception as exc:  # the stream is hostile input: anything wrong in it is refused, never UNKNOWN
            expected = (ProtocolError, VmstateError, StateError, E.NodeError, ValueError, KeyError, TypeError,
                        DecodeError)
            error = str(exc) if isinstance(exc, expected) else \
                f"the migration stream is malformed ({type(exc).__name__}: {exc})"
            if incoming is not None:
                incoming.drop(error)
                self.incoming.pop(incoming.job_id, None)
            log.warning("incoming migration refused", job_id=first.job_id if first else "", error=error,
                        exc_info=not isinstance(exc, expected))
            yield node_pb2.MigrationAck(kind="error", error=error, bytes=received)
        except BaseException:
            if incoming is not None and incoming.machine_sm.phase is not DestPhase.VERIFIED:
                incoming.drop(idle.stalled or "the stream from the source broke")
                self.incoming.pop(incoming.job_id, None)
            if idle.stalled:
                log.warning("incoming migration dropped", job_id=first.job_id if first else "", reason=idle.stalled)
            raise
        finally:
            watchdog.cancel()

    @staticmethod
    async def _watch_in(idle: "_Idle", handler: asyncio.Task) -> None:
        """End an incoming stream whose source sent nothing for
        :data:`IDLE_SECONDS` (stopped, or gone without closing it): its copy
        is dropped and its capacity freed."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            if idle.since and time.monotonic() - idle.since >= IDLE_SECONDS:
                idle.stalled = f"the source sent nothing for {IDLE_SECONDS:g} s"
                handler.cancel()
                return

    async def _expire(self, incoming: "Incoming") -> None:
        """Drop a verified copy the controller never decided on (see
        :data:`VERIFIED_HOLD_SECONDS`)."""
        await asyncio.sleep(VERIFIED_HOLD_SECONDS)
        self._expiry.pop(incoming.job_id, None)
        if self.incoming.get(incoming.job_id) is incoming and incoming.machine_sm.phase is DestPhase.VERIFIED:
            incoming.drop(f"no decision from the controller within {VERIFIED_HOLD_SECONDS:g} s")
            self.incoming.pop(incoming.job_id, None)

    async def _finish_in(self, incoming: "Incoming", commit: bool) -> tuple[Vm | None, float, float]:
        expiry = self._expiry.pop(incoming.job_id, None)
        if expiry is not None:
            expiry.cancel()
        if commit:
            try:
                incoming.machine_sm.commit()
            except ProtocolError as exc:
                raise E.FailedPrecondition(str(exc)) from None
            vm = incoming.commit()
            self.incoming.pop(incoming.job_id, None)
            # The downtime ends with the guest's first instruction here, not with the
            # decision to resume: wait (briefly) for the scheduler to run it.
            resumed_at = time.time()
            try:
                if vm.first_slice is not None:
                    resumed_at = await asyncio.wait_for(asyncio.shield(vm.first_slice), FIRST_SLICE_WAIT)
            except asyncio.TimeoutError:
                resumed_at = time.time()  # still waiting for a slice: at least this long
            finally:
                incoming.holds.release()  # the guest runs here: the collector may too
                # Durable once the guest runs (an fsync, not part of the downtime): the
                # controller's hand-over record already names this node as the owner.
                await self.hv.save_definition(vm)
            downtime = (resumed_at - float(incoming.final.get("paused_at", resumed_at))) * 1000
            log.info("migration in committed", job_id=incoming.job_id, vm_id=vm.vm_id, phase=vm.phase.name,
                     downtime_ms=round(downtime, 2))
            return vm, downtime, resumed_at
        incoming.drop("aborted by the controller")
        self.incoming.pop(incoming.job_id, None)
        return None, 0.0, 0.0


class Incoming:
    """The VM being built on the destination (the state machine's Target)."""

    def __init__(self, hv: "Hypervisor", job_id: str, reservation_id: str, source: str) -> None:
        self.hv = hv
        self.job_id = job_id
        self.reservation_id = reservation_id
        self.source = source
        self.decoder = wire.frame_decoder()
        self.machine_sm = DestinationMachine(self, console_limit=hv.config.console_limit)
        self.vm_id = ""
        self.machine: Machine | None = None
        self.vm: Vm | None = None
        self.pages_decoder: PageDecoder | None = None
        self.digest: MemoryDigest | None = None  # once the machine is built
        self.final: dict[str, Any] = {}
        self.held = False
        self.definition: VmDefinition | None = None
        self._layout: tuple[dict[str, Any], list[Segment], int | None] = ({}, [], None)
        self.zstd = zstandard.ZstdDecompressor()
        self.resident: list[tuple[int, int]] = []
        self.boot_joiner: bootrecords.Joiner | None = None  # between the header and the last BOOT record
        self.awaiting_ready = False  # the header and boot segments are in; the source waits for "ready"
        self.holds = gcpolicy.Holds()  # on the garbage collector (node.gcpolicy)
        self.dropped = False

    # Target --------------------------------------------------------------------------------

    def build(self, header: dict[str, Any]) -> None:
        """Check the header and take the capacity (quick, on the loop); the
        files and the machine are made by :meth:`prepare`, off it."""
        hv = self.hv
        meta = header.get("vm") or {}
        vm_id = str(meta.get("vm_id") or "")
        memory = header.get("memory_size")
        if not isinstance(memory, int) or memory <= 0:
            raise ProtocolError("bad memory size in the migration header")
        if memory > hv.config.capacity_memory:
            raise E.ResourceExhausted(f"the VM has {memory} bytes of memory; this node has {hv.config.capacity_memory}")
        disk = header.get("disk")
        try:
            disk_size = None if disk is None else int(disk["size"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"malformed disk description in the migration header ({exc})") from None
        if disk_size is not None and disk_size < 0:
            raise ProtocolError("negative disk size in the migration header")
        machine_config = header.get("machine")
        if not isinstance(machine_config, dict):
            raise ProtocolError("the migration header has no machine description")
        vm_id = hv._new_id(vm_id)
        now = time.time()
        try:  # checked before any capacity is taken
            self.definition = VmDefinition(
                vm_id=vm_id, name=str(meta.get("name") or vm_id), memory=memory,
                shares=meta.get("shares", DEFAULT_SHARES), backend=hv.config.backend,
                image_name=str(meta.get("image_name") or ""), disk=disk is not None, boot_media=True,
                created_at=now, generation=meta.get("generation", 1), migrating_in=self.job_id)
        except ValueError as exc:
            raise ProtocolError(f"the migration header's VM description is unusable: {exc}") from None
        if self.reservation_id:
            hv.admission.transfer(f"reservation:{self.reservation_id}", f"vm:{vm_id}", memory, 1, now)
        else:
            hv.admission.admit(f"vm:{vm_id}", memory, 1, now)
        self.held = True
        self.vm_id = vm_id
        self._layout = (machine_config, [], disk_size)
        self.boot_joiner = bootrecords.Joiner(memory)
        self.resident = self._resident_runs(header.get("resident"), memory >> PAGE_SHIFT)

    def boot(self, payload: dict[str, Any]) -> None:
        self.boot_joiner.add(payload)  # type: ignore[union-attr]

    def booted(self) -> None:
        """Every boot segment is here: make the VM before the next record."""
        machine_config, _, disk_size = self._layout
        self._layout = (machine_config, self.boot_joiner.segments, disk_size)  # type: ignore[union-attr]
        self.boot_joiner = None
        self.awaiting_ready = True

    @staticmethod
    def _resident_runs(value: Any, npages: int) -> list[tuple[int, int]]:
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > npages:
            raise ProtocolError("malformed resident-memory map in the migration header")
        runs = []
        for item in value:
            if (not isinstance(item, list) or len(item) != 2 or not all(isinstance(v, int) for v in item)
                    or item[0] < 0 or item[1] <= 0 or item[0] + item[1] > npages):
                raise ProtocolError("malformed resident-memory map in the migration header")
            runs.append((item[0], item[1]))
        return runs

    async def prepare(self) -> None:
        """Create the VM's files and machine and commit the memory the guest
        uses on the source (see :mod:`node.machine.hostmem`), all off the event
        loop, before round 0. The work is a task of the hypervisor's: a broken
        stream does not interrupt it halfway; it cleans up after itself if the
        copy was dropped meanwhile (:meth:`drop`)."""
        self.awaiting_ready = False
        task = asyncio.create_task(self._prepare(), name=f"migrate-in-{self.vm_id}")
        self.hv.own(task)
        await asyncio.shield(task)

    async def _prepare(self) -> None:
        hv = self.hv
        vm_id, definition = self.vm_id, self.definition
        assert definition is not None
        machine_config, boot, disk_size = self._layout
        runs, self.resident = self.resident, []
        created = False  # this VM's directory exists

        def make() -> Machine:  # in a thread
            nonlocal created
            hv.store.create(definition)
            created = True
            disk_path = None
            if disk_size is not None:
                disk_path = hv.store.path(vm_id, "disk.img")
                with open(disk_path, "wb") as f:
                    f.truncate(disk_size)
            try:
                machine = Machine.from_config_state(machine_config, boot, disk_path, hv.config.backend)
            except (StateError, ValueError, KeyError, TypeError) as exc:
                raise ProtocolError(f"the machine description is unusable: {exc}") from None
            try:
                if machine.ram.size != definition.memory:
                    raise ProtocolError("the machine description and the header disagree on memory size")
                # What a start after it powers off here boots (Vm.boot).
                hv.store.save_boot_media(vm_id, machine.config_state(), machine.boot_segments())
                for first, count in runs:
                    if not hostmem.populate(machine.ram.data, first << PAGE_SHIFT, count << PAGE_SHIFT):
                        break
            except BaseException:
                machine.close()
                raise
            return machine

        async with hv._store_lock(vm_id):  # after any earlier files of this id are gone
            try:
                machine = await durable.in_thread(make)
            except BaseException as exc:
                if created:
                    await durable.in_thread(hv.store.remove, vm_id)
                if isinstance(exc, MemoryError):
                    raise E.ResourceExhausted(f"cannot take the VM: {exc}") from None
                if isinstance(exc, DirectoryTaken):
                    raise hv._stray_directory(vm_id) from None
                if isinstance(exc, OSError):
                    raise E.Unavailable(f"cannot create the VM's files on node {hv.config.name}: {exc}") from None
                raise
            if self.machine_sm.phase is DestPhase.ABORTED:  # dropped while this ran
                machine.close()
                await durable.in_thread(hv.store.remove, vm_id)
                return
        self.machine = machine
        self.digest = MemoryDigest(machine.ram.u8)
        self.pages_decoder = PageDecoder(machine.ram, canonical=False, on_pages=self.digest.update)

    def pages(self, payload: dict[str, Any]) -> None:
        self.pages_decoder.apply(payload)  # type: ignore[union-attr]

    def page_list(self, payload: dict[str, Any]) -> None:
        self.pages_decoder.apply_list(payload)  # type: ignore[union-attr]

    def disk(self, payload: dict[str, Any]) -> None:
        disk = self.machine.disk if self.machine else None
        if disk is None:
            raise ProtocolError("disk contents for a VM without a disk")
        offset, length, data = payload.get("offset"), payload.get("length"), payload.get("data")
        if (not isinstance(offset, int) or not isinstance(length, int) or not isinstance(data, bytes)
                or offset < 0 or length <= 0 or length > DIRTY_CHUNK or offset + length > disk.size):
            raise ProtocolError("malformed disk record")
        if payload.get("zstd"):
            data = self.zstd.decompress(data, max_output_size=length)
        if len(data) != length:
            raise ProtocolError("a disk record holds the wrong number of bytes")
        disk.write(offset, data)

    def memory_digest(self) -> bytes:
        return self.digest.value if self.digest is not None else b""

    def chunk_hash(self, chunk: int) -> int:
        mem = self.machine.ram.u8  # type: ignore[union-attr]
        if not 0 <= chunk * CHUNK_SIZE < len(mem):
            raise ProtocolError(f"spot check of memory chunk {chunk}, beyond memory")
        return chunk_hash(mem, chunk)

    def finish(self, hart: dict[str, Any], devices: dict[str, Any], console: ConsoleBuffer | None,
               final: dict[str, Any]) -> None:
        machine = self.machine
        assert machine is not None
        try:
            machine.restore_states(hart, devices)
        except (StateError, ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(f"the final state is unusable: {exc}") from None
        buffer = console if console is not None else ConsoleBuffer(self.hv.config.console_limit)
        assert self.definition is not None
        vm = Vm(self.definition, self.hv.store, buffer)
        vm.attach(machine)
        vm.phase = Phase.PAUSED
        self.vm = vm
        self.final = final
        self.holds.take(gcpolicy.ALL)  # until the hand-over

    # lifecycle ------------------------------------------------------------------------------

    def commit(self) -> Vm:
        """The hand-over is recorded: the VM is this node's and continues as it
        was on the source (running, or paused by its user)."""
        vm = self.vm
        assert vm is not None
        hv = self.hv
        hv.vms[vm.vm_id] = vm
        vm.definition.desired = "running"
        vm.definition.migrating_in = ""  # written once the guest runs (Migrations._finish_in)
        if self.final.get("running", True):
            vm.first_slice = asyncio.get_running_loop().create_future()
            vm.phase = Phase.RUNNING
        else:
            vm.phase = Phase.PAUSED
        hv.wake()
        return vm

    def drop(self, reason: str) -> None:
        """Discard the partial copy and give its capacity back (once: a second
        drop must not free what a VM created since under the same id holds)."""
        if self.dropped:
            return
        self.dropped = True
        self.holds.release()
        try:
            self.machine_sm.abort(reason)
        except ProtocolError:
            return
        # Before prepare() has made the machine, its task cleans up after itself.
        if self.machine is not None:
            if self.vm is not None:
                self.vm.release()
            else:
                self.machine.close()
            self.hv.remove_files_soon(self.vm_id)
        if self.held:
            self.hv.admission.release(f"vm:{self.vm_id}")
        log.info("incoming migration dropped", job_id=self.job_id, vm_id=self.vm_id, reason=reason)


@dataclass
class _Idle:
    """An incoming stream's wait for its source (Migrations._watch_in)."""

    since: float  # monotonic: waiting for the source's next message since (0: not waiting)
    stalled: str = ""  # why the watchdog ended the stream
