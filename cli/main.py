"""cerver — the command for humans: sign in (`cerver login`), read sessions
(sessions, show, peek, export, search), run code (run), see computes, keys
and providers; run the stack on this host (`cerver dev`), or turn this
machine into a private compute of a gateway (`cerver relay --url …`).

Every verb takes --json for scripts; errors print the API's own message
and exit 1; `cerver run` exits with the command's exit code."""
import functools
import json
import os
import shlex
import socket
import sys
import time
import webbrowser
from typing import Annotated

import typer

from cli import render
from cli.client import Api, ApiError, forget, quote, save, saved

app = typer.Typer(name="cerver", help="Cerver: sessions as memory, pluggable compute.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
keys_app = typer.Typer(help="Your API keys: list (the default), create, delete.", invoke_without_command=True)
providers_app = typer.Typer(help="Compute providers: list (the default), enable, disable.",
                            invoke_without_command=True)
app.add_typer(keys_app, name="keys")
app.add_typer(providers_app, name="providers")

Json = Annotated[bool, typer.Option("--json", help="Print the API's JSON (for scripts).")]
_options = {"url": None}


@app.callback()
def _root(url: Annotated[str | None, typer.Option(
        "--url", help="The gateway (else CERVER_API_URL, else the one you logged in to, else "
                      "http://127.0.0.1:8080).")] = None):
    _options["url"] = url


def _api(key: str | None = None) -> Api:
    return Api(_options["url"], key)


def verb(fn):
    """A verb's failures as one line on stderr (the API's message), exit 1."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            hint = " (run `cerver login`)" if exc.status == 401 and "cerver login" not in str(exc) else ""
            render.err.print(f"[bold red]error:[/] {render.escape(str(exc))}{hint}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
    return run


# -- signing in ---------------------------------------------------------------
@app.command()
@verb
def login(json_out: Json = False,
          browser: Annotated[bool, typer.Option(help="Open the approval page in a browser.")] = True):
    """Sign in with the device flow; this machine gets its own key, saved for you alone (mode 0600).

    Approve the code it shows on the gateway's /device page (or the dashboard) with a key you already have.
    """
    api = _api(key="")
    started = api.call("POST", "/v2/auth/device", {"client_name": f"cerver CLI on {socket.gethostname()}"},
                       auth=False)
    link = started.get("verification_uri_complete") or started["verification_uri"]
    render.err.print(f"Open [bold]{render.escape(link)}[/] and approve the code "
                     f"[bold cyan]{started['user_code']}[/] (it expires in {started['expires_in'] // 60} minutes).")
    if browser and sys.stdout.isatty():
        webbrowser.open(link)
    interval, deadline = started.get("interval") or 5, time.monotonic() + started["expires_in"]
    with render.err.status("Waiting for approval…"):
        while True:
            if time.monotonic() > deadline:
                raise ApiError(408, "the code expired before it was approved: run `cerver login` again")
            time.sleep(interval)
            polled = api.call("GET", "/v2/auth/device", auth=False, device_code=started["device_code"])
            if polled["status"] == "approved":
                break
            if polled["status"] in ("denied", "expired"):
                raise ApiError(403, f"the login was {polled['status']}")
            interval = polled.get("interval") or interval
    path = save(api.url, polled["api_key"])
    account = _api(key=polled["api_key"]).call("GET", "/v2/auth/account")
    if json_out:
        render.as_json({"url": api.url, "account": account, "saved_to": str(path)})
    else:
        render.out.print(f"Logged in to {render.escape(api.url)} as [bold]{render.escape(account.get('email', ''))}"
                         f"[/] ({account['account_id']}); the key is in {path}.")


@app.command()
@verb
def logout(json_out: Json = False):
    """Forget the saved key, and delete it on the gateway (it was this machine's own)."""
    stored = saved()
    revoked = False
    if stored.get("api_key"):
        api = Api(stored.get("url"), stored["api_key"])
        try:
            prefix = next(k["prefix"] for k in api.call("GET", "/v2/auth/keys").get("keys", [])
                          if stored["api_key"].startswith(k["prefix"]))
            revoked = api.call("DELETE", f"/v2/auth/keys/{quote(prefix)}").get("deleted", False)
        except (ApiError, StopIteration) as exc:  # gone already, or the gateway is away: forget it here anyway
            render.err.print(f"[yellow]the gateway did not delete the key:[/] {render.escape(str(exc))}")
    forgotten = forget()
    if json_out:
        render.as_json({"logged_out": forgotten, "key_deleted": revoked})
    else:
        render.out.print("Logged out." if forgotten else "Not logged in.")


# -- sessions -------------------------------------------------------------------
@app.command()
@verb
def sessions(json_out: Json = False,
             state: Annotated[str | None, typer.Option(help="running | idle | ended")] = None,
             status: Annotated[str | None, typer.Option(help="ready, running, paused, terminated, …")] = None,
             name: Annotated[str | None, typer.Option(help="Sessions with this name.")] = None,
             compute: Annotated[str | None, typer.Option(help="Sessions placed on this compute.")] = None,
             limit: Annotated[int, typer.Option("--limit", "-n", help="How many (1..200).")] = 20):
    """Your sessions, newest first."""
    page = _api().call("GET", "/v2/sessions", state=state, status=status, name=name, compute_id=compute, limit=limit)
    if json_out:
        return render.as_json(page)
    render.table("Sessions", ["ID", "Name", "Status", "Provider", "Entries", "Created"], [
        [s["session_id"], render.escape(s.get("session_name", "")), render.status(s.get("status", "")),
         s.get("provider", ""), str(s.get("transcript_count", 0)), render.when(s.get("created_at"))]
        for s in page.get("sessions", [])], "No sessions.")


@app.command()
@verb
def show(session_id: str, json_out: Json = False,
         follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep showing new entries as they are "
                                                                      "written, until the session ends.")] = False,
         tail: Annotated[int, typer.Option("--tail", "-n", help="How many of the newest entries.")] = 20):
    """A session: its summary, events and newest entries (--follow: live)."""
    api = _api()
    s = api.call("GET", f"/v2/sessions/{quote(session_id)}", tail=tail)
    if json_out and not follow:
        return render.as_json(s)
    if json_out:  # one JSON object a line: the session, then each change
        render.out.print_json(data=s, indent=None)
    else:
        _summary(s)
        for e in s.get("transcript", []):
            render.entry(e)
    if follow:
        for change in api.stream("GET", f"/v2/sessions/{quote(session_id)}/watch",
                                 since=s.get("transcript_count", 0)):
            if json_out:
                render.out.print_json(data=change, indent=None)
                continue
            for e in change.get("entries", []):
                render.entry(e)
            for ev in change.get("events", []):
                render.err.print(f"[dim]· {render.when(ev.get('at'))} {ev['type']}: "
                                 f"{render.escape(ev.get('detail', ''))}[/]")


