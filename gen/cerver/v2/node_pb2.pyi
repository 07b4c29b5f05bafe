from cerver.v2 import compute_pb2 as _compute_pb2
from cerver.v2 import options_pb2 as _options_pb2
from cerver.v2 import relay_pb2 as _relay_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeNodeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("capabilities", "sandbox_ids", "node_id", "hostname", "boot_id", "preview_port")
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_IDS_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    BOOT_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_PORT_FIELD_NUMBER: _ClassVar[int]
    capabilities: _compute_pb2.ComputeCapabilities
    sandbox_ids: _containers.RepeatedScalarFieldContainer[str]
    node_id: str
    hostname: str
    boot_id: str
    preview_port: int
    def __init__(self, capabilities: _Optional[_Union[_compute_pb2.ComputeCapabilities, _Mapping]] = ..., sandbox_ids: _Optional[_Iterable[str]] = ..., node_id: _Optional[str] = ..., hostname: _Optional[str] = ..., boot_id: _Optional[str] = ..., preview_port: _Optional[int] = ...) -> None: ...
