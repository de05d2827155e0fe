from caravan import node_pb2 as _node_pb2
from caravan import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_STATE_UNSPECIFIED: _ClassVar[NodeState]
    NODE_STATE_READY: _ClassVar[NodeState]
    NODE_STATE_DOWN: _ClassVar[NodeState]
NODE_STATE_UNSPECIFIED: NodeState
NODE_STATE_READY: NodeState
NODE_STATE_DOWN: NodeState

class MigrateRequest(_message.Message):
    __slots__ = ("vm", "destination", "params")
    VM_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    vm: str
    destination: str
    params: _node_pb2.MigrationParams
    def __init__(self, vm: _Optional[str] = ..., destination: _Optional[str] = ..., params: _Optional[_Union[_node_pb2.MigrationParams, _Mapping]] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "vm_id", "vm_name", "source", "destination", "status", "params", "stats", "error", "created_at", "finished_at")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    VM_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    vm_id: str
    vm_name: str
    source: str
    destination: str
    status: str
    params: _node_pb2.MigrationParams
    stats: _node_pb2.MigrationStats
    error: str
    created_at: float
    finished_at: float
    def __init__(self, job_id: _Optional[str] = ..., vm_id: _Optional[str] = ..., vm_name: _Optional[str] = ..., source: _Optional[str] = ..., destination: _Optional[str] = ..., status: _Optional[str] = ..., params: _Optional[_Union[_node_pb2.MigrationParams, _Mapping]] = ..., stats: _Optional[_Union[_node_pb2.MigrationStats, _Mapping]] = ..., error: _Optional[str] = ..., created_at: _Optional[float] = ..., finished_at: _Optional[float] = ...) -> None: ...

class JobRef(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("vm",)
    VM_FIELD_NUMBER: _ClassVar[int]
    vm: str
    def __init__(self, vm: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...

class DrainNodeRequest(_message.Message):
    __slots__ = ("name", "params")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    params: _node_pb2.MigrationParams
    def __init__(self, name: _Optional[str] = ..., params: _Optional[_Union[_node_pb2.MigrationParams, _Mapping]] = ...) -> None: ...

class DrainNodeResponse(_message.Message):
    __slots__ = ("jobs", "node")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    node: NodeRecord
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., node: _Optional[_Union[NodeRecord, _Mapping]] = ...) -> None: ...

class RegisterNodeRequest(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: _types_pb2.NodeInfo
    def __init__(self, info: _Optional[_Union[_types_pb2.NodeInfo, _Mapping]] = ...) -> None: ...

class RegisterNodeResponse(_message.Message):
    __slots__ = ("heartbeat_seconds",)
    HEARTBEAT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    heartbeat_seconds: float
    def __init__(self, heartbeat_seconds: _Optional[float] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("info", "vms")
    INFO_FIELD_NUMBER: _ClassVar[int]
    VMS_FIELD_NUMBER: _ClassVar[int]
    info: _types_pb2.NodeInfo
    vms: _containers.RepeatedCompositeFieldContainer[_types_pb2.Vm]
    def __init__(self, info: _Optional[_Union[_types_pb2.NodeInfo, _Mapping]] = ..., vms: _Optional[_Iterable[_Union[_types_pb2.Vm, _Mapping]]] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeRecord(_message.Message):
    __slots__ = ("name", "address", "state", "cordoned", "backend", "capacity", "free", "load", "vms", "last_heartbeat", "registered_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CORDONED_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    VMS_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    state: NodeState
    cordoned: bool
    backend: str
    capacity: _types_pb2.Capacity
    free: _types_pb2.Capacity
    load: float
    vms: int
    last_heartbeat: float
    registered_at: float
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., state: _Optional[_Union[NodeState, str]] = ..., cordoned: _Optional[bool] = ..., backend: _Optional[str] = ..., capacity: _Optional[_Union[_types_pb2.Capacity, _Mapping]] = ..., free: _Optional[_Union[_types_pb2.Capacity, _Mapping]] = ..., load: _Optional[float] = ..., vms: _Optional[int] = ..., last_heartbeat: _Optional[float] = ..., registered_at: _Optional[float] = ...) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeRecord]
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeRecord, _Mapping]]] = ...) -> None: ...

