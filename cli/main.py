"""cerver — run the stack on this host (`cerver dev`)."""
import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cerver", description="Cerver: sessions as memory, pluggable compute.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("dev", help="start every service and the REST edge on this host (embedded default)")
    args = parser.parse_args(argv)
    if args.command == "dev":
        from cli import dev

        return dev.run()
    return 2


if __name__ == "__main__":
    sys.exit(main())
