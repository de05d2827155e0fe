"""RAM and its dirty log: every page whose bytes change is reported, once per
round, whichever path wrote it (fast path, slow path, atomics, host DMA)."""

from __future__ import annotations

import mmap
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from node.machine import hostmem
from node.machine.memory import PAGE_SIZE, Ram, parse_size
from vmstate.pages import WINDOW, PageEncoder
from support import guest, run_caravan
from node.machine.machine import Machine, MachineConfig


def _changed_pages(before: bytes, after: bytes) -> set[int]:
    return {p for p in range(len(before) // PAGE_SIZE)
            if before[p * PAGE_SIZE:(p + 1) * PAGE_SIZE] != after[p * PAGE_SIZE:(p + 1) * PAGE_SIZE]}


def test_dirty_log_covers_every_page_the_guest_writes() -> None:
    machine = Machine(MachineConfig(kernel=guest("dirtier"), memory_size=64 << 20))
    machine.boot()
    machine.run(200_000)
    ram = machine.ram
    ram.start_dirty_log()
    for _ in range(3):  # three "rounds", as pre-copy takes them
        before = bytes(ram.data)
        machine.run(300_000)
        dirty = ram.take_dirty()
        changed = _changed_pages(before, bytes(ram.data))
        assert changed, "the workload wrote nothing"
        assert changed <= set(dirty)
        assert dirty == sorted(set(dirty)), "each page is reported once, in order"
    ram.stop_dirty_log()
    machine.run(100_000)
    assert ram.take_dirty() == []


def test_host_writes_and_slow_paths_are_logged() -> None:
    ram = Ram(1 << 20)
    ram.start_dirty_log()
    ram.write_bytes(3 * PAGE_SIZE + 10, b"abc")
    ram.write_bytes(5 * PAGE_SIZE - 2, b"wxyz")  # straddles pages 4 and 5
    assert ram.take_dirty() == [3, 4, 5]
    assert ram.take_dirty() == []
    ram.write_bytes(3 * PAGE_SIZE, b"again")
    assert ram.take_dirty() == [3]


def test_scattered_page_writes_land_and_are_logged_as_host_writes_are() -> None:
    """Ram.write_pages (a migration's dirty pages, in one call) writes what
    write_bytes page by page would, and honours the same hooks."""
    ram, expected = Ram(1 << 20), Ram(1 << 20)
    pages = [1, 2, 9, 200, 255]
    data = bytes(range(256)) * 16 * len(pages)
    ram.start_dirty_log()
    ram.write_pages(1, [p - 1 for p in pages], data)  # page numbers relative to a first page
    for i, page in enumerate(pages):
        expected.write_bytes(page * PAGE_SIZE, data[i * PAGE_SIZE:(i + 1) * PAGE_SIZE])
    assert bytes(ram.data) == bytes(expected.data)
    assert ram.take_dirty() == pages
    with pytest.raises(IndexError):
        ram.write_pages(0, [256], bytes(PAGE_SIZE))  # one page beyond RAM
    with pytest.raises(ValueError):
        ram.write_pages(0, [3, 4], bytes(PAGE_SIZE))  # data for one page only
    assert ram.take_dirty() == []  # a refused write writes nothing


def test_pages_are_rearmed_only_after_take() -> None:
    ram = Ram(1 << 20)
    ram.start_dirty_log()
    for _ in range(5):
        ram.write_bytes(7 * PAGE_SIZE, b"x")
    assert ram.take_dirty() == [7]


@pytest.mark.parametrize("text,value", [("64M", 64 << 20), ("1G", 1 << 30), ("4096", 4096),
                                        ("512k", 512 << 10), ("0x1000", 4096), ("2GiB", 2 << 30)])
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "12Q", "-5M", "0", "M"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_fence_i_and_self_modifying_code_run_new_instructions() -> None:
    # isa-selftest's fence.i group rewrites code in RAM and runs it again.
    out, code, machine = run_caravan(guest("isa-selftest"))
    assert b"PASS fence.i" in out and code == 0
    assert machine.backend.blocks_built > 0


def test_touched_blocks_mark_exactly_the_memory_the_guest_was_given() -> None:
    ram = Ram(4 << 20)  # 1024 pages, 4 blocks of 256
    assert ram.touched_blocks(256) == bytes(4)
    ram.write_bytes((300 << 12) + 17, b"\x01")
    ram.u8[(1023 << 12)] = 2
    assert ram.touched_blocks(256) == b"\x00\x01\x00\x01"
    assert hostmem.block_runs(ram.touched_blocks(256), 256, ram.npages) == [(256, 256), (768, 256)]


def test_touched_blocks_are_unknown_for_memory_that_is_not_anonymous(tmp_path) -> None:
    ram = Ram(1 << 20)
    path = tmp_path / "mem"
    path.write_bytes(b"\x07" * (1 << 20))
    with open(path, "rb") as f:  # a copy-on-write file mapping, as a restore by mmap makes
        region = mmap.mmap(f.fileno(), 1 << 20, flags=mmap.MAP_PRIVATE,
                           prot=mmap.PROT_READ | mmap.PROT_WRITE)
    ram.replace_backing(region)
    assert ram.touched_blocks(256) is None  # untouched pages there hold the file's data


HEAP_REUSE = textwrap.dedent("""
    import resource, sys, threading
    from node.machine import hostmem
    assert hostmem.keep_freed_memory()
    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    def work():  # 16 MiB in 1 MiB buffers, written (as received migration messages are)
        buffers = [bytes(bytearray(1 << 20)) for _ in range(16)]
        del buffers
    work()  # the heap's first use faults its pages in
    for _ in range(3):  # a new thread each time, as gRPC's event-engine threads come and go
        before = faults()
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        print(faults() - before)
""")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc")
def test_freed_buffers_are_reused_by_new_threads_without_page_faults() -> None:
    """node.daemon.tune_process: a daemon's threads share one warm heap. With a
    heap per thread (glibc's default) each new thread's 16 MiB took ~4300
    page faults, and a node's first incoming migrations ran at half speed."""
    out = subprocess.run([sys.executable, "-c", HEAP_REUSE], capture_output=True, text=True, check=True,
                         cwd=str(Path(__file__).resolve().parent.parent))
    faults = [int(line) for line in out.stdout.split()]
    assert len(faults) == 3 and max(faults) < 256, faults  # 16 MiB fresh would be 4096 faults


def test_round_zero_skips_untouched_blocks_and_sends_the_same_records() -> None:
    ram = Ram(4 << 20)
    for page in (3, 600, 601, 1000):
        ram.write_bytes(page << 12, bytes([page & 0xFF or 1]) * 4096)
    ram.write_bytes(700 << 12, bytes(4096))  # touched, but zero: still described as zero
    plain = PageEncoder(ram.u8)
    records = list(plain.all_pages())
    skipping = PageEncoder(ram.u8)
    assert list(skipping.all_pages(ram.touched_blocks(WINDOW))) == records
    assert (skipping.data_pages, skipping.zero_pages) == (plain.data_pages, plain.zero_pages) == (4, 1020)
    assert skipping.digest.digest() == plain.digest.digest()
