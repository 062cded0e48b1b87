import pytest

from peaktrade_core.testing import isolate


@pytest.fixture(autouse=True)
def only_hello(tmp_path, monkeypatch):
    yield from isolate(tmp_path, monkeypatch, plugins="hello")
