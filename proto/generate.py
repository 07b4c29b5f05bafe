"""Regenerates gen/ from proto/: Python messages, gRPC stubs, type stubs and
the descriptor set that both REST edges transcode from.

    python proto/generate.py [OUT_DIR]   (default: gen/)
"""
import pathlib
import sys

import grpc_tools
from grpc_tools import protoc
import google.api  # googleapis-common-protos ships google/api/*.proto

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
ERROR_PROTOS = ("google/rpc/status.proto", "google/rpc/error_details.proto")


def generate(out: pathlib.Path) -> None:
    sources = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    includes = [
        PROTO,
        pathlib.Path(grpc_tools.__file__).parent / "_proto",
        pathlib.Path(google.api.__path__[0]).parent.parent,
    ]
    (out / "cerver" / "v2").mkdir(parents=True, exist_ok=True)
    flags = [f"-I{p}" for p in includes]
    code = ["protoc", *flags, f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}", *sources]
    # The descriptor set also carries the error detail types, so both edges
    # can print a google.rpc.Status's details as JSON.
    descriptors = ["protoc", *flags, f"--descriptor_set_out={out / 'cerver.binpb'}", "--include_imports",
                   "--include_source_info", *sources, *ERROR_PROTOS]
    for args in (code, descriptors):
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
    for pkg in (out / "cerver", out / "cerver" / "v2"):
        (pkg / "__init__.py").touch()
    write_documents(out)


def write_documents(out: pathlib.Path) -> None:
    """GET / and GET /v2/docs as files, for Envoy to serve in production."""
    import json

    sys.path.insert(0, str(ROOT))
    from gateway import BACKENDS, openapi, routes

    pool, files = routes.load(out / "cerver.binpb")
    table = routes.build(pool, BACKENDS)
    comments = openapi.method_comments(files)
    (out / "openapi.json").write_text(json.dumps(openapi.document(table, comments), indent=1, sort_keys=True) + "\n")
    (out / "index.json").write_text(json.dumps(openapi.index(table, comments), indent=1) + "\n")


if __name__ == "__main__":
    generate(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "gen")
