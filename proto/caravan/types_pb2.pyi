from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VmState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VM_STATE_UNSPECIFIED: _ClassVar[VmState]
    VM_STATE_STOPPED: _ClassVar[VmState]
    VM_STATE_RUNNING: _ClassVar[VmState]
    VM_STATE_PAUSED: _ClassVar[VmState]
    VM_STATE_CRASHED: _ClassVar[VmState]
    VM_STATE_MIGRATING: _ClassVar[VmState]
    VM_STATE_LOST: _ClassVar[VmState]
    VM_STATE_PENDING: _ClassVar[VmState]
VM_STATE_UNSPECIFIED: VmState
VM_STATE_STOPPED: VmState
VM_STATE_RUNNING: VmState
VM_STATE_PAUSED: VmState
VM_STATE_CRASHED: VmState
VM_STATE_MIGRATING: VmState
VM_STATE_LOST: VmState
VM_STATE_PENDING: VmState

class VmSpec(_message.Message):
    __slots__ = ("name", "memory_bytes", "kernel", "bios", "initrd", "append", "load_address", "disk_bytes", "disk_image", "shares", "backend", "image_name")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    KERNEL_FIELD_NUMBER: _ClassVar[int]
    BIOS_FIELD_NUMBER: _ClassVar[int]
    INITRD_FIELD_NUMBER: _ClassVar[int]
    APPEND_FIELD_NUMBER: _ClassVar[int]
    LOAD_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DISK_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_IMAGE_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    IMAGE_NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    memory_bytes: int
    kernel: bytes
    bios: bytes
    initrd: bytes
    append: str
    load_address: int
    disk_bytes: int
    disk_image: bytes
    shares: int
    backend: str
    image_name: str
    def __init__(self, name: _Optional[str] = ..., memory_bytes: _Optional[int] = ..., kernel: _Optional[bytes] = ..., bios: _Optional[bytes] = ..., initrd: _Optional[bytes] = ..., append: _Optional[str] = ..., load_address: _Optional[int] = ..., disk_bytes: _Optional[int] = ..., disk_image: _Optional[bytes] = ..., shares: _Optional[int] = ..., backend: _Optional[str] = ..., image_name: _Optional[str] = ...) -> None: ...

class VmStats(_message.Message):
    __slots__ = ("instructions", "cpu_seconds", "mips", "dirty_pages_per_second", "slices", "console_bytes")
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MIPS_FIELD_NUMBER: _ClassVar[int]
    DIRTY_PAGES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    SLICES_FIELD_NUMBER: _ClassVar[int]
    CONSOLE_BYTES_FIELD_NUMBER: _ClassVar[int]
    instructions: int
    cpu_seconds: float
    mips: float
    dirty_pages_per_second: float
    slices: int
    console_bytes: int
    def __init__(self, instructions: _Optional[int] = ..., cpu_seconds: _Optional[float] = ..., mips: _Optional[float] = ..., dirty_pages_per_second: _Optional[float] = ..., slices: _Optional[int] = ..., console_bytes: _Optional[int] = ...) -> None: ...

class Vm(_message.Message):
    __slots__ = ("vm_id", "name", "state", "memory_bytes", "shares", "node", "backend", "exit_code", "crash_reason", "crash_instructions", "stats", "created_at", "idle", "image_name", "has_disk", "generation", "state_digest")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    CRASH_REASON_FIELD_NUMBER: _ClassVar[int]
    CRASH_INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    IDLE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_NAME_FIELD_NUMBER: _ClassVar[int]
    HAS_DISK_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    STATE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    name: str
    state: VmState
    memory_bytes: int
    shares: int
    node: str
    backend: str
    exit_code: int
    crash_reason: str
    crash_instructions: int
    stats: VmStats
    created_at: float
    idle: bool
    image_name: str
    has_disk: bool
    generation: int
    state_digest: str
    def __init__(self, vm_id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[_Union[VmState, str]] = ..., memory_bytes: _Optional[int] = ..., shares: _Optional[int] = ..., node: _Optional[str] = ..., backend: _Optional[str] = ..., exit_code: _Optional[int] = ..., crash_reason: _Optional[str] = ..., crash_instructions: _Optional[int] = ..., stats: _Optional[_Union[VmStats, _Mapping]] = ..., created_at: _Optional[float] = ..., idle: _Optional[bool] = ..., image_name: _Optional[str] = ..., has_disk: _Optional[bool] = ..., generation: _Optional[int] = ..., state_digest: _Optional[str] = ...) -> None: ...

class Capacity(_message.Message):
    __slots__ = ("memory_bytes", "vcpus")
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    VCPUS_FIELD_NUMBER: _ClassVar[int]
    memory_bytes: int
    vcpus: int
    def __init__(self, memory_bytes: _Optional[int] = ..., vcpus: _Optional[int] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("name", "address", "backend", "capacity", "free", "vms", "running", "load", "version", "started_at", "migration_page_us", "migration_handover_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    VMS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    MIGRATION_PAGE_US_FIELD_NUMBER: _ClassVar[int]
    MIGRATION_HANDOVER_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    backend: str
    capacity: Capacity
    free: Capacity
    vms: int
    running: int
    load: float
    version: str
    started_at: float
    migration_page_us: float
    migration_handover_ms: float
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., backend: _Optional[str] = ..., capacity: _Optional[_Union[Capacity, _Mapping]] = ..., free: _Optional[_Union[Capacity, _Mapping]] = ..., vms: _Optional[int] = ..., running: _Optional[int] = ..., load: _Optional[float] = ..., version: _Optional[str] = ..., started_at: _Optional[float] = ..., migration_page_us: _Optional[float] = ..., migration_handover_ms: _Optional[float] = ...) -> None: ...
