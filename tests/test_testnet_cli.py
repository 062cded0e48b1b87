"""``peaktrade testnet``: a profile run through the normal pipeline against the loopback
reference venue stops at its budget, and the budget's usage survives a restart — every
step a fresh ``peaktrade`` process on a real state store."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core.config import TestnetLimitsConfig as Limits
from peaktrade_core.runlog import iter_run_events
from peaktrade_core.state import STATE_FILE, StateStore
from peaktrade_core.testing import OperatorShell
from peaktrade_core.testing.loopback import LoopbackVenue
from peaktrade_core.testnet import Usage, refusal

pytestmark = pytest.mark.slow

#: 6 orders of 0.001 BTC/EUR at 40,000 (40 each); the session may send 4, the day 7
BUDGETED = """
[testnet_limits.small]
max_orders_per_session = 4
max_notional_per_session = 1000.0
max_orders_per_day = 7
max_notional_per_day = 1000.0

[testnet_profiles.six]
symbols = ["BTC/EUR"]
quantity = 0.001
reference_prices = { "BTC/EUR" = 40000.0 }
order_count = 6
limits = "small"
"""


@pytest.fixture
def shell(tmp_path):
    with LoopbackVenue() as venue:
        op = OperatorShell(tmp_path, venue)
        op.use_loopback_testnet()
        # the profile repeats identical orders: the duplicate control would block them
        text = op.config.read_text().replace("max_daily_loss_abs = 200.0", "max_daily_loss_abs = 200.0\nduplicate_window_seconds = 0.0")
        op.config.write_text(text + BUDGETED)
        yield op


def _json(proc):
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def test_a_profile_run_stops_at_its_session_budget_and_the_rest_is_refused_on_record(shell):
    proc = shell("testnet", "run", "--profile", "six", "--json")
    assert proc.returncode == 5, proc.stderr
    data = _json(proc)
    assert data["effective_mode"] == "testnet"
    assert data["orders"] == 4 and data["testnet"]["sent"] == 4
    assert len(data["testnet"]["refused"]) == 2
    assert "testnet_limits.small.max_orders_per_session = 4 reached" in data["testnet"]["refused"][0]
    assert len(shell.venue.orders()) == 4  # the venue saw exactly the budget, nothing more
    assert shell("runs", "verify", data["run_id"]).returncode == 0
    store = StateStore.in_dir(shell.data)  # the refusals are in the run's hash chain
    events = [e for e in iter_run_events(store, data["run_id"]) if e.kind == "skipped_rows"]
    store.close()
    assert len(events) == 1 and "max_orders_per_session" in json.dumps(events[0].extra)


def test_budget_shows_usage_that_survives_a_restart_and_the_day_budget_holds_across_sessions(shell):
    assert shell("testnet", "run", "--profile", "six").returncode == 5
    # a new process (a restart) reads the same usage from the state store
    budget = _json(shell("testnet", "budget", "--json"))
    small = next(b for b in budget["budgets"] if b["limits"] == "small")
    assert (small["orders"], small["orders_left"], small["sessions"], small["refused"]) == (4, 3, 1, 2)
    assert budget["sessions"][0]["profile"] == "six"
    # the second session may send only the 3 orders left of the day
    second = _json(shell("testnet", "run", "--profile", "six", "--json"))
    assert second["testnet"]["sent"] == 3
    assert "max_orders_per_day = 7 reached" in second["testnet"]["refused"][0]
    assert len(shell.venue.orders()) == 7
    text = shell("testnet", "budget")
    assert text.returncode == 0
    assert "small: orders 7/7 (0 left)" in text.stdout
    # the usage is in the state store itself, not in a process
    with sqlite3.connect(shell.data / STATE_FILE) as conn:
        assert conn.execute("SELECT SUM(orders), SUM(refused) FROM testnet_usage").fetchone() == (7, 5)


def test_dry_run_shows_the_verdicts_and_sends_and_records_nothing(shell):
    proc = shell("testnet", "run", "--profile", "six", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("would send") == 4 and proc.stdout.count("REFUSED") == 2
    assert "dry run, nothing sent" in proc.stdout
    assert shell.venue.orders() == []
    budget = _json(shell("testnet", "budget", "--json"))
    assert all(b["orders"] == 0 for b in budget["budgets"]) and budget["sessions"] == []


def test_list_shows_profiles_and_limits(shell):
    data = _json(shell("testnet", "list", "--json"))
    six = next(p for p in data["profiles"] if p["name"] == "six")
    assert six["notional_total"] == pytest.approx(240.0) and six["limits"] == "small"
    assert data["limits"]["small"]["max_orders_per_session"] == 4


def test_an_unknown_profile_or_limits_is_one_line_naming_the_key(shell):
    proc = shell("testnet", "run", "--profile", "nope")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "testnet_profiles.nope: no such profile" in proc.stderr
    shell.config.write_text(shell.config.read_text().replace('limits = "small"', 'limits = "missing"'))
    proc = shell("testnet", "run", "--profile", "six")
    assert proc.returncode == 2 and "testnet_profiles.six.limits: no [testnet_limits.missing]" in proc.stderr
    assert shell.venue.orders() == []


def test_a_bad_limits_table_is_refused_when_the_config_loads(shell):
    shell.config.write_text(shell.config.read_text().replace("max_orders_per_day = 7", "max_orders_per_day = -1\nmax_orderz = 3"))
    proc = shell("testnet", "budget")
    assert proc.returncode == 2
    assert "testnet_limits.small.max_orderz: unknown key" in proc.stderr


def test_run_on_a_store_no_person_initialised_is_refused_and_sends_nothing(tmp_path):
    with LoopbackVenue() as venue:
        op = OperatorShell(tmp_path, venue)
        op.use_loopback_testnet()
        op.data = tmp_path / "other-data"  # a fresh data dir: no `peaktrade state init` here
        proc = op("testnet", "run", "--profile", "smoke")
        assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
        assert venue.orders() == []


def test_run_with_the_testnet_gate_closed_is_refused_and_sends_nothing(shell):
    shell.config.write_text(shell.config.read_text().replace("enable_testnet_trading = true", "enable_testnet_trading = false"))
    proc = shell("testnet", "run", "--profile", "six")
    # without the dry-run plugin the pipeline itself refuses; with it, the effective mode
    # (testnet_dry_run) is not testnet and `testnet run` refuses: either way one line
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert shell.venue.orders() == [] and _json(shell("testnet", "budget", "--json"))["sessions"] == []


def test_run_outside_testnet_mode_is_refused_and_sends_nothing(shell):
    shell.config.write_text(shell.config.read_text().replace('mode = "testnet"', 'mode = "paper"', 1))
    proc = shell("testnet", "run", "--profile", "six")
    assert proc.returncode == 2 and 'environment.mode: is "paper"' in proc.stderr
    assert shell.venue.orders() == []


_limits = st.builds(
    Limits,
    max_orders_per_session=st.integers(0, 50), max_notional_per_session=st.floats(0, 1e6),
    max_orders_per_day=st.integers(0, 50), max_notional_per_day=st.floats(0, 1e6),
)


@settings(max_examples=200)
@given(_limits, st.lists(st.floats(0, 1e5), max_size=60), st.integers(0, 40), st.floats(0, 1e6))
def test_orders_admitted_one_by_one_never_exceed_any_budget(limits, notionals, day_orders, day_notional):
    """The safety property: whatever came before today, the orders let through keep every
    cap; an order is refused rather than let a cap be passed."""
    session, day = Usage(), Usage(day_orders, day_notional)
    start = Usage(day_orders, day_notional)
    for n in notionals:
        if refusal("x", limits, session, day, n) is not None:
            continue
        for u in (session, day):
            u.orders += 1
            u.notional += n
    assert session.orders <= limits.max_orders_per_session
    assert session.notional <= limits.max_notional_per_session + 1e-6
    if day.orders > start.orders:  # something was let through today: the day caps held
        assert day.orders <= limits.max_orders_per_day
        assert day.notional <= limits.max_notional_per_day + 1e-6


@settings(max_examples=50, deadline=None)
@given(_limits, st.lists(st.tuples(st.integers(1, 12), st.floats(0.01, 2.0)), min_size=1, max_size=6))
def test_sessions_on_one_store_never_send_past_the_day_or_session_budget(limits, sessions):
    """Through the real usage table: however many sessions run in a day, the orders handed
    over keep every cap, and every order not handed over is refused on record."""
    from peaktrade_core.config import TestnetProfileConfig
    from peaktrade_core.testnet import BudgetedOrders, day_usage, profile_orders

    store = StateStore(":memory:")
    for n, (count, quantity) in enumerate(sessions):
        profile = TestnetProfileConfig(symbols=["BTC/EUR"], quantity=quantity, reference_prices={"BTC/EUR": 100.0}, order_count=count)
        budgeted = BudgetedOrders(store, profile_orders("p", profile), "p", "x", limits, session_id=f"s{n}")
        sent = list(budgeted)
        assert len(sent) + len(budgeted.refused) == count
        assert len(sent) <= limits.max_orders_per_session
        assert sum(o.notional for o in sent) <= limits.max_notional_per_session + 1e-6
    used = day_usage(store, "x")
    assert used.orders <= limits.max_orders_per_day and used.notional <= limits.max_notional_per_day + 1e-6
    assert used.orders + used.refused == sum(c for c, _ in sessions)


def test_the_operators_guide_example_is_a_valid_config(tmp_path):
    from pathlib import Path

    from peaktrade_core.config import load_config

    guide = (Path(__file__).resolve().parents[1] / "docs" / "operators.md").read_text()
    block = guide.split("## Testnet profiles and budgets", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "c.toml").write_text(block)
    config = load_config(tmp_path / "c.toml", plugin_sections={})
    assert config.testnet_profiles["smoke"].order_count == 2 and config.testnet_limits["default"].max_orders_per_day == 100
