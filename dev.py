#!/usr/bin/env python3
"""Set up a virtual environment with the core and every bundled plugin, then run something.

    python3 ./dev.py demo        # the main job on the bundled example
    python3 ./dev.py test        # every test: core, plugins, examples
    python3 ./dev.py isolation   # the core alone, then each package alone with the core (nox)
    python3 ./dev.py lint        # ruff

Needs nothing but Python >= 3.11. The environment lives in .venv (override: PEAK_TRADE_VENV).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("PEAK_TRADE_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def packages() -> list[Path]:
    """The core plus every installable package under plugins/ and examples/."""
    found = sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml"))
    found += sorted(p.parent for p in ROOT.glob("examples/*/pyproject.toml"))
    return found


def with_test_extra(pkg: Path) -> str:
    """``path[test]`` when the package declares test dependencies of its own."""
    meta = tomllib.loads((pkg / "pyproject.toml").read_text()).get("project", {})
    return f"{pkg}[test]" if "test" in meta.get("optional-dependencies", {}) else str(pkg)


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT)


def setup() -> None:
    if not (BIN / "python").exists():
        venv.create(VENV, with_pip=True)
    pip = [BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run(*pip, "setuptools>=68", "wheel")
    editable = [arg for pkg in packages() for arg in ("-e", with_test_extra(pkg))]
    run(*pip, "--no-build-isolation", "-e", ".[dev]", *editable)


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be started by any python3
        sys.exit(f"peaktrade needs Python >= 3.11; this is {sys.version.split()[0]}")
    task = sys.argv[1] if len(sys.argv) > 1 else "help"
    extra = sys.argv[2:]
    if task == "demo":
        setup()
        run(BIN / "peaktrade", "plugins", "list")
        run(BIN / "peaktrade", "session", "run", "--example")
        run(BIN / "peaktrade", "runs", "verify", "last")
    elif task == "test":
        setup()
        dirs = ["tests", *(str(p.relative_to(ROOT) / "tests") for p in packages() if (p / "tests").is_dir())]
        run(BIN / "python", "-m", "pytest", "-q", *dirs, *extra)
    elif task == "isolation":
        setup()  # nox comes with the dev extra; each session builds its own environment
        run(BIN / "nox", "-s", "core", "plugin", *extra)
    elif task == "lint":
        setup()
        run(BIN / "ruff", "check", ".")
    else:
        print(__doc__)
        sys.exit(0 if task == "help" else 2)


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
