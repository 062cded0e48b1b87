"""Alert sinks never slow trading: a paper session with a webhook whose server never answers.

    python benchmarks/bench_alert_outage.py [orders]

Runs the same session (1 % of orders breach max_order_notional, so alerts are raised in
every batch) three ways, alternated round by round in one run (medians): alerts
to the log only (baseline), to a webhook that answers, and to a webhook on 127.0.0.1 that
accepts connections and never answers. Goal: the hung sink costs <= 5 % wall time; its
alerts stay in the history, undelivered.

Then the whole process, `peaktrade session run --orders FILE` (10,000 orders, the default
flush_timeout_seconds), log only against the hung webhook, alternated; medians. Goal: the
hung sink adds <= 1 s (the process waits at most flush_timeout_seconds at exit; what is
undelivered stays pending for the next start).
Needs the peaktrade-paper and peaktrade-alerts-webhook plugins.
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import table  # noqa: E402


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def session(n: int, sinks: list[str], url: str | None) -> tuple[float, int, int]:
    from peaktrade_core.alerts import AlertDispatcher
    from peaktrade_core.config import structure_config
    from peaktrade_core.orders import OrderRequest
    from peaktrade_core.pipeline import ExecutionPipeline
    from peaktrade_core.plugins import get_plugin_manager
    from peaktrade_core.state import StateStore

    os.environ["BENCH_HOOK"] = url or ""
    raw = {
        "live_risk": {"max_order_notional": 1000.0, "runaway_max_executions": 0, "duplicate_window_seconds": 0},
        "live_alerts": {"sinks": sinks, "webhook_urls": [{"env": "BENCH_HOOK"}] if url else [], "webhook_timeout_seconds": 2.0, "dedup_window_seconds": 0.0, "flush_timeout_seconds": 0.5},
    }
    pm = get_plugin_manager()
    config = structure_config(raw, "bench", pm.config_sections())
    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore.in_dir(tmp)
        pm.configure(config)
        alerts = AlertDispatcher(config.live_alerts, store)
        alerts.start()
        pipeline = ExecutionPipeline(config, store=store, alerts=alerts)
        orders = (
            OrderRequest("BTC/EUR", "buy", 0.05 if i % 100 == 0 else 0.005, reference_price=40_000.0 * (1 + i * 1e-9), source_ref=str(i))
            for i in range(n)
        )
        start = time.perf_counter()
        pipeline.run(orders)
        elapsed = time.perf_counter() - start
        alerts.close(0.5)
        rows = alerts.history.query(limit=100_000)
        undelivered = sum(1 for r in rows for d in r["deliveries"] if d["sink"] == "webhook" and d["status"] != "delivered")
        return elapsed, len(rows), undelivered


def whole_process(hung_url: str, rounds: int = 3, n: int = 10_000) -> tuple[float, float]:
    """Median seconds of `peaktrade session run` with alerts to the log only, and with the hung webhook too."""
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        orders = work / "orders.csv"
        with orders.open("w") as f:
            f.write("symbol,side,quantity,reference_price\n")
            for i in range(n):  # 1 % over max_order_notional: alerts in every batch
                f.write(f"BTC/EUR,buy,{0.05 if i % 100 == 0 else 0.005 + i * 1e-9:.9f},40000\n")
        base = "[live_risk]\nmax_order_notional = 1000.0\nrunaway_max_executions = 0\n"
        (work / "log.toml").write_text(base + '[live_alerts]\nsinks = ["log"]\nmin_level = "info"\n')
        (work / "hung.toml").write_text(base + '[live_alerts]\nsinks = ["log", "webhook"]\nmin_level = "info"\nwebhook_urls = [{ env = "BENCH_HOOK" }]\n')
        env = {**os.environ, "PEAK_TRADE_PLUGINS": "paper,alerts-webhook", "BENCH_HOOK": hung_url}
        times: dict[str, list[float]] = {"log": [], "hung": []}
        for r in range(rounds):
            for name in times:
                env["PEAK_TRADE_DATA_DIR"] = str(work / f"data-{name}-{r}")
                cmd = [sys.executable, "-m", "peaktrade_core", "--config", f"{name}.toml", "session", "run", "--orders", str(orders)]
                start = time.perf_counter()
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=work)
                times[name].append(time.perf_counter() - start)
    return statistics.median(times["log"]), statistics.median(times["hung"])


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    os.environ["PEAK_TRADE_PLUGINS"] = "paper,alerts-webhook"
    ok_server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=ok_server.serve_forever, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1000)  # accepts connections, never reads or answers
    ok_url = f"http://127.0.0.1:{ok_server.server_port}/hook"
    hung_url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
    runs: dict[str, list[float]] = {"base": [], "answered": [], "hung": []}
    for _ in range(3):  # alternated round by round: the machine's drift hits all alike
        runs["base"].append(session(n, ["log"], None)[0])
        runs["answered"].append(session(n, ["log", "webhook"], ok_url)[0])
        elapsed, alerts, undelivered = session(n, ["log", "webhook"], hung_url)
        runs["hung"].append(elapsed)
    base, answered, hung = (statistics.median(runs[k]) for k in ("base", "answered", "hung"))
    rows = [
        ("session", "seconds", "vs log only"),
        (f"{n:,} orders, alerts to the log only", f"{base:.2f}", "1.00x"),
        ("... plus a webhook that answers", f"{answered:.2f}", f"{answered / base:.2f}x"),
        ("... plus a webhook that never answers", f"{hung:.2f}", f"{hung / base:.2f}x"),
    ]
    print(table(rows))
    print(f"hung sink: {alerts} alerts in the history, {undelivered} webhook deliveries not delivered (kept for retry)")
    log_only, with_hung = whole_process(hung_url)
    print(table([
        ("whole process: peaktrade session run, 10,000 orders", "median s", "added"),
        ("alerts to the log only", f"{log_only:.2f}", ""),
        ("... plus a webhook that never answers", f"{with_hung:.2f}", f"{with_hung - log_only:+.2f} s"),
    ]))
    ok_server.shutdown()
    silent.close()


if __name__ == "__main__":
    main()
