#!/usr/bin/env python3
"""The migration stream alone: where round 0's time goes, in CPU per MiB.

    python bench/stream.py [--total 512M] [--repeats 3] [--json out.json]

One MigrateIn stream between two processes set up as the node daemons are
(same gRPC options, mutual TLS, process tuning, bytes-level messages
gathered as the migration gathers them: ``driver.Batch``, 1 MiB), in four
variants that add one end's page work at a time:

* ``raw``: the sender writes one message again and again, the receiver only
  counts bytes — gRPC and TLS alone (bench/migration.py's "raw" stream);
* ``source``: the sender encodes random guest memory as round 0 does
  (window, zero check, memory digest, framing), the receiver counts;
* ``destination``: the same message again and again, the receiver applies
  it as a migration destination does (frames, checks, RAM, digest), each
  time at the next window of its memory (committed beforehand, as the node
  does before round 0);
* ``both``: round 0's work at both ends — a migration without the guest,
  the controller or the acknowledgements.

For each: throughput, and the CPU time each process spent per MiB (user +
system, all threads) with the cores both used together. On a machine whose
two processes share few cores the stream is CPU-bound, and round 0's
throughput relative to the raw stream is about the raw stream's CPU per MiB
over the migration's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import grpc  # noqa: E402

from node.machine.memory import format_size, parse_size  # noqa: E402
from node.migration.driver import BATCH_BYTES, Batch  # noqa: E402

MIB = 1 << 20
MESSAGE = BATCH_BYTES  # the migration stream's message size
VARIANTS = {"raw": ("same", "count"), "source": ("encode", "count"),
            "destination": ("same", "apply"), "both": ("encode", "apply")}

RECEIVER = r'''
import asyncio, sys
import grpc
from caravan import node_pb2, node_pb2_grpc
from node.daemon import bind, grpc_options, tune_process
from node.migration import wire
from node.server import add_node_service
from node.tls import TlsFiles
ca, cert, key, mode, memory, cpus = sys.argv[1:7]
if cpus:  # before gRPC starts a thread: all of them run there
    from node.cpus import parse_cpu_list, pin_process
    pin_process(parse_cpu_list(cpus))
if mode == "apply":
    from node.machine import hostmem
    from node.machine.memory import Ram
    from node.migration.digest import MemoryDigest
    from vmstate.pages import WINDOW, PageDecoder
    ram = Ram(int(memory))
    hostmem.populate(ram.data, 0, ram.size)  # as Incoming.prepare() commits it before round 0
class Sink(node_pb2_grpc.NodeServiceServicer):
    async def MigrateIn(self, it, ctx):
        n = 0
        if mode == "apply":
            digest = MemoryDigest(ram.u8)
            pages = PageDecoder(ram, canonical=False, on_pages=digest.update)
            frames = wire.frame_decoder()
            windows = ram.npages // WINDOW
            applied = 0
        async for raw in it:
            data = wire.parse(raw)[1]
            n += len(data)
            if mode == "apply":
                for frame in frames.feed(data):
                    # A message sent again and again lands on successive windows, as round 0's do.
                    frame.payload["first"] = (applied % windows) * WINDOW
                    pages.apply(frame.payload)
                    applied += 1
        yield node_pb2.MigrationAck(kind="verified", bytes=n)
async def main():
    s = grpc.aio.server(options=grpc_options())
    add_node_service(Sink(), s)
    port = bind(s, "127.0.0.1:0", TlsFiles(ca, cert, key))
    await s.start()
    print(port, flush=True)
    await s.wait_for_termination()
tune_process()
asyncio.run(main())
'''


@dataclass
class StreamRun:
    mib_s: float
    sender_cpu_ms_per_mib: float
    receiver_cpu_ms_per_mib: float

    @property
    def cores(self) -> float:
        return self.mib_s * (self.sender_cpu_ms_per_mib + self.receiver_cpu_ms_per_mib) / 1000


def _process_cpu(pid: int) -> float:
    """User + system seconds of every thread of ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_certs(directory: str) -> str:
    """A CA and certificates for the two ends (as a cluster's, for ``node-1`` and ``node-2``)."""
    from node.tls import init_ca, issue

    init_ca(directory)
    for name in ("node-1", "node-2"):
        issue(directory, name, ["127.0.0.1", "localhost"])
    return directory


