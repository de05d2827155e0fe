"""BOOT records (vmstate/bootrecords.py): a boot image larger than one record
is stored in pieces that a reader joins again — and that a reader which does
not know about pieces (format 1.0) loads into exactly the same memory."""

from __future__ import annotations

import pytest

from node.machine.loader import Segment
from node.machine.machine import Machine, MachineConfig
from support import guest
from vmstate import FormatError
from vmstate.bootrecords import PIECE, Joiner, records, segment

MEMORY = 64 << 20


def test_a_large_segment_is_stored_in_pieces_and_joined_again() -> None:
    small = Segment(0x8000_0000, b"small", 4096)
    big = Segment(0x8100_0000, bytes(range(256)) * ((2 * PIECE + 1000) // 256), 2 * PIECE + (1 << 20))
    payloads = records([small, big])
    assert [len(p["data"]) for p in payloads] == [5, PIECE, PIECE, len(big.data) - 2 * PIECE]
    assert [bool(p.get("continued")) for p in payloads] == [False, False, True, True]
    joiner = Joiner(MEMORY)
    for p in payloads:
        joiner.add(p)
    assert joiner.segments == [small, big]


def test_the_pieces_loaded_one_by_one_give_the_same_memory() -> None:
    big = Segment(0x8100_0000, bytes(range(251)) * ((PIECE + 5000) // 251), PIECE + 3 * 4096 + 5000)
    memories = []
    for segments in ([big], [segment(p, MEMORY) for p in records([big])]):
        machine = Machine.cold_boot(_config(), segments, None)
        memories.append(bytes(machine.ram.u8))
        machine.close()
    assert memories[0] == memories[1]


@pytest.mark.parametrize("bad,message", [
    ({"address": 0x8000_0000, "data": b"x", "memsize": 1, "continued": True}, "continues nothing"),
    ({"address": 0x8000_0000, "data": b"xx", "memsize": 1}, "malformed boot record"),
    ({"address": -1, "data": b"x", "memsize": 1}, "malformed boot record"),
    ({"address": 0x8000_0000, "data": "x", "memsize": 1}, "malformed boot record"),
    ({"address": 0x8000_0000, "data": b"", "memsize": MEMORY + 1}, "larger than memory"),
])
def test_malformed_records_are_refused(bad: dict, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        Joiner(MEMORY).add(bad)


def test_the_records_hold_no_more_data_than_the_vm_has_memory() -> None:
    joiner = Joiner(1 << 20)
    piece = {"address": 0x8000_0000, "data": bytes(600 << 10), "memsize": 600 << 10}
    joiner.add(piece)
    with pytest.raises(FormatError, match="more data than the VM has memory"):
        joiner.add(piece)


def _config() -> dict:
    machine = Machine(MachineConfig(memory_size=MEMORY, kernel=guest("hello")))
    machine.boot()
    try:
        return machine.config_state()
    finally:
        machine.close()