def _summary(s: dict) -> None:
    m, r = s.get("metrics", {}), s.get("routing", {})
    render.out.print(f"[bold]{s['session_id']}[/] {render.escape(s.get('session_name', ''))} · "
                     f"{render.status(s.get('status', ''))} · {s.get('provider', '')} "
                     f"{s.get('compute_id', '')} · {s.get('transcript_count', 0)} entries")
    if s.get("task"):
        render.out.print(f"task: {render.escape(s['task'])}")
    if r.get("recommended_provider"):
        render.out.print(f"routing: {r['recommended_provider']} ({r.get('confidence', '')}) — "
                         f"{render.escape(r.get('primary_reason', ''))}")
    render.out.print(f"runs: {m.get('total_exec_count', 0)} · streams: {m.get('total_stream_count', 0)} · average run "
                     f"{m.get('average_exec_latency_ms', 0):.1f} ms · cost ${m.get('cost_estimate_usd', 0):.6f}")
    for ev in s.get("events", [])[-5:]:
        render.out.print(f"[dim]· {render.when(ev.get('at'))} {ev['type']}: {render.escape(ev.get('detail', ''))}[/]")


@app.command()
@verb
def peek(session_id: str, json_out: Json = False,
         n: Annotated[int, typer.Option("-n", help="How many of the newest entries (1..1000).")] = 10):
    """The newest entries of a session, oldest first."""
    s = _api().call("GET", f"/v2/sessions/{quote(session_id)}", tail=n)
    if json_out:
        return render.as_json({"session_id": s["session_id"], "status": s.get("status"),
                               "transcript_count": s.get("transcript_count"), "entries": s.get("transcript", [])})
    for e in s.get("transcript", []):
        render.entry(e)


