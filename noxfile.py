"""nox sessions: the core alone, each package alone with the core, everything together.

    nox -l                              # list sessions
    nox -s core                         # core tests, no plugin installed
    nox -s "plugin(peaktrade-paper)"    # core + that plugin only, its own tests
    nox -s all                          # everything installed, every test suite
    nox -s explore                      # as `all`, hypothesis searching fresh random examples
    nox -s lint bench

PEAK_TRADE_NOX_PACKAGES=peaktrade-paper,peaktrade-dryrun narrows the per-package sessions.

A package whose tests need another package of this repository (e.g. a fake venue shipped by
an example adapter) names it in its pyproject.toml; its `plugin` session installs it too:

    [tool.peaktrade]
    test-with = ["examples/peaktrade-binance"]     # paths from the repository root
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.sessions = ["core", "plugin", "lint"]  # `nox` alone: what CI runs besides the full suite
nox.options.reuse_existing_virtualenvs = True


def packages() -> list[Path]:
    found = sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml"))
    found += sorted(p.parent for p in ROOT.glob("examples/*/pyproject.toml"))
    wanted = {n.strip() for n in os.environ.get("PEAK_TRADE_NOX_PACKAGES", "").split(",") if n.strip()}
    return [p for p in found if not wanted or p.name in wanted]


PACKAGES = {p.name: p for p in packages()}


def installable(path: Path) -> str:
    """The package with its own ``test`` extra, when it declares one."""
    meta = tomllib.loads((path / "pyproject.toml").read_text()).get("project", {})
    return f"{path}[test]" if "test" in meta.get("optional-dependencies", {}) else str(path)


def test_with(path: Path) -> list[str]:
    """The repository packages ``path``'s tests also need (``[tool.peaktrade] test-with``)."""
    tool = tomllib.loads((path / "pyproject.toml").read_text()).get("tool", {}).get("peaktrade", {})
    return [str(ROOT / extra) for extra in tool.get("test-with", [])]


@nox.session
def core(session: nox.Session) -> None:
    """The core alone: no plugin installed."""
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "tests", *session.posargs)


@nox.session
@nox.parametrize("package", list(PACKAGES), ids=list(PACKAGES))
def plugin(session: nox.Session, package: str) -> None:
    """Core + one package (and what its tests declare in ``test-with``), nothing else:
    proves it installs and works on its own."""
    path = PACKAGES[package]
    extras = [arg for extra in test_with(path) for arg in ("-e", extra)]
    session.install("-e", ".[test]", "-e", installable(path), *extras)
    session.run("pytest", "-q", str(path / "tests"), *session.posargs)


@nox.session
def all(session: nox.Session) -> None:  # noqa: A001 - the session's name on the command line
    """Everything installed; every suite, the core's included."""
    editable = [arg for p in PACKAGES.values() for arg in ("-e", installable(p))]
    session.install("-e", ".[test]", *editable)
    session.run("pytest", "-q", "tests", *(str(p / "tests") for p in PACKAGES.values()), *session.posargs)


@nox.session
def explore(session: nox.Session) -> None:
    """Every suite with hypothesis exploring: random seeds, 1,000 examples per property.
    CI runs the fixed-seed profile (peaktrade_core.testing.pytest_plugin) so its verdict never changes by chance."""
    editable = [arg for p in PACKAGES.values() for arg in ("-e", installable(p))]
    session.install("-e", ".[test]", *editable)
    session.env["HYPOTHESIS_PROFILE"] = "explore"
    session.run("pytest", "-q", "tests", *(str(p / "tests") for p in PACKAGES.values()), *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks with every repo plugin installed; figures are printed, not asserted."""
    editable = [arg for p in PACKAGES.values() for arg in ("-e", str(p))]
    session.install("-e", ".", *editable)
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)
