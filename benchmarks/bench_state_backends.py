"""A paper session on the SQLite store vs the same session on PostgreSQL, whole process:
`peaktrade session run --orders FILE` on a generated CSV, rounds alternating A and B;
medians. The only difference is `[state] url` (PostgreSQL: a throwaway server on loopback,
started here with its default durability settings: fsync on; peaktrade commits with
synchronous_commit off, as SQLite's synchronous=NORMAL does not sync each commit).

    python benchmarks/bench_state_backends.py [rows=200000] [rounds=5] [batch_size]

Needs the paper plugin installed (`python3 dev.py demo` sets that up).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import table  # noqa: E402
from bench_orderfile import timed, write_orders  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from peaktrade_core.state import init_identity  # noqa: F401 - the store must import
    from peaktrade_core.testing.postgres import PostgresServer

    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    batch = sys.argv[3] if len(sys.argv) > 3 else None
    with tempfile.TemporaryDirectory() as tmp, PostgresServer(durable=True) as server:
        work = Path(tmp)
        orders = work / "orders.csv"
        write_orders(orders, rows)
        config = (ROOT / "config" / "config.toml").read_text().replace("runaway_max_executions = 500", "runaway_max_executions = 1000000000")
        if batch:
            config = config.replace("[execution]\n", f"[execution]\nbatch_size = {batch}\n", 1)
        (work / "sqlite.toml").write_text(config)
        (work / "postgres.toml").write_text(config.replace("[state]\n", '[state]\nurl = { env = "PEAK_TRADE_DB_URL" }\n', 1))
        env = {**os.environ, "PEAK_TRADE_PLUGINS": "paper"}
        env.pop("PEAK_TRADE_CONFIG_PATH", None)
        base = [sys.executable, "-m", "peaktrade_core", "--config"]
        cases = {"SQLite (data dir)": "sqlite.toml", "PostgreSQL (loopback)": "postgres.toml"}
        times: dict[str, list[float]] = {name: [] for name in cases}
        for round_no in range(rounds):
            env["PEAK_TRADE_DB_URL"] = server.create_database()  # each round starts empty, like SQLite's
            for name, file in cases.items():
                env["PEAK_TRADE_DATA_DIR"] = str(work / f"data-{file}-{round_no}")
                times[name].append(timed([*base, file, "session", "run", "--orders", str(orders)], env, work)[0])
    table_rows = [("store", "median s", "orders/s", "min s")]
    for name, ts in times.items():
        median = statistics.median(ts)
        table_rows.append((name, f"{median:.2f}", f"{rows / median:,.0f}", f"{min(ts):.2f}"))
    ratio = statistics.median(times["PostgreSQL (loopback)"]) / statistics.median(times["SQLite (data dir)"])
    print(f"{rows:,} orders, paper, batch size {batch or 'default'}, {rounds} alternated rounds; PostgreSQL/SQLite = {ratio:.2f}x")
    print(table(table_rows))


if __name__ == "__main__":
    main()
