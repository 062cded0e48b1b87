"""CLI start-up: `peaktrade --help`, `status` and `plugins list` against the import floor,
alternated round by round in one run; medians.

    python benchmarks/bench_cli.py [rounds=25]

The floor is what any click + pluggy program with entry-point plugins pays before doing
anything: ``import click, pluggy`` plus reading the installed ``peaktrade`` entry points
(their names, not loading them: loading them imports the project's own modules, which is
what is being measured). Goals: ``--help`` and ``status`` <= 1.5x the floor, ``plugins
list`` <= 1.2x. Run with the plugins installed that you want counted (``python3 dev.py
demo`` installs every repo plugin); ``PEAK_TRADE_PLUGINS`` is left unset and
``PYTHONDONTWRITEBYTECODE`` is dropped, so every module runs from its cached bytecode as
after a normal install (the first, unmeasured round writes the cache).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import table  # noqa: E402

FLOOR = "import click, pluggy; from importlib.metadata import entry_points; [ep.name for ep in entry_points(group='peaktrade')]"


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    bindir = Path(sys.executable).parent
    peaktrade = shutil.which("peaktrade", path=str(bindir)) or "peaktrade"
    with tempfile.TemporaryDirectory() as tmp:
        # as installed: compiled modules cached (click and pluggy have theirs from pip; with
        # PYTHONDONTWRITEBYTECODE set, the project's own would be compiled on every start)
        env = {k: v for k, v in os.environ.items() if k not in ("PEAK_TRADE_PLUGINS", "PEAK_TRADE_CONFIG_PATH", "PYTHONDONTWRITEBYTECODE")}
        env["PEAK_TRADE_DATA_DIR"] = tmp
        cases = {
            "floor: import click, pluggy + list the entry points": [sys.executable, "-c", FLOOR],
            "peaktrade --help": [peaktrade, "--help"],
            "peaktrade status": [peaktrade, "status"],
            "peaktrade plugins list": [peaktrade, "plugins", "list"],
            # every drill of the installed packs, the 768-case gate matrix included
            "peaktrade drills run": [peaktrade, "drills", "run"],
        }
        for cmd in cases.values():  # warm the page cache and the state file
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, cmd in cases.items():
                start = time.perf_counter()
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp)
                times[name].append(time.perf_counter() - start)
    floor = statistics.median(times[next(iter(cases))])
    rows = [("command", "median ms", "min ms", "x floor")]
    for name, ts in times.items():
        rows.append((name, f"{statistics.median(ts) * 1000:.1f}", f"{min(ts) * 1000:.1f}", f"{statistics.median(ts) / floor:.2f}"))
    print(f"CLI start-up, {rounds} alternated rounds, medians")
    print(table(rows))


if __name__ == "__main__":
    main()
