"""The conformance test in docs/plugins.md ("Write a venue adapter") is a real test file:
run as pytest runs an adapter's tests, every check of the kit passes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_the_documented_conformance_test_passes(tmp_path):
    [block] = re.findall(r"```python conformance\n(.*?)```", (ROOT / "docs" / "plugins.md").read_text(), flags=re.S)
    (tmp_path / "test_conformance.py").write_text(block)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "test_conformance.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert re.search(r"\b1[23] passed", proc.stdout), proc.stdout[-500:]
