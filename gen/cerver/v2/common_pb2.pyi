from cerver.v2 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Requirements(_message.Message):
    __slots__ = ("runtime", "persistence_level", "timeout_minutes", "package_install", "public_preview", "browser", "desktop", "memory_mb", "cpus", "max_processes", "disk_mb", "tmp_mb", "preview_port")
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    PERSISTENCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MINUTES_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_INSTALL_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_PREVIEW_FIELD_NUMBER: _ClassVar[int]
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    DESKTOP_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    CPUS_FIELD_NUMBER: _ClassVar[int]
    MAX_PROCESSES_FIELD_NUMBER: _ClassVar[int]
    DISK_MB_FIELD_NUMBER: _ClassVar[int]
    TMP_MB_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_PORT_FIELD_NUMBER: _ClassVar[int]
    runtime: str
    persistence_level: str
    timeout_minutes: int
    package_install: bool
    public_preview: bool
    browser: bool
    desktop: bool
    memory_mb: int
    cpus: float
    max_processes: int
    disk_mb: int
    tmp_mb: int
    preview_port: int
    def __init__(self, runtime: _Optional[str] = ..., persistence_level: _Optional[str] = ..., timeout_minutes: _Optional[int] = ..., package_install: _Optional[bool] = ..., public_preview: _Optional[bool] = ..., browser: _Optional[bool] = ..., desktop: _Optional[bool] = ..., memory_mb: _Optional[int] = ..., cpus: _Optional[float] = ..., max_processes: _Optional[int] = ..., disk_mb: _Optional[int] = ..., tmp_mb: _Optional[int] = ..., preview_port: _Optional[int] = ...) -> None: ...

class Policy(_message.Message):
    __slots__ = ("mode", "allowed_providers", "max_cost_usd", "max_startup_ms", "pinned_provider")
    MODE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_USD_FIELD_NUMBER: _ClassVar[int]
    MAX_STARTUP_MS_FIELD_NUMBER: _ClassVar[int]
    PINNED_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    mode: str
    allowed_providers: _containers.RepeatedScalarFieldContainer[str]
    max_cost_usd: float
    max_startup_ms: int
    pinned_provider: str
    def __init__(self, mode: _Optional[str] = ..., allowed_providers: _Optional[_Iterable[str]] = ..., max_cost_usd: _Optional[float] = ..., max_startup_ms: _Optional[int] = ..., pinned_provider: _Optional[str] = ...) -> None: ...

class ComputeTarget(_message.Message):
    __slots__ = ("provider", "compute_id")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    provider: str
    compute_id: str
    def __init__(self, provider: _Optional[str] = ..., compute_id: _Optional[str] = ...) -> None: ...

class Repo(_message.Message):
    __slots__ = ("name", "framework", "languages", "signals")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    name: str
    framework: str
    languages: _containers.RepeatedScalarFieldContainer[str]
    signals: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., framework: _Optional[str] = ..., languages: _Optional[_Iterable[str]] = ..., signals: _Optional[_Iterable[str]] = ...) -> None: ...

class ProviderAssessment(_message.Message):
    __slots__ = ("name", "status", "score", "estimated_cost_usd", "predicted_startup_ms", "executable", "reason", "display_name", "price", "reliability")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_COST_USD_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_STARTUP_MS_FIELD_NUMBER: _ClassVar[int]
    EXECUTABLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    RELIABILITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: str
    score: float
    estimated_cost_usd: float
    predicted_startup_ms: int
    executable: bool
    reason: str
    display_name: str
    price: PriceModel
    reliability: float
    def __init__(self, name: _Optional[str] = ..., status: _Optional[str] = ..., score: _Optional[float] = ..., estimated_cost_usd: _Optional[float] = ..., predicted_startup_ms: _Optional[int] = ..., executable: _Optional[bool] = ..., reason: _Optional[str] = ..., display_name: _Optional[str] = ..., price: _Optional[_Union[PriceModel, _Mapping]] = ..., reliability: _Optional[float] = ...) -> None: ...

class PriceModel(_message.Message):
    __slots__ = ("per_second_usd", "per_session_usd", "cpu_second_usd", "memory_gib_second_usd", "source")
    PER_SECOND_USD_FIELD_NUMBER: _ClassVar[int]
    PER_SESSION_USD_FIELD_NUMBER: _ClassVar[int]
    CPU_SECOND_USD_FIELD_NUMBER: _ClassVar[int]
    MEMORY_GIB_SECOND_USD_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    per_second_usd: float
    per_session_usd: float
    cpu_second_usd: float
    memory_gib_second_usd: float
    source: str
    def __init__(self, per_second_usd: _Optional[float] = ..., per_session_usd: _Optional[float] = ..., cpu_second_usd: _Optional[float] = ..., memory_gib_second_usd: _Optional[float] = ..., source: _Optional[str] = ...) -> None: ...

class RoutingDecision(_message.Message):
    __slots__ = ("recommended_provider", "confidence", "primary_reason", "secondary_reasons", "fallback_order", "canary_run")
    RECOMMENDED_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_REASON_FIELD_NUMBER: _ClassVar[int]
    SECONDARY_REASONS_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_ORDER_FIELD_NUMBER: _ClassVar[int]
    CANARY_RUN_FIELD_NUMBER: _ClassVar[int]
    recommended_provider: str
    confidence: str
    primary_reason: str
    secondary_reasons: _containers.RepeatedScalarFieldContainer[str]
    fallback_order: _containers.RepeatedScalarFieldContainer[str]
    canary_run: bool
    def __init__(self, recommended_provider: _Optional[str] = ..., confidence: _Optional[str] = ..., primary_reason: _Optional[str] = ..., secondary_reasons: _Optional[_Iterable[str]] = ..., fallback_order: _Optional[_Iterable[str]] = ..., canary_run: _Optional[bool] = ...) -> None: ...

class HumanSummary(_message.Message):
    __slots__ = ("headline", "next_action")
    HEADLINE_FIELD_NUMBER: _ClassVar[int]
    NEXT_ACTION_FIELD_NUMBER: _ClassVar[int]
    headline: str
    next_action: str
    def __init__(self, headline: _Optional[str] = ..., next_action: _Optional[str] = ...) -> None: ...

class RecommendationReport(_message.Message):
    __slots__ = ("request_id", "task", "workload", "providers", "decision", "human_summary")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    HUMAN_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    task: str
    workload: str
    providers: _containers.RepeatedCompositeFieldContainer[ProviderAssessment]
    decision: RoutingDecision
    human_summary: HumanSummary
    def __init__(self, request_id: _Optional[str] = ..., task: _Optional[str] = ..., workload: _Optional[str] = ..., providers: _Optional[_Iterable[_Union[ProviderAssessment, _Mapping]]] = ..., decision: _Optional[_Union[RoutingDecision, _Mapping]] = ..., human_summary: _Optional[_Union[HumanSummary, _Mapping]] = ...) -> None: ...

class DisplayData(_message.Message):
    __slots__ = ("data", "is_main_result")
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DATA_FIELD_NUMBER: _ClassVar[int]
    IS_MAIN_RESULT_FIELD_NUMBER: _ClassVar[int]
    data: _containers.ScalarMap[str, str]
    is_main_result: bool
    def __init__(self, data: _Optional[_Mapping[str, str]] = ..., is_main_result: _Optional[bool] = ...) -> None: ...
