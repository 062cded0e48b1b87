"""A webhook token never leaks (not through a malformed URL, not through a server that echoes
the path), a bad URL fails only itself, and a hung webhook never holds back another sink.

Real servers on 127.0.0.1; the CLI runs as a subprocess where the CLI is what is shown.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from peaktrade_core.plugin_api import (
    AlertDispatcher,
    AlertEvent,
    AlertLevel,
    get_plugin_manager,
    redact,
    register_secret,
)
from peaktrade_core.testing import (
    REDACTED,
    StateStore,
    deliver_alert,
    forget_secrets,
    structure_config,
)

TOKEN = "Tk9xQ2vL8mZpR4sW"


class EchoServer(ThreadingHTTPServer):
    """Accepts POSTs to ``/ok…``; answers anything else 404 quoting the path and query, as
    many web frameworks do."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Echo)
        self.accepted: list[str] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Echo(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.startswith("/ok"):
            self.server.accepted.append(self.path)
            status, body = 200, b"ok"
        else:
            status, body = 404, f"Cannot POST {self.path}".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def echo():
    server = EchoServer()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def no_secrets():
    forget_secrets()
    yield
    forget_secrets()


def token_urls(echo: EchoServer) -> list[str]:
    """The token in the port (malformed), the path and the query; the last URL is good."""
    return [
        f"http://127.0.0.1:{TOKEN}/x",
        echo.url(f"/hook/{TOKEN}"),
        echo.url(f"/hook?token={TOKEN}"),
        echo.url(f"/ok/{TOKEN}?token={TOKEN}"),
    ]


def leaks(text: str | bytes) -> int:
    if isinstance(text, str):
        text = text.encode("utf-8", "replace")
    return sum(text.count(form.encode()) for form in {TOKEN, quote(TOKEN, safe="")})


def test_malformed_url_fails_alone_and_no_error_shows_the_token(monkeypatch, echo):
    urls = token_urls(echo)
    for i, url in enumerate(urls):
        monkeypatch.setenv(f"HOOK_{i}", url)
    raw = {"live_alerts": {"sinks": ["webhook"], "webhook_urls": [{"env": f"HOOK_{i}"} for i in range(len(urls))]}}
    config = structure_config(raw)
    pm = get_plugin_manager()
    pm.configure(config)
    event = AlertEvent(AlertLevel.CRITICAL, "t", "c", "m")
    delivery = deliver_alert(pm, event, ["webhook"], 10.0)["webhook"]
    assert echo.accepted == [f"/ok/{TOKEN}?token={TOKEN}"]  # the URL after the malformed one got it
    assert not delivery.ok
    assert "url 1 (env:HOOK_0): InvalidURL" in delivery.error
    assert "url 2 (env:HOOK_1): HTTP 404 'Cannot POST /hook/***'" in delivery.error
    assert "url 3 (env:HOOK_2): HTTP 404 'Cannot POST /hook?token=***'" in delivery.error
    assert "url 4" not in delivery.error
    assert leaks(delivery.error) == 0


_TOKEN_CHARS = st.characters(codec="utf-8", exclude_characters="/?#&;=@:%\x00", exclude_categories=("Cs", "Cc"))


@given(token=st.text(_TOKEN_CHARS, min_size=16, max_size=40), in_query=st.booleans())
def test_whatever_httpx_sends_a_server_may_echo_and_it_is_redacted(token, in_query):
    """Safety property: however httpx encodes a token in the path or query, the server's
    echo of what it received (encoded or decoded) shows none of it."""
    from urllib.parse import unquote

    forget_secrets()
    url = f"http://127.0.0.1:8080/hook?token={token}" if in_query else f"http://127.0.0.1:8080/hook/{token}"
    register_secret(url)
    sent = httpx.URL(url).raw_path.decode("ascii")
    expected = "/hook?token=" if in_query else "/hook/"
    assert redact(f"Cannot POST {sent}") == f"Cannot POST {expected}{REDACTED}"
    assert token not in redact(f"Cannot POST {unquote(sent)}")


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "peaktrade_core", *args], env=env, capture_output=True, text=True, timeout=120)


_SESSION = """
import sys
from peaktrade_core.plugin_api import AlertDispatcher, AlertEvent, AlertLevel, get_plugin_manager
from peaktrade_core.testing import StateStore, configure_logging, load_config

configure_logging(verbosity=2)
config = load_config(sys.argv[1])
get_plugin_manager().configure(config)
d = AlertDispatcher(config.live_alerts, StateStore.in_dir(config.data_dir()))
d.start()
for i in range(3):
    d.emit(AlertEvent(AlertLevel.CRITICAL, "pipeline", f"code{i}", "breach"))
d.flush(3)
d.close(1)
"""


