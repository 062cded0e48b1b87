"""docs/plugins.md walks through this package ("Binance, step by step"): its runnable example
runs, and its excerpts are still what the files say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]
DOC = next((p / "docs" / "plugins.md" for p in PACKAGE.parents if (p / "docs" / "plugins.md").exists()), None)
pytestmark = pytest.mark.skipif(DOC is None, reason="not inside the peaktrade repository: no docs/plugins.md")


def chapter() -> str:
    return DOC.read_text().split("### Binance, step by step", 1)[1]


def code_lines(block: str) -> list[str]:
    """The block's lines without comments and elisions, stripped."""
    out = []
    for line in block.splitlines():
        code = re.split(r"\s+#\s", line)[0].strip()
        if code and code != "..." and not code.startswith("#"):
            out.append(code)
    return out


def test_the_runnable_example_runs():
    [block] = re.findall(r"```python binance\n(.*?)```", chapter(), flags=re.S)
    exec(compile(block, str(DOC), "exec"), {"__name__": "__doc_example__"})


@pytest.mark.parametrize(
    ("starts_with", "source"),
    [
        ("[project]", "pyproject.toml"),
        ("@frozen", "peaktrade_binance/settings.py"),
        ("filters = ", "peaktrade_binance/client.py"),
        ("class TestBinanceValidateOnly", "tests/test_conformance.py"),
        ("SECRET = ", "tests/test_signing.py"),
    ],
)
def test_excerpts_match_the_files(starts_with, source):
    blocks = [b for b in re.findall(r"```(?:python|toml)\n(.*?)```", chapter(), flags=re.S) if b.startswith(starts_with)]
    assert len(blocks) == 1, f"no single excerpt starting with {starts_with!r}"
    text = {line.strip() for line in (PACKAGE / source).read_text().splitlines()}
    code = {re.split(r"\s+#\s", line)[0].strip() for line in text}
    missing = [line for line in code_lines(blocks[0]) if line not in text and line not in code]
    assert missing == [], f"docs/plugins.md excerpt of {source} is out of date: {missing}"
