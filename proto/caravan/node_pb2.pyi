from caravan import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MigrationParams(_message.Message):
    __slots__ = ("downtime_ms", "max_bandwidth", "auto_converge", "max_rounds", "timeout_seconds", "on_timeout", "compress")
    DOWNTIME_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_BANDWIDTH_FIELD_NUMBER: _ClassVar[int]
    AUTO_CONVERGE_FIELD_NUMBER: _ClassVar[int]
    MAX_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ON_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    COMPRESS_FIELD_NUMBER: _ClassVar[int]
    downtime_ms: int
    max_bandwidth: int
    auto_converge: bool
    max_rounds: int
    timeout_seconds: float
    on_timeout: str
    compress: str
    def __init__(self, downtime_ms: _Optional[int] = ..., max_bandwidth: _Optional[int] = ..., auto_converge: _Optional[bool] = ..., max_rounds: _Optional[int] = ..., timeout_seconds: _Optional[float] = ..., on_timeout: _Optional[str] = ..., compress: _Optional[str] = ...) -> None: ...

class RoundStats(_message.Message):
    __slots__ = ("round", "pages", "zero_pages", "bytes", "seconds", "dirtied", "bandwidth", "dirty_rate", "throttle")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    ZERO_PAGES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    DIRTIED_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_FIELD_NUMBER: _ClassVar[int]
    DIRTY_RATE_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_FIELD_NUMBER: _ClassVar[int]
    round: int
    pages: int
    zero_pages: int
    bytes: int
    seconds: float
    dirtied: int
    bandwidth: float
    dirty_rate: float
    throttle: float
    def __init__(self, round: _Optional[int] = ..., pages: _Optional[int] = ..., zero_pages: _Optional[int] = ..., bytes: _Optional[int] = ..., seconds: _Optional[float] = ..., dirtied: _Optional[int] = ..., bandwidth: _Optional[float] = ..., dirty_rate: _Optional[float] = ..., throttle: _Optional[float] = ...) -> None: ...

class MigrationStats(_message.Message):
    __slots__ = ("status", "setup_ms", "total_ms", "downtime_ms", "rounds", "transferred_bytes", "remaining_bytes", "total_pages", "zero_pages", "throughput", "dirty_rate", "expected_downtime_ms", "throttle", "state_bytes", "disk_bytes")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SETUP_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    DOWNTIME_MS_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    TRANSFERRED_BYTES_FIELD_NUMBER: _ClassVar[int]
    REMAINING_BYTES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PAGES_FIELD_NUMBER: _ClassVar[int]
    ZERO_PAGES_FIELD_NUMBER: _ClassVar[int]
    THROUGHPUT_FIELD_NUMBER: _ClassVar[int]
    DIRTY_RATE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_DOWNTIME_MS_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_FIELD_NUMBER: _ClassVar[int]
    STATE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_BYTES_FIELD_NUMBER: _ClassVar[int]
    status: str
    setup_ms: float
    total_ms: float
    downtime_ms: float
    rounds: _containers.RepeatedCompositeFieldContainer[RoundStats]
    transferred_bytes: int
    remaining_bytes: int
    total_pages: int
    zero_pages: int
    throughput: float
    dirty_rate: float
    expected_downtime_ms: float
    throttle: float
    state_bytes: int
    disk_bytes: int
    def __init__(self, status: _Optional[str] = ..., setup_ms: _Optional[float] = ..., total_ms: _Optional[float] = ..., downtime_ms: _Optional[float] = ..., rounds: _Optional[_Iterable[_Union[RoundStats, _Mapping]]] = ..., transferred_bytes: _Optional[int] = ..., remaining_bytes: _Optional[int] = ..., total_pages: _Optional[int] = ..., zero_pages: _Optional[int] = ..., throughput: _Optional[float] = ..., dirty_rate: _Optional[float] = ..., expected_downtime_ms: _Optional[float] = ..., throttle: _Optional[float] = ..., state_bytes: _Optional[int] = ..., disk_bytes: _Optional[int] = ...) -> None: ...

class MigrateOutRequest(_message.Message):
    __slots__ = ("job_id", "vm_id", "destination", "destination_name", "reservation_id", "params")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_NAME_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    vm_id: str
    destination: str
    destination_name: str
    reservation_id: str
    params: MigrationParams
    def __init__(self, job_id: _Optional[str] = ..., vm_id: _Optional[str] = ..., destination: _Optional[str] = ..., destination_name: _Optional[str] = ..., reservation_id: _Optional[str] = ..., params: _Optional[_Union[MigrationParams, _Mapping]] = ...) -> None: ...

class MigrationProgress(_message.Message):
    __slots__ = ("job_id", "stats", "error")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    stats: MigrationStats
    error: str
    def __init__(self, job_id: _Optional[str] = ..., stats: _Optional[_Union[MigrationStats, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class MigrationData(_message.Message):
    __slots__ = ("job_id", "reservation_id", "source", "frames")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    reservation_id: str
    source: str
    frames: bytes
    def __init__(self, job_id: _Optional[str] = ..., reservation_id: _Optional[str] = ..., source: _Optional[str] = ..., frames: _Optional[bytes] = ...) -> None: ...

class MigrationAck(_message.Message):
    __slots__ = ("kind", "round", "bytes", "error")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    kind: str
    round: int
    bytes: int
    error: str
    def __init__(self, kind: _Optional[str] = ..., round: _Optional[int] = ..., bytes: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class FinishMigrationRequest(_message.Message):
    __slots__ = ("job_id", "commit", "downtime_ms", "vm_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    DOWNTIME_MS_FIELD_NUMBER: _ClassVar[int]
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    commit: bool
    downtime_ms: float
    vm_id: str
    def __init__(self, job_id: _Optional[str] = ..., commit: _Optional[bool] = ..., downtime_ms: _Optional[float] = ..., vm_id: _Optional[str] = ...) -> None: ...

class FinishMigrationResponse(_message.Message):
    __slots__ = ("vm", "downtime_ms", "resumed_at")
    VM_FIELD_NUMBER: _ClassVar[int]
    DOWNTIME_MS_FIELD_NUMBER: _ClassVar[int]
    RESUMED_AT_FIELD_NUMBER: _ClassVar[int]
    vm: _types_pb2.Vm
    downtime_ms: float
    resumed_at: float
    def __init__(self, vm: _Optional[_Union[_types_pb2.Vm, _Mapping]] = ..., downtime_ms: _Optional[float] = ..., resumed_at: _Optional[float] = ...) -> None: ...

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
