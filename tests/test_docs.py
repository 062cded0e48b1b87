"""Docs cannot drift: every hook is documented with its exact signature, and the code
examples in the docs run."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from peaktrade_core import hookspecs

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", hookspecs.hook_names())
def test_every_hook_is_documented_with_its_exact_signature(name):
    text = (ROOT / "docs" / "hooks.md").read_text()
    signature = str(inspect.signature(getattr(hookspecs, name))).replace("'", "")
    assert f"### {name}\n" in text, f"docs/hooks.md has no heading for {name}"
    assert f"def {name}{signature}" in text, f"docs/hooks.md: signature of {name} is out of date"


def test_every_documented_hook_exists():
    text = (ROOT / "docs" / "hooks.md").read_text()
    documented = set(re.findall(r"^### (\w+)$", text, flags=re.M))
    assert documented == set(hookspecs.hook_names())


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python run\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("doc", sorted(p.name for p in (ROOT / "docs").glob("*.md") if _python_blocks(p)))
def test_doc_examples_run(doc):
    for block in _python_blocks(ROOT / "docs" / doc):
        exec(compile(block, f"docs/{doc}", "exec"), {"__name__": "__doc_example__"})


def test_every_failure_policy_row_names_tests_that_exist():
    text = (ROOT / "docs" / "hooks.md").read_text()
    table = text.split("## Failure policy", 1)[1].split("\n\n")[2]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith(("| hook", "| ---"))]
    assert len(rows) >= 10
    tests = "".join(p.read_text() for p in sorted((ROOT / "tests").glob("test_*.py")))
    for row in rows:
        names = re.findall(r"`(test_\w+)`", row.rsplit("|", 2)[1])
        assert names, f"no test named in: {row}"
        for name in names:
            assert f"def {name}(" in tests, f"docs/hooks.md names {name}, which no test module in tests/ has"
