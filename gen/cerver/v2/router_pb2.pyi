import datetime

from cerver.v2 import common_pb2 as _common_pb2
from cerver.v2 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProviderProfile(_message.Message):
    __slots__ = ("name", "display_name", "status", "executable", "executable_reason", "runtimes", "browser", "desktop", "public_preview", "package_install", "max_timeout_minutes", "persistence", "startup_ms", "reliability", "price", "strengths", "observed_samples")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXECUTABLE_FIELD_NUMBER: _ClassVar[int]
    EXECUTABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    RUNTIMES_FIELD_NUMBER: _ClassVar[int]
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    DESKTOP_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_PREVIEW_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_INSTALL_FIELD_NUMBER: _ClassVar[int]
    MAX_TIMEOUT_MINUTES_FIELD_NUMBER: _ClassVar[int]
    PERSISTENCE_FIELD_NUMBER: _ClassVar[int]
    STARTUP_MS_FIELD_NUMBER: _ClassVar[int]
    RELIABILITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    STRENGTHS_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    status: str
    executable: bool
    executable_reason: str
    runtimes: _containers.RepeatedScalarFieldContainer[str]
    browser: bool
    desktop: bool
    public_preview: bool
    package_install: bool
    max_timeout_minutes: int
    persistence: str
    startup_ms: int
    reliability: float
    price: _common_pb2.PriceModel
    strengths: _containers.RepeatedScalarFieldContainer[str]
    observed_samples: int
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., status: _Optional[str] = ..., executable: _Optional[bool] = ..., executable_reason: _Optional[str] = ..., runtimes: _Optional[_Iterable[str]] = ..., browser: _Optional[bool] = ..., desktop: _Optional[bool] = ..., public_preview: _Optional[bool] = ..., package_install: _Optional[bool] = ..., max_timeout_minutes: _Optional[int] = ..., persistence: _Optional[str] = ..., startup_ms: _Optional[int] = ..., reliability: _Optional[float] = ..., price: _Optional[_Union[_common_pb2.PriceModel, _Mapping]] = ..., strengths: _Optional[_Iterable[str]] = ..., observed_samples: _Optional[int] = ...) -> None: ...

class ListProvidersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListProvidersResponse(_message.Message):
    __slots__ = ("providers",)
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[ProviderProfile]
    def __init__(self, providers: _Optional[_Iterable[_Union[ProviderProfile, _Mapping]]] = ...) -> None: ...

class RecommendRequest(_message.Message):
    __slots__ = ("task", "workload", "repo", "requirements", "policy", "require_executable", "provider", "compute_id", "metadata")
    TASK_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    REPO_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_EXECUTABLE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    task: str
    workload: str
    repo: _common_pb2.Repo
    requirements: _common_pb2.Requirements
    policy: _common_pb2.Policy
    require_executable: bool
    provider: str
    compute_id: str
    metadata: _struct_pb2.Struct
    def __init__(self, task: _Optional[str] = ..., workload: _Optional[str] = ..., repo: _Optional[_Union[_common_pb2.Repo, _Mapping]] = ..., requirements: _Optional[_Union[_common_pb2.Requirements, _Mapping]] = ..., policy: _Optional[_Union[_common_pb2.Policy, _Mapping]] = ..., require_executable: _Optional[bool] = ..., provider: _Optional[str] = ..., compute_id: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ReportOutcomeRequest(_message.Message):
    __slots__ = ("provider", "success", "provision_ms")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    PROVISION_MS_FIELD_NUMBER: _ClassVar[int]
    provider: str
    success: bool
    provision_ms: float
    def __init__(self, provider: _Optional[str] = ..., success: _Optional[bool] = ..., provision_ms: _Optional[float] = ...) -> None: ...

class ReportOutcomeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateStressTestRequest(_message.Message):
    __slots__ = ("task", "kind", "workload", "requirements", "policy", "providers", "sample_size")
    TASK_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    task: str
    kind: str
    workload: str
    requirements: _common_pb2.Requirements
    policy: _common_pb2.Policy
    providers: _containers.RepeatedScalarFieldContainer[str]
    sample_size: int
    def __init__(self, task: _Optional[str] = ..., kind: _Optional[str] = ..., workload: _Optional[str] = ..., requirements: _Optional[_Union[_common_pb2.Requirements, _Mapping]] = ..., policy: _Optional[_Union[_common_pb2.Policy, _Mapping]] = ..., providers: _Optional[_Iterable[str]] = ..., sample_size: _Optional[int] = ...) -> None: ...

class GetStressTestRequest(_message.Message):
    __slots__ = ("testId",)
    TESTID_FIELD_NUMBER: _ClassVar[int]
    testId: str
    def __init__(self, testId: _Optional[str] = ...) -> None: ...

class StressReport(_message.Message):
    __slots__ = ("headline", "guidance", "next_policy")
    HEADLINE_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_FIELD_NUMBER: _ClassVar[int]
    NEXT_POLICY_FIELD_NUMBER: _ClassVar[int]
    headline: str
    guidance: str
    next_policy: str
    def __init__(self, headline: _Optional[str] = ..., guidance: _Optional[str] = ..., next_policy: _Optional[str] = ...) -> None: ...

class ProviderStressResult(_message.Message):
    __slots__ = ("provider", "mode", "samples", "failures", "p50_ms", "p95_ms", "mean_ms", "estimated_cost_usd", "score", "note")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P95_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_MS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_COST_USD_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    provider: str
    mode: str
    samples: int
    failures: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    estimated_cost_usd: float
    score: float
    note: str
    def __init__(self, provider: _Optional[str] = ..., mode: _Optional[str] = ..., samples: _Optional[int] = ..., failures: _Optional[int] = ..., p50_ms: _Optional[float] = ..., p95_ms: _Optional[float] = ..., mean_ms: _Optional[float] = ..., estimated_cost_usd: _Optional[float] = ..., score: _Optional[float] = ..., note: _Optional[str] = ...) -> None: ...

class StressTest(_message.Message):
    __slots__ = ("testId", "kind", "workload", "sampleSize", "status", "winner", "summary", "report", "results", "completed_samples", "total_samples", "created_at", "finished_at")
    TESTID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    SAMPLESIZE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    WINNER_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    testId: str
    kind: str
    workload: str
    sampleSize: int
    status: str
    winner: str
    summary: str
    report: StressReport
    results: _containers.RepeatedCompositeFieldContainer[ProviderStressResult]
    completed_samples: int
    total_samples: int
    created_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    def __init__(self, testId: _Optional[str] = ..., kind: _Optional[str] = ..., workload: _Optional[str] = ..., sampleSize: _Optional[int] = ..., status: _Optional[str] = ..., winner: _Optional[str] = ..., summary: _Optional[str] = ..., report: _Optional[_Union[StressReport, _Mapping]] = ..., results: _Optional[_Iterable[_Union[ProviderStressResult, _Mapping]]] = ..., completed_samples: _Optional[int] = ..., total_samples: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
