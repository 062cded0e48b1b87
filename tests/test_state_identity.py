"""The state store's identity (issue 10, item 1): losing, emptying, replacing or editing the
store is visible, and testnet/live refuse to trade on it until a person initialises it."""

from __future__ import annotations

import json
import os
import re
import shutil
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
from peaktrade_core.pipeline import ExecutionPipeline
from peaktrade_core.state import STATE_FILE, StateStore
from peaktrade_core.testing import FillingExecutor, live_environment

IDENTITY_FILE = "peaktrade.identity"
LIVE = """
[environment]
mode = "live"
enable_live_trading = true
live_mode_armed = true
live_dry_run_mode = false
confirm_token = { env = "PT_TOKEN" }
profile = "tiny_live"
"""
ORDERS = "symbol,side,quantity,reference_price\nBTC/EUR,buy,0.001,40000\n"


def cli(*args: str, config: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PT_TOKEN": "I_KNOW_WHAT_I_AM_DOING", **env}
    pre = ["--config", str(config)] if config else []
    return subprocess.run([sys.executable, "-m", "peaktrade_core", *pre, *args], capture_output=True, text=True, env=full)


@pytest.fixture
def live(tmp_path) -> Path:
    path = tmp_path / "live.toml"
    path.write_text(LIVE)
    return path


@pytest.fixture
def data_dir() -> Path:
    return Path(os.environ["PEAK_TRADE_DATA_DIR"])


def remove_store(data_dir: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (data_dir / (STATE_FILE + suffix)).unlink(missing_ok=True)


def refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def engaged_live_store(live: Path) -> None:
    assert cli("state", "init", "--reason", "first setup", config=live).returncode == 0
    assert cli("status", "--require-live", config=live).returncode == 0  # every gate open
    assert cli("kill", "--reason", "venue incident", "--operator", "alice", config=live).returncode == 0


# -- what it must show: a lost store cannot hide an engaged kill switch ------------------


@pytest.mark.parametrize("mode", ["live", "testnet"])
def test_fresh_data_dir_engaged_kill_switch_then_deleted_store_refuses_live_status(live, data_dir, mode):
    live.write_text(LIVE.replace('mode = "live"', f'mode = "{mode}"'))
    assert cli("kill", "--reason", "venue incident", config=live).returncode == 0
    remove_store(data_dir)
    status = cli("status", "--require-live", config=live)
    refused(status, "live execution not allowed: state store", "never initialised")
    assert "PROBLEM: state store" in status.stdout


@pytest.mark.parametrize("loss", ["deleted", "truncated", "events deleted", "last event deleted"])
def test_engaged_kill_switch_then_lost_state_refuses_live_and_names_the_problem(live, data_dir, tmp_path, loss):
    engaged_live_store(live)
    store_file = data_dir / STATE_FILE
    if loss == "deleted":
        remove_store(data_dir)
    elif loss == "truncated":
        remove_store(data_dir)
        store_file.write_bytes(b"")
    else:
        where = "" if loss == "events deleted" else " WHERE id = (SELECT max(id) FROM kill_switch_events)"
        with sqlite3.connect(store_file) as conn:
            conn.execute("DELETE FROM kill_switch_events" + where)

    status = cli("status", "--require-live", config=live)
    expected = "events were deleted" if "event" in loss else "missing or empty"
    refused(status, "state store", expected)
    assert json.loads(cli("status", "--json", config=live).stdout)["is_live_execution_allowed"] is False

    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)
    session = cli("session", "run", "--orders", str(orders), config=live)
    refused(session, "live refused", expected, "peaktrade state init")
    assert session.returncode == 2 and len(session.stderr.strip().splitlines()) == 1

    # a person initialises it again: recorded, and the engaged kill switch is carried over
    again = cli("state", "init", "--reason", "store lost in incident 7, checked by bob", "--operator", "bob", config=live)
    assert again.returncode == 0, again.stderr
    assert "kill switch ENGAGED" in again.stdout
    data = json.loads(cli("status", "--json", config=live).stdout)
    assert data["kill_switch"]["engaged"] is True and "venue incident" in data["kill_switch"]["reason"]
    assert data["state"]["problem"] is None
    shown = json.loads(cli("state", "show", "--json", config=live).stdout)
    assert [(i["operator"], i["kind"]) for i in shown["initialisations"]][-1] == ("bob", "person")
    assert shown["initialisations"][-1]["found"]  # what the person found is on record


def test_moving_the_data_dir_or_home_is_a_store_that_was_never_initialised(live, tmp_path):
    engaged_live_store(live)
    moved = cli("status", "--require-live", config=live, PEAK_TRADE_DATA_DIR=str(tmp_path / "elsewhere"))
    refused(moved, "never initialised")
    env = {k: v for k, v in os.environ.items() if k != "PEAK_TRADE_DATA_DIR"}
    other_home = subprocess.run(
        [sys.executable, "-m", "peaktrade_core", "--config", str(live), "status", "--require-live"],
        capture_output=True, text=True, env={**env, "PT_TOKEN": "I_KNOW_WHAT_I_AM_DOING", "XDG_DATA_HOME": str(tmp_path / "xdg")},
    )
    refused(other_home, "never initialised", str(tmp_path / "xdg"))


def test_a_store_swapped_in_from_elsewhere_is_refused(live, data_dir, tmp_path):
    engaged_live_store(live)
    other = tmp_path / "other"
    assert cli("state", "init", "--reason", "another desk", "--data-dir", str(other)).returncode == 0
    remove_store(data_dir)
    shutil.copy(other / STATE_FILE, data_dir / STATE_FILE)
    refused(cli("status", "--require-live", config=live), "was replaced")


def test_a_deleted_identity_file_is_refused(live, data_dir):
    engaged_live_store(live)
    (data_dir / IDENTITY_FILE).unlink()
    refused(cli("status", "--require-live", config=live), IDENTITY_FILE, "is missing")


def test_paper_creates_a_store_and_says_so_but_it_does_not_count_for_live(live, tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)
    paper = cli("orders", "preview", str(orders))
    assert paper.returncode == 0, paper.stderr
    assert sum("new state store" in line for line in paper.stderr.splitlines()) == 1
    assert "new state store" not in cli("orders", "preview", str(orders)).stderr  # once
    refused(cli("status", "--require-live", config=live), "created by a paper/shadow session")


def test_paper_on_a_lost_store_warns_and_keeps_the_evidence_for_live(live, data_dir, tmp_path):
    engaged_live_store(live)
    identity = (data_dir / IDENTITY_FILE).read_bytes()
    remove_store(data_dir)
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)
    paper = cli("orders", "preview", str(orders))
    assert paper.returncode == 0 and "missing or empty" in paper.stderr
    assert (data_dir / IDENTITY_FILE).read_bytes() == identity
    refused(cli("status", "--require-live", config=live), "missing or empty")


