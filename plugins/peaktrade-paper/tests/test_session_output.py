"""`peaktrade session run` as a shell runs it: orders on standard input, and an output that
cannot be written (a full disk, a reader that left) ends in one line, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ORDERS = "symbol,side,quantity,reference_price\nBTC/EUR,buy,0.01,40000\nBTC/EUR,sell,0.01,40000\n"


def _session_run(tmp_path, *args: str, stdout=subprocess.PIPE, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "orders.csv").write_text(ORDERS)
    return subprocess.run(
        [sys.executable, "-m", "peaktrade_core", "session", "run", *args],
        input=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def _runs(tmp_path) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "peaktrade_core", "runs", "list", "--json"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_full_disk_on_stdout_is_one_line_and_a_non_zero_exit(tmp_path):
    with open("/dev/full", "w") as full:
        done = _session_run(tmp_path, "--orders", "orders.csv", stdout=full)
    assert done.returncode == 74
    assert done.stderr.splitlines()[-1] == "peaktrade: cannot write output: No space left on device"
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert [r["status"] for r in _runs(tmp_path)] == ["finished"]  # the session itself ran and is recorded


def test_a_reader_that_left_early_is_no_traceback(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -1` that has already exited
    try:
        done = _session_run(tmp_path, "--orders", "orders.csv", "--json", stdout=write_end)
    finally:
        os.close(write_end)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_orders_from_standard_input_run_and_are_recorded_as_such(tmp_path):
    done = _session_run(tmp_path, "--orders", "-", "--json", stdin=ORDERS)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["orders"] == 2 and summary["by_status"] == {"filled": 2}
    [run] = _runs(tmp_path)
    assert run["strategy_params"]["file"] == "-" and run["strategy_params"]["format"] == "csv"
