"""Testnet and live sessions from the command line against a venue plugin installed as a
real distribution (``tests/venue_plugin/loopvenue.py``): validate-only and sandbox orders,
the summary, ``status`` and the run log saying so, the wrong client refused in one line,
re-runs with fresh client order ids, and ``peaktrade kill`` reaching the venue."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from peaktrade_core.testing import initialised_store

PLUGIN = Path(__file__).parent / "venue_plugin" / "loopvenue.py"

TESTNET = """
[environment]
mode = "testnet"
enable_testnet_trading = true
exchange = "loop"
testnet_allowed_symbols = ["BTC/EUR"]

[execution]
batch_size = 2
"""

ORDERS = "symbol,side,quantity,order_type,limit_price,reference_price\n" + "".join(
    f"BTC/EUR,buy,{0.001 * (i + 1):.3f},market,,100\n" for i in range(4)
)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """``loopvenue`` installed as pip would leave it: a dist-info with its entry point."""
    site = tmp_path / "site"
    info = site / "peaktrade_loopvenue-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: peaktrade-loopvenue\nVersion: 1.0.0\n")
    (info / "entry_points.txt").write_text("[peaktrade]\nloopvenue = loopvenue\n")
    shutil.copy(PLUGIN, site / "loopvenue.py")
    return site


@pytest.fixture
def run(tmp_path: Path, site: Path):
    db = tmp_path / "venue.sqlite"
    initialised_store().close()  # testnet/live refuse a store no person initialised

    def run(*args: str, kind: str | None = None, config: str = TESTNET, extra_env: dict[str, str] | None = None, popen: bool = False):
        cfg = tmp_path / "config.toml"
        cfg.write_text(config)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]), PT_LOOP_DB=str(db), PEAK_TRADE_PLUGINS="loopvenue")
        env.pop("PT_LOOP_KIND", None)
        if kind:
            env["PT_LOOP_KIND"] = kind
        env.update(extra_env or {})
        cmd = [sys.executable, "-m", "peaktrade_core", "--config", str(cfg), *args]
        if popen:
            return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)

    run.db = db
    return run


def venue_rows(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []  # the venue was never called
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def run_events(tmp_path: Path, run_id: str) -> list:
    from peaktrade_core.runlog import iter_run_events
    from peaktrade_core.state import StateStore

    store = StateStore.in_dir(tmp_path / "data")
    try:
        return list(iter_run_events(store, run_id))
    finally:
        store.close()


def orders_file(tmp_path: Path, text: str = ORDERS) -> str:
    path = tmp_path / "orders.csv"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("kind", "status", "effective", "endpoint"),
    [
        ("validate", "validated", "testnet_validate_only", "http://127.0.0.1:9/loop"),
        ("sandbox", "filled", "testnet", "http://127.0.0.1:9/loop-sandbox"),
    ],
)
def test_a_testnet_session_from_the_cli_reaches_the_venue_testnet_and_every_record_says_so(tmp_path, run, kind, status, effective, endpoint):
    out = run("session", "run", "--orders", orders_file(tmp_path), "--json", kind=kind)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["effective_mode"] == effective and summary["by_status"] == {status: 4}
    assert summary["venue"] == {"venue": "loop", "endpoint": endpoint, "testnet": True, "validate_only": kind == "validate"}
    assert summary["executor"] == "guarded:exchange:loop"
    submitted = venue_rows(run.db, "SELECT arg FROM calls WHERE call = 'submit_order'")
    assert len(submitted) == 4
    assert len(venue_rows(run.db, "SELECT * FROM orders")) == (0 if kind == "validate" else 4)  # validate-only places nothing

    text = run("session", "run", "--orders", orders_file(tmp_path), kind=kind).stdout
    assert f"effective: {effective}" in text
    assert f"venue: loop  {endpoint}  " + ("validate-only" if kind == "validate" else "testnet (sandbox)") in text

    shown = json.loads(run("runs", "show", summary["run_id"], "--json", kind=kind).stdout)
    assert shown["effective_mode"] == effective and shown["summary"]["venue"] == summary["venue"]
    (venue,) = [e for e in run_events(tmp_path, summary["run_id"]) if e.kind == "venue"]
    assert venue.extra == {**summary["venue"], "effective_mode": effective}
    assert {e.status for e in run_events(tmp_path, summary["run_id"]) if e.kind == "order"} == {status}

    status = json.loads(run("status", "--json", kind=kind).stdout)
    assert status["effective_mode"] == effective
    assert status["venue"]["endpoint"] == endpoint and status["venue"]["validate_only"] == (kind == "validate")
    assert [g["gate"] for g in status["testnet_gates"]] == ["mode", "enable_testnet_trading", "exchange", "kill_switch"]


@pytest.mark.needs_plugins("peaktrade-dryrun")  # the dry-run fallback runs the session
def test_with_the_testnet_gate_closed_nothing_reaches_the_venue(tmp_path, run):
    config = TESTNET.replace("enable_testnet_trading = true", "enable_testnet_trading = false")
    out = run("session", "run", "--orders", orders_file(tmp_path), "--json", config=config, extra_env={"PEAK_TRADE_PLUGINS": "loopvenue,dryrun"})
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["effective_mode"] == "testnet_dry_run" and summary["by_status"] == {"filled": 4}
    assert not run.db.exists()  # the venue was not called at all


@pytest.mark.needs_plugins("peaktrade-paper")  # a real paper session
def test_with_the_default_config_an_installed_venue_plugin_receives_nothing(tmp_path, run):
    out = run("session", "run", "--orders", orders_file(tmp_path), "--json", config="", extra_env={"PEAK_TRADE_PLUGINS": "loopvenue,paper"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["venue"] is None
    assert json.loads(run("status", "--json", config="").stdout)["venue"] is None
    assert not run.db.exists()  # not even built


def test_a_production_client_in_testnet_mode_is_refused_in_one_line(tmp_path, run):
    out = run("session", "run", "--orders", orders_file(tmp_path), kind="production")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"{tmp_path / 'config.toml'}: venue client 'loop' is a production client (http://127.0.0.1:9/loop): refused in testnet mode"
    ]
    assert venue_rows(run.db, "SELECT * FROM calls WHERE call = 'submit_order'") == []


def test_a_testnet_client_in_live_mode_is_refused_in_one_line(tmp_path, run):
    live = """
