"""The MigrateIn stream's messages as bytes, without protobuf's copies.

Every message of the stream is a ``MigrationData`` (node.proto): the first
names the job, all carry vmstate frames. A megabyte of frames through the
generated stubs is copied four times (building the message, serializing it;
parsing it, reading the field). On the hot path both ends instead handle the
serialized bytes: the source writes ``tag | length | frames`` with one join,
and the destination slices the frames out of a frames-only message as a
read-only view. The bytes on the wire are exactly the protobuf encoding, so
any other client or server of the service interoperates; messages that are
not frames-only (the first) go through protobuf as usual.
"""

from __future__ import annotations

from typing import Any, Sequence

import grpc

from caravan import node_pb2
from vmstate import codec

SERVICE = node_pb2.DESCRIPTOR.services_by_name["NodeService"].full_name
METHOD = f"/{SERVICE}/MigrateIn"
_FRAMES_TAG = 0x22  # field 4 (frames), wire type 2 (length-delimited)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def frame_parts(kind: int, payload: dict[str, Any]) -> list[bytes | memoryview]:
    """A record framed as the stream carries it: page records without a crc32
    (protocol 4: the memory digest verifies them, FORMAT.md), every other
    record checked as in a file."""
    return codec.frame_parts(kind, payload, checksum=kind not in codec.PAGE_RECORDS)


def frame_decoder() -> codec.FrameDecoder:
    """The stream's reader at the destination: page records as views of the
    message (their data is copied once, into guest memory) whose crc32 is not
    checked (see :func:`frame_parts`)."""
    return codec.FrameDecoder(views=codec.PAGE_RECORDS, unchecked=codec.PAGE_RECORDS)


def frames_message(parts: Sequence[bytes | memoryview]) -> bytes:
    """A serialized ``MigrationData`` whose only field is ``frames`` = the
    parts concatenated (one copy of the data)."""
    size = sum(len(p) for p in parts)
    return b"".join([bytes((_FRAMES_TAG,)), _varint(size), *parts])


def first_message(job_id: str, reservation_id: str, source: str, parts: Sequence[bytes]) -> bytes:
    return node_pb2.MigrationData(job_id=job_id, reservation_id=reservation_id, source=source,
                                  frames=b"".join(parts)).SerializeToString()


def parse(raw: bytes) -> tuple[node_pb2.MigrationData | None, memoryview | bytes]:
    """``(message, frames)``. For a frames-only message ``message`` is None
    and ``frames`` is a read-only view of ``raw``; otherwise the message is
    parsed by protobuf (which rejects malformed input with DecodeError)."""
    if raw and raw[0] == _FRAMES_TAG:
        size, shift, pos = 0, 0, 1
        while pos < len(raw) and pos <= 10:
            byte = raw[pos]
            size |= (byte & 0x7F) << shift
            shift += 7
            pos += 1
            if not byte & 0x80:
                if pos + size == len(raw):
                    return None, memoryview(raw)[pos:]
                break
    message = node_pb2.MigrationData.FromString(raw)
    return message, message.frames


def stream_handler(behavior: object) -> grpc.RpcMethodHandler:
    """The server side of MigrateIn: requests arrive as bytes (see :func:`parse`)."""
    return grpc.stream_stream_rpc_method_handler(
        behavior, request_deserializer=None,  # type: ignore[arg-type]
        response_serializer=node_pb2.MigrationAck.SerializeToString)


def open_stream(channel: grpc.aio.Channel) -> grpc.aio.StreamStreamCall:
    """The client side of MigrateIn: requests are written as bytes."""
    method = channel.stream_stream(METHOD, request_serializer=None,
                                   response_deserializer=node_pb2.MigrationAck.FromString)
    return method()
