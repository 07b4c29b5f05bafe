"""What a contract accepts, read from its annotations (proto/cerver/v2/options.proto
and google.api.field_behavior), enforced on every request by the guard and
documented by the edges, so that /v2/docs and the services never disagree."""
import functools
import re

import grpc
from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.rpc import error_details_pb2

from cerver.v2 import options_pb2
from servicekit import errors

REQUIRED = field_behavior_pb2.REQUIRED


def access(method: MethodDescriptor) -> int:
    options = method.GetOptions()
    return options.Extensions[options_pb2.access] if options.HasExtension(options_pb2.access) else 0


def required(field: FieldDescriptor) -> bool:
    return REQUIRED in field.GetOptions().Extensions[field_behavior_pb2.field_behavior]


def field_rules(field: FieldDescriptor) -> options_pb2.FieldRules | None:
    options = field.GetOptions()
    return options.Extensions[options_pb2.rules] if options.HasExtension(options_pb2.rules) else None


def conditions(message: Descriptor) -> list:
    options = message.GetOptions()
    return list(options.Extensions[options_pb2.when])


def is_set(message, field: FieldDescriptor) -> bool:
    """Set as a caller means it: a null Value is no value."""
    if field.is_repeated:
        return len(getattr(message, field.name)) > 0
    if field.has_presence:
        if not message.HasField(field.name):
            return False
        value = getattr(message, field.name)
        return not (field.message_type is not None and field.message_type.full_name == "google.protobuf.Value"
                    and value.WhichOneof("kind") == "null_value")
    return getattr(message, field.name) != field.default_value


@functools.lru_cache(maxsize=None)
def _plan(message: Descriptor) -> tuple:
    """The fields of a message type that carry something to check."""
    plan = []
    for field in message.fields:
        rules, needed = field_rules(field), required(field)
        nested = field.message_type is not None and not field.message_type.full_name.startswith("google.") \
            and not field.message_type.GetOptions().map_entry
        text = field.type == FieldDescriptor.TYPE_STRING or (
            field.message_type is not None and field.message_type.GetOptions().map_entry)
        if rules or needed or nested or text:
            plan.append((field, needed, rules, re.compile(rules.pattern) if rules and rules.pattern else None, nested))
    return tuple(plan)


@functools.lru_cache(maxsize=None)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _has_nul(field: FieldDescriptor, value) -> bool:
    """NUL in a string, or in a map's keys or string values (stores and
    processes refuse it: PostgreSQL text, argv, environment, paths)."""
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return any("\0" in k or (isinstance(v, str) and "\0" in v) for k, v in value.items())
    if field.is_repeated:
        return any(isinstance(v, str) and "\0" in v for v in value)
    return isinstance(value, str) and "\0" in value


