"""`peaktrade plugins list` start-up with peaktrade-ccxt loaded vs. disabled, side by side.

    python plugins/peaktrade-ccxt/benchmarks/bench_plugins_list.py [rounds] [peaktrade-without]

Runs the command alternately with and without the plugin, so both see the same machine
load, and prints the medians. "Without" is this environment with the plugin disabled
(``PEAK_TRADE_DISABLE_PLUGINS=ccxt``), or, given its ``peaktrade`` executable, another
environment in which neither peaktrade-ccxt nor ccxt is installed. Figures, not assertions.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    peaktrade = shutil.which("peaktrade", path=os.path.dirname(sys.executable)) or "peaktrade"
    other = sys.argv[2] if len(sys.argv) > 2 else None
    timings: dict[str, list[float]] = {"with ccxt": [], "without": []}
    for i in range(rounds * 2 + 2):
        label = "with ccxt" if i % 2 == 0 else "without"
        env = dict(os.environ, PEAK_TRADE_DISABLE_PLUGINS="ccxt" if label == "without" and not other else "")
        command = other if label == "without" and other else peaktrade
        start = time.perf_counter()
        subprocess.run([command, "plugins", "list"], env=env, check=True, capture_output=True)
        if i >= 2:  # the first pair warms the file cache
            timings[label].append(time.perf_counter() - start)
    with_ccxt, without = (statistics.median(timings[k]) for k in ("with ccxt", "without"))
    print(f"peaktrade plugins list, median of {rounds} alternated runs each:")
    print(f"  with peaktrade-ccxt  {with_ccxt * 1000:7.1f} ms")
    print(f"  without              {without * 1000:7.1f} ms  ({'not installed' if other else 'disabled'})")
    print(f"  difference           {(with_ccxt / without - 1) * 100:+7.1f} %")


if __name__ == "__main__":
    main()
