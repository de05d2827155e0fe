"""Page encoding and applying, the CPU side of a migration stream, in one process.

Round 0 sends whole 1 MiB windows (PAGES records); later rounds and the
stop-and-copy send scattered pages by number (PAGE_LIST records). Both ends
also keep the memory digest (node/migration/digest.py) up to date. This
measures, on random guest memory and without gRPC:

* round 0, source: read, zero-check, digest, frame and join one window: ms per MiB;
* round 0, destination: parse, check, write and digest one window: ms per MiB;
* scattered pages, source and destination: µs per page, with and without the digest.

These are the costs the source's one thread pays beside the gRPC write (see
bench/migration.py for the whole migration).

    python bench/pages.py [--memory 256M] [--pages 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from typing import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from node.machine import hostmem  # noqa: E402
from node.machine.memory import Ram, parse_size  # noqa: E402
from node.migration import wire  # noqa: E402
from node.migration.digest import CHUNK_PAGES, MemoryDigest  # noqa: E402
from vmstate import codec  # noqa: E402
from vmstate.pages import PAGE_SIZE, PageDecoder, PageEncoder  # noqa: E402

MIB = 1 << 20


def best_of(repeats: int, run: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def random_ram(size: int) -> Ram:
    ram = Ram(size)
    for off in range(0, size, MIB):
        ram.u8[off:off + MIB] = os.urandom(MIB)
    return ram


def committed_ram(size: int) -> Ram:
    """A destination's RAM: committed before round 0, as the node does."""
    ram = Ram(size)
    hostmem.populate(ram.data, 0, size)
    return ram


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memory", default="256M", help="guest memory to encode (random contents)")
    parser.add_argument("--pages", type=int, default=1000, help="scattered pages for the page-list figures")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    hostmem.keep_freed_memory()  # as the node daemons run
    size = parse_size(args.memory)
    mib = size // MIB
    src = random_ram(size)

    def source_round0(keep: list[bytes] | None = None) -> None:
        """Each message is dropped once built, as the node drops it once written
        (keeping them all would time page faults on fresh memory instead)."""
        digest = MemoryDigest(src.u8)
        encoder = PageEncoder(src.u8, canonical=False, on_pages=digest.update, views=True)  # as the node
        for payload in encoder.all_pages():
            message = wire.frames_message(wire.frame_parts(codec.PAGES, payload))
            if keep is not None:
                keep.append(message)

    messages: list[bytes] = []
    source_round0(messages)
    dst = committed_ram(size)

    def destination(msgs: list[bytes], ram: Ram, list_records: bool, with_digest: bool = True) -> None:
        digest = MemoryDigest(ram.u8)
        decoder = PageDecoder(ram, canonical=False, on_pages=digest.update if with_digest else None)
        frames = wire.frame_decoder()
        for msg in msgs:
            for frame in frames.feed(wire.parse(msg)[1]):
                (decoder.apply_list if list_records else decoder.apply)(frame.payload)

    results: dict[str, float] = {
        "round0_source_ms_per_mib": best_of(args.repeats, source_round0) / mib * 1000,
        "round0_destination_ms_per_mib": best_of(args.repeats, lambda: destination(messages, dst, False)) / mib * 1000,
    }
    pages = sorted(random.Random(1).sample(range(size // PAGE_SIZE), args.pages))

    def source_list(with_digest: bool) -> list[bytes]:
        digest = MemoryDigest(src.u8)
        encoder = PageEncoder(src.u8, canonical=False, on_pages=digest.update if with_digest else None)
        return [wire.frames_message(wire.frame_parts(codec.PAGE_LIST, p)) for p in encoder.page_list(pages)]

    sparse = source_list(False)
    for with_digest in (False, True):
        suffix = "" if with_digest else "_without_digest"
        results[f"scattered_source_us_per_page{suffix}"] = (
            best_of(args.repeats, lambda: source_list(with_digest)) / len(pages) * 1e6)
        results[f"scattered_destination_us_per_page{suffix}"] = (
            best_of(args.repeats, lambda: destination(sparse, dst, True, with_digest)) / len(pages) * 1e6)
    print(f"{args.memory} of random pages, {len(pages)} scattered ones, digest by {CHUNK_PAGES}-page chunk:")
    for name, value in results.items():
        print(f"  {name:45s} {value:8.3f}")
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump({"benchmark": "pages", "memory": size, "pages": len(pages), "chunk_pages": CHUNK_PAGES,
                       **results}, f, indent=1)
        print(f"wrote {args.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
