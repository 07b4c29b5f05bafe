"""Domain errors as gRPC statuses with typed details. Services raise these;
the server bootstrap turns them into the RPC's status, and the edges turn the
status into HTTP (the only place that knows about HTTP)."""
import grpc
from google.protobuf import message as pb_message
from google.protobuf import symbol_database
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


class ServiceError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str, *details: pb_message.Message):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def to_proto(self) -> status_pb2.Status:
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        for detail in self.details:
            status.details.add().Pack(detail)
        return status

    def to_status(self) -> grpc.Status:
        return rpc_status.to_status(self.to_proto())


def invalid(message: str, field: str = "") -> ServiceError:
    detail = error_details_pb2.BadRequest()
    if field:
        detail.field_violations.add(field=field, description=message)
    return ServiceError(grpc.StatusCode.INVALID_ARGUMENT, message, *([detail] if field else []))


def not_found(kind: str, ident: str) -> ServiceError:
    info = error_details_pb2.ResourceInfo(resource_type=kind, resource_name=ident)
    return ServiceError(grpc.StatusCode.NOT_FOUND, f"{kind} {ident!r} not found", info)


def conflict(message: str, *details: pb_message.Message) -> ServiceError:
    """The resource is in a state that refuses the call (HTTP 409)."""
    return ServiceError(grpc.StatusCode.ABORTED, message, *details)


def unauthenticated(message: str = "missing or invalid API key") -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAUTHENTICATED, message)


KEY_EXPIRED = "API_KEY_EXPIRED"


def key_expired(message: str) -> ServiceError:
    """A 401 that says why: the key was good, and its time is up."""
    return ServiceError(grpc.StatusCode.UNAUTHENTICATED, message,
                        error_details_pb2.ErrorInfo(reason=KEY_EXPIRED, domain="cerver"))


def has_reason(error: ServiceError, reason: str) -> bool:
    return any(isinstance(d, error_details_pb2.ErrorInfo) and d.reason == reason for d in error.details)


def permission_denied(message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.PERMISSION_DENIED, message)


def unavailable(message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAVAILABLE, message)


def exhausted(message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, message)


def quota(name: str, limit: int, description: str, retry_after_s: int = 30) -> ServiceError:
    """An account is over one of its quotas (HTTP 429 with Retry-After); the
    QuotaFailure names the quota, RetryInfo says when to try again."""
    failure = error_details_pb2.QuotaFailure()
    failure.violations.add(subject=name, description=f"{description} (limit {limit})")
    retry = error_details_pb2.RetryInfo()
    retry.retry_delay.seconds = retry_after_s
    return ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"quota {name} exceeded: {description} (limit {limit})",
                        failure, retry)


# What a caller reads for an error gRPC itself raised (no service answered):
# its own text names internal addresses and ports.
TRANSPORT_MESSAGES = {
    grpc.StatusCode.UNAVAILABLE: "a Cerver service is unavailable; try again shortly",
    grpc.StatusCode.DEADLINE_EXCEEDED: "a Cerver service did not answer in time",
    grpc.StatusCode.CANCELLED: "the call was cancelled",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "a message was larger than a Cerver service accepts",
}


def describe(err: grpc.aio.AioRpcError) -> str:
    """A peer's error message, fit for a caller: a service's own words, or,
    for an error of the transport, a plain sentence without its addresses."""
    if rpc_status.from_call(err) is not None:
        return err.details() or err.code().name
    return TRANSPORT_MESSAGES.get(err.code(), "internal error")


_CODES = {code.value[0]: code for code in grpc.StatusCode}


def code_of(number: int) -> grpc.StatusCode:
    """The gRPC code a google.rpc.Status's number names (UNKNOWN if none)."""
    return _CODES.get(number, grpc.StatusCode.UNKNOWN)


def from_rpc_error(err: grpc.aio.AioRpcError) -> ServiceError:
    """Re-raise a peer's error unchanged (status, message and details)."""
    status = rpc_status.from_call(err)
    code = err.code()
    if status is None:
        return ServiceError(code, describe(err))
    error = ServiceError(code, status.message)
    error.details = tuple(_unpack(d) for d in status.details)
    return error


def _unpack(any_detail):
    msg_cls = symbol_database.Default().GetSymbol(any_detail.TypeName())
    msg = msg_cls()
    any_detail.Unpack(msg)
    return msg

