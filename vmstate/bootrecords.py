"""BOOT records: a VM's boot images as loaded into its RAM
(:class:`node.machine.loader.Segment` — kernel, firmware, initrd, device
tree), as snapshots, boot media files and migration streams carry them.

A frame holds at most :data:`vmstate.codec.MAX_FRAME` bytes, and an initrd
is often larger. A segment of more than :data:`PIECE` bytes is therefore
stored as several records, the later ones marked ``continued: true``; each
piece is a segment of its own whose ``memsize`` is its length (the last one's
runs to the end of the original segment). Loading the pieces one by one gives
exactly the memory the whole segment gives, so a reader that ignores
``continued`` (format 1.0) restores the same machine; a reader of this
version joins them, so the restored machine's boot segments are the saved
ones (and so is its state digest). A segment that fits in one record is
stored as one, as it always was.
"""

from __future__ import annotations

from typing import Any, Iterable

from node.machine.loader import Segment

from .codec import MAX_FRAME
from .errors import FormatError

PIECE = MAX_FRAME - (1 << 20)  # bytes of segment data per record: room for the record's other fields


def records(segments: Iterable[Segment]) -> list[dict[str, Any]]:
    """The BOOT record payloads of ``segments``, in order."""
    payloads = []
    for seg in segments:
        data = seg.data
        for start in range(0, len(data), PIECE) if data else range(1):
            piece = data[start:start + PIECE]
            last = start + PIECE >= len(data)
            payload: dict[str, Any] = {"address": seg.address + start, "data": piece,
                                       "memsize": seg.memsize - start if last else len(piece)}
            if start:
                payload["continued"] = True
            payloads.append(payload)
    return payloads


def segment(p: dict[str, Any], memory_size: int) -> Segment:
    """One BOOT record as the segment (or piece) it stands for."""
    try:
        seg = Segment(int(p["address"]), bytes(p["data"]), int(p["memsize"]))
    except (KeyError, TypeError, ValueError):
        raise FormatError("malformed boot record") from None
    if seg.address < 0 or seg.memsize < len(seg.data) or seg.memsize > memory_size:
        raise FormatError("boot record larger than memory" if seg.memsize > memory_size else "malformed boot record")
    return seg


class Joiner:
    """Collects BOOT records into segments, joining continued pieces; holds
    at most ``memory_size`` bytes of data (the records are hostile input)."""

    def __init__(self, memory_size: int) -> None:
        self.memory_size = memory_size
        self.segments: list[Segment] = []
        self.data_bytes = 0

    def add(self, payload: dict[str, Any]) -> None:
        seg = segment(payload, self.memory_size)
        self.data_bytes += len(seg.data)
        if self.data_bytes > self.memory_size:
            raise FormatError("boot records hold more data than the VM has memory")
        last = self.segments[-1] if self.segments else None
        if payload.get("continued"):
            if last is None or last.memsize != len(last.data) or last.end != seg.address:
                raise FormatError("a continued boot record that continues nothing")
            self.segments[-1] = Segment(last.address, last.data + seg.data, last.memsize + seg.memsize)
        else:
            self.segments.append(seg)
