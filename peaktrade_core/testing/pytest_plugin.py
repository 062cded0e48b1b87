"""The pytest plugin of peaktrade's own test suites: ``-p peaktrade_core.testing.pytest_plugin``
in each suite's ``addopts`` (the core's and every bundled plugin's), so a suite run alone in
its isolation session behaves exactly as in the full run.

* Hypothesis runs derandomized (a fixed seed) with no per-example deadline, so a run on a
  loaded CI machine gives the same verdict every time. ``HYPOTHESIS_PROFILE=explore`` (the
  nox session ``explore``) searches with fresh random examples, many more of them.
* ``@pytest.mark.needs_plugins("peaktrade-paper")``: an end-to-end test that needs an
  installed plugin is skipped, with the reason shown, where that plugin is not installed
  (an isolation session); everywhere else it runs.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, distribution
from typing import Any

import pytest


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "needs_plugins(*dists): skipped unless these plugin distributions are installed")
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:  # a suite without property tests
        return
    slow = [HealthCheck.too_slow]
    settings.register_profile("ci", derandomize=True, deadline=None, database=None, suppress_health_check=slow)
    settings.register_profile("explore", max_examples=1000, deadline=None, suppress_health_check=slow)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    for item in items:
        marker = item.get_closest_marker("needs_plugins")
        if marker is None:
            continue
        missing = [name for name in marker.args if not _installed(name)]
        if missing:
            item.add_marker(pytest.mark.skip(reason=f"needs the plugin(s) {', '.join(missing)} installed"))


def _installed(name: str) -> bool:
    try:
        distribution(name)
    except PackageNotFoundError:
        return False
    return True


# -- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Any:
    """One throwaway PostgreSQL server for the test session (see
    :mod:`peaktrade_core.testing.postgres`); skipped with the reason where none can run."""
    from peaktrade_core.testing.postgres import REQUIRE_ENV, PostgresServer

    try:
        import psycopg  # noqa: F401

        server = PostgresServer().start()
    except (ImportError, FileNotFoundError) as exc:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"PostgreSQL is required here ({REQUIRE_ENV}=1) but cannot run: {exc}")
        pytest.skip(f"no PostgreSQL to test against: {exc}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store_url(request: Any, tmp_path: Any) -> str:
    """The same test on both backends: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'peaktrade.sqlite3'}"
    return request.getfixturevalue("postgres_url")
