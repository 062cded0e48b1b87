#!/usr/bin/env python3
"""Set up a virtual environment with the core and every bundled plugin, then run something.

    python3 ./dev.py demo        # the main job on the bundled example (core + plugins/, no examples/)
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


def packages(examples: bool = True) -> list[Path]:
    """Every installable package under plugins/ and (``examples``) examples/."""
    found = sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml"))
    if examples:
        found += sorted(p.parent for p in ROOT.glob("examples/*/pyproject.toml"))
    return found


def distribution_name(pkg: Path) -> str:
    return tomllib.loads((pkg / "pyproject.toml").read_text())["project"]["name"]


def with_test_extra(pkg: Path) -> str:
    """``path[test]`` when the package declares test dependencies of its own."""
    meta = tomllib.loads((pkg / "pyproject.toml").read_text()).get("project", {})
    return f"{pkg}[test]" if "test" in meta.get("optional-dependencies", {}) else str(pkg)


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT)


def setup(examples: bool = True) -> None:
    if not (BIN / "python").exists():
        venv.create(VENV, with_pip=True)
    pip = [BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run(*pip, "setuptools>=77", "wheel")
    editable = [arg for pkg in packages(examples) for arg in ("-e", with_test_extra(pkg))]
    run(*pip, "--no-build-isolation", "-e", ".[dev]", *editable)
    if not examples:
        # the example plugins are for reading and for the tests; left installed they act:
        # the hello gate blocks every order above its ceiling in the environment the demo
        # hands over (`dev.py test` installs them again)
        names = [distribution_name(p.parent) for p in sorted(ROOT.glob("examples/*/pyproject.toml"))]
        installed = subprocess.run([BIN / "python", "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
                                   capture_output=True, text=True, check=True).stdout.lower()
        present = [n for n in names if f"{n.lower()}==" in installed or f"{n.lower()} @" in installed]
        if present:
            run(BIN / "python", "-m", "pip", "uninstall", "--yes", "--quiet", "--disable-pip-version-check", *present)


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be started by any python3
        sys.exit(f"peaktrade needs Python >= 3.11; this is {sys.version.split()[0]}")
    task = sys.argv[1] if len(sys.argv) > 1 else "help"
    extra = sys.argv[2:]
    if task == "demo":
        setup(examples=False)
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
