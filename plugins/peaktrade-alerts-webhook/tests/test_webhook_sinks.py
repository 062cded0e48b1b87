"""The webhook and Slack sinks against a real HTTP server on 127.0.0.1, through the dispatcher."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from peaktrade_core.plugin_api import AlertDispatcher, AlertEvent, AlertLevel, get_plugin_manager
from peaktrade_core.testing import (
    StateStore,
    build_alert_sink_from_config,
    captured,
    structure_config,
)

SECRET_PATH = "/services/T000/B000/s3cr3tT0k3n"


class Receiver(ThreadingHTTPServer):
    """Records every POST; answers from ``replies`` (status, body, headers), then ``default``.
    While ``hang`` is set, it reads the request and never answers."""

    daemon_threads = True

    def __init__(self, default=(200, "ok", {})):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[tuple[float, str, dict]] = []  # answered with success
        self.seen: list[tuple[float, str, dict]] = []  # every request
        self.replies: list[tuple[int, str, dict]] = []
        self.default = default
        self.hang = threading.Event()
        self.release = threading.Event()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{SECRET_PATH}"

    def bodies(self) -> list[dict]:
        return [body for _, _, body in self.received]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        server: Receiver = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server.seen.append((time.monotonic(), self.path, body))
        if server.hang.is_set():
            server.release.wait(5)
            return
        status, text, headers = server.replies.pop(0) if server.replies else server.default
        if 200 <= status < 300:
            server.received.append((time.monotonic(), self.path, body))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def make_config(monkeypatch, sinks, url, **alerts):
    monkeypatch.setenv("TEST_HOOK_URL", url)
    ref = [{"env": "TEST_HOOK_URL"}]
    raw = {"live_alerts": {"sinks": list(sinks), "webhook_urls": ref, "slack_webhook_urls": ref,
                           "min_level": "info", "throttle_per_second": 1000.0, "throttle_burst": 1000,
                           "retry_backoff_seconds": 0.05, "max_backoff_seconds": 0.2, **alerts}}
    config = structure_config(raw)
    get_plugin_manager().configure(config)
    return config


def dispatcher(config, store=None):
    d = AlertDispatcher(config.live_alerts, store)
    d.start()
    return d


def test_webhook_posts_the_alert_as_json(monkeypatch, receiver):
    config = make_config(monkeypatch, ["webhook"], receiver.url, webhook_timeout_seconds=2.0)
    d = dispatcher(config)
    d.emit(AlertEvent(AlertLevel.CRITICAL, "pipeline", "executor_error", "venue down", {"order": "abc", "n": 3}))
    assert d.flush(5)
    d.close(1)
    [(_, path, body)] = receiver.received
    assert path == SECRET_PATH
    assert body["level"] == "CRITICAL" and body["source"] == "pipeline" and body["code"] == "executor_error"
    assert body["message"] == "venue down" and body["context"] == {"order": "abc", "n": 3}
    assert body["repeat"] == 1 and body["dedup_key"] == "pipeline:executor_error"
    assert body["text"] == "[ALERT CRITICAL] pipeline/executor_error: venue down"
    assert body["time"].endswith("+00:00")
    [row] = d.history.query()
    assert row["deliveries"] == [{"sink": "webhook", "status": "delivered", "attempts": 1, "error": None}]


def test_slack_payload_has_blocks_text_fallback_and_plain_level(monkeypatch, receiver):
    config = make_config(monkeypatch, ["slack"], receiver.url)
    event = AlertEvent(AlertLevel.WARNING, "risk", "risk.max_order_notional", "2 order(s) blocked: <BTC> & co",
                       {"limit": 1000.0}, repeat=7)
    sink = build_alert_sink_from_config(config)
    assert [d.ok for d in sink.deliver(event)] == [True]
    [body] = receiver.bodies()
    assert body["text"] == event.summary_line() and "WARNING" in body["text"]
    types = [b["type"] for b in body["blocks"]]
    assert types == ["header", "section", "section", "context"]
    assert body["blocks"][0]["text"]["type"] == "plain_text"
    assert "WARNING: risk.max_order_notional" in body["blocks"][0]["text"]["text"]
    assert body["blocks"][1]["text"]["text"] == "2 order(s) blocked: &lt;BTC&gt; &amp; co"
    field_texts = [f["text"] for f in body["blocks"][2]["fields"]]
    assert field_texts[:3] == ["*Level*\nWARNING", "*Source*\nrisk", "*Repeated*\n7 times"]
    assert "*limit*\n1000.0" in field_texts


def test_slack_counts_only_200_ok_as_delivered(monkeypatch, receiver):
    config = make_config(monkeypatch, ["slack"], receiver.url)
    receiver.default = (200, "invalid_payload", {})
    sink = build_alert_sink_from_config(config)
    [delivery] = sink.deliver(AlertEvent(AlertLevel.CRITICAL, "t", "c", "m"))
    assert not delivery.ok and "HTTP 200 'invalid_payload'" in delivery.error
    assert "env:TEST_HOOK_URL" in delivery.error and SECRET_PATH not in delivery.error


def test_slack_429_retry_after_is_honoured(monkeypatch, receiver):
    config = make_config(monkeypatch, ["slack"], receiver.url)
    receiver.replies = [(429, "rate_limited", {"Retry-After": "1"})]
    d = dispatcher(config)
    d.emit(AlertEvent(AlertLevel.CRITICAL, "t", "c", "m"))
    assert d.flush(5)
    d.close(1)
    first, second = receiver.seen
    assert second[0] - first[0] >= 0.95  # not the 0.05 s backoff: the server's Retry-After
    assert len(receiver.received) == 1
    [row] = d.history.query()
    assert row["deliveries"][0]["status"] == "delivered" and row["deliveries"][0]["attempts"] == 2


def test_urls_are_redacted_in_logs_and_history(monkeypatch):
    with captured("DEBUG") as lines:
        # a closed port: connection refused, the error path that could echo the URL
        config = make_config(monkeypatch, ["webhook"], f"http://127.0.0.1:9{SECRET_PATH}", max_retries=0)
        d = dispatcher(config)
        d.emit(AlertEvent(AlertLevel.CRITICAL, "t", "c", "m"))
        d.flush(1)
        d.close(0.5)
    [row] = d.history.query()
    assert row["deliveries"][0]["status"] == "failed"
    text = "\n".join(lines) + json.dumps(row)
    assert "alert sink webhook failed" in text
    assert "s3cr3tT0k3n" not in text


def test_hung_server_never_slows_emit_and_alerts_are_delivered_once_when_it_returns(monkeypatch, receiver):
    config = make_config(monkeypatch, ["webhook", "log"], receiver.url, webhook_timeout_seconds=0.2)
    receiver.hang.set()
    d = dispatcher(config)
    events = [AlertEvent(AlertLevel.WARNING, "pipeline", f"code{i}", f"alert {i}") for i in range(20)]
    started = time.perf_counter()
    for event in events:
        d.emit(event)
    took = time.perf_counter() - started
    assert took < 2.0  # an emit that waited for the hung server would take its 0.2 s timeout, 20 times

    def logged_all():
        rows = d.history.query()
        return len(rows) == 20 and all(x["status"] == "delivered" for r in rows for x in r["deliveries"] if x["sink"] == "log")

    deadline = time.monotonic() + 5
    while not logged_all() and time.monotonic() < deadline:
        time.sleep(0.02)
    rows = d.history.query()
    assert len(rows) == 20
    status = {r["id"]: {x["sink"]: x["status"] for x in r["deliveries"]} for r in rows}
    assert all(s["webhook"] != "delivered" for s in status.values())
    assert all(s["log"] == "delivered" for s in status.values())  # other sinks unaffected

    receiver.hang.clear()  # the server answers again
    assert d.flush(10)
    d.close(1)
    assert sorted(b["id"] for b in receiver.bodies()) == sorted(e.id for e in events)  # each once
    assert all(x["status"] == "delivered" for r in d.history.query() for x in r["deliveries"])


def test_undelivered_alerts_are_sent_once_by_the_next_start(monkeypatch, receiver, tmp_path):
    store = StateStore.in_dir(tmp_path / "state")
    config = make_config(monkeypatch, ["webhook"], receiver.url, webhook_timeout_seconds=0.2, max_retries=0)
    receiver.hang.set()
    first = dispatcher(config, store)
    events = [AlertEvent(AlertLevel.CRITICAL, "pipeline", f"c{i}", "m") for i in range(3)]
    for event in events:
        first.emit(event)
    assert not first.flush(0.5)
    first.close(0.2)
    assert receiver.received == []
    assert {x["status"] for r in first.history.query() for x in r["deliveries"]} <= {"pending", "failed"}

    receiver.hang.clear()
    receiver.release.set()
    second = dispatcher(config, store)  # a new session on the same data dir
    assert second.flush(5)
    second.close(1)
    third = dispatcher(config, store)  # nothing left to resend
    assert third.flush(2)
    third.close(1)
    assert sorted(b["id"] for b in receiver.bodies()) == sorted(e.id for e in events)
    assert all(x["status"] == "delivered" for r in second.history.query() for x in r["deliveries"])
