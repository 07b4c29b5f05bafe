"""Connections into a sandbox's own network namespace (public previews):
only what listens in that sandbox is reachable this way, never a port of the
host or of another sandbox."""
import asyncio
import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000
CONNECT_TIMEOUT_S = 5.0
_libc = ctypes.CDLL(None, use_errno=True)


async def connect(pid: int, port: int) -> socket.socket:
    """A TCP connection to 127.0.0.1:port in the network namespace of process
    pid. Made on a thread of its own that ends right after: setns moves only
    the calling thread, and a thread left in a sandbox's namespace must never
    serve anything else (a pool's thread would)."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def settle(sock: socket.socket | None, error: OSError | None) -> None:
        if done.cancelled():
            if sock is not None:
                sock.close()
        elif error is not None:
            done.set_exception(error)
        else:
            done.set_result(sock)

    def enter_and_connect() -> None:
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"cannot enter the sandbox's network: {os.strerror(err)}")
            finally:
                os.close(fd)
            sock = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT_S)
            sock.setblocking(False)
        except OSError as exc:
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, sock, None)

    threading.Thread(target=enter_and_connect, name="netns-connect", daemon=True).start()
    return await done
