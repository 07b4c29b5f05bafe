from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Access(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCESS_UNSPECIFIED: _ClassVar[Access]
    ACCESS_PUBLIC: _ClassVar[Access]
    ACCESS_INTERNAL: _ClassVar[Access]
ACCESS_UNSPECIFIED: Access
ACCESS_PUBLIC: Access
ACCESS_INTERNAL: Access
ACCESS_FIELD_NUMBER: _ClassVar[int]
access: _descriptor.FieldDescriptor
RULES_FIELD_NUMBER: _ClassVar[int]
rules: _descriptor.FieldDescriptor
WHEN_FIELD_NUMBER: _ClassVar[int]
when: _descriptor.FieldDescriptor

class FieldRules(_message.Message):
    __slots__ = ("one_of", "minimum", "maximum", "max_length", "pattern", "pattern_means", "allow_nul", "key_pattern", "key_pattern_means", "value_message")
    ONE_OF_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    PATTERN_MEANS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_NUL_FIELD_NUMBER: _ClassVar[int]
    KEY_PATTERN_FIELD_NUMBER: _ClassVar[int]
    KEY_PATTERN_MEANS_FIELD_NUMBER: _ClassVar[int]
    VALUE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    one_of: _containers.RepeatedScalarFieldContainer[str]
    minimum: float
    maximum: float
    max_length: int
    pattern: str
    pattern_means: str
    allow_nul: bool
    key_pattern: str
    key_pattern_means: str
    value_message: str
    def __init__(self, one_of: _Optional[_Iterable[str]] = ..., minimum: _Optional[float] = ..., maximum: _Optional[float] = ..., max_length: _Optional[int] = ..., pattern: _Optional[str] = ..., pattern_means: _Optional[str] = ..., allow_nul: _Optional[bool] = ..., key_pattern: _Optional[str] = ..., key_pattern_means: _Optional[str] = ..., value_message: _Optional[str] = ...) -> None: ...

class When(_message.Message):
    __slots__ = ("field", "equals", "requires", "forbids", "matches", "matches_mean", "keys_of", "keys_required", "keys_allowed")
    class MatchesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FIELD_FIELD_NUMBER: _ClassVar[int]
    EQUALS_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_FIELD_NUMBER: _ClassVar[int]
    FORBIDS_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    MATCHES_MEAN_FIELD_NUMBER: _ClassVar[int]
    KEYS_OF_FIELD_NUMBER: _ClassVar[int]
    KEYS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    KEYS_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    field: str
    equals: _containers.RepeatedScalarFieldContainer[str]
    requires: _containers.RepeatedScalarFieldContainer[str]
    forbids: _containers.RepeatedScalarFieldContainer[str]
    matches: _containers.ScalarMap[str, str]
    matches_mean: str
    keys_of: str
    keys_required: _containers.RepeatedScalarFieldContainer[str]
    keys_allowed: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, field: _Optional[str] = ..., equals: _Optional[_Iterable[str]] = ..., requires: _Optional[_Iterable[str]] = ..., forbids: _Optional[_Iterable[str]] = ..., matches: _Optional[_Mapping[str, str]] = ..., matches_mean: _Optional[str] = ..., keys_of: _Optional[str] = ..., keys_required: _Optional[_Iterable[str]] = ..., keys_allowed: _Optional[_Iterable[str]] = ...) -> None: ...