class NodeSelector(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class PlacementDecision(_message.Message):
    __slots__ = ("node", "policy", "reasons", "decided_at", "seconds")
    NODE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    node: str
    policy: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    decided_at: float
    seconds: float
    def __init__(self, node: _Optional[str] = ..., policy: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ..., decided_at: _Optional[float] = ..., seconds: _Optional[float] = ...) -> None: ...

class VmRecord(_message.Message):
    __slots__ = ("vm", "group", "placement", "desired", "last_error", "updated_at")
    VM_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    DESIRED_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    vm: _types_pb2.Vm
    group: str
    placement: PlacementDecision
    desired: str
    last_error: str
    updated_at: float
    def __init__(self, vm: _Optional[_Union[_types_pb2.Vm, _Mapping]] = ..., group: _Optional[str] = ..., placement: _Optional[_Union[PlacementDecision, _Mapping]] = ..., desired: _Optional[str] = ..., last_error: _Optional[str] = ..., updated_at: _Optional[float] = ...) -> None: ...

class ControllerCreateVmRequest(_message.Message):
    __slots__ = ("spec", "node", "group", "policy", "start")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    spec: _types_pb2.VmSpec
    node: str
    group: str
    policy: str
    start: bool
    def __init__(self, spec: _Optional[_Union[_types_pb2.VmSpec, _Mapping]] = ..., node: _Optional[str] = ..., group: _Optional[str] = ..., policy: _Optional[str] = ..., start: _Optional[bool] = ...) -> None: ...

class ControllerListVmsRequest(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: str
    def __init__(self, node: _Optional[str] = ...) -> None: ...

class ControllerListVmsResponse(_message.Message):
    __slots__ = ("vms",)
    VMS_FIELD_NUMBER: _ClassVar[int]
    vms: _containers.RepeatedCompositeFieldContainer[VmRecord]
    def __init__(self, vms: _Optional[_Iterable[_Union[VmRecord, _Mapping]]] = ...) -> None: ...

class VmSelector(_message.Message):
    __slots__ = ("vm",)
    VM_FIELD_NUMBER: _ClassVar[int]
    vm: str
    def __init__(self, vm: _Optional[str] = ...) -> None: ...

class DeleteVmResponse(_message.Message):
    __slots__ = ("vm_id",)
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    def __init__(self, vm_id: _Optional[str] = ...) -> None: ...

class ControllerSnapshotRequest(_message.Message):
    __slots__ = ("vm", "compress")
    VM_FIELD_NUMBER: _ClassVar[int]
    COMPRESS_FIELD_NUMBER: _ClassVar[int]
    vm: str
    compress: bool
    def __init__(self, vm: _Optional[str] = ..., compress: _Optional[bool] = ...) -> None: ...

class ControllerRestoreChunk(_message.Message):
    __slots__ = ("name", "node", "group", "policy", "start", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    node: str
    group: str
    policy: str
    start: bool
    data: bytes
    def __init__(self, name: _Optional[str] = ..., node: _Optional[str] = ..., group: _Optional[str] = ..., policy: _Optional[str] = ..., start: _Optional[bool] = ..., data: _Optional[bytes] = ...) -> None: ...

class ControllerConsoleRequest(_message.Message):
    __slots__ = ("vm", "offset", "follow")
    VM_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    vm: str
    offset: int
    follow: bool
    def __init__(self, vm: _Optional[str] = ..., offset: _Optional[int] = ..., follow: _Optional[bool] = ...) -> None: ...

class ControllerWriteConsoleRequest(_message.Message):
    __slots__ = ("vm", "data")
    VM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    vm: str
    data: bytes
    def __init__(self, vm: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...
