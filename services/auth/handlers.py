"""AuthService RPCs: validate, call the domain, shape the reply."""
from cerver.v2 import auth_pb2 as pb
from cerver.v2 import auth_pb2_grpc
from servicekit import auth, errors, ratelimit
from servicekit.clock import to_timestamp
from services.auth.domain import Accounts



def _readable(user_code: str) -> str:
    return f"{user_code[:4]}-{user_code[4:]}"  # as people read it


def _client(context) -> str:
    return ratelimit.client(dict(context.invocation_metadata() or ()))


def _key(row) -> pb.ApiKey:
    return pb.ApiKey(prefix=row.prefix, name=row.name, created_at=to_timestamp(row.created_at),
                     last_used_at=to_timestamp(row.last_used_at), expires_at=to_timestamp(row.expires_at))


def _provider(row) -> pb.AccountProvider:
    return pb.AccountProvider(provider=row.provider, enabled=True,
                              credential_names=[n for n in row.credential_names.split(",") if n],
                              configured_at=to_timestamp(row.configured_at))


class AuthHandlers(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, accounts: Accounts):
        self.accounts = accounts

    async def Login(self, request, context):
        account, key = await self.accounts.login(request.email, request.name, request.code, _client(context))
        if account is None:
            return pb.LoginResponse(status="code_sent", message=(
                "This email has an account: a one-time sign-in code was sent to it. "
                "Log in again with {\"email\", \"code\"} to get a key."))
        return pb.LoginResponse(account_id=account.account_id, api_key=key, name=account.name, status="signed_in")

    async def GetAccount(self, request, context):
        account, key_count = await self.accounts.account(auth.account_id())
        return pb.Account(account_id=account.account_id, email=account.email, name=account.name,
                          created_at=to_timestamp(account.created_at), key_count=key_count)

    async def ListKeys(self, request, context):
        return pb.ListKeysResponse(keys=[_key(r) for r in await self.accounts.list_keys(auth.account_id())])

    async def CreateKey(self, request, context):
        key, row = await self.accounts.create_key(auth.account_id(), request.name,
                                                  request.expires_in if request.HasField("expires_in") else None)
        return pb.CreatedKey(api_key=key, prefix=row.prefix, name=row.name, created_at=to_timestamp(row.created_at),
                             expires_at=to_timestamp(row.expires_at))

    async def DeleteKey(self, request, context):
        await self.accounts.delete_key(auth.account_id(), request.prefix)
        return pb.DeleteKeyResponse(prefix=request.prefix, deleted=True)

    async def StartDeviceLogin(self, request, context):
        await self.accounts.limits.hit("device", _client(context))
        device_code, row = await self.accounts.start_device(request.client_name, _client(context))
        uri = self.accounts.verification_uri()
        user_code = _readable(row.user_code)
        return pb.DeviceLogin(device_code=device_code, user_code=user_code,
                              verification_uri=uri, verification_uri_complete=f"{uri}?user_code={user_code}",
                              interval=row.interval,
                              expires_in=int((row.expires_at - row.created_at).total_seconds()))

    async def DescribeDeviceLogin(self, request, context):
        row = await self.accounts.pending_device(request.user_code)
        return pb.PendingDeviceLogin(user_code=_readable(row.user_code), client_name=row.client_name,
                                     client_host=row.client_host, created_at=to_timestamp(row.created_at),
                                     expires_at=to_timestamp(row.expires_at))

    async def PollDeviceLogin(self, request, context):
        if not request.device_code:
            raise errors.invalid("device_code is required", "device_code")
        await self.accounts.limits.hit("device", _client(context))
        status, key, account_id, interval = await self.accounts.poll_device(request.device_code)
        return pb.DeviceLoginStatus(status=status, api_key=key, account_id=account_id, interval=interval)

    async def ApproveDevice(self, request, context):
        row = await self.accounts.approve_device(auth.account_id(), request.user_code, request.deny)
        return pb.ApproveDeviceResponse(status=row.status, client_name=row.client_name)

    async def ListAccountProviders(self, request, context):
        rows = await self.accounts.list_providers(auth.account_id())
        return pb.ListAccountProvidersResponse(providers=[_provider(r) for r in rows])

    async def EnableAccountProvider(self, request, context):
        row = await self.accounts.enable_provider(auth.account_id(), request.provider, dict(request.credentials))
        return _provider(row)

    async def DisableAccountProvider(self, request, context):
        await self.accounts.disable_provider(auth.account_id(), request.provider)
        return pb.DisableAccountProviderResponse(provider=request.provider, disabled=True)

    async def Authenticate(self, request, context):
        found = await self.accounts.resolve_key(request.api_key)
        if found is None:
            raise errors.unauthenticated("invalid or revoked API key")
        return pb.Principal(account_id=found[0], key_prefix=found[1])

    async def GetProviderCredentials(self, request, context):
        creds = await self.accounts.provider_credentials(request.account_id, request.provider)
        return pb.ProviderCredentials(provider=request.provider, credentials=creds)
