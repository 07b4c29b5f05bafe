import datetime

from cerver.v2 import common_pb2 as _common_pb2
from cerver.v2 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResolveNodeRequest(_message.Message):
    __slots__ = ("compute_id",)
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    compute_id: str
    def __init__(self, compute_id: _Optional[str] = ...) -> None: ...

class NodeAddress(_message.Message):
    __slots__ = ("compute_id", "address", "preview_address")
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    compute_id: str
    address: str
    preview_address: str
    def __init__(self, compute_id: _Optional[str] = ..., address: _Optional[str] = ..., preview_address: _Optional[str] = ...) -> None: ...

class ComputeCapabilities(_message.Message):
    __slots__ = ("runtimes", "cores", "memory_mb", "os", "arch", "isolated", "network", "max_sandboxes")
    RUNTIMES_FIELD_NUMBER: _ClassVar[int]
    CORES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    ISOLATED_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    MAX_SANDBOXES_FIELD_NUMBER: _ClassVar[int]
    runtimes: _containers.RepeatedScalarFieldContainer[str]
    cores: int
    memory_mb: int
    os: str
    arch: str
    isolated: bool
    network: bool
    max_sandboxes: int
    def __init__(self, runtimes: _Optional[_Iterable[str]] = ..., cores: _Optional[int] = ..., memory_mb: _Optional[int] = ..., os: _Optional[str] = ..., arch: _Optional[str] = ..., isolated: _Optional[bool] = ..., network: _Optional[bool] = ..., max_sandboxes: _Optional[int] = ...) -> None: ...

class Compute(_message.Message):
    __slots__ = ("compute_id", "name", "provider", "kind", "status", "capabilities", "last_heartbeat_at", "created_at", "active_sandboxes", "heartbeat_window_s")
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SANDBOXES_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    compute_id: str
    name: str
    provider: str
    kind: str
    status: str
    capabilities: ComputeCapabilities
    last_heartbeat_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    active_sandboxes: int
    heartbeat_window_s: int
    def __init__(self, compute_id: _Optional[str] = ..., name: _Optional[str] = ..., provider: _Optional[str] = ..., kind: _Optional[str] = ..., status: _Optional[str] = ..., capabilities: _Optional[_Union[ComputeCapabilities, _Mapping]] = ..., last_heartbeat_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., active_sandboxes: _Optional[int] = ..., heartbeat_window_s: _Optional[int] = ...) -> None: ...

class ListComputesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListComputesResponse(_message.Message):
    __slots__ = ("computes",)
    COMPUTES_FIELD_NUMBER: _ClassVar[int]
    computes: _containers.RepeatedCompositeFieldContainer[Compute]
    def __init__(self, computes: _Optional[_Iterable[_Union[Compute, _Mapping]]] = ...) -> None: ...

class GetComputeRequest(_message.Message):
    __slots__ = ("compute_id",)
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    compute_id: str
    def __init__(self, compute_id: _Optional[str] = ...) -> None: ...

