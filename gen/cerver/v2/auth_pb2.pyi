import datetime

from cerver.v2 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LoginRequest(_message.Message):
    __slots__ = ("email", "name", "code")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    email: str
    name: str
    code: str
    def __init__(self, email: _Optional[str] = ..., name: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class LoginResponse(_message.Message):
    __slots__ = ("account_id", "api_key", "name", "status", "message")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    api_key: str
    name: str
    status: str
    message: str
    def __init__(self, account_id: _Optional[str] = ..., api_key: _Optional[str] = ..., name: _Optional[str] = ..., status: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Account(_message.Message):
    __slots__ = ("account_id", "email", "name", "created_at", "key_count")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    KEY_COUNT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    email: str
    name: str
    created_at: _timestamp_pb2.Timestamp
    key_count: int
    def __init__(self, account_id: _Optional[str] = ..., email: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., key_count: _Optional[int] = ...) -> None: ...

class ListKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("prefix", "name", "created_at", "last_used_at", "expires_at")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    name: str
    created_at: _timestamp_pb2.Timestamp
    last_used_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, prefix: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_used_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ...) -> None: ...

class CreateKeyRequest(_message.Message):
    __slots__ = ("name", "expires_in")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    name: str
    expires_in: int
    def __init__(self, name: _Optional[str] = ..., expires_in: _Optional[int] = ...) -> None: ...

class CreatedKey(_message.Message):
    __slots__ = ("api_key", "prefix", "name", "created_at", "expires_at")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    api_key: str
    prefix: str
    name: str
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, api_key: _Optional[str] = ..., prefix: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeleteKeyRequest(_message.Message):
    __slots__ = ("prefix",)
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    def __init__(self, prefix: _Optional[str] = ...) -> None: ...

class DeleteKeyResponse(_message.Message):
    __slots__ = ("prefix", "deleted")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    deleted: bool
    def __init__(self, prefix: _Optional[str] = ..., deleted: _Optional[bool] = ...) -> None: ...

class StartDeviceLoginRequest(_message.Message):
    __slots__ = ("client_name",)
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    client_name: str
    def __init__(self, client_name: _Optional[str] = ...) -> None: ...

class DeviceLogin(_message.Message):
    __slots__ = ("device_code", "user_code", "verification_uri", "verification_uri_complete", "interval", "expires_in")
    DEVICE_CODE_FIELD_NUMBER: _ClassVar[int]
    USER_CODE_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_URI_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_URI_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    interval: int
    expires_in: int
    def __init__(self, device_code: _Optional[str] = ..., user_code: _Optional[str] = ..., verification_uri: _Optional[str] = ..., verification_uri_complete: _Optional[str] = ..., interval: _Optional[int] = ..., expires_in: _Optional[int] = ...) -> None: ...

class PollDeviceLoginRequest(_message.Message):
    __slots__ = ("device_code",)
    DEVICE_CODE_FIELD_NUMBER: _ClassVar[int]
    device_code: str
    def __init__(self, device_code: _Optional[str] = ...) -> None: ...

class DeviceLoginStatus(_message.Message):
    __slots__ = ("status", "api_key", "account_id", "interval")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    status: str
    api_key: str
    account_id: str
    interval: int
    def __init__(self, status: _Optional[str] = ..., api_key: _Optional[str] = ..., account_id: _Optional[str] = ..., interval: _Optional[int] = ...) -> None: ...

class ApproveDeviceRequest(_message.Message):
    __slots__ = ("user_code", "deny")
    USER_CODE_FIELD_NUMBER: _ClassVar[int]
    DENY_FIELD_NUMBER: _ClassVar[int]
    user_code: str
    deny: bool
    def __init__(self, user_code: _Optional[str] = ..., deny: _Optional[bool] = ...) -> None: ...

class ApproveDeviceResponse(_message.Message):
    __slots__ = ("status", "client_name")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    status: str
    client_name: str
    def __init__(self, status: _Optional[str] = ..., client_name: _Optional[str] = ...) -> None: ...

class DescribeDeviceLoginRequest(_message.Message):
    __slots__ = ("user_code",)
    USER_CODE_FIELD_NUMBER: _ClassVar[int]
    user_code: str
    def __init__(self, user_code: _Optional[str] = ...) -> None: ...

class PendingDeviceLogin(_message.Message):
    __slots__ = ("user_code", "client_name", "client_host", "created_at", "expires_at")
    USER_CODE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_HOST_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    user_code: str
    client_name: str
    client_host: str
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, user_code: _Optional[str] = ..., client_name: _Optional[str] = ..., client_host: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAccountProvidersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AccountProvider(_message.Message):
    __slots__ = ("provider", "enabled", "credential_names", "configured_at")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_NAMES_FIELD_NUMBER: _ClassVar[int]
    CONFIGURED_AT_FIELD_NUMBER: _ClassVar[int]
    provider: str
    enabled: bool
    credential_names: _containers.RepeatedScalarFieldContainer[str]
    configured_at: _timestamp_pb2.Timestamp
    def __init__(self, provider: _Optional[str] = ..., enabled: _Optional[bool] = ..., credential_names: _Optional[_Iterable[str]] = ..., configured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAccountProvidersResponse(_message.Message):
    __slots__ = ("providers",)
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[AccountProvider]
    def __init__(self, providers: _Optional[_Iterable[_Union[AccountProvider, _Mapping]]] = ...) -> None: ...

class EnableAccountProviderRequest(_message.Message):
    __slots__ = ("provider", "credentials")
    class CredentialsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    provider: str
    credentials: _containers.ScalarMap[str, str]
    def __init__(self, provider: _Optional[str] = ..., credentials: _Optional[_Mapping[str, str]] = ...) -> None: ...

class DisableAccountProviderRequest(_message.Message):
    __slots__ = ("provider",)
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    provider: str
    def __init__(self, provider: _Optional[str] = ...) -> None: ...

class DisableAccountProviderResponse(_message.Message):
    __slots__ = ("provider", "disabled")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    provider: str
    disabled: bool
    def __init__(self, provider: _Optional[str] = ..., disabled: _Optional[bool] = ...) -> None: ...

class AuthenticateRequest(_message.Message):
    __slots__ = ("api_key",)
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    api_key: str
    def __init__(self, api_key: _Optional[str] = ...) -> None: ...

class Principal(_message.Message):
    __slots__ = ("account_id", "key_prefix")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    key_prefix: str
    def __init__(self, account_id: _Optional[str] = ..., key_prefix: _Optional[str] = ...) -> None: ...

class GetProviderCredentialsRequest(_message.Message):
    __slots__ = ("account_id", "provider")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    provider: str
    def __init__(self, account_id: _Optional[str] = ..., provider: _Optional[str] = ...) -> None: ...

class ProviderCredentials(_message.Message):
    __slots__ = ("provider", "credentials")
    class CredentialsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    provider: str
    credentials: _containers.ScalarMap[str, str]
    def __init__(self, provider: _Optional[str] = ..., credentials: _Optional[_Mapping[str, str]] = ...) -> None: ...
