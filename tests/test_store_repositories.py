"""The subsystems' state on both backends (an SQLite file and a real PostgreSQL database):
alert history and deliveries, accounts, testnet budgets across a restart, readiness
sign-offs, health results, venue cancels, the drill log and venue nonces."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_core.accounts import AccountStore
from peaktrade_core.alerts import AlertDelivery, AlertEvent, AlertHistory, AlertLevel
from peaktrade_core.config import TestnetLimitsConfig as Limits
from peaktrade_core.config import TestnetProfileConfig as Profile
from peaktrade_core.drills import DrillLog
from peaktrade_core.health import FAIL, OK, Check, last_results, record_result
from peaktrade_core.readiness import current_stage, signoffs
from peaktrade_core.risk import PortfolioState
from peaktrade_core.store import open_store_url
from peaktrade_core.store.nonces import VenueNonces
from peaktrade_core.store.readiness import SignoffRepository
from peaktrade_core.testnet import BudgetedOrders, day_usage, profile_orders, sessions
from peaktrade_core.venues import cancel_open_orders, venue_cancel_history


@pytest.fixture
def handles(any_store_url, tmp_path):
    """Open handles on one store, as separate processes (or hosts) would hold them."""
    opened = []

    def open_one():
        opened.append(open_store_url(any_store_url, data_dir=tmp_path / "data"))
        return opened[-1]

    yield open_one
    for store in opened:
        store.close()


def test_alert_history_records_once_and_a_delivered_alert_is_never_marked_again(handles):
    history = AlertHistory(handles())
    first = AlertEvent(AlertLevel.CRITICAL, "pipeline", "venue_down", "venue unreachable", {"run_id": "r1"})
    second = AlertEvent(AlertLevel.INFO, "cli", "note", "just so", {})
    history.record([first, second], ["log", "webhook"])
    history.record([first], ["log", "webhook"])  # again (a resend): nothing doubles
    history.mark(first.id, AlertDelivery("webhook", True))
    history.mark(first.id, AlertDelivery("webhook", False, error="late failure"))  # never overrides
    history.mark(second.id, AlertDelivery("log", False, error="disk full"))

    other = AlertHistory(handles())  # another process sees the same history
    rows = other.query()
    assert [r["code"] for r in rows] == ["note", "venue_down"]  # newest first
    crit = rows[1]
    assert {d["sink"]: (d["status"], d["attempts"]) for d in crit["deliveries"]} == {"log": ("pending", 0), "webhook": ("delivered", 1)}
    assert rows[0]["deliveries"][0] == {"sink": "log", "status": "failed", "attempts": 1, "error": "disk full"}
    assert [r["code"] for r in other.query(AlertLevel.CRITICAL)] == ["venue_down"]
    assert [(e.code, sink) for e, sink in other.undelivered(["log", "webhook"])] == [("venue_down", "log"), ("note", "log"), ("note", "webhook")]
    assert other.delivered_sinks_since(time.time() - 60) == ["webhook"]
    assert other.last_delivered()[0] == "webhook"


def test_an_account_saved_in_a_transaction_that_fails_is_not_saved(handles):
    accounts = AccountStore(handles())
    accounts.save("default", "paper", PortfolioState(cash=9_000.0, starting_equity=10_000.0, positions={"BTC/EUR": 0.1}), "r1")
    with pytest.raises(RuntimeError), accounts.store.transaction() as conn:  # the run log's batch fails
        conn.execute(*accounts.save_statement("default", "paper", PortfolioState(cash=1.0, starting_equity=1.0), "r2"))
        raise RuntimeError("the batch's commit failed")
    with accounts.store.transaction() as conn:  # the run log's on_commit: one transaction with the batch
        accounts.save("default", "shadow", PortfolioState(cash=5.0, starting_equity=5.0), "r3", conn=conn)
    again = AccountStore(handles())
    paper = again.load("default", "paper")
    assert paper.run_id == "r1" and paper.portfolio.cash == 9_000.0 and paper.portfolio.positions == {"BTC/EUR": 0.1}
    assert again.load("default", "shadow").portfolio.cash == 5.0 and again.load("other", "paper") is None


def test_testnet_day_budget_survives_a_restart(handles):
    limits = Limits(max_orders_per_session=3, max_notional_per_session=1e6, max_orders_per_day=5, max_notional_per_day=1e6)
    profile = Profile(symbols=["BTC/EUR"], quantity=0.5, reference_prices={"BTC/EUR": 100.0}, order_count=4)
    first = BudgetedOrders(handles(), profile_orders("p", profile), "p", "default", limits, session_id="s1")
    assert len(list(first)) == 3 and len(first.refused) == 1  # the session cap
    restarted = handles()  # a new process reads the same usage
    assert (day_usage(restarted, "default").orders, day_usage(restarted, "default").notional) == (3, 150.0)
    second = BudgetedOrders(restarted, profile_orders("p", profile), "p", "default", limits, session_id="s2")
    sent = list(second)
    assert len(sent) == 2 and second.stopped_by == "budget"  # the day cap: 5 in all
    assert "testnet_limits.default.max_orders_per_day = 5 reached (5 orders used this day)" in second.refused[0]
    used = day_usage(handles(), "default")
    assert (used.orders, used.sessions, used.refused) == (5, 2, 3)
    assert sorted((s["session"], s["orders"], s["refused"]) for s in sessions(restarted)) == [("s1", 3, 1), ("s2", 2, 2)]


def test_readiness_sign_offs_count_once_per_person(handles):
    store = handles()
    repo = SignoffRepository(store)
    assert repo.add(1, "alice", "2026-01-01T00:00:00+00:00", "reviewed", "[]")
    assert not SignoffRepository(handles()).add(1, "alice", "2026-01-01T00:01:00+00:00", "again", "[]")  # signed already
    assert current_stage(store) == 1
    repo.add(2, "alice", "2026-01-02T00:00:00+00:00", "ok", "[]")
    repo.add(3, "alice", "2026-01-03T00:00:00+00:00", "ok", "[]")
    repo.add(4, "alice", "2026-01-04T00:00:00+00:00", "go", "[]")
    assert current_stage(store) == 3  # live needs a second person
    repo.add(4, "bob", "2026-01-04T00:05:00+00:00", "go", "[]")
    assert current_stage(handles()) == 4
    assert [(s["stage"], s["operator"]) for s in signoffs(store)] == [(1, "alice"), (2, "alice"), (3, "alice"), (4, "alice"), (4, "bob")]


def test_health_results_and_venue_cancels_newest_first(handles):
    store = handles()
    record_result(store, "pre-open", [Check("config", OK, "fine")])
    record_result(store, "end-of-day", [Check("runs", FAIL, "run r1 does not verify")])
    assert [(r["preset"], r["ok"]) for r in last_results(handles())] == [("end-of-day", False), ("pre-open", True)]

    class Venue:  # the venue's side is not under test here: its answers are
        name, endpoint = "loopback", "http://127.0.0.1:1"

        def __init__(self, answer):
            self.answer = answer

        def cancel_all(self):
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

    cancel_open_orders(Venue(2), store, operator="alice", source="kill", reason="stop")
    cancel_open_orders(Venue(ConnectionError("refused")), store, operator="alice", source="kill", reason="stop")
    history = venue_cancel_history(handles())
    assert [(h["cancelled"], h["error"]) for h in history] == [(2, None), (None, "ConnectionError: refused")]
    assert venue_cancel_history(store, limit=1) == history[1:]


def test_the_drill_log_is_shared_and_a_file_from_before_is_imported_once(handles, tmp_path):
    legacy = tmp_path / "drills.jsonl"
    old = {"at": "2026-01-01T08:00:00+00:00", "operator": "carol", "passed": True, "read_only_verified": True}
    legacy.write_text(json.dumps(old) + "\n", encoding="utf-8")
    first = DrillLog(handles(), legacy)
    assert first.imported == 1 and first.entries() == [old]
    (tmp_path / "drills.jsonl.imported").rename(legacy)  # as if the rename had failed
    other_host = DrillLog(handles(), legacy)
    assert other_host.imported == 0  # each line once
    first.repository.add({"at": "2026-01-02T08:00:00+00:00", "operator": "dave", "passed": False}, "host-a")
    assert [e["operator"] for e in other_host.entries()] == ["carol", "dave"]
    assert [e["operator"] for e in other_host.entries(limit=1)] == ["dave"]


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2_000)), min_size=1, max_size=30))
def test_venue_nonces_never_repeat_or_go_back_whatever_each_handle_asks_for(any_store_url, steps):
    """Three handles (processes), each asking with its own floor (a clock that may lag):
    every nonce is larger than every nonce before it, and at least what was asked."""
    key = uuid.uuid4().hex  # one key per example: the database outlives the examples
    handles = [VenueNonces(open_store_url(any_store_url)) for _ in range(3)]
    try:
        issued = []
        for who, floor in steps:
            issued.append(handles[who].next(key, at_least=floor))
            assert issued[-1] >= floor
        assert all(b > a for a, b in zip(issued, issued[1:], strict=False))
    finally:
        for h in handles:
            h.store.close()


_NONCES = """
import sys
from peaktrade_core.store import open_store_url
from peaktrade_core.store.nonces import VenueNonces
nonces = VenueNonces(open_store_url(sys.argv[1]))
print(" ".join(str(nonces.next("shared key", at_least=int(sys.argv[2]))) for _ in range(150)))
"""


def test_venue_nonces_strictly_increase_across_processes(any_store_url, tmp_path):
    # the second process's clock is far behind: its nonces still continue after the others'
    procs = [
        subprocess.Popen([sys.executable, "-c", _NONCES, any_store_url, str(at_least)], stdout=subprocess.PIPE, text=True)
        for at_least in (1_700_000_000_000_000, 5)
    ]
    runs = [[int(x) for x in p.communicate(timeout=120)[0].split()] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert all(len(run) == 150 and all(b > a for a, b in zip(run, run[1:], strict=False)) for run in runs)
    everything = [n for run in runs for n in run]
    assert len(set(everything)) == 300  # no nonce handed out twice
    store = open_store_url(any_store_url)
    assert VenueNonces(store).last("shared key") == max(everything)
    assert VenueNonces(store).next("shared key") == max(everything) + 1 and VenueNonces(store).last("other key") == 0
    store.close()


def test_two_hosts_on_one_database_read_one_drill_log_through_the_cli(postgres_url, tmp_path):
    """Host A's drill-log file from before is imported into the shared database; host B
    (its own data directory) lists it, and its readiness counts it."""
    import os

    env = {**os.environ, "PEAK_TRADE_PLUGINS": "", "PEAK_TRADE_DB_URL": postgres_url}
    env.pop("PEAK_TRADE_DATA_DIR", None)

    def host(name: str) -> list[str]:
        config = tmp_path / name / "config.toml"
        (tmp_path / name / "data").mkdir(parents=True)
        config.write_text(f'[state]\ndata_dir = "{tmp_path / name / "data"}"\nurl = {{ env = "PEAK_TRADE_DB_URL" }}\n', encoding="utf-8")
        return [sys.executable, "-m", "peaktrade_core", "--config", str(config)]

    a, b = host("a"), host("b")
    today = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    entry = {"at": today, "operator": "carol", "config": "a.toml", "count": 8, "passed": True, "read_only_verified": True}
    (tmp_path / "a" / "data" / "drills.jsonl").write_text(json.dumps(entry) + "\n", encoding="utf-8")
    on_a = subprocess.run([*a, "drills", "log", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert on_a.returncode == 0, on_a.stderr
    on_b = subprocess.run([*b, "drills", "log", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert on_b.returncode == 0, on_b.stderr
    assert json.loads(on_a.stdout) == json.loads(on_b.stdout) == [entry]
    readiness = subprocess.run([*b, "readiness", "--stage", "1"], capture_output=True, text=True, env=env, timeout=120)
    assert f"[met ] drills_passed: drills passed {today}" in readiness.stdout, readiness.stdout + readiness.stderr
