"""How fast an engaged kill switch reaches every process: N worker processes (standing for
N hosts) run one-order batches through a pipeline on one shared store; the controller
engages and releases the switch, and each worker reports when its first batch was blocked
and when its first batch passed again.

Used by the test (a few rounds: every process stops and resumes) and by
``benchmarks/bench_kill_propagation.py`` (many rounds: p50/p99 of engage → blocked).
All processes run on this machine, so their wall clocks agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# the runaway throttle would engage the switch itself at this order rate: raised out of the way
_CONFIG = '[environment]\nmode = "paper"\n\n[execution]\nbatch_size = 1\n\n[live_risk]\nrunaway_max_executions = 1000000000\n'


class _FillAll:
    name = "fill-all"
    sends_real_orders = False

    def execute_orders(self, orders: Any) -> list[Any]:
        from peaktrade_core.orders import OrderExecutionResult, OrderFill, OrderStatus

        return [
            OrderExecutionResult(o, OrderStatus.FILLED, fills=[OrderFill(o.client_order_id or "", o.symbol, o.side, o.quantity, 100.0)])
            for o in orders
        ]


def worker(url: str, data_dir: str, record: bool) -> None:
    """Run batches until stdin closes; print ``blocked <t>`` / ``passed <t>`` on each change."""
    import threading

    from peaktrade_core.config import load_config
    from peaktrade_core.orders import OrderRequest, OrderStatus
    from peaktrade_core.pipeline import ExecutionPipeline
    from peaktrade_core.store import open_store_url

    store = open_store_url(url, data_dir=data_dir)
    config_file = Path(data_dir) / f"propagation-{os.getpid()}.toml"
    config_file.write_text(_CONFIG, encoding="utf-8")
    pipeline = ExecutionPipeline(load_config(config_file), store=store, executor=_FillAll(), record=record)
    if record:
        pipeline.run_id = pipeline.runlog.start_run(mode="paper", effective_mode="paper", config_sha256="", operator="bench",
                                                    strategy="kill-propagation", strategy_params={}, plugin_versions={})
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    blocked = None
    print("ready", flush=True)
    n = 0
    while not done.is_set():
        # distinct sizes (no duplicate blocks), buy then sell (no position builds up)
        order = OrderRequest("BTCUSDT", "sell" if n % 2 else "buy", 0.001 + (n // 2 % 1000) * 1e-6, reference_price=100.0)
        result = pipeline.process_batch([order], n)[0]
        n += 1
        now = time.time()
        is_blocked = result.status == OrderStatus.GATE_BLOCKED and "kill switch" in " ".join(result.reasons)
        if not is_blocked and result.status != OrderStatus.FILLED:
            print(f"unexpected {result.status.value} {result.reasons}", flush=True)
            return
        if is_blocked != blocked:
            blocked = is_blocked
            print(f"{'blocked' if is_blocked else 'passed'} {now!r}", flush=True)
        time.sleep(0.0005)  # a strategy between orders; also leaves the CPU to the others


def measure(url: str, data_dir: str | Path, processes: int = 4, rounds: int = 3, record: bool = False) -> dict[str, Any]:
    """Engage and release ``rounds`` times; returns every process's delays (seconds) from
    engage to its first blocked batch, and from release to its first passing batch."""
    from peaktrade_core.killswitch import KillSwitch
    from peaktrade_core.store import open_store_url

    env = {**os.environ, "PEAK_TRADE_PLUGINS": ""}
    cmd = [sys.executable, "-c", f"from {__name__} import worker; worker({url!r}, {str(data_dir)!r}, {record!r})"]
    workers = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env) for _ in range(processes)]
    switch = KillSwitch(open_store_url(url, data_dir=data_dir))
    engage_delays: list[float] = []
    release_delays: list[float] = []
    try:
        for w in workers:
            _expect(w, "ready")
            _expect(w, "passed")
        for _ in range(rounds):
            t0 = time.time()
            switch.engage("propagation measurement", "bench", source="bench")
            engage_delays += [_expect(w, "blocked") - t0 for w in workers]
            t0 = time.time()
            switch.release("measured", "bench", source="bench")
            release_delays += [_expect(w, "passed") - t0 for w in workers]
    finally:
        for w in workers:
            w.stdin.close()  # type: ignore[union-attr]
        for w in workers:
            w.wait(timeout=60)
    return {"processes": processes, "rounds": rounds, "engage_to_blocked": engage_delays, "release_to_passed": release_delays}


def _expect(proc: subprocess.Popen[str], word: str) -> float:
    line = proc.stdout.readline().strip()  # type: ignore[union-attr]
    if not line.startswith(word):
        raise RuntimeError(f"worker said {line!r}, expected {word!r} (exit {proc.poll()})")
    return float(line.split()[1]) if " " in line else 0.0


if __name__ == "__main__":  # python -m peaktrade_core.testing.kill_propagation URL DATA_DIR
    print(json.dumps(measure(sys.argv[1], sys.argv[2])))
