"""The emergency stop always works and is seen everywhere (issue 10, items 2, 3 and 17)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_core.config import PeakTradeConfig
from peaktrade_core.killswitch import KillSwitch
from peaktrade_core.orders import OrderRequest, OrderStatus
from peaktrade_core.pipeline import ExecutionPipeline
from peaktrade_core.state import STATE_FILE, StateStore
from peaktrade_core.testing import FillingExecutor


def cli(*args: str, drop: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in drop} | env
    return subprocess.run([sys.executable, "-m", "peaktrade_core", *args], capture_output=True, text=True, env=full)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def data_dir() -> Path:
    return Path(os.environ["PEAK_TRADE_DATA_DIR"])


# -- item 2: every KillSwitch on a store sees every engage --------------------------------


def test_an_engage_through_a_second_kill_switch_on_the_same_store_is_seen_by_the_first(tmp_path):
    store = StateStore(tmp_path / STATE_FILE)
    first, second = KillSwitch(store), KillSwitch(store)
    assert not first.state().engaged  # cached
    second.engage("incident", operator="alice")
    assert first.state().engaged and first.state().reason == "incident"
    first.release("over", operator="bob")
    assert not second.state().engaged


def test_the_pipeline_stops_on_an_engage_through_another_kill_switch_on_its_store(tmp_path):
    store = StateStore(tmp_path / STATE_FILE)
    executor = FillingExecutor()
    pipeline = ExecutionPipeline(PeakTradeConfig(), store=store, executor=executor, record=False)
    order = lambda q: OrderRequest("BTC/EUR", "buy", q, reference_price=40_000.0)  # noqa: E731
    assert pipeline.process_batch([order(0.001)])[0].status is OrderStatus.FILLED
    KillSwitch(store).engage("stop now", operator="alice")
    results = pipeline.process_batch([order(0.002)])
    assert results[0].status is OrderStatus.GATE_BLOCKED and "stop now" in results[0].reasons[0]
    assert len(executor.received) == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=20), reader=st.integers(0, 2))
def test_every_kill_switch_on_a_store_reads_the_last_event(steps, reader):
    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore(Path(tmp) / STATE_FILE)
        switches = [KillSwitch(store) for _ in range(3)]
        engaged = False
        for who, engage in steps:
            switches[reader].state()  # a cache that must not go stale
            if engage:
                switches[who].engage("e", operator="op")
                engaged = True
            elif engaged:
                switches[who].release("r", operator="op")
                engaged = False
            assert all(s.state().engaged is engaged for s in switches)
        store.close()


# -- item 3: kill needs only the data directory -------------------------------------------


@pytest.mark.parametrize(
    "broken",
    ['[live_risk]\nmax_order_notional = "abc"\n', "[environment\nmode = live\n", "[environment]\nnot_a_key = 1\n"],
    ids=["bad value", "bad TOML", "unknown key"],
)
def test_kill_engages_in_the_configs_data_dir_although_the_config_is_invalid(tmp_path, broken):
    bot_dir = tmp_path / "bot-data"
    config = tmp_path / "config.toml"
    config.write_text(f'[state]\ndata_dir = "{bot_dir}"\n\n{broken}')
    assert cli("--config", str(config), "status").returncode == 2  # the config really is invalid
    result = cli("--config", str(config), "kill", "--reason", "bot runs wild", drop=("PEAK_TRADE_DATA_DIR",))
    assert result.returncode == 0, result.stderr
    assert "ENGAGED" in result.stdout and str(bot_dir) in result.stdout
    assert "config not used" in result.stderr and "Traceback" not in result.stderr
    assert KillSwitch(StateStore.in_dir(bot_dir)).state().reason == "bot runs wild"


def test_kill_data_dir_option_overrides_everything(tmp_path):
    config = tmp_path / "config.toml"
    config.write_bytes(b"\xff\xfe not even text")
    chosen = tmp_path / "chosen"
    result = cli("--config", str(config), "kill", "--reason", "stop", "--data-dir", str(chosen), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["store"] == str(chosen / STATE_FILE)
    assert KillSwitch(StateStore.in_dir(chosen)).state().engaged


def _damage(path: Path, how: str) -> None:
    store = StateStore(path)
    switch = KillSwitch(store)
    for _ in range(200):
        switch.engage("x" * 400, operator="a")
        switch.release("y" * 400, operator="a")
    store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = path.read_bytes()
    path.write_bytes(os.urandom(4096) if how == "garbage" else data[: len(data) // 2])


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_kill_and_status_on_a_damaged_state_file_say_so_in_one_line(data_dir, how):
    _damage(data_dir / STATE_FILE, how)
    result = cli("kill", "--reason", "stop")
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith("kill switch NOT engaged: state store ") and "damaged" in line and "docs/operators.md" in line
    status = cli("status")
    assert status.returncode == 2 and "damaged" in one_line(status)


# -- item 17: who released it, JSON, microseconds -----------------------------------------


def _alerts(data_dir: Path) -> list[tuple[str, dict]]:
    with sqlite3.connect(data_dir / STATE_FILE) as conn:
        rows = conn.execute("SELECT message, context FROM alert_history WHERE source = 'killswitch' ORDER BY seq").fetchall()
    return [(m, json.loads(c)) for m, c in rows]


def test_the_release_alert_names_the_operator_who_released(data_dir):
    assert cli("kill", "--reason", "incident", LOGNAME="carol", USER="carol").returncode == 0
    assert cli("kill", "--release", "--reason", "checked", LOGNAME="dave", USER="dave").returncode == 0
    (_, _), (released, context) = _alerts(data_dir)
    assert released == "kill switch released by dave: checked" and context["operator"] == "dave"


def test_kill_json_reports_engage_and_release():
    engaged = cli("kill", "--reason", "incident", "--operator", "alice", "--json")
    data = json.loads(engaged.stdout)
    assert (data["action"], data["engaged"], data["operator"], data["reason"]) == ("engage", True, "alice", "incident")
    released = json.loads(cli("kill", "--release", "--reason", "over", "--operator", "bob", "--json").stdout)
    assert (released["action"], released["engaged"], released["operator"]) == ("release", False, "bob")
    assert released["at"] > data["at"]


def test_event_times_have_microseconds_and_old_second_rows_stay_readable(data_dir):
    data_dir.mkdir(parents=True)
    with sqlite3.connect(data_dir / STATE_FILE) as conn:  # a store written by an older version
        conn.execute(
            "CREATE TABLE kill_switch_events (id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, "
            "operator TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL, source TEXT NOT NULL)"
        )
        conn.execute("INSERT INTO kill_switch_events (action, operator, reason, at, source) VALUES "
                     "('engage', 'old', 'from before', '2026-01-02T03:04:05+00:00', 'cli')")
    status = json.loads(cli("status", "--json").stdout)
    assert status["kill_switch"]["engaged"] and status["kill_switch"]["at"] == "2026-01-02T03:04:05+00:00"
    assert cli("kill", "--release", "--reason", "done", "--operator", "bob").returncode == 0
    history = json.loads(cli("kill", "--history", "--json").stdout)
    assert [h["at"] for h in history][-1] == "2026-01-02T03:04:05+00:00"  # newest first
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", history[0]["at"])
    from peaktrade_core.state import check_state

    assert cli("state", "init", "--reason", "upgrade").returncode == 0  # seals the old rows too
    assert check_state(StateStore.in_dir(data_dir)).kind == "ok"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data_dir=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40),
    before=st.sampled_from(["", "[execution]\nbatch_size = 10\n", "# [state]\n"]),
    broken=st.sampled_from(["", "[environment\n", 'x = "unterminated\n', "[live_risk]\nmax_order_notional = ]\n"]),
)
def test_kill_finds_the_same_data_dir_as_a_session_even_in_a_broken_config(tmp_path, monkeypatch, data_dir, before, broken):
    """The store ``kill`` writes to is the one the bot on that config (before it broke) uses."""
    import tomlkit

    from peaktrade_core.config import load_config
    from peaktrade_core.state import lenient_data_dir

    monkeypatch.delenv("PEAK_TRADE_DATA_DIR", raising=False)
    good = tmp_path / "good.toml"
    good.write_text(before + tomlkit.dumps({"state": {"data_dir": data_dir}}), encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text(encoding="utf-8") + broken, encoding="utf-8")
    assert lenient_data_dir(bad) == lenient_data_dir(good) == load_config(good).data_dir()
