"""Hart and device state records as hostile input: every field of every record
is checked for presence, type and range on restore, and a bad one is refused
with a :class:`StateError` naming the record and the field — never masked into
range, never a raw KeyError/ValueError/TypeError. Values the component can
really hold are accepted, and the states real guests reach round-trip."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from node.machine import csr as C
from node.machine.machine import Machine, MachineConfig, StopReason
from node.machine.state import StateError
from support import guest

U64 = (1 << 64) - 1
DELETE = object()  # a mutation that removes the field

# What each field may hold, as its component holds it:
#   ("uint", bits), ("sint", bits), ("range", lo, hi), ("flag",), ("choice", values),
#   ("uints", count, bits), ("blob", max_len, exact), ("blobs", count, size), ("optional", spec).
HART: dict[str, tuple] = {
    "x": ("uints", 32, 64), "pc": ("uint", 64), "priv": ("choice", (C.PRV_U, C.PRV_S, C.PRV_M)),
    "icount": ("range", 0, U64 >> 1), "res_addr": ("range", -1, U64), "res_val": ("uint", 64),
    "wfi": ("flag",), "pmpcfg": ("uints", C.PMP_ENTRIES, 8),
    "pmpaddr": ("uints", C.PMP_ENTRIES, C.PMPADDR_MASK.bit_length()), "hartid": ("range", 0, 0),
    **{name: ("uint", 64) for name in (
        "mstatus", "medeleg", "mideleg", "mie", "mip_sw", "mtvec", "mscratch", "mepc", "mcause", "mtval",
        "mcounteren", "menvcfg", "mcountinhibit", "stvec", "sscratch", "sepc", "scause", "stval",
        "scounteren", "senvcfg", "satp", "stimecmp")},
    "cycle_offset": ("sint", 65), "instret_offset": ("sint", 65),
}
UART: dict[str, tuple] = {
    **{name: ("uint", 8) for name in ("rbr", "ier", "iir", "lcr", "lsr", "msr", "mcr", "scr", "fcr")},
    "divider": ("uint", 16), "thr_ipending": ("uint", 1), "rx_trigger": ("choice", (1, 4, 8, 14)),
    "rx_fifo": ("blob", 16, False), "pending_input": ("blob", 1 << 20, False),
}
CLINT: dict[str, tuple] = {"msip": ("uint", 1), "mtimecmp": ("uint", 64), "offset": ("sint", 65)}
PLIC: dict[str, tuple] = {
    "priority": ("uints", 96, 3), "threshold": ("uints", 2, 3), "enable": ("blobs", 2, 12),
    "level": ("blob", 12, True), "pending": ("blob", 12, True), "claimed": ("blob", 12, True),
}
VIRTIO: dict[str, tuple] = {
    "status": ("uint", 8), "device_features_sel": ("uint", 32), "driver_features_sel": ("uint", 32),
    "driver_features": ("uint", 64), "queue_sel": ("uint", 32), "interrupt_status": ("uint", 32),
    "config_generation": ("uint", 32),
}
QUEUE: dict[str, tuple] = {
    "num": ("range", 0, 256), "ready": ("uint", 1), "desc": ("uint", 64), "driver": ("uint", 64),
    "device": ("uint", 64), "last_avail": ("uint", 16), "used_idx": ("uint", 16),
}
VIRTIO_BLK: dict[str, tuple] = {"requests": ("uint", 64)}
BOARD: dict[str, tuple] = {
    "halted": ("flag",), "reset_pending": ("flag",), "resets": ("uint", 64),
    "exit_code": ("optional", ("uint", 63)),
}

# (record, where the fields sit, how errors name the record, field specs).
# The path is a device name (or "hart"), then keys into nested records.
RECORDS: list[tuple[str, tuple, str, dict[str, tuple]]] = [
    ("hart", ("hart",), "hart state", HART),
    ("uart", ("uart",), "uart state", UART),
    ("clint", ("clint",), "clint state", CLINT),
    ("plic", ("plic",), "plic state", PLIC),
    ("virtio0", ("virtio0",), "virtio0 state", VIRTIO),
    ("virtio0 queue", ("virtio0", "queues", 0), "virtio0 state", QUEUE),
    ("virtio-blk", ("virtio0", "device"), "virtio-blk state", VIRTIO_BLK),
    ("virtio1", ("virtio1",), "virtio1 state", VIRTIO),
    ("board", ("board",), "board record", BOARD),
]
KINDS = [("hart", ("hart",), "hart"), ("uart", ("uart",), "uart"), ("clint", ("clint",), "clint"),
         ("plic", ("plic",), "plic"), ("test", ("test",), "test"), ("virtio0", ("virtio0",), "virtio-mmio"),
         ("virtio-blk", ("virtio0", "device"), "virtio-blk"), ("board", ("board",), "board")]


def _bad(spec: tuple) -> Iterator[tuple[str, Any]]:
    """Values a field of this spec must refuse."""
    yield "deleted", DELETE
    yield "a string", "bogus"
    yield "a float", 1.5
    kind = spec[0]
    if kind != "optional":
        yield "None", None
    if kind == "uint":
        yield from (("True", True), ("-1", -1), (f"2**{spec[1]}", 1 << spec[1]), ("2**64", 1 << 64))
    elif kind == "sint":
        half = 1 << (spec[1] - 1)
        yield from (("True", True), ("too small", -half - 1), ("too large", half), ("2**70", 1 << 70))
    elif kind == "range":
        yield from (("True", True), ("below", spec[1] - 1), ("above", spec[2] + 1), ("2**70", 1 << 70))
    elif kind == "flag":
        yield from (("0", 0), ("1", 1), ("-1", -1))
    elif kind == "choice":
        yield from (("-1", -1), ("2**64", 1 << 64), ("a bool", True), ("a float", float(spec[1][-1])))
        yield "missing value", next(v for v in range(100) if v not in spec[1])
    elif kind == "uints":
        count, bits = spec[1], spec[2]
        yield from (("-1", -1), ("too short", [0] * (count - 1)), ("too long", [0] * (count + 1)),
                    ("an item -1", [0] * (count - 1) + [-1]), (f"an item 2**{bits}", [1 << bits] + [0] * (count - 1)),
                    ("an item a string", ["0"] * count), ("an item a bool", [True] * count), ("bytes", bytes(count)))
    elif kind == "blob":
        size, exact = spec[1], spec[2]
        yield from (("-1", -1), ("a list", [0] * min(size, 4)), ("too long", bytes(size + 1)))
        if exact:
            yield "too short", bytes(size - 1)
    elif kind == "blobs":
        count, size = spec[1], spec[2]
        yield from (("-1", -1), ("too few", [bytes(size)] * (count - 1)), ("too many", [bytes(size)] * (count + 1)),
                    ("a short item", [bytes(size)] * (count - 1) + [bytes(size - 1)]), ("an int item", [0] * count))
    elif kind == "optional":
        common = ("deleted", "a string", "a float", "None")
        yield from ((label, value) for label, value in _bad(spec[1]) if label not in common)


def _good(spec: tuple) -> list[Any]:
    """Values (at the edges of the range) a field of this spec must accept."""
    kind = spec[0]
    if kind == "uint":
        return [0, (1 << spec[1]) - 1]
    if kind == "sint":
        half = 1 << (spec[1] - 1)
        return [-half, -1, half - 1]
    if kind == "range":
        return [spec[1], spec[2]]
    if kind == "flag":
        return [False, True]
    if kind == "choice":
        return list(spec[1])
    if kind == "uints":
        return [[0] * spec[1], [(1 << spec[2]) - 1] * spec[1]]
    if kind == "blob":
        return [b"\xff" * spec[1]] + ([] if spec[2] else [b""])
    if kind == "blobs":
        return [[b"\xff" * spec[2]] * spec[1]]
    assert kind == "optional"
    return [None] + _good(spec[1])


def _cases(good: bool) -> Iterator[Any]:
    for record, path, label, fields in RECORDS:
        for field, spec in fields.items():
            if good:
                for value in _good(spec):
                    if record == "hart" and field == "x":
                        value = [0] + value[1:]  # x0 is always zero
                    yield pytest.param(path, field, value, id=f"{record}.{field}={str(value)[:24]}")
            else:
                for what, value in _bad(spec):
                    yield pytest.param(path, label, field, value, id=f"{record}.{field}={what}")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict, dict, dict, str]]:
    """Records of a booted machine with a disk: config, hart, devices, a disk for restores."""
    disk = str(tmp_path_factory.mktemp("records") / "disk.img")
    Path(disk).write_bytes(bytes(1 << 20))
    machine = Machine(MachineConfig(memory_size=16 << 20, kernel=guest("hello"), disk=disk))
    machine.boot()
    machine.run(100)
    try:
        yield machine.config_state(), machine.hart.to_state(), machine.device_states(), disk
    finally:
        machine.close()


def _restore(saved: tuple[dict, dict, dict, str], path: tuple, field: str, value: Any) -> Machine:
    """Restore the saved records, one field changed, into a fresh machine."""
    config, hart, devices, disk = saved
    records = copy.deepcopy({"hart": hart, **devices})
    record = records
    for key in path:
        record = record[key]
    if value is DELETE:
        del record[field]
    else:
        record[field] = value
    machine = Machine.from_config_state(config, [], disk)
    try:
        hart_state = records.pop("hart")
        machine.restore_states(hart_state, records)
    except BaseException:
        machine.close()
        raise
    return machine


@pytest.mark.parametrize("path,label,field,value", list(_cases(good=False)))
def test_a_bad_field_is_refused_by_name(saved: tuple[dict, dict, dict, str], path: tuple, label: str, field: str,
                                        value: Any) -> None:
    with pytest.raises(StateError) as caught:
        _restore(saved, path, field, value).close()
    message = str(caught.value)
    assert label in message and re.search(rf"\b{re.escape(field)}\b", message), message


@pytest.mark.parametrize("path,field,value", list(_cases(good=True)))
def test_values_the_component_can_hold_are_accepted(saved: tuple[dict, dict, dict, str], path: tuple, field: str,
                                                    value: Any) -> None:
    machine = _restore(saved, path, field, value)
    try:
        records = {"hart": machine.hart.to_state(), **machine.device_states()}
        record = records
        for key in path:
            record = record[key]
        # Restoring re-derives the UART's interrupt identification; the PLIC,
        # restored last, keeps exactly its saved bits.
        if (path, field) != (("uart",), "iir"):
            assert record[field] == value
    finally:
        machine.close()


@pytest.mark.parametrize("path,kind", [pytest.param(path, kind, id=record) for record, path, kind in KINDS])
@pytest.mark.parametrize("field,value", [("kind", DELETE), ("kind", "bogus"), ("kind", None), ("version", DELETE),
                                         ("version", 999), ("version", "1"), ("version", None)])
def test_a_bad_kind_or_version_is_refused(saved: tuple[dict, dict, dict, str], path: tuple, kind: str, field: str,
                                          value: Any) -> None:
    with pytest.raises(StateError, match=rf"{re.escape(kind)} state.*{field}"):
        _restore(saved, path, field, value).close()


@pytest.mark.parametrize("path,value,message", [
    (("virtio0",), None, "virtio0 state: malformed record (device is None, but this slot has a device)"),
    (("virtio1",), {"kind": "virtio-blk", "version": 1, "requests": 0},
     "virtio1 state: malformed record (device is a record, but this slot has none)"),
    (("virtio0",), "bogus", "virtio0 state: malformed record (device is a str, not a record or None)"),
    (("virtio0",), DELETE, "virtio0 state: malformed record (no 'device' field)"),
    (("virtio0",), {"kind": "virtio-gpu", "version": 1}, "expected a virtio-blk state record"),
])
def test_a_virtio_slot_s_device_must_match(saved: tuple[dict, dict, dict, str], path: tuple, value: Any,
                                           message: str) -> None:
    with pytest.raises(StateError, match=re.escape(message)):
        _restore(saved, path, "device", value).close()


def test_nested_records_must_be_records(saved: tuple[dict, dict, dict, str]) -> None:
    with pytest.raises(StateError, match=re.escape("virtio0 state: malformed record (queues[0] is 5, not a record)")):
        _restore(saved, ("virtio0",), "queues", [5]).close()
    with pytest.raises(StateError, match=re.escape("virtio0 state: malformed record (queues has 0 entries, not 1)")):
        _restore(saved, ("virtio0",), "queues", []).close()


def test_the_messages_read_well(saved: tuple[dict, dict, dict, str]) -> None:
    cases = [
        (("uart",), "ier", -1, "uart state: malformed record (ier is -1, not an 8-bit value)"),
        (("clint",), "msip", DELETE, "clint state: malformed record (no 'msip' field)"),
        (("hart",), "mtvec", "x", "hart state: malformed record (mtvec is 'x', not an integer)"),
        (("hart",), "pmpcfg", [0] * 15 + [256], "hart state: malformed record (pmpcfg[15] is 256, not an 8-bit value)"),
        (("hart",), "x", [1] + [0] * 31, "hart state: malformed record (x[0] is 1, not zero)"),
        (("hart",), "hartid", 1, "hart state: the record's hartid is 1, this is hart 0"),
        (("virtio0", "queues", 0), "num", 512, "virtio0 state: malformed record (queues[0].num is 512, not in 0..256)"),
        (("board",), "exit_code", 1 << 70, f"board record is malformed (exit_code is {1 << 70}, not a 63-bit value)"),
        (("uart",), "rx_fifo", bytes(17), "uart state: malformed record (rx_fifo holds 17 bytes, not at most 16)"),
        (("plic",), "level", [0], "plic state: malformed record (level is [0], not bytes)"),
    ]
    for path, field, value, message in cases:
        with pytest.raises(StateError) as caught:
            _restore(saved, path, field, value).close()
        assert str(caught.value) == message


def test_unknown_fields_are_ignored(saved: tuple[dict, dict, dict, str]) -> None:
    for record, path, _, _ in RECORDS:
        machine = _restore(saved, path, "future_field", {"anything": [1, "two"]})
        machine.close()


# -- states real runs reach round-trip --------------------------------------------------------------


@pytest.mark.parametrize("name,disk,stdin,every", [
    ("hello", False, b"", 50),
    ("dirtier", False, b"", 600_000),
    ("smode-kernel", True, b"abc\n", 40_000),   # a disk, console input, S-mode, PMP, Sv39
    ("priv-selftest", False, b"", 250_000),     # counters written (negative offsets), PMP, traps
])
def test_states_written_by_real_runs_restore_exactly(tmp_path: Path, name: str, disk: bool, stdin: bytes,
                                                    every: int) -> None:
    disk_path = copy_path = None
    if disk:
        disk_path, copy_path = str(tmp_path / "disk.img"), str(tmp_path / "copy.img")
        Path(disk_path).write_bytes(bytes(1 << 20))
        Path(copy_path).write_bytes(bytes(1 << 20))
    machine = Machine(MachineConfig(memory_size=32 << 20, kernel=guest(name), disk=disk_path))
    machine.boot()
    if stdin:
        machine.uart.feed(stdin)
    target = Machine.from_config_state(machine.config_state(), machine.boot_segments(), copy_path)
    samples, negative_offsets = 0, False
    try:
        while True:
            reason = machine.run(every)
            hart, devices = machine.hart.to_state(), machine.device_states()
            negative_offsets |= hart["cycle_offset"] < 0 and hart["instret_offset"] < 0
            target.restore_states(copy.deepcopy(hart), copy.deepcopy(devices))
            assert target.hart.to_state() == hart
            assert target.device_states() == devices
            samples += 1
            if reason is not StopReason.LIMIT or samples > 200:
                break
        assert machine.halted and machine.exit_code == 0
        assert negative_offsets == (name == "priv-selftest")
    finally:
        target.close()
        machine.close()
