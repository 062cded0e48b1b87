"""Is a run's process still there? Process identity on this host, heartbeats elsewhere."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def process_start(pid: int) -> str:
    """The kernel's start time of ``pid`` (Linux), so a reused pid is not mistaken for the
    run's process. Empty where /proc does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(pid: int, proc_start: str = "") -> bool:
    """Is the process that started a run still there (on this host)?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS, BSD): existence is all we can tell
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # killed, not yet reaped: gone for our purposes
        return False
    return not proc_start or fields[19] == proc_start


def gone_runs(rows: Iterable[Any], stale_after: float, skip: Iterable[str] = ()) -> list[tuple[str, str]]:
    """``(run_id, why)`` of every running run whose process is gone: same host, the pid no
    longer exists, is a zombie or belongs to another process; other host, its heartbeat is
    older than ``stale_after`` seconds. A live process on this host is never gone."""
    here = socket.gethostname()
    now = time.time()
    skip = set(skip)
    out = []
    for row in rows:
        if row["run_id"] in skip:
            continue
        if row["host"] == here:
            if process_alive(row["pid"], row["proc_start"]):
                continue
            out.append((row["run_id"], f"process {row['pid']} on {here} is gone"))
        else:
            age = now - row["heartbeat_at"]
            if age > stale_after:
                out.append((row["run_id"], f"no heartbeat from {row['host']} for {age:.0f} s"))
    return out
