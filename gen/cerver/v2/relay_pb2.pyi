import datetime

from cerver.v2 import compute_pb2 as _compute_pb2
from cerver.v2 import options_pb2 as _options_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RelayCall(_message.Message):
    __slots__ = ("compute_id", "sandbox_id", "create_sandbox", "run_sandbox", "run_sandbox_stream", "install_package", "write_file", "read_file", "get_state", "set_state", "delete_sandbox", "run_cell", "restart_context", "list_files", "file_exists", "delete_file", "move_file")
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_SANDBOX_FIELD_NUMBER: _ClassVar[int]
    RUN_SANDBOX_FIELD_NUMBER: _ClassVar[int]
    RUN_SANDBOX_STREAM_FIELD_NUMBER: _ClassVar[int]
    INSTALL_PACKAGE_FIELD_NUMBER: _ClassVar[int]
    WRITE_FILE_FIELD_NUMBER: _ClassVar[int]
    READ_FILE_FIELD_NUMBER: _ClassVar[int]
    GET_STATE_FIELD_NUMBER: _ClassVar[int]
    SET_STATE_FIELD_NUMBER: _ClassVar[int]
    DELETE_SANDBOX_FIELD_NUMBER: _ClassVar[int]
    RUN_CELL_FIELD_NUMBER: _ClassVar[int]
    RESTART_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    LIST_FILES_FIELD_NUMBER: _ClassVar[int]
    FILE_EXISTS_FIELD_NUMBER: _ClassVar[int]
    DELETE_FILE_FIELD_NUMBER: _ClassVar[int]
    MOVE_FILE_FIELD_NUMBER: _ClassVar[int]
    compute_id: str
    sandbox_id: str
    create_sandbox: _compute_pb2.CreateSandboxRequest
    run_sandbox: _compute_pb2.RunSandboxRequest
    run_sandbox_stream: _compute_pb2.RunSandboxRequest
    install_package: _compute_pb2.InstallPackageRequest
    write_file: _compute_pb2.WriteFileRequest
    read_file: _compute_pb2.ReadFileRequest
    get_state: _compute_pb2.GetStateRequest
    set_state: _compute_pb2.SetStateRequest
    delete_sandbox: _compute_pb2.DeleteSandboxRequest
    run_cell: _compute_pb2.RunCellRequest
    restart_context: _compute_pb2.RestartContextRequest
    list_files: _compute_pb2.ListFilesRequest
    file_exists: _compute_pb2.FileExistsRequest
    delete_file: _compute_pb2.DeleteFileRequest
    move_file: _compute_pb2.MoveFileRequest
    def __init__(self, compute_id: _Optional[str] = ..., sandbox_id: _Optional[str] = ..., create_sandbox: _Optional[_Union[_compute_pb2.CreateSandboxRequest, _Mapping]] = ..., run_sandbox: _Optional[_Union[_compute_pb2.RunSandboxRequest, _Mapping]] = ..., run_sandbox_stream: _Optional[_Union[_compute_pb2.RunSandboxRequest, _Mapping]] = ..., install_package: _Optional[_Union[_compute_pb2.InstallPackageRequest, _Mapping]] = ..., write_file: _Optional[_Union[_compute_pb2.WriteFileRequest, _Mapping]] = ..., read_file: _Optional[_Union[_compute_pb2.ReadFileRequest, _Mapping]] = ..., get_state: _Optional[_Union[_compute_pb2.GetStateRequest, _Mapping]] = ..., set_state: _Optional[_Union[_compute_pb2.SetStateRequest, _Mapping]] = ..., delete_sandbox: _Optional[_Union[_compute_pb2.DeleteSandboxRequest, _Mapping]] = ..., run_cell: _Optional[_Union[_compute_pb2.RunCellRequest, _Mapping]] = ..., restart_context: _Optional[_Union[_compute_pb2.RestartContextRequest, _Mapping]] = ..., list_files: _Optional[_Union[_compute_pb2.ListFilesRequest, _Mapping]] = ..., file_exists: _Optional[_Union[_compute_pb2.FileExistsRequest, _Mapping]] = ..., delete_file: _Optional[_Union[_compute_pb2.DeleteFileRequest, _Mapping]] = ..., move_file: _Optional[_Union[_compute_pb2.MoveFileRequest, _Mapping]] = ...) -> None: ...

