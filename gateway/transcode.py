"""JSON ⇄ protobuf for the edge, with the options the Envoy config sets:
proto field names, fields without presence always printed, unknown JSON
fields and unknown query parameters rejected."""
import json

from google.protobuf import descriptor, json_format
from google.protobuf.message import Message
from google.rpc import status_pb2

FD = descriptor.FieldDescriptor
HTTP_STATUS = {  # gRPC code -> HTTP, the grpc-gateway / Envoy table
    0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429,
    9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
}


class BadRequest(Exception):
    """The HTTP request cannot become the RPC's request message."""

    def __init__(self, message: str, http_status: int = 400, code: int = 3):
        super().__init__(message)
        self.http_status = http_status
        self.code = code


def to_json(message: Message, pool) -> bytes:
    data = json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True, descriptor_pool=pool)
    return json.dumps(_in_field_order(message.DESCRIPTOR, data), separators=(",", ":"), ensure_ascii=False).encode()


def _in_field_order(desc, data):
    """Keys in field-number order, as Envoy's printer writes them (Python's
    puts fields left at their defaults last)."""
    if not isinstance(data, dict) or desc.full_name.startswith("google.protobuf."):
        return data
    out = {}
    for field in desc.fields:
        if field.name not in data:
            continue
        value = data[field.name]
        sub = field.message_type
        if sub is not None and not sub.GetOptions().map_entry:
            value = [_in_field_order(sub, v) for v in value] if field.is_repeated else _in_field_order(sub, value)
        out[field.name] = value
    for key, value in data.items():  # "@type" of an Any, and anything not a field
        out.setdefault(key, value)
    return out


def status_json(code: int, message: str, details=(), pool=None) -> bytes:
    status = status_pb2.Status(code=code, message=message)
    status.details.extend(details)
    return to_json(status, pool)


def build_request(route, path_vars: dict[str, str], query: list[tuple[str, str]], body: bytes, pool,
                  content_type: str = "") -> Message:
    request = route.request_class()()
    if route.raw_body:
        http_body = _field_message(request, route.body)
        http_body.content_type, http_body.data = content_type, body
    elif route.body:
        target = request if route.body == "*" else _field_message(request, route.body)
        try:
            data = json.loads(body.decode("utf-8", errors="strict")) if body.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"invalid JSON body: {_clean(exc)}") from None
        _check_types(target.DESCRIPTOR, data, route.body if route.body != "*" else "")
        try:
            json_format.ParseDict(data, target, ignore_unknown_fields=False, descriptor_pool=pool)
        except json_format.ParseError as exc:
            raise BadRequest(f"invalid JSON body: {_clean(exc)}") from None
    if route.body != "*":
        for name, value in query:
            _set_path(request, name, value, query_param=True)
    for name, value in path_vars.items():
        _set_path(request, name, value, query_param=False)
    return request


_NUMBERS = {FD.TYPE_DOUBLE, FD.TYPE_FLOAT, FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32, FD.TYPE_UINT32,
            FD.TYPE_FIXED32}


def _check_types(desc, data, where: str) -> None:
    """JSON types as the document states them. Proto3's JSON parser is
    lenient where the document is not: it reads `false` and `"1.5"` as
    numbers; a client that sends them has a bug we should tell it about."""
    if not isinstance(data, dict):
        raise BadRequest(f"invalid JSON body: {where or 'the body'} must be a JSON object")
    for name, value in data.items():
        field = desc.fields_by_name.get(name)
        if field is None or value is None:
            continue  # json_format names unknown fields; null is "unset"
        label = f"{where}.{name}" if where else name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_value(field.message_type.fields_by_name["value"], item, f"{label}.{key}")
        elif field.is_repeated:
            if isinstance(value, list):
                for i, item in enumerate(value):
                    _check_value(field, item, f"{label}[{i}]")
        else:
            _check_value(field, value, label)


def _check_value(field, value, label: str) -> None:
    if field.message_type is not None:
        if not field.message_type.full_name.startswith("google.protobuf."):
            _check_types(field.message_type, value, label)
    elif field.type in _NUMBERS and (isinstance(value, (bool, str))):
        raise BadRequest(f"invalid JSON body: {label} must be a JSON number")


def _clean(exc: Exception) -> str:
    return str(exc).replace("Failed to parse ", "").strip() or exc.__class__.__name__


def _field_message(msg: Message, dotted: str) -> Message:
    for name in dotted.split("."):
        msg = getattr(msg, name)
    return msg


def _set_path(msg: Message, dotted: str, raw: str, query_param: bool) -> None:
    names = dotted.split(".")
    for name in names[:-1]:
        field = msg.DESCRIPTOR.fields_by_name.get(name)
        if field is None or field.message_type is None:
            raise BadRequest(f"unknown query parameter {dotted!r}")
        msg = getattr(msg, name)
    field = msg.DESCRIPTOR.fields_by_name.get(names[-1])
    if field is None or (field.message_type is not None and not _is_wrapper(field)):
        raise BadRequest(f"unknown query parameter {dotted!r}" if query_param else f"bad path variable {dotted!r}")
    value = _scalar(field, raw, dotted)
    if field.is_repeated:
        getattr(msg, field.name).append(value)
    elif _is_wrapper(field):
        getattr(msg, field.name).value = value
    else:
        setattr(msg, field.name, value)


def _is_wrapper(field) -> bool:
    return field.message_type is not None and field.message_type.full_name.startswith("google.protobuf.") \
        and field.message_type.full_name.endswith("Value") and "value" in field.message_type.fields_by_name


_INT_RANGES = {**dict.fromkeys((FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32), (-2**31, 2**31)),
               **dict.fromkeys((FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64), (-2**63, 2**63)),
               **dict.fromkeys((FD.TYPE_UINT32, FD.TYPE_FIXED32), (0, 2**32)),
               **dict.fromkeys((FD.TYPE_UINT64, FD.TYPE_FIXED64), (0, 2**64))}


def _scalar(field, raw: str, name: str):
    if field.message_type is not None:
        field = field.message_type.fields_by_name["value"]
    t = field.type
    try:
        if t in (FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_SINT32, FD.TYPE_SINT64, FD.TYPE_SFIXED32,
                 FD.TYPE_SFIXED64, FD.TYPE_UINT32, FD.TYPE_UINT64, FD.TYPE_FIXED32, FD.TYPE_FIXED64):
            value = int(raw)
            low, high = _INT_RANGES[t]
            if not low <= value < high:
                raise ValueError
            return value
        if t in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
            return float(raw)
        if t == FD.TYPE_BOOL:
            lowered = raw.lower()
            if lowered in ("true", "1", "t", "yes", "y"):
                return True
            if lowered in ("false", "0", "f", "no", "n"):
                return False
            raise ValueError
        if t == FD.TYPE_ENUM:
            value = field.enum_type.values_by_name.get(raw)
            if value is None:
                raise ValueError
            return value.number
        if t == FD.TYPE_BYTES:
            return raw.encode()
        return raw
    except ValueError:
        raise BadRequest(f"invalid value {raw!r} for {name}") from None