def stream(certs: str, total: int = 1024 * MIB, sender: str = "same", receiver: str = "count",
           memory: object = None, warmup: int = 0,
           pin: tuple[frozenset[int], frozenset[int]] | None = None) -> StreamRun:
    """One stream of ``total`` bytes from this process to a receiver process.
    ``sender``: "same" (one message written again and again) or "encode"
    (round 0 of ``memory``, a Ram, with the digest); ``receiver``: "count" or
    "apply". The TLS handshake is not part of the time. ``warmup``: bytes
    streamed first, untimed, on the same connection — so the timed stream
    starts on a connection already at full pace, as a migration on a node's
    kept channel does (node.migration.driver.Migrations._channel).
    ``pin``: (the sender's CPUs, the receiver's), each end kept on its own
    as ``cluster up --pin`` keeps each node (node.cpus); this process's
    threads are unpinned again afterwards."""
    from node.cpus import format_cpu_list, pin_process
    from node.daemon import grpc_options, tune_process
    from node.migration import wire
    from node.migration.digest import MemoryDigest
    from node.tls import TlsFiles, channel_credentials
    from vmstate import codec
    from vmstate.pages import WINDOW_BYTES, PageEncoder

    if sender == "encode" and memory is None:
        raise ValueError("an encoding sender needs guest memory")
    files = TlsFiles.in_dir(certs, "node-1")
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER, files.ca, files.cert, files.key, receiver,
                             str(max(total, 4 * MIB)), format_cpu_list(pin[1]) if pin else ""],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    previous = sys.getswitchinterval()
    unpinned = frozenset(os.sched_getaffinity(0))
    if pin:
        pin_process(pin[0])
    tune_process()  # as a node daemon is tuned (the malloc setting stays: harmless here)
    try:
        port = int(proc.stdout.readline())  # type: ignore[union-attr]
        # Whole windows as page records (an applying receiver applies them), as many as the
        # migration gathers into one message: the "same" sender's message, and the warm-up's.
        batch = Batch()
        while not batch.full:
            batch.add(codec.PAGES, {"first": 0, "data_map": b"\xff" * 32, "zero_map": bytes(32),
                                    "data": os.urandom(WINDOW_BYTES)})
        message = wire.frames_message(batch.take())

        async def client() -> StreamRun:
            creds = channel_credentials(TlsFiles.in_dir(certs, "node-2"))
            async with grpc.aio.secure_channel(f"127.0.0.1:{port}", creds, options=grpc_options()) as ch:
                await ch.channel_ready()
                if warmup:
                    call = wire.open_stream(ch)
                    for _ in range(max(1, warmup // len(message))):
                        await call.write(message)
                    await call.done_writing()
                    async for _ in call:
                        pass
                call = wire.open_stream(ch)
                receiver_before, sender_before = _process_cpu(proc.pid), time.process_time()
                start = time.perf_counter()
                sent = 0
                if sender == "same":
                    for _ in range(max(1, total // len(message))):
                        await call.write(message)
                        sent += len(message)
                else:
                    ram = memory.u8  # type: ignore[attr-defined]
                    digest = MemoryDigest(ram)
                    encoder = PageEncoder(ram, canonical=False, on_pages=digest.update, views=True)
                    batch = Batch()

                    async def send() -> int:
                        chunk = wire.frames_message(batch.take())
                        await call.write(chunk)
                        return len(chunk)
                    for payload in encoder.all_pages():
                        batch.add(codec.PAGES, payload)
                        if batch.full:
                            sent += await send()
                    if batch.size:
                        sent += await send()
                await call.done_writing()
                async for _ in call:
                    pass
                seconds = time.perf_counter() - start
                receiver_cpu = _process_cpu(proc.pid) - receiver_before
                sender_cpu = time.process_time() - sender_before
                mib = sent / MIB
                return StreamRun(mib / seconds, sender_cpu / mib * 1000, receiver_cpu / mib * 1000)

        return asyncio.run(client())
    finally:
        proc.kill()
        proc.wait()
        sys.setswitchinterval(previous)
        if pin:
            pin_process(unpinned)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total", default="512M", help="bytes per stream (and random guest memory to encode)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant, interleaved")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    from node.machine.memory import Ram

    total = parse_size(args.total)
    memory = Ram(total)
    for offset in range(0, total, 64 * MIB):
        chunk = min(64 * MIB, total - offset)
        memory.u8[offset:offset + chunk] = os.urandom(chunk)
    runs: dict[str, list[StreamRun]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="caravan-bench-stream-") as tmp:
        certs = make_certs(tmp)
        for _ in range(args.repeats):
            for name, (sender, receiver) in VARIANTS.items():
                runs[name].append(stream(certs, total, sender, receiver, memory))
    print(f"one stream of {format_size(total)} in {format_size(MESSAGE)} messages, mutual TLS; medians of {args.repeats} runs")
    print(f"{'variant':<12} {'MiB/s':>7} {'vs raw':>7} {'sender ms/MiB':>14} {'receiver ms/MiB':>16} {'cores':>6}")
    summary = {}
    raw = statistics.median(r.mib_s for r in runs["raw"])
    for name, results in runs.items():
        median = {key: statistics.median(getattr(r, key) for r in results)
                  for key in ("mib_s", "sender_cpu_ms_per_mib", "receiver_cpu_ms_per_mib", "cores")}
        summary[name] = {**median, "runs": [{**asdict(r), "cores": r.cores} for r in results]}
        print(f"{name:<12} {median['mib_s']:>7.0f} {median['mib_s'] / raw:>7.0%} "
              f"{median['sender_cpu_ms_per_mib']:>14.2f} {median['receiver_cpu_ms_per_mib']:>16.2f} "
              f"{median['cores']:>6.2f}")
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump({"benchmark": "stream", "total": total, "message_bytes": MESSAGE, "cpus": os.cpu_count(),
                       "variants": summary}, f, indent=1)
        print(f"wrote {args.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
