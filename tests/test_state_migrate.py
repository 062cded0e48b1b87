"""``peaktrade state migrate --to URL``: an SQLite state store moves into PostgreSQL whole,
and every run-log chain verifies on the copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from peaktrade_core.config import load_config
from peaktrade_core.killswitch import KillSwitch
from peaktrade_core.orders import OrderRequest
from peaktrade_core.pipeline import ExecutionPipeline
from peaktrade_core.runlog import list_runs, load_run_snapshot, verify_run
from peaktrade_core.state import check_state, init_identity
from peaktrade_core.store import StateStore, open_store_url
from peaktrade_core.testing.kill_propagation import _FillAll


def _cli(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PEAK_TRADE_PLUGINS": ""}
    env.pop("PEAK_TRADE_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", "peaktrade_core", "--config", str(config), *args],
                          capture_output=True, text=True, env=env, timeout=1200)


def _desk(tmp_path: Path, orders: int, runs: int = 1) -> tuple[Path, StateStore]:
    """A data dir with ``runs`` recorded paper sessions of ``orders`` orders in all."""
    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text(f'[state]\ndata_dir = "{data}"\n\n[execution]\nbatch_size = 1000\n\n[live_risk]\nrunaway_max_executions = 1000000000\n')
    store = StateStore.in_dir(data)
    init_identity(store, "desk")
    KillSwitch(store).engage("before the move", "alice")
    KillSwitch(store).release("checked", "alice")
    for _ in range(runs):
        pipeline = ExecutionPipeline(load_config(config), store=store, executor=_FillAll())
        pipeline.run(OrderRequest("BTCUSDT", "sell" if i % 2 else "buy", 0.001 + (i // 2 % 1000) * 1e-6, reference_price=100.0)
                     for i in range(orders // runs))
    return config, store


def test_migrate_copies_every_table_and_the_copy_verifies(postgres_url, tmp_path):
    config, source = _desk(tmp_path, 3_000, runs=3)
    done = _cli("state", "migrate", "--to", postgres_url, "--json", config=config)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["runs_verified"] == 3 and report["runs_broken"] == []
    target = open_store_url(postgres_url, data_dir=tmp_path / "data")
    assert check_state(target).kind == "ok"  # the same identity: the data dir's file still agrees
    assert [e["action"] for e in KillSwitch(target).history()] == ["engage", "release"]
    assert [m.run_id for m in list_runs(target)] == [m.run_id for m in list_runs(source)]
    KillSwitch(target).engage("after the move", "bob")  # new rows continue after the copied ids
    assert KillSwitch(target).history()[-1]["id"] == 3
    again = _cli("state", "migrate", "--to", postgres_url, config=config)
    assert again.returncode == 2 and "is not empty" in again.stderr and len(again.stderr.strip().splitlines()) == 1


def test_migrate_refuses_a_target_that_is_not_postgresql(tmp_path):
    config, _ = _desk(tmp_path, 10)
    done = _cli("state", "migrate", "--to", f"sqlite://{tmp_path / 'other.sqlite3'}", config=config)
    assert done.returncode == 2 and "PostgreSQL" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_migrate_of_a_million_recorded_orders_verifies_every_chain(postgres_url, tmp_path):
    config, source = _desk(tmp_path, 1_000_000, runs=2)
    done = _cli("state", "migrate", "--to", postgres_url, "--json", config=config)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["runs_verified"] == 2
    target = open_store_url(postgres_url, data_dir=tmp_path / "data")
    runs = list_runs(target)
    assert sum(load_run_snapshot(target, m.run_id).orders for m in runs) == 1_000_000
    assert all(verify_run(target, m.run_id).ok for m in runs)
