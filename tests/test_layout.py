"""The repository keeps the shape the product card fixes."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
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


# -- one place calls hooks; one public surface for plugin authors ----------------------------

PUBLIC_MODULES = {"peaktrade_core.plugin_api", "peaktrade_core.testing"}
#: reaching into pluggy past the plugin manager's facade
HOOK_CALLING_ATTRIBUTES = {"hook", "call_isolated", "subset_hook_caller", "get_hookimpls", "get_hookcallers", "_hookexec"}


def _python_files(*folders: str) -> list[Path]:
    return [
        f
        for folder in folders
        for f in sorted((ROOT / folder).rglob("*.py"))
        if not {".venv", "build", ".nox"} & set(f.relative_to(ROOT).parts)
    ]


def _core_imports(source: Path) -> list[tuple[int, str]]:
    import ast

    found = []
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "peaktrade_core":
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "peaktrade_core"]
    return found


def test_bundled_plugins_and_the_example_import_only_the_public_plugin_api():
    files = _python_files("plugins", "examples/peaktrade-hello-plugin", "examples/peaktrade-binance")
    assert len(files) > 20
    wrong = [
        f"{f.relative_to(ROOT)}:{line}: imports {module}"
        for f in files
        for line, module in _core_imports(f)
        if module not in PUBLIC_MODULES and not module.startswith("peaktrade_core.testing.")  # venue_kit, loopback
    ]
    assert wrong == [], "plugins import only peaktrade_core.plugin_api (and .testing in tests):\n" + "\n".join(wrong)


def test_only_the_plugin_manager_calls_hooks():
    import ast

    wrong = []
    for f in _python_files("peaktrade_core", "plugins", "examples", "tests", "benchmarks"):
        if f == ROOT / "peaktrade_core" / "plugins.py":
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in HOOK_CALLING_ATTRIBUTES:
                wrong.append(f"{f.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
    assert wrong == [], "call hooks through PluginManager's methods:\n" + "\n".join(wrong)


def test_the_plugin_api_is_cheap_to_import():
    probe = "import sys, peaktrade_core.plugin_api; print(sorted(m for m in sys.modules if m.startswith(('peaktrade_core', 'attrs'))))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == str(["peaktrade_core", "peaktrade_core.hookspecs", "peaktrade_core.plugin_api"])


def _venue_module_missing() -> bool:
    import importlib.util

    return importlib.util.find_spec("peaktrade_core.venues") is None


def _api_names() -> list[str]:
    from peaktrade_core import plugin_api

    return list(plugin_api.__all__)


@pytest.mark.parametrize("name", _api_names())
def test_every_plugin_api_name_resolves(name):
    from peaktrade_core import plugin_api

    if name in ("InstrumentRules", "VenueError") and _venue_module_missing():
        pytest.skip("the venue module is not part of this build")
    assert getattr(plugin_api, name) is not None


#: SQL in a string literal: a statement's opening words (upper case, as the store writes them)
_SQL = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\bCREATE\s+(?:TABLE|(?:UNIQUE\s+)?INDEX)\b|\bALTER\s+TABLE\b|\bPRAGMA\b"
)


def _string_literals(tree):
    """Every string constant outside docstrings (an f-string's literal parts included)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_sql_lives_only_in_the_store_package():
    """Every statement the core sends to the state store is in a repository under
    peaktrade_core/store/, where both backends' portable subset is kept in one place."""
    core = ROOT / "peaktrade_core"
    found = []
    for source in sorted(core.rglob("*.py")):
        relative = source.relative_to(core)
        if relative.parts[0] == "store":
            continue
        for line, text in _string_literals(ast.parse(source.read_text(encoding="utf-8"))):
            if _SQL.search(text):
                found.append(f"peaktrade_core/{relative.as_posix()}:{line}: {text.strip().splitlines()[0][:60]}")
    assert found == [], "SQL outside peaktrade_core/store/ (move it into a repository):\n" + "\n".join(found)


def test_the_sql_check_sees_sql_and_not_prose_or_http():
    assert _SQL.search("SELECT state FROM accounts WHERE account = ?")
    assert _SQL.search("INSERT OR IGNORE INTO t (a) VALUES (?)") and _SQL.search("PRAGMA synchronous=FULL")
    assert _SQL.search("UPDATE runlog_runs SET heartbeat_at = ?") and _SQL.search("CREATE INDEX IF NOT EXISTS i ON t (a)")
    assert not _SQL.search("DELETE") and not _SQL.search("select the orders from the file")
    tree = ast.parse('"""SELECT x FROM y in a docstring"""\nq = f"SELECT * FROM {table}"\n')
    assert [text for _, text in _string_literals(tree)] == ["SELECT * FROM "]
