"""The example session's HTML report, as an operator produces and opens it: `session run
--example` and `runs report` in subprocesses (paper executor), the page loaded in a real
headless Chromium; the screenshot is kept as a test artefact."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from peaktrade_core.testing import find_chromium, open_in_browser

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]  # the source checkout: the example lives there
ARTIFACTS = Path(os.environ.get("PEAK_TRADE_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))


def peaktrade(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "peaktrade_core", *args], capture_output=True, text=True,
                          cwd=ROOT, env=os.environ.copy(), timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_the_example_sessions_report_shows_its_curve_in_chromium(tmp_path):
    if find_chromium() is None:
        pytest.skip("no Chromium found (install it: apt-get install -y chromium); the HTML report is checked in a real browser")
    session = peaktrade("session", "run", "--example", "--json")
    assert session.returncode == 0, session.stderr
    summary = json.loads(session.stdout)
    page = tmp_path / "example.html"
    made = peaktrade("runs", "report", summary["run_id"], "--output", str(page))
    assert made.returncode == 0, made.stderr

    dom, requests = open_in_browser(page, tmp_path / "profile", "--dump-dom")
    assert requests == []
    assert summary["run_id"] in dom and "Hash chain verified" in dom
    assert re.search(rf'data-tile="orders">orders<b>{summary["orders"]}<', dom)
    assert re.search(rf'data-tile="fills">fills<b>{summary["fills"]}<', dom)
    # the curve ends on the paper account's PnL
    pnl = summary["realized_pnl"] + summary["unrealized_pnl"] - summary["fees"]
    assert f'data-tile="final equity">final equity<b>{pnl:,.2f}<' in dom
    svg = re.search(r'<svg id="equity-chart" data-points="(\d+)".*?<polyline [^>]*points="([^"]+)"', dom, flags=re.S)
    assert svg is not None and int(svg[1]) == len(svg[2].split()) == summary["orders"]
    assert len({p.split(",")[1] for p in svg[2].split()}) > 5  # a curve, not a flat line

    shot = tmp_path / "example.png"
    _, requests = open_in_browser(page, tmp_path / "profile-shot", f"--screenshot={shot}")
    assert requests == [] and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "example-run-report.png")
