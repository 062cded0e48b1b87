"""``peaktrade alerts test`` and ``alerts history``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from peaktrade_core.alerts import AlertDelivery, AlertEvent, AlertHistory, AlertLevel
from peaktrade_core.cli import cli
from peaktrade_core.cli_alerts import parse_since
from peaktrade_core.hookspecs import hookimpl
from peaktrade_core.state import StateStore
from peaktrade_core.testing import registered_plugin


class Broken:
    @hookimpl
    def alert_sinks(self):
        return ["broken"]

    @hookimpl
    def emit_alert(self, event, sinks):
        if "broken" in sinks:
            return [AlertDelivery("broken", False, "HTTP 500")]


def write_config(sinks) -> str:
    Path("config.toml").write_text(f"[live_alerts]\nsinks = {json.dumps(sinks)}\n")
    return "config.toml"


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_alerts_test_reports_each_sink_and_exits_1_on_failure():
    with registered_plugin(Broken(), "broken"):
        result = run("--config", write_config(["log", "stderr", "broken"]), "alerts", "test")
    assert result.exit_code == 1
    assert "log: delivered" in result.output and "stderr: delivered" in result.output
    assert "broken: FAILED: HTTP 500" in result.output


def test_alerts_test_one_sink_ok_and_recorded():
    with registered_plugin(Broken(), "broken"):
        result = run("--config", write_config(["log", "broken"]), "alerts", "test", "--sink", "log", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["deliveries"] == [{"sink": "log", "ok": True, "error": None}]
    history = run("alerts", "history", "--level", "info", "--json")
    [row] = json.loads(history.output)
    assert row["code"] == "alert_test" and row["deliveries"][0]["status"] == "delivered"


def test_history_filters_by_level_and_since(tmp_path):
    store = StateStore.in_dir(tmp_path / "data")
    old = AlertEvent(AlertLevel.CRITICAL, "pipeline", "old", "long ago", time=time.time() - 7200)
    info = AlertEvent(AlertLevel.INFO, "pipeline", "session_start", "started")
    crit = AlertEvent(AlertLevel.CRITICAL, "killswitch", "engaged", "engaged", repeat=3)
    history = AlertHistory(store)
    history.record([old, info, crit], ["log"])
    history.mark(crit.id, AlertDelivery("log", True))
    store.close()
    rows = json.loads(run("alerts", "history", "--level", "warning", "--since", "1h", "--json").output)
    assert [r["code"] for r in rows] == ["engaged"]
    text = run("alerts", "history").output
    assert "CRITICAL  killswitch/engaged: engaged (x3)" in text
    assert "log: delivered, 1 attempt(s)" in text and "log: pending, 0 attempt(s)" in text


def test_bad_since_is_one_line_and_exit_2():
    result = CliRunner().invoke(cli, ["alerts", "history", "--since", "yesterday"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "--since: expected an ISO date/time or a duration such as 30m, 1h, 2d; got 'yesterday'"
    ]


@pytest.mark.parametrize(("text", "seconds_ago"), [("30m", 1800), ("1h", 3600), ("2d", 172800), ("90s", 90)])
def test_parse_since_durations(text, seconds_ago):
    assert parse_since(text, now=10_000_000.0) == 10_000_000.0 - seconds_ago


def test_parse_since_iso_defaults_to_utc():
    assert parse_since("1970-01-02T00:00:00") == 86400.0
    assert parse_since("1970-01-02T01:00:00+01:00") == 86400.0


def run_process(*args):
    return subprocess.run([sys.executable, "-m", "peaktrade_core", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "toml, key, problem",
    [
        ('[live_alerts]\nsinks = "log"\n', "live_alerts.sinks", 'expected a list, got "log"'),
        ('[live_alerts]\nwebhook_urls = { env = "HOOK" }\n', "live_alerts.webhook_urls", "expected a list, got a table"),
        ('[environment]\nlive_allowed_symbols = "BTC/EUR"\n', "environment.live_allowed_symbols", 'expected a list, got "BTC/EUR"'),
    ],
)
def test_a_string_where_a_list_belongs_is_one_line_naming_file_and_key(toml, key, problem):
    """``sinks = "log"`` used to become the three sinks l, o, g: alerts went nowhere."""
    Path("config.toml").write_text(toml)
    result = run_process("--config", "config.toml", "alerts", "test")
    assert result.returncode == 2, result.stdout
    assert result.stderr.strip().splitlines() == [f"config.toml: {key}: {problem}"]


def test_an_unknown_sink_is_a_config_error_listing_the_known_sinks():
    Path("config.toml").write_text('[live_alerts]\nsinks = ["log", "slak"]\n')
    result = run_process("--config", "config.toml", "alerts", "history")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith('config.toml: live_alerts.sinks: unknown sink "slak"; known sinks: log, stderr')


def test_a_sink_unknown_at_start_up_is_a_warning_when_the_config_was_not_checked():
    from peaktrade_core.alerts import AlertDispatcher
    from peaktrade_core.config import structure_config
    from peaktrade_core.log import captured

    config = structure_config({"live_alerts": {"sinks": ["log", "nowhere"]}})  # no plugins consulted
    with captured("WARNING") as lines:
        d = AlertDispatcher(config.live_alerts)
        d.start()
        d.close(1)
    assert "[live_alerts] sinks: no loaded plugin delivers to nowhere; known sinks: log, stderr" in lines
