"""Redaction: a resolved secret and the parts of it a server or library may quote back never
reach the log, the alert history or a delivery error."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peaktrade_core import log
from peaktrade_core.alerts import AlertDelivery, AlertEvent, AlertHistory, AlertLevel, deliver_alert
from peaktrade_core.hookspecs import hookimpl
from peaktrade_core.plugins import get_plugin_manager
from peaktrade_core.secrets import (
    REDACTED,
    SecretRef,
    forget_secrets,
    redact,
    register_secret,
    secret_like,
)
from peaktrade_core.state import StateStore
from peaktrade_core.testing import registered_plugin

TOKEN = "Tk9xQ2vL8mZpR4sW"


@pytest.fixture(autouse=True)
def no_secrets():
    forget_secrets()
    yield
    forget_secrets()
    log._settings = None
    if log._logger is not None:
        from loguru import logger as root

        log._apply(root)


def test_resolving_a_reference_registers_the_secret(monkeypatch):
    monkeypatch.setenv("HOOK", f"https://hooks.invalid/hook/{TOKEN}")
    SecretRef(env="HOOK").resolve()
    assert redact(f"Cannot POST /hook/{TOKEN}") == f"Cannot POST /hook/{REDACTED}"


@pytest.mark.parametrize(
    "url, echoed",
    [
        (f"https://127.0.0.1:{TOKEN}/x", f"InvalidURL: Invalid port: '{TOKEN}'"),
        (f"https://hooks.invalid/hook/{TOKEN}", f"404 Cannot POST /hook/{TOKEN}"),
        (f"https://hooks.invalid/hook?token={TOKEN}&v=1", f"unknown token {TOKEN}"),
        (f"https://bot:{TOKEN}@hooks.invalid/x", f"login failed for bot:{TOKEN}"),
        (f"https://{TOKEN}@hooks.invalid/x", f"user {TOKEN} unknown"),
        (f"https://hooks.invalid/x#{TOKEN}", f"fragment {TOKEN}"),
        (f"https://hooks.invalid/hook/{TOKEN}%2Bx", f"Cannot POST /hook/{TOKEN}+x"),  # decoded by the server
    ],
)
def test_url_parts_are_redacted_where_a_server_or_library_quotes_them(url, echoed):
    register_secret(url)
    assert TOKEN not in redact(echoed)
    assert TOKEN not in redact(quote(echoed, safe=""))


def test_short_plain_parts_of_a_url_stay_readable():
    register_secret(f"https://hooks.slack.com/services/T0AB/B0CD/{TOKEN}")
    text = redact(f"POST https://hooks.slack.com/services/T0AB/B0CD/{TOKEN} -> services down")
    assert text == f"POST {REDACTED} -> services down"
    assert redact("hooks slack services") == "hooks slack services"


def test_basic_auth_header_of_url_user_info_is_redacted():
    import base64

    register_secret(f"https://bot:{TOKEN}@hooks.invalid/x")
    header = "Authorization: Basic " + base64.b64encode(f"bot:{TOKEN}".encode()).decode()
    assert base64.b64encode(f"bot:{TOKEN}".encode()).decode().rstrip("=") not in redact(header)


_TOKEN_CHARS = st.characters(codec="utf-8", exclude_characters="/?#&;=@:%\x00", exclude_categories=("Cs", "Cc"))


@given(
    token=st.text(_TOKEN_CHARS, min_size=16, max_size=40),
    where=st.sampled_from(["port", "path", "query", "userinfo"]),
    form=st.sampled_from(["raw", "quote", "quote_slash", "quote_plus", "json"]),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_a_token_anywhere_in_a_url_never_survives_redaction(token, where, form, before, after):
    """Safety property: whatever the token, wherever in the URL, however encoded in the
    text around it, redaction leaves none of it."""
    forget_secrets()
    url = {
        "port": f"https://127.0.0.1:{token}/x",
        "path": f"https://hooks.invalid/hook/{token}/x",
        "query": f"https://hooks.invalid/hook?a=1&token={token}",
        "userinfo": f"https://bot:{token}@hooks.invalid/x",
    }[where]
    register_secret(url)
    shown = {
        "raw": token,
        "quote": quote(token, safe=""),
        "quote_slash": quote(token),
        "quote_plus": quote_plus(token),
        "json": json.dumps(token)[1:-1],
    }[form]
    out = redact(before + shown + after)
    assert shown not in out
    assert token not in out or token in before + after


@given(st.text(min_size=1, max_size=60))
def test_any_registered_secret_is_redacted_whole(value):
    forget_secrets()
    register_secret(value)
    assert redact(value) == REDACTED
    if not {'"', "\\"} & set(value):  # (a secret that is JSON's own quoting redacts that too)
        assert redact(json.dumps(value)) == f'"{REDACTED}"'


def test_secret_like_needs_length_and_a_digit_or_capital():
    assert not secret_like("hook") and not secret_like("services")
    assert secret_like("T0AB1234") and secret_like("abcdefghijklmnopq")


def test_log_lines_tracebacks_and_json_lines_are_redacted(capsys):
    register_secret(f"https://127.0.0.1:{TOKEN}/x")
    log.configure_logging(verbosity=1)
    try:
        raise ValueError(f"Invalid port: '{TOKEN}'")
    except ValueError:
        log.logger.exception("delivery failed: {}", f"Invalid port: '{TOKEN}'")
    log.configure_logging(verbosity=1, json_lines=True)
    try:
        raise ValueError(f"Invalid port: '{TOKEN}'")
    except ValueError:
        log.logger.bind(url=f"https://127.0.0.1:{TOKEN}/x").exception("failed")
    err = capsys.readouterr().err
    assert "Invalid port" in err and "Traceback" in err
    assert TOKEN not in err


class Echoing:
    """A sink whose error quotes the URL it was given, as servers and libraries do."""

    @hookimpl
    def alert_sinks(self):
        return ["echo"]

    @hookimpl
    def emit_alert(self, event, sinks):
        if "echo" in sinks:
            return [AlertDelivery("echo", False, f"HTTP 404 'Cannot POST /hook/{TOKEN}'")]
        return None


def test_delivery_errors_and_history_rows_are_redacted(tmp_path):
    register_secret(f"https://hooks.invalid/hook/{TOKEN}")
    store = StateStore.in_dir(tmp_path)
    history = AlertHistory(store)
    event = AlertEvent(AlertLevel.CRITICAL, "t", "c", f"posting to /hook/{TOKEN} failed", {"url": f"/hook/{TOKEN}"})
    history.record([event], ["echo"])
    with registered_plugin(Echoing(), "echoing"):
        delivery = deliver_alert(get_plugin_manager(), event, ["echo"], 5.0)["echo"]
    assert delivery.error == f"HTTP 404 'Cannot POST /hook/{REDACTED}'"
    history.mark(event.id, AlertDelivery("echo", False, f"raw {TOKEN}"))  # a caller that forgot
    store.close()
    assert TOKEN.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())


class Recording:
    def __init__(self):
        self.got = []

    @hookimpl
    def alert_sinks(self):
        return ["rec"]

    @hookimpl
    def emit_alert(self, event, sinks):
        if "rec" in sinks:
            self.got.append(event)
            return [AlertDelivery("rec", True)]
        return None


def test_sinks_receive_alerts_with_secrets_redacted():
    """A sink is somewhere the process writes to as well: an alert quoting a failing URL
    reaches the webhook or mailbox without the token."""
    register_secret(f"https://hooks.invalid/hook/{TOKEN}")
    recording = Recording()
    event = AlertEvent(AlertLevel.CRITICAL, "plugins", "plugin_failed", f"POST /hook/{TOKEN} failed", {"path": f"/hook/{TOKEN}"})
    with registered_plugin(recording, "recording"):
        assert deliver_alert(get_plugin_manager(), event, ["rec"], 5.0)["rec"].ok
    [got] = recording.got
    assert got.message == f"POST /hook/{REDACTED} failed" and dict(got.context) == {"path": f"/hook/{REDACTED}"}
    assert got.id == event.id
