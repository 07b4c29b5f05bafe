"""python -m gateway.export DIR — writes what Envoy needs beside it (its
config, the descriptor set it transcodes from, the API index and document,
the device page) into DIR. The edge pod's init container runs it from the
Cerver image, so Envoy's files always match the services' contract, and
no ConfigMap (with its size limit) carries them."""
import pathlib
import shutil
import sys

from gateway import DESCRIPTOR_SET, DEVICE_PAGE

GATEWAY = pathlib.Path(__file__).resolve().parent
FILES = {"envoy.yaml": GATEWAY / "envoy.yaml", "cerver.binpb": DESCRIPTOR_SET,
         "openapi.json": DESCRIPTOR_SET.parent / "openapi.json", "index.json": DESCRIPTOR_SET.parent / "index.json",
         "device.html": DEVICE_PAGE}


def export(folder: pathlib.Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in FILES.items():
        shutil.copyfile(source, folder / name)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m gateway.export DIR")
    export(pathlib.Path(sys.argv[1]))
