"""Shadow on live prices: a shadow session on the loopback venue's ticker feed sends nothing,
fills every order at the live quote it was decided at, and its run verifies; a paper replay
of the feed it recorded diverges from it by nothing, and by exactly the slippage when the
paper market model adds some (``peaktrade feed diverge``)."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner
from peaktrade_core.plugin_api import iter_run_events, open_recorded_feed, verify_run
from peaktrade_core.testing import StateStore, cli, load_config, registered_plugin
from peaktrade_core.testing.loopback import LoopbackVenue, LoopbackVenuePlugin

ORDERS = (
    "symbol,side,quantity\n"
    "BTC/EUR,buy,0.01\n"
    "ETH/EUR,buy,0.2\n"
    "BTC/EUR,sell,0.004\n"
    "ETH/EUR,sell,0.1\n"
    "BTC/EUR,sell,0.006\n"
)


@pytest.fixture
def venue():
    with LoopbackVenue() as venue, registered_plugin(LoopbackVenuePlugin(), "loopback"):
        yield venue


def write_config(tmp_path, name: str, mode: str, venue_url: str = "http://127.0.0.1:1", slippage_bps: float = 0.0):
    path = tmp_path / name
    path.write_text(
        f'[environment]\nmode = "{mode}"\n\n'
        f'[plugins.loopback]\nbase_url = "{venue_url}"\nfeed_interval_seconds = 0.01\n\n'
        f"[plugins.paper]\nslippage_bps = {slippage_bps}\n"
    )
    return str(path)


def invoke(*args: str) -> dict:
    done = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def session(config: str, source: str, *extra: str) -> dict:
    return invoke("--config", config, "feed", "session", "--source", source, "--orders", "orders.csv",
                  "--fresh-account", "--json", *extra)


def order_events(run_id: str) -> list:
    store = StateStore.in_dir(load_config().data_dir())
    return [e for e in iter_run_events(store, run_id) if e.kind == "order"]


def test_shadow_on_the_loopback_feed_fills_at_live_quotes_and_sends_nothing(tmp_path, venue):
    (tmp_path / "orders.csv").write_text(ORDERS)
    venue.set_price("BTC/EUR", 41_234.5, spread=1.0)
    venue.set_price("ETH/EUR", 2_345.6)
    shadow = write_config(tmp_path, "shadow.toml", "shadow", venue.url)

    summary = session(shadow, "loopback", "--record-feed", "seen.csv")

    assert summary["status"] == "finished" and summary["mode"] == "shadow"
    assert summary["by_status"] == {"filled": 5}
    store = StateStore.in_dir(load_config(shadow).data_dir())
    check = verify_run(store, summary["run_id"])
    assert check.ok, check.problems
    events = order_events(summary["run_id"])
    live = {"BTC/EUR": 41_234.5, "ETH/EUR": 2_345.6}
    assert [(e.symbol, e.fills[0]["price"]) for e in events] == [(e.symbol, live[e.symbol]) for e in events]
    assert all(e.extra.get("shadow") is True for e in events)
    assert all(e.price == live[e.symbol] for e in events)  # decided at the quote: its reference price
    assert venue.orders() == []  # nothing was sent
    recorded = list(open_recorded_feed(tmp_path / "seen.csv"))
    assert {q.symbol for q in recorded} == {"BTC/EUR", "ETH/EUR"}
    assert {(q.symbol, q.price, q.bid, q.ask) for q in recorded if q.symbol == "BTC/EUR"} == {("BTC/EUR", 41_234.5, 41_234.0, 41_235.0)}


def test_a_paper_replay_of_the_recorded_feed_diverges_by_the_slippage_only(tmp_path, venue):
    (tmp_path / "orders.csv").write_text(ORDERS)
    venue.set_price("BTC/EUR", 40_000.0)
    shadow = session(write_config(tmp_path, "shadow.toml", "shadow", venue.url), "loopback", "--record-feed", "seen.jsonl")
    venue.set_price("BTC/EUR", 99_999.0)  # the live price moves on; the replay must not see it

    replay = session(write_config(tmp_path, "paper.toml", "paper"), "seen.jsonl")
    report = invoke("feed", "diverge", shadow["run_id"], replay["run_id"], "--json")
    totals = report["totals"]
    assert (totals["paired"], totals["status_differs"], totals["filled_in_both"]) == (5, 0, 5)
    assert totals["max_abs_fill_bps"] == 0.0
    assert report["run_a"]["mode"] == "shadow" and report["run_b"]["mode"] == "paper"

    slipped = session(write_config(tmp_path, "slip.toml", "paper", slippage_bps=10.0), "seen.jsonl")
    report = invoke("feed", "diverge", shadow["run_id"], slipped["run_id"], "--json", "--limit", "5")
    assert report["totals"]["mean_abs_fill_bps"] == pytest.approx(10.0)
    by_side = {(p["side"], round(p["fill_bps"], 6)) for p in report["pairs"]}
    assert by_side == {("buy", 10.0), ("sell", -10.0)}  # against the trader both ways

    text = CliRunner().invoke(cli, ["feed", "diverge", shadow["run_id"], slipped["run_id"]])
    assert text.exit_code == 0
    assert "fill price B vs A: mean |10.00| bps, max |10.00| bps" in text.stdout


def test_a_feed_session_refuses_modes_that_could_send(tmp_path):
    (tmp_path / "orders.csv").write_text(ORDERS)
    (tmp_path / "rec.csv").write_text("at,symbol,price\n1,BTC/EUR,1\n")
    config = tmp_path / "testnet.toml"
    config.write_text('[environment]\nmode = "testnet"\n')
    done = CliRunner().invoke(cli, ["--config", str(config), "feed", "session", "--source", "rec.csv", "--orders", "orders.csv"])
    assert done.exit_code == 2
    assert done.stderr.strip() == f"{config}: [environment] mode = 'testnet': feed session runs in paper or shadow mode only (nothing is sent)"


def test_an_order_whose_quote_never_comes_is_judged_stale(tmp_path):
    """A recording that ends before an order's symbol is quoted again: the order goes with
    the last price it has, and the stale-data check (replay time) blocks it."""
    (tmp_path / "orders.csv").write_text("symbol,side,quantity\nBTC/EUR,buy,0.01\nBTC/EUR,buy,0.02\n")
    with open(tmp_path / "rec.csv", "w", newline="") as handle:
        rows = csv.writer(handle)
        rows.writerows([["at", "symbol", "price"], [100, "BTC/EUR", 40000], [130, "ETH/EUR", 2000]])
    config = tmp_path / "paper.toml"
    config.write_text('[environment]\nmode = "paper"\n\n[live_risk]\nmax_reference_age_seconds = 10.0\n')
    summary = session(str(config), "rec.csv")
    events = order_events(summary["run_id"])
    assert [e.status for e in events] == ["filled", "risk_blocked"]
    assert events[1].reasons[0].startswith("stale_reference_price: reference price of BTC/EUR is 30.0s old")
