"""`GET /` and `GET /v2/docs`: the API index and an OpenAPI 3 document, both
generated from the routes and descriptors (comments included)."""
import copy

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FieldDescriptor as FD

from cerver.v2 import options_pb2
from gateway.routes import Route
from servicekit import rules

_SCALARS = {
    FD.TYPE_DOUBLE: {"type": "number"}, FD.TYPE_FLOAT: {"type": "number"},
    FD.TYPE_INT32: {"type": "integer", "format": "int32"}, FD.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FD.TYPE_UINT32: {"type": "integer", "format": "int32"}, FD.TYPE_FIXED32: {"type": "integer"},
    FD.TYPE_SFIXED32: {"type": "integer"},
    # proto3 JSON prints 64-bit integers as strings, and reads either.
    **{t: {"type": ["string", "integer"], "format": "int64", "pattern": "^-?[0-9]+$"}
       for t in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_UINT64, FD.TYPE_FIXED64, FD.TYPE_SFIXED64)},
    FD.TYPE_BOOL: {"type": "boolean"}, FD.TYPE_STRING: {"type": "string"},
    FD.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}
# Every request string but those annotated allow_nul refuses NUL
# (servicekit.rules); a pattern of its own says so itself.
NO_NUL = "^[^\\u0000]*$"
_WELL_KNOWN = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {"description": "Any JSON value (null included)."},
    "google.protobuf.Any": {"type": "object"},
}


def method_comments(files: descriptor_pb2.FileDescriptorSet) -> dict[str, str]:
    """Leading comments of every RPC, by method full name, from source info."""
    out = {}
    for f in files.file:
        where = {tuple(loc.path): loc.leading_comments for loc in f.source_code_info.location}
        for i, service in enumerate(f.service):
            for j, method in enumerate(service.method):
                text = " ".join(where.get((6, i, 2, j), "").split())
                out[f"{f.package}.{service.name}.{method.name}"] = text
    return out


def _schema(field, refs: dict) -> dict:
    if field.message_type is not None:
        if field.message_type.GetOptions().map_entry:
            value = _constrained(field.message_type.fields_by_name["value"],
                                 _single(field.message_type.fields_by_name["value"], refs))
            schema = {"type": "object", "additionalProperties": value,
                      "propertyNames": {"pattern": _key_pattern(field)}}
            if rules.required(field):  # at least one entry, none of them empty
                schema["minProperties"] = 1
                if value.get("type") == "string":
                    value["minLength"] = 1
            return schema
    single = _constrained(field, _single(field, refs))
    if field.is_repeated:
        schema = {"type": "array", "items": single}
        found = rules.field_rules(field)
        if found is not None and found.HasField("max_length"):
            schema["maxItems"] = found.max_length
        if rules.required(field):
            schema["minItems"] = 1
        return schema
    return single


def _key_pattern(field) -> str:
    found = rules.field_rules(field)
    return f"^(?:{found.key_pattern})$" if found is not None and found.key_pattern else NO_NUL


def _nullable(schema: dict) -> dict:
    """Proto3 JSON reads null as "unset": the edges accept it for any field."""
    if {"type": "null"} in schema.get("anyOf", ()):
        return schema
    if "$ref" in schema or "anyOf" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    if "type" not in schema:
        return schema  # any JSON value, null included
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    out = {**schema, "type": [*types, "null"]}
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _constrained(field, schema: dict) -> dict:
    """A field's annotations (servicekit.rules) as JSON Schema."""
    found = rules.field_rules(field)
    needed = rules.required(field)
    if found is not None:
        if found.one_of:
            schema["enum"] = [v for v in found.one_of if v or not needed]
        if found.HasField("minimum"):
            schema["minimum"] = found.minimum
        if found.HasField("maximum"):
            schema["maximum"] = found.maximum
        if found.HasField("max_length") and not field.is_repeated:
            schema["maxLength"] = found.max_length
        if found.pattern:  # "" is unset, and accepted, where a field is optional
            schema["pattern"] = f"^(?:{found.pattern})$" if needed or field.is_repeated else \
                f"^(?:{found.pattern})?$"
    if field.type == FD.TYPE_STRING and "enum" not in schema:
        if needed:
            schema.setdefault("minLength", 1)
        if not (found is not None and found.allow_nul):
            schema.setdefault("pattern", NO_NUL)
    if found is not None and found.value_message:
        schema = _value_schema(field.file.pool.FindMessageTypeByName(found.value_message))
    return schema