class RelayReply(_message.Message):
    __slots__ = ("sandbox", "run", "output", "file_info", "file_content", "state", "deleted", "cell", "restarted", "listing", "exists", "file_deleted")
    SANDBOX_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FILE_INFO_FIELD_NUMBER: _ClassVar[int]
    FILE_CONTENT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    CELL_FIELD_NUMBER: _ClassVar[int]
    RESTARTED_FIELD_NUMBER: _ClassVar[int]
    LISTING_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    FILE_DELETED_FIELD_NUMBER: _ClassVar[int]
    sandbox: _compute_pb2.Sandbox
    run: _compute_pb2.RunSandboxResponse
    output: _compute_pb2.SandboxOutput
    file_info: _compute_pb2.FileInfo
    file_content: _compute_pb2.FileContent
    state: _compute_pb2.SandboxState
    deleted: _compute_pb2.DeleteSandboxResponse
    cell: _compute_pb2.CellResult
    restarted: _compute_pb2.RestartContextResponse
    listing: _compute_pb2.ListFilesResponse
    exists: _compute_pb2.FileExistsResponse
    file_deleted: _compute_pb2.DeleteFileResponse
    def __init__(self, sandbox: _Optional[_Union[_compute_pb2.Sandbox, _Mapping]] = ..., run: _Optional[_Union[_compute_pb2.RunSandboxResponse, _Mapping]] = ..., output: _Optional[_Union[_compute_pb2.SandboxOutput, _Mapping]] = ..., file_info: _Optional[_Union[_compute_pb2.FileInfo, _Mapping]] = ..., file_content: _Optional[_Union[_compute_pb2.FileContent, _Mapping]] = ..., state: _Optional[_Union[_compute_pb2.SandboxState, _Mapping]] = ..., deleted: _Optional[_Union[_compute_pb2.DeleteSandboxResponse, _Mapping]] = ..., cell: _Optional[_Union[_compute_pb2.CellResult, _Mapping]] = ..., restarted: _Optional[_Union[_compute_pb2.RestartContextResponse, _Mapping]] = ..., listing: _Optional[_Union[_compute_pb2.ListFilesResponse, _Mapping]] = ..., exists: _Optional[_Union[_compute_pb2.FileExistsResponse, _Mapping]] = ..., file_deleted: _Optional[_Union[_compute_pb2.DeleteFileResponse, _Mapping]] = ...) -> None: ...

class RelayFrame(_message.Message):
    __slots__ = ("call_id", "call", "reply", "error", "cancel", "done", "credit", "timeout_ms")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    CREDIT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    call: RelayCall
    reply: RelayReply
    error: _status_pb2.Status
    cancel: bool
    done: bool
    credit: int
    timeout_ms: int
    def __init__(self, call_id: _Optional[int] = ..., call: _Optional[_Union[RelayCall, _Mapping]] = ..., reply: _Optional[_Union[RelayReply, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., cancel: _Optional[bool] = ..., done: _Optional[bool] = ..., credit: _Optional[int] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class GetConnectionRequest(_message.Message):
    __slots__ = ("compute_id",)
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    compute_id: str
    def __init__(self, compute_id: _Optional[str] = ...) -> None: ...

class Connection(_message.Message):
    __slots__ = ("compute_id", "connected", "replica", "connected_at")
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_AT_FIELD_NUMBER: _ClassVar[int]
    compute_id: str
    connected: bool
    replica: str
    connected_at: _timestamp_pb2.Timestamp
    def __init__(self, compute_id: _Optional[str] = ..., connected: _Optional[bool] = ..., replica: _Optional[str] = ..., connected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
