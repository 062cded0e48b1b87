"""The venue conformance kit, run against the loopback reference venue and its adapter:
this proves the kit (every check passes on a conforming adapter) and the reference."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("peaktrade_core.testing.venue_kit")  # readable failures

from peaktrade_core.secrets import SecretRef  # noqa: E402
from peaktrade_core.testing.loopback import LoopbackSettings, LoopbackVenue, plugin  # noqa: E402
from peaktrade_core.testing.venue_kit import VenueConformance, VenueFake  # noqa: E402


class TestLoopbackConformance(VenueConformance):
    venue = "loopback"

    @pytest.fixture
    def venue_fake(self):
        with LoopbackVenue() as fake:
            yield fake

    @pytest.fixture
    def venue_plugin(self):
        return plugin

    @pytest.fixture
    def venue_settings(self, venue_fake, monkeypatch):
        monkeypatch.setenv("LOOPBACK_API_KEY", venue_fake.api_key)
        monkeypatch.setenv("LOOPBACK_API_SECRET", venue_fake.api_secret)
        return LoopbackSettings(base_url=venue_fake.url, timeout_seconds=30.0)

    @pytest.fixture
    def wrong_secret_settings(self, venue_fake, monkeypatch):
        monkeypatch.setenv("LOOPBACK_API_KEY", venue_fake.api_key)
        monkeypatch.setenv("LOOPBACK_WRONG_SECRET", "not-" + venue_fake.api_secret)
        return LoopbackSettings(base_url=venue_fake.url, api_secret=SecretRef(env="LOOPBACK_WRONG_SECRET"))


def test_the_loopback_venue_is_a_venue_fake():
    assert isinstance(LoopbackVenue(), VenueFake)
