"""The cloud providers an account enables with its own credentials. The
credential names each takes are the contract's (auth.proto,
EnableAccountProviderRequest's `when` rules), enforced on every request and
documented by the edges; this table adds what a person needs to get them."""
import dataclasses

from cerver.v2 import auth_pb2
from servicekit import rules


@dataclasses.dataclass(frozen=True)
class CloudProvider:
    name: str
    display_name: str
    docs: str  # where the vendor says how to get the credentials
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()

    def check(self, credentials: dict[str, str]) -> str:
        """What is wrong with credentials for this provider ('' when nothing),
        as the contract's rule says it (names only, never values)."""
        request = auth_pb2.EnableAccountProviderRequest(provider=self.name, credentials=credentials)
        return "; ".join(message for _, message in rules.violations(request))


def _credential_names() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    return {name: (tuple(rule.keys_required), tuple(rule.keys_allowed))
            for rule in rules.conditions(auth_pb2.EnableAccountProviderRequest.DESCRIPTOR)
            if rule.keys_of == "credentials" for name in rule.equals}


_NAMES = _credential_names()
CLOUD = {p.name: dataclasses.replace(p, required=_NAMES[p.name][0], optional=_NAMES[p.name][1]) for p in (
    CloudProvider("e2b", "E2B", "https://e2b.dev/docs/api-key"),
    CloudProvider("daytona", "Daytona", "https://www.daytona.io/docs/en/api-keys"),
    CloudProvider("vercel", "Vercel Sandbox", "https://vercel.com/docs/vercel-sandbox/concepts/authentication"),
    CloudProvider("cloudflare", "Cloudflare Sandbox", "deploy/cloudflare/README.md"),
    CloudProvider("modal", "Modal", "https://modal.com/docs/reference/modal.config"),
)}
