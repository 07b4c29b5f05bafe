"""JSON ⇄ protobuf for the edge, as Envoy's transcoder does it with the
options gateway/envoy.yaml sets: proto field names, fields without presence
always printed, unknown JSON fields and unknown query parameters rejected, a
binding that disagrees with the body rejected; printed byte for byte as
protobuf's C++ printer prints (tests/test_parity.py holds the two equal)."""
import json
import re
import secrets
import urllib.parse

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
    text = json.dumps(_in_field_order(message.DESCRIPTOR, data), separators=(",", ":"), ensure_ascii=False)
    if _RAW_PREFIX[1:] in text:
        text = _RAW_NUMBER.sub(r"\1", text)
    return _CPP_ESCAPED.sub(_u_escape, text).encode()


# protobuf's C++ printer (json/internal/writer.cc, which Envoy's transcoder
# prints with) escapes more than JSON requires: these, as \uXXXX. Python's
# json escapes the rest alike (quote, backslash, \b\f\n\r\t, other controls).
# Only inside strings can they occur, so the whole text is searched.
_CPP_ESCAPED = re.compile("[<>\x7f-\x9f\u00ad\u0600-\u0603\u06dd\u070f\u17b4\u17b5\u200b-\u200f\u2028-\u202e"
                          "\u2060-\u2064\u206a-\u206f\ufeff\ufff9-\ufffb\U0001d173-\U0001d17a\U000e0001"
                          "\U000e0020-\U000e007f]")


def _u_escape(match: re.Match) -> str:
    point = ord(match.group())
    if point < 0x10000:
        return f"\\u{point:04x}"
    point -= 0x10000
    return f"\\u{0xd800 + (point >> 10):04x}\\u{0xdc00 + (point & 0x3ff):04x}"


def cpp_double(value: float) -> str:
    """A double as protobuf's C++ printer writes it (io::SimpleDtoa): 15
    significant digits if they read back exactly, else 17."""
    text = "%.15g" % value
    return text if float(text) == value else "%.17g" % value


# A double whose C++ text Python's json would not write is carried as a
# marked string and unquoted afterwards; the mark is this process's secret,
# so no string a caller or a sandbox writes can be taken for one.
_RAW_PREFIX = "\x00" + secrets.token_hex(8)
_RAW_NUMBER = re.compile(r'"\\u0000' + _RAW_PREFIX[1:] + r'([-+.e0-9]+)"')


def _number(value: float):
    if value != value or value in (float("inf"), float("-inf")):
        return value
    text = cpp_double(value)
    if text == repr(value):
        return value
    if text.lstrip("-").isdigit():
        return int(text)
    return _RAW_PREFIX + text


def _numbers(data):
    """Every double in a google.protobuf value (Struct, Value, wrappers)."""
    if isinstance(data, float):
        return _number(data)
    if isinstance(data, dict):
        return {k: _numbers(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_numbers(v) for v in data]
    return data


def _in_field_order(desc, data):
    """Keys in field-number order, as Envoy's printer writes them (Python's
    puts fields left at their defaults last), doubles as it writes them."""
    if not isinstance(data, dict) or desc.full_name.startswith("google.protobuf."):
        return _numbers(data)
    out = {}
    for field in desc.fields:
        if field.name not in data:
            continue
        value = data[field.name]
        sub = field.message_type
        if sub is not None and not sub.GetOptions().map_entry:
            value = [_in_field_order(sub, v) for v in value] if field.is_repeated else _in_field_order(sub, value)
        elif field.type in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT) or sub is not None:
            value = _numbers(value)
        out[field.name] = value
    for key, value in data.items():  # "@type" of an Any, and anything not a field
        out.setdefault(key, value)
    return out


def status_json(code: int, message: str, details=(), pool=None) -> bytes:
    status = status_pb2.Status(code=code, message=message)
    status.details.extend(details)
    return to_json(status, pool)


