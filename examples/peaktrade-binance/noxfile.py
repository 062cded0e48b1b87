"""This package's own checks, as its maintainers would run them outside peaktrade's repository.

    nox                       # tests against the released peaktrade-core
    nox -s tests -- -m "not slow"

Inside peaktrade's repository the root noxfile runs the same tests as ``plugin(peaktrade-binance)``
with the core from the checkout.
"""

from __future__ import annotations

from pathlib import Path

import nox

HERE = Path(__file__).parent
nox.options.sessions = ["tests"]


def core() -> str:
    """The core from the surrounding checkout when there is one, else from the index."""
    for parent in HERE.parents:
        if (parent / "peaktrade_core" / "plugin_api.py").exists():
            return str(parent)
    return "peaktrade-core"


@nox.session
def tests(session: nox.Session) -> None:
    session.install(core(), "-e", f"{HERE}[test]", "pytest-timeout")
    session.run("pytest", "-q", str(HERE / "tests"), *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", str(HERE))