def _value_schema(message) -> dict:
    """options.proto value_message: null, a non-empty string, or an object of
    the message with at least one field set."""
    text = {"type": "string", "minLength": 1, "pattern": NO_NUL}
    return {"anyOf": [{"type": "null"}, text, {
        "type": "object", "properties": {f.name: {"type": "string", "pattern": NO_NUL} for f in message.fields},
        "additionalProperties": False,
        "anyOf": [{"required": [f.name], "properties": {f.name: text}} for f in message.fields]}]}


def _single(field, refs: dict) -> dict:
    if field.message_type is not None:
        name = field.message_type.full_name
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        _component(field.message_type, refs)
        return {"$ref": f"#/components/schemas/{name}"}
    if field.enum_type is not None:
        return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
    return dict(_SCALARS[field.type])


def _component(message, refs: dict) -> None:
    if message.full_name in refs:
        return
    refs[message.full_name] = {}  # placeholder breaks recursion
    properties = {}
    for f in message.fields:
        properties[f.name] = _schema(f, refs)
        if not rules.required(f):
            properties[f.name] = _nullable(properties[f.name])
    schema = {"type": "object", "properties": properties,
              "additionalProperties": False}  # the edges refuse fields a message does not have
    needed = [f.name for f in message.fields if rules.required(f)]
    if needed:
        schema["required"] = needed
    conditions = [_condition(message, rule) for rule in rules.conditions(message)]
    if conditions:
        schema["allOf"] = conditions
    refs[message.full_name] = schema


def _condition(message, rule) -> dict:
    """options.proto `when`: the field differs from those values, or the
    fields it requires are set and those it forbids are not."""
    then = {"properties": {**{name: _set_schema(message.fields_by_name[name]) for name in rule.requires},
                           **{name: _unset_schema(message.fields_by_name[name]) for name in rule.forbids},
                           **{name: {"pattern": f"^(?:{pattern})$"} for name, pattern in rule.matches.items()}}}
    if rule.keys_of:  # a map's keys: those required, with values, and no others
        then["properties"][rule.keys_of] = {
            "type": "object", "required": list(rule.keys_required), "additionalProperties": False,
            "properties": {k: {"type": "string", "minLength": 1} for k in [*rule.keys_required, *rule.keys_allowed]}}
    if rule.requires:
        then["required"] = list(rule.requires)
    values = list(rule.equals)
    differs = {"properties": {rule.field: {"not": {"enum": values}}}}
    if "" in values:  # the default: a field left out, or null (proto3 JSON's unset), equals it too
        differs = {"required": [rule.field], "properties": {rule.field: {"not": {"enum": [*values, None]}}}}
    return {"anyOf": [differs, then]}


def _unset_schema(field) -> dict:
    return {"enum": ["", None]} if field.type == FD.TYPE_STRING else {"type": "null"}


def _set_schema(field) -> dict:
    """What a set value of a field looks like (a proto3 default reads as unset)."""
    if field.type == FD.TYPE_STRING:
        return {"type": "string", "minLength": 1}
    if field.is_repeated:
        return {"type": "array", "minItems": 1}
    return {"not": {"type": "null"}}


def _field(message, dotted: str):
    for name in dotted.split("."):
        field = message.fields_by_name[name]
        message = field.message_type
    return field


def route_fields(route: Route) -> set[str]:
    return {s.field for s in route.segments if s.field}


def _body_schema(route: Route, refs: dict) -> dict:
    """The body's schema: its message, less the fields the path binds (a
    body that names them too must agree with the path, so it need not)."""
    name = route.method.input_type.full_name
    bound = route_fields(route) if route.body == "*" else set()
    if not bound:
        return {"$ref": f"#/components/schemas/{name}"}
    schema = copy.deepcopy(refs[name])
    for field in bound:
        schema.get("properties", {}).pop(field, None)
    if "required" in schema:
        schema["required"] = [f for f in schema["required"] if f not in bound]
    return schema


