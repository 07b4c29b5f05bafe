"""The relay socket's framing, shared by the relay (services/relay) and the
agent (cli/relay.py): binary RelayFrames, and the window of replies a call
may have in flight before the agent waits for credit."""
import grpc
from google.protobuf.message import DecodeError
from google.rpc import status_pb2

from cerver.v2.relay_pb2 import RelayFrame

WINDOW = 32  # replies in flight per call; the relay grants more as its caller reads


def encode(frame: RelayFrame) -> bytes:
    return frame.SerializeToString()


def decode(data: bytes) -> RelayFrame | None:
    """A frame, or None for bytes that are not one."""
    try:
        return RelayFrame.FromString(data)
    except DecodeError:
        return None


def error(call_id: int, code: grpc.StatusCode, message: str) -> RelayFrame:
    return RelayFrame(call_id=call_id, error=status_pb2.Status(code=code.value[0], message=message))
