"""``loopvenue``: a venue plugin the venue tests install as a real distribution (dist-info
on PYTHONPATH). Its book is a SQLite file (``PT_LOOP_DB``) shared by every process (the
session, ``peaktrade kill``, the test), so what one process does the others see. It enforces
unique client order ids the way venues do and records every call. ``PT_LOOP_KIND``:
sandbox | validate | production (default: sandbox in testnet, production in live).
"""

import os
import sqlite3
import time
from pathlib import Path

from peaktrade_core import hookimpl
from peaktrade_core.orders import UnknownOutcomeError
from peaktrade_core.venues import InstrumentRules

PRICE = 100.0
ENDPOINTS = {
    "sandbox": "http://127.0.0.1:9/loop-sandbox",
    "validate": "http://127.0.0.1:9/loop",
    "production": "http://127.0.0.1:9/loop",
}


def db():
    conn = sqlite3.connect(os.environ["PT_LOOP_DB"], timeout=60, isolation_level=None)
    conn.executescript(
        "CREATE TABLE IF NOT EXISTS orders (cid TEXT PRIMARY KEY, symbol TEXT, side TEXT, qty REAL,"
        " status TEXT, endpoint TEXT);"
        "CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, call TEXT, arg TEXT, pid INTEGER);"
    )
    return conn


def log(call, arg=""):
    with db() as conn:
        conn.execute("INSERT INTO calls (call, arg, pid) VALUES (?, ?, ?)", (call, str(arg), os.getpid()))


class LoopClient:
    name = "loop"

    def __init__(self, kind):
        self.kind = kind
        self.testnet = kind != "production"
        self.validate_only = kind == "validate"
        self.endpoint = ENDPOINTS[kind]

    def ping(self):
        return {"status": "online"}

    def server_time(self):
        return time.time()

    def instrument_rules(self, symbol):
        return InstrumentRules(symbol, tick_size=0.5, lot_step=0.001, min_quantity=0.001)

    def fetch_ticker(self, symbol):
        log("fetch_ticker", symbol)
        return PRICE

    def submit_order(self, order):
        log("submit_order", order.client_order_id)
        pause = Path(os.environ.get("PT_LOOP_PAUSE", "-"))
        submits = db().execute("SELECT COUNT(*) FROM calls WHERE call = 'submit_order'").fetchone()[0]
        if pause.name != "-" and submits == int(os.environ.get("PT_LOOP_PAUSE_AT", "0")):
            pause.with_suffix(".waiting").write_text("waiting")
            deadline = time.time() + 120
            while not pause.with_suffix(".go").exists() and time.time() < deadline:
                time.sleep(0.05)
        if self.validate_only:
            return {"client_order_id": order.client_order_id, "status": "validated"}
        rests = order.limit_price is not None and order.limit_price < PRICE
        status = "open" if rests else "filled"
        try:
            with db() as conn:
                conn.execute(
                    "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)",
                    (order.client_order_id, order.symbol, order.side.value, order.quantity, status, self.endpoint),
                )
        except sqlite3.IntegrityError:
            log("duplicate_refused", order.client_order_id)
            raise UnknownOutcomeError("duplicate client order id") from None
        return self._answer(order.client_order_id)

    def _answer(self, cid):
        row = db().execute("SELECT cid, qty, status FROM orders WHERE cid = ?", (cid,)).fetchone()
        if row is None:
            return None
        out = {"client_order_id": cid, "status": {"open": "accepted"}.get(row[2], row[2])}
        if row[2] == "filled":
            out["fills"] = [{"quantity": row[1], "price": PRICE, "fee": 0.01, "fee_currency": "EUR"}]
        return out

    def fetch_order(self, client_order_id, symbol):
        log("fetch_order", client_order_id)
        return self._answer(client_order_id)

    def cancel_order(self, client_order_id, symbol):
        with db() as conn:
            return conn.execute("UPDATE orders SET status = 'cancelled' WHERE cid = ? AND status = 'open'", (client_order_id,)).rowcount == 1

    def fetch_open_orders(self, symbol=None):
        rows = db().execute("SELECT cid, symbol FROM orders WHERE status = 'open'").fetchall()
        return [{"client_order_id": c, "symbol": s, "status": "accepted"} for c, s in rows if symbol in (None, s)]

    def cancel_all(self, symbol=None):
        log("cancel_all", symbol or "")
        with db() as conn:
            return conn.execute("UPDATE orders SET status = 'cancelled' WHERE status = 'open'").rowcount

    def fetch_balances(self):
        return {"EUR": 1000.0}

    def fetch_positions(self):
        return {}

    def arm_dead_man_switch(self, timeout_seconds):
        log("arm_dead_man_switch", timeout_seconds)

    def disarm_dead_man_switch(self):
        log("disarm_dead_man_switch")


@hookimpl
def exchange_venues():
    return ["loop"]


@hookimpl
def create_exchange_client(venue, mode):
    kind = os.environ.get("PT_LOOP_KIND") or ("sandbox" if mode == "testnet" else "production")
    return LoopClient(kind)
