"""How the `cerver` command shows what the API answers: Rich tables and
panels on a terminal (colour only there, and never with NO_COLOR), plain
text otherwise, JSON with --json; and the plain-text transcript export that
cerver-mcp's cerver_session_export gives agents too (humans and agents see
the same thing)."""
import json
import os
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Off a terminal (a pipe, a file) lines are not folded at 80 columns: a
# table's rows stay whole for grep and the like.
WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 240
out = Console(highlight=False, soft_wrap=True, width=WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True)

STATUS_STYLE = {"ready": "green", "running": "cyan", "idle": "green", "online": "green", "provisioning": "yellow",
                "paused": "yellow", "failed": "red", "terminated": "dim", "offline": "dim", "executable": "green"}


def as_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def status(value: str) -> str:
    style = STATUS_STYLE.get(value or "")
    return f"[{style}]{escape(value)}[/]" if style else escape(value or "")


def when(stamp: str | None) -> str:
    """An RFC 3339 timestamp, shortened to the second."""
    return (stamp or "")[:19].replace("T", " ")


def table(title: str, columns: list[str], rows: list[list[str]], empty: str) -> None:
    if not rows:
        err.print(f"[dim]{escape(empty)}[/]")
        return
    t = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for i, name in enumerate(columns):  # the first column is an id: kept whole, so it can be copied
        t.add_column(name, overflow="fold", no_wrap=i == 0)
    for row in rows:
        t.add_row(*row)
    out.print(t)


def entry(e: dict) -> None:
    """One transcript entry: its head (seq, time, role/kind), then its content."""
    role = e.get("role", "")
    colour = {"user": "cyan", "assistant": "magenta", "system": "yellow", "tool": "blue"}.get(role, "white")
    out.print(f"[dim]\\[{e.get('seq')}] {when(e.get('at'))}[/] [bold {colour}]{escape(role)}[/]"
              f"[dim]/{escape(e.get('kind', ''))}[/]")
    out.print(escape(e.get("content", "")), markup=True)


def export_header(s: dict) -> str:
    return (f"# session {s['session_id']} ({s.get('session_name') or 'unnamed'}) · {s.get('status')} · "
            f"{s.get('provider')} · {s.get('transcript_count', 0)} entries")


def export_entry(e: dict) -> str:
    return f"\n[{e['seq']}] {e.get('at', '')} {e.get('role', '')}/{e.get('kind', '')}\n{e.get('content', '')}"