def test_a_webhook_token_appears_nowhere(echo, tmp_path):
    """Must show: the token in a URL's port, path and query appears 0 times in every output
    of the CLI, the log, the alert history and every byte of the state file."""
    urls = token_urls(echo)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOK_")}
    env.update({f"HOOK_{i}": url for i, url in enumerate(urls)})
    config = tmp_path / "config.toml"
    refs = ", ".join(f'{{ env = "HOOK_{i}" }}' for i in range(len(urls)))
    config.write_text(
        "[live_alerts]\n"
        'sinks = ["log", "webhook"]\n'
        f"webhook_urls = [{refs}]\n"
        "retry_backoff_seconds = 0.05\nmax_backoff_seconds = 0.1\nmax_retries = 2\n"
    )
    outputs = [
        run_cli(env, "-vv", "--config", str(config), "alerts", "test"),
        run_cli(env, "-vv", "--log-json", "--config", str(config), "alerts", "test", "--json"),
        subprocess.run([sys.executable, "-c", _SESSION, str(config)], env=env, capture_output=True, text=True, timeout=120),
        run_cli(env, "--config", str(config), "alerts", "history", "--level", "info"),
        run_cli(env, "--config", str(config), "alerts", "history", "--level", "info", "--json"),
        run_cli(env, "--config", str(config), "config", "show"),
    ]
    test, test_json, session, history, history_json, show = outputs
    assert test.returncode == 1 and "webhook: FAILED: url 1 (env:HOOK_0): InvalidURL" in test.stdout, test.stderr
    assert json.loads(test_json.stdout)["deliveries"][1]["ok"] is False
    assert session.returncode == 0 and "alert sink webhook failed" in session.stderr, session.stderr
    assert "Cannot POST /hook/***" in history.stdout
    assert show.returncode == 0 and "HOOK_3" in show.stdout
    assert len(json.loads(history_json.stdout)) == 5  # 2 tests + 3 session alerts
    assert len(echo.accepted) >= 5  # the good URL got every alert each time it was tried
    for out in outputs:
        assert leaks(out.stdout) == 0, out.stdout
        assert leaks(out.stderr) == 0, out.stderr

    data = Path(env["PEAK_TRADE_DATA_DIR"])
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".sqlite3") for p in files)
    for path in files:
        assert leaks(path.read_bytes()) == 0, path
    for path in (p for p in files if p.name.endswith(".sqlite3")):
        conn = sqlite3.connect(path)
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert "alert_deliveries" in tables
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - names from the file itself
                assert leaks(repr(row)) == 0, (table, row)
        conn.close()


def test_a_hung_webhook_never_holds_back_the_log_sink(monkeypatch, tmp_path):
    """With a webhook that accepts connections and never answers, every alert still reaches
    the log sink at once; the webhook's stay undelivered and are sent by the next start."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(100)
    monkeypatch.setenv("HOOK", f"http://127.0.0.1:{silent.getsockname()[1]}/hook")
    raw = {"live_alerts": {"sinks": ["log", "webhook"], "webhook_urls": [{"env": "HOOK"}], "min_level": "info",
                           "dedup_window_seconds": 0.0, "webhook_timeout_seconds": 600.0, "sink_timeout_seconds": 600.0,
                           "throttle_per_second": 1000.0, "throttle_burst": 1000}}
    config = structure_config(raw)
    get_plugin_manager().configure(config)
    store = StateStore.in_dir(tmp_path / "state")
    d = AlertDispatcher(config.live_alerts, store)
    d.start()
    d.emit(AlertEvent(AlertLevel.WARNING, "pipeline", "first", "first"))
    silent.settimeout(60)
    conn, _ = silent.accept()  # the webhook's delivery is now hanging
    events = [AlertEvent(AlertLevel.WARNING, "pipeline", f"c{i}", f"alert {i}") for i in range(501)]
    for event in events:
        d.emit(event)

    def delivered(sink: str) -> int:
        return store.query("SELECT COUNT(*) FROM alert_deliveries WHERE sink = ? AND status = 'delivered'", [sink])[0][0]

    deadline = time.monotonic() + 60  # generous: the machine may be loaded; it takes milliseconds
    while delivered("log") < 502 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert delivered("log") == 502
    assert delivered("webhook") == 0
    d.close(0.2)
    pending = store.query("SELECT COUNT(*) FROM alert_deliveries WHERE sink = 'webhook' AND status != 'delivered'")
    assert pending[0][0] == 502  # recorded undelivered, kept for the retry
    conn.close()
    silent.close()

    echo = EchoServer()
    try:
        monkeypatch.setenv("HOOK", echo.url("/ok"))
        again = AlertDispatcher(config.live_alerts, store)  # the next session on this data dir
        again.start()
        assert again.flush(120)
        again.close(1)
    finally:
        echo.shutdown()
        echo.server_close()
    assert len(echo.accepted) == 502
    assert delivered("webhook") == 502
