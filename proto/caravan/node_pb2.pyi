from caravan import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetNodeInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateVmRequest(_message.Message):
    __slots__ = ("vm_id", "spec", "start", "reservation_id")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    spec: _types_pb2.VmSpec
    start: bool
    reservation_id: str
    def __init__(self, vm_id: _Optional[str] = ..., spec: _Optional[_Union[_types_pb2.VmSpec, _Mapping]] = ..., start: _Optional[bool] = ..., reservation_id: _Optional[str] = ...) -> None: ...

class StateChunk(_message.Message):
    __slots__ = ("vm_id", "name", "start", "reservation_id", "data", "shares")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    name: str
    start: bool
    reservation_id: str
    data: bytes
    shares: int
    def __init__(self, vm_id: _Optional[str] = ..., name: _Optional[str] = ..., start: _Optional[bool] = ..., reservation_id: _Optional[str] = ..., data: _Optional[bytes] = ..., shares: _Optional[int] = ...) -> None: ...

class VmRef(_message.Message):
    __slots__ = ("vm_id",)
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    def __init__(self, vm_id: _Optional[str] = ...) -> None: ...

class DestroyVmResponse(_message.Message):
    __slots__ = ("vm_id",)
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    def __init__(self, vm_id: _Optional[str] = ...) -> None: ...

class ListVmsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListVmsResponse(_message.Message):
    __slots__ = ("vms",)
    VMS_FIELD_NUMBER: _ClassVar[int]
    vms: _containers.RepeatedCompositeFieldContainer[_types_pb2.Vm]
    def __init__(self, vms: _Optional[_Iterable[_Union[_types_pb2.Vm, _Mapping]]] = ...) -> None: ...

class SnapshotVmRequest(_message.Message):
    __slots__ = ("vm_id", "path", "compress", "no_disk", "mappable")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    COMPRESS_FIELD_NUMBER: _ClassVar[int]
    NO_DISK_FIELD_NUMBER: _ClassVar[int]
    MAPPABLE_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    path: str
    compress: bool
    no_disk: bool
    mappable: bool
    def __init__(self, vm_id: _Optional[str] = ..., path: _Optional[str] = ..., compress: _Optional[bool] = ..., no_disk: _Optional[bool] = ..., mappable: _Optional[bool] = ...) -> None: ...

class SnapshotVmResponse(_message.Message):
    __slots__ = ("path", "state_digest", "bytes", "instructions")
    PATH_FIELD_NUMBER: _ClassVar[int]
    STATE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    path: str
    state_digest: str
    bytes: int
    instructions: int
    def __init__(self, path: _Optional[str] = ..., state_digest: _Optional[str] = ..., bytes: _Optional[int] = ..., instructions: _Optional[int] = ...) -> None: ...

class RestoreVmRequest(_message.Message):
    __slots__ = ("path", "vm_id", "name", "start", "reservation_id", "shares")
    PATH_FIELD_NUMBER: _ClassVar[int]
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    path: str
    vm_id: str
    name: str
    start: bool
    reservation_id: str
    shares: int
    def __init__(self, path: _Optional[str] = ..., vm_id: _Optional[str] = ..., name: _Optional[str] = ..., start: _Optional[bool] = ..., reservation_id: _Optional[str] = ..., shares: _Optional[int] = ...) -> None: ...

class ExportVmRequest(_message.Message):
    __slots__ = ("vm_id", "compress")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    COMPRESS_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    compress: bool
    def __init__(self, vm_id: _Optional[str] = ..., compress: _Optional[bool] = ...) -> None: ...

class StreamConsoleRequest(_message.Message):
    __slots__ = ("vm_id", "offset", "follow")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    offset: int
    follow: bool
    def __init__(self, vm_id: _Optional[str] = ..., offset: _Optional[int] = ..., follow: _Optional[bool] = ...) -> None: ...

class ConsoleChunk(_message.Message):
    __slots__ = ("offset", "data", "truncated")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    truncated: bool
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ..., truncated: _Optional[bool] = ...) -> None: ...

class WriteConsoleRequest(_message.Message):
    __slots__ = ("vm_id", "data")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    data: bytes
    def __init__(self, vm_id: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class WriteConsoleResponse(_message.Message):
    __slots__ = ("accepted",)
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    def __init__(self, accepted: _Optional[int] = ...) -> None: ...

class ReserveRequest(_message.Message):
    __slots__ = ("reservation_id", "memory_bytes", "vcpus", "ttl_seconds", "purpose")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    VCPUS_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    memory_bytes: int
    vcpus: int
    ttl_seconds: int
    purpose: str
    def __init__(self, reservation_id: _Optional[str] = ..., memory_bytes: _Optional[int] = ..., vcpus: _Optional[int] = ..., ttl_seconds: _Optional[int] = ..., purpose: _Optional[str] = ...) -> None: ...

class Reservation(_message.Message):
    __slots__ = ("reservation_id", "memory_bytes", "vcpus", "expires_at")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    VCPUS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    memory_bytes: int
    vcpus: int
    expires_at: float
    def __init__(self, reservation_id: _Optional[str] = ..., memory_bytes: _Optional[int] = ..., vcpus: _Optional[int] = ..., expires_at: _Optional[float] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("reservation_id",)
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    def __init__(self, reservation_id: _Optional[str] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("released",)
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    released: bool
    def __init__(self, released: _Optional[bool] = ...) -> None: ...
