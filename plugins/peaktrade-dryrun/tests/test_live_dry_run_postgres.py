"""A live dry-run session from the command line on a PostgreSQL state store, from a fresh
data dir: the operator initialises the store, runs an orders file in live mode with
``live_dry_run_mode = true`` at the loopback venue, and every record says it was simulated;
the venue gets prices asked, never an order. Skipped where no PostgreSQL can run."""

from __future__ import annotations

import json

from peaktrade_core.plugin_api import iter_run_events
from peaktrade_core.testing import OperatorShell, open_store_url
from peaktrade_core.testing.loopback import LoopbackVenue

LIVE_DRY_RUN = """
[environment]
mode = "live"
enable_live_trading = true
live_mode_armed = true
confirm_token = "I_KNOW_WHAT_I_AM_DOING"
exchange = "loopback"
live_allowed_exchanges = ["loopback"]
live_allowed_symbols = ["BTC/EUR"]
max_live_notional_per_order = 1000.0
max_live_notional_total = 5000.0
live_dry_run_mode = true  # the one gate closed: every live order is simulated

[live_risk]
max_order_notional = 1000.0
max_total_exposure_notional = 5000.0

[state]
url = "{db}"

[plugins.loopback]
base_url = "{url}"
api_key = {{ env = "LOOPBACK_API_KEY" }}
api_secret = {{ env = "LOOPBACK_API_SECRET" }}
"""

#: one order priced by the file, one by the venue's ticker (no reference price)
ORDERS = "symbol,side,quantity,reference_price\nBTC/EUR,buy,0.01,40000\nBTC/EUR,sell,0.01,\n"


def test_a_live_dry_run_session_on_postgresql_from_a_fresh_data_dir(tmp_path, postgres_url):
    """Must show: live mode refuses the new store until `state init`; then the session runs as
    `live_dry_run` (never `live`), its run log is on PostgreSQL and verifies, nothing is
    written to SQLite, and the venue holds no order."""
    with LoopbackVenue(prices={"BTC/EUR": 41_000.0}) as venue:
        shell = OperatorShell(tmp_path, venue)
        shell.plugins = "loopback,dryrun"
        shell.config.write_text(LIVE_DRY_RUN.format(db=postgres_url, url=venue.url))
        (tmp_path / "orders.csv").write_text(ORDERS)

        refused = shell("session", "run", "--orders", "orders.csv")
        assert refused.returncode == 2 and "state init" in refused.stderr, refused.stderr
        init = shell("state", "init", "--reason", "new live dry-run desk on PostgreSQL")
        assert init.returncode == 0, init.stderr
        done = shell("session", "run", "--orders", "orders.csv", "--json")
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["effective_mode"] == "live_dry_run"
        assert summary["by_status"] == {"filled": 2} and summary["positions"] == {}
        assert summary["realized_pnl"] == 10.0  # sold at the venue's ticker, 41,000
        assert "nothing is sent: live_dry_run_mode" in done.stderr, done.stderr
        assert venue.orders() == []  # asked for a price, sent nothing
        verify = shell("runs", "verify", summary["run_id"])
        assert verify.returncode == 0, verify.stdout + verify.stderr
        status = json.loads(shell("status", "--json").stdout)
        assert status["effective_mode"] == "live_dry_run"

    store = open_store_url(postgres_url, data_dir=tmp_path / "data")
    try:
        assert store.backend == "postgresql"
        orders = [e for e in iter_run_events(store, summary["run_id"]) if e.kind == "order"]
    finally:
        store.close()
    assert [(e.status, e.extra["mode"], e.extra["price_source"]) for e in orders] == [
        ("filled", "live_dry_run", "reference_price"), ("filled", "live_dry_run", "venue_ticker")]
    assert not list((tmp_path / "data").glob("*.sqlite3"))  # the state lives in PostgreSQL only
