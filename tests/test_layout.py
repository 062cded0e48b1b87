"""The repository keeps the shape the product card fixes."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_top_level_layout():
    for name in ("peaktrade_core", "plugins", "examples", "config", "tests", "docs", "benchmarks", "pyproject.toml", "noxfile.py", ".ci/run"):
        assert (ROOT / name).exists(), name


def test_each_plugin_is_its_own_installable_package_with_tests_and_an_entry_point():
    for pyproject in sorted(ROOT.glob("plugins/*/pyproject.toml")):
        meta = tomllib.loads(pyproject.read_text())["project"]
        assert meta["name"] == pyproject.parent.name
        assert any(dep.startswith("peaktrade-core") for dep in meta["dependencies"])
        assert meta["entry-points"]["peaktrade"], f"{meta['name']} has no peaktrade entry point"
        assert (pyproject.parent / "tests").is_dir() and (pyproject.parent / "README.md").is_file()


def test_the_core_never_imports_a_plugin_package():
    plugin_modules = {
        next(iter(p.parent.glob("peaktrade_*/__init__.py"))).parent.name
        for p in ROOT.glob("plugins/*/pyproject.toml")
        if any(p.parent.glob("peaktrade_*/__init__.py"))
    }
    for source in (ROOT / "peaktrade_core").rglob("*.py"):
        text = source.read_text()
        for module in plugin_modules:
            assert f"import {module}" not in text and f"from {module}" not in text, f"{source} imports {module}"


@pytest.mark.skipif(shutil.which("nox") is None and not (ROOT / ".venv/bin/nox").exists(), reason="nox not installed")
def test_nox_lists_the_core_session_and_one_session_per_package():
    nox = shutil.which("nox") or str(ROOT / ".venv/bin/nox")
    listing = subprocess.run([nox, "-l", "-f", str(ROOT / "noxfile.py")], capture_output=True, text=True, check=True).stdout
    assert "* core" in listing
    for pyproject in [*ROOT.glob("plugins/*/pyproject.toml"), *ROOT.glob("examples/*/pyproject.toml")]:
        assert f"* plugin({pyproject.parent.name})" in listing
    # every session the docs tell people to run exists under that name
    named = {
        m
        for doc in [ROOT / "README.md", ROOT / "noxfile.py", *(ROOT / "docs").glob("*.md")]
        for m in re.findall(r'nox -s "?([a-z]+(?:\([\w-]+\))?)', doc.read_text())
    }
    assert named, "the docs name no nox session"
    for session in named:
        assert f" {session} " in listing.replace("\n", " \n"), f"docs name nox session {session!r}, which does not exist"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "python3 ./dev.py test"
    assert command in readme and command in ci
    # and the isolation sessions: the core alone, each package alone with the core
    assert "python3 ./dev.py isolation" in ci and "python3 ./dev.py isolation" in readme