class RegisterComputeRequest(_message.Message):
    __slots__ = ("name", "capabilities", "compute_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    capabilities: ComputeCapabilities
    compute_id: str
    def __init__(self, name: _Optional[str] = ..., capabilities: _Optional[_Union[ComputeCapabilities, _Mapping]] = ..., compute_id: _Optional[str] = ...) -> None: ...

class HeartbeatComputeRequest(_message.Message):
    __slots__ = ("compute_id",)
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    compute_id: str
    def __init__(self, compute_id: _Optional[str] = ...) -> None: ...

class UnregisterComputeRequest(_message.Message):
    __slots__ = ("compute_id",)
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    compute_id: str
    def __init__(self, compute_id: _Optional[str] = ...) -> None: ...

class UnregisterComputeResponse(_message.Message):
    __slots__ = ("compute_id", "unregistered")
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    UNREGISTERED_FIELD_NUMBER: _ClassVar[int]
    compute_id: str
    unregistered: bool
    def __init__(self, compute_id: _Optional[str] = ..., unregistered: _Optional[bool] = ...) -> None: ...

class CreateSandboxRequest(_message.Message):
    __slots__ = ("compute_id", "provider", "requirements", "session_id", "workspace_id")
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    compute_id: str
    provider: str
    requirements: _common_pb2.Requirements
    session_id: str
    workspace_id: str
    def __init__(self, compute_id: _Optional[str] = ..., provider: _Optional[str] = ..., requirements: _Optional[_Union[_common_pb2.Requirements, _Mapping]] = ..., session_id: _Optional[str] = ..., workspace_id: _Optional[str] = ...) -> None: ...

class Sandbox(_message.Message):
    __slots__ = ("sandbox_id", "compute_id", "provider", "status", "runtime", "workspace_id", "network", "created_at", "provision_ms")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PROVISION_MS_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    compute_id: str
    provider: str
    status: str
    runtime: str
    workspace_id: str
    network: bool
    created_at: _timestamp_pb2.Timestamp
    provision_ms: float
    def __init__(self, sandbox_id: _Optional[str] = ..., compute_id: _Optional[str] = ..., provider: _Optional[str] = ..., status: _Optional[str] = ..., runtime: _Optional[str] = ..., workspace_id: _Optional[str] = ..., network: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., provision_ms: _Optional[float] = ...) -> None: ...

class RunSandboxRequest(_message.Message):
    __slots__ = ("sandbox_id", "code", "runtime", "timeout", "stdin", "env")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    code: str
    runtime: str
    timeout: float
    stdin: str
    env: _containers.ScalarMap[str, str]
    def __init__(self, sandbox_id: _Optional[str] = ..., code: _Optional[str] = ..., runtime: _Optional[str] = ..., timeout: _Optional[float] = ..., stdin: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RunSandboxResponse(_message.Message):
    __slots__ = ("sandbox_id", "stdout", "stderr", "exit_code", "timed_out", "truncated", "duration_ms", "reason")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    stdout: str
    stderr: str
    exit_code: int
    timed_out: bool
    truncated: bool
    duration_ms: float
    reason: str
    def __init__(self, sandbox_id: _Optional[str] = ..., stdout: _Optional[str] = ..., stderr: _Optional[str] = ..., exit_code: _Optional[int] = ..., timed_out: _Optional[bool] = ..., truncated: _Optional[bool] = ..., duration_ms: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class SandboxOutput(_message.Message):
    __slots__ = ("type", "data", "exit_code", "timed_out", "truncated", "duration_ms", "reason", "error")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    type: str
    data: str
    exit_code: int
    timed_out: bool
    truncated: bool
    duration_ms: float
    reason: str
    error: _status_pb2.Status
    def __init__(self, type: _Optional[str] = ..., data: _Optional[str] = ..., exit_code: _Optional[int] = ..., timed_out: _Optional[bool] = ..., truncated: _Optional[bool] = ..., duration_ms: _Optional[float] = ..., reason: _Optional[str] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class InstallPackageRequest(_message.Message):
    __slots__ = ("sandbox_id", "manager", "packages", "package")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    MANAGER_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    manager: str
    packages: _containers.RepeatedScalarFieldContainer[str]
    package: str
    def __init__(self, sandbox_id: _Optional[str] = ..., manager: _Optional[str] = ..., packages: _Optional[_Iterable[str]] = ..., package: _Optional[str] = ...) -> None: ...

class InstallPackageResponse(_message.Message):
    __slots__ = ("sandbox_id", "stdout", "stderr", "exit_code", "timed_out", "truncated", "duration_ms", "reason", "success")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    stdout: str
    stderr: str
    exit_code: int
    timed_out: bool
    truncated: bool
    duration_ms: float
    reason: str
    success: bool
    def __init__(self, sandbox_id: _Optional[str] = ..., stdout: _Optional[str] = ..., stderr: _Optional[str] = ..., exit_code: _Optional[int] = ..., timed_out: _Optional[bool] = ..., truncated: _Optional[bool] = ..., duration_ms: _Optional[float] = ..., reason: _Optional[str] = ..., success: _Optional[bool] = ...) -> None: ...

class RunCellRequest(_message.Message):
    __slots__ = ("sandbox_id", "code", "timeout", "language")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    code: str
    timeout: float
    language: str
    def __init__(self, sandbox_id: _Optional[str] = ..., code: _Optional[str] = ..., timeout: _Optional[float] = ..., language: _Optional[str] = ...) -> None: ...

class CellResult(_message.Message):
    __slots__ = ("sandbox_id", "output", "error", "exit_code", "duration", "timed_out", "text", "results", "error_name", "error_value", "traceback", "truncated", "context_restarted")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_NAME_FIELD_NUMBER: _ClassVar[int]
    ERROR_VALUE_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_RESTARTED_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    output: str
    error: str
    exit_code: int
    duration: int
    timed_out: bool
    text: str
    results: _containers.RepeatedCompositeFieldContainer[_common_pb2.DisplayData]
    error_name: str
    error_value: str
    traceback: _containers.RepeatedScalarFieldContainer[str]
    truncated: bool
    context_restarted: bool
    def __init__(self, sandbox_id: _Optional[str] = ..., output: _Optional[str] = ..., error: _Optional[str] = ..., exit_code: _Optional[int] = ..., duration: _Optional[int] = ..., timed_out: _Optional[bool] = ..., text: _Optional[str] = ..., results: _Optional[_Iterable[_Union[_common_pb2.DisplayData, _Mapping]]] = ..., error_name: _Optional[str] = ..., error_value: _Optional[str] = ..., traceback: _Optional[_Iterable[str]] = ..., truncated: _Optional[bool] = ..., context_restarted: _Optional[bool] = ...) -> None: ...

class RestartContextRequest(_message.Message):
    __slots__ = ("sandbox_id",)
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    def __init__(self, sandbox_id: _Optional[str] = ...) -> None: ...

class RestartContextResponse(_message.Message):
    __slots__ = ("sandbox_id", "restarted")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    RESTARTED_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    restarted: bool
    def __init__(self, sandbox_id: _Optional[str] = ..., restarted: _Optional[bool] = ...) -> None: ...

class WriteFileRequest(_message.Message):
    __slots__ = ("sandbox_id", "path", "content", "encoding", "offset")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    path: str
    content: str
    encoding: str
    offset: int
    def __init__(self, sandbox_id: _Optional[str] = ..., path: _Optional[str] = ..., content: _Optional[str] = ..., encoding: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class FileInfo(_message.Message):
    __slots__ = ("path", "size")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    path: str
    size: int
    def __init__(self, path: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class ReadFileRequest(_message.Message):
    __slots__ = ("sandbox_id", "path", "encoding", "offset", "length")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    path: str
    encoding: str
    offset: int
    length: int
    def __init__(self, sandbox_id: _Optional[str] = ..., path: _Optional[str] = ..., encoding: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class MoveFileRequest(_message.Message):
    __slots__ = ("sandbox_id", "from_path", "to_path")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_PATH_FIELD_NUMBER: _ClassVar[int]
    TO_PATH_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    from_path: str
    to_path: str
    def __init__(self, sandbox_id: _Optional[str] = ..., from_path: _Optional[str] = ..., to_path: _Optional[str] = ...) -> None: ...

class UploadFileRequest(_message.Message):
    __slots__ = ("sandbox_id", "path", "file")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    path: str
    file: _httpbody_pb2.HttpBody
    def __init__(self, sandbox_id: _Optional[str] = ..., path: _Optional[str] = ..., file: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class DownloadFileRequest(_message.Message):
    __slots__ = ("sandbox_id", "path")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    path: str
    def __init__(self, sandbox_id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class ListFilesRequest(_message.Message):
    __slots__ = ("sandbox_id", "path")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    path: str
    def __init__(self, sandbox_id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class FileEntry(_message.Message):
    __slots__ = ("name", "path", "type", "size", "modified_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    path: str
    type: str
    size: int
    modified_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., path: _Optional[str] = ..., type: _Optional[str] = ..., size: _Optional[int] = ..., modified_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListFilesResponse(_message.Message):
    __slots__ = ("path", "entries", "truncated")
    PATH_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    path: str
    entries: _containers.RepeatedCompositeFieldContainer[FileEntry]
    truncated: bool
    def __init__(self, path: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[FileEntry, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class FileExistsRequest(_message.Message):
    __slots__ = ("sandbox_id", "path")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    path: str
    def __init__(self, sandbox_id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class FileExistsResponse(_message.Message):
    __slots__ = ("path", "exists", "type")
    PATH_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    path: str
    exists: bool
    type: str
    def __init__(self, path: _Optional[str] = ..., exists: _Optional[bool] = ..., type: _Optional[str] = ...) -> None: ...

class DeleteFileRequest(_message.Message):
    __slots__ = ("sandbox_id", "path")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    path: str
    def __init__(self, sandbox_id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class DeleteFileResponse(_message.Message):
    __slots__ = ("path", "deleted")
    PATH_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    path: str
    deleted: bool
    def __init__(self, path: _Optional[str] = ..., deleted: _Optional[bool] = ...) -> None: ...

class FileContent(_message.Message):
    __slots__ = ("path", "content", "encoding", "size")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    path: str
    content: str
    encoding: str
    size: int
    def __init__(self, path: _Optional[str] = ..., content: _Optional[str] = ..., encoding: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class GetStateRequest(_message.Message):
    __slots__ = ("sandbox_id",)
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    def __init__(self, sandbox_id: _Optional[str] = ...) -> None: ...

class SetStateRequest(_message.Message):
    __slots__ = ("sandbox_id", "state")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    state: _struct_pb2.Struct
    def __init__(self, sandbox_id: _Optional[str] = ..., state: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SandboxState(_message.Message):
    __slots__ = ("sandbox_id", "state")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    state: _struct_pb2.Struct
    def __init__(self, sandbox_id: _Optional[str] = ..., state: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class DeleteSandboxRequest(_message.Message):
    __slots__ = ("sandbox_id", "keep_workspace")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    KEEP_WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    keep_workspace: bool
    def __init__(self, sandbox_id: _Optional[str] = ..., keep_workspace: _Optional[bool] = ...) -> None: ...

class DeleteSandboxResponse(_message.Message):
    __slots__ = ("sandbox_id", "deleted", "workspace_kept")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_KEPT_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    deleted: bool
    workspace_kept: bool
    def __init__(self, sandbox_id: _Optional[str] = ..., deleted: _Optional[bool] = ..., workspace_kept: _Optional[bool] = ...) -> None: ...
