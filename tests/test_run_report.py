"""``peaktrade runs report``: one self-contained HTML file, opened in a real headless Chromium.

The run log is written to a real state store in the data dir; the CLI runs in a subprocess;
the page is loaded from disk by Chromium, its DOM read back, a screenshot kept as a test
artefact, and Chromium's network log proves the page asked for nothing."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from peaktrade_core.alerts import AlertEvent, AlertHistory, AlertLevel
from peaktrade_core.orders import OrderExecutionResult, OrderFill, OrderRequest, OrderStatus
from peaktrade_core.runlog import LiveRunLogger
from peaktrade_core.state import StateStore
from peaktrade_core.testing import find_chromium, open_in_browser

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
#: where screenshots are kept for a person to look at (build/ is not versioned)
ARTIFACTS = Path(os.environ.get("PEAK_TRADE_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))
#: a strategy name that would load an image if the report did not escape it
HOSTILE = '<img src="http://127.0.0.1:9/strategy.png">ma"cross'
#: (side, quantity, price) of the filled orders; every third order is blocked by risk
TRADES = [("buy", 1.0, 100.0), ("buy", 1.0, 110.0), ("sell", 1.0, 120.0), ("sell", 1.0, 90.0), ("buy", 2.0, 95.0), ("sell", 2.0, 105.0)]
FEE = 0.5


def _record_run(data_dir: Path) -> tuple[str, float]:
    """A run with fills, risk blocks and an alert; and its equity after the last order."""
    store = StateStore.in_dir(data_dir)
    log = LiveRunLogger(store)
    run_id = log.start_run(mode="paper", effective_mode="paper", strategy=HOSTILE, operator="alice")
    n = 0
    for batch_no in range(3):
        violations = [{"code": "max_order_notional", "order_index": 2, "symbol": "BTC/EUR", "limit": 500.0, "value": 900.0,
                       "message": "max_order_notional: 900 > 500", "plugin": None}]
        log.record_batch(run_id, batch_no, {"effective_mode": "paper", "live_allowed": False, "gates": {"mode": "paper"}, "closed": []},
                         {"violations": violations}, executor="paper")
        for side, qty, price in TRADES[2 * batch_no: 2 * batch_no + 2]:
            order = OrderRequest("BTC/EUR", side, qty, reference_price=price, source_ref=str(n))
            fill = OrderFill(order.client_order_id, "BTC/EUR", order.side, qty, price, fee=FEE)
            log.record_order(run_id, OrderExecutionResult(order, OrderStatus.FILLED, fills=[fill]))
            n += 1
        blocked = OrderRequest("BTC/EUR", "buy", 9.0, reference_price=100.0, source_ref=f"b{batch_no}")
        log.record_order(run_id, OrderExecutionResult(blocked, OrderStatus.RISK_BLOCKED, reasons=["max_order_notional: 900 > 500"]))
        log.commit()
    log.finish_run(run_id, "finished", {"orders": 9})
    AlertHistory(store).record([AlertEvent(AlertLevel.WARNING, "pipeline", "risk_blocked", "3 orders blocked: max_order_notional",
                                           {"run_id": run_id})], ["log"])
    AlertHistory(store).record([AlertEvent(AlertLevel.WARNING, "pipeline", "other_run", "not this run", {"run_id": "elsewhere"})], ["log"])
    store.close()
    cash = sum((-q if s == "buy" else q) * p - FEE for s, q, p in TRADES)
    return run_id, cash  # flat at the end: equity is the cash flow


def peaktrade(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "peaktrade_core", *args], capture_output=True, text=True,
                          cwd=tmp_path, env=os.environ.copy(), timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture
def data_dir():
    return Path(os.environ["PEAK_TRADE_DATA_DIR"])


def test_the_report_holds_the_runs_numbers_and_verification(tmp_path, data_dir):
    run_id, final = _record_run(data_dir)
    proc = peaktrade(tmp_path, "runs", "report", run_id[:-3], "--output", "report.html")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "wrote report.html"
    page = (tmp_path / "report.html").read_text()
    assert f"<code id=run-id>{run_id}</code>" in page
    assert re.search(r'data-tile="orders">orders<b>9<', page) and re.search(r'data-tile="risk blocked">risk blocked<b>3<', page)
    assert f'data-tile="final equity">final equity<b>{final:,.2f}<' in page  # 46.00 - 6 fees
    assert 'id="equity-chart" data-points="9"' in page
    assert "Hash chain verified: " in page and "max_order_notional" in page
    assert "3 orders blocked" in page and "not this run" not in page  # only this run's alerts
    assert HOSTILE not in page and "&lt;img src=&quot;http://127.0.0.1:9/strategy.png&quot;&gt;" in page
    # self-contained: nothing is fetched from anywhere
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, flags=re.I)
    assert "<script" not in page.lower()


def test_a_tampered_run_is_reported_as_failed_and_exits_1(tmp_path, data_dir):
    run_id, _ = _record_run(data_dir)
    with sqlite3.connect(data_dir / "peaktrade.sqlite3") as db:
        payload = db.execute("SELECT payload FROM runlog_records WHERE seq = 2").fetchone()[0]
        db.execute("UPDATE runlog_records SET payload = ? WHERE seq = 2", (payload.replace("BTC/EUR", "ETH/EUR", 1),))
    proc = peaktrade(tmp_path, "runs", "report", run_id, "-o", "tampered.html")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"{run_id}: hash chain does not verify (record 2: changed or inserted out of chain (hash mismatch)); the report says so"]
    page = (tmp_path / "tampered.html").read_text()
    assert "Hash chain FAILED verification" in page and "record 2: changed" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("runs", "report", "nope"), "RUN: no run matches 'nope' (see `peaktrade runs list`)"),
        (("runs", "report", "last", "-o", "missing/dir/r.html"), "--output missing/dir/r.html: No such file or directory"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(tmp_path, data_dir, args, message):
    _record_run(data_dir)
    proc = peaktrade(tmp_path, *args)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [message]


# -- in a real browser --------------------------------------------------------------------


def _open_in_chromium(page: Path, profile: Path, *extra: str) -> tuple[str, list[str]]:
    if find_chromium() is None:
        pytest.skip("no Chromium found (install it: apt-get install -y chromium); the HTML report is checked in a real browser")
    return open_in_browser(page, profile, *extra)


def test_the_network_check_sees_a_page_that_fetches(tmp_path):
    """The detector itself: a page with an external image is caught."""
    page = tmp_path / "fetches.html"
    page.write_text('<html><body><img src="http://127.0.0.1:9/canary.png">x</body></html>')
    _, requests = _open_in_chromium(page, tmp_path / "profile", "--dump-dom")
    assert requests == ["http://127.0.0.1:9/canary.png"]


def test_chromium_renders_the_report_with_its_curve_and_fetches_nothing(tmp_path, data_dir):
    run_id, final = _record_run(data_dir)
    assert peaktrade(tmp_path, "runs", "report", "last", "-o", "report.html").returncode == 0
    page = tmp_path / "report.html"
    dom, requests = _open_in_chromium(page, tmp_path / "profile", "--dump-dom")
    assert requests == []
    assert run_id in dom and f"{final:,.2f}" in dom and "Hash chain verified" in dom
    for chart in ("equity-chart", "exposure-chart"):
        svg = re.search(rf'<svg id="{chart}" data-points="(\d+)".*?<polyline [^>]*points="([^"]+)"', dom, flags=re.S)
        assert svg is not None, chart
        assert int(svg[1]) == len(svg[2].split()) == 9  # one point per order
    shot = tmp_path / "report.png"
    _, requests = _open_in_chromium(page, tmp_path / "profile-shot", f"--screenshot={shot}")
    assert requests == [] and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "run-report.png")
    shutil.copy(page, ARTIFACTS / "run-report.html")


def test_a_testnet_session_at_the_loopback_venue_is_reported_with_its_venue_fees(tmp_path):

    from peaktrade_core.testing import ROUND_TRIP_ORDERS, OperatorShell
    from peaktrade_core.testing.loopback import FEE_RATE, LoopbackVenue

    with LoopbackVenue() as venue:
        operator = OperatorShell(tmp_path, venue)
        operator.use_loopback_testnet()
        (tmp_path / "orders.csv").write_text(ROUND_TRIP_ORDERS)
        assert operator("session", "run", "--orders", "orders.csv").returncode == 0
        assert len(venue.orders()) == 2
        made = operator("runs", "report", "last", "-o", "testnet.html")
    assert made.returncode == 0, made.stderr
    page = (tmp_path / "testnet.html").read_text()
    assert "(effective <b id=effective-mode>testnet</b>)" in page
    fees = 2 * 0.01 * 40_000.0 * FEE_RATE  # both orders fill at the venue's price
    assert f'data-tile="fees">fees<b>{fees:,.2f}<' in page and f'data-tile="final equity">final equity<b>{-fees:,.2f}<' in page
    assert "venue record" in page and venue.url in page  # the venue the run talked to, from the run log


def test_a_long_run_is_thinned_to_the_point_limit_keeping_the_last_point(data_dir):
    from peaktrade_core.report import MAX_POINTS, collect

    store = StateStore.in_dir(data_dir)
    log = LiveRunLogger(store)
    run_id = log.start_run(mode="paper", effective_mode="paper", strategy="long")
    log.record_batch(run_id, 0, {"effective_mode": "paper", "gates": {}, "closed": []}, {"violations": []}, executor="paper")
    for i in range(2500):
        side = "buy" if i % 2 == 0 else "sell"
        order = OrderRequest("BTC/EUR", side, 1.0, reference_price=100.0, source_ref=str(i))
        price = 100.0 if side == "buy" else 101.0  # each round trip earns 1
        log.record_order(run_id, OrderExecutionResult(order, OrderStatus.FILLED, fills=[OrderFill(order.client_order_id, "BTC/EUR", order.side, 1.0, price)]))
    log.commit()
    log.finish_run(run_id, "finished", {})
    data = collect(store, run_id)
    assert len(data["equity"]) == len(data["exposure"]) == MAX_POINTS
    assert data["equity"][0][0] == 1 and data["equity"][-1] == (2500, 1250.0)
    assert data["fill_count"] == 2500 and len(data["fills"]) == 500  # listed rows are capped, counts are not