[environment]
mode = "live"
enable_live_trading = true
live_mode_armed = true
live_dry_run_mode = false
confirm_token = "I_KNOW_WHAT_I_AM_DOING"
max_live_notional_per_order = 100.0
max_live_notional_total = 1000.0
exchange = "loop"
live_allowed_exchanges = ["loop"]
live_allowed_symbols = ["BTC/EUR"]
"""
    out = run("session", "run", "--orders", orders_file(tmp_path), kind="sandbox", config=live)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"{tmp_path / 'config.toml'}: venue client 'loop' is a testnet client (http://127.0.0.1:9/loop-sandbox): refused in live mode"
    ]
    assert venue_rows(run.db, "SELECT * FROM calls WHERE call = 'submit_order'") == []


def test_rerunning_the_same_file_gives_new_ids_no_collision_and_no_borrowed_fill(tmp_path, run):
    path = orders_file(tmp_path)
    first = json.loads(run("session", "run", "--orders", path, "--json", kind="sandbox").stdout)
    second = json.loads(run("session", "run", "--orders", path, "--json", kind="sandbox").stdout)
    assert first["by_status"] == second["by_status"] == {"filled": 4}

    assert venue_rows(run.db, "SELECT * FROM calls WHERE call IN ('duplicate_refused', 'fetch_order')") == []  # no collision, no lookup
    ids = [cid for (cid,) in venue_rows(run.db, "SELECT cid FROM orders")]
    assert len(ids) == len(set(ids)) == 8
    assert all(len(cid) == 32 and cid == cid.lower() and int(cid, 16) >= 0 for cid in ids)
    recorded = {r: [e.client_order_id for e in run_events(tmp_path, r) if e.kind == "order"] for r in (first["run_id"], second["run_id"])}
    assert sorted(recorded[first["run_id"]] + recorded[second["run_id"]]) == sorted(ids)  # each run only its own fills


def test_an_order_breaking_the_venues_instrument_rules_is_refused_before_submit(tmp_path, run):
    text = "symbol,side,quantity,order_type,limit_price,reference_price\nBTC/EUR,buy,0.0015,market,,100\nBTC/EUR,buy,0.002,limit,99.25,\n"
    out = run("session", "run", "--orders", orders_file(tmp_path, text), "--json", kind="sandbox")
    summary = json.loads(out.stdout)
    assert summary["by_status"] == {"risk_blocked": 2}
    assert summary["blocks_by_reason"] == {"risk_blocked: instrument_rules": 2}
    assert venue_rows(run.db, "SELECT * FROM calls WHERE call = 'submit_order'") == []  # never rounded and sent


def test_the_dead_man_switch_is_armed_each_batch_and_disarmed_at_a_clean_end(tmp_path, run):
    out = run("session", "run", "--orders", orders_file(tmp_path), kind="sandbox")
    assert out.returncode == 0, out.stderr
    calls = [c for (c,) in venue_rows(run.db, "SELECT call FROM calls WHERE call LIKE '%dead_man%' OR call = 'submit_order' ORDER BY id")]
    assert calls == [
        "arm_dead_man_switch",
        "submit_order", "submit_order", "arm_dead_man_switch",
        "submit_order", "submit_order", "arm_dead_man_switch",
        "disarm_dead_man_switch",
    ]


def test_peaktrade_kill_during_a_testnet_session_cancels_the_venues_open_orders(tmp_path, run):
    # two resting limit orders, then the venue holds the third submit until the test says go
    text = "symbol,side,quantity,order_type,limit_price,reference_price\n" + "".join(
        f"BTC/EUR,buy,{0.001 * (i + 1):.3f},limit,95.5,\n" for i in range(6)
    )
    pause = tmp_path / "pause"
    env = {"PT_LOOP_PAUSE": str(pause), "PT_LOOP_PAUSE_AT": "3"}
    session = run("session", "run", "--orders", orders_file(tmp_path, text), "--json", kind="sandbox", extra_env=env, popen=True)
    try:
        deadline = time.time() + 120
        while not pause.with_suffix(".waiting").exists():
            assert session.poll() is None and time.time() < deadline, session.stderr.read() if session.poll() is not None else "timeout"
            time.sleep(0.05)
        assert len(venue_rows(run.db, "SELECT * FROM orders WHERE status = 'open'")) == 2

        kill = run("kill", "--reason", "venue incident", "--operator", "ops", kind="sandbox")
        assert kill.returncode == 0, kill.stderr
        assert "kill switch ENGAGED by ops" in kill.stdout
        assert "cancelled 2 open order(s) on loop (http://127.0.0.1:9/loop-sandbox)" in kill.stdout
    finally:
        pause.with_suffix(".go").write_text("go")
        out, err = session.communicate(timeout=180)
    summary = json.loads(out)
    # the held third order landed and rested; the session noticed the engage at its next
    # batch and cancelled it; orders 4-6 never reached the venue
    assert summary["by_status"] == {"accepted": 3, "gate_blocked": 3}
    assert venue_rows(run.db, "SELECT COUNT(*) FROM orders WHERE status = 'open'") == [(0,)]
    assert venue_rows(run.db, "SELECT COUNT(*) FROM calls WHERE call = 'submit_order'") == [(3,)]

    history = json.loads(run("kill", "--history", "--json", kind="sandbox").stdout)
    assert [(h["action"], h["operator"], h["source"]) for h in history] == [  # newest first
        ("venue_cancel_all", "ops", f"session {summary['run_id']}"),
        ("venue_cancel_all", "ops", "cli"),
        ("engage", "ops", "cli"),
    ]
    assert [h.get("cancelled") for h in history[:2]] == [1, 2]
    (cancel,) = [e for e in run_events(tmp_path, summary["run_id"]) if e.kind == "venue_cancel_all"]
    assert (cancel.extra["cancelled"], cancel.extra["operator"]) == (1, "ops")
