"""HTTP routes read from the `google.api.http` annotations of a descriptor
set: no route is written by hand."""
import dataclasses
import pathlib
import re

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor

HTTP_BODY = "google.api.HttpBody"
_VAR = re.compile(r"^\{([a-zA-Z_][\w.]*)(?:=([^}]*))?\}$")


@dataclasses.dataclass(frozen=True)
class Segment:
    literal: str | None = None
    field: str | None = None
    rest: bool = False  # {field=**}: the remaining path


@dataclasses.dataclass
class Route:
    verb: str
    template: str
    segments: tuple[Segment, ...]
    body: str
    method: MethodDescriptor
    backend: str

    @property
    def grpc_path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def server_streaming(self) -> bool:
        return self.method.server_streaming

    @property
    def client_streaming(self) -> bool:
        return self.method.client_streaming

    @property
    def raw_body(self) -> bool:
        """The request body is the bytes of a google.api.HttpBody field, not JSON."""
        if self.body in ("", "*"):
            return False
        message = self.method.input_type
        for name in self.body.split("."):
            field = message.fields_by_name[name]
            message = field.message_type
        return message is not None and message.full_name == HTTP_BODY

    @property
    def raw_response(self) -> bool:
        """The response is google.api.HttpBody: its bytes, as they are, not JSON."""
        return self.method.output_type.full_name == HTTP_BODY

    def request_class(self):
        return message_factory.GetMessageClass(self.method.input_type)

    def response_class(self):
        return message_factory.GetMessageClass(self.method.output_type)

    @property
    def rest_fields(self) -> set[str]:
        """Variables that take the rest of the path (`{name=**}`)."""
        return {seg.field for seg in self.segments if seg.rest}

    def match(self, parts: list[str]) -> dict[str, str] | None:
        bound: dict[str, str] = {}
        for i, seg in enumerate(self.segments):
            if seg.rest:
                if i >= len(parts):
                    return None
                bound[seg.field] = "/".join(parts[i:])
                return bound
            if i >= len(parts):
                return None
            if seg.literal is not None:
                if parts[i] != seg.literal:
                    return None
            elif not parts[i]:
                return None
            else:
                bound[seg.field] = parts[i]
        return bound if len(parts) == len(self.segments) else None


def parse_template(template: str) -> tuple[Segment, ...]:
    out = []
    for part in template.strip("/").split("/"):
        m = _VAR.match(part)
        if m is None:
            out.append(Segment(literal=part))
        else:
            out.append(Segment(field=m.group(1), rest=(m.group(2) or "*") == "**"))
    return tuple(out)


def load(path: pathlib.Path) -> tuple[descriptor_pool.DescriptorPool, descriptor_pb2.FileDescriptorSet]:
    files = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    return pool, files


def _rules(method: MethodDescriptor) -> list[http_pb2.HttpRule]:
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    rule = options.Extensions[annotations_pb2.http]
    return [rule, *rule.additional_bindings]


def build(pool: descriptor_pool.DescriptorPool, backends: dict[str, str]) -> list[Route]:
    routes = []
    for service_name, backend in backends.items():
        service = pool.FindServiceByName(service_name)
        for method in service.methods:
            for rule in _rules(method):
                verb = rule.WhichOneof("pattern")
                if verb is None or verb == "custom":
                    continue
                template = getattr(rule, verb)
                routes.append(Route(verb.upper(), template, parse_template(template), rule.body, method, backend))
    # Literal segments win over variables (e.g. /computes/register).
    routes.sort(key=lambda r: (-sum(s.literal is not None for s in r.segments), r.template))
    return routes


def find(routes: list[Route], verb: str, path: str) -> tuple[Route, dict[str, str]] | None:
    parts = path.strip("/").split("/")
    for route in routes:
        if route.verb == verb:
            bound = route.match(parts)
            if bound is not None:
                return route, bound
    return None


def allowed(routes: list[Route], path: str) -> list[str]:
    """The verbs served at `path` (for a 405's Allow): those of the template
    that routing picks for it (literal segments win over variables)."""
    parts = path.strip("/").split("/")
    matching = [route for route in routes if route.match(parts) is not None]
    return sorted({route.verb for route in matching if route.template == matching[0].template}) if matching else []
