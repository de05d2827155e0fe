"""The virtio-mmio transport, modern interface (virtio 1.1 §4.2, version 2), with
split virtqueues (§2.6).

A :class:`VirtioMmio` slot holds a device model (:class:`VirtioDevice`) or none
(device ID 0, as QEMU's unused virt slots). Requests are processed
synchronously when the driver writes QueueNotify, so completion — and the
interrupt — happen at an exact instruction count (deterministic). The guest's
memory is reached only through RAM (DMA outside RAM fails the request); every
ring index and descriptor chain is treated as hostile input.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from ..memory import Ram
from ..state import Fields, check_state

MAGIC = 0x74726976  # "virt"
VERSION = 2
VENDOR_ID = 0x554D4551  # "QEMU"

REG_MAGIC = 0x000
REG_VERSION = 0x004
REG_DEVICE_ID = 0x008
REG_VENDOR_ID = 0x00C
REG_DEVICE_FEATURES = 0x010
REG_DEVICE_FEATURES_SEL = 0x014
REG_DRIVER_FEATURES = 0x020
REG_DRIVER_FEATURES_SEL = 0x024
REG_QUEUE_SEL = 0x030
REG_QUEUE_NUM_MAX = 0x034
REG_QUEUE_NUM = 0x038
REG_QUEUE_READY = 0x044
REG_QUEUE_NOTIFY = 0x050
REG_INTERRUPT_STATUS = 0x060
REG_INTERRUPT_ACK = 0x064
REG_STATUS = 0x070
REG_QUEUE_DESC_LOW = 0x080
REG_QUEUE_DESC_HIGH = 0x084
REG_QUEUE_DRIVER_LOW = 0x090
REG_QUEUE_DRIVER_HIGH = 0x094
REG_QUEUE_DEVICE_LOW = 0x0A0
REG_QUEUE_DEVICE_HIGH = 0x0A4
REG_CONFIG_GENERATION = 0x0FC
REG_CONFIG = 0x100

STATUS_ACKNOWLEDGE = 1
STATUS_DRIVER = 2
STATUS_DRIVER_OK = 4
STATUS_FEATURES_OK = 8
STATUS_NEEDS_RESET = 64
STATUS_FAILED = 128

VIRTIO_F_VERSION_1 = 1 << 32

DESC_F_NEXT = 1
DESC_F_WRITE = 2
DESC_F_INDIRECT = 4
AVAIL_F_NO_INTERRUPT = 1

INT_USED_BUFFER = 1
INT_CONFIG_CHANGE = 2

QUEUE_NUM_MAX = 256
STATE_VERSION = 1


class VirtioError(Exception):
    """The driver handed the device something malformed; the device enters
    NEEDS_RESET, as the spec allows."""


@dataclass
class Buffer:
    addr: int      # guest-physical
    length: int
    writable: bool  # device-writable (driver reads it back)


class VirtioDevice(Protocol):
    device_id: int
    features: int
    num_queues: int

    def read_config(self, offset: int, size: int) -> int: ...

    def write_config(self, offset: int, size: int, value: int) -> None: ...

    def handle(self, queue: int, chain: list[Buffer], dma: "Dma") -> int:
        """Serve one request; returns the number of bytes written into the
        device-writable buffers."""
        ...

    def reset(self) -> None: ...

    def to_state(self) -> dict[str, Any]: ...

    def from_state(self, state: dict[str, Any]) -> None: ...


class Dma:
    """Device access to guest RAM, through the RAM's hooks (dirty log, code)."""

    def __init__(self, ram: Ram) -> None:
        self.ram = ram

    def _offset(self, addr: int, length: int) -> int:
        off = addr - self.ram.base
        if off < 0 or length < 0 or off + length > self.ram.size:
            raise VirtioError(f"DMA [{addr:#x}, +{length:#x}) is outside RAM")
        return off

    def read(self, addr: int, length: int) -> bytes:
        return self.ram.read_bytes(self._offset(addr, length), length)

    def write(self, addr: int, data: bytes) -> None:
        self.ram.write_bytes(self._offset(addr, len(data)), data)


class Queue:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.num = 0
        self.ready = 0
        self.desc = 0
        self.driver = 0
        self.device = 0
        self.last_avail = 0   # next avail ring slot the device will consume
        self.used_idx = 0

    _FIELDS = ("num", "ready", "desc", "driver", "device", "last_avail", "used_idx")

    def to_state(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in self._FIELDS}

    def from_state(self, f: Fields) -> None:
        """Restore from the queue's record, read through the transport's Fields."""
        num = f.integer("num", 0, QUEUE_NUM_MAX)
        ready = f.uint("ready", 1)
        desc, driver, device = f.uint("desc", 64), f.uint("driver", 64), f.uint("device", 64)
        last_avail, used_idx = f.uint("last_avail", 16), f.uint("used_idx", 16)
        self.num, self.ready, self.desc, self.driver, self.device = num, ready, desc, driver, device
        self.last_avail, self.used_idx = last_avail, used_idx


