"""python -m services.auth — the auth service."""
from cerver.v2 import auth_pb2, auth_pb2_grpc
from servicekit import config, server
from servicekit.auth import Authenticator
from servicekit.db import open_database
from servicekit.ratelimit import RateLimits
from services.auth import mailer
from services.auth.domain import Accounts, load_fernet
from services.auth.handlers import AuthHandlers


async def start(address: str) -> server.Host:
    db = await open_database("auth")
    limits = RateLimits()
    accounts = Accounts(db, load_fernet(), config.settings().open_signup,
                        config.settings().public_url, mailer.from_env(), limits)
    # Auth resolves keys in-process rather than calling itself.
    host = server.Host("auth", Authenticator(accounts.resolve_key, limits))
    host.add(AuthHandlers(accounts), auth_pb2_grpc.add_AuthServiceServicer_to_server,
             auth_pb2.DESCRIPTOR.services_by_name["AuthService"])
    await host.start(address)
    host.on_stop(db.close)
    return host


if __name__ == "__main__":
    server.serve("auth", start)