def violations(message, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for rule in conditions(message.DESCRIPTOR):
        out += _condition(message, rule, prefix)
    for field, needed, rules, pattern, nested in _plan(message.DESCRIPTOR):
        name = prefix + field.name
        value = getattr(message, field.name)
        present = len(value) > 0 if field.is_repeated else (
            message.HasField(field.name) if field.has_presence else value != field.default_value)
        if not present:
            if needed:
                out.append((name, f"{name} is required"))
            continue
        if nested:
            for i, item in enumerate(value if field.is_repeated else [value]):
                out += violations(item, f"{name}[{i}]." if field.is_repeated else f"{name}.")
        elif not (rules and rules.allow_nul) and _has_nul(field, value):
            out.append((name, f"{name} must not contain NUL characters"))
            continue
        if rules is None:
            continue
        values = list(value) if field.is_repeated else [value]
        if rules.HasField("max_length") and field.is_repeated and len(values) > rules.max_length:
            out.append((name, f"{name} holds at most {rules.max_length} items"))
        if rules.key_pattern and not all(_compiled(rules.key_pattern).fullmatch(k) for k in value):
            out.append((name, f"{name} keys must be {rules.key_pattern_means or 'of the documented form'}"))
        if rules.value_message:
            out += _value_of(name, value, field.file.pool.FindMessageTypeByName(rules.value_message))
        for item in values:
            out += _check(name, item, rules, pattern)
    return out


def _condition(message, rule: options_pb2.When, prefix: str) -> list[tuple[str, str]]:
    fields = message.DESCRIPTOR.fields_by_name
    if getattr(message, rule.field) not in rule.equals:
        return []
    value = getattr(message, rule.field)
    when = f"with {prefix}{rule.field} {value}" if value else f"without {prefix}{rule.field}"
    return [(prefix + name, f"{prefix}{name} is required {when}") for name in rule.requires
            if not is_set(message, fields[name])] + \
        [(prefix + name, f"{prefix}{name} must be unset {when}") for name in rule.forbids
         if is_set(message, fields[name])] + \
        [(prefix + name, f"{prefix}{name} must be {rule.matches_mean or 'of the documented form'} {when}")
         for name, pattern in rule.matches.items()
         if is_set(message, fields[name]) and not _compiled(pattern).fullmatch(getattr(message, name))] + \
        (_keys(getattr(message, rule.keys_of), rule, prefix + rule.keys_of, when) if rule.keys_of else [])


def _keys(mapping, rule: options_pb2.When, name: str, when: str) -> list[tuple[str, str]]:
    """A map's keys as the rule names them (names only: values may be secret)."""
    takes = ", ".join([*rule.keys_required, *rule.keys_allowed])
    missing = [k for k in rule.keys_required if not mapping.get(k)]
    unknown = sorted(set(mapping) - set(rule.keys_required) - set(rule.keys_allowed))
    out = []
    if missing:
        out.append((name, f"{name} takes {takes} {when}; missing: {', '.join(missing)}"))
    if unknown:
        out.append((name, f"{name} takes {takes} {when}; unknown: {', '.join(unknown)}"))
    empty = sorted(k for k in set(mapping) - set(missing) - set(unknown) if not mapping[k])
    if empty:
        out.append((name, f"{name} values must not be empty: {', '.join(empty)}"))
    return out


def _value_of(name: str, value, message: Descriptor) -> list[tuple[str, str]]:
    """A Value field that takes null, a non-empty string, or an object of
    one message with at least one field set (options.proto value_message)."""
    kind = value.WhichOneof("kind")
    if kind == "null_value" or (kind == "string_value" and value.string_value):
        return []
    fields = message.fields_by_name
    if kind == "struct_value" and value.struct_value.fields:
        given = value.struct_value.fields
        wrong = [k for k, v in given.items() if k not in fields or v.WhichOneof("kind") != "string_value"]
        if not wrong and any(v.string_value for v in given.values()):
            return []
    shape = " or ".join(f'{{"{f}": …}}' for f in fields)
    return [(name, f"{name} must be {shape}, a provider's name or null")]


def _check(name: str, value, rules: options_pb2.FieldRules, pattern) -> list[tuple[str, str]]:
    if isinstance(value, str):
        if rules.one_of and value not in rules.one_of:
            return [(name, f"{name} must be one of {', '.join(v for v in rules.one_of if v)}")]
        if rules.HasField("max_length") and len(value) > rules.max_length:
            return [(name, f"{name} is at most {rules.max_length} characters")]
        if pattern is not None and not pattern.fullmatch(value):
            return [(name, f"{name} must be {rules.pattern_means or 'of the documented form'}")]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        low = rules.minimum if rules.HasField("minimum") else None
        high = rules.maximum if rules.HasField("maximum") else None
        if (low is not None and value < low) or (high is not None and value > high):
            return [(name, f"{name} must be between {low:g} and {high:g}" if low is not None and high is not None
                     else f"{name} must be at least {low:g}" if low is not None else f"{name} is at most {high:g}")]
    return []


def check(message) -> None:
    """Refuse a request that breaks its contract's annotations (400, every violation listed)."""
    found = violations(message)
    if found:
        detail = error_details_pb2.BadRequest()
        for field, description in found:
            detail.field_violations.add(field=field, description=description)
        raise errors.ServiceError(grpc.StatusCode.INVALID_ARGUMENT, found[0][1], detail)