class VirtioMmio:
    """One virtio-mmio slot."""

    def __init__(self, name: str, ram: Ram, device: VirtioDevice | None = None) -> None:
        self.name = name
        self.device = device
        self.dma = Dma(ram)
        self.irq_line: Callable[[bool], None] = lambda level: None
        num_queues = device.num_queues if device else 0
        self.queues = [Queue() for _ in range(num_queues)]
        self.reset()

    def reset(self) -> None:
        self.status = 0
        self.device_features_sel = 0
        self.driver_features_sel = 0
        self.driver_features = 0
        self.queue_sel = 0
        self.interrupt_status = 0
        self.config_generation = 0
        for q in self.queues:
            q.reset()
        if self.device is not None:
            self.device.reset()
        self.irq_line(False)

    # -- registers ------------------------------------------------------------------

    def _queue(self) -> Queue | None:
        return self.queues[self.queue_sel] if self.queue_sel < len(self.queues) else None

    def read(self, offset: int, size: int) -> int:
        dev = self.device
        if offset >= REG_CONFIG:
            return dev.read_config(offset - REG_CONFIG, size) if dev else 0
        if dev is None:  # as QEMU's empty transport: magic, version and vendor at any size, the rest zero
            return {REG_MAGIC: MAGIC, REG_VERSION: VERSION, REG_VENDOR_ID: VENDOR_ID}.get(offset, 0)
        if size != 4:
            return 0
        if offset == REG_MAGIC:
            return MAGIC
        if offset == REG_VERSION:
            return VERSION
        if offset == REG_DEVICE_ID:
            return dev.device_id
        if offset == REG_VENDOR_ID:
            return VENDOR_ID
        if offset == REG_DEVICE_FEATURES:
            features = dev.features | VIRTIO_F_VERSION_1
            return (features >> (32 * self.device_features_sel)) & 0xFFFFFFFF if self.device_features_sel < 2 else 0
        q = self._queue()
        if offset == REG_QUEUE_NUM_MAX:
            return QUEUE_NUM_MAX if q else 0
        if offset == REG_QUEUE_READY:
            return q.ready if q else 0
        if offset == REG_INTERRUPT_STATUS:
            return self.interrupt_status
        if offset == REG_STATUS:
            return self.status
        if offset == REG_CONFIG_GENERATION:
            return self.config_generation
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        dev = self.device
        if dev is None:
            return
        if offset >= REG_CONFIG:
            dev.write_config(offset - REG_CONFIG, size, value)
            return
        if size != 4:
            return
        q = self._queue()
        if offset == REG_DEVICE_FEATURES_SEL:
            self.device_features_sel = value
        elif offset == REG_DRIVER_FEATURES_SEL:
            self.driver_features_sel = value
        elif offset == REG_DRIVER_FEATURES:
            if self.driver_features_sel < 2:
                shift = 32 * self.driver_features_sel
                self.driver_features = (self.driver_features & ~(0xFFFFFFFF << shift)) | (value << shift)
        elif offset == REG_QUEUE_SEL:
            self.queue_sel = value
        elif offset == REG_QUEUE_NUM and q:
            q.num = value if 0 < value <= QUEUE_NUM_MAX and not value & (value - 1) else q.num
        elif offset == REG_QUEUE_READY and q:
            q.ready = value & 1
        elif offset in (REG_QUEUE_DESC_LOW, REG_QUEUE_DESC_HIGH) and q:
            q.desc = _set_half(q.desc, offset == REG_QUEUE_DESC_HIGH, value)
        elif offset in (REG_QUEUE_DRIVER_LOW, REG_QUEUE_DRIVER_HIGH) and q:
            q.driver = _set_half(q.driver, offset == REG_QUEUE_DRIVER_HIGH, value)
        elif offset in (REG_QUEUE_DEVICE_LOW, REG_QUEUE_DEVICE_HIGH) and q:
            q.device = _set_half(q.device, offset == REG_QUEUE_DEVICE_HIGH, value)
        elif offset == REG_QUEUE_NOTIFY:
            if value < len(self.queues) and self.status & STATUS_DRIVER_OK:
                self._process(value)
        elif offset == REG_INTERRUPT_ACK:
            self.interrupt_status &= ~value
            self.irq_line(self.interrupt_status != 0)
        elif offset == REG_STATUS:
            if value == 0:
                self.reset()
                return
            if value & STATUS_FEATURES_OK and not self.status & STATUS_FEATURES_OK:
                offered = dev.features | VIRTIO_F_VERSION_1
                if self.driver_features & ~offered or not self.driver_features & VIRTIO_F_VERSION_1:
                    value &= ~STATUS_FEATURES_OK  # refuse: the driver must see it did not stick
            self.status = value & 0xFF

    # -- queue processing ---------------------------------------------------------------

    def _process(self, index: int) -> None:
        q = self.queues[index]
        if not q.ready or not q.num:
            return
        dma = self.dma
        try:
            avail_idx = struct.unpack("<H", dma.read(q.driver + 2, 2))[0]
            served = 0
            while q.last_avail != avail_idx:
                if served > q.num:
                    raise VirtioError("the driver made more than a queue's worth of buffers available")
                slot = q.last_avail % q.num
                head = struct.unpack("<H", dma.read(q.driver + 4 + 2 * slot, 2))[0]
                chain = self._chain(q, head)
                written = self.device.handle(index, chain, dma)  # type: ignore[union-attr]
                used_slot = q.used_idx % q.num
                dma.write(q.device + 4 + 8 * used_slot, struct.pack("<II", head, written))
                q.used_idx = (q.used_idx + 1) & 0xFFFF
                dma.write(q.device + 2, struct.pack("<H", q.used_idx))
                q.last_avail = (q.last_avail + 1) & 0xFFFF
                served += 1
            if served:
                flags = struct.unpack("<H", dma.read(q.driver, 2))[0]
                if not flags & AVAIL_F_NO_INTERRUPT:
                    self.interrupt_status |= INT_USED_BUFFER
                    self.irq_line(True)
        except VirtioError:
            self.status |= STATUS_NEEDS_RESET
            self.interrupt_status |= INT_CONFIG_CHANGE
            self.irq_line(True)

    def _chain(self, q: Queue, head: int) -> list[Buffer]:
        chain = []
        index = head
        for _ in range(q.num):
            if index >= q.num:
                raise VirtioError(f"descriptor index {index} beyond the queue size {q.num}")
            addr, length, flags, nxt = struct.unpack("<QIHH", self.dma.read(q.desc + 16 * index, 16))
            if flags & DESC_F_INDIRECT:
                raise VirtioError("indirect descriptors were not negotiated")
            chain.append(Buffer(addr, length, bool(flags & DESC_F_WRITE)))
            if not flags & DESC_F_NEXT:
                return chain
            index = nxt
        raise VirtioError("descriptor chain longer than the queue (a loop)")

    # -- state ----------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": "virtio-mmio", "version": STATE_VERSION,
            "status": self.status, "device_features_sel": self.device_features_sel,
            "driver_features_sel": self.driver_features_sel, "driver_features": self.driver_features,
            "queue_sel": self.queue_sel, "interrupt_status": self.interrupt_status,
            "config_generation": self.config_generation,
            "queues": [q.to_state() for q in self.queues],
            "device": self.device.to_state() if self.device else None,
        }

    # Register widths: the 8-bit device status, 32-bit registers as a 32-bit
    # store leaves them, the 64-bit driver feature set.
    _WIDTHS = {"status": 8, "device_features_sel": 32, "driver_features_sel": 32, "driver_features": 64,
               "queue_sel": 32, "interrupt_status": 32, "config_generation": 32}

    def from_state(self, state: dict[str, Any]) -> None:
        check_state(state, "virtio-mmio", STATE_VERSION)
        f = Fields(state, self.name)
        values = {name: f.uint(name, bits) for name, bits in self._WIDTHS.items()}
        queues = f.records("queues", len(self.queues))
        device = f.get("device")
        if device is not None and not isinstance(device, dict):
            raise f.error(f"device is a {type(device).__name__}, not a record or None")
        if (device is None) != (self.device is None):
            raise f.error("device is None, but this slot has a device" if device is None
                          else "device is a record, but this slot has none")
        for q, qf in zip(self.queues, queues):
            q.from_state(qf)
        for name, value in values.items():
            setattr(self, name, value)
        if self.device is not None:
            self.device.from_state(device)
        self.irq_line(self.interrupt_status != 0)


def _set_half(old: int, high: bool, value: int) -> int:
    if high:
        return (old & 0xFFFFFFFF) | (value << 32)
    return (old & ~0xFFFFFFFF) | value