@app.command()
@verb
def export(session_id: str, json_out: Json = False,
           output: Annotated[str | None, typer.Option("--output", "-o", help="Write to this file.")] = None):
    """A session's whole transcript: plain text (as agents' cerver_session_export), or --json."""
    api, path = _api(), f"/v2/sessions/{quote(session_id)}"
    s = api.call("GET", path, tail=1)
    entries, after = [], 0
    while True:
        page = api.call("GET", path, since=after, tail=1000).get("transcript", [])
        entries += page
        if len(page) < 1000:
            break
        after = page[-1]["seq"]
    if json_out:
        text = json.dumps({**s, "transcript": entries}, indent=2, ensure_ascii=False) + "\n"
    else:
        text = "\n".join([render.export_header(s), *(render.export_entry(e) for e in entries)]) + "\n"
    if output:
        with open(output, "w") as f:
            f.write(text)
        render.err.print(f"{len(entries)} entries written to {render.escape(output)}")
    else:
        sys.stdout.write(text)


@app.command()
@verb
def search(query: str, json_out: Json = False,
           limit: Annotated[int, typer.Option("--limit", "-n", help="How many hits (1..100).")] = 20):
    """Entries of your sessions that hold every word of QUERY, newest first."""
    found = _api().call("GET", "/v2/sessions/search", q=query, limit=limit)
    if json_out:
        return render.as_json(found)
    render.table(f"Search: {query}", ["Session", "Name", "Seq", "At", "Snippet"], [
        [h["session_id"], render.escape(h.get("session_name", "")), str(h.get("seq")), render.when(h.get("at")),
         render.escape(h.get("snippet", "")).replace("**", "")] for h in found.get("hits", [])], "Nothing found.")


# -- running code ---------------------------------------------------------------
@app.command(context_settings={"allow_interspersed_args": False})
@verb
def run(code: Annotated[list[str], typer.Argument(help="The code: one argument as it is, several as a command "
                                                       "line (after --).")],
        json_out: Json = False,
        session: Annotated[str | None, typer.Option("--session", "-s", help="Run in this session.")] = None,
        provider: Annotated[str | None, typer.Option("--provider", "-p", help="Open a session on this "
                                                                             "provider (else the router picks).")] = None,
        runtime: Annotated[str | None, typer.Option(help="shell | python | node")] = None,
        timeout: Annotated[float | None, typer.Option(help="Seconds before the run is stopped.")] = None,
        keep: Annotated[bool, typer.Option("--keep", help="Leave the session it opened running.")] = False):
    """Run code, its output streamed as it comes; exits with its exit code.

    Without --session, a session is opened for it (and ended after, unless --keep).
    """
    if session and provider:
        raise ApiError(400, "--session and --provider: give one")
    api = _api()
    line = code[0] if len(code) == 1 else shlex.join(code)
    opened = None
    if not session:
        body = {"session_name": "cerver run", "task": line[:200]}
        if provider:
            body["compute"] = {"provider": provider}
        with render.err.status(f"Opening a session{' on ' + provider if provider else ''}…"):
            opened = api.call("POST", "/v2/sessions", body)
        session = opened["session_id"]
        render.err.print(f"[dim]session {session} on {opened.get('provider')}[/]")
    request = {"code": line, **({"runtime": runtime} if runtime else {}), **({"timeout": timeout} if timeout else {})}
    try:
        exit_code = _run(api, session, request, json_out)
    finally:
        if opened is not None and not keep:
            api.call("DELETE", f"/v2/sessions/{quote(session)}")
    raise typer.Exit(exit_code)


def _run(api: Api, session: str, request: dict, json_out: bool) -> int:
    path = f"/v2/sessions/{quote(session)}/run"
    if json_out:
        ran = api.call("POST", path, request)
        render.as_json(ran)
        return ran.get("result", {}).get("exit_code", 0)
    exit_code = 1
    for event in api.stream("POST", path + "/stream", request):
        if event["type"] in ("stdout", "stderr"):
            stream = sys.stdout if event["type"] == "stdout" else sys.stderr
            stream.write(event.get("data", ""))
            stream.flush()
        elif event["type"] == "exit":
            exit_code = event.get("exit_code", 0)
            if event.get("timed_out"):
                render.err.print(f"[yellow]timed out ({event.get('reason', 'timeout')})[/]")
            if event.get("truncated"):
                render.err.print("[yellow]output truncated at the sandbox's limit[/]")
    return exit_code


# -- computes, keys, providers ----------------------------------------------------
@app.command()
@verb
def computes(json_out: Json = False):
    """Your private computes and the shared ones, with their status."""
    listed = _api().call("GET", "/v2/computes")
    if json_out:
        return render.as_json(listed)
    render.table("Computes", ["ID", "Name", "Kind", "Provider", "Status", "Heartbeat"], [
        [c["compute_id"], render.escape(c.get("name", "")), c.get("kind", ""), c.get("provider", ""),
         render.status(c.get("status", "")), render.when(c.get("last_heartbeat_at"))]
        for c in listed.get("computes", [])], "No computes.")