def query_bindings(raw_query: str) -> list[tuple[str, str]]:
    """The query string as Envoy's transcoder reads it: name=value pairs
    split on & (a pair without a name or an = is skipped), values fully
    percent-decoded and a + kept as a + (query_param_unescape_plus: false)."""
    out = []
    for pair in raw_query.split("&"):
        name, eq, value = pair.partition("=")
        if name and eq:
            try:
                out.append((name, urllib.parse.unquote_to_bytes(value).decode("utf-8")))
            except UnicodeDecodeError:
                raise BadRequest(f"query parameter {name[:100]!r} is not UTF-8") from None
    return out


_RESERVED = frozenset(b"!#$&'()*+,/:;=?@[]")  # RFC 6570, as the transcoder's UrlUnescapeSpec names them
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")


def path_value(raw: str, multi_segment: bool) -> str:
    """A path variable's value as the transcoder binds it: one segment fully
    percent-decoded (so %2F is a /), several (`**`) decoded except the
    reserved characters (url_unescape_spec ALL_CHARACTERS_EXCEPT_RESERVED)."""
    if not multi_segment:
        decoded = urllib.parse.unquote_to_bytes(raw)
    else:
        decoded = _ESCAPE.sub(lambda m: m.group() if int(m.group(1), 16) in _RESERVED
                              else bytes([int(m.group(1), 16)]), raw.encode())
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("a path variable is not UTF-8") from None


def build_request(route, path_vars: dict[str, str], query: list[tuple[str, str]], body: bytes, pool,
                  content_type: str = "") -> Message:
    """The RPC's request: the body (all of it, or the field `body` names),
    then the bindings (path variables, then query parameters), each of which
    must agree with the body where both set a field (Envoy's
    reject_binding_body_field_collisions)."""
    request = route.request_class()()
    in_body = None  # the body's JSON object, and where in the request it lands
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
        in_body = ([] if route.body == "*" else route.body.split("."), data)
    for name, value in path_vars.items():
        _bind(request, name, value, False, in_body)
    for name, value in query:
        _bind(request, name, value, True, in_body)
    return request


def _find_field(desc, name: str):
    """A field by its proto name or its JSON (lowerCamel) name, as the
    transcoder's type resolver finds it; a percent-encoded name decoded."""
    for candidate in (name, urllib.parse.unquote(name)):
        field = desc.fields_by_name.get(candidate) or next(
            (f for f in desc.fields if f.json_name == candidate), None)
        if field is not None:
            return field
    return None


def _bind(msg: Message, dotted: str, raw: str, query_param: bool, in_body) -> None:
    kind = "query parameter" if query_param else "path variable"
    fields = []
    desc = msg.DESCRIPTOR
    for part in dotted.split("."):
        field = _find_field(desc, part) if desc is not None else None
        if field is None:
            raise BadRequest(f"unknown {kind} {dotted[:100]!r}")
        fields.append(field)
        desc = field.message_type
    leaf = fields[-1]
    if leaf.message_type is not None and not _is_wrapper(leaf):
        raise BadRequest(f"unknown {kind} {dotted[:100]!r}")
    for field in fields[:-1]:
        if field.message_type is None or field.is_repeated:
            raise BadRequest(f"unknown {kind} {dotted[:100]!r}")
        msg = getattr(msg, field.name)
    value = _scalar(leaf, raw, dotted)
    if in_body is not None and _in_json(in_body, fields):
        current = getattr(msg, leaf.name)
        current = current.value if _is_wrapper(leaf) and not leaf.is_repeated else current
        if leaf.is_repeated or current != value:
            raise BadRequest(f"the {kind} {dotted[:100]!r} ({raw[:100]!r}) conflicts with the body's value of it")
        return
    if leaf.is_repeated:
        getattr(msg, leaf.name).append(value)
    elif _is_wrapper(leaf):
        getattr(msg, leaf.name).value = value
    else:
        setattr(msg, leaf.name, value)


def _in_json(in_body, fields) -> bool:
    """Whether the body's JSON sets the field at this path (by either name)."""
    prefix, data = in_body
    if [f.name for f in fields[:len(prefix)]] != prefix:
        return False
    for field in fields[len(prefix):]:
        if not isinstance(data, dict):
            return False
        value = data.get(field.name, data.get(field.json_name))
        if value is None:
            return False
        data = value
    return True


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
