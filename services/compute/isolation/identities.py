"""Host identities for sandboxes: one uid (= gid) per workspace, from a
reserved range that no account of the host uses. Files a sandbox writes are
owned by that uid on the host, never by the uid that runs Cerver."""
import dataclasses
import grp
import os
import pwd

from servicekit import config

# Inside systemd's range for container user namespaces (524288-1879048191);
# bubblewrap cannot map uids of 2^31 and above.
DEFAULT_RANGE = "1073741824:65536"


@dataclasses.dataclass(frozen=True)
class UidRange:
    first: int
    count: int

    @classmethod
    def from_env(cls) -> "UidRange":
        """CERVER_SANDBOX_UIDS=first:count; else the subordinate range of a
        `cerver` user in /etc/subuid; else DEFAULT_RANGE."""
        raw = config.settings().sandbox_uids or _subordinate("cerver") or DEFAULT_RANGE
        first, count = (int(x) for x in raw.split(":"))
        return cls(first, count)

    def __contains__(self, uid: int) -> bool:
        return self.first <= uid < self.first + self.count

    def problems(self) -> list[str]:
        """Why this range is unsafe to hand out, if it is."""
        out = []
        if self.first < 65536 or self.first + self.count > 1 << 31 or self.count < 1:
            out.append(f"sandbox uid range {self.first}:{self.count} must lie within 65536..2^31")
        if os.getuid() in self or os.getgid() in self:
            out.append("the sandbox uid range contains the uid or gid that runs Cerver")
        users = [p.pw_name for p in pwd.getpwall() if p.pw_uid in self]
        groups = [g.gr_name for g in grp.getgrall() if g.gr_gid in self]
        if users or groups:
            out.append(f"the sandbox uid range {self.first}:{self.count} holds host accounts: {users + groups}")
        return out


def _subordinate(user: str) -> str:
    try:
        with open("/etc/subuid") as f:
            for line in f:
                name, _, rest = line.strip().partition(":")
                if name == user:
                    return rest
    except OSError:
        pass
    return ""


class Identities:
    """Which uids of the range are taken (by workspaces that exist)."""

    def __init__(self, uids: UidRange):
        self.range = uids
        self.taken: set[int] = set()

    def claim(self, uid: int) -> None:
        if uid not in self.range:
            raise ValueError(f"uid {uid} is outside the sandbox range")
        self.taken.add(uid)

    def allocate(self) -> int:
        for uid in range(self.range.first, self.range.first + self.range.count):
            if uid not in self.taken:
                self.taken.add(uid)
                return uid
        raise RuntimeError("every uid of the sandbox range is taken")

    def release(self, uid: int) -> None:
        self.taken.discard(uid)