@keys_app.callback()
@verb
def keys(ctx: typer.Context, json_out: Json = False):
    """Your API keys (prefixes only: a key is shown once, when created)."""
    if ctx.invoked_subcommand:
        return
    listed = _api().call("GET", "/v2/auth/keys")
    if json_out:
        return render.as_json(listed)
    render.table("API keys", ["Prefix", "Name", "Created", "Last used", "Expires"], [
        [k["prefix"], render.escape(k.get("name", "")), render.when(k.get("created_at")),
         render.when(k.get("last_used_at")), render.when(k.get("expires_at")) or "never"]
        for k in listed.get("keys", [])], "No keys.")


@keys_app.command("create")
@verb
def keys_create(name: Annotated[str, typer.Option(help="What the key is for.")] = "", json_out: Json = False):
    """A new key: shown this once, keep it somewhere safe."""
    created = _api().call("POST", "/v2/auth/keys", {"name": name})
    if json_out:
        return render.as_json(created)
    render.out.print(created["api_key"])
    render.err.print("[yellow]This is the only time the key is shown.[/]")


@keys_app.command("delete")
@verb
def keys_delete(prefix: str, json_out: Json = False):
    """Delete a key by its prefix (as `cerver keys` lists it)."""
    deleted = _api().call("DELETE", f"/v2/auth/keys/{quote(prefix)}")
    if json_out:
        return render.as_json(deleted)
    render.out.print(f"Deleted {prefix}." if deleted.get("deleted") else f"No key {prefix}.")


@providers_app.callback()
@verb
def providers(ctx: typer.Context, json_out: Json = False):
    """Every provider the router knows: can it run your work now, did you enable it."""
    if ctx.invoked_subcommand:
        return
    api = _api()
    catalog, enabled = api.call("GET", "/v2/providers"), api.call("GET", "/v2/account/providers")
    if json_out:
        return render.as_json({"providers": catalog.get("providers", []), "enabled": enabled.get("providers", [])})
    mine = {p["provider"] for p in enabled.get("providers", [])}
    render.table("Providers", ["Name", "Provider", "Status", "Enabled by you", "Startup"], [
        [p["name"], render.escape(p.get("display_name", "")), render.status(p.get("status", "")),
         "yes" if p["name"] in mine else "", f"{p.get('startup_ms', 0):.0f} ms"]
        for p in catalog.get("providers", [])], "No providers.")


@providers_app.command("enable")
@verb
def providers_enable(name: str, json_out: Json = False,
                     credential: Annotated[list[str], typer.Option(
                         "--credential", "-c", help="NAME=VALUE (VALUE - asks for it without echo).")] = []):
    """Enable a cloud provider with your credentials (never shown back)."""
    credentials = {}
    for item in credential:
        key, sep, value = item.partition("=")
        if not sep:
            raise ApiError(400, f"--credential takes NAME=VALUE, not {key!r}")
        credentials[key] = typer.prompt(key, hide_input=True) if value == "-" else value
    enabled = _api().call("POST", "/v2/account/providers", {"provider": name, "credentials": credentials})
    if json_out:
        return render.as_json(enabled)
    render.out.print(f"Enabled {name}.")


@providers_app.command("disable")
@verb
def providers_disable(name: str, json_out: Json = False):
    """Disable a cloud provider (its credentials are deleted)."""
    disabled = _api().call("DELETE", f"/v2/account/providers/{quote(name)}")
    if json_out:
        return render.as_json(disabled)
    render.out.print(f"Disabled {name}.")


# -- this host ------------------------------------------------------------------
@app.command()
def dev():
    """Start every service and the REST edge on this host (the embedded default)."""
    os.umask(0o077)  # data, keys and state files: this user's alone
    from cli import dev as stack

    raise typer.Exit(stack.run())


@app.command()
def relay(url: Annotated[str, typer.Option(help="The gateway's base URL, e.g. http://127.0.0.1:8080")],
          name: Annotated[str | None, typer.Option(help="The compute's name (default: this host's name)")] = None):
    """Serve this machine as a private compute of a gateway."""
    os.umask(0o077)
    from cli import relay as relay_agent

    raise typer.Exit(relay_agent.run(url, name))


def main() -> None:
    app(prog_name="cerver")


if __name__ == "__main__":
    main()
