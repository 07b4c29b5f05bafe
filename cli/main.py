"""cerver — run the stack on this host (`cerver dev`), or turn this machine
into a private compute of a Cerver gateway (`cerver relay --url …`)."""
import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cerver", description="Cerver: sessions as memory, pluggable compute.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("dev", help="start every service and the REST edge on this host (embedded default)")
    relay = commands.add_parser("relay", help="serve this machine as a private compute of a gateway")
    relay.add_argument("--url", required=True, help="the gateway's base URL, e.g. http://127.0.0.1:8080")
    relay.add_argument("--name", help="the compute's name (default: this host's name)")
    args = parser.parse_args(argv)
    os.umask(0o077)  # data, keys and state files: this user's alone
    if args.command == "dev":
        from cli import dev

        return dev.run()
    from cli import relay as relay_agent

    return relay_agent.run(args.url, args.name)


if __name__ == "__main__":
    sys.exit(main())