def test_state_init_needs_a_reason_and_leaves_an_intact_store_alone(live):
    refused(cli("state", "init", config=live), "--reason is required")
    assert cli("state", "init", "--reason", "setup", config=live).returncode == 0
    again = cli("state", "init", "--reason", "again", config=live)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert len(json.loads(cli("state", "show", "--json", config=live).stdout)["initialisations"]) == 1


def test_config_set_refuses_state_data_dir_and_leaves_the_file_unchanged(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[state]\ndata_dir = "/srv/peaktrade"\n')
    before = config.read_bytes()
    result = cli("config", "set", "state.data_dir", '"/tmp/elsewhere"', config=config)
    assert result.returncode == 2 and "state.data_dir" in result.stderr
    assert config.read_bytes() == before


# -- the pipeline refuses, whoever builds it ----------------------------------------------


def test_pipeline_refuses_live_on_an_uninitialised_store_and_paper_creates_one(tmp_path):
    from peaktrade_core.state import StateIdentityError, check_state, init_identity

    live = PeakTradeConfig(environment=live_environment())
    with pytest.raises(StateIdentityError, match="live refused: state store .* never initialised"):
        ExecutionPipeline(live, store=StateStore(tmp_path / "a" / STATE_FILE), executor=FillingExecutor(), record=False)
    paper = StateStore(tmp_path / "b" / STATE_FILE)
    ExecutionPipeline(PeakTradeConfig(), store=paper, executor=FillingExecutor(), record=False)
    assert check_state(paper).kind == "automatic"
    with pytest.raises(StateIdentityError, match="created by a paper/shadow session"):
        ExecutionPipeline(live, store=paper, executor=FillingExecutor(), record=False)
    init_identity(paper, "checked", operator="alice")
    ExecutionPipeline(live, store=paper, executor=FillingExecutor(), record=False)


# -- safety property: no deletion of kill-switch events goes unnoticed ---------------------

actions = st.lists(st.sampled_from(["engage", "release"]), min_size=1, max_size=12).map(lambda a: ["engage", *a])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=actions, data=st.data())
def test_deleting_any_kill_switch_events_is_detected(history, data):
    from peaktrade_core.state import check_state, init_identity

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / STATE_FILE
        store = StateStore(path)
        init_identity(store, "setup", operator="alice")
        switch = KillSwitch(store)
        for i, action in enumerate(history):
            if action == "engage" or switch.state().engaged:
                getattr(switch, action)(f"step {i}", operator="alice")
        ids = [r["id"] for r in switch.history()]
        assert check_state(store).kind == "ok"
        doomed = data.draw(st.lists(st.sampled_from(ids), min_size=1, unique=True))
        store.close()
        with sqlite3.connect(path) as conn:
            conn.executemany("DELETE FROM kill_switch_events WHERE id = ?", [(i,) for i in doomed])
        reopened = StateStore(path)
        assert check_state(reopened).kind == "altered"
        reopened.close()


def test_the_messages_point_to_runbooks_that_exist():
    from peaktrade_core.state import damage

    docs = (Path(__file__).resolve().parents[1] / "docs" / "operators.md").read_text()
    runbook = re.search(r"see '([^']+)' in docs/operators.md", damage(sqlite3.DatabaseError("file is not a database")))
    assert runbook and f"### {runbook.group(1)}\n" in docs
    assert "peaktrade state init --reason" in docs and "### First setup of testnet or live" in docs
