"""Where a sandbox with network may connect. Its traffic leaves through
slirp4netns, a process on the host: left alone, it reaches whatever the host
reaches — the host's own services on any of its addresses (not only
loopback), the private network behind it, a cloud's metadata service.

Each sandbox's slirp4netns runs with the sandbox's gid (from the reserved
range no host account has), and one iptables chain on the host's OUTPUT path,
matched on that gid range, refuses the host's own addresses and
CERVER_SANDBOX_EGRESS_DENY's ranges, except the resolvers slirp4netns asks for
names, the package mirrors the node installs from, and
CERVER_SANDBOX_EGRESS_ALLOW. A node writes the chain whole at start, and again
before a sandbox gets network if what it would write has changed (a mirror set
since) or the host's firewall lost it, which it also checks every few seconds
while sandboxes have network; nodes of one host sharing a uid range share the
chain."""
import ipaddress
import shutil
import socket
import subprocess
import threading
import urllib.parse

from servicekit import config

from .identities import UidRange

RESOLV_CONF = "/etc/resolv.conf"
WATCH_INTERVAL_S = 5.0  # how often a node with networked sandboxes checks the filter is still there
DEFAULT_PORTS = {"http": 80, "https": 443}


class EgressUnavailable(RuntimeError):
    """The filter could not be put in place: no sandbox may have network."""


def _split(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _ipv4(host: str) -> list[str]:
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None, socket.AF_INET)})
    except socket.gaierror:
        return []  # a name that does not resolve here opens nothing


def allowed() -> list[tuple[str, int | None]]:
    """(address or network, port or None for any) that pass the filter."""
    current, out = config.settings(), []
    for url in (current.pip_index_url, current.npm_registry):
        if url:
            parts = urllib.parse.urlsplit(url)
            if parts.hostname:
                port = parts.port or DEFAULT_PORTS.get(parts.scheme, 443)
                out += [(address, port) for address in _ipv4(parts.hostname)]
    for item in _split(current.sandbox_egress_allow):
        try:
            out.append((str(ipaddress.IPv4Network(item, strict=False)), None))
        except ValueError:  # host:port
            host, _, port = item.rpartition(":")
            out += [(address, int(port)) for address in _ipv4(host)]
    return out


def resolvers(path: str = RESOLV_CONF) -> list[str]:
    """The host's IPv4 nameservers: slirp4netns forwards the sandbox's DNS there."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                words = line.split()
                if len(words) >= 2 and words[0] == "nameserver":
                    try:
                        out.append(str(ipaddress.IPv4Address(words[1])))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


class EgressFilter:
    def __init__(self, gids: UidRange):
        self.chain = f"CERVER-EGRESS-{gids.first}"
        self.owner = ["-m", "owner", "--gid-owner", f"{gids.first}-{gids.first + gids.count - 1}"]
        self.installed = ""  # the rules last written
        self._lock = threading.Lock()

    def rules(self) -> str:
        """The chain, as iptables-restore reads it."""
        lines = ["*filter", f":{self.chain} - [0:0]"]

        def add(rule: str) -> None:
            lines.append(f"-A {self.chain} {rule}")

        for server in resolvers():
            for proto in ("udp", "tcp"):
                add(f"-d {server}/32 -p {proto} --dport 53 -j RETURN")
        for address, port in allowed():
            add(f"-d {address} -j RETURN" if port is None else f"-d {address} -p tcp --dport {port} -j RETURN")
        refused = ["-m addrtype --dst-type LOCAL"]
        refused += [f"-d {ipaddress.IPv4Network(net, strict=False)}"
                    for net in _split(config.settings().sandbox_egress_deny)]
        for match in refused:
            add(f"{match} -p tcp -j REJECT --reject-with tcp-reset")  # refused at once, not timed out
            add(f"{match} -j REJECT --reject-with icmp-port-unreachable")
        lines.append("COMMIT")
        return "\n".join(lines) + "\n"

    def ensure(self) -> None:
        """The chain as the settings say now, written if it differs from the
        last written or the jump to it is gone (a firewall reloaded since
        drops it; blocking: from a thread)."""
        with self._lock:
            rules = self.rules()
            if rules != self.installed or not self._jumps():
                self._install(rules)
                self.installed = rules

    def _jumps(self) -> bool:
        try:
            return subprocess.run(["iptables", "-w", "-C", "OUTPUT", *self.owner, "-j", self.chain],
                                  capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def _install(self, rules: str) -> None:
        """Write the chain and send the sandboxes' slirp4netns through it."""
        if shutil.which("iptables-restore") is None or shutil.which("iptables") is None:
            raise EgressUnavailable("iptables is not installed (apt-get install iptables)")
        try:
            subprocess.run(["iptables-restore", "-w", "--noflush"], input=rules, text=True, check=True,
                           capture_output=True, timeout=30)
            if not self._jumps():
                subprocess.run(["iptables", "-w", "-I", "OUTPUT", "1", *self.owner, "-j", self.chain], check=True,
                               capture_output=True, timeout=30)
        except subprocess.CalledProcessError as exc:
            raise EgressUnavailable(f"iptables refused the sandboxes' egress filter: "
                                    f"{exc.stderr.strip()[:300]}") from None
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EgressUnavailable(f"iptables failed: {exc}") from None
