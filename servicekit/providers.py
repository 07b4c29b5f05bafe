"""The cloud providers an account enables with its own credentials, and the
credentials each takes: one definition, which auth holds enable requests to
and the compute service's adapters read."""
import dataclasses


@dataclasses.dataclass(frozen=True)
class CloudProvider:
    name: str
    display_name: str
    required: tuple[str, ...]  # credential names an account must give
    optional: tuple[str, ...] = ()
    docs: str = ""  # where the vendor says how to get them

    def check(self, credentials: dict[str, str]) -> str:
        """What is wrong with credentials for this provider; '' when nothing."""
        missing = [n for n in self.required if not credentials.get(n)]
        unknown = sorted(set(credentials) - set(self.required) - set(self.optional))
        if missing or unknown:
            optional = f" (optional: {', '.join(self.optional)})" if self.optional else ""
            return f"{self.name} takes {', '.join(self.required)}{optional}" + \
                (f"; missing: {', '.join(missing)}" if missing else "") + \
                (f"; unknown: {', '.join(unknown)}" if unknown else "")
        if any(not v for v in credentials.values()):
            return "credentials must not be empty"
        return ""


CLOUD = {p.name: p for p in (
    CloudProvider("e2b", "E2B", ("api_key",), docs="https://e2b.dev/docs/api-key"),
    CloudProvider("daytona", "Daytona", ("api_key",), ("organization_id", "target"),
                  docs="https://www.daytona.io/docs/en/api-keys"),
    CloudProvider("vercel", "Vercel Sandbox", ("vercel_token",), ("project_id", "team_id"),
                  docs="https://vercel.com/docs/vercel-sandbox/concepts/authentication"),
    CloudProvider("cloudflare", "Cloudflare Sandbox", ("worker_url", "shared_secret"),
                  docs="deploy/cloudflare/README.md"),
    CloudProvider("modal", "Modal", ("token_id", "token_secret"), ("environment",),
                  docs="https://modal.com/docs/reference/modal.config"),
)}
