"""CLI start-up: `peaktrade --help`, `status` and `plugins list` against the import floor,
alternated round by round in one run; medians of wall time and of CPU time.

    python benchmarks/bench_cli.py [rounds=25] [--before DIR]

The floor is what any click + pluggy program with entry-point plugins pays before doing
anything: ``python -c`` running ``import click, pluggy`` and reading the names of the
installed ``peaktrade`` entry points. It imports no ``peaktrade`` module (loading an entry
point would import the project, which is what is measured); the interpreter start, ``site``
and whatever ``site`` loads for the installed packages are in the floor and in every command
alike. Goals: ``--help`` and ``status`` <= 1.5x the floor, ``plugins list`` <= 1.2x.

Run with the plugins installed that you want counted (``python3 dev.py demo`` installs every
repo plugin); ``PEAK_TRADE_PLUGINS`` is left unset and ``PYTHONDONTWRITEBYTECODE`` is
dropped, so every module runs from its cached bytecode as after a normal install (three
unmeasured rounds first write the caches: bytecode, attrs' generated methods, the packaged
defaults' parse). ``status`` runs on an initialised store in
paper mode with the built-in default config.

CPU time (user + system of each process) is the steadier figure on a loaded machine: wall
time there is mostly waiting for a core. ``--before DIR`` also runs the three commands on an
export of an older ``peaktrade_core`` (``git archive <commit> | tar -x -C DIR``, put first
on ``PYTHONPATH``; the installed plugins are the same), in the same alternated rounds.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import pop_before, table  # noqa: E402

FLOOR = "import click, pluggy; from importlib.metadata import entry_points; [ep.name for ep in entry_points(group='peaktrade')]"
FLOOR_LABEL = "floor: python -c 'import click, pluggy' + the peaktrade entry points' names (no peaktrade module)"


def _run(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """``(wall, cpu)`` seconds of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    args = sys.argv[1:]
    before = pop_before(args)
    rounds = int(args[0]) if args else 25
    bindir = Path(sys.executable).parent
    peaktrade = shutil.which("peaktrade", path=str(bindir)) or "peaktrade"
    with tempfile.TemporaryDirectory() as tmp:
        # as installed: compiled modules cached (click and pluggy have theirs from pip; with
        # PYTHONDONTWRITEBYTECODE set, the project's own would be compiled on every start)
        env = {k: v for k, v in os.environ.items() if k not in ("PEAK_TRADE_PLUGINS", "PEAK_TRADE_CONFIG_PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
        env["PEAK_TRADE_DATA_DIR"] = tmp
        old_env = {**env, "PYTHONPATH": before} if before else env
        cases: dict[str, tuple[list[str], dict[str, str]]] = {
            FLOOR_LABEL: ([sys.executable, "-c", FLOOR], env),
            "peaktrade --help": ([peaktrade, "--help"], env),
            "peaktrade status": ([peaktrade, "status"], env),
            "peaktrade plugins list": ([peaktrade, "plugins", "list"], env),
        }
        if before:
            for name in ("--help", "status", "plugins list"):
                cases[f"peaktrade {name} (--before)"] = ([peaktrade, *name.split()], old_env)
        # every drill of the installed packs, the 768-case gate matrix included
        cases["peaktrade drills run"] = ([peaktrade, "drills", "run"], env)
        subprocess.run([peaktrade, "state", "init", "--operator", "bench", "--reason", "benchmark store"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp)
        # warm the page cache, write the bytecode caches (and the caches written beside them:
        # attrs' generated methods, once per width of a class's hash salt; the defaults' parse)
        for _ in range(3):
            for cmd, case_env in cases.values():
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=case_env, cwd=tmp)
        walls: dict[str, list[float]] = {name: [] for name in cases}
        cpus: dict[str, list[float]] = {name: [] for name in cases}
        # the drills after the start-up rounds, not among them: the process right after a
        # drill run started slower (its writes being flushed), which was always the floor
        drills = "peaktrade drills run"
        for names in ([name for name in cases if name != drills], [drills]):
            for _ in range(rounds):
                for name in names:
                    wall, cpu = _run(*cases[name], tmp)
                    walls[name].append(wall)
                    cpus[name].append(cpu)
    floor_wall, floor_cpu = statistics.median(walls[FLOOR_LABEL]), statistics.median(cpus[FLOOR_LABEL])
    rows = [("command", "wall median ms", "wall min ms", "x floor", "CPU median ms", "CPU x floor")]
    for name in cases:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        rows.append((name, f"{wall * 1000:.1f}", f"{min(walls[name]) * 1000:.1f}", f"{wall / floor_wall:.2f}", f"{cpu * 1000:.1f}", f"{cpu / floor_cpu:.2f}"))
    print(f"CLI start-up, {rounds} alternated rounds, medians; load {os.getloadavg()[0]:.1f} at the end")
    print(table(rows))


if __name__ == "__main__":
    main()
