"""Shared by every test suite in this repository (core, plugins, examples).

Hypothesis runs derandomized (a fixed seed) with no per-example deadline, so a test run on
a loaded CI machine gives the same verdict every time. ``HYPOTHESIS_PROFILE=explore``
(the nox session ``explore``) searches with fresh random examples, many more of them.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "explore", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.needs_plugins("peaktrade-paper")``: an end-to-end test of the core that
    needs an installed plugin is skipped, with the reason shown, where that plugin is not
    installed (the core's isolation session); everywhere else it runs."""
    from importlib.metadata import PackageNotFoundError, distribution

    import pytest

    for item in items:
        marker = item.get_closest_marker("needs_plugins")
        if marker is None:
            continue
        missing = []
        for name in marker.args:
            try:
                distribution(name)
            except PackageNotFoundError:
                missing.append(name)
        if missing:
            item.add_marker(pytest.mark.skip(reason=f"needs the plugin(s) {', '.join(missing)} installed"))
