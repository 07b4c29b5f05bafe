import datetime

from cerver.v2 import common_pb2 as _common_pb2
from cerver.v2 import compute_pb2 as _compute_pb2
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

class CreateSessionRequest(_message.Message):
    __slots__ = ("compute", "harness", "session_name", "session_type", "task", "workload", "repo", "requirements", "policy", "metadata", "target_compute_id")
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    HARNESS_FIELD_NUMBER: _ClassVar[int]
    SESSION_NAME_FIELD_NUMBER: _ClassVar[int]
    SESSION_TYPE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    REPO_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TARGET_COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    compute: _struct_pb2.Value
    harness: str
    session_name: str
    session_type: str
    task: str
    workload: str
    repo: _common_pb2.Repo
    requirements: _common_pb2.Requirements
    policy: _common_pb2.Policy
    metadata: _struct_pb2.Struct
    target_compute_id: str
    def __init__(self, compute: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., harness: _Optional[str] = ..., session_name: _Optional[str] = ..., session_type: _Optional[str] = ..., task: _Optional[str] = ..., workload: _Optional[str] = ..., repo: _Optional[_Union[_common_pb2.Repo, _Mapping]] = ..., requirements: _Optional[_Union[_common_pb2.Requirements, _Mapping]] = ..., policy: _Optional[_Union[_common_pb2.Policy, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., target_compute_id: _Optional[str] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("limit", "cursor", "status", "state", "name", "compute_id")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    limit: int
    cursor: str
    status: str
    state: str
    name: str
    compute_id: str
    def __init__(self, limit: _Optional[int] = ..., cursor: _Optional[str] = ..., status: _Optional[str] = ..., state: _Optional[str] = ..., name: _Optional[str] = ..., compute_id: _Optional[str] = ...) -> None: ...

class SearchSessionsRequest(_message.Message):
    __slots__ = ("q", "limit", "cursor")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    q: str
    limit: int
    cursor: str
    def __init__(self, q: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("session_id", "session_name", "status", "seq", "at", "role", "kind", "snippet")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SNIPPET_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    session_name: str
    status: str
    seq: int
    at: _timestamp_pb2.Timestamp
    role: str
    kind: str
    snippet: str
    def __init__(self, session_id: _Optional[str] = ..., session_name: _Optional[str] = ..., status: _Optional[str] = ..., seq: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., role: _Optional[str] = ..., kind: _Optional[str] = ..., snippet: _Optional[str] = ...) -> None: ...

class SearchSessionsResponse(_message.Message):
    __slots__ = ("hits", "next_cursor")
    HITS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    next_cursor: str
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions", "next_cursor")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    next_cursor: str
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class GetSessionRequest(_message.Message):
    __slots__ = ("session_id", "tail", "since", "full")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    tail: int
    since: int
    full: bool
    def __init__(self, session_id: _Optional[str] = ..., tail: _Optional[int] = ..., since: _Optional[int] = ..., full: _Optional[bool] = ...) -> None: ...

class WatchSessionRequest(_message.Message):
    __slots__ = ("session_id", "since")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    since: int
    def __init__(self, session_id: _Optional[str] = ..., since: _Optional[int] = ...) -> None: ...

class SessionChange(_message.Message):
    __slots__ = ("session_id", "status", "state", "entries", "events", "transcript_count")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    status: str
    state: str
    entries: _containers.RepeatedCompositeFieldContainer[TranscriptEntry]
    events: _containers.RepeatedCompositeFieldContainer[SessionEvent]
    transcript_count: int
    def __init__(self, session_id: _Optional[str] = ..., status: _Optional[str] = ..., state: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[TranscriptEntry, _Mapping]]] = ..., events: _Optional[_Iterable[_Union[SessionEvent, _Mapping]]] = ..., transcript_count: _Optional[int] = ...) -> None: ...

class TranscriptEntry(_message.Message):
    __slots__ = ("seq", "at", "role", "kind", "content", "metadata")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    seq: int
    at: _timestamp_pb2.Timestamp
    role: str
    kind: str
    content: str
    metadata: _struct_pb2.Struct
    def __init__(self, seq: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., role: _Optional[str] = ..., kind: _Optional[str] = ..., content: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SessionEvent(_message.Message):
    __slots__ = ("at", "type", "detail", "from_status", "to_status")
    AT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    FROM_STATUS_FIELD_NUMBER: _ClassVar[int]
    TO_STATUS_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    type: str
    detail: str
    from_status: str
    to_status: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., type: _Optional[str] = ..., detail: _Optional[str] = ..., from_status: _Optional[str] = ..., to_status: _Optional[str] = ...) -> None: ...

class SessionMetrics(_message.Message):
    __slots__ = ("provision_time_ms", "time_to_first_exec_ms", "last_exec_latency_ms", "average_exec_latency_ms", "average_stream_open_latency_ms", "total_exec_count", "total_stream_count", "interaction_count", "session_length_ms", "cost_estimate_usd", "uptime_percent", "predicted_startup_ms", "engagement_score", "engagement_label", "llm_turn_count", "llm_input_tokens", "llm_output_tokens", "llm_cost_usd", "last_llm_latency_ms", "average_llm_latency_ms")
    PROVISION_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_EXEC_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_EXEC_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_EXEC_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_STREAM_OPEN_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EXEC_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STREAM_COUNT_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    SESSION_LENGTH_MS_FIELD_NUMBER: _ClassVar[int]
    COST_ESTIMATE_USD_FIELD_NUMBER: _ClassVar[int]
    UPTIME_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_STARTUP_MS_FIELD_NUMBER: _ClassVar[int]
    ENGAGEMENT_SCORE_FIELD_NUMBER: _ClassVar[int]
    ENGAGEMENT_LABEL_FIELD_NUMBER: _ClassVar[int]
    LLM_TURN_COUNT_FIELD_NUMBER: _ClassVar[int]
    LLM_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    LLM_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    LLM_COST_USD_FIELD_NUMBER: _ClassVar[int]
    LAST_LLM_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_LLM_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    provision_time_ms: float
    time_to_first_exec_ms: float
    last_exec_latency_ms: float
    average_exec_latency_ms: float
    average_stream_open_latency_ms: float
    total_exec_count: int
    total_stream_count: int
    interaction_count: int
    session_length_ms: float
    cost_estimate_usd: float
    uptime_percent: float
    predicted_startup_ms: float
    engagement_score: float
    engagement_label: str
    llm_turn_count: int
    llm_input_tokens: int
    llm_output_tokens: int
    llm_cost_usd: float
    last_llm_latency_ms: float
    average_llm_latency_ms: float
    def __init__(self, provision_time_ms: _Optional[float] = ..., time_to_first_exec_ms: _Optional[float] = ..., last_exec_latency_ms: _Optional[float] = ..., average_exec_latency_ms: _Optional[float] = ..., average_stream_open_latency_ms: _Optional[float] = ..., total_exec_count: _Optional[int] = ..., total_stream_count: _Optional[int] = ..., interaction_count: _Optional[int] = ..., session_length_ms: _Optional[float] = ..., cost_estimate_usd: _Optional[float] = ..., uptime_percent: _Optional[float] = ..., predicted_startup_ms: _Optional[float] = ..., engagement_score: _Optional[float] = ..., engagement_label: _Optional[str] = ..., llm_turn_count: _Optional[int] = ..., llm_input_tokens: _Optional[int] = ..., llm_output_tokens: _Optional[int] = ..., llm_cost_usd: _Optional[float] = ..., last_llm_latency_ms: _Optional[float] = ..., average_llm_latency_ms: _Optional[float] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("session_id", "session_name", "status", "state", "provider", "compute_id", "sandbox_id", "harness", "session_type", "task", "workload", "parent_session_id", "end_reason", "created_at", "updated_at", "ended_at", "requirements", "policy", "repo", "metadata", "metrics", "routing", "transcript", "transcript_count", "events", "preview_url")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    HARNESS_FIELD_NUMBER: _ClassVar[int]
    SESSION_TYPE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    PARENT_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    REPO_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    ROUTING_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_URL_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    session_name: str
    status: str
    state: str
    provider: str
    compute_id: str
    sandbox_id: str
    harness: str
    session_type: str
    task: str
    workload: str
    parent_session_id: str
    end_reason: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    requirements: _common_pb2.Requirements
    policy: _common_pb2.Policy
    repo: _common_pb2.Repo
    metadata: _struct_pb2.Struct
    metrics: SessionMetrics
    routing: _common_pb2.RoutingDecision
    transcript: _containers.RepeatedCompositeFieldContainer[TranscriptEntry]
    transcript_count: int
    events: _containers.RepeatedCompositeFieldContainer[SessionEvent]
    preview_url: str
    def __init__(self, session_id: _Optional[str] = ..., session_name: _Optional[str] = ..., status: _Optional[str] = ..., state: _Optional[str] = ..., provider: _Optional[str] = ..., compute_id: _Optional[str] = ..., sandbox_id: _Optional[str] = ..., harness: _Optional[str] = ..., session_type: _Optional[str] = ..., task: _Optional[str] = ..., workload: _Optional[str] = ..., parent_session_id: _Optional[str] = ..., end_reason: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requirements: _Optional[_Union[_common_pb2.Requirements, _Mapping]] = ..., policy: _Optional[_Union[_common_pb2.Policy, _Mapping]] = ..., repo: _Optional[_Union[_common_pb2.Repo, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., metrics: _Optional[_Union[SessionMetrics, _Mapping]] = ..., routing: _Optional[_Union[_common_pb2.RoutingDecision, _Mapping]] = ..., transcript: _Optional[_Iterable[_Union[TranscriptEntry, _Mapping]]] = ..., transcript_count: _Optional[int] = ..., events: _Optional[_Iterable[_Union[SessionEvent, _Mapping]]] = ..., preview_url: _Optional[str] = ...) -> None: ...

class RunCodeRequest(_message.Message):
    __slots__ = ("session_id", "code", "runtime", "timeout", "stdin", "env", "context")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    code: str
    runtime: str
    timeout: float
    stdin: str
    env: _containers.ScalarMap[str, str]
    context: str
    def __init__(self, session_id: _Optional[str] = ..., code: _Optional[str] = ..., runtime: _Optional[str] = ..., timeout: _Optional[float] = ..., stdin: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., context: _Optional[str] = ...) -> None: ...

class RunResult(_message.Message):
    __slots__ = ("stdout", "stderr", "exit_code", "timed_out", "truncated", "reason", "cell")
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CELL_FIELD_NUMBER: _ClassVar[int]
    stdout: str
    stderr: str
    exit_code: int
    timed_out: bool
    truncated: bool
    reason: str
    cell: CellOutcome
    def __init__(self, stdout: _Optional[str] = ..., stderr: _Optional[str] = ..., exit_code: _Optional[int] = ..., timed_out: _Optional[bool] = ..., truncated: _Optional[bool] = ..., reason: _Optional[str] = ..., cell: _Optional[_Union[CellOutcome, _Mapping]] = ...) -> None: ...

class CellOutcome(_message.Message):
    __slots__ = ("text", "results", "error_name", "error_value", "context_restarted")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_NAME_FIELD_NUMBER: _ClassVar[int]
    ERROR_VALUE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_RESTARTED_FIELD_NUMBER: _ClassVar[int]
    text: str
    results: _containers.RepeatedCompositeFieldContainer[_common_pb2.DisplayData]
    error_name: str
    error_value: str
    context_restarted: bool
    def __init__(self, text: _Optional[str] = ..., results: _Optional[_Iterable[_Union[_common_pb2.DisplayData, _Mapping]]] = ..., error_name: _Optional[str] = ..., error_value: _Optional[str] = ..., context_restarted: _Optional[bool] = ...) -> None: ...

class RunCodeResponse(_message.Message):
    __slots__ = ("session_id", "duration_ms", "result", "metrics")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    duration_ms: float
    result: RunResult
    metrics: SessionMetrics
    def __init__(self, session_id: _Optional[str] = ..., duration_ms: _Optional[float] = ..., result: _Optional[_Union[RunResult, _Mapping]] = ..., metrics: _Optional[_Union[SessionMetrics, _Mapping]] = ...) -> None: ...

class RunEvent(_message.Message):
    __slots__ = ("type", "data", "exit_code", "duration_ms", "timed_out", "truncated", "session_id", "reason", "error")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    type: str
    data: str
    exit_code: int
    duration_ms: float
    timed_out: bool
    truncated: bool
    session_id: str
    reason: str
    error: _status_pb2.Status
    def __init__(self, type: _Optional[str] = ..., data: _Optional[str] = ..., exit_code: _Optional[int] = ..., duration_ms: _Optional[float] = ..., timed_out: _Optional[bool] = ..., truncated: _Optional[bool] = ..., session_id: _Optional[str] = ..., reason: _Optional[str] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class RunLlmRequest(_message.Message):
    __slots__ = ("session_id", "model", "input", "max_tokens", "system")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    model: str
    input: str
    max_tokens: int
    system: str
    def __init__(self, session_id: _Optional[str] = ..., model: _Optional[str] = ..., input: _Optional[str] = ..., max_tokens: _Optional[int] = ..., system: _Optional[str] = ...) -> None: ...

class LlmUsage(_message.Message):
    __slots__ = ("input_tokens", "output_tokens")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    output_tokens: int
    def __init__(self, input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ...) -> None: ...

class RunLlmResponse(_message.Message):
    __slots__ = ("session_id", "model", "output", "duration_ms", "harness", "usage", "cost_usd", "stop_reason", "seq")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    HARNESS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    model: str
    output: str
    duration_ms: float
    harness: str
    usage: LlmUsage
    cost_usd: float
    stop_reason: str
    seq: int
    def __init__(self, session_id: _Optional[str] = ..., model: _Optional[str] = ..., output: _Optional[str] = ..., duration_ms: _Optional[float] = ..., harness: _Optional[str] = ..., usage: _Optional[_Union[LlmUsage, _Mapping]] = ..., cost_usd: _Optional[float] = ..., stop_reason: _Optional[str] = ..., seq: _Optional[int] = ...) -> None: ...

class LlmEvent(_message.Message):
    __slots__ = ("type", "text", "turn", "error")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    type: str
    text: str
    turn: RunLlmResponse
    error: _status_pb2.Status
    def __init__(self, type: _Optional[str] = ..., text: _Optional[str] = ..., turn: _Optional[_Union[RunLlmResponse, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class AppendInputRequest(_message.Message):
    __slots__ = ("session_id", "content", "role", "kind", "at", "metadata")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    content: str
    role: str
    kind: str
    at: _timestamp_pb2.Timestamp
    metadata: _struct_pb2.Struct
    def __init__(self, session_id: _Optional[str] = ..., content: _Optional[str] = ..., role: _Optional[str] = ..., kind: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class EntryInput(_message.Message):
    __slots__ = ("at", "role", "kind", "content", "metadata")
    AT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    role: str
    kind: str
    content: str
    metadata: _struct_pb2.Struct
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., role: _Optional[str] = ..., kind: _Optional[str] = ..., content: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class AppendTranscriptRequest(_message.Message):
    __slots__ = ("session_id", "entries")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    entries: _containers.RepeatedCompositeFieldContainer[EntryInput]
    def __init__(self, session_id: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[EntryInput, _Mapping]]] = ...) -> None: ...

class AppendResponse(_message.Message):
    __slots__ = ("session_id", "seqs", "transcript_count")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQS_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    seqs: _containers.RepeatedScalarFieldContainer[int]
    transcript_count: int
    def __init__(self, session_id: _Optional[str] = ..., seqs: _Optional[_Iterable[int]] = ..., transcript_count: _Optional[int] = ...) -> None: ...

class GetMetricsRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class SessionMetricsView(_message.Message):
    __slots__ = ("session_id", "provider", "status", "routing", "metrics")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ROUTING_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    provider: str
    status: str
    routing: _common_pb2.RoutingDecision
    metrics: SessionMetrics
    def __init__(self, session_id: _Optional[str] = ..., provider: _Optional[str] = ..., status: _Optional[str] = ..., routing: _Optional[_Union[_common_pb2.RoutingDecision, _Mapping]] = ..., metrics: _Optional[_Union[SessionMetrics, _Mapping]] = ...) -> None: ...

class PauseSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class ResumeSessionRequest(_message.Message):
    __slots__ = ("session_id", "compute", "target_compute_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    TARGET_COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    compute: _struct_pb2.Value
    target_compute_id: str
    def __init__(self, session_id: _Optional[str] = ..., compute: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., target_compute_id: _Optional[str] = ...) -> None: ...

class SpawnSessionRequest(_message.Message):
    __slots__ = ("session_id", "task", "session_name", "target_compute_id", "compute", "requirements")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    SESSION_NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    task: str
    session_name: str
    target_compute_id: str
    compute: _struct_pb2.Value
    requirements: _common_pb2.Requirements
    def __init__(self, session_id: _Optional[str] = ..., task: _Optional[str] = ..., session_name: _Optional[str] = ..., target_compute_id: _Optional[str] = ..., compute: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., requirements: _Optional[_Union[_common_pb2.Requirements, _Mapping]] = ...) -> None: ...

class SwapComputeRequest(_message.Message):
    __slots__ = ("session_id", "compute")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    compute: _struct_pb2.Value
    def __init__(self, session_id: _Optional[str] = ..., compute: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class TerminateSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class WriteSessionFileRequest(_message.Message):
    __slots__ = ("session_id", "path", "content", "encoding")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    path: str
    content: str
    encoding: str
    def __init__(self, session_id: _Optional[str] = ..., path: _Optional[str] = ..., content: _Optional[str] = ..., encoding: _Optional[str] = ...) -> None: ...

class SessionFileRequest(_message.Message):
    __slots__ = ("session_id", "path", "encoding")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    path: str
    encoding: str
    def __init__(self, session_id: _Optional[str] = ..., path: _Optional[str] = ..., encoding: _Optional[str] = ...) -> None: ...

class ResolvePreviewRequest(_message.Message):
    __slots__ = ("label",)
    LABEL_FIELD_NUMBER: _ClassVar[int]
    label: str
    def __init__(self, label: _Optional[str] = ...) -> None: ...

class PreviewTarget(_message.Message):
    __slots__ = ("session_id", "sandbox_id", "node_preview_address", "port")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_PREVIEW_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    sandbox_id: str
    node_preview_address: str
    port: int
    def __init__(self, session_id: _Optional[str] = ..., sandbox_id: _Optional[str] = ..., node_preview_address: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class UploadSessionFileRequest(_message.Message):
    __slots__ = ("session_id", "path", "file")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    path: str
    file: _httpbody_pb2.HttpBody
    def __init__(self, session_id: _Optional[str] = ..., path: _Optional[str] = ..., file: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class DownloadSessionFileRequest(_message.Message):
    __slots__ = ("session_id", "path")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    path: str
    def __init__(self, session_id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class ListSessionFilesRequest(_message.Message):
    __slots__ = ("session_id", "path")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    path: str
    def __init__(self, session_id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...
