"""virtio-blk (virtio 1.1 §5.2) over a raw disk-image file.

Reads and writes go straight to the file with ``pread``/``pwrite``; a
VIRTIO_BLK_T_FLUSH request ``fsync``s it, so what the guest has flushed is
durable. The image file is a host resource handed in at construction; it is
never part of the device's state record (vmstate stores disk contents in its
own section).
"""

from __future__ import annotations

import os
import struct
from typing import Any

from ..state import Fields, check_state
from .virtio_mmio import Buffer, Dma, VirtioError

DEVICE_ID = 2
SECTOR = 512

VIRTIO_BLK_F_SEG_MAX = 1 << 2
VIRTIO_BLK_F_BLK_SIZE = 1 << 6
VIRTIO_BLK_F_FLUSH = 1 << 9

T_IN = 0
T_OUT = 1
T_FLUSH = 4
T_GET_ID = 8

S_OK = 0
S_IOERR = 1
S_UNSUPP = 2

SEG_MAX = 126
DIRTY_CHUNK = 1 << 20
MAX_REQUEST = 4 << 20
STATE_VERSION = 1


class DiskError(Exception):
    """The disk image cannot be used; the message names the file."""


class DiskImage:
    """A raw disk image file."""

    def __init__(self, path: str, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        try:
            self.fd = os.open(path, os.O_RDONLY if readonly else os.O_RDWR)
        except FileNotFoundError:
            raise DiskError(f"{path}: no such disk image") from None
        except IsADirectoryError:
            raise DiskError(f"{path}: is a directory, not a disk image") from None
        except OSError as exc:
            raise DiskError(f"{path}: cannot open disk image ({exc.strerror})") from None
        self.size = os.fstat(self.fd).st_size
        # Chunks written since tracking started (a migration resends them).
        self.dirty_chunks: set[int] | None = None
        if self.size < SECTOR:
            os.close(self.fd)
            raise DiskError(f"{path}: a disk image needs at least one 512-byte sector")

    @property
    def sectors(self) -> int:
        return self.size // SECTOR

    def read(self, offset: int, length: int) -> bytes:
        data = os.pread(self.fd, length, offset)
        return data + bytes(length - len(data))

    def write(self, offset: int, data: bytes) -> None:
        if self.readonly:
            raise DiskError(f"{self.path}: disk is read-only")
        os.pwrite(self.fd, data, offset)
        if self.dirty_chunks is not None and data:
            first, last = offset // DIRTY_CHUNK, (offset + len(data) - 1) // DIRTY_CHUNK
            self.dirty_chunks.update(range(first, last + 1))

    def track_writes(self) -> None:
        self.dirty_chunks = set()

    def take_dirty(self) -> list[int]:
        """Chunk numbers (of DIRTY_CHUNK bytes) written since the last call."""
        chunks = sorted(self.dirty_chunks or ())
        if self.dirty_chunks is not None:
            self.dirty_chunks = set()
        return chunks

    def stop_tracking(self) -> None:
        self.dirty_chunks = None

    def flush(self) -> None:
        if not self.readonly:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class VirtioBlk:
    device_id = DEVICE_ID
    num_queues = 1
    features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH

    def __init__(self, disk: DiskImage, serial: str = "caravan-disk0") -> None:
        self.disk = disk
        self.serial = serial.encode()[:20]
        self.requests = 0

    def reset(self) -> None:
        return None

    def read_config(self, offset: int, size: int) -> int:
        config = struct.pack("<QII", self.disk.sectors, 0, SEG_MAX) + bytes(4) + struct.pack("<I", SECTOR)
        chunk = config[offset:offset + size]
        return int.from_bytes(chunk, "little") if len(chunk) == size else 0

    def write_config(self, offset: int, size: int, value: int) -> None:
        return None

    def handle(self, queue: int, chain: list[Buffer], dma: Dma) -> int:
        self.requests += 1
        readable = [b for b in chain if not b.writable]
        writable = [b for b in chain if b.writable]
        if not writable or writable[-1].length < 1:
            raise VirtioError("block request without a status byte")
        if sum(b.length for b in chain) > MAX_REQUEST + 64:
            raise VirtioError("block request larger than the device accepts")
        out = b"".join(dma.read(b.addr, b.length) for b in readable)
        if len(out) < 16:
            raise VirtioError("block request header is shorter than 16 bytes")
        rtype, _reserved, sector = struct.unpack("<IIQ", out[:16])
        payload = out[16:]
        status_buf = writable[-1]
        data_bufs = writable[:-1] + ([Buffer(status_buf.addr, status_buf.length - 1, True)]
                                     if status_buf.length > 1 else [])
        status_addr = status_buf.addr + status_buf.length - 1
        written = 0
        status = S_OK
        try:
            if rtype == T_IN:
                length = sum(b.length for b in data_bufs)
                if not self._in_range(sector, length):
                    status = S_IOERR
                else:
                    data = self.disk.read(sector * SECTOR, length)
                    pos = 0
                    for b in data_bufs:
                        dma.write(b.addr, data[pos:pos + b.length])
                        pos += b.length
                    written = length
            elif rtype == T_OUT:
                if not self._in_range(sector, len(payload)) or self.disk.readonly:
                    status = S_IOERR
                else:
                    self.disk.write(sector * SECTOR, payload)
            elif rtype == T_FLUSH:
                self.disk.flush()
            elif rtype == T_GET_ID:
                ident = self.serial.ljust(20, b"\0")
                if data_bufs:
                    dma.write(data_bufs[0].addr, ident[:data_bufs[0].length])
                    written = min(20, data_bufs[0].length)
            else:
                status = S_UNSUPP
        except OSError:
            status = S_IOERR
        dma.write(status_addr, bytes((status,)))
        return written + 1

    def _in_range(self, sector: int, length: int) -> bool:
        return length % SECTOR == 0 and sector * SECTOR + length <= self.disk.sectors * SECTOR

    def to_state(self) -> dict[str, Any]:
        return {"kind": "virtio-blk", "version": STATE_VERSION, "requests": self.requests}

    def from_state(self, state: dict[str, Any]) -> None:
        check_state(state, "virtio-blk", STATE_VERSION)
        self.requests = Fields(state, "virtio-blk").uint("requests", 64)
