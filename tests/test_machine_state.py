"""A machine's saved records as hostile input: what a snapshot file or a
migration stream says about the hardware (``Machine.from_config_state``) and
the board (``Machine.restore_states``) is checked, and a malformed record is
refused with :class:`StateError` — a clean error, never a crash later on."""

from __future__ import annotations

import copy
import re

import pytest

from node.machine.machine import Machine, MachineConfig
from node.machine.state import StateError
from support import guest


@pytest.fixture(scope="module")
def saved() -> tuple[dict, dict, dict]:
    machine = Machine(MachineConfig(memory_size=16 << 20, kernel=guest("hello")))
    machine.boot()
    machine.run(100)
    try:
        return machine.config_state(), machine.hart.to_state(), machine.device_states()
    finally:
        machine.close()


def test_the_saved_records_restore(saved: tuple[dict, dict, dict]) -> None:
    config, hart, devices = saved
    machine = Machine.from_config_state(config, [], None)
    try:
        machine.restore_states(hart, devices)
        assert machine.hart.to_state() == hart and machine.device_states() == devices
    finally:
        machine.close()


@pytest.mark.parametrize("field,value", [
    ("start", -1), ("fdt_addr", 1 << 64), ("kernel_entry", -4096),
])
def test_boot_addresses_must_be_addresses(saved: tuple[dict, dict, dict], field: str, value: int) -> None:
    config = copy.deepcopy(saved[0])
    config["boot"][field] = value
    with pytest.raises(StateError, match=f"boot {field}"):
        Machine.from_config_state(config, [], None)


@pytest.mark.parametrize("value", [-8, "0x80001000", 1 << 64])
def test_tohost_must_be_an_address(saved: tuple[dict, dict, dict], value: object) -> None:
    config = copy.deepcopy(saved[0])
    config["tohost"] = value
    with pytest.raises(StateError, match="tohost"):
        Machine.from_config_state(config, [], None)


@pytest.mark.parametrize("field,value,message", [
    ("pc", "0x80000000", "pc is '0x80000000', not an integer"), ("icount", None, "icount is None"),
    ("mstatus", True, "mstatus is True"), ("wfi", 0, "wfi is 0, not true or false"),
    ("x", ["0"] * 32, "x is not a list of integers"), ("hartid", ..., "no 'hartid'"),
    ("icount", -1, "icount -1 is not an instruction count"), ("res_addr", -2, "res_addr -2 is not an address"),
])
def test_the_hart_record_names_what_is_wrong(saved: tuple[dict, dict, dict], field: str, value: object,
                                            message: str) -> None:
    config, hart, devices = saved
    hart = copy.deepcopy(hart)
    if value is ...:
        del hart[field]
    else:
        hart[field] = value
    machine = Machine.from_config_state(config, [], None)
    try:
        with pytest.raises(StateError, match=f"hart state: malformed record \\({re.escape(message)}"):
            machine.restore_states(hart, devices)
    finally:
        machine.close()


@pytest.mark.parametrize("value", ["x", -1, {"size": "1M"}, {"size": -1}, {}])
def test_the_disk_description_is_checked(saved: tuple[dict, dict, dict], value: object) -> None:
    config = copy.deepcopy(saved[0])
    config["disk"] = value
    with pytest.raises(StateError, match="not a disk description"):
        Machine.from_config_state(config, [], "/dev/null")


@pytest.mark.parametrize("field,value", [
    ("exit_code", "0"), ("resets", "abc"), ("resets", -1), ("halted", None), ("reset_pending", 1),
])
def test_the_board_record_is_checked(saved: tuple[dict, dict, dict], field: str, value: object) -> None:
    config, hart, devices = saved
    devices = copy.deepcopy(devices)
    devices["board"][field] = value
    machine = Machine.from_config_state(config, [], None)
    try:
        with pytest.raises(StateError, match="board record"):
            machine.restore_states(hart, devices)
    finally:
        machine.close()
