"""The config examples in the docs are configs peaktrade accepts, and they say what they
claim: venue ccxt:binance, credentials by reference."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from peaktrade_core.plugin_api import SecretRef
from peaktrade_core.testing import load_config

from peaktrade_ccxt.settings import CcxtSettings

PACKAGE = Path(__file__).resolve().parents[1]
DOCS = [PACKAGE / "README.md", PACKAGE.parents[1] / "docs" / "venues.md"]


def ccxt_examples(doc: Path) -> list[str]:
    return [b for b in re.findall(r"```toml\n(.*?)```", doc.read_text(), flags=re.S) if "[plugins.ccxt]" in b]


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_the_documented_config_loads(doc, tmp_path):
    [example] = ccxt_examples(doc)
    (tmp_path / "config.toml").write_text(example)
    config = load_config(tmp_path / "config.toml", plugin_sections={"ccxt": CcxtSettings})
    assert config.environment.exchange == "ccxt:binance"
    settings = config.plugins["ccxt"]
    assert isinstance(settings, CcxtSettings)
    assert isinstance(settings.api_key, SecretRef) and isinstance(settings.api_secret, SecretRef)
    assert settings.options == {"adjustForTimeDifference": True}
