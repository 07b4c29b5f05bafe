"""Cloud providers in the compute plane: an account's enabled providers are
its computes (one per provider), and their credentials are read from auth
on every call, never kept here."""
import hashlib
import json

import grpc

from cerver.v2 import auth_pb2, auth_pb2_grpc
from servicekit import auth, config, peers, providers
from servicekit.clock import now
from services.compute.adapters.base import ComputeUnreachable, SandboxRecord
from services.compute.store import ComputeRow


def compute_id(provider: str, account_id: str | None) -> str:
    """Stable, so every replica names an account's compute the same; the
    deployment's own is comp_<provider>."""
    if account_id is None:
        return f"comp_{provider}"
    return f"comp_{provider}_{hashlib.sha256(account_id.encode()).hexdigest()[:16]}"


def deployment_credentials() -> dict[str, dict[str, str]]:
    """The cloud providers the deployment configured for every account
    (CERVER_CLOUD_PROVIDERS), held to the same credential names."""
    raw = config.settings().cloud_providers.get_secret_value()
    if not raw:
        return {}
    try:
        table = json.loads(raw)
    except json.JSONDecodeError:
        raise config.SettingsError("CERVER_CLOUD_PROVIDERS must be JSON: {provider: {name: value}}") from None
    for name, creds in table.items():
        cloud = providers.CLOUD.get(name)
        wrong = "not a cloud provider" if cloud is None else cloud.check(creds if isinstance(creds, dict) else {})
        if wrong:
            raise config.SettingsError(f"CERVER_CLOUD_PROVIDERS: {name}: {wrong}")
    return table


class CloudAccounts:
    """Which cloud providers an account can use now, and with what."""

    def __init__(self, adapter_classes):
        """adapter_classes: each cloud provider's adapter, made here with
        this object's credentials() as where it reads them per call."""
        self.adapters = {cls.provider: cls(self.credentials) for cls in adapter_classes}
        self.deployment = deployment_credentials()

    def _auth(self) -> auth_pb2_grpc.AuthServiceStub:
        return peers.stub("auth", auth_pb2_grpc.AuthServiceStub)

    def row(self, provider: str, account_id: str | None, capabilities: dict) -> ComputeRow:
        owner = "this deployment's" if account_id is None else "your account's"
        return ComputeRow(compute_id=compute_id(provider, account_id), account_id=account_id,
                          name=f"{providers.CLOUD[provider].display_name} ({owner})", provider=provider,
                          kind="cloud", capabilities_json=json.dumps(capabilities), last_heartbeat_at=now(),
                          heartbeat_window_s=0, created_at=now())

    async def enabled(self, account_id: str) -> list[str]:
        """The providers this account enabled that this deployment can run."""
        reply = await self._auth().ListAccountProviders(auth_pb2.ListAccountProvidersRequest(),
                                                        metadata=auth.service_metadata(account_id),
                                                        timeout=config.CALL_TIMEOUT_S)
        return [p.provider for p in reply.providers if p.provider in self.adapters]

    async def credentials(self, box: SandboxRecord, provider: str) -> dict[str, str]:
        """The credentials a call on box uses: the deployment's for its own
        compute, else the account's, read now (a disabled provider has none)."""
        if box.compute_id == compute_id(provider, None):
            return self.deployment[provider]
        try:
            reply = await self._auth().GetProviderCredentials(
                auth_pb2.GetProviderCredentialsRequest(account_id=box.account_id, provider=provider),
                metadata=auth.service_metadata(), timeout=config.CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise ComputeUnreachable(f"{provider} is no longer enabled on this account "
                                         f"(POST /v2/account/providers)") from None
            raise ComputeUnreachable(f"the account's {provider} credentials cannot be read now "
                                     f"({err.code().name})") from None
        return dict(reply.credentials)

