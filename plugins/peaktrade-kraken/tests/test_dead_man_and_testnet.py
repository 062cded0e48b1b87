"""The dead man's switch, and a validate-only (testnet) client that never changes the account."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import pytest

from peaktrade_core.plugin_api import OrderRequest


def resting():
    return OrderRequest("BTC/EUR", "buy", 0.01, "limit", limit_price=1000.0, client_order_id=uuid.uuid4().hex)


def test_armed_switch_cancels_open_orders_at_expiry_and_disarm_stops_it(kraken, make_client):
    client = make_client()
    client.arm_dead_man_switch(60)
    assert kraken.dead_man_armed
    client.submit_order(resting())
    assert kraken.expire_dead_man() == 1 and kraken.open_orders() == []
    client.arm_dead_man_switch(60)
    client.disarm_dead_man_switch()
    client.submit_order(resting())
    assert not kraken.dead_man_armed and kraken.expire_dead_man() == 0 and len(kraken.open_orders()) == 1


def test_submits_rearm_the_switch_well_inside_its_timeout(kraken, make_client):
    client = make_client()
    client.arm_dead_man_switch(30)
    client.submit_order(resting())
    assert kraken.by_endpoint["CancelAllOrdersAfter"] == 1  # armed just now: no refresh yet
    client._dead_man_at -= 11  # more than a third of the timeout has passed
    client.submit_order(resting())
    assert kraken.by_endpoint["CancelAllOrdersAfter"] == 2
    bodies = [r["body"] for r in kraken.received if r["path"].endswith("CancelAllOrdersAfter")]
    assert all("timeout=30" in b for b in bodies)


def test_a_killed_process_leaves_its_orders_to_the_switch(kraken, tmp_path):
    """SIGKILL: no disarm, no cleanup. Kraken (here the loopback, on its own clock) cancels
    the open orders when the timeout runs out."""
    script = f"""
import sys, time, uuid
from peaktrade_core.plugin_api import OrderRequest
from peaktrade_kraken.client import KrakenClient
from peaktrade_kraken.testing import loopback_settings
client = KrakenClient(loopback_settings({kraken.url!r}), validate_only=False, data_dir={str(tmp_path / 'data')!r})
client.arm_dead_man_switch(5)
for _ in range(2):
    client.submit_order(OrderRequest("BTC/EUR", "buy", 0.01, "limit", limit_price=1000.0, client_order_id=uuid.uuid4().hex))
print("placed", flush=True)
time.sleep(600)
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert child.stdout.readline().strip() == "placed"
        assert len(kraken.open_orders()) == 2 and kraken.dead_man_armed
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert kraken.wait_for(lambda: kraken.dead_man_fired == 1, timeout=60)
        assert kraken.open_orders() == [] and [o["status"] for o in kraken.orders()] == ["cancelled", "cancelled"]
    finally:
        if child.poll() is None:
            child.kill()


def test_validate_only_client_never_changes_the_account(kraken, make_client):
    """Kraken has no testnet: a testnet (validate-only) session uses a production key. It
    must not cancel orders someone placed for real, nor arm a switch that would."""
    theirs = kraken.place_resting_order("BTC/EUR")
    client = make_client(validate_only=True)
    client.arm_dead_man_switch(60)
    assert client.submit_order(resting())["status"] == "validated"
    assert client.cancel_all() == 0 and client.cancel_all("BTC/EUR") == 0
    assert client.cancel_order("x", "BTC/EUR") is False
    client.disarm_dead_man_switch()
    changing = ("CancelAll", "CancelOrder", "CancelAllOrdersAfter")
    assert all(kraken.by_endpoint[e] == 0 for e in changing) and not kraken.dead_man_armed
    [still] = kraken.open_orders()
    assert still["txid"] == theirs
    assert len(client.fetch_open_orders()) == 1  # reading is fine


def test_a_failed_rearm_holds_the_order_back_as_a_retryable_failure(kraken, make_client):
    from peaktrade_core.plugin_api import TransientExchangeError

    client = make_client()
    client.arm_dead_man_switch(30)
    client._dead_man_at -= 11
    kraken.fail_next("5xx_before", "CancelAllOrdersAfter")
    with pytest.raises(TransientExchangeError, match="the order was not sent"):
        client.submit_order(resting())
    assert kraken.by_endpoint["AddOrder"] == 0
    assert client.submit_order(resting())["status"] == "accepted"  # the retry re-arms, then sends
