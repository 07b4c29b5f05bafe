"""The REST edge: Envoy's configuration for production and an embedded edge
that transcodes from the same descriptor set for the embedded default."""
import pathlib

DESCRIPTOR_SET = pathlib.Path(__file__).resolve().parent.parent / "gen" / "cerver.binpb"
# The device login's verification page (served at /device).
DEVICE_PAGE = pathlib.Path(__file__).resolve().parent / "device.html"

# Which backend serves each annotated service (Envoy: one cluster each).
BACKENDS = {
    "cerver.v2.AuthService": "auth",
    "cerver.v2.SessionService": "sessions",
    "cerver.v2.RouterService": "router",
    "cerver.v2.ComputeService": "compute",
    "cerver.v2.RelayService": "relay",
}
