"""The settings: one typed definition (servicekit.config.Settings), the
README's table made from it, every variable the code and the manifests
name declared there, bad values refused at start by name, secrets never
shown."""
import pathlib
import re
import subprocess
import sys

from servicekit import config

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Names that are not settings: a prefix the code completes, a marker inside sandboxes.
NOT_SETTINGS = {"CERVER_RUN_ID"}


def test_the_readme_table_is_the_settings():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- settings:begin -->\n", 1)[1].split("\n<!-- settings:end -->", 1)[0]
    assert table == config.table(), "README's settings table is stale: python -m servicekit.config prints it"


def test_every_variable_the_code_and_the_manifests_name_is_a_setting():
    declared = {config.variable(name) for name in config.Settings.model_fields}
    named = set()
    for folder in ("servicekit", "services", "gateway", "cli", "cerver_mcp", "deploy"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".yaml", ".md") and "__pycache__" not in path.parts:
                named |= set(re.findall(r"\bCERVER_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    named -= NOT_SETTINGS
    assert named - declared == set(), "undeclared (add them to servicekit.config.Settings)"


def test_a_bad_value_stops_a_process_at_start_naming_the_variable_not_the_value(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "CERVER_DATA_DIR": str(tmp_path), "CERVER_HTTP_PORT": "eighty",
           "CERVER_SECRETS_BACKEND": "vault"}
    for module in ("gateway", "services.router"):
        done = subprocess.run([sys.executable, "-m", module], env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 2, done.stderr
        assert "CERVER_HTTP_PORT: Input should be a valid integer" in done.stderr, done.stderr
        assert "CERVER_SECRETS_BACKEND: Input should be 'env' or 'infisical'" in done.stderr
        assert "eighty" not in done.stderr and "Traceback" not in done.stderr


def test_settings_follow_the_environment_and_keep_secrets_out_of_their_text(monkeypatch):
    monkeypatch.setenv("CERVER_SERVICE_TOKEN", "tok-do-not-print")
    monkeypatch.setenv("CERVER_SMTP_URL", "smtps://user:pw-do-not-print@mail.example.com")
    monkeypatch.setenv("CERVER_NODE_POLL_S", "0.25")
    current = config.settings()
    assert current.node_poll_s == 0.25 and config.service_token() == "tok-do-not-print"
    for shown in (repr(current), str(current), current.model_dump_json()):
        assert "do-not-print" not in shown
    monkeypatch.setenv("CERVER_NODE_POLL_S", "2")
    assert config.settings().node_poll_s == 2.0  # read again: the environment changed
    assert config.settings() is config.settings()  # and not otherwise
