"""Run the seeds' own example code against :mod:`peaktrade_core.seed_api` (docs/seed-names.md).

The seeds import from the original system's package (``from src.live.safety import …``).
:func:`seed_import_aliases` makes those module paths resolve to ``peaktrade_core.seed_api``
for the ``with`` block only; :func:`seed_snippets` reads the Python code blocks of a seed.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: the seeds' modules (``src/...``) whose names ``peaktrade_core.seed_api`` provides
SEED_MODULES = (
    "src.core.environment",
    "src.live.safety",
    "src.live.drills",
    "src.live.risk_limits",
    "src.live.run_logging",
    "src.live.monitoring",
    "src.orders.base",
    "src.orders.exchange",
    "src.orders.paper",
    "src.execution.pipeline",
)

_PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


@contextmanager
def seed_import_aliases() -> Iterator[types.ModuleType]:
    """While active, ``import src.live.safety`` (and every module in :data:`SEED_MODULES`)
    gives ``peaktrade_core.seed_api``; their parents (``src``, ``src.live`` …) are empty
    packages. Whatever ``sys.modules`` held under those names before is put back after."""
    from peaktrade_core import seed_api

    names = set(SEED_MODULES)
    for name in SEED_MODULES:
        parts = name.split(".")
        names.update(".".join(parts[:i]) for i in range(1, len(parts)))
    saved = {name: sys.modules.get(name) for name in names}
    try:
        for name in sorted(names):  # parents first
            if name in SEED_MODULES:
                module = seed_api
            else:
                module = types.ModuleType(name, "an alias package for the seeds' imports")
                module.__path__ = []
            sys.modules[name] = module
            parent, _, leaf = name.rpartition(".")
            if parent:
                setattr(sys.modules[parent], leaf, module)
        yield seed_api
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def seed_snippets(path: str | Path) -> list[str]:
    """The ```` ```python ```` blocks of a seed file, verbatim, in file order."""
    return _PYTHON_BLOCK.findall(Path(path).read_text(encoding="utf-8"))