def document(routes: list[Route], comments: dict[str, str], bounds: dict[str, tuple] | None = None) -> dict:
    """`bounds`: a deployment's own ranges ("message.field" -> (minimum,
    maximum)), for fields whose range is configured rather than contractual."""
    refs: dict = {}
    paths: dict = {}
    for route in routes:
        path = "/" + "/".join(f"{{{s.field}}}" if s.field else s.literal for s in route.segments)
        method = route.method
        op = {
            "operationId": f"{method.containing_service.name}_{method.name}" + (
                "" if route.template.startswith("/v2") else "_gateway"),
            "summary": comments.get(method.full_name) or method.name,
            "tags": [method.containing_service.name],
            "parameters": [{"name": s.field, "in": "path", "required": True,
                            "schema": {**_schema(_field(method.input_type, s.field), refs), "minLength": 1}}
                           for s in route.segments if s.field],
            "responses": {"200": {"description": "OK"}, "default": {
                "description": "A google.rpc.Status", "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/google.rpc.Status"}}}}},
        }
        _component(method.input_type, refs)
        _component(method.output_type, refs)
        out_ref = {"$ref": f"#/components/schemas/{method.output_type.full_name}"}
        if route.raw_response:
            op["responses"]["200"]["content"] = {"application/octet-stream": {"schema": {
                "type": "string", "format": "binary"}}}
            op["responses"]["200"]["description"] = "The bytes, streamed as they are read"
        elif route.server_streaming:
            # Each event's data: a message (a stream that fails once begun ends
            # with one of type "error"), or, when the edge itself loses the
            # stream, an `event: error` whose data is a google.rpc.Status.
            op["responses"]["200"]["content"] = {"text/event-stream": {"schema": {"oneOf": [
                out_ref, {"$ref": "#/components/schemas/google.rpc.Status"}]}}}
            op["responses"]["200"]["description"] = "Server-sent events, one `data:` JSON message each"
        else:
            op["responses"]["200"]["content"] = {"application/json": {"schema": out_ref}}
        if route.raw_body:
            op["requestBody"] = {"required": True, "content": {"*/*": {"schema": {"type": "string",
                                                                                  "format": "binary"}}}}
        elif route.body:
            op["requestBody"] = {"content": {"application/json": {"schema": _body_schema(route, refs)}}}
            if any(rules.required(f) for f in method.input_type.fields if f.name not in route_fields(route)) \
                    or any("" in rule.equals and rule.requires for rule in rules.conditions(method.input_type)):
                # (a `when` on a field's default requires something even of an empty body)
                op["requestBody"]["required"] = True
        if not route.body or route.body != "*":
            bound = {s.field for s in route.segments if s.field}
            for field in method.input_type.fields:
                if field.name not in bound and field.message_type is None:
                    op["parameters"].append({"name": field.name, "in": "query", "schema": _schema(field, refs),
                                             **({"required": True} if rules.required(field) else {})})
        if rules.access(method) == options_pb2.ACCESS_PUBLIC:
            op["security"] = []  # no key: the caller is getting one
        paths.setdefault(path, {})[route.verb.lower()] = op
    for name, (low, high) in (bounds or {}).items():
        message, field = name.rsplit(".", 1)
        refs[message]["properties"][field].update(minimum=low, maximum=high)
    refs["google.rpc.Status"] = {"type": "object", "properties": {
        "code": {"type": "integer"}, "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Cerver API", "version": "v2",
                 "description": "Sessions as memory, pluggable compute. Authenticate with "
                                "`Authorization: Bearer ck_…` (get a key from POST /v2/auth/login or the device flow)."},
        "components": {"schemas": refs, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }


def index(routes: list[Route], comments: dict[str, str]) -> dict:
    return {
        "name": "Cerver",
        "description": "Execution gateway for AI agents: sessions as memory, pluggable compute.",
        "version": "v2",
        "docs": "/v2/docs",
        "auth": "Authorization: Bearer ck_…",
        "endpoints": [{"method": r.verb, "path": r.template, "rpc": r.grpc_path.lstrip("/"),
                       "stream": r.server_streaming, "summary": comments.get(r.method.full_name, "")} for r in routes],
    }
