"""Shared helpers for the benchmarks: timing and a plain table."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from pathlib import Path


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows)


def synced_insert_seconds(path: Path, n: int) -> float:
    """The disk's limit for per-order durability: ``n`` one-row transactions, each synced
    (SQLite WAL, ``synchronous=FULL``). Returns the seconds taken."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE plain (seq INTEGER PRIMARY KEY, payload TEXT)")
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO plain VALUES (?, ?)", (i, "x" * 100))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def pop_before(args: list[str]) -> str | None:
    """``--before DIR`` (an older export of peaktrade_core to alternate with): removed from
    ``args``; its resolved path, or ``None``."""
    if "--before" not in args:
        return None
    at = args.index("--before")
    before = str(Path(args[at + 1]).resolve())
    del args[at : at + 2]
    return before


def timed_process(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one process, its
    output discarded; a failed process ends the benchmark."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd[:8])} ... failed")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
