"""`peaktrade risk budget` and `risk budget reset-settled`: the operator's view of the shared
risk budget and the one correction a person makes to it, through the CLI, on SQLite and on
PostgreSQL. The budget's figures come from real processes that reserved and died."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

#: one process that reserved and died without settling (as a host that lost power):
#: first a fill it settled (BTC/EUR 4 @ 100), then ETH/EUR 2 @ 50 reserved and in flight
#: under a 600 s lease; then a second owner whose lease ran out an hour ago, SOL/EUR 10 @ 5
DEAD_HOST = """
import os, sys, time
from peaktrade_core.budget import BudgetLimits, SharedRiskBudget
from peaktrade_core.orders import OrderExecutionResult, OrderFill, OrderRequest, OrderStatus
from peaktrade_core.store import open_store_url

store = open_store_url(sys.argv[1], data_dir=sys.argv[2])
limits = BudgetLimits(1000.0, 1500.0)

def order(symbol, quantity, price, n):
    return OrderRequest(symbol, "buy", quantity, "limit", limit_price=price, client_order_id=str(n) * 32)

living = SharedRiskBudget(store, book="paper", limits=limits, lease_seconds=600.0, run_id=lambda: "run-of-the-dead-host")
btc = order("BTC/EUR", 4.0, 100.0, 1)
assert living.reserve([btc], [0], [None])[0] == [0]
living.settle([btc], [OrderExecutionResult(btc, OrderStatus.FILLED, [OrderFill(btc.client_order_id, "BTC/EUR", btc.side, 4.0, 100.0)])])
assert living.reserve([order("ETH/EUR", 2.0, 50.0, 2)], [0], [None])[0] == [0]
stale = SharedRiskBudget(store, book="paper", limits=limits, lease_seconds=30.0, clock=lambda: time.time() - 3600)
assert stale.reserve([order("SOL/EUR", 10.0, 5.0, 3)], [0], [None])[0] == [0]
print(living.owner, stale.owner, flush=True)
os._exit(0)  # dies holding both: no close(), no settle
"""


@pytest.fixture
def budget_env(any_store_url, tmp_path) -> dict:
    config = tmp_path / "budget.toml"
    config.write_text(
        '[state]\nurl = { env = "PEAK_TRADE_DB_URL" }\nshared_risk_budget = true\n'
        "[live_risk]\nmax_symbol_exposure_notional = 1000.0\nmax_total_exposure_notional = 1500.0\n"
    )
    return {"PEAK_TRADE_DB_URL": any_store_url, "PEAK_TRADE_CONFIG_PATH": str(config), "DATA": str(tmp_path / "data")}


def peaktrade(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "peaktrade_core", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def a_host_dies_holding_reservations(env: dict) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-c", DEAD_HOST, env["PEAK_TRADE_DB_URL"], env["DATA"]], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    living, stale = done.stdout.split()
    return int(living.split(":")[1]), living, stale


def budget(env: dict) -> dict:
    done = peaktrade("risk", "budget", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_risk_budget_shows_leases_reservations_and_settled_exposure_against_the_limits(budget_env):
    pid, living, stale = a_host_dies_holding_reservations(budget_env)
    view = budget(budget_env)
    assert view["enabled"] is True and view["configured_book"] == "paper"
    assert view["limits"] == {"max_symbol_exposure_notional": 1000.0, "max_total_exposure_notional": 1500.0, "max_live_notional_total": None}
    (paper,) = view["books"]
    leases = {lease["owner"]: lease for lease in paper["leases"]}
    assert set(leases) == {living, stale}
    assert leases[living]["host"] == socket.gethostname() and leases[living]["pid"] == pid
    assert leases[living]["run_id"] == "run-of-the-dead-host"
    assert leases[living]["expired"] is False and leases[stale]["expired"] is True
    assert leases[living]["reserved_notional"] == 100.0 and leases[stale]["reserved_notional"] == 50.0
    by_symbol = {s["symbol"]: s for s in paper["symbols"]}
    assert (by_symbol["BTC/EUR"]["settled_quantity"], by_symbol["BTC/EUR"]["settled_notional"], by_symbol["BTC/EUR"]["reserved_notional"]) == (4.0, 400.0, 0.0)
    assert (by_symbol["ETH/EUR"]["reserved_notional"], by_symbol["ETH/EUR"]["reserved_buy_quantity"]) == (100.0, 2.0)
    assert by_symbol["SOL/EUR"]["total"] == 50.0 and by_symbol["SOL/EUR"]["limit"] == 1000.0
    assert (paper["settled_total"], paper["reserved_total"], paper["total"], paper["total_limit"]) == (400.0, 150.0, 550.0, 1500.0)

    text = peaktrade("risk", "budget", env=budget_env)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert any(line.startswith(f"  lease {living}  host {socket.gethostname()}  pid {pid}  run run-of-the-dead-host  expires in ") for line in lines)
    assert any(line.startswith(f"  lease {stale}") and "EXPIRED" in line for line in lines)
    assert lines[-1] == "  total: settled 400.00 + reserved 150.00 = 550.00 of 1,500.00"
    assert any(line.split()[:2] == ["BTC/EUR", "4"] and line.endswith("400.00 of 1,000.00") for line in lines)


def test_reset_settled_sets_the_position_and_the_budget_log_names_who_and_why(budget_env):
    from peaktrade_core.store import open_store_url
    from peaktrade_core.store.budget import RiskBudgetRepository

    a_host_dies_holding_reservations(budget_env)
    done = peaktrade("risk", "budget", "reset-settled", "--symbol", "BTC/EUR", "--quantity", "1.5", "--operator", "alice",
                     "--reason", "reconciled with the venue after host-3 died", env=budget_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("BTC/EUR in book paper: settled 4 @ 100.00 -> 1.5 @ 100.00, by alice: "
                                   "reconciled with the venue after host-3 died (recorded in the budget log)")
    by_symbol = {s["symbol"]: s for s in budget(budget_env)["books"][0]["symbols"]}
    assert (by_symbol["BTC/EUR"]["settled_quantity"], by_symbol["BTC/EUR"]["mark_price"]) == (1.5, 100.0)
    assert by_symbol["ETH/EUR"]["reserved_notional"] == 100.0  # reservations are not touched

    flat = peaktrade("risk", "budget", "reset-settled", "--symbol", "ETH/EUR", "--quantity", "-0.5", "--price", "60",
                     "--reason", "a short opened outside peaktrade", "--json", env=budget_env)
    assert flat.returncode == 0, flat.stderr
    assert json.loads(flat.stdout)["after"] == [-0.5, 60.0]

    store = open_store_url(budget_env["PEAK_TRADE_DB_URL"], data_dir=budget_env["DATA"])
    resets = [row for row in RiskBudgetRepository(store).log("paper") if row["kind"] == "reset"]
    store.close()
    details = [json.loads(row["detail"]) for row in resets]
    assert [(d["symbol"], d["before"], d["after"], d["operator"]) for d in details] == [
        ("BTC/EUR", [4.0, 100.0], [1.5, 100.0], "alice"), ("ETH/EUR", None, [-0.5, 60.0], details[1]["operator"])]
    assert details[0]["reason"] == "reconciled with the venue after host-3 died"
    assert details[1]["operator"] and details[1]["operator"] != "alice"  # the OS user by default
    assert resets[0]["owner"] == "operator:alice"


@pytest.mark.parametrize("reason", [None, "   "], ids=["no reason", "blank reason"])
def test_reset_settled_without_a_reason_is_refused_in_one_line_and_changes_nothing(budget_env, reason):
    a_host_dies_holding_reservations(budget_env)
    before = budget(budget_env)
    args = ["risk", "budget", "reset-settled", "--symbol", "BTC/EUR", "--quantity", "0"] + (["--reason", reason] if reason else [])
    done = peaktrade(*args, env=budget_env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == ["--reason: say why the settled position is reset (recorded in the budget log with your name)"]
    assert budget(budget_env)["books"] == before["books"]


def test_reset_settled_of_a_symbol_without_a_mark_needs_a_price_and_a_bad_price_is_one_line(budget_env):
    no_mark = peaktrade("risk", "budget", "reset-settled", "--symbol", "XRP/EUR", "--quantity", "3", "--reason", "r", env=budget_env)
    assert no_mark.returncode == 2 and len(no_mark.stderr.splitlines()) == 1 and no_mark.stderr.startswith("--price: XRP/EUR has no settled position")
    bad = peaktrade("risk", "budget", "reset-settled", "--symbol", "XRP/EUR", "--quantity", "3", "--price", "0", "--reason", "r", env=budget_env)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and "Traceback" not in bad.stderr


def test_with_the_budget_off_both_commands_say_so_in_one_line(tmp_path):
    off = {"PEAK_TRADE_CONFIG_PATH": str(Path(tmp_path) / "none.toml")}
    Path(off["PEAK_TRADE_CONFIG_PATH"]).write_text("[state]\nshared_risk_budget = false\n")
    show = peaktrade("risk", "budget", env=off)
    assert show.returncode == 0
    assert show.stdout.splitlines() == ["the shared risk budget is off ([state] shared_risk_budget = false): each process holds its limits alone"]
    assert json.loads(peaktrade("risk", "budget", "--json", env=off).stdout) == {"enabled": False}
    reset = peaktrade("risk", "budget", "reset-settled", "--symbol", "BTC/EUR", "--quantity", "0", "--price", "1", "--reason", "r", env=off)
    assert reset.returncode == 2 and reset.stdout == ""
    assert reset.stderr.splitlines() == ["the shared risk budget is off ([state] shared_risk_budget = false): each process holds its limits alone; nothing to reset"]


def _normalised(text: str) -> str:
    import re

    text = re.sub(r"\S+:\d+:[0-9a-f]{12}", "OWNER", text)
    text = re.sub(r"host \S+  pid \d+", "host H  pid P", text)
    return re.sub(r"(expires in |EXPIRED )\d+s", r"\1Ns", text)


@pytest.mark.parametrize("any_store_url", ["sqlite"], indirect=True)  # one backend is enough for the page
def test_the_transcript_in_docs_budget_md_is_what_the_cli_prints(budget_env):
    import re

    a_host_dies_holding_reservations(budget_env)
    page = (Path(__file__).resolve().parents[1] / "docs" / "budget.md").read_text()
    (expected,) = re.findall(r"```text\n\$ peaktrade risk budget\n(.*?)```", page, flags=re.S)
    done = peaktrade("risk", "budget", env=budget_env)
    assert _normalised(done.stdout) == _normalised(expected)
